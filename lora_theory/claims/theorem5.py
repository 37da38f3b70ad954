"""Claim ``theorem5`` — arXiv 2310.17513v3, Theorem 5 (ReLU FNN, error below the threshold, p. 6).

The registered bounds are the provable forms: (b) ``variant`` (the printed shape with inner upper index i and final
term √tr Σ) and (c) ``tight`` (the spectral recursion), shown for a symbolic-size example L̄ = 2
(:func:`lora_theory.formulas.theorem5_bound` builds them for any L̄). The printed form (a) is its own entry,
``theorem5_printed``, because the construction is known to exceed it on an adversarial instance.
"""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

THEOREM5 = register(Claim(
    id="theorem5",
    reference="arXiv 2310.17513v3, Theorem 5 (p. 6; restated p. 29, proof pp. 29–31)",
    statement="ReLU FNN below the threshold (R < ⌈max_i rank(E_i)/M⌉): the construction's mean error "
              "E‖f(x) − f̄(x)‖₂ is ≤ the provable bound β_var·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i (√tr Σ form) and "
              "≤ the tight spectral bound Σ_i ∏_{k>i}(‖W̄_k‖₂ + ε_k)·ε_i·m_{i−1} (m_0 = √tr Σ, "
              "m_i = ‖W̄_i‖₂m_{i−1} + ‖b̄_i‖₂), with ε_i = σ_{RM+1}(E_i); every bound vanishes at the threshold",
    number="Theorem 5",
    pages="p. 6 (restated p. 29; proof pp. 29–31)",
    status="printed statement confirmed (v3 p. 6): its β uses √‖Σ‖_F, from the false identity ‖A‖_F = tr A of "
           "App. C.1 (p. 19), checked as claim theorem5_printed; this claim checks the provable variants of the "
           "proof (pp. 29–31): β with √tr Σ, and a tighter spectral form, numerically for the construction (D ≤ "
           "8, L ≤ 4, empirical measure)",
    formulas={
        "epsilon": F.EPSILON_DEF,
        "bound_variant_Lbar2": F.theorem5_bound("variant", 2),
        "bound_tight_Lbar2": F.theorem5_bound("tight", 2),
        "vanishing_threshold": F.THEOREM3_THRESHOLD,
    },
    notes="Evaluated on the empirical measure of a sample (Σ̂ = XᵀX/n), so every inequality holds deterministically "
          "for that measure; the only slack is the rounding tolerance of the construction.",
))
