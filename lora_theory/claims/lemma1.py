"""Claim ``lemma1`` — arXiv 2310.17513v3, Lemma 1 (linear chain, p. 3; detailed version Lemma 7, App. D, p. 20)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, ThresholdArgs, ThresholdSpec, register
from lora_theory.errors import DomainError


def _bind(args: ThresholdArgs) -> tuple[dict, list[str]]:
    for flag, value in (("--target-depth", args.target_depth), ("--heads", args.heads)):
        if value is not None:
            raise DomainError(f"{flag} does not apply to --model linear (a linear chain has a one-matrix target "
                              "and no heads); got {value}".replace("{value}", str(value)))
    if args.width < 1:
        raise DomainError(f"--width must be >= 1; got {args.width}")
    if args.depth is None or args.depth < 1:
        raise DomainError(f"--depth must be given and >= 1; got {args.depth}")
    if args.discrepancy_rank is None:
        k, why = args.width, f"R_E = D = {args.width} (discrepancy rank not given: worst case, full rank)"
    else:
        if not 0 <= args.discrepancy_rank <= args.width:
            raise DomainError(f"--discrepancy-rank must be in 0..D={args.width}; got {args.discrepancy_rank}")
        k, why = args.discrepancy_rank, f"R_E = {args.discrepancy_rank} (rank of W̄ − ∏W, given)"
    return {F.R_E: k, F.L: args.depth}, [why, f"L = {args.depth} (frozen depth)"]


LEMMA1 = register(Claim(
    id="lemma1",
    reference="arXiv 2310.17513v3, Lemma 1 (p. 3; detailed version Lemma 7, App. D, p. 20)",
    statement="linear chain: the best rank-R adapters reach error σ_{RL+1}(W̄ − ∏W) (spectral), the tail energy "
              "(Frobenius); exact iff R ≥ ⌈rank(E)/L⌉",
    number="Lemma 1",
    pages="p. 3 (detailed: Lemma 7, p. 20)",
    status="statement confirmed (v3 p. 3; Lemma 7, p. 20): spectral-norm error σ_{RL+1}(E), non-singularity of "
           "every W_l and of ∏W + LR_r(E) for r ≤ R(L−1); construction checked numerically (float64, tolerance "
           "model) and by an exact rational certificate; the lower bound checked against random and Adam-trained "
           "adapters",
    formulas={
        "threshold": F.LEMMA1_THRESHOLD,
        "error_index": F.LEMMA1_ERROR_INDEX,
        "spectral_error": F.LEMMA1_ERROR_2NORM,
        "frobenius_error": F.LEMMA1_FROBENIUS_ERROR,
        "parameter_count": F.LINEAR_PARAMETER_COUNT,
    },
    threshold=ThresholdSpec(model="linear", formula=F.LEMMA1_THRESHOLD, bind=_bind),
    notes="The lower bound (no adapters of rank ≤ R beat σ_{RL+1}(E)) needs no non-singularity assumption and is "
          "checked against random and Adam-trained adapters.",
))
