"""Claim ``assumption1`` — arXiv 2310.17513v3, Assumption 1, pp. 5–6 (non-singularity, uniform partition).

The checker reports σ_min/σ_max of every frozen W_l and of every ∏_(P_i)W + LR_r(E_i) with r ≤ R(M−1), and the FNN
construction refuses — a SingularityError naming the block and the layer — when a matrix it needs is singular,
instead of returning garbage."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory.analysis.fnn import assumption1_report
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball
from lora_theory.errors import SingularityError
from lora_theory.models import ReLUFNN
from lora_theory.numerics import SINGULARITY_THRESHOLD
from lora_theory.random_matrices import generator, matrix_with_singular_values
from lora_theory.testing.assertions import (
    Example,
    assert_below,
    assert_equal,
    assert_true,
    refusal_allowed,
    regime,
)
from lora_theory.testing.fnn import domain_points
from lora_theory.testing.instances import build_offgen_fnn_instance, build_singular_prefix_instance
from lora_theory.testing.strategies import fnn_instances, offgen_fnn_instances, seeds

pytestmark = pytest.mark.assumption1
CLAIM = "assumption1"


@given(inst=fnn_instances(low_rank=True), data=st.data())
def test_assumption1_holds_by_construction(inst, data):
    """Targets = block products + small low-rank changes: every listed ratio passes, and it is ≥ the generator's
    guarantee (1 − ratio)/κ for the prefixes (Weyl), 1/κ^{1/L} for the layers."""
    R = data.draw(st.integers(1, inst.frozen.width), label="LoRA rank R")
    entries = assumption1_report(inst.frozen, inst.target, R)
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    for e in entries:
        assert_true(ex, e.passed, name="holds", what=f"{e.name} passes the singularity threshold",
                    seen=f"σ_min/σ_max = {e.ratio:.3e}")
        floor = (1 - inst.ratio) / (inst.kappa * (1 + inst.ratio)) if "block" in e.name else 1 / inst.kappa
        assert_true(ex, e.ratio >= floor * (1 - 1e-9), name="holds",
                    what=f"σ_min/σ_max of {e.name} ≥ the generator's guarantee {floor:.3e} (to 1e-9 relative)",
                    seen=f"σ_min/σ_max = {e.ratio:.3e}")
    regime(f"{len(entries)} matrices listed" if len(entries) < 10 else "≥ 10 matrices listed")


@given(D=st.integers(2, 8), L=st.integers(2, 4), seed=seeds())
@example(D=2, L=2, seed=0).via("smallest case")
def test_assumption1_singular_prefix_reported_and_refused(D, L, seed):
    """∏W + LR_1(E) singular by construction (L̄ = 1, R = 1): the checker flags exactly that entry and the
    construction raises SingularityError naming block 1 and layer 2's factor."""
    lin = build_singular_prefix_instance(D, L, seed=seed)
    zeros = tuple(torch.zeros(D, dtype=torch.float64) for _ in range(L))
    frozen = ReLUFNN(lin.weights, zeros)
    target = ReLUFNN((lin.target,), (torch.zeros(D, dtype=torch.float64),))
    ex = Example(CLAIM, f"build_singular_prefix_instance({D}, {L}, seed={seed}) as an FNN with zero biases, R=1")
    failed = [e.name for e in assumption1_report(frozen, target, 1) if not e.passed]
    assert_true(ex, "block 1: ∏_(P_1)W + LR_1(E_1)" in failed and not any(n.startswith("W_") for n in failed),
                name="reported", what="the checker flags block 1's ∏_(P_1)W + LR_1(E_1) and no frozen layer",
                seen=f"failing entries {failed}")
    with pytest.raises(SingularityError, match=r"block 1 \(frozen layers 1\.\.\d+.*layer 2's factor A_2"):
        construct_fnn(frozen, target, 1, Ball(D, 1.0))


