"""Claim ``lemma8`` — per-layer ranks: arXiv 2310.17513v3, Lemma 8 (App. D, p. 24), the per-layer version of
Lemma 1."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

HETERO_RANKS = register(Claim(
    id="lemma8",
    reference="arXiv 2310.17513v3, Lemma 8 (App. D, p. 24; per-layer version of Lemma 1)",
    statement="per-layer ranks R_l: optimal error σ_{ΣR_l+1}(E); exact iff Σ_l R_l ≥ rank(E) — only the total "
              "budget matters",
    number="Lemma 8",
    pages="p. 24",
    status="statement confirmed (v3 p. 24): error σ_{ΣR_l+1}(E), exact when Σ_l R_l ≥ rank(E), non-singularity "
           "for r ≤ Σ_{l<L} R_l; checked numerically for the linear chain, including splits where only the total "
           "budget reaches rank(E)",
    formulas={
        "total_rank": F.HETERO_TOTAL_RANK,
        "exact_iff": F.HETERO_EXACT,
        "spectral_error": F.HETERO_ERROR_2NORM,
    },
))
