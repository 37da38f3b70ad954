"""Claim ``theorem7`` — arXiv 2310.17513v3, Theorem 7 (transformer networks, same-size target, p. 8; restated with
eq. (23) on pp. 37–38)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, ThresholdArgs, ThresholdSpec, register
from lora_theory.errors import DomainError


def _bind(args: ThresholdArgs) -> tuple[dict, list[str]]:
    if args.width < 1:
        raise DomainError(f"--width must be >= 1; got {args.width}")
    for flag, value in (("--depth", args.depth), ("--heads", args.heads), ("--target-depth", args.target_depth)):
        if value is not None and value < 1:
            raise DomainError(f"{flag} must be >= 1; got {value}")
    if args.target_depth is not None and args.depth is not None and args.target_depth != args.depth:
        raise DomainError(f"--target-depth {args.target_depth} ≠ --depth {args.depth}: Theorem 7 covers same-size "
                          "targets only (the paper gives no result for shallower TFN targets)")
    D = args.width
    if args.discrepancy_rank is None:
        g, why = D, f"G_max = D = {D} (gaps not given: worst case, G_i = D for random targets)"
    else:
        if not 0 <= args.discrepancy_rank <= D:
            raise DomainError(f"--discrepancy-rank must be in 0..D={D}; got {args.discrepancy_rank}")
        g, why = args.discrepancy_rank, f"G_max = {args.discrepancy_rank} (largest rank-based functionality gap)"
    given = ", ".join(f"{name} = {v}" for name, v in (("L", args.depth), ("H", args.heads)) if v is not None)
    independent = "the threshold does not depend on the depth L or the heads H" + (f" ({given})" if given else "")
    return {F.G_max: g}, [why, independent,
                          "each head's score and value chains and the output chain are two-factor Lemma 1 chains, "
                          "exact iff 2R ≥ their discrepancy rank"]


THEOREM7 = register(Claim(
    id="theorem7",
    reference="arXiv 2310.17513v3, Theorem 7 (p. 8; restated with eq. (23), pp. 37–38)",
    statement="same-size TFN: rank-R adapters on W_Q, W_K, W_V, W_O (every head and block), W_2 of the last block "
              "and W_o, with updated biases, make f(X) = f̄(X) for every X ∈ R^{D×N} and every N iff-for-the-"
              "construction R ≥ max_i ⌈G_i/2⌉ (≤ ⌈D/2⌉)",
    number="Theorem 7",
    pages="p. 8 (restated with eq. (23), pp. 37–38)",
    status="statement confirmed (v3 p. 8; pp. 37–38), including the adapted set and ΔW_1l = 0, ΔW_2l = 0 for l < "
           "L (proof, p. 38); its hypothesis Assumption 4 (p. 37) is claim assumption4; construction checked "
           "numerically and by an exact rational certificate; the paper gives no error bound below the threshold "
           "and no result for shallower targets, and none is invented here",
    formulas={"threshold": F.THEOREM7_THRESHOLD, "threshold_by_block": F.THEOREM7_THRESHOLD_DISPLAY,
              "worst_case": F.THEOREM7_WORST_CASE},
    threshold=ThresholdSpec(model="tfn", formula=F.THEOREM7_THRESHOLD, bind=_bind),
))
