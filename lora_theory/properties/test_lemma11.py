"""Claim ``lemma11`` — arXiv 2310.17513v3, Lemma 11, p. 31.

Frozen and target weights with independent continuous random entries satisfy Assumption 2 with probability 1, for
every partition and per-layer rank sequence. As for Lemma 3 (``test_lemma3.py``), "with probability 1" says nothing
about conditioning: the properties check the singularity threshold on small, well-scaled draws — in both readings of
Assumption 2's LR_r argument (``assumption2_report``) — and only *report* the conditioning."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, target
from hypothesis import strategies as st

from lora_theory.analysis.fnn import assumption2_report
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.partition import compositions
from lora_theory.testing.assertions import Example, assert_true, refusal_allowed, regime
from lora_theory.testing.instances import build_fnn_instance, build_offgen_fnn_instance
from lora_theory.testing.strategies import fnn_instances, offgen_fnn_instances, per_layer_ranks

pytestmark = pytest.mark.lemma11
CLAIM = "lemma11"


@given(inst=fnn_instances(low_rank=False, general_partition=True), data=st.data())
@example(inst=build_fnn_instance(6, 4, 2, partition=(3, 1), seed=0), data=None).via(
    "partition (3, 1), ranks (6, 6, 6, 6): every r ≤ 12 listed")
def test_lemma11_random_nonsingular(inst, data):
    """Independent random targets (continuous singular values, Haar factors), a drawn consecutive partition and
    per-layer ranks: every matrix of both readings of Assumption 2 has σ_min/σ_max ≥ the singularity threshold."""
    D, L = inst.frozen.width, inst.frozen.depth
    ranks = (D,) * L if data is None else data.draw(per_layer_ranks(D, L), label="per-layer ranks R_l")
    ex = Example(CLAIM, f"{inst.repro()}, ranks={ranks}")
    worst = None
    for rd in ("needed", "printed"):
        entries = assumption2_report(inst.frozen, inst.target, ranks, inst.partition, reading=rd)
        w = min(entries, key=lambda e: e.ratio)
        assert_true(ex, w.passed, name="random_nonsingular",
                    what=f"{w.name} ({rd} reading) is numerically non-singular", seen=f"σ_min/σ_max = {w.ratio:.3e}")
        worst = w if worst is None or w.ratio < worst.ratio else worst
    decade = math.floor(math.log10(worst.ratio)) if worst.ratio > 0 else -99
    regime(f"worst σ_min/σ_max ≥ 1e{max(decade, -12)}" if decade >= -3 else "worst σ_min/σ_max < 1e-3")
    target(-math.log10(max(worst.ratio, 1e-300)), label="-log10 worst σ_min/σ_max")


@given(inst=offgen_fnn_instances(populations=("gaussian", "xavier", "singular_layer"), generic=True), data=st.data())
@example(inst=build_offgen_fnn_instance("gaussian", 6, 4, 2, seed=0), data=None).via(
    "N(0, 1/D) layers, generic targets, partition (3, 1), ranks (1, 2, 3, 4)")
@example(inst=build_offgen_fnn_instance("singular_layer", 4, 3, 1, seed=0), data=None).via("exactly singular W_1")
def test_lemma11_offgen_random_weights(inst, data):
    """The lemma's setting as users draw it — plain N(0, 1/D) or Xavier-uniform layers and independent Gaussian
    targets — with a drawn consecutive partition and per-layer ranks satisfies Assumption 2 numerically (needed
    reading, every ratio finite and passing) and the construction answers; the negative control, an exactly singular
    W_1, is flagged, and any refusal there comes with a failing entry."""
    D, L, Lbar = inst.frozen.width, inst.frozen.depth, inst.target.depth
    if data is None:
        sizes = (L - Lbar + 1,) + (1,) * (Lbar - 1)
        ranks = tuple(min(r, D) for r in (1, 2, 3, 4)[:L]) + (D,) * max(L - 4, 0)
    else:
        sizes = data.draw(st.sampled_from(compositions(L, Lbar)), label="consecutive partition P")
        ranks = data.draw(per_layer_ranks(D, L), label="per-layer ranks R_l")
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, f"{inst.repro()}, partition={sizes}, ranks={ranks}", population=kind)
    entries = assumption2_report(inst.frozen, inst.target, ranks, sizes)
    bad = [(e.name, e.ratio) for e in entries if not (math.isfinite(e.ratio) and 0.0 <= e.ratio <= 1.0)]
    assert_true(ex, not bad, name="offgen_report", what="every σ_min/σ_max of the report is finite and in [0, 1]",
                seen=f"entries {bad}")
    failing = [e.name for e in entries if not e.passed]
    if kind == "singular_layer":
        assert_true(ex, "W_1" in failing, name="offgen_report", what="the exactly singular W_1 is flagged failing",
                    seen=f"failing entries {failing}")
    else:
        assert_true(ex, not failing, name="offgen_random_nonsingular",
                    what=f"every listed matrix of a {kind} draw is numerically non-singular",
                    seen=f"failing {failing}")
    with refusal_allowed(ex, name="offgen", what=f"construct_fnn with partition {sizes} on a {kind} pair") as outcome:
        construct_fnn(inst.frozen, inst.target, ranks, inst.domain, partition=sizes)
    if outcome.refused:
        assert_true(ex, bool(failing), name="offgen_agrees",
                    what="a construction that refuses has a failing entry in the Assumption 2 report",
                    seen=f"refused ({outcome.error}) while every entry passes")
        return
    regime("singular W_1 flagged, construction certifies" if failing else "Assumption 2 holds, construction answers")
