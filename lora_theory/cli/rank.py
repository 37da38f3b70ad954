"""The ``lora-theory rank`` subcommand: rank advice for a frozen/target ReLU FNN checkpoint pair.

::

    lora-theory rank --frozen A.safetensors --target B.safetensors [--final-relu | --no-final-relu] [--radius 1.0]
                     [--max-rank N] [--samples 256] [--seed 0] [--tau τ] [--plot PATH.png] [--json PATH.json]

Both files are FNN state dicts in the layout of :mod:`lora_theory.interop.checkpoints` (``"0.weight"``, ``"0.bias"``,
``"2.weight"``, …), read weights-only. The target must be no deeper than the frozen model (L̄ ≤ L), of the same width
D and dtype. Claims used (SPEC §6; arXiv 2310.17513 v3):

* ``theorem3`` (Theorem 3) — uniform partition, M = ⌊L/L̄⌋ layers per block: adapters of rank
  R ≥ ⌈max_i rank(E_i)/M⌉ (``formulas.THEOREM3_THRESHOLD``) plus biases make f = f̄ on the ball of ``--radius``;
* ``general_partition`` (appendix) — any consecutive partition: R ≥ max_i ⌈rank(E_i)/|P_i|⌉
  (``formulas.GENERAL_THRESHOLD``); the partition minimising it comes from :func:`lora_theory.analysis.fnn.best_partition`;
* ``theorem5`` (Theorem 5) — below the threshold the construction's mean error is at most the tight spectral bound
  (form (c) of :mod:`lora_theory.analysis.bounds`, ε_i = σ_{RM+1}(E_i)).

Nothing is re-derived here: the block discrepancies E_i = W̄_i − ∏_{l∈P_i} W_l and their numerical ranks come from
:func:`lora_theory.analysis.fnn.block_discrepancies`, the thresholds from the sympy formulas, the adapters from
:func:`lora_theory.constructions.fnn.construct_fnn`, the tolerance from :meth:`FNNConstruction.tolerance`.

**Output** (plain text, for people):

1. a header: frozen depth L, target depth L̄, width D, dtype, M = ⌊L/L̄⌋, the final-ReLU convention and the domain;
2. one row per target layer i of the uniform partition: ``block`` i, ``frozen layers`` (1-based, e.g. ``1..2``),
   ``rank(E_i)`` (numerical rank relative to the operands, SPEC §8.3, with τ = 1e-9 for float64 checkpoints and
   the storage rounding (|P_i|+1)·D·u of each block for float32 ones — :func:`lora_theory.numerics.storage_rank_tau`,
   the construction's own default; ``--tau`` overrides) and ``σ_1(E_i)``;
3. the thresholds: Theorem 3 (uniform partition, with its block sizes) and the optimal partition (sizes and
   rank(E_i) of its blocks), each with its formula and the values substituted;
4. the construction's error curve, one row per R = 1..min(D, ``--max-rank``): ``R``; ``exact`` (yes iff R ≥ the
   Theorem 3 threshold); ``ε_max`` = max_i σ_{RM+1}(E_i); ``mean ‖f−f̄‖₂`` over ``--samples`` points uniform in the
   ball; ``max ‖f−f̄‖₂`` over those points and the ball's adversarial points (the sphere, ±ρe_j); ``Thm 5 (c)``, the
   tight bound on the mean error, for the same uniform points (0 at or above the threshold); ``tolerance``, the
   rounding tolerance of the exact regime (shown in the exact rows, where the max error must lie below it); and
   ``check`` — ``max ≤ tol`` in exact rows, ``mean ≤ bound`` below (``FAILED`` if not, which would be a bug or an
   instance outside the tolerance model). A rank at which Assumption 1 fails (a numerically singular matrix the
   construction solves with) gets ``—`` and the reason instead of numbers.

``--plot PATH`` writes a PNG (log-scale y: mean error, max error, ε_max and the Theorem 5 bound against R, a vertical
line at each threshold); ``--json PATH`` the same data as JSON (NaN as ``null``). Both are written atomically.

Exit code 0 (the advice was printed; the ``check`` column reports agreement with the theory). Every bad argument or
file raises a :mod:`lora_theory.errors` exception whose one-line message names the flag (``cli.main`` turns it into
exit code 2). The computation is :func:`rank_advice` (models in, :class:`RankAdvice` out), usable from Python.
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.analysis.bounds import evaluate_bounds
from lora_theory.analysis.fnn import best_partition, block_discrepancies
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball
from lora_theory.errors import (
    AssumptionViolated,
    DomainError,
    FileFormatError,
    LoRATheoryError,
    OptionalDependencyError,
    RankError,
)
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import RANK_TAU, storage_rank_tau, unit_roundoff
from lora_theory.partition import block_ranges, uniform_partition
from lora_theory.tolerance import Tolerance
from lora_theory.validation import check_positive_float

__all__ = ["BlockRow", "ThresholdRow", "CurveRow", "RankAdvice", "rank_advice", "format_advice", "plot_advice",
           "write_advice_json", "load_pair", "add_rank_arguments", "run_rank"]

DASH = "—"
#: the largest seed torch.Generator.manual_seed accepts
MAX_SEED = 2**64 - 1


# ---------------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class BlockRow:
    """E_i of one block of the uniform partition: target layer ``block`` (1-based) emulated by frozen ``layers``
    (0-based range), its numerical rank and its largest singular value."""

    block: int
    layers: range
    rank: int
    sigma_1: float

    @property
    def layers_label(self) -> str:
        """The frozen layers, 1-based: ``"1..2"`` (``"3"`` for a one-layer block)."""
        first, last = self.layers.start + 1, self.layers.stop
        return str(first) if first == last else f"{first}..{last}"


@dataclass(frozen=True)
class ThresholdRow:
    """A rank threshold: its value, the partition it is for, the rank(E_i) of that partition's blocks, the claim and
    the formula it was evaluated from (``sympy.sstr``), and the formula with the values substituted."""

    claim: str
    value: int
    partition: tuple[int, ...]
    ranks: tuple[int, ...]
    formula: str
    evaluation: str


@dataclass(frozen=True)
class CurveRow:
    """The Theorem 3 construction (uniform partition) at rank R, measured on the ball.

    ``exact`` is R ≥ the Theorem 3 threshold. The error fields are ``None`` when the construction refused
    (``reason`` says why: Assumption 1 fails at this R).
    """

    rank: int
    exact: bool
    epsilon_max: float | None = None
    mean_error: float | None = None
    max_error: float | None = None
    theorem5_tight: float | None = None
    tolerance: Tolerance | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool | None:
        """Exact rows: max error ≤ tolerance; rows below: mean error ≤ Theorem 5 (c) + tolerance (rounding of the
        construction); ``None`` for a refused rank."""
        if self.reason is not None:
            return None
        if self.exact:
            return self.max_error <= self.tolerance.value
        return self.mean_error <= self.theorem5_tight + self.tolerance.value


@dataclass(frozen=True)
class RankAdvice:
    """Everything ``lora-theory rank`` prints, from :func:`rank_advice`."""

    depth: int
    target_depth: int
    width: int
    dtype: torch.dtype
    M: int
    final_relu: bool
    radius: float
    samples: int
    adversarial: int
    seed: int
    rank_tau: float  # relative threshold of the numerical ranks (SPEC §8.3)
    blocks: tuple[BlockRow, ...]
    uniform: ThresholdRow
    optimal: ThresholdRow
    curve: tuple[CurveRow, ...]

    def as_dict(self) -> dict:
        """A JSON-ready dict (floats may be NaN/inf; :func:`write_advice_json` writes them as ``null``)."""
        def thr(t: ThresholdRow) -> dict:
            return {"claim": t.claim, "value": t.value, "partition": list(t.partition), "ranks": list(t.ranks),
                    "formula": t.formula, "evaluation": t.evaluation}

        return {
            "depth": self.depth, "target_depth": self.target_depth, "width": self.width,
            "dtype": str(self.dtype).removeprefix("torch."), "M": self.M, "final_relu": self.final_relu,
            "domain": {"kind": "ball", "radius": self.radius}, "samples": self.samples,
            "adversarial_points": self.adversarial, "seed": self.seed, "rank_tau": self.rank_tau,
            "blocks": [{"block": b.block, "frozen_layers": [b.layers.start + 1, b.layers.stop], "rank": b.rank,
                        "sigma_1": b.sigma_1} for b in self.blocks],
            "thresholds": {"uniform": thr(self.uniform), "optimal": thr(self.optimal)},
            "curve": [{"rank": r.rank, "exact": r.exact, "epsilon_max": r.epsilon_max, "mean_error": r.mean_error,
                       "max_error": r.max_error, "theorem5_tight": r.theorem5_tight,
                       "tolerance": None if r.tolerance is None else r.tolerance.value, "ok": r.ok,
                       "reason": r.reason} for r in self.curve],
        }


# ----------------------------------------------------------------------------------------------------- computing


def _check_int(value: object, name: str, minimum: int, error: type[LoRATheoryError],
               maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise error(f"{name} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be an integer in {minimum}..{maximum}; got {value!r}")
    return int(value)


def _check_tau(value: object, name: str = "tau") -> float:
    value = check_positive_float(value, name)
    if not value < 1:
        raise DomainError(f"{name} must be a relative threshold in (0, 1); got {value!r}")
    return value


def _reason(exc: AssumptionViolated) -> str:
    """A short, one-line reason for a refused construction."""
    if exc.where and exc.ratio is not None:
        limit = f" < {exc.threshold:.0e}" if exc.threshold is not None else ""
        return f"Assumption 1 fails: {exc.where} is numerically singular (σ_min/σ_max = {exc.ratio:.1e}{limit})"
    text = " ".join(str(exc).split())
    return f"Assumption 1 fails: {text[:160]}{'…' if len(text) > 160 else ''}"


def _evaluation_points(radius: float, width: int, samples: int, seed: int,
                       dtype: torch.dtype) -> tuple[Ball, torch.Tensor, torch.Tensor]:
    """The ball, ``samples`` uniform points and its adversarial points, from one local generator."""
    domain = Ball(width, radius)
    gen = torch.Generator().manual_seed(seed)
    # drawn in float64 and rounded, so a float32 run sees the same points (Domain.contains allows the rounding)
    uniform = domain.sample(samples, gen, dtype=torch.float64).to(dtype)
    adversarial = domain.adversarial_points(gen, dtype=torch.float64).to(dtype)
    return domain, uniform, adversarial


def rank_advice(frozen: ReLUFNN, target: ReLUFNN, *, radius: float = 1.0, max_rank: int | None = None,
                samples: int = 256, seed: int = 0, tau: float | None = None) -> RankAdvice:
    """Per-block discrepancy ranks, the Theorem 3 and optimal-partition thresholds, and the Theorem 3
    construction's measured error against ε_max, the Theorem 5 tight bound and the tolerance, for R = 1..min(D,
    ``max_rank``) on the ball of ``radius`` (see the module docstring).

    Raises ShapeError/DTypeError/DepthError for an incompatible pair (:func:`check_fnn_pair`), DomainError for a
    mismatched ``final_relu``, a bad ``radius``/``samples``/``seed``, RankError for ``max_rank`` < 1. A rank at which
    the construction refuses (Assumption 1) becomes a :class:`CurveRow` with a ``reason``, not an exception.

    ``tau``: relative threshold of the numerical ranks; default per block :func:`lora_theory.numerics.storage_rank_tau`
    of the checkpoints' dtype — the default of :func:`construct_linear` too, so the two always agree (RANK_TAU = 1e-9
    in float64; (|P_i|+1)·D·6e-8 in float32, the storage rounding).
    """
    L, Lbar = check_fnn_pair(frozen, target)
    if frozen.final_relu != target.final_relu:
        raise DomainError(f"frozen.final_relu={frozen.final_relu} but target.final_relu={target.final_relu}: both "
                          "models must use the same convention")
    radius = check_positive_float(radius, "radius")
    samples = _check_int(samples, "samples", 1, DomainError)
    seed = _check_int(seed, "seed", 0, DomainError, MAX_SEED)
    D = frozen.width
    top = D if max_rank is None else min(D, _check_int(max_rank, "max_rank", 1, RankError))
    M = L // Lbar
    tau = None if tau is None else _check_tau(tau)

    sizes = uniform_partition(L, Lbar)
    # the per-block default (blocks.block_discrepancy): RANK_TAU, or (|P_i|+1)·D·u for float32; shown: the largest
    shown_tau = tau if tau is not None else max(storage_rank_tau(frozen.dtype, D, n) for n in sizes)
    discrepancies = block_discrepancies(frozen, target, tau=tau)
    blocks = tuple(BlockRow(i + 1, layers, d.rank, float(d.singular_values[0]))
                   for i, (layers, d) in enumerate(zip(block_ranges(sizes), discrepancies)))
    ranks = tuple(b.rank for b in blocks)
    r_max = max(ranks)
    uniform_value = F.evaluate_integer(F.THEOREM3_THRESHOLD, {F.R_max: r_max, F.L: L, F.Lbar: Lbar})
    uniform = ThresholdRow("theorem3", uniform_value, sizes, ranks, sp.sstr(F.THEOREM3_THRESHOLD),
                           f"R_Emax = max_i rank(E_i) = {r_max}, L = {L}, Lbar = {Lbar}: "
                           f"⌈{r_max}/⌊{L}/{Lbar}⌋⌉ = {uniform_value}")

    best_sizes, _ = best_partition(frozen, target, tau=tau)
    best_ranks = tuple(d.rank for d in block_discrepancies(frozen, target, partition=best_sizes, tau=tau))
    optimal_value = F.general_threshold(best_ranks, best_sizes)
    terms = ", ".join(f"⌈{r}/{n}⌉" for r, n in zip(best_ranks, best_sizes))
    optimal = ThresholdRow("general_partition", optimal_value, tuple(best_sizes), best_ranks,
                           sp.sstr(F.GENERAL_THRESHOLD),
                           f"r = rank(E_i) = {list(best_ranks)}, n = |P_i| = {list(best_sizes)}: "
                           f"max({terms}) = {optimal_value}")

    domain, X_uniform, X_adv = _evaluation_points(radius, D, samples, seed, frozen.dtype)
    X_all = torch.cat([X_uniform, X_adv])
    curve = []
    for R in range(1, top + 1):
        exact = R >= uniform_value
        try:
            c = construct_fnn(frozen, target, R, domain, tau=tau)
        except AssumptionViolated as exc:  # SingularityError included
            curve.append(CurveRow(R, exact, reason=_reason(exc)))
            continue
        err = c.output_error(X_all)
        curve.append(CurveRow(
            rank=R, exact=exact, epsilon_max=max(float(b.epsilon) for b in c.blocks),
            mean_error=float(err[:samples].mean()), max_error=float(err.max()),
            theorem5_tight=float(evaluate_bounds(c, X_uniform)["tight"]), tolerance=c.tolerance()))
    return RankAdvice(L, Lbar, D, frozen.dtype, M, frozen.final_relu, radius, samples, int(X_adv.shape[0]), seed,
                      shown_tau, blocks, uniform, optimal, tuple(curve))


# ------------------------------------------------------------------------------------------------------ printing


def _num(v: float | None) -> str:
    return DASH if v is None else f"{v:.3e}"


def _table(header: list[str], rows: list[list[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h) for j, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(widths[j]) if j in right else c.ljust(widths[j]) for j, c in enumerate(cells)]
        return (indent + "  ".join(out)).rstrip()

    return [line(header)] + [line(r) for r in rows]


def format_advice(advice: RankAdvice, *, frozen_name: str | None = None, target_name: str | None = None) -> str:
    """The plain-text report of ``lora-theory rank`` (header, blocks, thresholds, error curve)."""
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
    why = (f"the storage rounding of {dtype}, (|P_i|+1)·D·u with u = {u_dtype:.1e}" if a.rank_tau > RANK_TAU
           else "SPEC §8.3")
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


def _positive_or_nan(values: list[float | None]) -> list[float]:
    return [v if v is not None and v > 0 else math.nan for v in values]


def plot_advice(advice: RankAdvice, path: str | os.PathLike) -> Path:
    """A PNG of the error curve (log-scale y) with a vertical line at each threshold, written atomically."""
    from lora_theory.experiments.plots import DPI, FIGSIZE

    plt = _matplotlib()
    p = Path(path)
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
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=DPI, format="png")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, p)  # never a half-written PNG under the final name
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    finally:
        plt.close(fig)
    return p


def write_advice_json(advice: RankAdvice, path: str | os.PathLike, **extra: object) -> Path:
    """``{**extra, **advice.as_dict()}`` as JSON (NaN as ``null``), written atomically."""
    import json

    from lora_theory.experiments.sweep import _atomic_write, _jsonable

    p = Path(path)
    doc = {**extra, **advice.as_dict()}
    _atomic_write(p, json.dumps(_jsonable(doc), indent=1, ensure_ascii=False) + "\n")
    return p


def _matplotlib():
    from lora_theory.experiments.plots import require_matplotlib

    try:
        return require_matplotlib()
    except ImportError as exc:
        raise OptionalDependencyError(f"--plot: {exc}") from None


# ------------------------------------------------------------------------------------------------------- command


def load_pair(frozen_path: str | os.PathLike, target_path: str | os.PathLike, *,
              final_relu: bool = True) -> tuple[ReLUFNN, ReLUFNN]:
    """Read both checkpoints and check they form a pair (:func:`lora_theory.interop.checkpoints.load_fnn_pair`: L̄ ≤ L, same
    width and dtype); every error names ``--frozen``/``--target`` and the files."""
    from lora_theory.interop.checkpoints import load_fnn_pair

    return load_fnn_pair(frozen_path, target_path, final_relu=final_relu)


def add_rank_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``rank`` flags to ``parser`` (e.g. the ``rank`` subparser) and return it."""
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
                        help="relative threshold of the numerical ranks (default: 1e-9 in float64, the storage "
                             "rounding (|P_i|+1)·D·u of each block in float32)")
    parser.add_argument("--plot", default=None, metavar="PATH.png", help="also write the error curve as a PNG")
    parser.add_argument("--json", dest="json_path", default=None, metavar="PATH.json",
                        help="also write everything printed as JSON")
    return parser


