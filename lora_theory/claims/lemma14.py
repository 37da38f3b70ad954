"""Claim ``lemma14`` — random weights satisfy Assumption 4 almost surely: arXiv 2310.17513v3, Lemma 14 (App. F.2,
p. 37)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA14 = register(Claim(
    id="lemma14",
    reference="arXiv 2310.17513v3, Lemma 14 (App. F.2, p. 37)",
    statement="frozen and target TFN weights with independent continuous entries satisfy Assumption 4 almost surely, "
              "for every R ∈ [D] (conditioning is only reported: 'with probability 1' says nothing about it)",
    number="Lemma 14",
    pages="p. 37",
    status="statement confirmed (v3 p. 37: 'Assumption 4 holds with probability 1'; as printed the lemma fixes no "
           "R, the R of Assumption 4, so it is checked for every R ∈ [D]); checked numerically on conditioned and "
           "unconditioned (N(0, 1/D), Xavier) random pairs: every listed matrix is above the singularity "
           "threshold, and a planted singular matrix stops being singular under a small continuous perturbation",
    formulas={"singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
))
