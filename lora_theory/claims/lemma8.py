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
    status="derived from Lemma 1's construction (arXiv 2310.17513v3, p. 3), and stated by the paper as Lemma 8; "
           "wording not yet confirmed against the paper's PDF; confirmed numerically for the linear chain",
    formulas={
        "total_rank": F.HETERO_TOTAL_RANK,
        "exact_iff": F.HETERO_EXACT,
        "spectral_error": F.HETERO_ERROR_2NORM,
    },
))
