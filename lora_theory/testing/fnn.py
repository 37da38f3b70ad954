"""Shared evaluation helpers for the FNN properties: where to evaluate, and what to measure.

Exactness is claimed on the whole domain, so the evaluation set always contains the adversarial points (the
sphere of a ball, the vertices of a box) besides uniform samples; properties may add Hypothesis-drawn points.
"""

from __future__ import annotations

import torch

from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.domains import Domain
from lora_theory.numerics import spectral_norm
from lora_theory.random_matrices import generator

__all__ = ["domain_points", "max_output_error", "block_map_residual", "linearised_preactivation_minimum"]


def domain_points(domain: Domain, seed: int, n: int = 128) -> torch.Tensor:
    """``n`` uniform samples of the domain plus its adversarial points (seeded, local generator)."""
    gen = generator(seed)
    return domain.evaluation_points(n, gen)


def max_output_error(c: FNNConstruction, X: torch.Tensor) -> float:
    """max_x ‖f(x) − f̄(x)‖₂ over the rows of X (DomainError if a row lies outside the domain)."""
    return float(c.output_error(X).max())


def block_map_residual(c: FNNConstruction, i: int) -> float:
    """‖∏_{P_i} W̃ − W̄_i‖₂: how far block i's weight product is from target layer i."""
    return spectral_norm(c.blocks[i].linear.residual())


def linearised_preactivation_minimum(c: FNNConstruction, X: torch.Tensor) -> tuple[float, float]:
    """(min over X of every pre-activation of the adapted network that the construction linearises — all layers
    except the last of each block —, the largest bound B_k of those layers) — the first must be ≥ 0 up to rounding."""
    pre = c.adapted().preactivations(X)
    lows, bounds = [], []
    for b in c.blocks:
        for k, l in enumerate(list(b.layers)[:-1]):
            lows.append(float(pre[l].min()))
            bounds.append(b.layer_bounds[k])
    return (min(lows), max(bounds)) if lows else (0.0, 0.0)
