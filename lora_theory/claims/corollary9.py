"""Claim ``corollary9`` — random single-head TFNs: arXiv 2310.17513v3, Corollary 9 (App. F.1, p. 36)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

COROLLARY9 = register(Claim(
    id="corollary9",
    reference="arXiv 2310.17513v3, Corollary 9 (App. F.1, p. 36)",
    statement="random frozen and target single-head TFNs (continuous entries): R ≥ ⌈D/2⌉ makes the Theorem 8 "
              "construction exact for every input with probability 1 (every G_i = D); at R = ⌈D/2⌉ − 1 (D ≥ 3) it "
              "is not exact on generic draws (no impossibility for other adapters is claimed)",
    number="Corollary 9",
    pages="p. 36",
    status="statement confirmed (v3 p. 36, end of App. F.1: R ≥ ⌈D/2⌉, adapters on W_K, W_Q, W_V, W_1 of every "
           "block, W_2L and W_o, biases tuned; proof by Lemma 13 and Theorem 8); checked numerically on random "
           "single-head draws (gaps G_i = D, "
           "chain identities and outputs — softmax and logits — within the construction's tolerance at ⌈D/2⌉, "
           "chains and logits outside it one rank below); for D ≤ 2, ⌈D/2⌉ − 1 = 0 is no LoRA rank, so the "
           "'one below' side starts at D = 3",
    formulas={"threshold": F.COROLLARY9_THRESHOLD},
))
