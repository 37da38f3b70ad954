"""Claim ``theorem7_gap`` — the rank-based functionality gap G_i of arXiv 2310.17513v3, Theorem 7 (eq. (23), p. 37)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

TFN_GAP = register(Claim(
    id="theorem7_gap",
    reference="arXiv 2310.17513v3, Theorem 7 (functionality gap G_i, eq. (23), p. 37)",
    statement="G_i = max_h rank of the value/output and score discrepancies seen through W_1 and the previous "
              "block's W_2 (G_{L+1} for the output layer) equals the ranks the construction factorises, and G_i ≤ D",
    status="shape believed right; the i = 1 case (whether it contains W_11, W̄_11) not yet confirmed against the "
           "paper's PDF — the construction needs them, so they are included",
    formulas={"threshold": F.THEOREM7_THRESHOLD_DISPLAY, "bound": F.THEOREM7_WORST_CASE},
))
