"""Unit tests of :mod:`lora_theory.analysis.bounds` (Theorem 5 bounds, arXiv 2310.17513v3, Theorem 5, p. 6).

The hand-computed cases are written out as plain arithmetic from the three forms' definitions (docstrings of
:func:`lora_theory.formulas.theorem5_bound_printed` and its siblings), independently of the sympy expressions. The
mutants the ``theorem5`` properties must catch (wrong ε index, bound forms swapped, …) live in the one mutation
registry, ``tests/meta/mutants.py``.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from lora_theory.analysis import bounds as B
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.errors import DepthError, DomainError, ShapeError, UnknownClaimError
from lora_theory.numerics import chain_product, sigma
from lora_theory.partition import block_ranges
from lora_theory.random_matrices import generator
from lora_theory.testing.instances import build_fnn_instance

REL = 1e-14


def _inputs(eps, fro, spec, bias, sigma_f, trace) -> B.BoundInputs:
    return B.BoundInputs(tuple(eps), tuple(fro), tuple(spec), tuple(bias), sigma_f, trace)


# --- hand-computed cases -------------------------------------------------------------------------------------------

def test_one_layer_by_hand():
    """L̄ = 1: (a) = (√‖Σ‖_F‖W̄_1‖_F + ‖b̄_1‖ ∨ √‖Σ‖_F)·ε_1, (b) the same with ∨ √tr Σ, (c) = ε_1·√tr Σ."""
    x = _inputs([0.5], [2.0], [1.5], [0.3], 4.0, 9.0)
    assert B.evaluate_bound("printed", x) == pytest.approx(max(2.0 * 2.0 + 0.3, 2.0) * 0.5, rel=REL)
    assert B.evaluate_bound("variant", x) == pytest.approx(max(2.0 * 2.0 + 0.3, 3.0) * 0.5, rel=REL)
    assert B.evaluate_bound("tight", x) == pytest.approx(0.5 * 3.0, rel=REL)
    # a small target: the final "∨" decides, √‖Σ‖_F = 2 for (a) and √tr Σ = 3 for (b)
    y = _inputs([0.5], [0.1], [0.1], [0.0], 4.0, 9.0)
    assert B.evaluate_bound("printed", y) == pytest.approx(2.0 * 0.5, rel=REL)
    assert B.evaluate_bound("variant", y) == pytest.approx(3.0 * 0.5, rel=REL)
    assert B.evaluate_bound("tight", y) == pytest.approx(0.5 * 3.0, rel=REL)


def test_two_layers_by_hand():
    """L̄ = 2 with ε = (0.5, 0.25), ‖W̄‖_F = (2, 3), ‖W̄‖₂ = (1.5, 2.5), ‖b̄‖ = (0.3, 0.4), ‖Σ‖_F = 4, tr Σ = 9."""
    x = _inputs([0.5, 0.25], [2.0, 3.0], [1.5, 2.5], [0.3, 0.4], 4.0, 9.0)
    root_f, root_tr = 2.0, 3.0
    frob_sum = max(2.0 + 0.5, 3.0 + 0.25) ** 1 * 0.5 + 0.25  # Σ_i max_k(‖W̄_k‖_F + ε_k)^{2−i} ε_i
    # (a): bracket_2 = √‖Σ‖_F·2·3 + (∏_{k=2}^{1} = 1)·0.3 + (∏_{k=3}^{1} = 1)·0.4 — inner index up to i − 1
    beta_a = max(root_f * 2.0 + 0.3, root_f * 2.0 * 3.0 + 0.3 + 0.4, root_f)
    # (b): bracket_2 = √‖Σ‖_F·2·3 + 3·0.3 + 0.4 — inner index up to i
    beta_b = max(root_f * 2.0 + 0.3, root_f * 2.0 * 3.0 + 3.0 * 0.3 + 0.4, root_tr)
    m0 = root_tr
    m1 = 1.5 * m0 + 0.3
    tight = (2.5 + 0.25) * 0.5 * m0 + 0.25 * m1
    assert B.evaluate_bound("printed", x) == pytest.approx(beta_a * frob_sum, rel=REL)
    assert B.evaluate_bound("variant", x) == pytest.approx(beta_b * frob_sum, rel=REL)
    assert B.evaluate_bound("tight", x) == pytest.approx(tight, rel=REL)
    assert beta_a * frob_sum == pytest.approx(12.7 * 1.875, rel=REL)  # the numbers above, once by hand
    assert beta_b * frob_sum == pytest.approx(13.3 * 1.875, rel=REL)
    assert tight == pytest.approx(4.125 + 1.2, rel=REL)


@pytest.mark.parametrize("Lbar", [1, 2, 3, 4])
@pytest.mark.parametrize("form", B.FORMS)
def test_lambdify_agrees_with_subs(form, Lbar):
    """The numeric path (lambdify) and sympy's own substitution give the same number."""
    gen = generator(Lbar)
    r = [float(v) for v in torch.rand(4 * Lbar + 2, generator=gen, dtype=torch.float64) * 3]
    x = _inputs(r[:Lbar], r[Lbar:2 * Lbar], r[2 * Lbar:3 * Lbar], r[3 * Lbar:4 * Lbar], r[-2], r[-2] + r[-1])
    via_subs = float(B.bound_expr(form, Lbar).subs(x.substitutions()))
    assert B.evaluate_bound(form, x) == pytest.approx(via_subs, rel=1e-12)


