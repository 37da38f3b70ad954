"""Claim ``theorem6_printed`` — arXiv 2310.17513v3, Theorem 6 (p. 7; restated in App. E.3, p. 32), the error bound
exactly as printed (β with √‖Σ‖_F), kept apart from ``theorem6`` because the paper's construction exceeds it on a
general-partition instance (:mod:`lora_theory.analysis.errata`, entry ``theorem6_beta``)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

THEOREM6_PRINTED = register(Claim(
    id="theorem6_printed",
    reference="arXiv 2310.17513v3, Theorem 6 (printed constant β, p. 7)",
    statement="the printed bound β·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i with ε_i = σ_{Σ_{l∈P_i}R_l+1}(E_i) and "
              "β = max_i(√‖Σ‖_F∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i}∏_{k=j+1}^{i−1}‖W̄_k‖_F‖b̄_j‖₂) ∨ √‖Σ‖_F: the construction "
              "exceeds it on a non-uniform partition (D = 64, L = 3, L̄ = 2, partition (2, 1), frozen layers "
              "(−I, 10I, 10I), R_l = 1: error ≈ 541 > 317) and stays within the provable form (√tr Σ: ≈ 888); a "
              "zero-output adapter does better, so the existential claim is not refuted. On random draws the "
              "printed bound is only reported (how often it holds), the provable one is checked",
    status="statement confirmed as printed (v3 p. 7, restated p. 32; the same β as Theorem 5, p. 6); its proof "
           "(\"the same steps as Theorem 5\") inherits E‖x‖₂ = √‖Σ‖_F from App. C.1 (p. 19), false for rank Σ > 1; "
           "the construction exceeds the printed bound on the adversarial instance (float64, tolerance model) and "
           "satisfies the provable form there and on random partitions",
    formulas={
        "epsilon": F.THEOREM6_EPSILON_DEF,
        "bound_printed_Lbar2": F.theorem5_bound("printed", 2),
        "beta_final_printed": F.BETA_FINAL_PRINTED,
        "beta_final_provable": F.BETA_FINAL_CORRECTED,
    },
    number="Theorem 6",
    pages="p. 7",
))
