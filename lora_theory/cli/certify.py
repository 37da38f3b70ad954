"""The ``lora-theory certify`` subcommand: build a small integer instance, run an exact rational certificate at (or
below) the exact rank threshold and compare the verdict with the theory.

::

    lora-theory certify --model {linear,fnn,tfn} --width D --depth L [--target-depth L̄] [--heads H] [--rank R]
                        [--discrepancy-rank K] [--seed S] [--json PATH]

* ``linear`` (Lemma 1): :func:`lora_theory.exact.linear.build_integer_linear_instance` (L unimodular layers, target
  ∏W + X Yᵀ with K columns, default K = D) and :func:`lora_theory.exact.linear.certify_linear`; threshold ⌈rank(E)/L⌉.
* ``fnn`` (Theorem 3): :func:`lora_theory.exact.fnn.build_integer_fnn_instance` with block ranks K (one integer for
  every block or ``K1,…,KL̄``; default D), uniform partition, box [−1, 1]^D, and
  :func:`lora_theory.exact.fnn.certify_fnn_box`; threshold ⌈max_i rank(E_i)/⌊L/L̄⌋⌉. ``--target-depth`` defaults to 1.
* ``tfn`` (Theorem 7): :func:`lora_theory.exact.tfn.build_integer_tfn_instance` with gap rank K (the low-gap target)
  or, without ``--discrepancy-rank``, an independent random target; :func:`lora_theory.exact.tfn.certify_tfn`;
  threshold max_i ⌈G_i/2⌉ with the exact gaps. ``--heads`` defaults to 1; ``--target-depth`` may only equal L.

The ranks rank(E), rank(E_i) and the gaps G_i are computed exactly from the instance (never assumed equal to K), and
the threshold is evaluated through :mod:`lora_theory.formulas`. Without ``--rank``, R = max(1, threshold) (R = 0 is
not a LoRA rank). The output is a verdict line (``verdict: equal`` / ``verdict: not equal``), a ``sizes:`` line, a
``theory:`` line and the certificate's ``certificate:`` summary; ``--json PATH`` also writes them (with the sizes
as separate fields) to PATH. Exit codes:

* 0 — the verdict is what the theory says (equal iff R ≥ threshold), also below the threshold;
* 1 — it is not (a bug in a construction or a certificate);
* 2 — an exactly singular matrix (SingularityError: the non-singularity hypothesis fails for this seed): the reason
  goes to stderr on one line. Every bad argument raises a :mod:`lora_theory.errors` exception with a one-line message
  naming the flag (``cli.main`` turns it into exit code 2).

**Limits.** sympy's exact rational arithmetic grows quickly with the size of the instance (and the FNN certificate
evaluates all 2^D vertices of the box), so the sizes are capped: 1 ≤ D ≤ :data:`MAX_WIDTH` = 8,
1 ≤ L ≤ :data:`MAX_DEPTH` = 4, 1 ≤ H ≤ :data:`MAX_HEADS` = 4. The largest allowed instance (TFN, D = 8, L = 4,
H = 4) takes about 7 s.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from lora_theory.cli._common import add_json_argument, check_output_path, write_json
from lora_theory.errors import DepthError, DomainError, RankError, SingularityError

__all__ = ["NAME", "HELP", "DESCRIPTION", "MODELS", "MAX_WIDTH", "MAX_DEPTH", "MAX_HEADS", "add_arguments", "run"]

NAME = "certify"
HELP = "run the exact rational certificate on one small integer instance and print the verdict"
DESCRIPTION = """\
Build one small random integer instance (linear: Lemma 1; fnn: Theorem 3 on the box [-1, 1]^D; tfn: Theorem 7),
compute its exact rank threshold (rank(E), rank(E_i) or the gaps G_i, never assumed) and run the exact rational
certificate at rank R (default: the threshold, at least 1). The verdict (equal / not equal) is compared with the
theory: equal iff R >= threshold, also below the threshold. Sizes are capped (D <= 8, L <= 4, H <= 4) because
exact arithmetic grows quickly.

Exit codes: 0 the verdict is what the theory says; 1 it is not (a construction or certificate bug); 2 bad
arguments, or an exactly singular matrix for this seed (the non-singularity hypothesis fails: try another --seed).

