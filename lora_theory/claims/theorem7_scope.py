"""Claim ``theorem7_scope`` — which matrices Theorem 7 adapts (arXiv 2310.17513v3, Theorem 7, p. 8; restated
pp. 37–38)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

THEOREM7_SCOPE = register(Claim(
    id="theorem7_scope",
    reference="arXiv 2310.17513v3, Theorem 7 (adapted matrices, p. 8)",
    statement="the construction adapts only W_Q, W_K, W_V, W_O of every head and block, W_2 of the last block and "
              "W_o (rank ≤ R each); W_1 (all blocks) and W_2 (earlier blocks) stay exactly frozen; trainable "
              "scalars 2RD(4HL+2) + 2DL",
    number="Theorem 7 (adapted matrices)",
    pages="p. 8 (proof p. 38)",
    status="statement confirmed (v3 p. 8: adapters on W_K, W_Q, W_V, W_O of every head and block, W_2 of the "
           "last block and W_o; the proof, p. 38, sets ΔW_1l and ΔW_2l (l < L) to zero); checked on the "
           "construction's adapters, the frozen matrices compared bit for bit",
    formulas={"parameter_count": F.TFN_PARAMETER_COUNT},
))
