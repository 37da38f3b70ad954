"""Claim ``abstract_threshold`` — arXiv 2310.17513v3, abstract and Corollary 4, p. 6.

The abstract's informal threshold R ≥ D·L̄/L equals the theorem's ⌈D/⌊L/L̄⌋⌉ when L̄ divides L and is smaller
otherwise (D=16, L=5, L̄=2: 7 vs 8).

Purely symbolic: both thresholds are the registry's sympy expressions, evaluated with :func:`threshold_gap`.
"""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.errors import DepthError, DomainError
from lora_theory.formulas import Lbar, threshold_gap
from lora_theory.testing.assertions import Example, assert_at_most, assert_equal, assert_true, regime

pytestmark = pytest.mark.abstract_threshold
CLAIM = "abstract_threshold"
MAX_SIZE = 64


@st.composite
def architectures(draw: st.DrawFn) -> tuple[int, int, int]:
    """(D, L, L̄) with 1 ≤ L̄ ≤ L ≤ 64 and 1 ≤ D ≤ 64 (L drawn first, L̄ from it)."""
    D = draw(st.integers(1, MAX_SIZE), label="width D")
    L = draw(st.integers(1, MAX_SIZE), label="frozen depth L")
    Lb = draw(st.integers(1, L), label="target depth L̄")
    return D, L, Lb


