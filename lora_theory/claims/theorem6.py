"""Claim ``theorem6`` — arXiv 2310.17513v3, Theorem 6 (general partitions, p. 7; restated in App. E.3,
p. 32), in its uniform-rank case."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

GENERAL_PARTITION = register(Claim(
    id="theorem6",
    reference="arXiv 2310.17513v3, Theorem 6 (p. 7; uniform ranks R_l = R)",
    statement="any consecutive partition P: R ≥ max_i ⌈rank(E_i)/|P_i|⌉ (E_i for this partition) makes the "
              "construction exact; the best partition (dynamic programming) is never worse than the uniform one",
    status="Theorem 6 is stated for per-layer ranks; this is its uniform-rank case; wording and its "
           "non-singularity range (Assumption 2, App. E.3) not yet confirmed against the paper's PDF; the "
           "optimal-partition search is this package's addition",
    formulas={"threshold": F.GENERAL_THRESHOLD},
))
