"""Claim ``lemma3`` — random weights satisfy Assumption 1 almost surely: arXiv 2310.17513v3, Lemma 3 (p. 6; proof in
App. E.2, p. 27). The claim id keeps its historical name; the paper's Lemma 2 is claim ``lemma2``."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA2 = register(Claim(
    id="lemma3",
    reference="arXiv 2310.17513v3, Lemma 3 (p. 6; proof App. E.2, p. 27)",
    statement="frozen and target weights with independent continuous entries satisfy Assumption 1 almost surely, "
              "for every R (conditioning is only reported: 'almost surely' says nothing about it)",
    number="Lemma 3",
    pages="p. 6 (proof App. E.2, p. 27)",
    status="statement confirmed (v3 p. 6); checked numerically on random draws from several continuous "
           "distributions (every Assumption 1 matrix above the singularity threshold, for every R); the proof's "
           "step, a random matrix is non-singular with probability 1, is Lemma 6 (App. C.2, p. 20), claim lemma6",
    formulas={"singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
))
