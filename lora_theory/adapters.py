"""LoRA adapters kept as factors.

A pair is ``B: (d_out, r)``, ``A: (r, d_in)``, ``ΔW = B @ A`` (no α/r scaling: the paper's adapted weights are
W + ΔW, arXiv 2310.17513v3, Sec. 2), so rank ΔW ≤ r holds by construction. The dense ΔW is formed only when asked
for (:meth:`LoRAPair.delta`); applying an adapter to inputs costs O(r·D) per input, not O(D²).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_theory.errors import DTypeError, ShapeError
from lora_theory.numerics import numerical_rank, singular_values, spectral_norm
from lora_theory.validation import SUPPORTED_DTYPES, as_matrix, check_rank, check_same_dtype, check_size

__all__ = ["LoRAPair", "adapted_weights", "adapted_product"]


@dataclass(frozen=True, eq=False)
class LoRAPair:
    """One adapter ΔW = B A with ``B: (d_out, r)`` and ``A: (r, d_in)``; r = 0 is the zero adapter."""

    B: torch.Tensor
    A: torch.Tensor

    def __post_init__(self) -> None:
        for name, t in (("B", self.B), ("A", self.A)):
            if not isinstance(t, torch.Tensor):
                raise DTypeError(f"LoRA factor {name} must be a torch.Tensor; got {type(t).__name__}")
            if t.ndim != 2:
                raise ShapeError(f"LoRA factor {name} must be a 2-D tensor; got shape {tuple(t.shape)}")
            if t.dtype not in SUPPORTED_DTYPES:
                raise DTypeError(f"LoRA factor {name} must be float64 (or float32); got {t.dtype} "
                                 f"with shape {tuple(t.shape)}")
        if self.B.shape[1] != self.A.shape[0]:
            raise ShapeError(f"LoRA factors do not chain: B has shape {tuple(self.B.shape)} (d_out, r) but A has "
                             f"shape {tuple(self.A.shape)} (r, d_in)")
        if self.B.numel():
            as_matrix(self.B, "B", square=False)
        if self.A.numel():
            as_matrix(self.A, "A", square=False)
        check_same_dtype([("B", self.B), ("A", self.A)])

    @classmethod
    def zeros(cls, d_out: int, d_in: int, *, dtype: torch.dtype = torch.float64,
              device: torch.device | str | None = None) -> "LoRAPair":
        """The zero adapter, stored with inner dimension 0."""
        d_out, d_in = check_size(d_out, "d_out"), check_size(d_in, "d_in")
        return cls(torch.zeros(d_out, 0, dtype=dtype, device=device), torch.zeros(0, d_in, dtype=dtype, device=device))

    @property
    def rank(self) -> int:
        """The inner dimension r (an upper bound on rank ΔW)."""
        return int(self.B.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(d_out, d_in) of ΔW."""
        return int(self.B.shape[0]), int(self.A.shape[1])

    @property
    def num_params(self) -> int:
        """Trainable scalars r·(d_out + d_in) (2RD for a square D×D layer)."""
        return self.rank * (self.shape[0] + self.shape[1])

    def delta(self) -> torch.Tensor:
        """The dense ΔW = B A, shape (d_out, d_in)."""
        return self.B @ self.A

    def merge(self, W: torch.Tensor) -> torch.Tensor:
        """W + B A without modifying W."""
        W = as_matrix(W, "W", square=False)
        if tuple(W.shape) != self.shape:
            raise ShapeError(f"cannot merge an adapter of shape {self.shape} (d_out, d_in) into W of shape "
                             f"{tuple(W.shape)}")
        check_same_dtype([("W", W), ("B", self.B)])
        if self.rank == 0:
            return W.clone()
        return torch.addmm(W, self.B, self.A)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """ΔW applied to row inputs ``x: (n, d_in)`` → ``(n, d_out)``, without forming ΔW."""
        x = as_matrix(x, "x", square=False)
        if x.shape[1] != self.shape[1]:
            raise ShapeError(f"x has shape {tuple(x.shape)} but the adapter takes inputs of size d_in="
                             f"{self.shape[1]} (rows are inputs)")
        check_same_dtype([("x", x), ("A", self.A)])
        return (x @ self.A.T) @ self.B.T

    def norm_bound(self) -> float:
        """‖B‖₂·‖A‖₂ ≥ ‖ΔW‖₂ (cheap: both factors are thin; computed once per pair)."""
        return self._norm_bound

    @functools.cached_property
    def _norm_bound(self) -> float:
        return spectral_norm(self.B) * spectral_norm(self.A) if self.rank else 0.0

    def numerical_rank(self, tau: float = 1e-9) -> int:
        """rank_τ(ΔW) relative to ‖ΔW‖₂ (:func:`lora_theory.numerics.numerical_rank`), computed from the r×r core,
        never from the dense ΔW."""
        if self.rank == 0:
            return 0
        # ΔW = Q_B (R_B R_Aᵀ) Q_Aᵀ, so its singular values are those of the small core.
        _, rb = torch.linalg.qr(self.B)
        _, ra = torch.linalg.qr(self.A.T)
        return numerical_rank(s=singular_values(rb @ ra.T), tau=tau)

    def pad_to(self, r: int) -> "LoRAPair":
        """The same ΔW with inner dimension exactly ``r`` (zero columns of B / rows of A), e.g. for PEFT."""
        r = check_rank(r, "r", width=max(self.shape), minimum=self.rank)
        extra = r - self.rank
        B = torch.cat([self.B, self.B.new_zeros(self.B.shape[0], extra)], dim=1)
        A = torch.cat([self.A, self.A.new_zeros(extra, self.A.shape[1])], dim=0)
        return LoRAPair(B, A)


def adapted_weights(weights: Sequence[torch.Tensor], pairs: Sequence[LoRAPair]) -> list[torch.Tensor]:
    """[W_l + B_l A_l] for every layer (the frozen weights are not modified)."""
    if len(weights) != len(pairs):
        raise ShapeError(f"got {len(pairs)} adapters for {len(weights)} layers; need one per layer")
    return [p.merge(w) for w, p in zip(weights, pairs)]


def adapted_product(weights: Sequence[torch.Tensor], pairs: Sequence[LoRAPair]) -> torch.Tensor:
    """∏_l (W_l + B_l A_l) = W̃_L ⋯ W̃_1."""
    out = None
    for W in adapted_weights(weights, pairs):
        out = W if out is None else W @ out
    return out
