"""Claim ``lemma2`` — arXiv 2310.17513v3, Lemma 2 (one-layer target, p. 5; detailed version Lemma 9, App. E.1,
p. 25). The bound's two forms (printed with ‖Σ‖_F, provable with tr Σ) are computed for a construction and a sample by
:func:`lora_theory.analysis.one_layer.lemma2_bounds`; the printed form's failure is also claim ``lemma2_printed``."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ONE_LAYER_FNN = register(Claim(
    id="lemma2",
    reference="arXiv 2310.17513v3, Lemma 2 (p. 5; detailed version Lemma 9, p. 25)",
    statement="L̄ = 1: LoRA + biases realise ReLU((∏W + LR_{min(RL, R_E)}(E))x + b̄) on a bounded domain for every "
              "R, exact iff R ≥ ⌈R_E/L⌉; the error obeys E‖f(x) − f̄(x)‖² ≤ tr(Σ)·σ²_{RL+1}(E) (the paper prints "
              "‖Σ‖_F in place of tr Σ)",
    number="Lemma 2",
    pages="p. 5 (detailed: Lemma 9, p. 25)",
    status="statement confirmed (v3 p. 5; Lemma 9, pp. 25–26); realised weight and exactness checked numerically "
           "(float64, tolerance model); the provable bound tr(Σ)·σ²_{RL+1}(E) checked pointwise and on the "
           "empirical measure of random, adversarial and worst-direction samples; the printed bound "
           "‖Σ‖_F·σ²_{RL+1}(E) shown to fail on a tied-tail instance (App. C.1's '‖A‖_F = tr(A)' is false for "
           "rank Σ ≥ 2)",
    formulas={"threshold": F.ONE_LAYER_THRESHOLD,
              "realised_rank": F.ONE_LAYER_REALISED_RANK,
              "error_sigma": F.LEMMA2_SIGMA,
              "bound_printed": F.LEMMA2_BOUND_PRINTED,
              "bound_provable": F.LEMMA2_BOUND_PROVABLE},
    notes="The residual of the construction is ReLU(W̄x + b̄ + Mx) − ReLU(W̄x + b̄) with M = LR_k(E) − E (Mx without "
          "the final ReLU); the paper writes ReLU(Mx) (p. 25). ‖f − f̄‖ ≤ ‖Mx‖ ≤ σ_{RL+1}(E)‖x‖ holds pointwise, so the "
          "provable bound holds for every input distribution.",
))
