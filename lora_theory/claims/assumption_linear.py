"""Claim ``assumption_linear`` — the non-singularity hypothesis of arXiv 2310.17513v3, Lemma 1 (p. 3), as checked."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION_LINEAR = register(Claim(
    id="assumption_linear",
    reference="arXiv 2310.17513v3, Lemma 1 (hypotheses, p. 3)",
    statement="the matrices the Lemma 1 construction solves with (frozen suffixes, ∏W + LR_r(E) prefixes) are "
              "checked; a numerically singular one raises AssumptionViolated naming the layer and σ_min/σ_max",
    status="hypothesis as stated with Lemma 1 (every W_l and ∏W + LR_r(E) non-singular for r ≤ R(L−1)); the "
           "construction needs only r ∈ {R, 2R, …, (L−1)R}, narrower than the stated r ≤ R(L−1); exact wording not "
           "yet confirmed against the paper's PDF",
    formulas={
        "prefix_ranks": F.LINEAR_PREFIX_RANKS,
        "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE,
    },
))