def _output_path(value: object, flag: str) -> Path | None:
    if value is None:
        return None
    p = Path(str(value))
    if str(value) == "" or p.is_dir():
        raise FileFormatError(f"{flag} {str(value)!r} must be a file path, not a folder")
    if not p.resolve().parent.is_dir():
        raise FileFormatError(f"{flag} {str(value)!r}: the folder {str(p.parent)!r} does not exist")
    return p


def run_rank(args: argparse.Namespace) -> int:
    """Run ``lora-theory rank`` for parsed ``args``: validate every flag, read the pair, print the advice, write
    ``--plot``/``--json``; return 0. Bad values raise :mod:`lora_theory.errors` exceptions naming the flag."""
    radius = check_positive_float(getattr(args, "radius", 1.0), "--radius")
    samples = _check_int(getattr(args, "samples", 256), "--samples", 1, DomainError)
    seed = _check_int(getattr(args, "seed", 0), "--seed", 0, DomainError, MAX_SEED)
    max_rank = getattr(args, "max_rank", None)
    if max_rank is not None:
        max_rank = _check_int(max_rank, "--max-rank", 1, RankError)
    tau = getattr(args, "tau", None)
    if tau is not None:
        tau = _check_tau(tau, "--tau")
    plot = _output_path(getattr(args, "plot", None), "--plot")
    json_path = _output_path(getattr(args, "json_path", None), "--json")
    if plot is not None and json_path is not None and plot.resolve() == json_path.resolve():
        raise FileFormatError(f"--plot and --json name the same file {str(plot)!r}")
    if plot is not None:
        _matplotlib()  # a missing extra fails before the work, not after
    final_relu = getattr(args, "final_relu", True)
    frozen, target = load_pair(args.frozen, args.target, final_relu=bool(final_relu))
    advice = rank_advice(frozen, target, radius=radius, max_rank=max_rank, samples=samples, seed=seed,
                         tau=tau)
    print(format_advice(advice, frozen_name=str(args.frozen), target_name=str(args.target)))
    if plot is not None:
        print(f"wrote {plot_advice(advice, plot)}")
    if json_path is not None:
        written = write_advice_json(advice, json_path, command="rank", frozen=str(args.frozen),
                                    target=str(args.target))
        print(f"wrote {written}")
    return 0
