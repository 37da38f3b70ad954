"""Claim ``theorem6`` — arXiv 2310.17513v3, Theorem 6, p. 7 (restated in App. E.3, p. 32).

As printed, with per-layer ranks: for a consecutive partition P and ranks R_l, the construction is exact on the domain
iff every block's budget Σ_{l∈P_i} R_l reaches rank(W̄_i − ∏_{P_i}W) (a block short of it misses W̄_i by
σ_{budget+1}(E_i)), with adapters of rank ≤ R_l; below, its mean error is at most the provable (√tr Σ) form of the
Theorem 6 bound with ε_i = σ_{Σ_{P_i}R_l+1}(E_i). The cheapest exact per-layer ranks (dynamic programming over
partitions) never cost more than the best uniform rank, and are exact when built.

The uniform case R_l = R: R ≥ max_i ⌈rank(E_i)/|P_i|⌉ (E_i computed for P) makes the construction exact; the optimal
partition found by dynamic programming is never worse than the uniform one and is exact at the rank it reports."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.bounds import bound_inputs, budget_epsilons, mean_error, theorem6_bounds
from lora_theory.analysis.fnn import best_layer_ranks, best_partition, block_discrepancies
from lora_theory.claims import get_claim
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
    assert_true,
    no_refusal,
    refusal_allowed,
    regime,
)
from lora_theory.testing.fnn import (
    PerLayerCase,
    block_map_residual,
    domain_points,
    independent_block_singular_values,
    linearised_preactivation_minimum,
    per_layer_cases,
)
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


# --- per-layer ranks (Theorem 6 as printed) ----------------------------------------------------------------------


def _budgets(ranks, sizes) -> tuple[int, ...]:
    """Σ_{l∈P_i} R_l per block, from the registry's 'block_budget' (sympy) on each block's slice of the ranks."""
    return F.block_budgets_of(get_claim(CLAIM).formulas["block_budget"], tuple(ranks), tuple(sizes))


def _case(width, depth, target_depth, block_ranks, partition, ranks, seed=0):
    inst = build_fnn_instance(width, depth, target_depth, block_ranks, partition=partition, seed=seed)
    short = tuple(i for i, (k, b) in enumerate(zip(block_ranks, _budgets(ranks, partition))) if b < k)
    return PerLayerCase(inst, tuple(ranks), short)


@given(case=per_layer_cases())
@example(case=_case(6, 4, 2, (5, 2), (3, 1), (2, 2, 1, 2))).via("budgets (5, 2) = rank(E_i): exact")
@example(case=_case(6, 4, 2, (5, 2), (3, 1), (2, 2, 0, 2))).via("block 1 one short (4 < 5)")
@example(case=_case(6, 4, 2, (5, 2), (3, 1), (0, 0, 5, 2))).via("block 1's budget all on its last layer")
@example(case=_case(5, 3, 2, (4, 3), (1, 2), (4, 0, 2))).via("block 2 short, its budget on one layer")
def test_theorem6_per_layer_exact_iff_budget(case):
    """Per-layer ranks inside a drawn consecutive partition: adapter l has rank ≤ R_l, block i spends
    Σ_{l∈P_i} R_l (registry formula), and the construction is exact on the domain iff every budget reaches the
    designed rank(E_i); a block short of it misses W̄_i by σ_{budget+1}(E_i) (computed here, independently)."""
    inst, ranks = case.inst, case.ranks
    sizes, ks = inst.partition, inst.designed_ranks
    budgets = _budgets(ranks, sizes)
    ex = Example(CLAIM, case.repro(), {"rank(E_i)": ks, "budgets": budgets})
    with no_refusal(ex, name="layer_ranks", what="construct_fnn with per-layer ranks on a conditioned instance"):
        c = construct_fnn(inst.frozen, inst.target, ranks, inst.domain, partition=sizes)
    for l, (pair, R) in enumerate(zip(c.adapters, ranks)):
        assert_at_most(ex, pair.rank, bound=R, name="adapter_rank", what=f"inner dimension of adapter {l + 1}")
    svals = independent_block_singular_values(inst.frozen, inst.target, sizes)
    short = [i for i, (b, k) in enumerate(zip(budgets, ks)) if b < k]
    for i, (b, k) in enumerate(zip(budgets, ks)):
        res, tol = block_map_residual(c, i), c.blocks[i].linear.tolerance()
        if b >= k:
            assert_exact(ex, res, tol=tol, name="layer_ranks",
                         what=f"‖∏_(P_{i + 1})W̃ − W̄_{i + 1}‖₂ with budget {b} ≥ rank(E_{i + 1}) = {k}")
        else:
            assert_close(ex, res, expected=float(svals[i][b]), tol=tol, name="layer_ranks",
                         what=f"‖∏_(P_{i + 1})W̃ − W̄_{i + 1}‖₂ vs σ_{{{b + 1}}}(E_{i + 1}) (budget {b} < {k})")
            assert_not_exact(ex, res, tol=tol, name="layer_ranks",
                             what=f"block {i + 1} with budget {b} < rank(E_{i + 1}) = {k}")
    if not short:
        err = float(c.output_error(domain_points(inst.domain, inst.seed)).max())
        assert_exact(ex, err, tol=c.tolerance(), name="layer_ranks",
                     what=f"max_x ‖f(x) − f̄(x)‖₂ with every budget ≥ rank(E_i), ranks {ranks}")
    uneven = any(len(set(ranks[r.start:r.stop])) > 1 for r in _block_ranges(sizes))
    regime(("some block short" if short else "every block exact") + (", uneven split" if uneven else ""))


@given(case=per_layer_cases())
@example(case=_case(6, 4, 2, (5, 2), (3, 1), (1, 1, 0, 1))).via("both blocks short")
@example(case=_case(6, 4, 2, (5, 2), (3, 1), (2, 2, 1, 2))).via("exact: every bound ≈ 0")
def test_theorem6_per_layer_bound(case):
    """ε_i of the bound inputs = σ_{Σ_{P_i}R_l+1}(E_i) (computed here; :func:`budget_epsilons` agrees), and the mean
    error on the empirical measure is ≤ the provable Theorem 6 bound (√tr Σ, inner index i) and ≤ the tight spectral
    bound, each + the construction's rounding tolerance."""
    inst, ranks = case.inst, case.ranks
    sizes = inst.partition
    budgets = _budgets(ranks, sizes)
    ex = Example(CLAIM, case.repro(), {"budgets": budgets})
    with no_refusal(ex, name="bound", what="construct_fnn with per-layer ranks on a conditioned instance"):
        c = construct_fnn(inst.frozen, inst.target, ranks, inst.domain, partition=sizes)
    X = domain_points(inst.domain, inst.seed)
    svals = independent_block_singular_values(inst.frozen, inst.target, sizes)
    eps = bound_inputs(c, X).epsilons
    alone = budget_epsilons(inst.frozen, inst.target, ranks, sizes)
    for i, b in enumerate(budgets):
        want = float(svals[i][b]) if b < svals[i].shape[0] and b < inst.designed_ranks[i] else 0.0
        tol = c.blocks[i].linear.tolerance()
        assert_close(ex, eps[i], expected=want, tol=tol, name="bound", what=f"ε_{i + 1} vs σ_{{{b + 1}}}(E_{i + 1})")
        assert_close(ex, alone[i], expected=want, tol=tol, name="bound",
                     what=f"budget_epsilons()[{i}] vs σ_{{{b + 1}}}(E_{i + 1})")
    bounds, err = theorem6_bounds(c, X), mean_error(c, X)
    for form in ("provable", "tight"):
        assert_below(ex, err, bound=bounds[form], tol=c.tolerance(), name="bound",
                     what=f"mean error E‖f(x) − f̄(x)‖₂ vs the {form} Theorem 6 bound")
    regime("below (some ε_i > 0)" if any(e > 0 for e in eps) else "exact (every ε_i = 0)")


