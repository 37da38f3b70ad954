"""Claim ``assumption_linear`` — the non-singularity hypothesis of arXiv 2310.17513v3, Lemma 1 (p. 3), as checked."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION_LINEAR = register(Claim(
    id="assumption_linear",
    reference="arXiv 2310.17513v3, Lemma 1 (hypotheses, p. 3)",
    statement="the matrices the Lemma 1 construction solves with (frozen suffixes, ∏W + LR_r(E) prefixes) are "
              "checked; a numerically singular one raises AssumptionViolated naming the layer and σ_min/σ_max",
    number="Lemma 1 (hypotheses)",
    pages="p. 3",
    status="hypothesis confirmed as printed (v3 p. 3: every W_l and ∏W + LR_r(E) non-singular for all r ≤ "
           "R(L−1)); the construction solves only with r ∈ {R, 2R, …, (L−1)R}, a subset of the printed range; "
           "the checker is checked on planted singular instances (the named matrix and its σ_min/σ_max)",
    formulas={
        "prefix_ranks": F.LINEAR_PREFIX_RANKS,
        "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE,
    },
))
