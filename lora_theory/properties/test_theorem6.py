"""Claim ``theorem6`` — arXiv 2310.17513v3, Theorem 6, p. 7 (restated in App. E.3, p. 32).

For any consecutive partition P of the frozen layers, R ≥ max_i ⌈rank(E_i)/|P_i|⌉ (E_i computed for P) makes the
construction exact on the domain; the optimal partition found by dynamic programming is never worse than the uniform
one and is exact at the rank it reports."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.fnn import best_partition, block_discrepancies
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.numerics import unit_roundoff
from lora_theory.partition import compositions
from lora_theory.testing.assertions import (
    Example,
    assert_at_least,
    assert_at_most,
    assert_below,
    assert_close,
    assert_equal,
    assert_exact,
    assert_not_exact,
    refusal_allowed,
    regime,
)
from lora_theory.testing.fnn import block_map_residual, domain_points, linearised_preactivation_minimum
from lora_theory.testing.instances import build_fnn_instance, build_offgen_fnn_instance
from lora_theory.testing.strategies import fnn_instances, offgen_fnn_instances
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.theorem6
CLAIM = "theorem6"


@given(inst=fnn_instances(low_rank=True, general_partition=True))
@example(inst=build_fnn_instance(6, 4, 2, (6, 2), partition=(3, 1), seed=0)).via("a (3, 1) split")
def test_theorem6_exact(inst):
    """Exact at max_i ⌈rank(E_i)/|P_i|⌉ for the drawn partition; one below, a block misses its target layer."""
    sizes = inst.partition
    ranks = tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target, sizes))
    R = max(F.general_threshold(ranks, sizes), 1)
    ex = Example(CLAIM, f"{inst.repro()}, partition={sizes}, R={R}", {"rank(E_i)": ranks})
    c = construct_fnn(inst.frozen, inst.target, R, inst.domain, partition=sizes)
    err = float(c.output_error(domain_points(inst.domain, inst.seed)).max())
    assert_exact(ex, err, tol=c.tolerance(), name="exact",
                 what=f"max_x ‖f(x) − f̄(x)‖₂ with partition {sizes} at R = {R}")
    if F.general_threshold(ranks, sizes) >= 2:
        below = construct_fnn(inst.frozen, inst.target, R - 1, inst.domain, partition=sizes)
        i = max(range(len(sizes)), key=lambda j: ranks[j] / sizes[j])
        assert_not_exact(ex, block_map_residual(below, i), tol=below.blocks[i].linear.tolerance(), name="exact",
                         what=f"block {i + 1} at R − 1 = {R - 1}")
    regime("uniform partition drawn" if len(set(sizes[:-1])) <= 1 and sizes[-1] >= sizes[0] else "non-uniform")


@given(inst=fnn_instances(low_rank=True, general_partition=True))
def test_theorem6_optimal_never_worse(inst):
    """The DP's partition needs no more rank than the uniform one, matches brute force, and is exact at its rank."""
    L, Lbar = inst.frozen.depth, inst.target.depth
    sizes, R = best_partition(inst.frozen, inst.target)
    brute = min(F.general_threshold(tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target, p)), p)
                for p in compositions(L, Lbar))
    uniform_ranks = tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target))
    uniform = F.general_threshold(uniform_ranks, tuple(len(r) for r in _ranges(L, Lbar)))
    ex = Example(CLAIM, f"{inst.repro()}; best_partition → {sizes}, R={R}")
    assert_equal(ex, R, expected=brute, name="optimal",
                 what="rank needed by the dynamic-programming partition vs brute force over all partitions")
    assert_at_most(ex, R, bound=uniform, name="optimal",
                   what="rank needed by the optimal partition vs the uniform partition's")
    regime("optimal beats uniform" if R < uniform else "optimal = uniform")
    if R >= 1:
        c = construct_fnn(inst.frozen, inst.target, R, inst.domain, partition=sizes)
        err = float(c.output_error(domain_points(inst.domain, inst.seed)).max())
        assert_exact(ex, err, tol=c.tolerance(), name="optimal_exact",
                     what=f"error with the optimal partition {sizes} at R = {R}")


@given(inst=offgen_fnn_instances(), data=st.data())
@example(inst=build_offgen_fnn_instance("gaussian", 4, 4, 2, seed=0), data=None).via(
    "N(0, 1/D) layers, generic targets, partition (3, 1), R = 2")
@example(inst=build_offgen_fnn_instance("singular_layer", 3, 3, 2, seed=0), data=None).via(
    "exactly singular W_1, partition (2, 1), R = 2")
