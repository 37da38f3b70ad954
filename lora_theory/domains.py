"""Bounded input domains X on which FNN exactness is claimed (arXiv 2310.17513v3, Sec. 3.1, p. 4: "we let the input
space X be bounded"; the construction takes the bound).

``Ball(radius)`` = {x : ‖x‖₂ ≤ ρ}; ``Box(low, high)`` = {x : low ≤ x ≤ high}. Each reports ``norm_bound()`` (sup of
‖x‖₂ over X, what the Theorem 3 biases are built from), samples points, and lists adversarial points: the sphere
for a ball, the vertices for a box (all 2^D of them up to D = 10, else a seeded subset).
:meth:`Domain.evaluation_points` is the one way to draw the points a check evaluates on: uniform samples followed by
the adversarial points, from one generator.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from lora_theory.errors import DomainError, DTypeError, ShapeError
from lora_theory.numerics import unit_roundoff
from lora_theory.validation import as_matrix, check_int, check_positive_float, check_size

__all__ = ["Ball", "Box", "Domain"]


def _rounding_slack(dtype: torch.dtype) -> float:
    """Relative slack of ``contains``: a point built on the boundary (a sphere point, a vertex) may land a few
    roundings outside it — 1e-12 in float64, 8u in a narrower dtype (8·2⁻²⁴ ≈ 4.8e-7 in float32)."""
    return max(1e-12, 8 * unit_roundoff(dtype)) if dtype.is_floating_point else 1e-12


class Domain:
    """Interface: ``width``, ``norm_bound()``, ``contains(x)``, ``sample(n, gen)``, ``adversarial_points(gen)``."""

    width: int

    def norm_bound(self) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, n: int, gen: torch.Generator,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def adversarial_points(self, gen: torch.Generator, n: int = 64,
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def evaluation_points(self, n: int, gen: torch.Generator, *, adversarial: int = 64,
                          dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """(n + m, D): ``n`` uniform samples, then the m adversarial points (``adversarial`` caps the random ones),
        all drawn from ``gen`` in that order — the points every exactness check on this domain evaluates (the one
        way the library, the CLI and the properties draw them).

        Drawn in float64 and rounded to ``dtype``, so a float32 run sees the same points as a float64 one
        (:meth:`contains` allows that rounding)."""
        n = check_size(n, "n", minimum=0)
        adversarial = check_size(adversarial, "adversarial", minimum=0)
        if not isinstance(gen, torch.Generator):
            raise DTypeError(f"gen must be a torch.Generator (never the global RNG); got {type(gen).__name__}")
        pts = torch.cat([self.sample(n, gen, dtype=torch.float64),
                         self.adversarial_points(gen, n=adversarial, dtype=torch.float64)])
        return pts.to(dtype)

    def check_inputs(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Raise DomainError if a row of ``x`` lies outside the domain (relative slack for rounding: 1e-12 in float64,
        8u in float32)."""
        x = as_matrix(x if x.ndim == 2 else x[None, :], name, square=False)
        if x.shape[1] != self.width:
            raise ShapeError(f"{name} has shape {tuple(x.shape)} but the domain has width D={self.width}")
        outside = ~self.contains(x)
        if bool(outside.any()):
            i = int(outside.nonzero()[0])
            raise DomainError(f"{name}[{i}] lies outside the declared domain {self}: exactness is claimed on the "
                              f"domain only (‖{name}[{i}]‖₂ = {float(torch.linalg.vector_norm(x[i])):.6g})")
        return x

    def contains(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Ball(Domain):
    """{x ∈ R^D : ‖x‖₂ ≤ radius}."""

    width: int
    radius: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", check_int(self.width, "domain width", minimum=1))
        object.__setattr__(self, "radius", check_positive_float(self.radius, "radius"))

    def norm_bound(self) -> float:
        return self.radius

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(x, dim=-1) <= self.radius * (1 + _rounding_slack(x.dtype))

    def sample(self, n: int, gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """n points uniform in the ball."""
        g = torch.randn(n, self.width, generator=gen, dtype=dtype)
        g = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300)
        r = torch.rand(n, 1, generator=gen, dtype=dtype) ** (1.0 / self.width)
        return g * r * self.radius

    def adversarial_points(self, gen: torch.Generator, n: int = 64, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Points on the sphere ‖x‖ = ρ (random directions and ±ρ·e_j), where pre-activations are most negative."""
        g = torch.randn(n, self.width, generator=gen, dtype=dtype)
        g = g / torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-300)
        eye = torch.eye(self.width, dtype=dtype)
        pts = torch.cat([g, eye, -eye]) * self.radius
        return pts / torch.clamp(torch.linalg.vector_norm(pts, dim=1, keepdim=True) / self.radius, min=1.0)

    def __str__(self) -> str:
        return f"Ball(D={self.width}, radius={self.radius:g})"


@dataclass(frozen=True)
class Box(Domain):
    """{x : low ≤ x ≤ high} with per-coordinate bounds (floats or length-D sequences)."""

    width: int
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", check_int(self.width, "domain width", minimum=1))
        low = self._expand(self.low, "low")
        high = self._expand(self.high, "high")
        for j, (a, b) in enumerate(zip(low, high)):
            if not a <= b:
                raise DomainError(f"box low[{j}]={a} exceeds high[{j}]={b}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def _expand(self, v, name: str) -> tuple[float, ...]:
        if isinstance(v, (int, float)):
            vals = [v] * self.width
        elif isinstance(v, (list, tuple)) or (isinstance(v, torch.Tensor) and v.ndim == 1):
            vals = [float(a) if isinstance(a, torch.Tensor) else a for a in v]
        else:
            raise DomainError(f"box {name} must be a number or a sequence of D={self.width} numbers; got "
                              f"{type(v).__name__}")
        if len(vals) != self.width:
            raise ShapeError(f"box {name} must be a number or have D={self.width} entries; got {len(vals)}")
        for j, a in enumerate(vals):
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
                raise DomainError(f"box {name}[{j}] must be a finite number; got {a!r}")
        return tuple(float(a) for a in vals)

    def norm_bound(self) -> float:
        return math.sqrt(sum(max(abs(a), abs(b)) ** 2 for a, b in zip(self.low, self.high)))

    def _bounds(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.low, dtype=dtype), torch.tensor(self.high, dtype=dtype)

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self._bounds(x.dtype)
        slack = _rounding_slack(x.dtype) * max(1.0, self.norm_bound())
        return ((x >= lo - slack) & (x <= hi + slack)).all(dim=-1)

    def sample(self, n: int, gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        lo, hi = self._bounds(dtype)
        return lo + (hi - lo) * torch.rand(n, self.width, generator=gen, dtype=dtype)

    def adversarial_points(self, gen: torch.Generator, n: int = 64, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The vertices (all 2^D for D ≤ 10, else n random ones)."""
        lo, hi = self._bounds(dtype)
        if self.width <= 10:
            bits = torch.tensor(list(itertools.product((0.0, 1.0), repeat=self.width)), dtype=dtype)
        else:
            bits = (torch.rand(n, self.width, generator=gen, dtype=dtype) < 0.5).to(dtype)
        return lo + (hi - lo) * bits

    def __str__(self) -> str:
        return f"Box(D={self.width}, low={self.low}, high={self.high})"
