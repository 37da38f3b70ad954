"""The claims registry: one :class:`Claim` per claim id, each defined in its own module of this package.

Adding a claim means adding two files: ``lora_theory/claims/<id>.py`` (calling :func:`register`) and
``properties/test_<id>.py`` (its Hypothesis properties, marked ``pytest.mark.<id>``). Modules of this package are
discovered automatically; third-party packages can register claims through the entry-point group
``lora_theory.claims`` (each entry point names a module to import).

Ids are the SPEC's (``lemma1``, ``hetero_ranks``, …), never the paper's numbers: if the PDF numbering differs, only
``reference`` changes. ``status`` uses the confidence vocabulary of SPEC §1 and says plainly what has not been
confirmed against the paper's PDF.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import sympy as sp

from lora_theory.errors import DomainError, UnknownClaimError

__all__ = ["Claim", "ThresholdArgs", "ThresholdSpec", "register", "get_claim", "all_claims", "threshold_models",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "lora_theory.claims"


@dataclass(frozen=True)
class ThresholdArgs:
    """Architecture arguments of ``lora-theory threshold`` (unset ones are ``None``)."""

    width: int
    depth: int
    target_depth: int | None = None
    heads: int | None = None
    discrepancy_rank: int | None = None


@dataclass(frozen=True)
class ThresholdSpec:
    """How a claim answers "what rank do I need?": a sympy formula and a binder from CLI arguments to values.

    ``bind(args)`` returns the substitutions for ``formula`` and one human line per substituted symbol; it raises
    :class:`~lora_theory.errors.DomainError` for arguments outside the claim's domain.
    """

    model: str
    formula: sp.Basic
    bind: Callable[[ThresholdArgs], tuple[dict[sp.Symbol, int], list[str]]]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper (or a derived fact), as the suite checks it."""

    id: str
    reference: str
    statement: str
    status: str
    formulas: Mapping[str, sp.Basic] = field(default_factory=dict)
    threshold: ThresholdSpec | None = None
    notes: str = ""

    @property
    def property_file(self) -> str:
        """The file under ``properties/`` that holds this claim's properties."""
        return f"test_{self.id}.py"


_REGISTRY: dict[str, Claim] = {}
_loaded = False


def register(claim: Claim) -> Claim:
    """Add a claim to the registry (ids are unique; re-registering an identical object is a no-op)."""
    if not isinstance(claim, Claim):
        raise DomainError(f"register() takes a Claim; got {type(claim).__name__}")
    if not isinstance(claim.id, str) or not claim.id.isidentifier():
        raise DomainError(f"claim id must be a Python identifier (it becomes a pytest marker); got {claim.id!r}")
    existing = _REGISTRY.get(claim.id)
    if existing is not None and existing is not claim:
        raise DomainError(f"claim id {claim.id!r} is already registered ({existing.reference})")
    _REGISTRY[claim.id] = claim
    return claim


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        importlib.import_module(ep.value)


def all_claims() -> list[Claim]:
    """Every registered claim, built-in modules in name order, then third-party ones."""
    _load()
    return list(_REGISTRY.values())


def get_claim(claim_id: str) -> Claim:
    """The claim with this id, or :class:`~lora_theory.errors.UnknownClaimError` listing the known ids."""
    _load()
    if not isinstance(claim_id, str):
        raise UnknownClaimError(f"claim id must be a string; got {type(claim_id).__name__} {claim_id!r}")
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise UnknownClaimError(f"unknown claim id {claim_id!r}; known: {', '.join(_REGISTRY)}") from None


def threshold_models() -> dict[str, Claim]:
    """Model name (``linear``, …) → the claim whose threshold answers ``lora-theory threshold --model``."""
    return {c.threshold.model: c for c in all_claims() if c.threshold is not None}
