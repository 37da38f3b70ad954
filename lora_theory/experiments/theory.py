"""Theory curves and thresholds for the plots (from the registry formulas in :mod:`lora_theory.formulas`).

* **linear**: the construction's exact expected MSE. For a linear map ``Δ`` and ``x ~ N(0, I_D)``,
  ``E‖Δx‖²/D = tr(ΔᵀΔ)/D = ‖Δ‖_F²/D``; the construction leaves ``Δ = ∏W̃ − W̄`` with ``‖Δ‖_F² = Σ_{i>RL} σ_i(E)²``
  (``LEMMA1_FROBENIUS_ERROR``), so the curve is ``Σ_{i>RL} σ_i(E)²/D`` — metric ``expected_mse``, the same quantity
  as the measured test MSE.
* **FNN**: Theorem 5's tight bound (c) on ``E‖f(x) − f̄(x)‖₂`` (a mean Euclidean norm, **not** an MSE), evaluated
  for the construction on the empirical measure of the test set — metric ``thm5_tight_bound_mean_l2``. It is plotted
  as its own labelled quantity.
* **TFN**: no curve (the paper gives no bound below the threshold).
* **threshold** R: ``LEMMA1_THRESHOLD = ⌈R_E/L⌉``, ``THEOREM3_THRESHOLD = ⌈max_i rank E_i / ⌊L/L̄⌋⌉``,
  ``theorem7_threshold(G) = max_i ⌈G_i/2⌉``, with numerical ranks relative to the operands
  (:func:`lora_theory.numerics.numerical_rank`).
"""

from __future__ import annotations

import math

import torch

from lora_theory import formulas as F
from lora_theory.analysis.bounds import evaluate_bounds
from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.constructions.tfn import tfn_gaps
from lora_theory.domains import Ball
from lora_theory.errors import AssumptionViolated
from lora_theory.experiments.setups import Setup
from lora_theory.numerics import numerical_rank, singular_values

__all__ = ["THEORY_METRICS", "linear_discrepancy_singular_values", "threshold", "theory_value"]

THEORY_METRICS = {"linear": "expected_mse", "fnn": "thm5_tight_bound_mean_l2"}


def linear_discrepancy_singular_values(setup: Setup) -> tuple[torch.Tensor, int]:
    """σ(E) of E = W̄ − ∏W and its numerical rank."""
    P = setup.frozen.product()
    s = singular_values(setup.target - P)
    scale = max(float(singular_values(setup.target)[0]), float(singular_values(P)[0]))
    return s, numerical_rank(s=s, scale=scale)


def threshold(setup: Setup) -> int:
    """The smallest rank at which the construction is exact for this pair."""
    if setup.model == "linear":
        _, rE = linear_discrepancy_singular_values(setup)
        return F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: rE, F.L: setup.frozen.depth})
    if setup.model == "fnn":
        rmax = max(b.rank for b in block_discrepancies(setup.frozen, setup.target))
        return F.evaluate_integer(F.THEOREM3_THRESHOLD, {F.R_max: rmax, F.L: setup.frozen.depth,
                                                         F.Lbar: setup.target.depth})
    return F.theorem7_threshold(tfn_gaps(setup.frozen, setup.target))


def theory_value(setup: Setup, rank: int, test_x: torch.Tensor) -> float | None:
    """The theory curve at ``rank`` (None for the TFN; NaN if the construction's hypothesis fails)."""
    if setup.model == "linear":
        s, rE = linear_discrepancy_singular_values(setup)
        s = s.clone()
        s[rE:] = 0.0  # rounding noise past the numerical rank
        frob = F.evaluate_error(F.LEMMA1_FROBENIUS_ERROR, {F.R: rank, F.L: setup.frozen.depth, F.D: setup.width}, s)
        return frob ** 2 / setup.width
    if setup.model == "fnn":
        radius = float(torch.linalg.vector_norm(test_x, dim=1).max())
        try:
            c = construct_fnn(setup.frozen, setup.target, rank, Ball(setup.width, radius))
        except AssumptionViolated:
            return math.nan
        return evaluate_bounds(c, test_x)["tight"]
    return None
