"""``lora-theory rank``: rank advice for a frozen/target ReLU FNN checkpoint pair.

This module only parses, prints, plots and writes; the computation is
:func:`lora_theory.analysis.rank_advice.rank_advice` (models in, :class:`~lora_theory.analysis.rank_advice.RankAdvice`
out), usable from Python. The checkpoint layout and the meaning of every column are in ``docs/real-models.md``.

**Output** (plain text, for people):

1. a header: frozen depth L, target depth L̄, width D, dtype, M = ⌊L/L̄⌋, the final-ReLU convention and the domain;
2. one row per target layer i of the uniform partition: ``block`` i, ``frozen layers`` (1-based, e.g. ``1..2``),
   ``rank(E_i)`` (numerical rank relative to the operands, :func:`lora_theory.numerics.numerical_rank`, with the
   construction's default τ — ``--tau`` overrides) and ``σ_1(E_i)``;
3. the thresholds: Theorem 3 (arXiv 2310.17513v3, p. 6; uniform partition) and Theorem 6 (p. 7; the best
   consecutive partition), each with its formula and the values substituted;
4. the construction's error curve, one row per R = 1..min(D, ``--max-rank``): ``R``; ``exact`` (R ≥ the Theorem 3
   threshold); ``ε_max``; ``mean ‖f−f̄‖₂``; ``max ‖f−f̄‖₂``; ``Thm 5 (c)``, the tight bound on the mean error
   (Theorem 5, p. 6); ``tolerance`` (exact rows); ``check`` — ``max ≤ tol`` in exact rows, ``mean ≤ bound`` below
   (``FAILED`` if not). A rank at which Assumption 1 fails gets ``—`` and the reason instead of numbers.

``--plot PATH`` writes a PNG of the curve, ``--json PATH`` the same data as JSON (NaN as ``null``); both atomically
(:mod:`lora_theory.files`). Exit code 0 when the advice was printed; bad flags or files raise
:mod:`lora_theory.errors` exceptions naming the flag (exit code 2, one line).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lora_theory.cli._common import check_output_path
from lora_theory.errors import FileFormatError, OptionalDependencyError

NAME = "rank"
HELP = "rank advice for a frozen/target FNN checkpoint pair: rank(E_i), thresholds, error curve"
DESCRIPTION = """\
Read a frozen and a target ReLU FNN checkpoint (state dicts of nn.Sequential(Linear, ReLU, ...), .safetensors or a
weights-only torch file), print the rank of each block discrepancy E_i, the LoRA rank thresholds of Theorem 3
(uniform partition) and Theorem 6 (best partition), and the error of the Theorem 3 construction at every rank on
the ball ||x|| <= radius, checked against the Theorem 5 bound and the rounding tolerance (arXiv 2310.17513v3).
See docs/real-models.md.

