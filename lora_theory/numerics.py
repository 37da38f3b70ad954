"""Linear-algebra primitives with the paper's conventions (arXiv 2310.17513v3, Sec. 2) and the suite's numerical ones.

* ``sigma(s, i)`` is the i-th largest singular value, **1-indexed**, with σ_i := 0 for i > D (needed when RL ≥ D).
* ``tail_energy(s, k)`` is (Σ_{i>k} σ_i²)^{1/2}, the Frobenius error of the best rank-k approximation (`eym`).
* ``numerical_rank`` is the relative rank #{i : σ_i > τ·scale}; with the default τ = 1e-9 and scale σ_1 it is the
  rank of a matrix against its own size (adapters, certificates).
* The rank of a *discrepancy* E = W̄ − ∏W is counted against the rounding floor E actually carries,
  :func:`discrepancy_rank_floor` (the error model of :func:`lora_theory.tolerance.discrepancy_floor`, from the sizes
  of the operands that formed E: ‖W̄‖₂, ∏‖W_l‖₂, ‖∏W‖₂, D, L, u) — never against σ_1(E), which would make the
  rounding noise of an E that should be zero look full rank, and never against a fixed τ, which would silently drop
  a genuine σ_i(E) far above the rounding (σ = 1e-6 next to operands of norm 1e4 is resolvable in float64).
* ``ratio`` of a matrix is σ_min/σ_max; below :data:`SINGULARITY_THRESHOLD` a matrix is treated as singular.

Products follow the paper: ``chain_product([W1, …, WL]) = W_L ⋯ W_1`` (weights[0] is applied first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "RANK_TAU",
    "storage_rank_tau",
    "discrepancy_rank_floor",
    "SINGULARITY_THRESHOLD",
    "unit_roundoff",
    "singular_values",
    "spectral_norm",
    "sigma",
    "tail_energy",
    "numerical_rank",
    "chain_product",
    "suffix_products",
    "truncated_svd",
]

# the two fixed thresholds live with the error model (torch-free, so the claims registry can cite them)
from lora_theory.tolerance import RANK_TAU, SINGULARITY_THRESHOLD, discrepancy_floor  # noqa: E402


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps/2 of the floating dtype (1.11e-16 for float64)."""
    return torch.finfo(dtype).eps / 2


def storage_rank_tau(dtype: torch.dtype, width: int, depth: int) -> float:
    """Relative storage rounding of a discrepancy W̄ − ∏_{l≤depth} W_l of weights *stored* in ``dtype`` below float64
    precision: (depth + 1)·D·u. Each stored D×D matrix is off from the one that was meant by a relative entrywise u,
    i.e. by at most u·D in spectral norm relative to its own norm; the discrepancy inherits that from W̄ and from
    each of the ``depth`` factors. Singular values below it cannot be told apart from the storage rounding — in
    float32 (u ≈ 6e-8) they would otherwise make every discrepancy full rank. float64 weights are taken as the
    numbers meant (0), so only the computation's own floor applies (:func:`discrepancy_rank_floor`)."""
    u = unit_roundoff(dtype)
    return 0.0 if u <= unit_roundoff(torch.float64) else (depth + 1) * width * u


def discrepancy_rank_floor(*, dtype: torch.dtype, width: int, weight_norms: Sequence[float], target_norm: float,
                           product_norm: float, discrepancy_norm: float) -> float:
    """The absolute numerical-rank threshold of a computed discrepancy E = W̄ − W_L⋯W_1: σ_i(E) above it is rank,
    at or below it cannot be told from rounding (:func:`lora_theory.tolerance.discrepancy_floor`, plus the storage
    rounding :func:`storage_rank_tau` of weights kept in float32 or coarser). One rule for the constructions and for
    the rank advice."""
    L = len(weight_norms)
    factors = 1.0
    for n in weight_norms:
        factors *= float(n)
    return discrepancy_floor(unit_roundoff=unit_roundoff(dtype), width=width, depth=L, factor_norms=factors,
                             target_norm=float(target_norm), product_norm=float(product_norm),
                             discrepancy_norm=float(discrepancy_norm),
                             storage_tau=storage_rank_tau(dtype, width, L))


def singular_values(A: torch.Tensor) -> torch.Tensor:
    """Singular values, descending (LAPACK via ``torch.linalg.svdvals``)."""
    return torch.linalg.svdvals(A)


def spectral_norm(A: torch.Tensor) -> float:
    """‖A‖₂ as a Python float (0 for an empty matrix)."""
    if A.numel() == 0:
        return 0.0
    return float(torch.linalg.matrix_norm(A, ord=2))


def sigma(s: torch.Tensor, i: int) -> float:
    """σ_i for 1-indexed ``i``, with σ_i = 0 for i > len(s)."""
    if i < 1:
        raise ValueError(f"singular value index must be >= 1; got {i}")
    return float(s[i - 1]) if i <= s.shape[0] else 0.0


def tail_energy(s: torch.Tensor, k: int) -> float:
    """(Σ_{i>k} σ_i²)^{1/2}; 0 when k ≥ len(s)."""
    tail = s[k:]
    return float(torch.linalg.vector_norm(tail)) if tail.numel() else 0.0


def numerical_rank(A: torch.Tensor | None = None, *, s: torch.Tensor | None = None, scale: float | None = None,
                   tau: float = RANK_TAU) -> int:
    """#{i : σ_i > τ·scale}. ``scale`` defaults to σ_1(A) (right for adapters; pass the operands' scale for a
    discrepancy). The zero matrix has rank 0."""
    if s is None:
        if A is None:
            raise ValueError("numerical_rank needs a matrix A or its singular values s")
        if A.numel() == 0:
            return 0
        s = singular_values(A)
    if s.numel() == 0:
        return 0
    ref = float(s[0]) if scale is None else float(scale)
    if ref == 0.0:
        return 0
    return int((s > tau * ref).sum())


def chain_product(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """W_L ⋯ W_1 for ``weights = [W_1, …, W_L]``."""
    out = weights[0]
    for w in weights[1:]:
        out = w @ out
    return out


def suffix_products(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``out[l] = W_L ⋯ W_{l+2}`` (0-indexed: the product of the layers *after* index l); ``out[L-1] = I``."""
    L = len(weights)
    D = weights[0].shape[0]
    out: list[torch.Tensor] = [torch.empty(0)] * L
    acc = torch.eye(D, dtype=weights[0].dtype, device=weights[0].device)
    out[L - 1] = acc
    for l in range(L - 2, -1, -1):
        acc = acc @ weights[l + 1]
        out[l] = acc
    return out


def truncated_svd(A: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """LR_r(A) as factors ``(B, A_r)`` with ``B: (m, r) = U_r·diag(s_r)`` and ``A_r: (r, n) = V_rᵀ``."""
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)
    r = min(r, s.shape[0])
    return U[:, :r] * s[:r], Vh[:r, :]
