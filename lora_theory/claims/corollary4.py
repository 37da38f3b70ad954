"""Claim ``corollary4`` — arXiv 2310.17513v3, Corollary 4 (random FNNs, p. 6)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

COROLLARY4 = register(Claim(
    id="corollary4",
    reference="arXiv 2310.17513v3, Corollary 4 (p. 6)",
    statement="random frozen and target FNNs (continuous entries): R ≥ ⌈D/⌊L/L̄⌋⌉ makes the construction exact "
              "almost surely; below it the construction is not exact (no impossibility is claimed for FNNs)",
    number="Corollary 4",
    pages="p. 6",
    status="statement confirmed (v3 p. 6); the printed condition R ≥ D/M has no ceiling, which is the same as R "
           "≥ ⌈D/M⌉ for an integer R (listed by lora-theory errata); checked numerically on random draws",
    formulas={"threshold": F.COROLLARY4_THRESHOLD},
))
