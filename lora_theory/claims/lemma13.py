"""Claim ``lemma13`` — random weights satisfy Assumption 3 almost surely: arXiv 2310.17513v3, Lemma 13 (single-head
TFN, App. F.1, p. 34)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA13 = register(Claim(
    id="lemma13",
    reference="arXiv 2310.17513v3, Lemma 13 (App. F.1, p. 34)",
    statement="frozen and target single-head TFN weights with independent continuous entries satisfy Assumption 3 "
              "almost surely (its list runs over r ∈ [D], so it holds at every LoRA rank R ∈ [D]); conditioning is "
              "only reported: 'with probability 1' says nothing about it",
    number="Lemma 13",
    pages="p. 34",
    status="statement confirmed (v3 p. 34: 'Assumption 3 holds with probability 1'; the proof only points to the "
           "steps of Lemma 3); checked numerically on conditioned and unconditioned (N(0, 1/D), Xavier) random "
           "single-head pairs at every R ∈ [D]: every listed matrix is above the singularity threshold, and a "
           "planted singular weight stops being singular under a small continuous perturbation",
    formulas={"singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
))
