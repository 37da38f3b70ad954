"""Per-layer ranks on ReLU FNNs (issue 13): construct_fnn's ``rank`` sequence, the budget search, the Assumption 2
checker and the Theorem 6 bound helpers."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from lora_theory.analysis.bounds import budget_epsilons, mean_error, theorem6_bounds
from lora_theory.analysis.fnn import assumption2_report, best_layer_ranks, best_partition
from lora_theory.analysis.rank_advice import rank_thresholds
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.errors import DomainError, PartitionError, RankError
from lora_theory.partition import (
    block_budgets,
    compositions,
    optimal_budget_partition,
    optimal_partition,
    split_budget,
)
from lora_theory.testing.fnn import domain_points
from lora_theory.testing.instances import build_fnn_instance


@pytest.fixture(scope="module")
def inst():
    return build_fnn_instance(6, 4, 2, (5, 2), partition=(3, 1), seed=0)


@pytest.mark.parametrize("budget,size,expected", [(0, 3, (0, 0, 0)), (5, 3, (2, 2, 1)), (6, 3, (2, 2, 2)),
                                                  (1, 4, (1, 0, 0, 0)), (4, 1, (4,))])
def test_split_budget(budget, size, expected):
    assert split_budget(budget, size) == expected


def test_split_budget_rejects_bad_input():
    with pytest.raises(PartitionError, match="budget"):
        split_budget(-1, 2)
    with pytest.raises(PartitionError, match="block size"):
        split_budget(2, 0)


def test_block_budgets():
    assert block_budgets((1, 2, 0, 3), (3, 1)) == (3, 3)
    with pytest.raises(PartitionError, match="3 per-layer ranks"):
        block_budgets((1, 2, 0), (3, 1))


def _random_table(rng):
    L = rng.randint(1, 6)
    Lbar = rng.randint(1, L)
    table = {(i, a, b): rng.randint(0, 8) for i in range(Lbar) for a in range(L) for b in range(a + 1, L + 1)}
    return L, Lbar, (lambda i, a, b: table[(i, a, b)])


def _total(rank, sizes):
    starts = list(itertools.accumulate((0,) + tuple(sizes)))
    return sum(rank(i, starts[i], starts[i + 1]) for i in range(len(sizes)))


def test_optimal_budget_partition_matches_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        L, Lbar, rank = _random_table(rng)
        sizes, best = optimal_budget_partition(rank, L, Lbar)
        assert best == _total(rank, sizes) == min(_total(rank, p) for p in compositions(L, Lbar))


def test_budget_never_worse_than_uniform_on_random_tables():
    rng = random.Random(1)
    for _ in range(200):
        L, Lbar, rank = _random_table(rng)
        _, total = optimal_budget_partition(rank, L, Lbar)
        _, R = optimal_partition(rank, L, Lbar)
        assert total <= L * R


def test_construct_fnn_rank_validation(inst):
    f, t, d = inst.frozen, inst.target, inst.domain
    with pytest.raises(RankError, match=r"one entry per layer \(L=4\); got 3"):
        construct_fnn(f, t, (1, 1, 1), d, partition=(3, 1))
    with pytest.raises(RankError, match=r"rank\[2\] must be in 0\.\.6"):
        construct_fnn(f, t, (1, 1, 7, 1), d, partition=(3, 1))
    with pytest.raises(RankError, match=r"rank\[0\] must be in 0\.\.6"):
        construct_fnn(f, t, (-1, 1, 1, 1), d, partition=(3, 1))
    with pytest.raises(RankError, match="rank must be an int or a sequence"):
        construct_fnn(f, t, "1111", d, partition=(3, 1))
    with pytest.raises(RankError, match=r"rank\[1\] must be an integer"):
        construct_fnn(f, t, (1, 1.5, 1, 1), d, partition=(3, 1))


def test_uniform_sequence_equals_int_on_a_given_partition(inst):
    """With a given partition an int R spends R on every layer: the same adapters as the sequence (R, …, R)."""
    a = construct_fnn(inst.frozen, inst.target, 2, inst.domain, partition=(3, 1))
    b = construct_fnn(inst.frozen, inst.target, (2, 2, 2, 2), inst.domain, partition=(3, 1))
    for p, q in zip(a.adapters, b.adapters):
        assert torch.equal(p.A, q.A) and torch.equal(p.B, q.B)
    assert all(torch.equal(x, y) for x, y in zip(a.biases, b.biases))
    assert a.rank == 2 and b.rank == (2, 2, 2, 2)
    assert a.layer_ranks == b.layer_ranks == (2, 2, 2, 2)


def test_per_layer_budgets_and_adapter_ranks(inst):
    c = construct_fnn(inst.frozen, inst.target, (0, 0, 5, 2), inst.domain, partition=(3, 1))
    assert c.block_budgets == (5, 2) and c.is_exact_in_theory()
    assert [p.rank for p in c.adapters] == [0, 0, 5, 2]
    assert float(c.output_error(domain_points(inst.domain, 0)).max()) <= c.tolerance().value
    short = construct_fnn(inst.frozen, inst.target, (0, 0, 4, 2), inst.domain, partition=(3, 1))
    assert not short.is_exact_in_theory() and short.blocks[1].epsilon == 0.0
    zero = construct_fnn(inst.frozen, inst.target, (0, 0, 0, 0), inst.domain, partition=(3, 1))
    assert zero.block_budgets == (0, 0) and all(p.rank == 0 for p in zero.adapters)


def test_best_layer_ranks_fixed_instance():
    inst = build_fnn_instance(8, 4, 2, (8, 2), partition=(3, 1), seed=11)
    plan = best_layer_ranks(inst.frozen, inst.target)
    assert plan.partition == (3, 1) and plan.discrepancy_ranks == (8, 2)
    assert plan.layer_ranks == (3, 3, 2, 2) and plan.total_rank == 10
    assert plan.parameters == 2 * 8 * 10 < plan.uniform_parameters == 2 * 8 * 4 * 3
    assert (plan.uniform_partition, plan.uniform_rank) == best_partition(inst.frozen, inst.target)
    t = rank_thresholds(inst.frozen, inst.target)
    assert t.per_layer.layer_ranks == plan.layer_ranks and t.optimal.partition == (3, 1)


def test_assumption2_report_readings_and_errors(inst):
    needed = assumption2_report(inst.frozen, inst.target, (2, 2, 0, 2), (3, 1))
    printed = assumption2_report(inst.frozen, inst.target, (2, 2, 0, 2), (3, 1), reading="printed")
    assert [e.name for e in needed][4:] == [f"block 1: ∏_(P_1)W + LR_{r}(E_1)" for r in range(5)] + [
        "block 2: ∏_(P_2)W + LR_0(E_2)"]
    assert printed[5].name == "block 1: ∏_(P_1)W + LR_1(W̄_1 − W_(1..2))"
    assert printed[-1].name == "block 2: ∏_(P_2)W + LR_0(W̄_2 − I)"
    assert needed[4].ratio == printed[4].ratio  # r = 0: ∏_(P_1)W in both readings
    with pytest.raises(DomainError, match="reading must be one of"):
        assumption2_report(inst.frozen, inst.target, 1, reading="typo")
    with pytest.raises(RankError, match="one entry per layer"):
        assumption2_report(inst.frozen, inst.target, (1, 1), (3, 1))


def test_theorem6_bound_helpers(inst):
    c = construct_fnn(inst.frozen, inst.target, (1, 1, 1, 1), inst.domain, partition=(3, 1))
    X = domain_points(inst.domain, 0)
    bounds = theorem6_bounds(c, X)
    assert set(bounds) == {"printed", "provable", "tight"}
    assert mean_error(c, X) <= min(bounds["provable"], bounds["tight"])
    eps = budget_epsilons(inst.frozen, inst.target, (1, 1, 1, 1), (3, 1))
    assert eps == pytest.approx([b.epsilon for b in c.blocks], rel=1e-12)
    assert eps[0] > 0 and eps[1] > 0
