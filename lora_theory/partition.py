"""Partitions of the frozen layers into consecutive blocks (arXiv 2310.17513v3, Sec. 3.2, pp. 5–6: the ordered
partition P and the uniform partition P^u; general partitions in Theorem 6, p. 7).

A partition is given by its **block sizes** ``(|P_1|, …, |P_L̄|)``: block i holds the layers
``sum(sizes[:i]) .. sum(sizes[:i+1]) − 1`` (0-based) and emulates target layer i. The uniform partition has
M = ⌊L/L̄⌋ layers per block and puts the remainder L − L̄M in the last block (e.g. L = 5, L̄ = 3 → (1, 1, 3)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from lora_theory.errors import DepthError, PartitionError
from lora_theory.validation import check_int

__all__ = ["uniform_partition", "validate_partition", "block_ranges", "compositions", "optimal_partition",
           "check_depths", "block_ranks", "split_budget", "optimal_budget_partition", "block_budgets"]


def check_depths(depth: object, target_depth: object) -> tuple[int, int]:
    """Frozen depth L ≥ 1 and target depth 1 ≤ L̄ ≤ L (the theorems need L̄ ≤ L)."""
    depth = check_int(depth, "frozen depth L", minimum=1, error=DepthError)
    target_depth = check_int(target_depth, "target depth L̄", minimum=1, error=DepthError)
    if target_depth > depth:
        raise DepthError(f"target depth L̄={target_depth} exceeds frozen depth L={depth} (the theorem needs L̄ ≤ L)")
    return depth, target_depth


def uniform_partition(depth: int, target_depth: int) -> tuple[int, ...]:
    """Block sizes of the uniform partition: (M, …, M, L − (L̄−1)M) with M = ⌊L/L̄⌋."""
    L, Lbar = check_depths(depth, target_depth)
    M = L // Lbar
    return (M,) * (Lbar - 1) + (L - (Lbar - 1) * M,)


def validate_partition(sizes: object, depth: int, target_depth: int | None = None) -> tuple[int, ...]:
    """Block sizes must be integers ≥ 1 summing to L (and, if given, there must be L̄ of them)."""
    depth = check_int(depth, "frozen depth L", minimum=1, error=DepthError)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise PartitionError(f"partition must be a sequence of block sizes; got {sizes!r}")
    out = [check_int(n, f"partition {list(sizes)}: block {i} size", minimum=1, error=PartitionError)
           for i, n in enumerate(sizes)]
    if sum(out) != depth:
        raise PartitionError(f"partition sizes {out} sum to {sum(out)}, not to the frozen depth L={depth}")
    if target_depth is not None and len(out) != target_depth:
        raise PartitionError(f"partition {out} has {len(out)} blocks but the target has depth L̄={target_depth}")
    return tuple(out)


def block_ranges(sizes: Sequence[int]) -> list[range]:
    """0-based layer indices of every block."""
    out, start = [], 0
    for n in sizes:
        out.append(range(start, start + n))
        start += n
    return out


def compositions(depth: int, parts: int) -> list[tuple[int, ...]]:
    """All C(L−1, L̄−1) consecutive partitions of L layers into L̄ non-empty blocks (small L only)."""
    if parts == 1:
        return [(depth,)]
    return [(first,) + rest for first in range(1, depth - parts + 2) for rest in compositions(depth - first, parts - 1)]


def optimal_partition(block_rank: Callable[[int, int, int], int], depth: int,
                      target_depth: int) -> tuple[tuple[int, ...], int]:
    """The consecutive partition minimising max_i ⌈rank_i / |P_i|⌉, by dynamic programming over split points.

    ``block_rank(i, start, stop)`` is rank(W̄_i − W_{stop}⋯W_{start+1}) for target layer i (0-based) emulated by the
    frozen layers ``start..stop−1``; it is called O(L̄·L²) times. Returns (sizes, required uniform rank): the
    smallest R for which some partition makes the Theorem 3 construction exact.
    """
    L, Lbar = check_depths(depth, target_depth)

    @lru_cache(maxsize=None)
    def best(i: int, start: int) -> tuple[int, tuple[int, ...]]:
        # target layers i..L̄−1 emulated by frozen layers start..L−1
        if i == Lbar - 1:
            n = L - start
            return math.ceil(block_rank(i, start, L) / n), (n,)
        options = []
        for stop in range(start + 1, L - (Lbar - 1 - i) + 1):
            n = stop - start
            head = math.ceil(block_rank(i, start, stop) / n)
            tail, sizes = best(i + 1, stop)
            options.append((max(head, tail), (n,) + sizes))
        return min(options)

    cost, sizes = best(0, 0)
    return sizes, cost


def block_ranks(rank: int, size: int, used: int) -> list[int]:
    """Per-layer ranks inside a block of ``size`` layers: R on the first ``used`` layers, 0 on the rest.

    Theorems 3 and 5 spend rank R on the first M = ⌊L/L̄⌋ layers of each uniform block (``used = M``), so block i
    realises ∏W + LR_{RM}(E_i); a given partition or ``use_remainder_layers`` spends it on all of them.
    """
    return [rank] * min(used, size) + [0] * max(size - used, 0)


def block_budgets(ranks: Sequence[int], sizes: Sequence[int]) -> tuple[int, ...]:
    """Σ_{l∈P_i} R_l for every block of the partition ``sizes``: the rank budget block i spends (Theorem 6, p. 7)."""
    if len(ranks) != sum(sizes):
        raise PartitionError(f"{len(ranks)} per-layer ranks for a partition {list(sizes)} of {sum(sizes)} layers")
    return tuple(sum(ranks[r.start:r.stop]) for r in block_ranges(sizes))


def split_budget(budget: int, size: int) -> tuple[int, ...]:
    """The cheapest per-layer ranks of a block of ``size`` layers spending ``budget`` in all: ⌈k/m⌉ on the first
    k mod m layers, ⌊k/m⌋ on the rest (so Σ R_l = k and max R_l = ⌈k/m⌉ ≤ k)."""
    budget = check_int(budget, "budget", minimum=0, error=PartitionError)
    size = check_int(size, "block size", minimum=1, error=PartitionError)
    q, extra = divmod(budget, size)
    return (q + 1,) * extra + (q,) * (size - extra)


def optimal_budget_partition(block_rank: Callable[[int, int, int], int], depth: int,
                             target_depth: int) -> tuple[tuple[int, ...], int]:
    """The consecutive partition minimising Σ_i rank(E_i) — the smallest total per-layer rank Σ_l R_l that makes the
    Theorem 6 construction exact (Σ_{l∈P_i} R_l ≥ rank(E_i) for every block, and nothing more is needed) — by
    dynamic programming over split points, as :func:`optimal_partition`. Returns (sizes, Σ_i rank(E_i)); ties go
    to the lexicographically smallest sizes."""
    L, Lbar = check_depths(depth, target_depth)

    @lru_cache(maxsize=None)
    def best(i: int, start: int) -> tuple[int, tuple[int, ...]]:
        if i == Lbar - 1:
            return block_rank(i, start, L), (L - start,)
        options = []
        for stop in range(start + 1, L - (Lbar - 1 - i) + 1):
            tail, sizes = best(i + 1, stop)
            options.append((block_rank(i, start, stop) + tail, (stop - start,) + sizes))
        return min(options)

    total, sizes = best(0, 0)
    return sizes, total
