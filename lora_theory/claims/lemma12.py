"""Claim ``lemma12`` — final-layers tuning in general: arXiv 2310.17513v3, Lemma 12 (App. E.4, p. 32; proof pp. 32–33).
The certificate and the counterexample are in :mod:`lora_theory.analysis.tfl`."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

LEMMA12 = register(Claim(
    id="lemma12",
    reference="arXiv 2310.17513v3, Lemma 12 (App. E.4, p. 32)",
    statement="with I_l = {x : ∏_{i≤l}W_i x + Σ_i ∏_{j=i+1}^{l}W_j b_i ≤ 0} (Ī_i for the target): if some l ∈ [L−1] "
              "has I_l ∖ ∪_i Ī_i ≠ ∅ and the target's weights are non-singular, no tuning of the last L − l layers "
              "gives f = f̄",
    number="Lemma 12",
    pages="p. 32",
    status="statement confirmed (v3 p. 32, proof pp. 32–33); exact rational certificates (two points the frozen "
           "layers 1..l map to the same hidden value, the target separates them) found on instances with a known "
           "point of I_l ∖ ∪Ī_i and an active prefix; the statement as printed is refuted for L̄ = 2 by an exact "
           "counterexample (lemma12_counterexample: hypothesis holds, yet f̄ ≡ 0 and tuning the last layer matches "
           "it) — the proof reads x ∉ ∪Ī_i as 'every target ReLU active'",
    formulas={"singularity_threshold": F.SINGULARITY_THRESHOLD_VALUE},
    notes="For l ≥ 2 the paper's I_l composes the layers without their ReLUs: it is the dead set of layer l only "
          "where layers 1..l−1 are active; the certificate checks the actual network. With L̄ = 1 and l = 1 the "
          "statement holds (I_1 ∖ Ī_1 is relatively open in the convex body I_1, so it has an interior point with an "
          "active target unit).",
))
