"""Claim ``assumption1`` — arXiv 2310.17513v3, Assumption 1 (non-singularity, uniform partition, pp. 5–6)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION1 = register(Claim(
    id="assumption1",
    reference="arXiv 2310.17513v3, Assumption 1 (p. 6)",
    statement="the checker reports σ_min/σ_max of every W_l and every ∏_(P_i)W + LR_r(E_i), r ≤ R(M−1); the FNN "
              "construction refuses (SingularityError naming block and layer) only when a matrix it solves with fails "
              "and its result cannot be certified; a flagged matrix it never solves with (e.g. the first layer of a "
              "block) does not stop it",
    number="Assumption 1",
    pages="p. 6",
    status="statement confirmed (v3 p. 6: every W_l and ∏_{P_i^u}W + LR_r(W̄_i − ∏_{P_i^u}W) non-singular for r "
           "≤ R(M−1)); the construction spends rank on the first M layers of each uniform block, so the printed "
           "range is the one it needs (a remainder block spent in full would need r ≤ R(m−1)); the checker is "
           "checked on planted singular instances and off the generators",
    formulas={"range": F.ASSUMPTION1_RANGE},
))