def _where(D: int, L: int, Lb: int) -> Example:
    return Example(CLAIM, f"threshold_gap(D={D}, L={L}, Lbar={Lb})", {"M": L // Lb})


@given(arch=architectures())
@example(arch=(16, 5, 2)).via("strictly apart: 8 vs 7")
@example(arch=(16, 4, 2)).via("L̄ divides L: 4 = 4")
@example(arch=(1, 1, 1)).via("smallest sizes")
@example(arch=(64, 64, 63)).via("M = 1 with a large remainder: 64 vs 63")
def test_abstract_threshold_theorem_at_least_abstract(arch):
    """⌈D/⌊L/L̄⌋⌉ ≥ ⌈D·L̄/L⌉ ≥ D·L̄/L always; equal thresholds whenever L̄ | L."""
    D, L, Lb = arch
    ex = _where(D, L, Lb)
    theorem, abstract = threshold_gap(D, L, Lb)
    exact = sp.Rational(D * Lb, L)
    printed = get_claim(CLAIM).formulas["abstract_exact"].xreplace({F.D: sp.Integer(D), F.L: sp.Integer(L),
                                                                     Lbar: sp.Integer(Lb)})
    name = "theorem_at_least_abstract"
    assert_equal(ex, printed, expected=exact, name=name, what="the registry's 'abstract_exact' vs D·L̄/L")
    assert_equal(ex, sp.ceiling(printed), expected=abstract, name=name,
                 what="⌈abstract_exact⌉ vs threshold_gap's abstract threshold")
    assert_at_most(ex, exact, bound=abstract, name=name, what="D·L̄/L vs its ceiling ⌈D·L̄/L⌉")
    assert_at_most(ex, abstract, bound=theorem, name=name,
                   what="the abstract's ⌈D·L̄/L⌉ vs the theorem threshold ⌈D/⌊L/L̄⌋⌉")
    if L % Lb == 0:
        regime("L̄ divides L")
        assert_equal(ex, theorem, expected=abstract, name=name,
                     what=f"theorem threshold vs the abstract's when L̄={Lb} divides L={L}")
    else:
        regime("gap" if theorem > abstract else "L̄ ∤ L, no gap")


@given(D=st.integers(1, MAX_SIZE), Lb=st.integers(1, MAX_SIZE), k=st.integers(1, MAX_SIZE))
@example(D=16, Lb=2, k=2).via("the paper's Fig. 2 setting (L̄, L) = (2, 4): 8")
@example(D=7, Lb=3, k=1).via("L = L̄: the threshold is D")
def test_abstract_threshold_equal_when_divisible(D, Lb, k):
    """L = k·L̄: both thresholds equal ⌈D/k⌉ (M = k exactly, no remainder)."""
    L = k * Lb
    ex = _where(D, L, Lb)
    theorem, abstract = threshold_gap(D, L, Lb)
    expected = -(-D // k)
    regime("L̄ divides L")
    assert_equal(ex, (theorem, abstract), expected=(expected, expected), name="equal_when_divisible",
                 what=f"(theorem, abstract) thresholds with L = {k}·L̄, both ⌈D/k⌉")


@given(arch=architectures())
@example(arch=(16, 4, 2)).via("L = 4 → 5 at L̄ = 2: M stays 2, theorem stays 8, abstract drops to 7")
@example(arch=(16, 1, 1)).via("L = 1 → 2 at L̄ = 1: both halve")
def test_abstract_threshold_non_increasing_in_depth(arch):
    """At fixed D and L̄, deepening the frozen model (L → L + 1) never raises either threshold."""
    D, L, Lb = arch
    ex = _where(D, L, Lb)
    theorem, abstract = threshold_gap(D, L, Lb)
    theorem_next, abstract_next = threshold_gap(D, L + 1, Lb)
    assert_at_most(ex, theorem_next, bound=theorem, name="non_increasing_in_depth",
                   what=f"theorem threshold at L={L + 1} vs at L={L}")
    assert_at_most(ex, abstract_next, bound=abstract, name="non_increasing_in_depth",
                   what=f"abstract threshold at L={L + 1} vs at L={L}")
    regime("theorem threshold drops" if theorem_next < theorem else "theorem threshold unchanged")


@given(arch=architectures())
@example(arch=(5, 3, 3)).via("M = 1: the threshold is exactly D")
def test_abstract_threshold_at_most_width(arch):
    """1 ≤ ⌈D·L̄/L⌉ ≤ ⌈D/⌊L/L̄⌋⌉ ≤ D: full rank always suffices; equality with D exactly when M = 1 (or D = 1)."""
    D, L, Lb = arch
    ex = _where(D, L, Lb)
    theorem, abstract = threshold_gap(D, L, Lb)
    assert_true(ex, 1 <= abstract <= theorem <= D, name="at_most_width", what="1 ≤ abstract ≤ theorem ≤ D",
                seen=f"abstract {abstract}, theorem {theorem}, D={D}")
    M = L // Lb
    assert_equal(ex, theorem == D, expected=(M == 1 or D == 1), name="at_most_width",  # D, M ≥ 2 ⇒ ⌈D/M⌉ < D
                 what=f"'the threshold {theorem} equals D={D}' vs 'M = {M} is 1 or D is 1'")
    regime("threshold = D" if theorem == D else "threshold < D")


def test_abstract_threshold_symbolic_divisible():
    """sympy: substituting L = k·L̄ (k, L̄ integer positive) makes the two expressions identical, both ⌈D/k⌉."""
    claim = get_claim(CLAIM)
    ex = Example(CLAIM, "the registry's sympy formulas with L = k·L̄ (k, L̄ positive integers)")
    k = sp.Symbol("k", integer=True, positive=True)
    theorem = claim.formulas["theorem"].subs(F.L, k * Lbar)
    abstract = claim.formulas["abstract"].subs(F.L, k * Lbar)
    assert_equal(ex, sp.simplify(theorem - abstract), expected=0, name="symbolic",
                 what="theorem − abstract simplified, with L = k·L̄")
    assert_equal(ex, sp.simplify(theorem - sp.ceiling(F.D / k)), expected=0, name="symbolic",
                 what=f"theorem threshold {theorem} − ⌈D/k⌉ simplified")
    assert_equal(ex, claim.formulas["abstract"], expected=sp.ceiling(claim.formulas["abstract_exact"]),
                 name="symbolic", what="'abstract' vs ⌈abstract_exact⌉")


def test_abstract_threshold_theorem_is_corollary4s_threshold():
    """The 'theorem' expression here is the registry's corollary4 threshold (one formula, two claims)."""
    ours, theirs = get_claim(CLAIM).formulas["theorem"], get_claim("corollary4").formulas["threshold"]
    assert_equal(Example(CLAIM, "the registry's sympy formulas"), sp.simplify(ours - theirs), expected=0,
                 name="symbolic", what=f"theorem threshold {ours} − corollary4's threshold {theirs} simplified")


def test_abstract_threshold_symbolic_strict_example():
    """sympy: at (D, L, L̄) = (16, 5, 2) the expressions give exactly 8 and 7 (and 32/5 before rounding)."""
    claim = get_claim(CLAIM)
    values = {F.D: 16, F.L: 5, Lbar: 2}
    got = tuple(claim.formulas[name].subs(values) for name in ("theorem", "abstract", "abstract_exact"))
    assert_equal(Example(CLAIM, "the registry's sympy formulas at D=16, L=5, L̄=2"), got,
                 expected=(8, 7, sp.Rational(32, 5)), name="symbolic", what="(theorem, abstract, abstract_exact)")


@pytest.mark.parametrize("args, error, pattern", [
    ((16, 2, 3), DepthError, r"target depth L̄=3 exceeds frozen depth L=2"),
    ((0, 4, 2), DomainError, r"width D must be an integer >= 1; got 0"),
    ((16, 4, 0), DomainError, r"target depth L̄ must be an integer >= 1"),
    ((16, 4.0, 2), DomainError, r"frozen depth L must be an integer >= 1; got 4.0"),
    ((True, 4, 2), DomainError, r"width D"),
])
def test_abstract_threshold_rejects_bad_arguments(args, error, pattern):
    """threshold_gap is defined for 1 ≤ L̄ ≤ L and D ≥ 1 only (⌊L/L̄⌋ = 0 would divide by zero)."""
    with pytest.raises(error, match=pattern):
        threshold_gap(*args)