example: lora-theory rank --frozen frozen.safetensors --target target.safetensors --plot curve.png --json advice.json
"""

__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run", "format_advice", "plot_advice",
           "write_advice_json"]

DASH = "—"


# ------------------------------------------------------------------------------------------------------ printing


def _num(v: float | None) -> str:
    return DASH if v is None else f"{v:.3e}"


def _table(header: list[str], rows: list[list[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h) for j, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(widths[j]) if j in right else c.ljust(widths[j]) for j, c in enumerate(cells)]
        return (indent + "  ".join(out)).rstrip()

    return [line(header)] + [line(r) for r in rows]


def format_advice(advice, *, frozen_name: str | None = None, target_name: str | None = None,
                  tau_given: bool = False) -> str:
    """The plain-text report of ``lora-theory rank`` for a :class:`~lora_theory.analysis.rank_advice.RankAdvice`
    (``tau_given``: the ranks were counted with an explicit ``--tau``)."""
    import torch

    from lora_theory.numerics import unit_roundoff

    a = advice
    out = []
    if frozen_name is not None or target_name is not None:
        out.append(f"frozen: {frozen_name}   target: {target_name}")
    dtype = str(a.dtype).removeprefix("torch.")
    out.append(f"frozen depth L={a.depth}  target depth L̄={a.target_depth}  width D={a.width}  dtype={dtype}  "
               f"M=⌊L/L̄⌋={a.M}  final ReLU: {'yes' if a.final_relu else 'no'}")
    out.append(f"domain: ball ‖x‖₂ ≤ {a.radius:g}; {a.samples} uniform samples + {a.adversarial} adversarial points "
               f"(sphere, ±ρe_j), seed {a.seed}")
    out.append("")
    u_dtype = unit_roundoff(a.dtype)
    storage = (f" + the storage rounding (|P_i|+1)·D·u of {dtype} weights, u = {u_dtype:.1e}"
               if u_dtype > unit_roundoff(torch.float64) else "")
    why = "--tau" if tau_given else f"the rounding floor E_i carries: its operands' products, u·D²·(…){storage}"
    out.append("block discrepancies E_i = W̄_i − ∏_{l∈P_i} W_l (uniform partition); rank(E_i) counts "
               f"σ > τ·max(‖W̄_i‖₂, ‖∏W‖₂), τ = {a.rank_tau:.3g} ({why})")
    out += _table(["block", "frozen layers", "rank(E_i)", "σ_1(E_i)"],
                  [[str(b.block), b.layers_label, str(b.rank), f"{b.sigma_1:.3e}"] for b in a.blocks], {0, 2, 3})
    out.append("")
    out.append("thresholds")
    u, o = a.uniform, a.optimal
    out.append(f"  Theorem 3 ({u.claim}), uniform partition {list(u.partition)}: R ≥ {u.value}")
    out.append(f"    {u.formula} with {u.evaluation}")
    out.append(f"  optimal partition ({o.claim}) {list(o.partition)}: R ≥ {o.value}")
    out.append(f"    {o.formula} with {o.evaluation}")
    out.append("")
    out.append("error of the Theorem 3 construction (uniform partition) on the ball")
    rows = []
    for r in a.curve:
        if r.reason is not None:
            rows.append([str(r.rank), "yes" if r.exact else "no", DASH, DASH, DASH, DASH, DASH, r.reason])
            continue
        if r.exact:
            check = "max ≤ tol" if r.ok else "FAILED: max > tol"
        else:
            check = "mean ≤ bound" if r.ok else "FAILED: mean > bound"
        rows.append([str(r.rank), "yes" if r.exact else "no", _num(r.epsilon_max), _num(r.mean_error),
                     _num(r.max_error), _num(r.theorem5_tight), _num(r.tolerance.value) if r.exact else DASH, check])
    out += _table(["R", "exact", "ε_max", "mean ‖f−f̄‖₂", "max ‖f−f̄‖₂", "Thm 5 (c)", "tolerance", "check"], rows,
                  {0, 2, 3, 4, 5, 6})
    out.append("")
    out.append(f"advice: R = {u.value} with the uniform partition {list(u.partition)} (Theorem 3); "
               f"R = {o.value} with the partition {list(o.partition)} (general partitions)")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- plots and files


def _positive_or_nan(values: list[float | None]) -> list[float]:
    return [v if v is not None and v > 0 else float("nan") for v in values]


def _matplotlib():
    from lora_theory.experiments.plots import require_matplotlib

    try:
        return require_matplotlib()
    except ImportError as exc:
        raise OptionalDependencyError(f"--plot: {exc}") from None


def plot_advice(advice, path: str | os.PathLike) -> Path:
    """A PNG of the error curve (log-scale y) with a vertical line at each threshold, written atomically."""
    from lora_theory.experiments.plots import DPI, FIGSIZE
    from lora_theory.files import atomic_write_with

    plt = _matplotlib()
    curve = advice.curve
    Rs = [r.rank for r in curve]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    try:
        ax.plot(Rs, _positive_or_nan([r.mean_error for r in curve]), marker="o", label="measured mean ‖f−f̄‖₂")
        ax.plot(Rs, _positive_or_nan([r.max_error for r in curve]), marker="s", label="measured max ‖f−f̄‖₂")
        ax.plot(Rs, _positive_or_nan([r.epsilon_max for r in curve]), marker="^",
                label=r"$\varepsilon_{\max} = \max_i\, \sigma_{RM+1}(E_i)$")
        ax.plot(Rs, _positive_or_nan([r.theorem5_tight for r in curve]), linestyle="--", color="black",
                label="Theorem 5 (c) bound on the mean")
        ax.plot(Rs, _positive_or_nan([r.tolerance.value if r.tolerance is not None and r.exact else None
                                      for r in curve]),
                linestyle=":", color="gray", label="tolerance (exact regime)")
        ax.axvline(advice.uniform.value, color="tab:red", linestyle=":",
                   label=f"Theorem 3 threshold R={advice.uniform.value} (uniform {list(advice.uniform.partition)})")
        ax.axvline(advice.optimal.value, color="tab:green", linestyle="-.",
                   label=f"optimal-partition threshold R={advice.optimal.value} "
                         f"({list(advice.optimal.partition)})")
        ax.set_yscale("log")
        ax.set_xlabel("LoRA rank R")
        ax.set_ylabel("‖f(x) − f̄(x)‖₂ on the ball")
        ax.set_title(f"rank advice: L={advice.depth}, L̄={advice.target_depth}, D={advice.width}, "
                     f"ball radius {advice.radius:g}")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    finally:
        plt.close(fig)


def write_advice_json(advice, path: str | os.PathLike, **extra: object) -> Path:
    """``{**extra, **advice.as_dict()}`` as JSON (NaN as ``null``), written atomically."""
    from lora_theory.files import atomic_write_json

    return atomic_write_json(path, {**extra, **advice.as_dict()})


# ------------------------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``rank`` flags."""
    parser.add_argument("--frozen", required=True, metavar="PATH",
                        help="frozen FNN state dict (.safetensors, or a torch.save file read weights-only)")
    parser.add_argument("--target", required=True, metavar="PATH", help="target FNN state dict (depth L̄ ≤ L)")
    parser.add_argument("--final-relu", action=argparse.BooleanOptionalAction, default=True,
                        help="whether a ReLU follows the last layer of both networks (not stored in a state dict; "
                             "default: yes)")
    parser.add_argument("--radius", type=float, default=1.0, metavar="ρ",
                        help="the domain is the ball ‖x‖₂ ≤ ρ (default 1.0)")
    parser.add_argument("--max-rank", type=int, default=None, metavar="N",
                        help="error curve for R = 1..min(D, N) (default: all of 1..D)")
    parser.add_argument("--samples", type=int, default=256, metavar="N",
                        help="uniform points in the ball for the measured errors (default 256)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sampling generator (default 0)")
    parser.add_argument("--tau", type=float, default=None, metavar="τ",
                        help="relative threshold of the numerical ranks, in (0, 1) (default: the rounding floor each "
                             "block's discrepancy carries, from its operands' sizes; float32 weights add their "
                             "storage rounding (|P_i|+1)·D·u)")
    parser.add_argument("--plot", default=None, metavar="PATH.png", help="also write the error curve as a PNG")
    parser.add_argument("--json", dest="json_path", default=None, metavar="PATH.json",
                        help="also write everything printed as JSON")


