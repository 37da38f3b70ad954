"""Claim ``lemma4`` — final-layers tuning: arXiv 2310.17513v3, Lemma 4 (p. 7; general version Lemma 12, App. E.4,
p. 32). The claim id keeps its historical name. See :mod:`lora_theory.analysis.tfl` for the certificate, the domain
caveat and the D = 1 exemption."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA6_TFL = register(Claim(
    id="lemma4",
    reference="arXiv 2310.17513v3, Lemma 4 (p. 7)",
    statement="tuning all weights and biases of layers 2..L of an L-layer ReLU FNN (layer 1 frozen, random) cannot "
              "match a generic one-layer target ReLU(W̄x + b̄) when D ≥ 2, with probability 1; LoRA with "
              "R ≥ ⌈D/L⌉ on every layer is exact on bounded domains",
    status="the paper numbers this statement Lemma 4 (the id is historical); hypotheses (which weights are random, "
           "any quantitative floor) not yet confirmed against the paper's PDF; the certificate argument and the "
           "domain caveat are derived here (lora_theory.analysis.tfl)",
    formulas={
        "tfl_parameter_count": F.TFL_PARAMETER_COUNT,
        "tfl_parameter_count_plot": F.TFL_PARAMETER_COUNT_PLOT,
        "lora_threshold": F.LORA_ONE_LAYER_THRESHOLD,
    },
    notes="Domain caveat: on a region where every first-layer unit is positive, TFL can match a one-layer target "
          "(tfl_local_match); the non-representability needs a domain reaching negative units, so checks use a "
          "ball containing the certificate points. D = 1 is exempt (TFL matches with positive probability).",
))
