"""Claim ``eym`` — Eckart–Young–Mirsky, the best rank-r approximation LR_r(A) that arXiv 2310.17513v3 uses from its
notation (Sec. 2) on and in Lemma 1, p. 3: the truncated SVD leaves ‖A − LR_r(A)‖₂ = σ_{r+1}(A) (0 for r ≥ D)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory.numerics import singular_values, spectral_norm, truncated_svd, unit_roundoff
from lora_theory.random_matrices import generator, matrix_with_singular_values
from lora_theory.testing.assertions import Example, assert_close, regime
from lora_theory.tolerance import chain_tolerance

pytestmark = pytest.mark.eym


@given(D=st.integers(1, 12), r=st.integers(0, 12), seed=st.integers(0, 2**32 - 1))
def test_eym_value(D, r, seed):
    s = torch.logspace(0, -3, D, dtype=torch.float64)
    A = matrix_with_singular_values(s, generator(seed))
    B, At = truncated_svd(A, r)
    err, sv = spectral_norm(A - B @ At), singular_values(A)
    tol = chain_tolerance(unit_roundoff=unit_roundoff(A.dtype), width=D, depth=1,  # the one tolerance model
                          product_scale=float(sv[0]), discrepancy_norm=float(sv[0]))
    assert_close(Example("eym", f"D={D} r={r} seed={seed}"), err, expected=float(sv[r]) if r < D else 0.0, tol=tol,
                 name="value", what="‖A − LR_r(A)‖₂ vs σ_{r+1}(A)")


@given(kind=st.sampled_from(("gaussian", "tied")), D=st.integers(1, 12), r=st.integers(0, 12),
       distinct=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
@example(kind="tied", D=6, r=2, distinct=1, seed=0).via("all six singular values equal: LR_2(A) is not unique")
@example(kind="gaussian", D=12, r=5, distinct=1, seed=0).via("N(0, 1/D) entries")
def test_eym_offgen(kind, D, r, distinct, seed):
    """Off the conditioned spectra: N(0, 1/D) matrices, and matrices whose singular values are exactly tied (only
    ``distinct`` different values, each repeated; LR_r(A) is then not unique, its error still is)."""
    gen = generator(seed)
    tied_at_cut = False
    if kind == "gaussian":
        A = torch.randn(D, D, generator=gen, dtype=torch.float64) / D ** 0.5
    else:
        spectrum = torch.logspace(0, -2, distinct, dtype=torch.float64)[torch.arange(D) * distinct // D]
        tied_at_cut = 0 < r < D and bool(spectrum[r - 1] == spectrum[r])
        A = matrix_with_singular_values(spectrum, gen)
    B, At = truncated_svd(A, r)
    err, sv = spectral_norm(A - B @ At), singular_values(A)
    tol = chain_tolerance(unit_roundoff=unit_roundoff(A.dtype), width=D, depth=1,  # the one tolerance model
                          product_scale=float(sv[0]), discrepancy_norm=float(sv[0]))
    ex = Example("eym", f"kind={kind!r} D={D} r={r} distinct={distinct} seed={seed}", population=kind)
    assert_close(ex, err, expected=float(sv[r]) if r < D else 0.0, tol=tol, name="offgen_value",
                 what="‖A − LR_r(A)‖₂ vs σ_{r+1}(A)")
    regime("r ≥ D" if r >= D else ("σ_r = σ_{r+1} (tie across the cut)" if tied_at_cut else "no tie at the cut"))
