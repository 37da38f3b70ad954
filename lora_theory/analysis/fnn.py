"""Block discrepancies E_i = W̄_i − ∏_{l∈P_i} W_l of an FNN pair, and the partition search over them.

Ranks are numerical ranks against the rounding floor E_i carries (:func:`lora_theory.numerics.discrepancy_rank_floor`,
from ‖W̄_i‖₂, ∏_{P_i}‖W_l‖₂, ‖∏W‖₂, D, |P_i| and u, plus the storage rounding of float32 weights) — exactly the rule
of :func:`~lora_theory.constructions.linear.construct_linear`, so advice and adapters agree on every rank; an
explicit ``tau`` counts σ > τ·max(‖W̄_i‖₂, ‖∏_{P_i}W‖₂) instead (as the construction's ``tau``).

Also the Assumption 1 checker (:func:`assumption1_report`; claim ``assumption1``, arXiv 2310.17513v3,
Assumption 1): for a rank R,

* every frozen W_l is non-singular, and
* for every block i of the uniform partition and every r ≤ R(M − 1), ∏_{P_i}W + LR_r(E_i) is non-singular.

The remainder block may have m > M layers; with ``extended=True`` the range is r ≤ R(m − 1) (what the construction
needs if it spends rank on every layer of that block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import SINGULARITY_THRESHOLD, chain_product, discrepancy_rank_floor, singular_values
from lora_theory.partition import block_ranges, optimal_partition, uniform_partition, validate_partition
from lora_theory.validation import check_positive_float, check_rank

__all__ = ["BlockDiscrepancy", "block_discrepancy", "block_discrepancies", "best_partition", "AssumptionEntry",
           "assumption1_report"]


@dataclass(frozen=True, eq=False)
class BlockDiscrepancy:
    """E_i for one block: the product it replaces, its singular values and its numerical rank (``floor``: the
    absolute rounding floor of E_i; ``threshold``: the absolute value the rank was counted against)."""

    product: torch.Tensor
    discrepancy: torch.Tensor
    singular_values: torch.Tensor
    rank: int
    scale: float
    floor: float = 0.0
    threshold: float = 0.0


def block_discrepancy(frozen: ReLUFNN, target: ReLUFNN, i: int, layers: range,
                      tau: float | None = None) -> BlockDiscrepancy:
    """E_i for target layer i (0-based) emulated by the frozen layers ``layers`` (``tau`` None: see module doc)."""
    Ws = [frozen.weights[l] for l in layers]
    P = chain_product(Ws)
    E = target.weights[i] - P
    s = singular_values(E)
    target_norm, product_norm = float(singular_values(target.weights[i])[0]), float(singular_values(P)[0])
    scale = max(target_norm, product_norm)
    floor = discrepancy_rank_floor(dtype=E.dtype, width=E.shape[0],
                                   weight_norms=[float(singular_values(w)[0]) for w in Ws], target_norm=target_norm,
                                   product_norm=product_norm, discrepancy_norm=float(s[0]))
    threshold = floor if tau is None else tau * scale
    return BlockDiscrepancy(P, E, s, int((s > threshold).sum()), scale, floor, threshold)


def block_discrepancies(frozen: ReLUFNN, target: ReLUFNN, partition: Sequence[int] | None = None,
                        tau: float | None = None) -> list[BlockDiscrepancy]:
    """E_1..E_L̄ for a partition (default: uniform)."""
    L, Lbar = check_fnn_pair(frozen, target)
    tau = None if tau is None else check_positive_float(tau, "tau")
    sizes = uniform_partition(L, Lbar) if partition is None else validate_partition(partition, L, Lbar)
    return [block_discrepancy(frozen, target, i, layers, tau) for i, layers in enumerate(block_ranges(sizes))]


def best_partition(frozen: ReLUFNN, target: ReLUFNN, tau: float | None = None) -> tuple[tuple[int, ...], int]:
    """The consecutive partition minimising max_i ⌈rank(E_i)/|P_i|⌉ and that minimal rank (dynamic programming)."""
    L, Lbar = check_fnn_pair(frozen, target)
    tau = None if tau is None else check_positive_float(tau, "tau")

    @lru_cache(maxsize=None)
    def rank(i: int, start: int, stop: int) -> int:
        return block_discrepancy(frozen, target, i, range(start, stop), tau).rank

    return optimal_partition(rank, L, Lbar)


# --- Assumption 1 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssumptionEntry:
    """One matrix the assumption lists: its name, σ_min/σ_max, and whether it passes the threshold."""

    name: str
    ratio: float
    passed: bool


def _ratio(M: torch.Tensor) -> float:
    s = singular_values(M)
    return float(s[-1] / s[0]) if float(s[0]) > 0 else 0.0


def assumption1_report(frozen: ReLUFNN, target: ReLUFNN, rank: int, partition: Sequence[int] | None = None, *,
                      extended: bool = False, threshold: float = SINGULARITY_THRESHOLD) -> list[AssumptionEntry]:
    """σ_min/σ_max of every matrix Assumption 1 lists, with a pass flag (ratio ≥ ``threshold``)."""
    L, Lbar = check_fnn_pair(frozen, target)
    rank = check_rank(rank, "rank", width=frozen.width)
    threshold = check_positive_float(threshold, "threshold")
    sizes = uniform_partition(L, Lbar) if partition is None else validate_partition(partition, L, Lbar)
    M = L // Lbar if partition is None else None
    out = [AssumptionEntry(f"W_{l + 1}", r, r >= threshold)
           for l, r in enumerate(_ratio(W) for W in frozen.weights)]
    for i, blk in enumerate(block_discrepancies(frozen, target, sizes)):
        m = sizes[i]
        depth_used = m if (extended or M is None) else min(M, m)
        U, s, Vh = torch.linalg.svd(blk.discrepancy)
        for r in range(0, rank * (depth_used - 1) + 1):
            k = min(r, s.shape[0])
            LR = (U[:, :k] * s[:k]) @ Vh[:k]
            ratio = _ratio(blk.product + LR)
            out.append(AssumptionEntry(f"block {i + 1}: ∏_(P_{i + 1})W + LR_{r}(E_{i + 1})", ratio, ratio >= threshold))
    return out
