"""Claim ``theorem3`` — arXiv 2310.17513v3, Theorem 3 (ReLU FNN, uniform partition, p. 6)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, ThresholdArgs, ThresholdSpec, register
from lora_theory.errors import DomainError
from lora_theory.partition import check_depths, uniform_partition


def _bind(args: ThresholdArgs) -> tuple[dict, list[str]]:
    if args.width < 1:
        raise DomainError(f"--width must be >= 1; got {args.width}")
    if args.heads is not None:
        raise DomainError(f"--heads does not apply to --model fnn; got {args.heads}")
    if args.target_depth is None:
        raise DomainError("--model fnn needs --target-depth L̄ (1 ≤ L̄ ≤ L)")
    try:
        L, Lbar = check_depths(args.depth, args.target_depth)
    except Exception as exc:  # DepthError → the CLI's one-line DomainError wording
        raise DomainError(f"--depth/--target-depth: {exc}") from None
    D = args.width
    if args.discrepancy_rank is None:
        k, why = D, f"R_Emax = D = {D} (block discrepancy ranks not given: worst case, full rank)"
    else:
        if not 0 <= args.discrepancy_rank <= D:
            raise DomainError(f"--discrepancy-rank must be in 0..D={D}; got {args.discrepancy_rank}")
        k, why = args.discrepancy_rank, f"R_Emax = {args.discrepancy_rank} (max_i rank(W̄_i − ∏_(P_i) W), given)"
    M = L // Lbar
    lines = [why, f"L = {L}, L̄ = {Lbar}: M = ⌊L/L̄⌋ = {M}; uniform partition block sizes {uniform_partition(L, Lbar)}",
             "optimal consecutive partition when every block has the same discrepancy rank: the uniform one "
             "(its smallest block, M layers, is the largest possible)"]
    if args.discrepancy_rank is None:
        theorem, abstract = F.threshold_gap(D, L, Lbar)
        if abstract != theorem:
            lines.append(f"note: the abstract's informal threshold D·L̄/L gives ⌈{D}·{Lbar}/{L}⌉ = {abstract} < "
                         f"{theorem}, because L̄ does not divide L (claim abstract_threshold)")
    return {F.R_max: k, F.L: L, F.Lbar: Lbar}, lines


THEOREM3 = register(Claim(
    id="theorem3",
    reference="arXiv 2310.17513v3, Theorem 3 (p. 6; restated App. E.2, p. 28)",
    statement="ReLU FNN, uniform partition: with R ≥ ⌈max_i rank(E_i)/M⌉ (M = ⌊L/L̄⌋) LoRA adapters and updated "
              "biases make the frozen FNN equal the target on a bounded domain",
    number="Theorem 3",
    pages="p. 6 (restated p. 28)",
    status="statement confirmed (v3 p. 6, restated p. 28) with ReLU after every layer, the last included (Sec. "
           "3.2, p. 5); the properties also check the convention without a final ReLU; construction checked "
           "numerically (float64, tolerance model, adversarial domain points) and by an exact rational "
           "certificate",
    formulas={"threshold": F.THEOREM3_THRESHOLD, "M": F.M_EXPR, "parameter_count": F.FNN_PARAMETER_COUNT},
    threshold=ThresholdSpec(model="fnn", formula=F.THEOREM3_THRESHOLD, bind=_bind),
))
