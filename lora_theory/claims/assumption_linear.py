"""Claim ``assumption_linear`` — the non-singularity hypothesis of arXiv 2310.17513 v3, Lemma 1, as checked."""

from __future__ import annotations

import sympy as sp

from lora_theory import formulas as F
from lora_theory.claims import Claim, register
from lora_theory.numerics import SINGULARITY_THRESHOLD

r = sp.Symbol("r", integer=True, nonnegative=True)

ASSUMPTION_LINEAR = register(Claim(
    id="assumption_linear",
    reference="arXiv 2310.17513 v3, Lemma 1 (hypotheses)",
    statement="the matrices the Lemma 1 construction solves with (frozen suffixes, ∏W + LR_r(E) prefixes) are "
              "checked; a numerically singular one raises AssumptionViolated naming the layer and σ_min/σ_max",
    status="hypothesis as in SPEC §6.1; the construction needs only r ∈ {R, 2R, …, (L−1)R}, narrower than the "
           "stated r ≤ R(L−1); exact wording not yet confirmed against the paper's PDF",
    formulas={
        "prefix_ranks": sp.Eq(r, sp.Symbol("j", integer=True, positive=True) * F.R),
        "singularity_threshold": sp.Float(SINGULARITY_THRESHOLD),
    },
))
