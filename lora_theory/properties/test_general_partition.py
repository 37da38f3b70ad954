"""Claim ``general_partition`` — arXiv 2310.17513v3, Theorem 6, p. 7 (restated in App. E.3, p. 32).

For any consecutive partition P of the frozen layers, R ≥ max_i ⌈rank(E_i)/|P_i|⌉ (E_i computed for P) makes the
construction exact on the domain; the optimal partition found by dynamic programming is never worse than the uniform
one and is exact at the rank it reports."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from lora_theory import formulas as F
from lora_theory.analysis.fnn import best_partition, block_discrepancies
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.partition import compositions
from lora_theory.testing.assertions import (
    Example,
    assert_at_most,
    assert_equal,
    assert_exact,
    assert_not_exact,
    regime,
)
from lora_theory.testing.fnn import block_map_residual, domain_points
from lora_theory.testing.instances import build_fnn_instance
from lora_theory.testing.strategies import fnn_instances

pytestmark = pytest.mark.general_partition
CLAIM = "general_partition"


@given(inst=fnn_instances(low_rank=True, general_partition=True))
@example(inst=build_fnn_instance(6, 4, 2, (6, 2), partition=(3, 1), seed=0)).via("a (3, 1) split")
def test_general_partition_exact(inst):
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
def test_general_partition_optimal_never_worse(inst):
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


def _ranges(L, Lbar):
    from lora_theory.partition import block_ranges, uniform_partition
    return block_ranges(uniform_partition(L, Lbar))


def test_general_partition_beats_uniform():
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
