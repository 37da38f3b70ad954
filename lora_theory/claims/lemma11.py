"""Claim ``lemma11`` — random weights satisfy Assumption 2 almost surely: arXiv 2310.17513v3, Lemma 11 (App. E.3,
p. 31)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA11 = register(Claim(
    id="lemma11",
    reference="arXiv 2310.17513v3, Lemma 11 (App. E.3, p. 31)",
    statement="frozen and target weights with independent continuous entries satisfy Assumption 2 almost surely, "
              "for every partition and every per-layer rank sequence (in both readings of its LR_r argument; "
              "conditioning is only reported: 'almost surely' says nothing about it)",
    number="Lemma 11",
    pages="p. 31",
    status="statement confirmed (v3 p. 31; its proof is one line referring to Lemmas 3 and 10); checked "
           "numerically on small well-scaled random draws with random consecutive partitions and per-layer ranks "
           "(every listed σ_min/σ_max above the singularity threshold, both readings), and on unconditioned "
           "N(0, 1/D) and Xavier draws where the construction must answer",
    formulas={"range": F.ASSUMPTION2_RANGE, "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
))
