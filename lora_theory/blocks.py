"""Block discrepancies E_i = W̄_i − ∏_{l∈P_i} W_l of an FNN pair, and the partition search over them.

Ranks are relative numerical ranks (SPEC §8.3): σ > τ·max(‖W̄_i‖₂, ‖∏_{P_i}W‖₂), with τ = RANK_TAU = 1e-9 by
default — or, for weights stored in float32, the storage rounding (|P_i| + 1)·D·u of the block
(:func:`lora_theory.numerics.storage_rank_tau`, the same default as :func:`construct_linear`'s), so that
rounding noise does not count as rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from .models import ReLUFNN, check_fnn_pair
from .numerics import chain_product, numerical_rank, singular_values, storage_rank_tau
from .partition import block_ranges, optimal_partition, uniform_partition, validate_partition
from .validation import check_positive_float

__all__ = ["BlockDiscrepancy", "block_discrepancy", "block_discrepancies", "best_partition"]


@dataclass(frozen=True, eq=False)
class BlockDiscrepancy:
    """E_i for one block: the product it replaces, its singular values and its numerical rank."""

    product: torch.Tensor
    discrepancy: torch.Tensor
    singular_values: torch.Tensor
    rank: int
    scale: float


def block_discrepancy(frozen: ReLUFNN, target: ReLUFNN, i: int, layers: range,
                      tau: float | None = None) -> BlockDiscrepancy:
    """E_i for target layer i (0-based) emulated by the frozen layers ``layers`` (``tau`` None: see module doc)."""
    P = chain_product([frozen.weights[l] for l in layers])
    E = target.weights[i] - P
    s = singular_values(E)
    scale = max(float(singular_values(target.weights[i])[0]), float(singular_values(P)[0]))
    if tau is None:
        tau = storage_rank_tau(E.dtype, E.shape[0], len(layers))
    return BlockDiscrepancy(P, E, s, numerical_rank(s=s, scale=scale, tau=tau), scale)


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
