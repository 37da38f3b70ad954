"""Frozen and target models (SPEC §3). Start: the linear chain f(x) = W_L ⋯ W_1 x.

Conventions: ``weights[0]`` is W_1, the first layer applied; ``product() = W_L ⋯ W_1``. Inputs are rows:
``chain(x)`` takes ``x: (n, D)`` (or ``(D,)``) and returns ``x @ (W_L⋯W_1)ᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .adapters import LoRAPair, adapted_weights
from .errors import DTypeError, ShapeError
from .numerics import chain_product
from .validation import as_square_stack, check_same_dtype

__all__ = ["LinearChain"]


@dataclass(frozen=True, eq=False)
class LinearChain:
    """A depth-L chain of D×D linear maps with no bias and no activation (SPEC §3.2)."""

    weights: tuple[torch.Tensor, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", as_square_stack(self.weights, "weights"))

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def width(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    def product(self) -> torch.Tensor:
        """W_L ⋯ W_1."""
        return chain_product(self.weights)

    def adapted(self, pairs: Sequence[LoRAPair]) -> "LinearChain":
        """The chain with W_l + B_l A_l in place of W_l."""
        return LinearChain(tuple(adapted_weights(self.weights, pairs)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"input x must be a torch.Tensor; got {type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != self.width:
            raise ShapeError(f"input x must have shape (D,) or (n, D) with D={self.width}; got {tuple(x.shape)}")
        check_same_dtype([("weights[0]", self.weights[0]), ("x", x)])
        for W in self.weights:
            x = x @ W.T
        return x
