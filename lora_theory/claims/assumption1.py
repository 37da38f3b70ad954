"""Claim ``assumption1`` — arXiv 2310.17513v3, Assumption 1 (non-singularity, uniform partition, pp. 5–6)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

ASSUMPTION1 = register(Claim(
    id="assumption1",
    reference="arXiv 2310.17513v3, Assumption 1 (pp. 5–6)",
    statement="the checker reports σ_min/σ_max of every W_l and every ∏_(P_i)W + LR_r(E_i), r ≤ R(M−1); the FNN "
              "construction refuses (SingularityError naming block and layer) only when a matrix it solves with fails "
              "and its result cannot be certified; a flagged matrix it never solves with (e.g. the first layer of a "
              "block) does not stop it",
    status="content believed right; exact wording not yet confirmed against the paper's PDF; the remainder block "
           "needs r ≤ R(m−1) if rank is spent on all its m layers (derived from the construction, which then runs "
           "Lemma 1 on a chain of m layers)",
    formulas={"range": F.ASSUMPTION1_RANGE},
))
