"""Claim ``hetero_ranks`` — per-layer ranks (derived in SPEC §6.2 from arXiv 2310.17513 v3, Lemma 1)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

HETERO_RANKS = register(Claim(
    id="hetero_ranks",
    reference="derived from arXiv 2310.17513 v3, Lemma 1 (SPEC §6.2)",
    statement="per-layer ranks R_l: optimal error σ_{ΣR_l+1}(E); exact iff Σ_l R_l ≥ rank(E) — only the total "
              "budget matters",
    status="derived (not a statement of the paper); confirmed numerically for the linear chain",
    formulas={
        "total_rank": F.HETERO_TOTAL_RANK,
        "exact_iff": F.HETERO_EXACT,
        "spectral_error": F.HETERO_SPECTRAL_ERROR,
    },
))
