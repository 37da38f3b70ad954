"""Frozen and target models (SPEC §3): the linear chain f(x) = W_L ⋯ W_1 x and the ReLU FNN with biases.

Conventions: ``weights[0]`` is W_1, the first layer applied; ``product() = W_L ⋯ W_1``. Inputs are rows:
``chain(x)`` takes ``x: (n, D)`` (or ``(D,)``) and returns ``x @ (W_L⋯W_1)ᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .adapters import LoRAPair, adapted_weights
from .errors import DepthError, DTypeError, ShapeError
from .numerics import chain_product
from .validation import as_matrix, as_square_stack, check_same_dtype

__all__ = ["LinearChain", "ReLUFNN"]


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


@dataclass(frozen=True, eq=False)
class ReLUFNN:
    """FNN_{L,D}(x) with biases (SPEC §3.3): z_0 = x, z_l = ReLU(W_l z_{l-1} + b_l); the last ReLU is applied only
    when ``final_relu`` (the paper's convention is not yet confirmed against the PDF; every claim holds under both).

    ``weights[l]``: (D, D), ``biases[l]``: (D,); inputs are rows ``x: (n, D)`` (or one ``(D,)`` vector).
    """

    weights: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]
    final_relu: bool = True

    def __post_init__(self) -> None:
        weights = as_square_stack(self.weights, "weights")
        biases = self.biases
        if isinstance(biases, torch.Tensor) and biases.ndim == 2:
            biases = tuple(biases.unbind(0))
        if not isinstance(biases, Sequence) or len(biases) != len(weights):
            n = len(biases) if isinstance(biases, Sequence) else type(biases).__name__
            raise ShapeError(f"biases must hold one (D,) vector per layer (L={len(weights)}); got {n}")
        D = weights[0].shape[0]
        checked = []
        for i, b in enumerate(biases):
            if not isinstance(b, torch.Tensor):
                raise DTypeError(f"biases[{i}] must be a torch.Tensor; got {type(b).__name__}")
            if b.ndim != 1 or b.shape[0] != D:
                raise ShapeError(f"biases[{i}] must have shape ({D},) like the layers (D={D}); got {tuple(b.shape)}")
            as_matrix(b[None, :], f"biases[{i}]", square=False)
            checked.append(b)
        check_same_dtype([("weights[0]", weights[0])] + [(f"biases[{i}]", b) for i, b in enumerate(checked)])
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", tuple(checked))
        object.__setattr__(self, "final_relu", bool(self.final_relu))

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def width(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"input x must be a torch.Tensor; got {type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != self.width:
            raise ShapeError(f"input x must have shape (D,) or (n, D) with D={self.width}; got {tuple(x.shape)}")
        check_same_dtype([("weights[0]", self.weights[0]), ("x", x)])
        return x

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[W_l z_{l-1} + b_l for l = 1..L], each of the shape of ``x``."""
        z = self._check_input(x)
        out = []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = z @ W.T + b
            out.append(h)
            z = torch.relu(h) if (l < self.depth - 1 or self.final_relu) else h
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.preactivations(x)[-1]
        return torch.relu(h) if self.final_relu else h

    def adapted(self, pairs: Sequence[LoRAPair], biases: Sequence[torch.Tensor]) -> "ReLUFNN":
        """The network with W_l + B_l A_l and the new biases b̂_l (the frozen tensors are not modified)."""
        return ReLUFNN(tuple(adapted_weights(self.weights, pairs)), tuple(biases), self.final_relu)

    def to_sequential(self) -> torch.nn.Sequential:
        """An ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` computing the same function (copies the tensors)."""
        layers: list[torch.nn.Module] = []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            lin = torch.nn.Linear(self.width, self.width, dtype=self.dtype, device=W.device)
            with torch.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(b)
            layers.append(lin)
            if l < self.depth - 1 or self.final_relu:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)

    @classmethod
    def from_sequential(cls, seq: torch.nn.Sequential) -> "ReLUFNN":
        """Read an ``nn.Sequential`` of square ``nn.Linear`` (with bias) layers, each followed by ``nn.ReLU`` except
        possibly the last (which sets ``final_relu``)."""
        mods = list(seq)
        weights, biases = [], []
        i = 0
        final_relu = False
        while i < len(mods):
            lin = mods[i]
            if not isinstance(lin, torch.nn.Linear) or lin.bias is None:
                raise ShapeError(f"module {i} of the Sequential must be an nn.Linear with bias; got {lin!r}")
            weights.append(lin.weight.detach().clone())
            biases.append(lin.bias.detach().clone())
            i += 1
            if i < len(mods) and isinstance(mods[i], torch.nn.ReLU):
                final_relu = i == len(mods) - 1
                i += 1
            elif i < len(mods):
                raise ShapeError(f"module {i} must be nn.ReLU between two nn.Linear layers; got {mods[i]!r}")
        if not weights:
            raise DepthError("the Sequential holds no nn.Linear layer: an FNN needs depth L >= 1")
        return cls(tuple(weights), tuple(biases), final_relu)
