"""Claim ``corollary10`` — random multi-head TFNs: arXiv 2310.17513v3, Corollary 10 (App. F.2, p. 39)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

COROLLARY10 = register(Claim(
    id="corollary10",
    reference="arXiv 2310.17513v3, Corollary 10 (App. F.2, p. 39)",
    statement="random frozen and target multi-head TFNs (continuous entries): R ≥ ⌈D/2⌉ makes the Theorem 7 "
              "construction exact for every input almost surely; at R = ⌈D/2⌉ − 1 (D ≥ 3) it is not exact on "
              "generic draws (no impossibility for other adapters is claimed)",
    number="Corollary 10",
    pages="p. 39",
    status="statement confirmed (v3 p. 39: R ≥ ⌈D/2⌉, adapters on every head's W_Q, W_K, W_V, W_O, on W_2L and "
           "W_o, biases tuned); checked numerically on random multi-head draws (chain identities and outputs "
           "within the construction's tolerance at R ≥ ⌈D/2⌉, chains and outputs outside it one rank below); for "
           "D ≤ 2, ⌈D/2⌉ − 1 = 0 is no LoRA rank, so the 'one below' side starts at D = 3",
    formulas={"threshold": F.COROLLARY10_THRESHOLD},
))
