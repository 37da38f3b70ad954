"""The claims registry: one :class:`Claim` per claim id.

Where claims come from, in the order :func:`all_claims` lists them:

* built-in claims — one module of this package per claim, named after the claim id: ``lora_theory/claims/<id>.py``
  calls :func:`register`, and ``lora_theory/properties/test_<id>.py`` holds its Hypothesis properties (marked
  ``pytest.mark.<id>``). Modules are discovered automatically (``report``, the claims table, is the one module that
  is not a claim); :func:`builtin_claims` lists only these.
* installed packages — each entry point of the group ``lora_theory.claims`` names a module to import, which calls
  :func:`register`.
* your own repository — call ``register(Claim(...))`` in a ``conftest.py`` (at import): the pytest plugin adds the
  ``pytest.mark.<id>`` marker for it, also under ``--strict-markers``.

Ids are stable names (``lemma1``, ``hetero_ranks``, …), never the paper's numbers: if the numbering of a version of
the paper differs, only ``reference`` changes. ``status`` says plainly what has not been confirmed against the
paper's PDF (see docs/claims.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import sympy as sp

from lora_theory.errors import DomainError, LoRATheoryError, UnknownClaimError

__all__ = ["Claim", "ThresholdArgs", "ThresholdSpec", "register", "get_claim", "all_claims", "builtin_claims",
           "threshold_models", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "lora_theory.claims"


@dataclass(frozen=True)
class ThresholdArgs:
    """Architecture arguments of ``lora-theory threshold`` (unset ones are ``None``; a binder whose formula uses a
    symbol raises :class:`~lora_theory.errors.DomainError` naming the flag when it is unset)."""

    width: int
    depth: int | None = None
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
    """Add a claim to the registry (ids are unique; re-registering the identical object is a no-op).

    The built-in and installed claims are loaded first, so an id that clashes with one of them is refused here, at
    the caller's line, rather than later.
    """
    if not isinstance(claim, Claim):
        raise DomainError(f"register() takes a Claim; got {type(claim).__name__}")
    if not isinstance(claim.id, str) or not claim.id.isidentifier():
        raise DomainError(f"claim id must be a Python identifier (it becomes a pytest marker); got {claim.id!r}")
    _load()
    existing = _REGISTRY.get(claim.id)
    if existing is not None and existing is not claim:
        raise DomainError(f"claim id {claim.id!r} is already registered ({existing.reference})")
    _REGISTRY[claim.id] = claim
    return claim


#: modules of this package that are not claims (``report``: the claims table)
_SUPPORT_MODULES = frozenset({"report"})


def _builtin_ids() -> list[str]:
    """The claim modules of this package, in name order: each defines the built-in claim of the same id."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if info.name not in _SUPPORT_MODULES and not info.name.startswith("_"))


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _builtin_ids():
        importlib.import_module(f"{__name__}.{name}")
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:
            raise LoRATheoryError(f"the {ENTRY_POINT_GROUP!r} entry point {ep.name!r} = {ep.value!r} failed to "
                                  f"load: {type(exc).__name__}: {exc}") from exc


def builtin_claims() -> list[Claim]:
    """The claims defined by this package's own modules, in module (= id) order."""
    _load()
    return [_REGISTRY[name] for name in _builtin_ids() if name in _REGISTRY]


def all_claims() -> list[Claim]:
    """Every registered claim: the built-in ones in id order, then installed and your own, in registration order."""
    builtin = builtin_claims()
    ids = {c.id for c in builtin}
    return builtin + [c for c in _REGISTRY.values() if c.id not in ids]


def get_claim(claim_id: str) -> Claim:
    """The claim with this id, or :class:`~lora_theory.errors.UnknownClaimError` listing the known ids."""
    _load()
    if not isinstance(claim_id, str):
        raise UnknownClaimError(f"claim id must be a string; got {type(claim_id).__name__} {claim_id!r}")
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        known = ", ".join(c.id for c in all_claims())
        raise UnknownClaimError(f"unknown claim id {claim_id!r}; known: {known}") from None


def threshold_models() -> dict[str, Claim]:
    """Model name (``linear``, …) → the claim whose threshold answers ``lora-theory threshold --model``."""
    return {c.threshold.model: c for c in all_claims() if c.threshold is not None}
