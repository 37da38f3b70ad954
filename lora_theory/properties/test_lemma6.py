"""Claim ``lemma6`` — arXiv 2310.17513v3, Lemma 6 (App. C.2, p. 20).

A D×D random matrix with a continuous distribution (support of non-zero Lebesgue measure) is non-singular with
probability 1. Draws from several continuous laws are checked against the singularity threshold of the registry
(σ_min/σ_max) and for full rank; a discrete law ({0, 1} entries, outside the lemma) shows that the same check does
flag exactly singular matrices.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory.claims import get_claim
from lora_theory.numerics import singular_values
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import Example, assert_equal, assert_true, regime
from lora_theory.testing.strategies import seeds

pytestmark = pytest.mark.lemma6
CLAIM = "lemma6"
LAWS = ("gaussian", "uniform", "xavier_uniform", "laplace", "exponential")
DT = torch.float64


def _draw(law: str, D: int, gen: torch.Generator) -> torch.Tensor:
    """A D×D matrix with independent entries of ``law`` (inverse-CDF transforms of a local generator's uniforms)."""
    U = torch.rand(D, D, generator=gen, dtype=DT)
    if law == "gaussian":
        return torch.randn(D, D, generator=gen, dtype=DT)
    if law == "uniform":
        return 2 * U - 1
    if law == "xavier_uniform":  # U(−a, a), a = √(6/(fan_in + fan_out))
        return math.sqrt(6.0 / (2 * D)) * (2 * U - 1)
    if law == "laplace":  # F⁻¹(u) = −sign(u − ½)·ln(1 − 2|u − ½|)
        c = U - 0.5
        return -torch.sign(c) * torch.log1p(-2 * c.abs())
    if law == "exponential":  # F⁻¹(u) = −ln(1 − u): every entry positive
        return -torch.log1p(-U)
    raise AssertionError(law)


def _threshold() -> float:
    return float(get_claim(CLAIM).formulas["singularity_threshold"])


@given(law=st.sampled_from(LAWS), D=st.integers(1, 8), seed=seeds())
@example(law="gaussian", D=8, seed=0).via("largest size")
@example(law="exponential", D=8, seed=1).via("entries all positive (non-zero mean)")
@example(law="laplace", D=1, seed=2).via("D = 1")
def test_lemma6_continuous_nonsingular(law, D, seed):
    """σ_min/σ_max ≥ the registry's singularity threshold and rank D (torch.linalg.matrix_rank) for every draw."""
    A = _draw(law, D, generator(seed))
    ex = Example(CLAIM, f"_draw({law!r}, {D}, generator({seed}))", {"law": law, "D": D})
    s = singular_values(A)
    ratio = float(s[-1] / s[0])
    assert_true(ex, math.isfinite(ratio) and ratio >= _threshold(), name="nonsingular",
                what=f"σ_min/σ_max ≥ {_threshold():.0e}", seen=f"{ratio:.3e}")
    assert_equal(ex, int(torch.linalg.matrix_rank(A)), expected=D, name="nonsingular", what="rank of the draw")
    regime(f"{law}")
    regime("σ_min/σ_max ≥ 1e-2" if ratio >= 1e-2 else "σ_min/σ_max < 1e-2")


@given(D=st.integers(1, 3), seed=seeds())
@example(D=2, seed=0).via("2×2 {0, 1}: det = 0 with probability 10/16")
def test_lemma6_discrete_contrast(D, seed):
    """A discrete law is outside the lemma: 64 draws of {0, 1} entries (D ≤ 3) include an exactly singular matrix
    (integer determinant 0, sympy), and the check of :func:`test_lemma6_continuous_nonsingular` flags exactly the
    singular ones (σ_min/σ_max below the threshold, rank < D) — so that check can fail."""
    gen = generator(seed)
    ex = Example(CLAIM, f"64 draws of torch.randint(0, 2, ({D}, {D}), generator=generator({seed}))", {"D": D})
    singular = 0
    for _ in range(64):
        A = torch.randint(0, 2, (D, D), generator=gen).to(DT)
        det = sp.Matrix(A.to(torch.int64).tolist()).det()
        s = singular_values(A)
        ratio = float(s[-1] / s[0]) if float(s[0]) > 0 else 0.0
        flagged = not ratio >= _threshold() or int(torch.linalg.matrix_rank(A)) < D
        assert_equal(ex, flagged, expected=det == 0, name="discrete_contrast",
                     what=f"check flags the draw iff its exact determinant ({det}) is 0")
        singular += det == 0
    assert_true(ex, singular > 0, name="discrete_contrast", what="some {0, 1} draw is exactly singular",
                seen=f"{singular} of 64")
    regime(f"{singular}/64 singular" if singular < 8 else "≥ 8/64 singular")
