"""Claim ``lemma4`` — final layers tuning: arXiv 2310.17513v3, Lemma 4 (p. 7; restated with its proof p. 33; general
version Lemma 12, App. E.4, p. 32, claim ``lemma12``). See :mod:`lora_theory.analysis.tfl` for the certificates, the
domain caveat, the D = 1 exemption and the gap in the proof."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA4_FINAL_LAYERS = register(Claim(
    id="lemma4",
    reference="arXiv 2310.17513v3, Lemma 4 (p. 7; restated p. 33)",
    statement="final layers tuning: for D ≥ 2, a one-layer target and frozen weights with independent continuous "
              "entries, with probability 1 no tuning of the last L − 1 layers gives f = f̄; LoRA with R ≥ ⌈D/L⌉ on "
              "every layer is exact on bounded domains",
    number="Lemma 4",
    pages="p. 7 (restated p. 33)",
    status="statement confirmed (v3 p. 7, restated p. 33); non-representability checked by certificates (two inputs "
           "with the same first-layer output, target outputs apart by ≥ 10³ times their rounding bound; and, where "
           "I_1 ∖ Ī_1 ≠ ∅, exact rational Lemma 12 certificates), the LoRA contrast numerically (float64, tolerance "
           "model); the proof's step 'I_1 ∖ Ī_1 = ∅ only when W_1 = W̄_1' (p. 33) is false: I_1 ⊆ Ī_1 with "
           "positive probability (decided exactly), where the single-unit certificate still proves the lemma",
    formulas={
        "tfl_parameter_count": F.TFL_PARAMETER_COUNT,
        "tfl_parameter_count_plot": F.TFL_PARAMETER_COUNT_PLOT,
        "lora_threshold": F.LORA_ONE_LAYER_THRESHOLD,
    },
    notes="Domain caveat: on a region where every first-layer unit is positive, final layers tuning can match a "
          "one-layer target (tfl_local_match); the non-representability needs a domain reaching negative units, so "
          "checks use a ball containing the certificate points. D = 1 is exempt (final layers tuning matches with "
          "positive probability). The paper counts (L − 1)D² tuned weights; with biases k(D² + D).",
))
