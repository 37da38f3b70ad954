"""Claim ``lemma2`` — arXiv 2310.17513 v3, Lemma 2 (numbering not yet confirmed)."""

from __future__ import annotations

import sympy as sp

from lora_theory.claims import Claim, register

LEMMA2 = register(Claim(
    id="lemma2",
    reference="arXiv 2310.17513 v3, Lemma 2",
    statement="frozen and target weights with independent continuous entries satisfy Assumption 1 almost surely, "
              "for every R (conditioning is only reported: 'almost surely' says nothing about it)",
    status="numbering not yet confirmed against the paper's PDF; proof idea is SPEC's own argument",
    formulas={"singularity_threshold": sp.Float(1e-13)},
))
