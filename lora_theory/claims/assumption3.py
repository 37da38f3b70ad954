"""Claim ``assumption3`` — arXiv 2310.17513v3, Assumption 3 (non-singularity for the single-head TFN, App. F.1,
p. 34)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION3 = register(Claim(
    id="assumption3",
    reference="arXiv 2310.17513v3, Assumption 3 (App. F.1, p. 34)",
    statement="the checker reports σ_min/σ_max of every weight of both single-head TFNs (W_Q, W_K, W_V, W_1, W_2 per "
              "block, W_o; no W_O) and, for every r ∈ [D], of the five families W_KᵀW_Q + LR_r(·) (l = 1; l > 1 "
              "through W_{2,l−1}⁻¹ and W̄_{2,l−1}), W_1W_V + LR_r(W̄_1W̄_V(·) − W_1W_V) (l = 1; l > 1) and "
              "W_oW_2L + LR_r(W̄_oW̄_2L − W_oW_2L), each named by block, family and r; a planted singular matrix is "
              "the one entry it flags, the Theorem 8 construction refuses it by name exactly when it solves with "
              "it, and a singular frozen W_2 of a block < L (which the list inverts) is refused by name",
    number="Assumption 3",
    pages="p. 34",
    status="statement confirmed (v3 p. 34: all weights of both models and the five families for r ∈ [D]); the "
           "checker is checked on planted instances where exactly one listed matrix is singular (each family at "
           "l = 1 and l > 1, each weight), against the sympy count of the list, off the generators (Gaussian, "
           "Xavier, tiny changes, zero discrepancy, singular weights, overflow) and against the refusals of the "
           "Theorem 8 construction",
    formulas={"count": F.ASSUMPTION3_COUNT, "singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
    notes="as printed the score entries for l > 1 read W_Kl W_Ql where W_Klᵀ W_Ql is meant (the l = 1 entry, Theorem "
          "8's G_i and its proof, p. 36, have the transpose); the checker lists the meant matrix. Unlike Assumption 4 "
          "(r ∈ [R]) the list runs over r ∈ [D], independent of R. The Theorem 8 construction solves with frozen "
          "W_K, W_1 and W_o (second factors of the chains (W_Q, W_Kᵀ), (W_V, W_1), (W_2L, W_o)), frozen W_2 and "
          "target W̄_2 of blocks < L, and of each family only the entry r = R; the other entries are listed but "
          "never used. It also solves with W̃_o = W_o + ΔW_o for the last bias, which the list does not name",
))
