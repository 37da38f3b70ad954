"""Unit tests of the rational certificate (the property lives in properties/test_lemma1.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp

from lora_theory.errors import SingularityError
from lora_theory.exact.linear import as_rational_matrix, build_integer_linear_instance, certify_linear


def test_identity_chain_rank_one_target():
    eye = [[1, 0], [0, 1]]
    target = [[2, 0], [0, 1]]  # ∏W + e1 e1ᵀ
    cert = certify_linear([eye, eye], target, 1)
    assert cert.equal and cert.discrepancy_rank == 1 and cert.delta_ranks == (1, 0)


def test_rationals_and_fractions_are_accepted():
    M = as_rational_matrix([[Fraction(1, 3), 2], [sp.Rational(5, 7), 1]], "M")
    assert M[0, 0] == sp.Rational(1, 3)


def test_below_threshold_residual_rank_is_exact():
    Ws, Wbar = build_integer_linear_instance(4, 2, 4, seed=3)
    cert = certify_linear(Ws, Wbar, 1)
    assert not cert.equal
    assert cert.residual_rank == cert.discrepancy_rank - 2


def test_exactly_singular_prefix_is_refused():
    eye = [[1, 0], [0, 1]]
    target = [[0, 0], [0, 2]]  # E = diag(-1, 1): the first direction zeroes the prefix
    with pytest.raises(SingularityError, match="exactly singular"):
        certify_linear([eye, eye], target, 1)


def test_integer_layers_are_unimodular():
    Ws, _ = build_integer_linear_instance(5, 3, 2, seed=0)
    assert all(W.det() == 1 for W in Ws)


def test_exactly_equal_is_exact():
    """The certificates' one equality test: a residual of 1/10**15 is not equality."""
    import sympy as sp

    from lora_theory.exact._rational import exactly_equal

    A = sp.Matrix([[1, 2], [3, 4]])
    assert exactly_equal(A, A.copy())
    assert not exactly_equal(A, A + sp.Matrix([[0, 0], [sp.Rational(1, 10**15), 0]]))
    assert not exactly_equal(A, sp.Matrix([[1, 2]]))
