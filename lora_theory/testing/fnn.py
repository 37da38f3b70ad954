"""Shared evaluation helpers for the FNN properties: where to evaluate, and what to measure.

Exactness is claimed on the whole domain, so the evaluation set always contains the adversarial points (the
sphere of a ball, the vertices of a box) besides uniform samples; properties may add Hypothesis-drawn points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.domains import Domain
from lora_theory.numerics import spectral_norm
from lora_theory.random_matrices import generator, haar_orthogonal

__all__ = ["domain_points", "max_output_error", "block_map_residual", "linearised_preactivation_minimum",
           "independent_block_singular_values", "split_draw", "PerLayerCase", "per_layer_cases",
           "PlantedAssumption2", "build_planted_assumption2_instance"]


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


# --- per-layer ranks inside a partition (claims theorem6, lemma10, assumption2, lemma11) ---------------------------


def independent_block_singular_values(frozen, target, sizes) -> list[torch.Tensor]:
    """σ(W̄_i − W_{max P_i}⋯W_{min P_i}) for every block, computed here (plain products and ``svdvals``), not by the
    analysis or construction code."""
    out, start = [], 0
    for i, n in enumerate(sizes):
        prod = frozen.weights[start]
        for w in frozen.weights[start + 1:start + n]:
            prod = w @ prod
        out.append(torch.linalg.svdvals(target.weights[i] - prod))
        start += n
    return out


def split_draw(draw, budget: int, size: int, width: int, label: str) -> tuple[int, ...]:
    """A random split of ``budget`` over ``size`` layers, each part in 0..``width`` (needs budget ≤ size·width)."""
    parts, left = [], budget
    for j in range(size):
        rest = size - j - 1
        lo, hi = max(0, left - width * rest), min(width, left)
        parts.append(left if rest == 0 else draw(st.integers(lo, hi), label=f"{label}: R of layer {j + 1}"))
        left -= parts[-1]
    return tuple(parts)


@dataclass(frozen=True, eq=False)
class PerLayerCase:
    """An FNN instance (designed block ranks, drawn consecutive partition), per-layer ranks, and which blocks were
    drawn short of their budget (Σ_{l∈P_i}R_l < rank(E_i) by design)."""

    inst: object
    ranks: tuple[int, ...]
    short: tuple[int, ...]

    def repro(self) -> str:
        return (f"inst = {self.inst.repro()}; construct_fnn(inst.frozen, inst.target, {self.ranks}, inst.domain, "
                f"partition={self.inst.partition})")

    def __repr__(self) -> str:
        return f"PerLayerCase({self.repro()})"


@st.composite
def per_layer_cases(draw, *, max_width: int = 6, max_depth: int = 4, target_depth: int | None = None):
    """A designed-rank FNN pair with a drawn consecutive partition, then per block either a budget short of its
    designed rank(E_i) (drawn only for blocks with rank ≥ 1) or one at or above it (up to 2 more), split at random
    over the block's layers (each R_l in 0..D)."""
    from lora_theory.testing.strategies import fnn_instances

    inst = draw(fnn_instances(max_width=max_width, max_depth=max_depth, low_rank=True, general_partition=True,
                              target_depth=target_depth), label="FNN instance")
    D = inst.frozen.width
    want_short = draw(st.booleans(), label="some block short of its budget")
    candidates = [i for i, k in enumerate(inst.designed_ranks) if k >= 1]
    short: set[int] = set()
    if want_short and candidates:
        short = set(draw(st.sets(st.sampled_from(candidates), min_size=1), label="short blocks"))
    ranks: list[int] = []
    for i, (k, n) in enumerate(zip(inst.designed_ranks, inst.partition)):
        if i in short:
            budget = draw(st.integers(0, k - 1), label=f"budget of block {i + 1} (short)")
        else:
            budget = draw(st.integers(k, min(k + 2, n * D)), label=f"budget of block {i + 1}")
        ranks.extend(split_draw(draw, budget, n, D, f"block {i + 1}"))
    return PerLayerCase(inst, tuple(ranks), tuple(sorted(short)))


@dataclass(frozen=True, eq=False)
class PlantedAssumption2:
    """An FNN pair whose block 1 (``size`` ≥ 2 layers) has ∏_(P_1)W + LR_1(W̄_1 − Q) exactly singular (in exact
    arithmetic, up to the rounding of its formation) for Q = ∏_(P_1)W (``planted="needed"``) or
    Q = W_(size−1)⋯W_1 (``planted="printed"``), with per-layer ranks (1, D, …, D) on block 1 (so r = 1 is in the
    range of both readings and block 1's budget reaches D) and D on the other layers."""

    frozen: object
    target: object
    partition: tuple[int, ...]
    ranks: tuple[int, ...]
    domain: Domain
    planted: str
    args: str

    def repro(self) -> str:
        return f"build_planted_assumption2_instance({self.args})"

    def __repr__(self) -> str:
        return f"PlantedAssumption2({self.repro()})"


def build_planted_assumption2_instance(width: int, size: int, target_depth: int, planted: str, *,
                                       seed: int = 0) -> PlantedAssumption2:
    """See :class:`PlantedAssumption2`. Frozen layers, biases, the other target layers and the domain come from
    :func:`~lora_theory.testing.instances.build_fnn_instance` (partition (size, 1, …, 1)); with P = ∏_(P_1)W and a
    unit v, the target's change F = W̄_1 − Q gets the top singular pair u = −Pv/‖Pv‖, σ_1 = ‖Pv‖ and strictly
    smaller other singular values, so P + LR_1(F) = P(I − vvᵀ) has the null vector v."""
    from lora_theory.models import ReLUFNN
    from lora_theory.testing.instances import build_fnn_instance

    if planted not in ("needed", "printed"):
        raise ValueError(f"planted must be 'needed' or 'printed'; got {planted!r}")
    if width < 2 or size < 2:
        raise ValueError(f"needs width ≥ 2 and a first block of ≥ 2 layers; got width={width}, size={size}")
    D = width
    sizes = (size,) + (1,) * (target_depth - 1)
    base = build_fnn_instance(D, sum(sizes), target_depth, partition=sizes, seed=seed)
    Ws = base.frozen.weights
    gen = generator(seed + 7)
    Q = Ws[0]
    for w in Ws[1:size - 1]:
        Q = w @ Q
    P = Ws[size - 1] @ Q
    V = haar_orthogonal(D, gen, dtype=P.dtype)
    w = P @ V[:, 0]
    top = float(torch.linalg.vector_norm(w))
    basis = torch.cat([(-w / top)[:, None], torch.randn(D, D - 1, generator=gen, dtype=P.dtype)], dim=1)
    Qr, Rm = torch.linalg.qr(basis)
    U = Qr * torch.sign(torch.diagonal(Rm))
    e = torch.cat([torch.tensor([top], dtype=P.dtype), top * torch.linspace(0.9, 0.1, D - 1, dtype=P.dtype)])
    F = (U * e) @ V.T
    target_w = list(base.target.weights)
    target_w[0] = (P if planted == "needed" else Q) + F
    target = ReLUFNN(tuple(target_w), base.target.biases, base.target.final_relu)
    ranks = (1,) + (D,) * (sum(sizes) - 1)
    return PlantedAssumption2(base.frozen, target, sizes, ranks, base.domain, planted,
                              f"{width}, {size}, {target_depth}, {planted!r}, seed={seed}")
