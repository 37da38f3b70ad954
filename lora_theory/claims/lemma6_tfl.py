"""Claim ``lemma6_tfl`` — arXiv 2310.17513 v3, Lemma 6 (tuning final layers; SPEC §6.10). See :mod:`lora_theory.analysis.tfl`
for the certificate, the domain caveat and the D = 1 exemption."""

from __future__ import annotations

from lora_theory.analysis.tfl import LORA_ONE_LAYER_THRESHOLD, TFL_PARAMETER_COUNT, TFL_PARAMETER_COUNT_PLOT
from lora_theory.claims import Claim, register

LEMMA6_TFL = register(Claim(
    id="lemma6_tfl",
    reference="arXiv 2310.17513 v3, Lemma 6",
    statement="tuning all weights and biases of layers 2..L of an L-layer ReLU FNN (layer 1 frozen, random) cannot "
              "match a generic one-layer target ReLU(W̄x + b̄) when D ≥ 2, with probability 1; LoRA with "
              "R ≥ ⌈D/L⌉ on every layer is exact on bounded domains",
    status="numbering and hypotheses (which weights are random, any quantitative floor) not yet confirmed against "
           "the paper's PDF; the certificate argument and the domain caveat are derived (SPEC §6.10)",
    formulas={
        "tfl_parameter_count": TFL_PARAMETER_COUNT,
        "tfl_parameter_count_plot": TFL_PARAMETER_COUNT_PLOT,
        "lora_threshold": LORA_ONE_LAYER_THRESHOLD,
    },
    notes="Domain caveat: on a region where every first-layer unit is positive, TFL can match a one-layer target "
          "(tfl_local_match); the non-representability needs a domain reaching negative units, so checks use a "
          "ball containing the certificate points. D = 1 is exempt (TFL matches with positive probability).",
))
