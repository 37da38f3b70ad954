"""Claim ``assumption4`` — arXiv 2310.17513v3, Assumption 4 (non-singularity for the multi-head TFN, App. F.2,
p. 37)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION4 = register(Claim(
    id="assumption4",
    reference="arXiv 2310.17513v3, Assumption 4 (App. F.2, p. 37)",
    statement="the checker reports σ_min/σ_max of every weight of both TFNs and, for every r ∈ [R], of the five "
              "families W_KᵀW_Q + LR_r(·) (l = 1; l > 1 through W_{2,l−1}⁻¹ and W̄_{2,l−1}), W_OW_V + "
              "LR_r(W_1⁻¹W̄_1W̄_OW̄_V(·) − W_OW_V) (l = 1; l > 1) and W_oW_2L + LR_r(W̄_oW̄_2L − W_oW_2L), each named "
              "by block, head, family and r; a planted singular matrix is the one entry it flags, and a singular "
              "frozen W_1 or W_2 (which the list inverts) is refused by name",
    number="Assumption 4",
    pages="p. 37",
    status="statement confirmed (v3 p. 37: all weights of both models and the five families for r ∈ [R]); the "
           "checker is checked on planted instances where exactly one listed matrix is singular (each family at "
           "l = 1 and l > 1, each weight), against the sympy count of the list, off the generators (Gaussian, "
           "Xavier, diagonal, singular weights) and against the construction's refusals",
    formulas={"count": F.ASSUMPTION4_COUNT, "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
    notes="the Theorem 7 construction solves with frozen W_1 (every block), frozen W_2 and target W̄_2 (blocks < L), "
          "frozen W_K, W_O and W_o (second factors of their chains) and, of each family, only the entry r = R (the "
          "adapted first factor W̃_Q, W̃_V or W̃_2L, needed when the chain's discrepancy rank exceeds R); the entries "
          "r < R are listed but never used. It also solves with W̃_o = W_o + ΔW_o for the last bias, which the list "
          "does not name: W̃_oW̃_2L is W̄_oW̄_2L at the threshold, but the output family at r = 2R below it",
))