@given(inst=fnn_instances(low_rank=True, general_partition=True))
@example(inst=build_fnn_instance(8, 4, 2, (8, 2), partition=(3, 1), seed=11)).via("P* = (3, 1), k = (8, 2)")
@example(inst=build_fnn_instance(6, 4, 2, (1, 6), partition=(1, 3), seed=3)).via("uneven ranks (1, 6)")
def test_theorem6_budget_search(inst):
    """best_layer_ranks: its total Σ_l R_l equals the brute-force min over consecutive partitions of Σ_i rank(E_i);
    each block gets exactly rank(E_i), split within one of even; its parameters 2·D·ΣR_l (registry formula) are ≤
    the best uniform rank's 2·D·L·R; and the construction with the returned ranks is exact on the domain."""
    L, Lbar, D = inst.frozen.depth, inst.target.depth, inst.frozen.width
    plan = best_layer_ranks(inst.frozen, inst.target)
    ex = Example(CLAIM, f"{inst.repro()}; best_layer_ranks → {plan.partition}, ranks {plan.layer_ranks}")
    brute = min(sum(b.rank for b in block_discrepancies(inst.frozen, inst.target, p)) for p in compositions(L, Lbar))
    assert_equal(ex, sum(plan.layer_ranks), expected=brute, name="budget_search",
                 what="Σ_l R_l of the plan vs brute-force min_P Σ_i rank(E_i(P))")
    ks = tuple(b.rank for b in block_discrepancies(inst.frozen, inst.target, plan.partition))
    assert_equal(ex, _budgets(plan.layer_ranks, plan.partition), expected=ks, name="budget_search",
                 what=f"block budgets of the plan vs rank(E_i) for its partition {plan.partition}")
    for r in _block_ranges(plan.partition):
        part = plan.layer_ranks[r.start:r.stop]
        assert_at_most(ex, max(part) - min(part), bound=1, name="budget_search",
                       what=f"spread of the per-layer ranks {part} inside a block")
    params = int(F.with_layer_ranks(get_claim(CLAIM).formulas["parameters"], plan.layer_ranks).subs(F.D, D))
    assert_equal(ex, plan.parameters, expected=params, name="budget_search", what="the plan's parameter count")
    _, R = best_partition(inst.frozen, inst.target)
    assert_at_most(ex, params, bound=2 * D * L * R, name="budget_search",
                   what=f"2·D·ΣR_l of the plan vs 2·D·L·R for the best uniform rank R = {R}")
    regime("per-layer cheaper than uniform" if params < 2 * D * L * R else "per-layer = uniform")
    with no_refusal(ex, name="budget_exact", what="construct_fnn with the plan's per-layer ranks"):
        c = construct_fnn(inst.frozen, inst.target, plan.layer_ranks, inst.domain, partition=plan.partition)
    err = float(c.output_error(domain_points(inst.domain, inst.seed)).max())
    assert_exact(ex, err, tol=c.tolerance(), name="budget_exact",
                 what=f"max_x ‖f(x) − f̄(x)‖₂ with the plan {plan.partition}, ranks {plan.layer_ranks}")
    assert_true(ex, c.is_exact_in_theory(), name="budget_exact", what="the plan's construction reports exact",
                seen=f"budgets {c.block_budgets}, rank(E_i) {ks}")


def _block_ranges(sizes):
    from lora_theory.partition import block_ranges
    return block_ranges(sizes)
