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

Ids follow the numbering of the camera-ready arXiv 2310.17513v3 (``lemma3`` is its Lemma 3, ``theorem6`` its
Theorem 6); claims that check one part of a numbered result add a suffix (``theorem7_gap``, ``theorem5_printed``),
and facts the paper uses without numbering them have descriptive ids (``eym``). ``number`` and ``pages`` give the
paper's number and page(s); ``status`` says what was checked against which page and how (see docs/claims.md).

Renamed ids. Before the ids followed v3, five claims had descriptive names; they still resolve, with a
:class:`DeprecationWarning`, for the 0.2 release (:data:`RENAMED`). One old id could not be kept: ``lemma2`` used to
name the statement the paper numbers Lemma 3 (random weights satisfy Assumption 1) and now names the paper's Lemma 2
(one-layer target); :func:`renamed_notice` says so whenever ``lemma2`` is asked for by id (:data:`REUSED`).
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import sympy as sp

from lora_theory.errors import DomainError, LoRATheoryError, UnknownClaimError

__all__ = ["Claim", "ThresholdArgs", "ThresholdSpec", "register", "get_claim", "all_claims", "builtin_claims",
           "threshold_models", "renamed_notice", "ENTRY_POINT_GROUP", "RENAMED", "REUSED"]

ENTRY_POINT_GROUP = "lora_theory.claims"

#: old id → new id, for the ids renamed to the v3 numbering (accepted with a DeprecationWarning until 0.3)
RENAMED: Mapping[str, str] = {
    "one_layer_fnn": "lemma2",
    "general_partition": "theorem6",
    "lemma6_tfl": "lemma4",
    "hetero_ranks": "lemma8",
    "tfn_gap": "theorem7_gap",
}
#: ids whose meaning changed: the id now names the paper's result of that number; the old claim moved to the value
REUSED: Mapping[str, str] = {"lemma2": "lemma3"}


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
    #: the paper's number of the result ("Lemma 3", "Theorem 7", "Appendix H"), "" for claims outside the paper
    number: str = ""
    #: where the paper states it ("p. 6", "pp. 37–38"), "" for claims outside the paper
    pages: str = ""

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


def _paper_position(claim: Claim) -> tuple[int, str]:
    """Sort key: the first page the claim cites (claims outside the paper last), then the id."""
    digits = "".join(ch if ch.isdigit() else " " for ch in claim.pages).split()
    return (int(digits[0]) if digits else 10**6, claim.id)


def builtin_claims() -> list[Claim]:
    """The claims defined by this package's own modules, in the order of the paper (first page cited, then id)."""
    _load()
    return sorted((_REGISTRY[name] for name in _builtin_ids() if name in _REGISTRY), key=_paper_position)


def all_claims() -> list[Claim]:
    """Every registered claim: the built-in ones in paper order, then installed and your own, in registration order."""
    builtin = builtin_claims()
    ids = {c.id for c in builtin}
    return builtin + [c for c in _REGISTRY.values() if c.id not in ids]


def renamed_notice(claim_id: str) -> str | None:
    """One line for an id that was renamed (it still resolves) or reused (it now names another result); else None."""
    if claim_id in RENAMED:
        return (f"claim id {claim_id!r} is deprecated: it was renamed {RENAMED[claim_id]!r} to follow the numbering "
                "of arXiv 2310.17513v3 (the old id is accepted until lora-theory 0.3)")
    if claim_id in REUSED:
        return (f"note: claim id {claim_id!r} now names the paper's Lemma 2 (one-layer target, arXiv 2310.17513v3, "
                f"p. 5); the claim it named before (random weights satisfy Assumption 1, the paper's Lemma 3) is "
                f"{REUSED[claim_id]!r}")
    return None


def get_claim(claim_id: str) -> Claim:
    """The claim with this id, or :class:`~lora_theory.errors.UnknownClaimError` listing the known ids.

    A renamed id (:data:`RENAMED`) resolves to its new claim with a :class:`DeprecationWarning`.
    """
    _load()
    if not isinstance(claim_id, str):
        raise UnknownClaimError(f"claim id must be a string; got {type(claim_id).__name__} {claim_id!r}")
    if claim_id in RENAMED and claim_id not in _REGISTRY:
        warnings.warn(renamed_notice(claim_id), DeprecationWarning, stacklevel=2)
        claim_id = RENAMED[claim_id]
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        known = ", ".join(c.id for c in all_claims())
        raise UnknownClaimError(f"unknown claim id {claim_id!r}; known: {known}") from None


def threshold_models() -> dict[str, Claim]:
    """Model name (``linear``, …) → the claim whose threshold answers ``lora-theory threshold --model``."""
    return {c.threshold.model: c for c in all_claims() if c.threshold is not None}
