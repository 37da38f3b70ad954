"""The sympy formulas evaluate to what independent arithmetic says."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from lora_theory import formulas as F


@given(k=st.integers(0, 64), L=st.integers(1, 16))
def test_lemma1_threshold_is_the_ceiling(k, L):
    assert F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: k, F.L: L}) == math.ceil(k / L)


@given(s=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=12), R=st.integers(1, 12),
       L=st.integers(1, 4))
def test_lemma1_errors_match_direct_sums(s, R, L):
    s = sorted(s, reverse=True)
    sv = torch.tensor(s, dtype=torch.float64)
    D = len(s)
    values = {F.R: R, F.L: L, F.D: D}
    spectral = F.evaluate_error(F.LEMMA1_ERROR_2NORM, values, sv)
    frob = F.evaluate_error(F.LEMMA1_FROBENIUS_ERROR, values, sv)
    assert spectral == (s[R * L] if R * L < D else 0.0)
    assert math.isclose(frob, math.sqrt(sum(x * x for x in s[R * L:])), rel_tol=1e-12, abs_tol=1e-300)


def test_hetero_formulas_substitute_per_layer_ranks():
    assert F.with_layer_ranks(F.HETERO_TOTAL_RANK, (1, 5, 6)) == 12
    assert F.with_layer_ranks(F.HETERO_EXACT.subs(F.R_E, 12), (1, 5, 6)) == sp.true
    assert F.with_layer_ranks(F.HETERO_EXACT.subs(F.R_E, 12), (3, 3, 5)) == sp.false
    sv = torch.arange(12, 0, -1, dtype=torch.float64)
    assert F.evaluate_error(F.with_layer_ranks(F.HETERO_ERROR_2NORM, (3, 3, 5)), {}, sv) == 1.0


def test_parameter_count_and_latex():
    assert F.LINEAR_PARAMETER_COUNT.subs({F.R: 2, F.D: 16, F.L: 8}) == 512  # 2RDL = 256R at D = 16, L = 8
    assert sp.latex(F.LEMMA1_THRESHOLD) == r"\left\lceil{\frac{R_{E}}{L}}\right\rceil"


def test_evaluation_errors_are_explicit():
    with pytest.raises(ValueError, match="no value for"):
        F.evaluate_error(F.LEMMA1_ERROR_2NORM, {F.R: 1}, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="integer"):
        F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.L: 2})
