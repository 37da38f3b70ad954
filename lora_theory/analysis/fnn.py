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

The Assumption 2 checker (:func:`assumption2_report`; claim ``assumption2``, arXiv 2310.17513v3, Assumption 2,
App. E.3, p. 31): for a partition P and per-layer ranks (R_l),

* every frozen W_l is non-singular, and
* for every block i and every r ≤ Σ_{l=min P_i}^{max P_i − 1} R_l, ∏_{P_i}W + LR_r(W̄_i − Q_i) is non-singular,

with Q_i = ∏_{l∈P_i} W_l (``reading="needed"``, the default: the matrices the construction solves with — it runs the
Lemma 1 construction on the block's chain, whose adapted prefix before layer l satisfies
Suf_l·Pre_l = ∏_{P_i}W + LR_r(W̄_i − ∏_{P_i}W) with r the partial sum of the block's ranks before l) or
Q_i = ∏_{l=min P_i}^{max P_i − 1} W_l (``reading="printed"``, the product as printed on p. 31, without the block's
last layer; the identity for a one-layer block).

And the per-layer budget search (:func:`best_layer_ranks`, this package's addition to Theorem 6): the consecutive
partition and per-layer ranks reaching exactness with the fewest adapter parameters 2·D·Σ_l R_l.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from lora_theory.errors import DomainError
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import SINGULARITY_THRESHOLD, chain_product, discrepancy_rank_floor, singular_values
from lora_theory.partition import (
    block_ranges,
    optimal_budget_partition,
    optimal_partition,
    split_budget,
    uniform_partition,
    validate_partition,
)
from lora_theory.validation import check_layer_ranks, check_positive_float, check_rank

__all__ = ["BlockDiscrepancy", "block_discrepancy", "block_discrepancies", "best_partition", "AssumptionEntry",
           "assumption1_report", "BudgetPlan", "best_layer_ranks", "ASSUMPTION2_READINGS", "assumption2_report"]


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


@dataclass(frozen=True)
class BudgetPlan:
    """The cheapest exact per-layer ranks (from :func:`best_layer_ranks`): the partition, rank(E_i) of its blocks,
    the per-layer ranks (Σ_{l∈P_i} R_l = rank(E_i), split as evenly as possible inside each block), and, for
    comparison, the best uniform rank R (over all consecutive partitions, :func:`best_partition`) and its partition.

    ``parameters`` = 2·D·Σ_l R_l and ``uniform_parameters`` = 2·D·L·R: the adapter scalars (biases not counted)."""

    width: int
    partition: tuple[int, ...]
    discrepancy_ranks: tuple[int, ...]
    layer_ranks: tuple[int, ...]
    uniform_partition: tuple[int, ...]
    uniform_rank: int

    @property
    def total_rank(self) -> int:
        return sum(self.layer_ranks)

    @property
    def parameters(self) -> int:
        return 2 * self.width * self.total_rank

    @property
    def uniform_parameters(self) -> int:
        return 2 * self.width * len(self.layer_ranks) * self.uniform_rank


def best_layer_ranks(frozen: ReLUFNN, target: ReLUFNN, tau: float | None = None) -> BudgetPlan:
    """Per-layer ranks reaching exactness (Theorem 6, p. 7: Σ_{l∈P_i} R_l ≥ rank(E_i) for every block) with the
    fewest adapter parameters 2·D·Σ_l R_l: within a block of m layers needing rank k the cheapest split has
    Σ R_l = k (:func:`~lora_theory.partition.split_budget`), so the total is Σ_i rank(E_i(P)) minimised over the
    consecutive partitions P (dynamic programming, :func:`~lora_theory.partition.optimal_budget_partition`). Never
    worse than the best uniform rank R: that partition's blocks satisfy rank(E_i) ≤ R·|P_i|, so
    Σ_i rank(E_i) ≤ L·R."""
    L, Lbar = check_fnn_pair(frozen, target)
    tau = None if tau is None else check_positive_float(tau, "tau")

    @lru_cache(maxsize=None)
    def rank(i: int, start: int, stop: int) -> int:
        return block_discrepancy(frozen, target, i, range(start, stop), tau).rank

    sizes, _ = optimal_budget_partition(rank, L, Lbar)
    ks = tuple(rank(i, r.start, r.stop) for i, r in enumerate(block_ranges(sizes)))
    layer_ranks = tuple(x for k, n in zip(ks, sizes) for x in split_budget(k, n))
    uniform_sizes, R = optimal_partition(rank, L, Lbar)
    return BudgetPlan(frozen.width, tuple(sizes), ks, layer_ranks, tuple(uniform_sizes), R)


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


# --- Assumption 2 -------------------------------------------------------------------------------------------

#: the two readings of Assumption 2's LR_r argument: W̄_i − ∏_{l∈P_i}W_l ("needed") or W̄_i − ∏_{min P_i}^{max P_i−1}W_l
ASSUMPTION2_READINGS = ("needed", "printed")


def assumption2_report(frozen: ReLUFNN, target: ReLUFNN, rank: int | Sequence[int],
                       partition: Sequence[int] | None = None, *, reading: str = "needed",
                       threshold: float = SINGULARITY_THRESHOLD) -> list[AssumptionEntry]:
    """σ_min/σ_max of every matrix Assumption 2 lists (module docstring), with a pass flag (ratio ≥ ``threshold``).

    ``rank``: a uniform R in 1..D (R_l = R) or per-layer ranks (R_1, …, R_L) in 0..D; ``partition``: block sizes
    (default uniform); ``reading``: "needed" (∏_{l∈P_i}W inside LR_r, what the construction solves with) or "printed"
    (∏_{l=min P_i}^{max P_i−1}W, as printed on p. 31). The ranges r = 0..Σ_{l=min P_i}^{max P_i − 1} R_l are the
    same in both readings. Entry names: ``W_l`` and ``block i: ∏_(P_i)W + LR_r(E_i)`` (needed) or
    ``block i: ∏_(P_i)W + LR_r(W̄_i − W_(a..b))`` (printed; ``W̄_i − I`` for a one-layer block)."""
    L, Lbar = check_fnn_pair(frozen, target)
    ranks = check_layer_ranks(rank, depth=L, width=frozen.width)
    threshold = check_positive_float(threshold, "threshold")
    if reading not in ASSUMPTION2_READINGS:
        raise DomainError(f"reading must be one of {ASSUMPTION2_READINGS}; got {reading!r}")
    sizes = uniform_partition(L, Lbar) if partition is None else validate_partition(partition, L, Lbar)
    out = [AssumptionEntry(f"W_{l + 1}", r, r >= threshold)
           for l, r in enumerate(_ratio(W) for W in frozen.weights)]
    for i, layers in enumerate(block_ranges(sizes)):
        Ws = [frozen.weights[l] for l in layers]
        P = chain_product(Ws)
        if reading == "needed":
            inner, label = P, f"E_{i + 1}"
        elif len(Ws) == 1:
            inner = torch.eye(frozen.width, dtype=P.dtype, device=P.device)
            label = f"W̄_{i + 1} − I"
        else:
            inner = chain_product(Ws[:-1])
            first, last = layers.start + 1, layers.stop - 1
            label = f"W̄_{i + 1} − W_({first}..{last})" if first != last else f"W̄_{i + 1} − W_{first}"
        U, s, Vh = torch.linalg.svd(target.weights[i] - inner)
        for r in range(0, sum(ranks[layers.start:layers.stop - 1]) + 1):
            k = min(r, s.shape[0])
            ratio = _ratio(P + (U[:, :k] * s[:k]) @ Vh[:k])
            out.append(AssumptionEntry(f"block {i + 1}: ∏_(P_{i + 1})W + LR_{r}({label})", ratio, ratio >= threshold))
    return out
