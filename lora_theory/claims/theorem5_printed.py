"""Claim ``theorem5_printed`` — arXiv 2310.17513v3, Theorem 5 (p. 6), the printed bound (a), kept apart from
``theorem5`` because the paper's construction exceeds it on an adversarial instance (see
:func:`lora_theory.formulas.theorem5_bound_printed` and :mod:`lora_theory.analysis.errata`, entry
``theorem5_beta``)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

THEOREM5_PRINTED = register(Claim(
    id="theorem5_printed",
    reference="arXiv 2310.17513v3, Theorem 5 (printed constant β, p. 6)",
    statement="the printed bound β·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i with "
              "β = max_i(√‖Σ‖_F∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i}∏_{k=j+1}^{i−1}‖W̄_k‖_F‖b̄_j‖₂) ∨ √‖Σ‖_F, as printed "
              "(p. 6); the construction exceeds it on the adversarial instance (D=64, W_1=−I, R=1: error ≈ 5.58 > "
              "2.88) and stays within the provable form (√tr Σ: ≈ 8.10); this does not refute the existential "
              "claim (a zero-output adapter does better). On typical random draws the construction stays below it",
    status="statement confirmed as printed (v3 p. 6, restated p. 29: inner upper index i−1 and the final "
           "∨ √‖Σ‖_F); the construction exceeds it on the adversarial generator (float64, tolerance model, three "
           "seeds) — the proof's step E‖x‖₂ = √‖Σ‖_F rests on \"‖A‖_F = tr(A) for symmetric A\" (App. C.1, p. 19), "
           "false for rank Σ > 1; Jensen gives √tr Σ",
    formulas={
        "epsilon": F.EPSILON_DEF,
        "bound_printed_Lbar2": F.theorem5_bound("printed", 2),
        "beta_final_printed": F.BETA_FINAL_PRINTED,
        "beta_final_provable": F.BETA_FINAL_CORRECTED,
    },
    number="Theorem 5",
    pages="p. 6",
))
