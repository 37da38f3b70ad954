"""Claim ``lemma2_printed`` — arXiv 2310.17513v3, Lemma 2 (p. 5; detailed version Lemma 9, p. 25), the squared-error
bound exactly as printed (‖Σ‖_F), kept apart from ``lemma2`` because the paper's construction exceeds it on an
instance (:mod:`lora_theory.analysis.errata`, entry ``lemma2_bound``)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA2_PRINTED = register(Claim(
    id="lemma2_printed",
    reference="arXiv 2310.17513v3, Lemma 2 (printed bound, p. 5; Lemma 9, p. 25)",
    statement="the printed bound E‖f(x) − f̄(x)‖₂² ≤ ‖Σ‖_F·σ²_{RL+1}(E) for a one-layer target: the construction "
              "exceeds it when E has a tied tail and Σ = I (D = 6, L = 2, R = 1, σ(E) = (4, 2, 1, 1, 1, 1), inputs "
              "±√6·e_j: error 4 > √6 ≈ 2.449) and stays within the provable tr Σ·σ²_{RL+1}(E) = 6; this does not "
              "decide the existential claim. On random draws the printed bound is only reported (how often it "
              "holds), the provable one is checked",
    status="statement confirmed as printed (v3 p. 5; Lemma 9, p. 25); the proof's last step (p. 26) uses "
           "E‖x‖₂² = ‖Σ‖_F from \"‖A‖_F = tr(A) for symmetric A\" (App. C.1, p. 19), false for rank Σ > 1; the "
           "construction exceeds the printed bound on the tied-tail instance (float64, tolerance model; the "
           "expected values are closed forms) and satisfies tr Σ·σ²_{RL+1}(E) on it and on random draws",
    formulas={
        "bound_printed": F.LEMMA2_STATEMENT_PRINTED,
        "bound_provable": F.LEMMA2_STATEMENT_PROVABLE,
    },
    number="Lemma 2",
    pages="p. 5",
))
