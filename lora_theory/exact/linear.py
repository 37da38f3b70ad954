"""Exact rational certificates for the Lemma 1 construction (claim ``lemma1``, arXiv 2310.17513 v3, Lemma 1).

For small integer/rational instances the construction is carried out in sympy ``Rational`` arithmetic, so the
conclusion is checked with *equality*, not a tolerance: ∏(W_l + B_l A_l) == W̄ and rank(B_l A_l) ≤ R_l exactly.

No SVD is needed when exactness is the question: any rank factorisation E = C F (here C = the pivot columns of E,
F = the non-zero rows of rref(E)) serves, with layer l taking the columns/rows J_l = {Σ_{j<l}R_j + 1, …} ::

    B_l = Suf_l⁻¹ C_J,   A_l = F_J Pre_l⁻¹   ⇒   ∏W̃ = ∏W + Σ_{j ≤ m} C_j F_j,  m = min(ΣR_l, rank E)

so the residual ∏W̃ − W̄ = −C_{>m} F_{>m} has rank exactly rank(E) − m. Singular matrices are detected exactly
(determinant 0), never approximately.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from lora_theory.errors import DepthError, DTypeError, ShapeError, SingularityError
from lora_theory.validation import check_layer_ranks

__all__ = ["LinearCertificate", "as_rational_matrix", "as_rational_vector", "exact_rational", "certify_linear",
           "build_integer_instance"]


def _flatten(x: object) -> list:
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    return [x]


def exact_rational(v: object, name: str) -> sp.Rational:
    """One entry as a sympy Rational; booleans and floats are DTypeErrors naming ``name`` (floats are not exact)."""
    if isinstance(v, bool):
        raise DTypeError(f"{name} has the boolean entry {v!r}: exact certificates need integer or rational entries")
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    try:
        v = sp.sympify(v)
    except sp.SympifyError:
        raise DTypeError(f"{name} has the entry {v!r}: exact certificates need integer or rational entries") from None
    if not getattr(v, "is_Rational", False):
        raise DTypeError(f"{name} has the entry {v!r}: exact certificates need integer or rational entries "
                         "(floats are not exact)")
    return v


def as_rational_vector(x: object, name: str, width: int) -> sp.Matrix:
    """A (D, 1) sympy column of Rationals from a flat sequence or a (D, 1)/(1, D) sympy Matrix."""
    if isinstance(x, (str, bytes)):
        raise ShapeError(f"{name} must be a vector of D={width} integers/rationals; got a string")
    if isinstance(x, Sequence) and not any(isinstance(e, (Sequence, sp.MatrixBase)) for e in x):
        # a flat list/tuple: check the entries first (sympy would turn a bool into a deprecation error)
        if len(x) != width:
            raise ShapeError(f"{name} must be a vector of D={width} entries; got {len(x)}")
        return sp.Matrix(width, 1, [exact_rational(e, name) for e in x])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            v = sp.Matrix(x)
    except Exception as exc:  # sympy raises many types for unreadable input; report one typed error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{name} cannot be read as a vector of D={width} integers/rationals: {first}") from None
    if v.shape not in ((width, 1), (1, width)):
        raise ShapeError(f"{name} must be a vector of D={width} entries; got shape {v.shape}")
    return sp.Matrix(width, 1, [exact_rational(e, name) for e in v])


def as_rational_matrix(x: object, name: str) -> sp.Matrix:
    """A square sympy Matrix of Rationals from nested lists / a sympy Matrix of ints, Fractions or Rationals."""
    if any(isinstance(v, bool) for v in _flatten(x)):
        raise DTypeError(f"{name} has a boolean entry: exact certificates need integer or rational entries")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # sympy deprecation warnings on ragged/nested input mean "not a matrix"
            M = sp.Matrix(x)
    except Exception as exc:  # sympy raises many types for unreadable input; report one typed error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{name} cannot be read as a (D, D) matrix of integers/rationals: {first}") from None
    if M.rows != M.cols or M.rows == 0:
        raise ShapeError(f"{name} must be a non-empty square (D, D) matrix; got shape {M.shape}")

    return M.applyfunc(lambda v: exact_rational(v, name))


@dataclass(frozen=True)
class LinearCertificate:
    """The verdict of an exact run of the construction."""

    width: int
    depth: int
    ranks: tuple[int, ...]
    discrepancy_rank: int
    equal: bool  # ∏W̃ == W̄ exactly
    residual_rank: int  # rank(∏W̃ − W̄), exactly
    delta_ranks: tuple[int, ...]  # rank(B_l A_l), exactly
    adapters: tuple[tuple[sp.Matrix, sp.Matrix], ...]

    @property
    def total_rank(self) -> int:
        return sum(self.ranks)

    def summary(self) -> str:
        verdict = "equal" if self.equal else "not equal"
        return (f"exact certificate: ∏(W_l + B_l A_l) {'==' if self.equal else '!='} W̄ ({verdict}); D={self.width} "
                f"L={self.depth} ranks={list(self.ranks)} rank(E)={self.discrepancy_rank} "
                f"rank(residual)={self.residual_rank} rank(ΔW_l)={list(self.delta_ranks)}")


def _product(mats: Sequence[sp.Matrix], D: int) -> sp.Matrix:
    out = sp.eye(D)
    for M in mats:
        out = M * out
    return out


def certify_linear(weights: Sequence[object], target: object, rank: int | Sequence[int]) -> LinearCertificate:
    """Run the Lemma 1 construction in rational arithmetic and report exact equality and exact ranks."""
    if not isinstance(weights, Sequence) or len(weights) == 0:
        raise DepthError("weights must be a non-empty sequence of (D, D) matrices")
    Ws = [as_rational_matrix(w, f"weights[{i}]") for i, w in enumerate(weights)]
    D, L = Ws[0].rows, len(Ws)
    for idx, W in enumerate(Ws):
        if W.shape != (D, D):
            raise ShapeError(f"weights[{idx}] has shape {W.shape} but weights[0] has shape ({D}, {D})")
    Wbar = as_rational_matrix(target, "target")
    if Wbar.shape != (D, D):
        raise ShapeError(f"target has shape {Wbar.shape} but the chain has width D={D}")
    ranks = check_layer_ranks(rank, depth=L, width=D)

    E = Wbar - _product(Ws, D)
    rref, pivots = E.rref()
    k = len(pivots)
    C = E.extract(list(range(D)), list(pivots))  # D × k
    F = rref[:k, :]  # k × D, E = C F

    adapters = []
    pre = sp.eye(D)
    offset = 0
    for l in range(L):
        lo, hi = offset, min(offset + ranks[l], k)
        offset += ranks[l]
        if lo >= hi:
            adapters.append((sp.zeros(D, 0), sp.zeros(0, D)))
            pre = Ws[l] * pre
            continue
        J = list(range(lo, hi))
        suf = _product(Ws[l + 1:], D)
        if suf.det() == 0:
            raise SingularityError(f"suffix product after layer {l + 1} is exactly singular (det = 0); "
                                   f"needed for B_{l + 1}", where=f"suffix after W_{l + 1}", ratio=0.0)
        if pre.det() == 0:
            raise SingularityError(f"adapted prefix before layer {l + 1} is exactly singular (det = 0): "
                                   f"∏W + C_{{≤{lo}}}F_{{≤{lo}}} is singular; needed for A_{l + 1}",
                                   where=f"adapted prefix before W_{l + 1}", ratio=0.0)
        B = suf.LUsolve(C.extract(list(range(D)), J))
        A = pre.T.LUsolve(F.extract(J, list(range(D))).T).T
        adapters.append((B, A))
        pre = (Ws[l] + B * A) * pre

    residual = pre - Wbar
    return LinearCertificate(
        width=D, depth=L, ranks=ranks, discrepancy_rank=k, equal=residual.is_zero_matrix,
        residual_rank=residual.rank(), delta_ranks=tuple((B * A).rank() if B.cols else 0 for B, A in adapters),
        adapters=tuple(adapters))


def build_integer_instance(width: int, depth: int, discrepancy_rank: int, seed: int,
                           entry_bound: int = 2) -> tuple[list[sp.Matrix], sp.Matrix]:
    """Integer frozen layers with det = 1 by construction (unit lower × unit upper triangular) and an integer target
    ∏W + X Yᵀ with X, Y of ``discrepancy_rank`` columns (rank(E) may come out lower: compute it, don't assume)."""
    rng = random.Random(seed)
    D = width

    def draw() -> int:
        return rng.randint(-entry_bound, entry_bound)

    Ws = []
    for _ in range(depth):
        Lo = sp.Matrix(D, D, lambda r, c: 1 if r == c else (draw() if r > c else 0))
        Up = sp.Matrix(D, D, lambda r, c: 1 if r == c else (draw() if r < c else 0))
        Ws.append(Lo * Up)
    X = sp.Matrix(D, discrepancy_rank, lambda r, c: draw())
    Y = sp.Matrix(D, discrepancy_rank, lambda r, c: draw())
    return Ws, _product(Ws, D) + X * Y.T
