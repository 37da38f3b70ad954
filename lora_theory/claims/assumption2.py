"""Claim ``assumption2`` — arXiv 2310.17513v3, Assumption 2 (App. E.3, p. 31): non-singularity for a general
partition and per-layer ranks."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION2 = register(Claim(
    id="assumption2",
    reference="arXiv 2310.17513v3, Assumption 2 (App. E.3, p. 31)",
    statement="for a partition P and per-layer ranks R_l the checker reports σ_min/σ_max of every W_l and of every "
              "∏_{P_i}W + LR_r(W̄_i − ∏_{l∈P_i}W_l), r ≤ Σ_{l=min P_i}^{max P_i−1} R_l (reading 'needed', the "
              "matrices the construction solves with); reading 'printed' puts ∏_{l=min P_i}^{max P_i−1}W_l (the block "
              "without its last layer) inside LR_r, as printed. The two readings list different matrices: an "
              "instance singular under one reading only exists in both directions, and only the needed reading "
              "decides whether the construction can solve",
    number="Assumption 2",
    pages="p. 31",
    status="statement confirmed (v3 p. 31) including the product ∏_{l=min P_i}^{max P_i−1}W_l inside LR_r, which "
           "is probably a typo for ∏_{l∈P_i}W_l (Assumption 1, p. 6, has the latter); the reading the construction "
           "needs was derived from the construction (Lemma 1/Lemma 8 on the block's chain: the adapted prefix before "
           "layer l satisfies Suf_l·Pre_l = ∏_{P_i}W + LR_r(W̄_i − ∏_{P_i}W), r the partial sums of the block's "
           "ranks) and checked numerically on planted instances of both kinds",
    formulas={"range": F.ASSUMPTION2_RANGE, "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
    notes="Checker: lora_theory.analysis.fnn.assumption2_report(frozen, target, rank, partition, "
          "reading='needed'|'printed'). The ranges r are the same in both readings; for a one-layer block both "
          "list only r = 0, i.e. ∏_{P_i}W itself, so the readings can differ only on blocks of two or more layers.",
))