@given(D=st.integers(2, 8), L=st.integers(2, 4), data=st.data(), seed=seeds())
def test_assumption1_singular_frozen_layer_named(D, L, data, seed):
    """A numerically singular frozen layer is flagged by the checker and named by the construction."""
    bad = data.draw(st.integers(1, L - 1), label="singular layer (0-based, inside the suffix of layer 1)")
    g = generator(seed)
    s = torch.linspace(1.0, 0.5, D, dtype=torch.float64)
    weights = [matrix_with_singular_values(s, g) for _ in range(L)]
    s_bad = s.clone()
    s_bad[-1] = 1e-15
    weights[bad] = matrix_with_singular_values(s_bad, g)
    zeros = tuple(torch.zeros(D, dtype=torch.float64) for _ in range(L))
    frozen = ReLUFNN(tuple(weights), zeros)
    target = ReLUFNN((torch.randn(D, D, generator=g, dtype=torch.float64),), (zeros[0],))
    ex = Example(CLAIM, f"D={D}, L={L}, singular layer {bad + 1}, seed={seed} (σ_min(W) = 1e-15, zero biases)")
    entries = {e.name: e for e in assumption1_report(frozen, target, D)}
    flagged = entries[f"W_{bad + 1}"]
    assert_true(ex, not flagged.passed and flagged.ratio < SINGULARITY_THRESHOLD, name="singular_frozen_layer",
                what=f"the checker flags W_{bad + 1} with σ_min/σ_max < {SINGULARITY_THRESHOLD:g}",
                seen=f"passed={flagged.passed}, σ_min/σ_max = {flagged.ratio:.3e}")
    with pytest.raises(SingularityError, match=rf"block 1 .*W_{bad + 1}"):
        construct_fnn(frozen, target, D, Ball(D, 1.0))
    regime(f"singular layer {bad + 1} of {L}")


def test_assumption1_range_is_R_times_M_minus_1():
    """The listed prefixes are r = 0..R(M−1) per block (uniform partition); extended=True uses the block length."""
    from lora_theory.testing.instances import build_fnn_instance
    inst = build_fnn_instance(4, 5, 2, (2, 2), seed=0)  # blocks (2, 3), M = 2
    ex = Example(CLAIM, f"{inst.repro()}, R=2")
    names = [e.name for e in assumption1_report(inst.frozen, inst.target, 2)]
    assert_equal(ex, sum(n.startswith("block 2") for n in names), expected=2 * (2 - 1) + 1, name="range",
                 what="prefixes listed for block 2 (r = 0..R(M−1))")
    ext = [e.name for e in assumption1_report(inst.frozen, inst.target, 2, extended=True)]
    assert_equal(ex, sum(n.startswith("block 2") for n in ext), expected=2 * (3 - 1) + 1, name="range",
                 what="prefixes listed for block 2 with extended=True (r = 0..R(|P_2|−1))")
    assert_equal(ex, len(names) - sum(n.startswith("block") for n in names), expected=5, name="range",
                 what="frozen layers listed (one per layer)")


@given(inst=offgen_fnn_instances(), R=st.integers(1, 6))
@example(inst=build_offgen_fnn_instance("singular_layer", 3, 2, 1, seed=0), R=3).via("exactly singular W_1")
@example(inst=build_offgen_fnn_instance("diagonal", 4, 4, 2, dynamic_range=1e8, seed=0), R=1).via(
    "diagonal layers, dynamic range 1e8")
@example(inst=build_offgen_fnn_instance("zero_discrepancy", 3, 2, 2, seed=0), R=1).via("E_i = 0")
def test_assumption1_offgen_report_agrees(inst, R):
    """Off the conditioned generators the checker's report is finite (every σ_min/σ_max in [0, 1]), flags an exactly
    singular frozen layer, and agrees with the construction: a refusal (typed, naming the matrix) only where the
    report flags a failing entry; an answer that reports exact has output error ≤ its own tolerance on the domain."""
    R = min(R, inst.frozen.width)
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, f"{inst.repro()}, R={R}", population=kind)
    entries = assumption1_report(inst.frozen, inst.target, R)
    bad = [(e.name, e.ratio) for e in entries if not (math.isfinite(e.ratio) and 0.0 <= e.ratio <= 1.0)]
    assert_true(ex, not bad, name="offgen_report", what="every σ_min/σ_max of the report is finite and in [0, 1]",
                seen=f"entries {bad}")
    failing = [e.name for e in entries if not e.passed]
    if kind == "singular_layer":  # the builder zeroes one column of W_1
        assert_true(ex, "W_1" in failing, name="offgen_report", what="the exactly singular W_1 is flagged failing",
                    seen=f"failing entries {failing}")
    with refusal_allowed(ex, name="offgen", what=f"construct_fnn on a {kind} pair") as outcome:
        c = construct_fnn(inst.frozen, inst.target, R, inst.domain)
    if outcome.refused:
        assert_true(ex, bool(failing), name="offgen_agrees",
                    what="a construction that refuses has a failing entry in the Assumption 1 report",
                    seen=f"refused ({outcome.error}) while every entry passes")
        return
    regime("report flags, construction certifies" if failing else "report passes, construction answers")
    if c.is_exact_in_theory():
        err = float(c.output_error(domain_points(inst.domain, inst.seed)).max())
        # assert_below, not assert_exact: off-generator instances must not enter the separation ratio
        assert_below(ex, err, bound=0.0, tol=c.tolerance(), name="offgen_invariant",
                     what="max_x ‖f(x) − f̄(x)‖₂ of a construction that reports exact vs its tolerance")
