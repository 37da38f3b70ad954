"""Claim ``one_layer_fnn`` — arXiv 2310.17513 v3, appendix lemma for a one-layer target."""

from __future__ import annotations

import sympy as sp

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ONE_LAYER_FNN = register(Claim(
    id="one_layer_fnn",
    reference="arXiv 2310.17513 v3, appendix lemma (L̄ = 1)",
    statement="L̄ = 1: LoRA + biases realise ReLU((∏W + LR_{min(RL, R_E)}(E))x + b̄) on a bounded domain for every "
              "R; exact iff R ≥ ⌈R_E/L⌉",
    status="appendix lemma; number and wording not yet confirmed against the paper's PDF",
    formulas={"threshold": F.ONE_LAYER_THRESHOLD,
              "realised_rank": sp.Min(F.R * F.L, F.R_E)},
))
