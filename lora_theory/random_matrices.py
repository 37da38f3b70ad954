"""Seeded matrix generators whose conditioning is fixed by construction.

Every function takes a local ``torch.Generator`` (never the global RNG) and builds matrices as U·diag(s)·Vᵀ with
Haar-orthogonal U, V and *given* singular values s, so condition numbers and the singular values of discrepancies
are known before anything is computed — no filtering of bad draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["generator", "haar_orthogonal", "matrix_with_singular_values", "low_rank_matrix", "log_spaced"]


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh local generator seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def haar_orthogonal(n: int, gen: torch.Generator, *, dtype: torch.dtype = torch.float64,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """A Haar-distributed n×n orthogonal matrix (QR of a Gaussian with the signs of diag(R) fixed)."""
    G = torch.randn(n, n, generator=gen, dtype=dtype, device=device)
    Q, Rm = torch.linalg.qr(G)
    signs = torch.sign(torch.diagonal(Rm))
    signs[signs == 0] = 1
    return Q * signs


def matrix_with_singular_values(s: Sequence[float] | torch.Tensor, gen: torch.Generator, *,
                                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """U·diag(s)·Vᵀ, an n×n matrix whose singular values are exactly ``s`` (up to rounding)."""
    s = torch.as_tensor(s, dtype=dtype)
    n = s.shape[0]
    U = haar_orthogonal(n, gen, dtype=dtype)
    V = haar_orthogonal(n, gen, dtype=dtype)
    return (U * s) @ V.T


def low_rank_matrix(n: int, s: Sequence[float] | torch.Tensor, gen: torch.Generator, *,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """An n×n matrix of rank len(s) with non-zero singular values ``s``: U_k·diag(s)·V_kᵀ."""
    s = torch.as_tensor(s, dtype=dtype)
    k = s.shape[0]
    if k == 0:
        return torch.zeros(n, n, dtype=dtype)
    U = haar_orthogonal(n, gen, dtype=dtype)[:, :k]
    V = haar_orthogonal(n, gen, dtype=dtype)[:, :k]
    return (U * s) @ V.T


def log_spaced(lo: float, hi: float, n: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n values from ``hi`` down to ``lo``, equally spaced in log scale (descending; [hi] when n = 1)."""
    if n == 1:
        return torch.tensor([hi], dtype=dtype)
    return torch.logspace(math.log10(hi), math.log10(lo), n, dtype=dtype)