example:
  lora-theory certify --model fnn --width 4 --depth 2 --target-depth 1 --rank 1"""

MODELS = ("linear", "fnn", "tfn")
#: largest width D (sympy's exact arithmetic is slow beyond; the FNN certificate evaluates 2^D vertices)
MAX_WIDTH = 8
#: largest frozen depth L
MAX_DEPTH = 4
#: largest number of heads H (tfn)
MAX_HEADS = 4
#: the FNN certificate runs on the box [−β, β]^D with this β
BOX_HALFWIDTH = 1


def _rank_list(text: str) -> tuple[int, ...]:
    """``K`` or ``K1,K2,…`` → a tuple of ints (range checks happen in :func:`run`)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--discrepancy-rank must be an integer K or a comma-separated list K1,K2,… (fnn); got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``certify`` flags to ``parser`` (the ``certify`` subparser)."""
    parser.add_argument("--model", required=True, metavar="{linear,fnn,tfn}",
                        help="linear (Lemma 1), fnn (Theorem 3, ReLU FNN on a box) or tfn (Theorem 7, transformer)")
    parser.add_argument("--width", type=int, required=True, metavar="D", help=f"width D (1..{MAX_WIDTH})")
    parser.add_argument("--depth", type=int, required=True, metavar="L", help=f"frozen depth L (1..{MAX_DEPTH})")
    parser.add_argument("--target-depth", type=int, default=None, metavar="L̄",
                        help="target depth L̄ (fnn: 1..L, default 1; tfn: must equal L; not for linear)")
    parser.add_argument("--heads", type=int, default=None, metavar="H",
                        help=f"attention heads H (tfn only: 1..{MAX_HEADS}, default 1)")
    parser.add_argument("--rank", type=int, default=None, metavar="R",
                        help="LoRA rank R (1..D; default: the exact threshold of the instance, at least 1)")
    parser.add_argument("--discrepancy-rank", type=_rank_list, default=None, metavar="K",
                        help="rank of the random integer discrepancy, 0..D (linear: of E, default D; fnn: of every "
                             "E_i, or K1,…,KL̄ per block, default D; tfn: the low-gap target's gap rank, default: an "
                             "independent random target). The exact ranks may come out lower and are what count")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of random.Random (default 0)")
    add_json_argument(parser, "the verdict, the sizes, the threshold and the certificate summary")


# ------------------------------------------------------------------------------------------------------ validation


def _sized(value: object, flag: str, lo: int, hi: int, error: type = DomainError) -> int:
    """An integer flag in lo..hi; above ``hi`` the message says why the cap exists."""
    from lora_theory.validation import check_int

    value = check_int(value, flag, error=error)
    if not lo <= value <= hi:
        extra = " (exact sympy arithmetic is slow beyond)" if value > hi else ""
        raise error(f"{flag} must be in {lo}..{hi}{extra}; got {value}")
    return value


@dataclass(frozen=True)
class _Request:
    model: str
    width: int
    depth: int
    target_depth: int | None
    heads: int | None
    rank: int | None
    ks: tuple[int, ...] | None
    seed: int


def _validate(args: argparse.Namespace) -> _Request:
    from lora_theory.validation import check_int, is_int

    model = getattr(args, "model", None)
    if model not in MODELS:
        raise DomainError(f"--model must be one of {', '.join(MODELS)}; got {model!r}")
    D = _sized(getattr(args, "width", None), "--width", 1, MAX_WIDTH)
    L = _sized(getattr(args, "depth", None), "--depth", 1, MAX_DEPTH, DepthError)

    target_depth = getattr(args, "target_depth", None)
    if target_depth is not None:
        target_depth = check_int(target_depth, "--target-depth", error=DepthError)
        if model == "linear":
            raise DomainError(f"--target-depth does not apply to --model linear (a linear chain has a one-matrix "
                              f"target); got {target_depth}")
        if not 1 <= target_depth <= L:
            raise DepthError(f"--target-depth must be in 1..L={L} (the theorems need L̄ ≤ L); got {target_depth}")
        if model == "tfn" and target_depth != L:
            raise DepthError(f"--target-depth {target_depth} ≠ --depth {L}: Theorem 7 covers same-size targets only")
    if model == "fnn" and target_depth is None:
        target_depth = 1

    heads = getattr(args, "heads", None)
    if heads is not None:
        heads = check_int(heads, "--heads")
        if model != "tfn":
            raise DomainError(f"--heads does not apply to --model {model}; got {heads}")
        heads = _sized(heads, "--heads", 1, MAX_HEADS)
    if model == "tfn" and heads is None:
        heads = 1

    rank = getattr(args, "rank", None)
    if rank is not None:
        rank = check_int(rank, f"--rank (D={D})", minimum=1, maximum=D, error=RankError)

    ks = getattr(args, "discrepancy_rank", None)
    if ks is not None:
        if is_int(ks):
            ks = (ks,)
        if not isinstance(ks, (tuple, list)):
            raise RankError(f"--discrepancy-rank must be an integer (or K1,…,KL̄ for fnn); got {ks!r}")
        ks = tuple(check_int(k, f"--discrepancy-rank (D={D})", minimum=0, maximum=D, error=RankError) for k in ks)
        if model != "fnn" and len(ks) != 1:
            raise RankError(f"--discrepancy-rank takes one integer for --model {model}; got {len(ks)}: "
                            f"{','.join(map(str, ks))}")
        if model == "fnn" and len(ks) not in (1, target_depth):
            raise RankError(f"--discrepancy-rank needs one integer or one per block (L̄={target_depth}); got "
                            f"{len(ks)}: {','.join(map(str, ks))}")

    seed = check_int(getattr(args, "seed", 0), "--seed")
    return _Request(model, D, L, target_depth, heads, rank, ks, seed)


# --------------------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _Plan:
    """An instance with its exact threshold, before certification."""

    sizes: tuple[tuple[str, str, object], ...]  # (name on the sizes line, JSON key, value), without R
    threshold: int
    theory: str  # "⌈rank(E)/L⌉ = ⌈4/2⌉ = 2 (Lemma 1)"
    certify: object  # R -> certificate


def _plan_linear(q: _Request) -> _Plan:
    import sympy as sp

    from lora_theory import formulas as F
    from lora_theory.exact.linear import build_integer_linear_instance, certify_linear

    K = q.ks[0] if q.ks is not None else q.width
    Ws, target = build_integer_linear_instance(q.width, q.depth, K, q.seed)
    prod = sp.eye(q.width)
    for W in Ws:
        prod = W * prod
    rank_E = (target - prod).rank()
    threshold = F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: rank_E, F.L: q.depth})
    sizes = (("model", "model", "linear"), ("D", "width", q.width), ("L", "depth", q.depth),
             ("K", "discrepancy_rank", K), ("rank(E)", "rank_E", int(rank_E)))
    theory = f"⌈rank(E)/L⌉ = ⌈{rank_E}/{q.depth}⌉ = {threshold} (Lemma 1)"
    return _Plan(sizes, threshold, theory, lambda R: certify_linear(Ws, target, R))


def _plan_fnn(q: _Request) -> _Plan:
    import sympy as sp

    from lora_theory import formulas as F
    from lora_theory.exact.fnn import build_integer_fnn_instance, certify_fnn_box
    from lora_theory.partition import block_ranges, uniform_partition

    Lbar = q.target_depth
    ks = q.ks if q.ks is not None else (q.width,)
    ks = ks * Lbar if len(ks) == 1 else ks
    inst = build_integer_fnn_instance(q.width, q.depth, Lbar, list(ks), q.seed)
    sizes_part = uniform_partition(q.depth, Lbar)
    rank_E = []
    for Wbar, layers in zip(inst.target_weights, block_ranges(sizes_part)):
        prod = sp.eye(q.width)
        for l in layers:
            prod = inst.frozen_weights[l] * prod
        rank_E.append(int((Wbar - prod).rank()))
    M = q.depth // Lbar
    threshold = F.evaluate_integer(F.THEOREM3_THRESHOLD, {F.R_max: max(rank_E), F.L: q.depth, F.Lbar: Lbar})
    sizes = (("model", "model", "fnn"), ("D", "width", q.width), ("L", "depth", q.depth),
             ("L̄", "target_depth", Lbar), ("M", "M", M), ("partition", "partition", list(sizes_part)),
             ("K", "discrepancy_ranks", list(ks)), ("rank(E_i)", "rank_E_i", rank_E),
             ("box", "box", f"[-{BOX_HALFWIDTH}, {BOX_HALFWIDTH}]^{q.width}"))
    theory = f"⌈max_i rank(E_i)/M⌉ = ⌈{max(rank_E)}/{M}⌉ = {threshold} (Theorem 3)"
    return _Plan(sizes, threshold, theory, lambda R: certify_fnn_box(*inst, R, BOX_HALFWIDTH))


def _plan_tfn(q: _Request) -> _Plan:
    from lora_theory import formulas as F
    from lora_theory.exact.tfn import build_integer_tfn_instance, certify_tfn, exact_tfn_gaps

    K = q.ks[0] if q.ks is not None else None
    inst = build_integer_tfn_instance(q.width, q.depth, q.heads, K, q.seed)
    gaps = [int(g) for g in exact_tfn_gaps(inst.frozen, inst.target)]
    threshold = F.theorem7_threshold(gaps)
    sizes = (("model", "model", "tfn"), ("D", "width", q.width), ("L", "depth", q.depth),
             ("L̄", "target_depth", q.depth), ("H", "heads", q.heads),
             ("target", "target", "random" if K is None else "low-gap"), ("K", "gap_rank", K), ("G", "gaps", gaps))
    theory = f"max_i ⌈G_i/2⌉ = {threshold} (Theorem 7)"
    return _Plan(sizes, threshold, theory, lambda R: certify_tfn(inst.frozen, inst.target, R))


_PLANS = {"linear": _plan_linear, "fnn": _plan_fnn, "tfn": _plan_tfn}


# ------------------------------------------------------------------------------------------------------------ run


def run(args: argparse.Namespace) -> int:
    """Run ``lora-theory certify`` for parsed ``args``; print the verdict and return the exit code (0, 1 or 2).

    Raises DomainError, DepthError or RankError (a LoRATheoryError, one line, naming the flag) for a bad argument.
    """
    q = _validate(args)
    json_path = check_output_path(getattr(args, "json_path", None))
    plan = _PLANS[q.model](q)
    R = q.rank if q.rank is not None else max(1, plan.threshold)
    R_note = "" if q.rank is not None else " (the threshold; --rank not given)"
    if R > q.width:  # cannot happen (every threshold is ≤ D), but never certify with an invalid rank
        raise RankError(f"--rank: the threshold {plan.threshold} exceeds D={q.width}")
    fields = [(name, value) for name, _, value in plan.sizes if value is not None]
    ranks = f" ranks={[R] * q.depth}" if q.model == "linear" else ""
    sizes = (f"sizes: {' '.join(f'{name}={value}' for name, value in fields)} R={R}{R_note}{ranks} "
             f"threshold={plan.threshold} seed={q.seed}")
    document = {"sizes": {key: value for _, key, value in plan.sizes}, "rank": R, "rank_given": q.rank is not None,
                "threshold": plan.threshold, "seed": q.seed, "theory": plan.theory}
    expect_equal = R >= plan.threshold
    try:
        cert = plan.certify(R)
    except SingularityError as exc:
        print(sizes)
        reason = " ".join(str(exc).split())
        print(f"lora-theory certify: SingularityError: {reason} (the non-singularity hypothesis fails for "
              f"--seed {q.seed}; try another seed)", file=sys.stderr)
        write_json(json_path, {"verdict": "singular", "error": reason, **document, "exit_code": 2})
        return 2
    equal = bool(cert.equal)
    agree = equal == expect_equal
    relation = "≥" if expect_equal else "<"
    print(f"verdict: {'equal' if equal else 'not equal'}")
    print(sizes)
    print(f"theory: threshold = {plan.theory}; R={R} {relation} {plan.threshold} ⇒ "
          f"{'equal' if expect_equal else 'not equal'}; the certificate "
          f"{'agrees' if agree else 'DISAGREES (a construction or certificate bug)'}")
    print(f"certificate: {cert.summary()}")
    exit_code = 0 if agree else 1
    write_json(json_path, {"verdict": "equal" if equal else "not equal", "expected": "equal" if expect_equal
                           else "not equal", "agrees": agree, **document, "certificate": cert.summary(),
                           "exit_code": exit_code})
    return exit_code