def test_theorem6_offgen_certified_or_refused(inst, data):
    """Off the conditioned generators, the construction with a drawn consecutive partition P and any R is refused
    with a typed error naming block and matrix, or answers: its linearised pre-activations stay ≥ 0 on the domain;
    when it reports exact the output error on the domain is within its own tolerance; when it does not, every
    block's weight product misses W̄_i by the error the block predicts, σ_{k_i+1}(E_i)."""
    L, Lbar, D = inst.frozen.depth, inst.target.depth, inst.frozen.width
    if data is None:
        sizes, R = (L - Lbar + 1,) + (1,) * (Lbar - 1), min(2, D)
    else:
        sizes = data.draw(st.sampled_from(list(compositions(L, Lbar))), label="consecutive partition P")
        R = data.draw(st.integers(1, D), label="LoRA rank R")
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, f"{inst.repro()}, partition={sizes}, R={R}", population=kind)
    with refusal_allowed(ex, name="offgen", what=f"construct_fnn with partition {sizes} on a {kind} pair") as outcome:
        c = construct_fnn(inst.frozen, inst.target, R, inst.domain, partition=sizes)
    if outcome.refused:
        return
    X = domain_points(inst.domain, inst.seed)
    low, bound = linearised_preactivation_minimum(c, X)
    u = unit_roundoff(torch.float64)
    slack = Tolerance(u * D ** 2 * bound, bound, "u·D²·B (rounding of a pre-activation bounded by B)",
                      {"u": u, "D": D, "B": bound})
    assert_at_least(ex, low, bound=0.0, tol=slack, name="offgen_biases_safe",
                    what=f"smallest linearised pre-activation over the domain points, partition {sizes}")
    # assert_below / assert_close, not assert_exact / assert_not_exact: off-generator instances must not enter the
    # separation ratio of the conditioned generators
    if c.is_exact_in_theory():
        err = float(c.output_error(X).max())
        assert_below(ex, err, bound=0.0, tol=c.tolerance(), name="offgen_invariant",
                     what=f"max_x ‖f(x) − f̄(x)‖₂ with partition {sizes} of a construction that reports exact")
        regime("certified exact")
    else:
        for i, blk in enumerate(c.blocks):
            assert_close(ex, block_map_residual(c, i), expected=blk.linear.predicted_error(),
                         tol=blk.linear.tolerance(), name="offgen_value",
                         what=f"‖∏_(P_{i + 1})W̃ − W̄_{i + 1}‖₂ vs block {i + 1}'s predicted σ_{{k+1}}(E_{i + 1})")
        regime("certified not exact")


def _ranges(L, Lbar):
    from lora_theory.partition import block_ranges, uniform_partition
    return block_ranges(uniform_partition(L, Lbar))


def test_theorem6_beats_uniform():
    """A fixed instance where a general partition beats the uniform one (Theorem 6, p. 7): D = 8, L = 4, L̄ = 2,
    targets built on P* = (3, 1) with k = (8, 2): P* needs
    max(⌈8/3⌉, ⌈2/1⌉) = 3, the uniform (2, 2) sees full-rank discrepancies and needs ⌈8/2⌉ = 4."""
    inst = build_fnn_instance(8, 4, 2, (8, 2), partition=(3, 1), seed=11)
    ex = Example(CLAIM, f"{inst.repro()}")
    star = tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target, (3, 1)))
    uni = tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target, (2, 2)))
    assert_equal(ex, (F.general_threshold(star, (3, 1)), F.general_threshold(uni, (2, 2))), expected=(3, 4),
                 name="beats_uniform", what=f"thresholds of P* = (3, 1) (ranks {star}) and (2, 2) (ranks {uni})")
    assert_equal(ex, best_partition(inst.frozen, inst.target), expected=((3, 1), 3), name="beats_uniform",
                 what="best_partition's (partition, rank)")
    c_star = construct_fnn(inst.frozen, inst.target, 3, inst.domain, partition=(3, 1))
    X = domain_points(inst.domain, 0)
    assert_exact(ex, float(c_star.output_error(X).max()), tol=c_star.tolerance(), name="beats_uniform",
                 what="P* at R = 3")
    c_uni = construct_fnn(inst.frozen, inst.target, 3, inst.domain)
    assert_not_exact(ex, block_map_residual(c_uni, 0), tol=c_uni.blocks[0].linear.tolerance(), name="beats_uniform",
                     what="uniform partition at R = 3, block 1")
