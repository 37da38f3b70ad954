"""Claim ``appendix_h`` — different widths, D̄ ≤ D: arXiv 2310.17513v3, Appendix H (pp. 45–46). The padding of the
target is :mod:`lora_theory.constructions.widths`."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

APPENDIX_H = register(Claim(
    id="appendix_h",
    reference="arXiv 2310.17513v3, Appendix H (pp. 45–46)",
    statement="a width-D̄ target and a wider frozen model (D̄ ≤ D), inputs [x; 0], first D̄ outputs compared: with the "
              "expanded target W̃ (top-left block W̄, other entries from ∏W) rank(E) ≤ D̄, so LoRA is exact iff "
              "R ≥ ⌈rank(E)/L⌉ and R ≥ ⌈D̄/L⌉ always suffices (linear); the FNN analogue with R ≥ ⌈D̄/⌊L/L̄⌋⌉",
    number="Appendix H",
    pages="pp. 45–46",
    status="statement confirmed (v3 pp. 45–46; no numbered theorem, linear and FNN only); checked numerically "
           "(float64, tolerance model) with the Lemma 1 and Theorem 3 constructions on padded targets; the printed "
           "threshold R ≥ ⌊D̄/L⌋ (p. 46) is refuted (D̄ = 5, L = 2, D = 6: R = 2 leaves σ_5(E) > 0), the ceiling "
           "⌈D̄/L⌉ is exact; the FNN padding (the paper: 'a similar analysis can be conducted') is derived here",
    formulas={"threshold": F.APPENDIX_H_THRESHOLD,
              "threshold_printed": F.APPENDIX_H_THRESHOLD_PRINTED,
              "exact_threshold": F.LEMMA1_THRESHOLD,
              "fnn_threshold": F.APPENDIX_H_FNN_THRESHOLD},
    notes="The paper states the objective in the Frobenius norm and then applies Lemma 1 (spectral); both are zero "
          "at the threshold. Only the first D̄ outputs are compared (the padded outputs of the linear expanded target "
          "are ∏W's, not 0). FNN padding: W̃_i = [[W̄_i, Π₁₂], [0, Π₂₂]] of the block product Π, b̃_i = [b̄_i; 0]: "
          "rank(E_i) ≤ D̄ and the padded hidden coordinates stay 0 on [x; 0].",
))
