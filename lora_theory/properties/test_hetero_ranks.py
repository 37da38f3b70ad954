"""Claim ``hetero_ranks`` — derived from arXiv 2310.17513 v3, Lemma 1 (SPEC §6.2): with per-layer ranks R_l the
construction's error is σ_{ΣR_l+1}(E), optimal, and the adaptation is exact iff Σ_l R_l ≥ rank(E) — only the total
rank budget matters, not how it is split across layers."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions.linear import construct_linear
from lora_theory.numerics import numerical_rank, singular_values, spectral_norm
from lora_theory.testing.assertions import Example, check_close, check_exact, check_not_exact, regime
from lora_theory.testing.strategies import LinearInstance, build_linear_instance, linear_instances, per_layer_ranks

pytestmark = pytest.mark.hetero_ranks
CLAIM = "hetero_ranks"


def _check_split(inst: LinearInstance, ranks: tuple[int, ...], ex: Example) -> float:
    """Check one split; return the spectral error."""
    claim = get_claim(CLAIM)
    c = construct_linear(inst.weights, inst.target, list(ranks))
    s = singular_values(inst.target - c.frozen.product())
    rank_E = numerical_rank(s=s, scale=c.operand_scale)
    exact = bool(F.with_layer_ranks(claim.formulas["exact_iff"].subs(F.R_E, rank_E), ranks))
    err, tol = spectral_norm(c.residual()), c.tolerance()
    if exact:
        check_exact(ex, "value", err, tol, f"spectral error with ranks {list(ranks)}")
    else:
        s_num = s.clone()
        s_num[rank_E:] = 0.0
        predicted = F.evaluate_error(F.with_layer_ranks(claim.formulas["spectral_error"], ranks), {}, s_num)
        check_close(ex, "value", err, predicted, tol, f"spectral error with ranks {list(ranks)} vs σ_{{ΣR_l+1}}(E)")
        check_not_exact(ex, "value", err, tol, f"adaptation with ranks {list(ranks)} (Σ < rank E = {rank_E})")
    regime("exact (Σ R_l ≥ rank E)" if exact else "not exact (Σ R_l < rank E)")
    return err


@given(inst=linear_instances(), data=st.data())
def test_hetero_ranks_compositions(inst, data):
    """For every split (zeros allowed) the error is σ_{ΣR_l+1}(E); exact iff ΣR_l ≥ rank(E) (sympy formula)."""
    ranks = data.draw(per_layer_ranks(inst.width, inst.depth), label="per-layer ranks R_l")
    if sum(ranks) and max(ranks) == sum(ranks) and inst.depth > 1:
        regime("whole budget on one layer")
    _check_split(inst, ranks, Example(CLAIM, f"{inst.repro()}, ranks={list(ranks)}"))


SPEC_SPLITS = [(4, 4, 4), (1, 5, 6), (10, 1, 1), (0, 0, 12), (12, 0, 0), (3, 3, 5)]


@pytest.mark.parametrize("ranks", SPEC_SPLITS, ids=lambda r: "-".join(map(str, r)))
def test_hetero_ranks_spec_splits(ranks):
    """SPEC §6.2 at D = 12, L = 3, full-rank E: the splits of 12 are exact, (3, 3, 5) leaves exactly σ_12."""
    inst = build_linear_instance(12, 3, 12, kappa=10.0, ratio=0.5, floor=0.1, seed=12)
    _check_split(inst, ranks, Example(CLAIM, f"{inst.repro()}, ranks={list(ranks)}"))


@given(inst=linear_instances(min_depth=2), data=st.data())
@example(inst=build_linear_instance(6, 3, 6, seed=5), data=None).via("full rank, budget 4 split two ways")
def test_hetero_ranks_only_total_matters(inst, data):
    """Two different splits of the same total rank give the same error (up to both tolerances)."""
    if data is None:
        first, second = (2, 1, 1), (0, 0, 4)
    else:
        first = data.draw(per_layer_ranks(inst.width, inst.depth), label="first split")
        second = data.draw(st.permutations(first).map(tuple), label="second split (a permutation)")
    ex = Example(CLAIM, f"{inst.repro()}, splits {list(first)} vs {list(second)}")
    c1 = construct_linear(inst.weights, inst.target, list(first))
    c2 = construct_linear(inst.weights, inst.target, list(second))
    e1, e2 = spectral_norm(c1.residual()), spectral_norm(c2.residual())
    t1, t2 = c1.tolerance(), c2.tolerance()
    both = t1.scaled(1.0 + t2.value / t1.value, "sum of both constructions' tolerances") if t1.value else t2
    check_close(ex, "only_total_matters", e1, e2, both, f"error of split {list(first)} vs split {list(second)}")
    regime("same split" if first == second else "different splits")
