"""Claim ``lemma3`` — arXiv 2310.17513v3, Lemma 3, p. 6 (the claim id predates the v3 numbering).

Frozen and target weights with independent continuous random entries satisfy Assumption 1 with probability 1, for
every R. "With probability 1" says nothing about conditioning, so the property checks the singularity threshold on
small, well-scaled draws and only *reports* the conditioning (events; ``target`` in the deep profile)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, target
from hypothesis import strategies as st

from lora_theory.analysis.fnn import assumption1_report
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.testing.assertions import Example, assert_true, refusal_allowed, regime
from lora_theory.testing.instances import build_offgen_fnn_instance
from lora_theory.testing.strategies import fnn_instances, offgen_fnn_instances

pytestmark = pytest.mark.lemma3
CLAIM = "lemma3"


@given(inst=fnn_instances(low_rank=False), data=st.data())
def test_lemma3_random_nonsingular(inst, data):
    """Independent random targets (continuous singular values, Haar factors): every listed ratio > 1e-13."""
    R = data.draw(st.integers(1, inst.frozen.width), label="LoRA rank R")
    entries = assumption1_report(inst.frozen, inst.target, R, extended=True)
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    worst = min(entries, key=lambda e: e.ratio)
    assert_true(ex, worst.passed, name="random_nonsingular", what=f"{worst.name} is numerically non-singular",
                seen=f"σ_min/σ_max = {worst.ratio:.3e}")
    decade = math.floor(math.log10(worst.ratio)) if worst.ratio > 0 else -99
    regime(f"worst σ_min/σ_max ≥ 1e{max(decade, -12)}" if decade >= -3 else "worst σ_min/σ_max < 1e-3")
    target(-math.log10(max(worst.ratio, 1e-300)), label="-log10 worst σ_min/σ_max")


@given(inst=offgen_fnn_instances(populations=("gaussian", "xavier", "singular_layer"), generic=True),
       R=st.integers(1, 6))
@example(inst=build_offgen_fnn_instance("gaussian", 6, 4, 2, seed=0), R=2).via("N(0, 1/D) layers, generic targets")
@example(inst=build_offgen_fnn_instance("singular_layer", 4, 3, 1, seed=0), R=1).via("exactly singular W_1")
def test_lemma3_offgen_random_weights(inst, R):
    """The lemma's setting as users draw it — plain N(0, 1/D) or Xavier-uniform layers and independent Gaussian
    targets, unconditioned — satisfies Assumption 1 numerically (every ratio of the extended report finite and
    passing) and the construction answers (no refusal, which the report would have to flag); the negative control,
    an exactly singular W_1 (not continuous entries), is flagged, and any refusal there comes with a failing entry."""
    R = min(R, inst.frozen.width)
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, f"{inst.repro()}, R={R}", population=kind)
    entries = assumption1_report(inst.frozen, inst.target, R, extended=True)
    bad = [(e.name, e.ratio) for e in entries if not (math.isfinite(e.ratio) and 0.0 <= e.ratio <= 1.0)]
    assert_true(ex, not bad, name="offgen_report", what="every σ_min/σ_max of the report is finite and in [0, 1]",
                seen=f"entries {bad}")
    failing = [e.name for e in entries if not e.passed]
    if kind == "singular_layer":
        assert_true(ex, "W_1" in failing, name="offgen_report", what="the exactly singular W_1 is flagged failing",
                    seen=f"failing entries {failing}")
    else:
        worst = min(entries, key=lambda e: e.ratio)
        assert_true(ex, not failing, name="offgen_random_nonsingular",
                    what=f"every listed matrix of a {kind} draw is numerically non-singular",
                    seen=f"failing {failing}; worst {worst.name}: σ_min/σ_max = {worst.ratio:.3e}")
    with refusal_allowed(ex, name="offgen", what=f"construct_fnn on a {kind} pair") as outcome:
        construct_fnn(inst.frozen, inst.target, R, inst.domain)
    if outcome.refused:
        assert_true(ex, bool(failing), name="offgen_agrees",
                    what="a construction that refuses has a failing entry in the Assumption 1 report",
                    seen=f"refused ({outcome.error}) while every entry passes")
        return
    regime("singular W_1 flagged, construction certifies" if failing else "Assumption 1 holds, construction answers")
