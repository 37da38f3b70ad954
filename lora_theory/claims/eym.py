"""Claim ``eym`` — the Eckart–Young–Mirsky theorem, the textbook fact behind arXiv 2310.17513v3, Lemma 1 (p. 3)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

EYM = register(Claim(
    id="eym",
    reference="Eckart–Young–Mirsky (used in arXiv 2310.17513v3, Lemma 1, p. 3)",
    statement="best rank-r approximation error is σ_{r+1} (spectral)",
    status="textbook (Eckart & Young 1936; Mirsky 1960), used by the proof of Lemma 7 (App. D, p. 20); checked "
           "numerically against random matrices",
    formulas={"error": F.EYM_ERROR},
))
