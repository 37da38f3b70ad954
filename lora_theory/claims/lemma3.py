"""Claim ``lemma3`` — random weights satisfy Assumption 1 almost surely: arXiv 2310.17513v3, Lemma 3 (p. 6; proof in
App. E.2, p. 27). The claim id keeps its historical name; the paper's Lemma 2 is claim ``lemma2``."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA2 = register(Claim(
    id="lemma3",
    reference="arXiv 2310.17513v3, Lemma 3 (p. 6)",
    statement="frozen and target weights with independent continuous entries satisfy Assumption 1 almost surely, "
              "for every R (conditioning is only reported: 'almost surely' says nothing about it)",
    status="the paper numbers this statement Lemma 3 (the id is historical); wording not yet confirmed against the "
           "paper's PDF; the proof idea checked here is this package's own argument",
    formulas={"singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
))