def test_empty_inner_product_is_one_not_karr():
    """∏_{k=i+1}^{i−1} is 1: the printed bracket for j = i carries ‖b̄_i‖₂ itself (sympy.Product would give
    1/‖W̄_i‖_F)."""
    expr = B.theorem5_bound_printed(2)
    x = _inputs([1.0, 0.0], [5.0, 7.0], [1.0, 1.0], [0.0, 11.0], 0.0, 0.0)
    # bracket_2 = 0 + 0·(…) + 1·11; growth^1·ε_1 = max(6, 7)·1
    assert float(expr.subs(x.substitutions())) == pytest.approx(11.0 * 7.0, rel=REL)


# --- structural facts ----------------------------------------------------------------------------------------------

@given(Lbar=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_every_bound_is_zero_when_every_epsilon_is_zero(Lbar, seed):
    gen = generator(seed)
    r = [float(v) for v in torch.rand(3 * Lbar + 2, generator=gen, dtype=torch.float64) * 10]
    x = _inputs([0.0] * Lbar, r[:Lbar], r[Lbar:2 * Lbar], r[2 * Lbar:3 * Lbar], r[-2], r[-2] + r[-1])
    for form in B.FORMS:
        assert B.evaluate_bound(form, x) == 0.0, form
        assert sp.simplify(B.bound_expr(form, Lbar).subs({B.eps[k + 1]: 0 for k in range(Lbar)})) == 0, form


def _random_psd_moments(D: int, gen: torch.Generator) -> tuple[float, float]:
    """‖Σ‖_F and tr Σ of Σ = XᵀX/n for random rows (a genuine PSD second moment, so ‖Σ‖_F ≤ tr Σ)."""
    X = torch.randn(3 * D, D, generator=gen, dtype=torch.float64) * torch.rand(D, generator=gen, dtype=torch.float64)
    S = X.T @ X / X.shape[0]
    return float(torch.linalg.matrix_norm(S)), float(torch.trace(S))


@given(Lbar=st.integers(1, 5), D=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_variant_dominates_printed_when_frobenius_norms_are_at_least_one(Lbar, D, seed):
    """(b) ≥ (a) whenever every ‖W̄_k‖_F ≥ 1 (extra factor ‖W̄_i‖_F ≥ 1, and √tr Σ ≥ √‖Σ‖_F)."""
    gen = generator(seed)
    fro = [1.0 + float(v) for v in torch.rand(Lbar, generator=gen, dtype=torch.float64) * 3]
    spec = [f * float(v) for f, v in zip(fro, torch.rand(Lbar, generator=gen, dtype=torch.float64))]
    eps = [float(v) for v in torch.rand(Lbar, generator=gen, dtype=torch.float64)]
    bias = [float(v) for v in torch.rand(Lbar, generator=gen, dtype=torch.float64) * 2]
    sigma_f, trace = _random_psd_moments(D, gen)
    x = _inputs(eps, fro, spec, bias, sigma_f, trace)
    a, b = B.evaluate_bound("printed", x), B.evaluate_bound("variant", x)
    assert b >= a * (1 - 1e-14), (a, b, x)


def test_identity_second_moment_factors():
    """At Σ = I_D, √‖Σ‖_F = D^{1/4} and √tr Σ = D^{1/2}; with a negligible target these set (a) and (b)."""
    for D in (1, 4, 64):
        x = _inputs([1.0], [0.0], [0.0], [0.0], math.sqrt(D), float(D))
        assert B.evaluate_bound("printed", x) == pytest.approx(D ** 0.25, rel=REL)
        assert B.evaluate_bound("variant", x) == pytest.approx(D ** 0.5, rel=REL)
        assert B.evaluate_bound("tight", x) == pytest.approx(D ** 0.5, rel=REL)


def test_printed_form_carries_its_warning():
    doc = B.theorem5_bound_printed.__doc__
    assert "Not a provable bound" in doc and "exceeds this bound" in doc


# --- evaluation on a construction ----------------------------------------------------------------------------------

@pytest.mark.parametrize("D, L, Lbar, R", [(6, 1, 1, 2), (6, 4, 2, 1), (5, 5, 2, 1), (4, 3, 3, 1)])
def test_bound_inputs_and_mean_error_from_first_principles(D, L, Lbar, R):
    """ε_i = σ_{RM+1}(W̄_i − ∏_{P_i}W) with M = ⌊L/L̄⌋ (also for a longer last block), the target's norms, the
    moments of the empirical measure, and the mean error — each recomputed here without the library's helpers."""
    inst = build_fnn_instance(D, L, Lbar, seed=D + L)
    c = construct_fnn(inst.frozen, inst.target, R, inst.domain)
    gen = generator(0)
    X = inst.domain.evaluation_points(50, gen)
    x = B.bound_inputs(c, X)
    M = L // Lbar
    for i, layers in enumerate(block_ranges(inst.partition)):
        E = inst.target.weights[i] - chain_product([inst.frozen.weights[l] for l in layers])
        s = torch.linalg.svdvals(E)
        assert x.epsilons[i] == pytest.approx(sigma(s, R * M + 1), rel=1e-10, abs=1e-13)
        assert x.target_frobenius[i] == pytest.approx(math.sqrt(float((inst.target.weights[i] ** 2).sum())), rel=REL)
        assert x.target_spectral[i] == pytest.approx(float(torch.linalg.svdvals(inst.target.weights[i])[0]), rel=1e-13)
        assert x.target_bias[i] == pytest.approx(math.sqrt(float((inst.target.biases[i] ** 2).sum())), rel=REL)
    S = sum(torch.outer(row, row) for row in X) / X.shape[0]
    assert x.sigma_trace == pytest.approx(float((X ** 2).sum(dim=1).mean()), rel=1e-13)
    assert x.sigma_frobenius == pytest.approx(math.sqrt(float((S ** 2).sum())), rel=1e-13)
    f, fbar = c.adapted(), inst.target
    direct = sum(math.sqrt(float(((f(row) - fbar(row)) ** 2).sum())) for row in X) / X.shape[0]
    assert B.mean_error(c, X) == pytest.approx(direct, rel=1e-12, abs=1e-14)
    bounds = B.evaluate_bounds(c, X)
    assert set(bounds) == set(B.FORMS)
    assert all(bounds[form] == B.evaluate_bound(form, x) for form in B.FORMS)


def test_bad_inputs_are_refused():
    with pytest.raises(UnknownClaimError, match="known: printed, variant, tight"):
        B.bound_expr("loose", 2)
    with pytest.raises(DepthError):
        B.bound_expr("tight", 0)
    with pytest.raises(ShapeError, match="one per target layer"):
        _inputs([0.1, 0.2], [1.0], [1.0], [0.0], 1.0, 1.0)
    with pytest.raises(DomainError, match="finite number >= 0"):
        _inputs([-0.1], [1.0], [1.0], [0.0], 1.0, 1.0)
    inst = build_fnn_instance(3, 1, 1, seed=0)
    c = construct_fnn(inst.frozen, inst.target, 1, inst.domain)
    with pytest.raises(DomainError):  # the bound is claimed on the construction's domain only
        B.evaluate_bounds(c, torch.full((2, 3), 100.0, dtype=torch.float64))
