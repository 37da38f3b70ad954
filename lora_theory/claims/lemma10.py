"""Claim ``lemma10`` — one-layer target with per-layer ranks: arXiv 2310.17513v3, Lemma 10 (App. E.1,
pp. 26–27), the per-layer version of Lemma 2."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA10 = register(Claim(
    id="lemma10",
    reference="arXiv 2310.17513v3, Lemma 10 (App. E.1, pp. 26–27)",
    statement="L̄ = 1, per-layer ranks R_l: LoRA (rank(ΔW_l) ≤ R_l) + biases realise "
              "ReLU((∏W + LR_{ΣR_l ∧ R_E}(E))x + b̄) on a bounded domain; exact iff Σ_l R_l ≥ R_E; below, "
              "E‖f(x) − f̄(x)‖₂² ≤ tr Σ·σ²_{ΣR_l+1}(E) (the provable form; the printed ‖Σ‖_F form is an erratum)",
    number="Lemma 10",
    pages="pp. 26–27",
    status="statement confirmed (v3 pp. 26–27): non-singularity for r ≤ Σ_{l<L} R_l, exact when Σ_l R_l ≥ R_E, "
           "squared-error bound printed with ‖Σ‖_F (from the App. C.1 identity '‖A‖_F = tr A', false for PSD Σ of "
           "rank > 1; tr Σ is what the proof's last step gives); construction checked numerically (float64, "
           "tolerance model) for random per-layer rank vectors on both sides of R_E, and the tr Σ bound on the "
           "empirical measure",
    formulas={"realised_rank": F.LEMMA10_REALISED_RANK,
              "exact_iff": F.LEMMA10_EXACT,
              "squared_error_bound": F.LEMMA10_SQUARED_BOUND},
))
