"""Claim ``abstract_threshold`` — arXiv 2310.17513v3, abstract and Corollary 4 (p. 6): the relation between the
abstract's informal threshold and the theorem's.

The abstract states the FNN threshold informally as width × target depth ÷ frozen depth, R ≥ D·L̄/L. The theorem's
threshold (Corollary 4, with M = ⌊L/L̄⌋) is ⌈D/⌊L/L̄⌋⌉. Since ⌊L/L̄⌋ ≤ L/L̄, the theorem's threshold is at least
⌈D·L̄/L⌉, with equality when L̄ divides L; otherwise it can be strictly larger: D = 16, L = 5, L̄ = 2 gives
⌈16/2⌉ = 8 against ⌈32/5⌉ = 7. The expressions (and :func:`~lora_theory.formulas.threshold_gap`, which evaluates
them) live in :mod:`lora_theory.formulas`; they are defined for 1 ≤ L̄ ≤ L only (⌊L/L̄⌋ = 0 otherwise).
"""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register
from lora_theory.formulas import Lbar, threshold_gap

__all__ = ["Lbar", "threshold_gap", "ABSTRACT"]

ABSTRACT = register(Claim(
    id="abstract_threshold",
    reference="arXiv 2310.17513v3, abstract (p. 1) and Corollary 4 (p. 6)",
    statement="the abstract's informal threshold R ≥ D·L̄/L equals the theorem's ⌈D/⌊L/L̄⌋⌉ when L̄ divides L, and "
              "is smaller otherwise (e.g. D=16, L=5, L̄=2: 7 vs 8)",
    number="Abstract; Corollary 4",
    pages="p. 1; p. 6",
    status="the abstract's threshold is informal (width × target depth ÷ frozen depth, p. 1); Corollary 4 "
           "confirmed (v3 p. 6); the relation between the two is checked symbolically over a grid of (D, L, L̄)",
    formulas={
        "theorem": F.ABSTRACT_THEOREM_THRESHOLD,
        "abstract": F.ABSTRACT_THRESHOLD,
        "abstract_exact": F.ABSTRACT_EXACT,
    },
    notes="A symbolic relation between two thresholds; no construction is run. The construction side (exact at "
          "⌈D/⌊L/L̄⌋⌉ for random FNNs) is claim corollary4.",
))
