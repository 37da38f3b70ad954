"""Input validation shared by every public entry point.

Each helper either returns a clean value or raises a :mod:`lora_theory.errors` subclass whose message names the
argument and the shapes involved. Nothing here converts silently: integer tensors, mixed dtypes and NaN/inf are
errors, not coercions.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lora_theory.errors import (
    DepthError,
    DomainError,
    DTypeError,
    LoRATheoryError,
    NonFiniteError,
    RankError,
    ShapeError,
)

__all__ = [  # noqa: F822 (SUPPORTED_DTYPES comes from the module __getattr__ below)
    "SUPPORTED_DTYPES", "as_matrix", "as_square_stack", "is_int", "check_int", "check_rank", "check_layer_ranks",
    "check_same_dtype", "check_positive_float", "check_size",
]

if TYPE_CHECKING:
    import torch

# torch is imported inside the tensor checks only: the scalar checks (check_int, …) serve the claims registry and the
# CLI's argument checks, which load without torch.


def _supported_dtypes() -> tuple[torch.dtype, ...]:
    import torch

    return (torch.float64, torch.float32)


def __getattr__(name: str) -> object:
    """``SUPPORTED_DTYPES`` — the LAPACK-backed dtypes (float64, float32; float64 is what every check uses) —
    resolved on first use, so importing this module does not import torch."""
    if name == "SUPPORTED_DTYPES":
        return _supported_dtypes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _describe(x: object) -> str:
    import torch

    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def as_matrix(x: object, name: str, *, square: bool = True) -> torch.Tensor:
    """Return ``x`` if it is a finite, floating, 2-D torch tensor (square when ``square``); raise otherwise."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise DTypeError(f"{name} must be a torch.Tensor; got {_describe(x)}")
    if x.dtype not in _supported_dtypes():
        raise DTypeError(f"{name} must be float64 (or float32); got {x.dtype} with shape {tuple(x.shape)}")
    if x.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D matrix; got shape {tuple(x.shape)}")
    if square and x.shape[0] != x.shape[1]:
        raise ShapeError(f"{name} must be square (D, D); got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ShapeError(f"{name} must not be empty; got shape {tuple(x.shape)}")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[0].tolist()
        raise NonFiniteError(f"{name} contains NaN or inf (first at index {tuple(bad)}; shape {tuple(x.shape)})")
    return x


def check_same_dtype(named: Sequence[tuple[str, torch.Tensor]]) -> torch.dtype:
    """All tensors share one dtype and one device; return the dtype."""
    if not named:
        raise ShapeError("check_same_dtype needs at least one (name, tensor) pair; got none")
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.dtype != first.dtype:
            raise DTypeError(f"{name} has dtype {t.dtype} but {first_name} has {first.dtype}; "
                             "mixed dtypes are not converted silently (use float64 throughout)")
        if t.device != first.device:
            raise DTypeError(f"{name} is on {t.device} but {first_name} is on {first.device}")
    return first.dtype


def as_square_stack(weights: object, name: str = "weights") -> tuple[torch.Tensor, ...]:
    """Validate a non-empty sequence of square matrices of one width D and one dtype."""
    import torch

    if isinstance(weights, torch.Tensor):
        if weights.ndim == 3:
            weights = list(weights.unbind(0))
        else:
            raise ShapeError(f"{name} must be a sequence of (D, D) matrices or an (L, D, D) tensor; "
                             f"got a tensor of shape {tuple(weights.shape)}")
    if not isinstance(weights, Sequence) or isinstance(weights, (str, bytes)):
        raise DTypeError(f"{name} must be a sequence of (D, D) tensors; got {_describe(weights)}")
    if len(weights) == 0:
        raise DepthError(f"{name} is empty: a chain needs depth L >= 1")
    mats = tuple(as_matrix(w, f"{name}[{i}]") for i, w in enumerate(weights))
    D = mats[0].shape[0]
    for i, w in enumerate(mats[1:], start=1):
        if w.shape[0] != D:
            raise ShapeError(f"{name}[{i}] has shape {tuple(w.shape)} but {name}[0] has shape ({D}, {D}); "
                             "every layer must be D x D")
    check_same_dtype([(f"{name}[{i}]", w) for i, w in enumerate(mats)])
    return mats


def is_int(value: object) -> bool:
    """True for a Python or numpy integer that is not a bool (``True`` is not a width)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None,
              error: type[LoRATheoryError] = DomainError, type_error: type[LoRATheoryError] | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool, not 2.0) in ``minimum..maximum``; else ``error``
    (default :class:`~lora_theory.errors.DomainError`) with a message naming ``name`` and the range. ``type_error``,
    when given, is raised instead of ``error`` for a value that is not an integer at all (e.g. DTypeError for 1.5,
    while 0 is a ShapeError)."""
    if minimum is not None and maximum is not None:
        wanted = f"an integer in {minimum}..{maximum}"
    elif minimum is not None:
        wanted = f"an integer >= {minimum}"
    elif maximum is not None:
        wanted = f"an integer <= {maximum}"
    else:
        wanted = "an integer"
    if not is_int(value):
        raise (type_error or error)(f"{name} must be {wanted}; got {value!r} of type {type(value).__name__}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{name} must be {wanted}; got {value}")
    return value


def check_rank(rank: object, name: str, *, width: int, minimum: int = 1) -> int:
    """An integer rank in ``minimum..width`` (the theorems take R in [D])."""
    if not is_int(rank):
        raise RankError(f"{name} must be an integer in {minimum}..{width} (D={width}); got {rank!r} "
                        f"of type {type(rank).__name__}")
    rank = int(rank)
    if not minimum <= rank <= width:
        raise RankError(f"{name} must be in {minimum}..{width} (D={width}); got {rank}")
    return rank


def check_layer_ranks(ranks: object, *, depth: int, width: int) -> tuple[int, ...]:
    """Per-layer ranks: an int (uniform R in 1..D) or a length-L sequence of ints in 0..D."""
    if is_int(ranks):
        r = check_rank(ranks, "rank", width=width)
        return (r,) * depth
    if not isinstance(ranks, Sequence) or isinstance(ranks, (str, bytes)):
        raise RankError(f"rank must be an int or a sequence of {depth} per-layer ints; got {ranks!r}")
    if len(ranks) != depth:
        raise RankError(f"per-layer ranks must have one entry per layer (L={depth}); got {len(ranks)}: "
                        f"{list(ranks)!r}")
    return tuple(check_rank(r, f"rank[{i}]", width=width, minimum=0) for i, r in enumerate(ranks))


def check_positive_float(value: object, name: str) -> float:
    """A finite real number > 0 (tolerances, thresholds, radii)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise DomainError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def check_size(value: object, name: str, *, minimum: int = 1) -> int:
    """An integer size (width, count) ≥ ``minimum`` (ShapeError otherwise)."""
    return check_int(value, name, minimum=minimum, error=ShapeError)
