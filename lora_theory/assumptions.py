"""Assumption 1 (claim ``assumption1``, arXiv 2310.17513 v3, Assumption 1; exact wording not yet confirmed against
the paper's PDF): for a rank R,

* every frozen W_l is non-singular, and
* for every block i of the uniform partition and every r ≤ R(M − 1), ∏_{P_i}W + LR_r(E_i) is non-singular.

The remainder block may have m > M layers; with ``extended=True`` the range is r ≤ R(m − 1) (what the construction
needs if it spends rank on every layer of that block, SPEC §6.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .blocks import block_discrepancies
from .models import ReLUFNN, check_fnn_pair
from .numerics import SINGULARITY_THRESHOLD, singular_values
from .partition import uniform_partition, validate_partition
from .validation import check_positive_float, check_rank

__all__ = ["AssumptionEntry", "check_assumption1"]


@dataclass(frozen=True)
class AssumptionEntry:
    """One matrix the assumption lists: its name, σ_min/σ_max, and whether it passes the threshold."""

    name: str
    ratio: float
    passed: bool


def _ratio(M: torch.Tensor) -> float:
    s = singular_values(M)
    return float(s[-1] / s[0]) if float(s[0]) > 0 else 0.0


def check_assumption1(frozen: ReLUFNN, target: ReLUFNN, rank: int, partition: Sequence[int] | None = None, *,
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
