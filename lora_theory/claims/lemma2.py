"""Claim ``lemma2`` — arXiv 2310.17513v3, Lemma 2 (one-layer target, p. 5; detailed version Lemma 9, App. E.1,
p. 25)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ONE_LAYER_FNN = register(Claim(
    id="lemma2",
    reference="arXiv 2310.17513v3, Lemma 2 (p. 5; detailed version Lemma 9, p. 25)",
    statement="L̄ = 1: LoRA + biases realise ReLU((∏W + LR_{min(RL, R_E)}(E))x + b̄) on a bounded domain for every "
              "R; exact iff R ≥ ⌈R_E/L⌉",
    status="wording not yet confirmed against the paper's PDF",
    formulas={"threshold": F.ONE_LAYER_THRESHOLD,
              "realised_rank": F.ONE_LAYER_REALISED_RANK},
))
