"""Adversarial adapters for lower-bound claims: any adapters of rank ≤ R_l, random or trained.

The lower bound of ``lemma1`` (no adapters of ranks R_l beat σ_{ΣR_l+1}(E)) needs no assumption, so it is tested
against adapters that did not come from the construction: random factors at several scales, and factors trained by
Adam in float64 from a random start (B = 0 would start at ΔW = 0, a saddle for the product; a small random B is
used instead). Everything is seeded by a local generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lora_theory.adapters import LoRAPair
from lora_theory.random_matrices import generator

__all__ = ["random_adapters", "adam_adapters"]


def random_adapters(width: int, ranks: Sequence[int], *, scale: float, seed: int,
                    dtype: torch.dtype = torch.float64) -> list[LoRAPair]:
    """Adapters with i.i.d. N(0, scale²) entries in B: (D, R_l) and A: (R_l, D)."""
    g = generator(seed)
    return [LoRAPair(scale * torch.randn(width, r, generator=g, dtype=dtype),
                     scale * torch.randn(r, width, generator=g, dtype=dtype)) for r in ranks]


def adam_adapters(weights: Sequence[torch.Tensor], target: torch.Tensor, ranks: Sequence[int], *, seed: int,
                  steps: int = 300, lr: float = 1e-2) -> list[LoRAPair]:
    """Adam (float64) on the factors, minimising ‖∏(W_l + B_l A_l) − W̄‖_F² from a random start."""
    g = generator(seed)
    D = target.shape[0]
    Bs = [(0.1 * torch.randn(D, r, generator=g, dtype=target.dtype)).requires_grad_() for r in ranks]
    As = [(0.1 * torch.randn(r, D, generator=g, dtype=target.dtype)).requires_grad_() for r in ranks]
    opt = torch.optim.Adam(Bs + As, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        prod = None
        for W, B, A in zip(weights, Bs, As):
            Wt = W + B @ A
            prod = Wt if prod is None else Wt @ prod
        loss = torch.sum((prod - target) ** 2)
        loss.backward()
        opt.step()
    return [LoRAPair(B.detach().clone(), A.detach().clone()) for B, A in zip(Bs, As)]
