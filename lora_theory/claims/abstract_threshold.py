"""Claim ``abstract_threshold`` — arXiv 2310.17513 v3, abstract and Corollary 4 (SPEC §6.7, "relation to the
abstract's threshold").

The abstract states the FNN threshold informally as width × target depth ÷ frozen depth, R ≥ D·L̄/L. The theorem's
threshold (Corollary 4, with M = ⌊L/L̄⌋) is ⌈D/⌊L/L̄⌋⌉. Since ⌊L/L̄⌋ ≤ L/L̄, the theorem's threshold is at least
⌈D·L̄/L⌉, with equality when L̄ divides L; otherwise it can be strictly larger: D = 16, L = 5, L̄ = 2 gives
⌈16/2⌉ = 8 against ⌈32/5⌉ = 7.

``Lbar`` is declared here with the assumptions integer, positive; sympy caches symbols by name and assumptions, so it
is the very symbol ``lora_theory.formulas.Lbar`` and ``THEOREM_THRESHOLD`` equals corollary4's threshold. The
expressions are defined for 1 ≤ L̄ ≤ L only (⌊L/L̄⌋ = 0 otherwise).
"""

from __future__ import annotations

import sympy as sp

from lora_theory import formulas as F
from lora_theory.claims import Claim, register
from lora_theory.errors import DepthError, DomainError

__all__ = ["Lbar", "THEOREM_THRESHOLD", "ABSTRACT_THRESHOLD", "ABSTRACT_EXACT", "threshold_gap", "ABSTRACT"]

#: target depth L̄ (1 ≤ L̄ ≤ L)
Lbar = sp.Symbol("Lbar", integer=True, positive=True)
_LBAR = Lbar  # for threshold_gap, whose argument is also called Lbar
#: Corollary 4: ⌈D / ⌊L/L̄⌋⌉
THEOREM_THRESHOLD = sp.ceiling(F.D / sp.floor(F.L / Lbar))
#: the abstract's informal threshold, rounded up to a rank: ⌈D·L̄/L⌉
ABSTRACT_THRESHOLD = sp.ceiling(F.D * Lbar / F.L)
#: the abstract's threshold as printed (a ratio, not a rank): D·L̄/L
ABSTRACT_EXACT = F.D * Lbar / F.L


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError(f"{name} must be an integer >= 1; got {value!r}")
    return value


def threshold_gap(D: int, L: int, Lbar: int) -> tuple[int, int]:
    """(theorem threshold ⌈D/⌊L/L̄⌋⌉, abstract threshold ⌈D·L̄/L⌉), both evaluated from the sympy expressions.

    Raises DomainError for a non-positive or non-integer argument and DepthError for L̄ > L (the theorem needs
    L̄ ≤ L). Example: ``threshold_gap(16, 5, 2) == (8, 7)``.
    """
    D, L, Lb = _positive_int(D, "width D"), _positive_int(L, "frozen depth L"), _positive_int(Lbar, "target depth L̄")
    if Lb > L:
        raise DepthError(f"target depth L̄={Lb} exceeds frozen depth L={L} (the theorem needs L̄ ≤ L)")
    values = {F.D: sp.Integer(D), F.L: sp.Integer(L), _LBAR: sp.Integer(Lb)}
    return _evaluate(THEOREM_THRESHOLD, values), _evaluate(ABSTRACT_THRESHOLD, values)


def _evaluate(expr: sp.Basic, values: dict[sp.Symbol, sp.Integer]) -> int:
    """Exact sympy evaluation by ``xreplace`` (≈100× faster than ``subs`` on fresh values, same result)."""
    out = expr.xreplace(values)
    if not out.is_Integer:
        raise ValueError(f"{expr} with {values} did not evaluate to an integer: {out}")
    return int(out)


ABSTRACT = register(Claim(
    id="abstract_threshold",
    reference="arXiv 2310.17513 v3, abstract and Corollary 4",
    statement="the abstract's informal threshold R ≥ D·L̄/L equals the theorem's ⌈D/⌊L/L̄⌋⌉ when L̄ divides L, and "
              "is smaller otherwise (e.g. D=16, L=5, L̄=2: 7 vs 8)",
    status="derived (SPEC §6.7); the abstract's wording is informal, Corollary 4's numbering not yet confirmed "
           "against the paper's PDF",
    formulas={
        "theorem": THEOREM_THRESHOLD,
        "abstract": ABSTRACT_THRESHOLD,
        "abstract_exact": ABSTRACT_EXACT,
    },
    notes="A symbolic relation between two thresholds; no construction is run. The construction side (exact at "
          "⌈D/⌊L/L̄⌋⌉ for random FNNs) is claim corollary4.",
))
