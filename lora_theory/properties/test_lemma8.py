"""Claim ``lemma8`` — arXiv 2310.17513v3, Lemma 8, p. 24 (Lemma 1 with per-layer ranks).

With per-layer ranks R_l the construction's error is σ_{ΣR_l+1}(E), optimal, and the adaptation is exact iff
Σ_l R_l ≥ rank(E) — only the total rank budget matters, not how it is split across layers."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions.linear import construct_linear
from lora_theory.numerics import numerical_rank, singular_values, spectral_norm
from lora_theory.testing.assertions import (
    Example,
    assert_below,
    assert_close,
    assert_exact,
    assert_not_exact,
    refusal_allowed,
    regime,
)
from lora_theory.testing.instances import LinearInstance, build_linear_instance, build_offgen_linear_instance
from lora_theory.testing.strategies import linear_instances, offgen_linear_instances, per_layer_ranks

pytestmark = pytest.mark.lemma8
CLAIM = "lemma8"


def _assert_split(inst: LinearInstance, ranks: tuple[int, ...], ex: Example) -> float:
    """Check one split; return the spectral error."""
    claim = get_claim(CLAIM)
    c = construct_linear(inst.weights, inst.target, list(ranks))
    s = singular_values(inst.target - c.frozen.product())
    rank_E = numerical_rank(s=s, scale=c.operand_scale)
    exact = bool(F.with_layer_ranks(claim.formulas["exact_iff"].subs(F.R_E, rank_E), ranks))
    err, tol = spectral_norm(c.residual()), c.tolerance()
    if exact:
        assert_exact(ex, err, tol=tol, name="value", what=f"spectral error with ranks {list(ranks)}")
    else:
        s_num = s.clone()
        s_num[rank_E:] = 0.0
        predicted = F.evaluate_error(F.with_layer_ranks(claim.formulas["spectral_error"], ranks), {}, s_num)
        assert_close(ex, err, expected=predicted, tol=tol, name="value",
                     what=f"spectral error with ranks {list(ranks)} vs σ_{{ΣR_l+1}}(E)")
        assert_not_exact(ex, err, tol=tol, name="value",
                         what=f"adaptation with ranks {list(ranks)} (Σ < rank E = {rank_E})")
    regime("exact (Σ R_l ≥ rank E)" if exact else "not exact (Σ R_l < rank E)")
    return err


@given(inst=linear_instances(), data=st.data())
@example(inst=build_linear_instance(6, 3, 6, seed=5), data=None).via("budget spread: Σ R_l = rank E > max R_l")
def test_lemma8_compositions(inst, data):
    """For every split (zeros allowed) the error is σ_{ΣR_l+1}(E); exact iff ΣR_l ≥ rank(E) (sympy formula)."""
    if data is None:  # the explicit example: only the total budget reaches rank E, no single layer does
        ranks = (2, 2, 2)
    else:
        ranks = data.draw(per_layer_ranks(inst.width, inst.depth), label="per-layer ranks R_l")
    if sum(ranks) and max(ranks) == sum(ranks) and inst.depth > 1:
        regime("whole budget on one layer")
    _assert_split(inst, ranks, Example(CLAIM, f"{inst.repro()}, ranks={list(ranks)}"))


#: splits of a rank budget of 12 (and one of 11) across L = 3 layers of width 12: exact iff the total reaches 12
SPLITS_OF_12 = [(4, 4, 4), (1, 5, 6), (10, 1, 1), (0, 0, 12), (12, 0, 0), (3, 3, 5)]


@pytest.mark.parametrize("ranks", SPLITS_OF_12, ids=lambda r: "-".join(map(str, r)))
def test_lemma8_fixed_splits(ranks):
    """D = 12, L = 3, full-rank E (Lemma 8, p. 24): the splits of 12 are exact, (3, 3, 5) leaves exactly σ_12."""
    inst = build_linear_instance(12, 3, 12, kappa=10.0, ratio=0.5, floor=0.1, seed=12)
    _assert_split(inst, ranks, Example(CLAIM, f"{inst.repro()}, ranks={list(ranks)}"))


@given(inst=linear_instances(min_depth=2), data=st.data())
@example(inst=build_linear_instance(6, 3, 6, seed=5), data=None).via("full rank, budget 4 split two ways")
def test_lemma8_only_total_matters(inst, data):
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
    assert_close(ex, e1, expected=e2, tol=both, name="only_total_matters",
                 what=f"error of split {list(first)} vs split {list(second)}")
    regime("same split" if first == second else "different splits")


@given(inst=offgen_linear_instances(max_width=8, max_depth=3), data=st.data())
@example(inst=build_offgen_linear_instance("gaussian", 6, 3, seed=0), data=None).via("Gaussian chain, ranks (2, 0, 4)")
def test_lemma8_offgen_certified_or_refused(inst, data):
    """Off the conditioned generators, any split (zeros allowed) is refused with a typed error naming the matrix or
    answered: reported exact ⇒ residual ≤ its own tolerance; otherwise the error is the predicted σ_{ΣR_l+1}(E)."""
    if data is None:
        ranks = (2, 0, 4)
    else:
        ranks = data.draw(per_layer_ranks(inst.width, inst.depth), label="per-layer ranks R_l")
    ex = Example(CLAIM, f"{inst.repro()}, ranks={list(ranks)}", population=inst.kind)
    with refusal_allowed(ex, name="offgen", what=f"construct_linear with ranks {list(ranks)} on a {inst.kind} chain"
                         ) as outcome:
        c = construct_linear(inst.weights, inst.target, list(ranks))
    if outcome.refused:
        return
    err, tol = spectral_norm(c.residual()), c.tolerance()
    # assert_below / assert_close: off-generator instances do not enter the separation ratio
    if c.is_exact_in_theory():
        assert_below(ex, err, bound=0.0, tol=tol, name="offgen_invariant",
                     what=f"residual with ranks {list(ranks)} of a construction that reports exact vs its tolerance")
        regime("certified exact")
    else:
        assert_close(ex, err, expected=c.predicted_error(), tol=tol, name="offgen_value",
                     what=f"residual with ranks {list(ranks)} vs the predicted σ_{{ΣR_l+1}}(E)")
        regime("certified not exact")
