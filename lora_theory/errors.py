"""One exception hierarchy for every bad input and every violated hypothesis.

Every public entry point raises a subclass of :class:`LoRATheoryError` when it is given something it cannot
honestly work with. Messages name the argument and the shapes/ranks involved, e.g.::

    ShapeError: weights[1] must be square (D, D) with D=8 like weights[0]; got shape (8, 6)

The subclasses also derive from the matching built-in (``ValueError`` or ``TypeError``) so that generic callers that
catch those keep working.
"""

from __future__ import annotations

__all__ = [
    "LoRATheoryError",
    "ShapeError",
    "DTypeError",
    "NonFiniteError",
    "RankError",
    "DepthError",
    "PartitionError",
    "DomainError",
    "FileFormatError",
    "StateDictError",
    "ModelMismatchError",
    "OptionalDependencyError",
    "UnknownClaimError",
    "AssumptionViolated",
    "SingularityError",
]


class LoRATheoryError(Exception):
    """Base class of every error raised on purpose by ``lora_theory``."""


class ShapeError(LoRATheoryError, ValueError):
    """A tensor has the wrong number of dimensions or a size that does not fit the others."""


class DTypeError(LoRATheoryError, TypeError):
    """A tensor is not a floating-point tensor, or tensors that must share a dtype do not."""


class NonFiniteError(LoRATheoryError, ValueError):
    """A tensor contains NaN or ±inf."""


class RankError(LoRATheoryError, ValueError):
    """A LoRA rank (or a list of per-layer ranks) is not a valid integer in range."""


class DepthError(LoRATheoryError, ValueError):
    """A model depth is invalid: empty chain, or a target deeper than the frozen model."""


class PartitionError(LoRATheoryError, ValueError):
    """A partition of the layers into blocks is not consecutive, ordered, non-empty and covering."""


class DomainError(LoRATheoryError, ValueError):
    """An argument lies outside its mathematical domain (negative radius, width < 1, …)."""


class FileFormatError(LoRATheoryError, ValueError):
    """A file cannot be read as what it claims to be."""


class StateDictError(FileFormatError):
    """A state dict (checkpoint) lacks keys the model needs, or holds keys it cannot place; names the keys."""


class ModelMismatchError(LoRATheoryError, ValueError):
    """Two descriptions of what must be the same model disagree (e.g. a module and the construction built for it)."""


class OptionalDependencyError(LoRATheoryError, ImportError):
    """A feature needs an optional extra that is not installed; the message names the ``pip install`` to run."""


class UnknownClaimError(LoRATheoryError, KeyError):
    """A claim id or model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class AssumptionViolated(LoRATheoryError, ValueError):
    """A hypothesis of a theorem does not hold for the given instance, so the construction refuses to run.

    Carries the data that show it: ``where`` (which matrix), ``ratio`` (σ_min/σ_max) and ``threshold``.
    """

    def __init__(self, message: str, *, where: str = "", ratio: float | None = None,
                 threshold: float | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.ratio = ratio
        self.threshold = threshold


class SingularityError(AssumptionViolated):
    """A matrix the construction must solve with is (numerically) singular: σ_min/σ_max below the threshold."""
