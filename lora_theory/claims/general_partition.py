"""Claim ``general_partition`` — arXiv 2310.17513 v3, appendix theorem on arbitrary partitions."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

GENERAL_PARTITION = register(Claim(
    id="general_partition",
    reference="arXiv 2310.17513 v3, appendix (general partitions)",
    statement="any consecutive partition P: R ≥ max_i ⌈rank(E_i)/|P_i|⌉ (E_i for this partition) makes the "
              "construction exact; the best partition (dynamic programming) is never worse than the uniform one",
    status="appendix theorem; number, wording and its non-singularity range not yet confirmed against the "
           "paper's PDF; the optimal-partition search is this package's addition",
    formulas={"threshold": F.GENERAL_THRESHOLD},
))