def run(args: argparse.Namespace) -> int:
    """Validate every flag, read the pair, print the advice, write ``--plot``/``--json``; return 0."""
    from lora_theory.analysis.rank_advice import MAX_SEED, check_tau, rank_advice
    from lora_theory.errors import RankError
    from lora_theory.interop.checkpoints import load_fnn_pair
    from lora_theory.validation import check_int, check_positive_float

    radius = check_positive_float(args.radius, "--radius")
    samples = check_int(args.samples, "--samples", minimum=1)
    seed = check_int(args.seed, "--seed", minimum=0, maximum=MAX_SEED)
    max_rank = None if args.max_rank is None else check_int(args.max_rank, "--max-rank", minimum=1, error=RankError)
    tau = None if args.tau is None else check_tau(args.tau, "--tau")
    plot = check_output_path(args.plot, "--plot")
    json_path = check_output_path(args.json_path, "--json")
    if plot is not None and json_path is not None and plot.resolve() == json_path.resolve():
        raise FileFormatError(f"--plot and --json name the same file {str(plot)!r}")
    if plot is not None:
        _matplotlib()  # a missing extra fails before the work, not after
    frozen, target = load_fnn_pair(args.frozen, args.target, final_relu=bool(args.final_relu))
    advice = rank_advice(frozen, target, radius=radius, max_rank=max_rank, samples=samples, seed=seed, tau=tau)
    print(format_advice(advice, frozen_name=str(args.frozen), target_name=str(args.target), tau_given=tau is not None))
    if plot is not None:
        print(f"wrote {plot_advice(advice, plot)}")
    if json_path is not None:
        written = write_advice_json(advice, json_path, command="rank", frozen=str(args.frozen),
                                    target=str(args.target))
        print(f"wrote {written}")
    return 0
