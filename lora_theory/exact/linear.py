"""Exact rational certificates for the Lemma 1 construction (claim ``lemma1``, arXiv 2310.17513v3, Lemma 1, p. 3).

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
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from lora_theory.errors import DepthError, ShapeError
from lora_theory.exact._rational import (
    as_rational_matrix,
    as_rational_vector,
    exact_rational,
    exactly_equal,
    integer_matrix,
    rational_product,
    require_nonsingular,
    unimodular,
)
from lora_theory.validation import check_layer_ranks

__all__ = ["LinearCertificate", "as_rational_matrix", "as_rational_vector", "exact_rational", "certify_linear",
           "build_integer_linear_instance"]


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

    E = Wbar - rational_product(Ws, D)
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
        suf = rational_product(Ws[l + 1:], D)
        require_nonsingular(suf, f"suffix product after layer {l + 1}", f"B_{l + 1}", claim="Lemma 1",
                            where=f"suffix after W_{l + 1}")
        require_nonsingular(pre, f"adapted prefix before layer {l + 1} (∏W + C_{{≤{lo}}}F_{{≤{lo}}})",
                            f"A_{l + 1}", claim="Lemma 1", where=f"adapted prefix before W_{l + 1}")
        B = suf.LUsolve(C.extract(list(range(D)), J))
        A = pre.T.LUsolve(F.extract(J, list(range(D))).T).T
        adapters.append((B, A))
        pre = (Ws[l] + B * A) * pre

    residual = pre - Wbar
    return LinearCertificate(
        width=D, depth=L, ranks=ranks, discrepancy_rank=k, equal=exactly_equal(pre, Wbar),
        residual_rank=residual.rank(), delta_ranks=tuple((B * A).rank() if B.cols else 0 for B, A in adapters),
        adapters=tuple(adapters))


def build_integer_linear_instance(width: int, depth: int, discrepancy_rank: int, seed: int,
                                  entry_bound: int = 2) -> tuple[list[sp.Matrix], sp.Matrix]:
    """Integer frozen layers with det = 1 by construction (unit lower × unit upper triangular) and an integer target
    ∏W + X Yᵀ with X, Y of ``discrepancy_rank`` columns (rank(E) may come out lower: compute it, don't assume)."""
    rng = random.Random(seed)
    D = width

    def draw() -> int:
        return rng.randint(-entry_bound, entry_bound)

    Ws = [unimodular(D, draw) for _ in range(depth)]
    X = integer_matrix(D, discrepancy_rank, draw)
    Y = integer_matrix(D, discrepancy_rank, draw)
    return Ws, rational_product(Ws, D) + X * Y.T
