"""Lemma 1 construction (claim ``lemma1``, arXiv 2310.17513v3, Lemma 1) and per-layer ranks (``hetero_ranks``).

Given a frozen chain W_1..W_L, a target W̄ and ranks R_l, layer l takes the singular directions
J_l = {Σ_{j<l}R_j + 1, …, Σ_{j≤l}R_j} of E = W̄ − W_L⋯W_1 (as in the proof of Lemma 7, the detailed Lemma 1,
arXiv 2310.17513v3, App. D)::

    B_l = Suf_l⁻¹ · E V_J        (solve with Suf_l = W_L ⋯ W_{l+1})
    A_l = V_Jᵀ · Pre_l⁻¹         (solve with Pre_l = W̃_{l-1} ⋯ W̃_1, the adapted prefix)

so that T_l := Suf_l W̃_l Pre_l = T_{l-1} + E V_J V_Jᵀ and finally ∏W̃ = ∏W + LR_k(E) with k = min(ΣR_l, rank E).
The error is then σ_{k+1}(E) in the spectral norm and the tail energy in the Frobenius norm, which is optimal
(claim ``lemma1``; the lower bound holds for *any* adapters, see :func:`lora_theory.formulas`).

Only directions with σ_i > τ·max(‖W̄‖₂, ‖∏W‖₂) are used (numerical rank,
:func:`lora_theory.numerics.numerical_rank`); layers past them get the zero adapter. Every matrix solved with is
checked first: if σ_min/σ_max < ``singular_threshold`` the construction raises
:class:`~lora_theory.errors.SingularityError` naming the layer and the matrix — it never returns garbage.
Nothing is inverted explicitly and ΔW is never formed densely.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair, adapted_product
from lora_theory.errors import ShapeError, SingularityError
from lora_theory.models import LinearChain
from lora_theory.numerics import (
    SINGULARITY_THRESHOLD,
    chain_product,
    numerical_rank,
    sigma,
    singular_values,
    storage_rank_tau,
    suffix_products,
    tail_energy,
    unit_roundoff,
)
from lora_theory.tolerance import Tolerance, chain_tolerance, singularity_floor
from lora_theory.validation import as_matrix, as_square_stack, check_layer_ranks, check_positive_float, check_same_dtype

__all__ = ["SolveRecord", "LinearConstruction", "construct_linear", "checked_solve"]


@dataclass(frozen=True)
class SolveRecord:
    """One matrix the construction solved with: where it is, σ_min/σ_max, and its error amplification.

    ``ratio`` is exact when ``ratio_is_bound`` is False; otherwise it is a guaranteed *lower* bound (and
    ``amplification`` a guaranteed upper bound), obtained without a decomposition of the matrix (see
    :func:`construct_linear`).
    """

    where: str
    ratio: float
    amplification: float
    ratio_is_bound: bool = False


@dataclass(frozen=True, eq=False)
class LinearConstruction:
    """The adapters of the Lemma 1 construction and everything needed to check them."""

    frozen: LinearChain
    target: torch.Tensor
    ranks: tuple[int, ...]
    adapters: tuple[LoRAPair, ...]
    discrepancy_singular_values: torch.Tensor
    discrepancy_rank: int
    operand_scale: float
    solves: tuple[SolveRecord, ...]
    weight_norms: tuple[float, ...]  # ‖W_l‖₂
    target_norm: float  # ‖W̄‖₂

    @property
    def total_rank(self) -> int:
        """k = Σ_l R_l, the rank budget."""
        return sum(self.ranks)

    def adapted_product(self) -> torch.Tensor:
        """W̃_L ⋯ W̃_1."""
        return adapted_product(self.frozen.weights, self.adapters)

    def residual(self) -> torch.Tensor:
        """∏W̃ − W̄."""
        return self.adapted_product() - self.target

    def _numerical_singular_values(self) -> torch.Tensor:
        """σ_i(E) with the values past the numerical rank (rounding noise) set to 0."""
        s = self.discrepancy_singular_values.clone()
        s[self.discrepancy_rank:] = 0.0
        return s

    def predicted_error(self) -> float:
        """σ_{k+1}(E), the optimal spectral error (exactly 0 once k ≥ rank E)."""
        return sigma(self._numerical_singular_values(), self.total_rank + 1)

    def predicted_frobenius_error(self) -> float:
        """(Σ_{i>k} σ_i(E)²)^{1/2}, the optimal Frobenius error (exactly 0 once k ≥ rank E)."""
        return tail_energy(self._numerical_singular_values(), self.total_rank)

    def is_exact_in_theory(self) -> bool:
        """k ≥ rank E (numerical rank of E relative to the operands)."""
        return self.total_rank >= self.discrepancy_rank

    def tolerance(self) -> Tolerance:
        """Tolerance for residual checks of this construction (see :mod:`lora_theory.tolerance`)."""
        frozen_prod = math.prod(self.weight_norms)
        adapted_prod = math.prod(n + p.norm_bound() for n, p in zip(self.weight_norms, self.adapters))
        return chain_tolerance(
            unit_roundoff=unit_roundoff(self.target.dtype),
            width=self.frozen.width,
            depth=self.frozen.depth,
            product_scale=max(frozen_prod, adapted_prod, self.target_norm),
            discrepancy_norm=float(self.discrepancy_singular_values[0]),
            amplifications=tuple(s.amplification for s in self.solves),
        )


def _checked(M: torch.Tensor, where: str, needed_for: str, factor_norms: float, n_factors: int,
             threshold: float, floor: float, context: str, smin_lower: float | None = None,
             smax_upper: float | None = None, s: torch.Tensor | None = None,
             claim: str = "Lemma 1") -> SolveRecord:
    """Certify that M is far enough from singular to solve with, and record its amplification.

    M is refused when σ_min/σ_max < ``threshold`` or when σ_min ≤ ``floor``, the rounding error M carries (a
    computed M that is singular in exact arithmetic can show σ_min/σ_max well above 1e-13). When guaranteed bounds
    σ_min ≥ ``smin_lower`` and σ_max ≤ ``smax_upper`` already certify both, no decomposition is needed.
    """
    if (smin_lower is not None and smax_upper is not None and smin_lower > floor
            and smin_lower / smax_upper >= threshold):
        return SolveRecord(where=where, ratio=smin_lower / smax_upper,
                           amplification=(n_factors + 1) * factor_norms / smin_lower, ratio_is_bound=True)
    s = singular_values(M) if s is None else s
    smax, smin = float(s[0]), float(s[-1])
    ratio = smin / smax if smax > 0 else 0.0
    if not ratio >= threshold:
        raise SingularityError(
            f"{where} (needed for {needed_for}) is numerically singular: σ_min/σ_max = {ratio:.3e} < {threshold:.0e} "
            f"(σ_min={smin:.3e}, σ_max={smax:.3e}); the non-singularity hypothesis of {claim} fails ({context})",
            where=where, ratio=ratio, threshold=threshold)
    if not smin > floor:
        raise SingularityError(
            f"{where} (needed for {needed_for}) is numerically singular: σ_min = {smin:.3e} is within the rounding "
            f"error {floor:.3e} it carries (σ_min/σ_max = {ratio:.3e}, σ_max={smax:.3e}); the non-singularity "
            f"hypothesis of {claim} cannot be certified ({context})",
            where=where, ratio=ratio, threshold=floor / smax if smax > 0 else threshold)
    return SolveRecord(where=where, ratio=ratio, amplification=(n_factors + 1) * factor_norms / smin)


def _layer_name(l: int) -> str:
    return f"W_{l + 1}"


def construct_linear(weights: Sequence[torch.Tensor] | LinearChain, target: torch.Tensor,
                     rank: int | Sequence[int], *, tau: float | None = None,
                     singular_threshold: float = SINGULARITY_THRESHOLD) -> LinearConstruction:
    """Build the Lemma 1 adapters for ``weights`` (W_1 first) → ``target`` with uniform ``rank`` R or per-layer
    ranks ``[R_1, …, R_L]`` (claims ``lemma1``, ``hetero_ranks``).

    Shapes: every weight and the target are (D, D); adapter l is ``B: (D, r_l)``, ``A: (r_l, D)`` with
    r_l ≤ R_l the number of directions actually used.

    Cost: one SVD of E, the singular values of each W_l, of W̄ and of ∏W, and O(L) products and LU solves. Each
    matrix solved with is certified by guaranteed bounds first and decomposed only when they do not suffice:

    * a suffix W_L⋯W_{l+1} has σ_min ≥ ∏σ_min(W_j) and σ_max ≤ ∏σ_max(W_j);
    * the adapted prefix satisfies Suf·Pre = ∏W + LR_r(E), so (Weyl) σ_min(Pre) ≥ (σ_min(∏W) − σ_1(E))/‖Suf‖,
      useful when E is small, and σ_max(Pre) ≤ ∏‖W̃_j‖.

    Raises ``ShapeError``/``DTypeError``/``NonFiniteError``/``DepthError``/``RankError`` for bad input and
    ``SingularityError`` when a matrix that must be solved with is numerically singular.
    """
    chain = weights if isinstance(weights, LinearChain) else LinearChain(as_square_stack(weights, "weights"))
    Ws = chain.weights
    L, D = chain.depth, chain.width
    target = as_matrix(target, "target")
    if target.shape[0] != D:
        raise ShapeError(f"target has shape {tuple(target.shape)} but the frozen chain has width D={D} "
                         f"(weights[0] has shape {tuple(Ws[0].shape)})")
    check_same_dtype([("weights[0]", Ws[0]), ("target", target)])
    ranks = check_layer_ranks(rank, depth=L, width=D)
    # the numerical rank of E: σ > τ·max(‖W̄‖, ‖∏W‖); default τ = RANK_TAU, or the storage rounding of a float32 chain
    tau = storage_rank_tau(target.dtype, D, L) if tau is None else check_positive_float(tau, "tau")
    singular_threshold = check_positive_float(singular_threshold, "singular_threshold")
    context = f"D={D} L={L} ranks={list(ranks)}"
    u = unit_roundoff(target.dtype)

    P = chain_product(Ws)
    E = target - P
    U, s, Vh = torch.linalg.svd(E)
    s_target, s_P = singular_values(target), singular_values(P)
    target_norm = float(s_target[0])
    operand_scale = max(target_norm, float(s_P[0]))
    rank_E = numerical_rank(s=s, scale=operand_scale, tau=tau)
    weight_sv = [singular_values(w) for w in Ws]
    w_max = [float(v[0]) for v in weight_sv]
    w_min = [float(v[-1]) for v in weight_sv]
    # Weyl: σ_min(∏W + LR_r(E)) ≥ σ_min(∏W) − σ_1(E), a certificate for every prefix when E is small
    prefix_floor = float(s_P[-1]) - float(s[0])

    suffix: list[torch.Tensor] | None = None
    pre = torch.eye(D, dtype=P.dtype, device=P.device)
    pre_norms = 1.0  # ∏_{j<l} ‖W̃_j‖₂ (upper bound)
    adapters: list[LoRAPair] = []
    solves: list[SolveRecord] = []
    offset = 0
    for l in range(L):
        lo, hi = offset, min(offset + ranks[l], rank_E)
        offset += ranks[l]
        if lo >= hi:
            adapters.append(LoRAPair.zeros(D, D, dtype=P.dtype, device=P.device))
            if offset < rank_E:  # a later layer still needs the prefix
                pre = Ws[l] @ pre
                pre_norms *= w_max[l]
            continue
        if suffix is None:
            suffix = suffix_products(Ws)
        J = slice(lo, hi)
        EV = U[:, J] * s[J]  # E V_J, (D, |J|)
        suf_norms = math.prod(w_max[l + 1:])
        if l < L - 1:
            suf_name = "·".join(_layer_name(j) for j in range(L - 1, l, -1))
            floor = singularity_floor(unit_roundoff=u, width=D, n_factors=L - 1 - l, factor_norms=suf_norms,
                                      sigma_max=suf_norms)
            solves.append(_checked(suffix[l], f"suffix product {suf_name}", f"layer {l + 1}'s factor B_{l + 1}",
                                   suf_norms, L - 1 - l, singular_threshold, floor, context,
                                   smin_lower=math.prod(w_min[l + 1:]), smax_upper=suf_norms))
            B = torch.linalg.solve(suffix[l], EV)
        else:
            B = EV
        if l > 0:
            pre_name = "·".join(f"W̃_{j + 1}" for j in range(l - 1, -1, -1))
            # Suf'·Pre = T := ∏W + LR_lo(E) with Suf' = W_L⋯W_{l+1}; T carries the rounding of the construction
            # so far (the chain tolerance), and Pre = Suf'⁻¹T carries it amplified by ‖Suf'⁻¹‖ ≤ 1/∏σ_min(W_j).
            t_err = chain_tolerance(unit_roundoff=u, width=D, depth=L,
                                    product_scale=max(math.prod(w_max), pre_norms * w_max[l] * suf_norms,
                                                      target_norm),
                                    discrepancy_norm=float(s[0]),
                                    amplifications=tuple(r.amplification for r in solves)).value
            floor = t_err / math.prod(w_min[l:])
            solves.append(_checked(pre, f"adapted prefix {pre_name} (Suf·{pre_name} = ∏W + LR_{lo}(E))",
                                   f"layer {l + 1}'s factor A_{l + 1}", pre_norms, l, singular_threshold, floor,
                                   context, smin_lower=prefix_floor / (w_max[l] * suf_norms),
                                   smax_upper=pre_norms))
            A = torch.linalg.solve(pre.T, Vh[J, :].T).T
        else:
            A = Vh[J, :].clone()
        pair = LoRAPair(B, A)
        adapters.append(pair)
        if offset < rank_E:
            pre = Ws[l] @ pre + B @ (A @ pre)
            pre_norms *= w_max[l] + pair.norm_bound()

    return LinearConstruction(
        frozen=chain, target=target, ranks=ranks, adapters=tuple(adapters), discrepancy_singular_values=s,
        discrepancy_rank=rank_E, operand_scale=operand_scale, solves=tuple(solves), weight_norms=tuple(w_max),
        target_norm=target_norm)


def checked_solve(M: torch.Tensor, rhs: torch.Tensor, where: str, needed_for: str,
                  threshold: float = SINGULARITY_THRESHOLD, claim: str = "Lemma 1") -> tuple[torch.Tensor, SolveRecord]:
    """M⁻¹·rhs by an LU solve, after certifying M (σ_min/σ_max ≥ threshold and σ_min above its rounding floor);
    raises SingularityError naming ``where`` otherwise. Returns the solution and the record (with κ(M))."""
    u = unit_roundoff(M.dtype)
    sv = singular_values(M)
    smax = float(sv[0])
    floor = singularity_floor(unit_roundoff=u, width=M.shape[0], n_factors=1, factor_norms=smax, sigma_max=smax)
    rec = _checked(M, where, needed_for, smax, 1, threshold, floor, context=f"D={M.shape[0]}", s=sv, claim=claim)
    return torch.linalg.solve(M, rhs), rec
