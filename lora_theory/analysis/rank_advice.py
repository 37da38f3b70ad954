"""Rank advice for a frozen/target ReLU FNN pair: what LoRA rank the theorems say is needed, and what the Theorem 3
construction actually achieves at every rank below and above that.

Results used (arXiv 2310.17513v3):

* Theorem 3 (p. 6), claim ``theorem3`` — uniform partition, M = ⌊L/L̄⌋ frozen layers per target layer: adapters of
  rank R ≥ ⌈max_i rank(E_i)/M⌉ (``formulas.THEOREM3_THRESHOLD``) plus updated biases make f = f̄ on the input
  domain, where E_i = W̄_i − ∏_{l∈P_i} W_l is the discrepancy of block i;
* Theorem 6 (p. 7), claim ``theorem6`` — any consecutive partition: R ≥ max_i ⌈rank(E_i)/|P_i|⌉
  (``formulas.GENERAL_THRESHOLD``); the partition minimising it comes from
  :func:`lora_theory.analysis.fnn.best_partition`; with per-layer ranks (Theorem 6 as printed), the cheapest exact
  R_l — Σ_l R_l = min_P Σ_i rank(E_i(P)), 2·D·Σ_l R_l adapter parameters — come from
  :func:`lora_theory.analysis.fnn.best_layer_ranks` (``per_layer``);
* Theorem 5 (p. 6), claim ``theorem5`` — below the threshold the construction's mean error is at most the tight
  spectral bound (form (c) of :mod:`lora_theory.analysis.bounds`, with ε_i = σ_{RM+1}(E_i)).

Nothing is re-derived here: the discrepancies and their numerical ranks come from
:func:`lora_theory.analysis.fnn.block_discrepancies`, the thresholds from the sympy formulas, the adapters from
:func:`lora_theory.constructions.fnn.construct_fnn` and the rounding tolerance from
:meth:`~lora_theory.constructions.fnn.FNNConstruction.tolerance`.

**Numerical rank.** rank(E_i) counts the singular values above the rounding floor E_i carries — the construction's
own rule (:func:`lora_theory.numerics.discrepancy_rank_floor`: the tolerance's error model applied to the operands
that formed E_i, plus the storage rounding (|P_i|+1)·D·u of float32 weights), so the advice and the adapters always
agree on the ranks. ``rank_tau`` reports that floor relative to max(‖W̄_i‖₂, ‖∏W‖₂) (the largest over the blocks);
an explicit ``tau`` counts σ > τ·max(‖W̄_i‖₂, ‖∏W‖₂) instead, in both.

Two entry points: :func:`rank_thresholds` (ranks and thresholds only; cheap) and :func:`rank_advice` (the thresholds
plus the construction's error curve on a ball). Presentation (text, plots, JSON files) lives in
:mod:`lora_theory.cli.rank`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.analysis.bounds import evaluate_bounds
from lora_theory.analysis.fnn import BudgetPlan, best_layer_ranks, block_discrepancies
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball
from lora_theory.errors import AssumptionViolated, DomainError, RankError
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.partition import block_ranges, uniform_partition
from lora_theory.tolerance import Tolerance
from lora_theory.validation import check_int, check_positive_float

__all__ = ["MAX_SEED", "BlockRow", "ThresholdRow", "CurveRow", "RankThresholds", "RankAdvice", "rank_thresholds",
           "rank_advice", "check_tau"]

#: the largest seed ``torch.Generator.manual_seed`` accepts
MAX_SEED = 2**64 - 1


@dataclass(frozen=True)
class BlockRow:
    """E_i of one block of the uniform partition: target layer ``block`` (1-based) emulated by the frozen ``layers``
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

    ``exact`` is R ≥ the Theorem 3 threshold and the construction exact (with an explicit ``tau`` that drops
    directions above the rounding floor, the construction counts them as error and is not exact). The error fields
    are ``None`` when the construction refused
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
class RankThresholds:
    """The block discrepancies of the uniform partition and the two thresholds (from :func:`rank_thresholds`).

    ``rank_tau`` is the relative threshold the ranks were counted with (the largest per-block rounding floor,
    relative to the block's operands, when none was given). ``advised_rank`` is the Theorem 3 threshold clipped to at
    least 1 (a LoRA adapter has rank ≥ 1).
    """

    depth: int
    target_depth: int
    width: int
    dtype: torch.dtype
    M: int
    rank_tau: float
    blocks: tuple[BlockRow, ...]
    uniform: ThresholdRow
    optimal: ThresholdRow
    per_layer: BudgetPlan | None = None  # the cheapest exact per-layer ranks (Theorem 6 as printed)

    @property
    def advised_rank(self) -> int:
        return max(1, self.uniform.value)


@dataclass(frozen=True)
class RankAdvice:
    """:class:`RankThresholds` plus the construction's error curve on the ball of ``radius`` (from
    :func:`rank_advice`)."""

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
    rank_tau: float
    blocks: tuple[BlockRow, ...]
    uniform: ThresholdRow
    optimal: ThresholdRow
    curve: tuple[CurveRow, ...]
    per_layer: BudgetPlan | None = None  # the cheapest exact per-layer ranks (Theorem 6 as printed)

    def as_dict(self) -> dict:
        """A JSON-ready dict (floats may be NaN/inf; :func:`lora_theory.files.atomic_write_json` writes them as
        ``null``)."""
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
            **({} if self.per_layer is None else {"per_layer": {
                "claim": "theorem6", "partition": list(self.per_layer.partition),
                "ranks": list(self.per_layer.discrepancy_ranks), "layer_ranks": list(self.per_layer.layer_ranks),
                "parameters": self.per_layer.parameters, "uniform_parameters": self.per_layer.uniform_parameters}}),
            "curve": [{"rank": r.rank, "exact": r.exact, "epsilon_max": r.epsilon_max, "mean_error": r.mean_error,
                       "max_error": r.max_error, "theorem5_tight": r.theorem5_tight,
                       "tolerance": None if r.tolerance is None else r.tolerance.value, "ok": r.ok,
                       "reason": r.reason} for r in self.curve],
        }


def check_tau(value: object, name: str = "tau") -> float:
    """A relative rank threshold: a finite number in (0, 1) (DomainError naming ``name`` otherwise)."""
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


def _pair(frozen: ReLUFNN, target: ReLUFNN) -> tuple[int, int]:
    L, Lbar = check_fnn_pair(frozen, target)
    if frozen.final_relu != target.final_relu:
        raise DomainError(f"frozen.final_relu={frozen.final_relu} but target.final_relu={target.final_relu}: both "
                          "models must use the same convention")
    return L, Lbar


def rank_thresholds(frozen: ReLUFNN, target: ReLUFNN, *, tau: float | None = None) -> RankThresholds:
    """rank(E_i) and σ_1(E_i) of the uniform partition's blocks, the Theorem 3 threshold (uniform partition) and the
    Theorem 6 threshold of the best consecutive partition.

    Raises ShapeError/DTypeError/DepthError for an incompatible pair (:func:`lora_theory.models.check_fnn_pair`),
    DomainError for mismatched ``final_relu`` conventions or a ``tau`` outside (0, 1).
    """
    L, Lbar = _pair(frozen, target)
    tau = None if tau is None else check_tau(tau)
    D = frozen.width
    sizes = uniform_partition(L, Lbar)
    discrepancies = block_discrepancies(frozen, target, tau=tau)
    # per block the default is the construction's rounding floor; the one shown is the largest, relative
    shown_tau = tau if tau is not None else max(d.floor / d.scale if d.scale > 0 else 0.0 for d in discrepancies)
    blocks = tuple(BlockRow(i + 1, layers, d.rank, float(d.singular_values[0]))
                   for i, (layers, d) in enumerate(zip(block_ranges(sizes), discrepancies)))
    ranks = tuple(b.rank for b in blocks)
    r_max = max(ranks)
    uniform_value = F.evaluate_integer(F.THEOREM3_THRESHOLD, {F.R_max: r_max, F.L: L, F.Lbar: Lbar})
    uniform = ThresholdRow("theorem3", uniform_value, sizes, ranks, sp.sstr(F.THEOREM3_THRESHOLD),
                           f"R_Emax = max_i rank(E_i) = {r_max}, L = {L}, Lbar = {Lbar}: "
                           f"⌈{r_max}/⌊{L}/{Lbar}⌋⌉ = {uniform_value}")

    per_layer = best_layer_ranks(frozen, target, tau=tau)  # also runs best_partition's search, sharing its ranks
    best_sizes = per_layer.uniform_partition
    best_ranks = tuple(d.rank for d in block_discrepancies(frozen, target, partition=best_sizes, tau=tau))
    optimal_value = F.general_threshold(best_ranks, best_sizes)
    terms = ", ".join(f"⌈{r}/{n}⌉" for r, n in zip(best_ranks, best_sizes))
    optimal = ThresholdRow("theorem6", optimal_value, tuple(best_sizes), best_ranks,
                           sp.sstr(F.GENERAL_THRESHOLD),
                           f"r = rank(E_i) = {list(best_ranks)}, n = |P_i| = {list(best_sizes)}: "
                           f"max({terms}) = {optimal_value}")
    return RankThresholds(L, Lbar, D, frozen.dtype, L // Lbar, shown_tau, blocks, uniform, optimal, per_layer)


def _evaluation_points(radius: float, width: int, samples: int, seed: int,
                       dtype: torch.dtype) -> tuple[Ball, torch.Tensor, torch.Tensor]:
    """The ball, ``samples`` uniform points and its adversarial points, from one local generator."""
    domain = Ball(width, radius)
    points = domain.evaluation_points(samples, torch.Generator().manual_seed(seed), dtype=dtype)
    return domain, points[:samples], points[samples:]


def rank_advice(frozen: ReLUFNN, target: ReLUFNN, *, radius: float = 1.0, max_rank: int | None = None,
                samples: int = 256, seed: int = 0, tau: float | None = None) -> RankAdvice:
    """:func:`rank_thresholds`, plus the Theorem 3 construction's measured error against ε_max, the Theorem 5 tight
    bound and the tolerance, for R = 1..min(D, ``max_rank``) on the ball ‖x‖₂ ≤ ``radius``.

    Each curve row: ``epsilon_max`` = max_i σ_{RM+1}(E_i); ``mean_error`` over ``samples`` points uniform in the ball
    (drawn from a local generator seeded with ``seed``); ``max_error`` over those and the ball's adversarial points
    (its sphere, ±ρe_j); ``theorem5_tight`` for the same uniform points (0 at or above the threshold); the
    construction's rounding ``tolerance``. A rank at which the construction refuses (Assumption 1) becomes a row with
    a ``reason``, not an exception.

    Raises what :func:`rank_thresholds` raises, DomainError for a bad ``radius``/``samples``/``seed`` and RankError
    for ``max_rank`` < 1.
    """
    _pair(frozen, target)
    radius = check_positive_float(radius, "radius")
    samples = check_int(samples, "samples", minimum=1)
    seed = check_int(seed, "seed", minimum=0, maximum=MAX_SEED)
    if max_rank is not None:
        max_rank = check_int(max_rank, "max_rank", minimum=1, error=RankError)
    tau = None if tau is None else check_tau(tau)
    t = rank_thresholds(frozen, target, tau=tau)
    top = t.width if max_rank is None else min(t.width, max_rank)

    domain, X_uniform, X_adv = _evaluation_points(radius, t.width, samples, seed, frozen.dtype)
    X_all = torch.cat([X_uniform, X_adv])
    curve = []
    for R in range(1, top + 1):
        exact = R >= t.uniform.value
        try:
            c = construct_fnn(frozen, target, R, domain, tau=tau)
        except AssumptionViolated as exc:  # SingularityError included
            curve.append(CurveRow(R, exact, reason=_reason(exc)))
            continue
        err = c.output_error(X_all)
        curve.append(CurveRow(
            rank=R, exact=exact and c.is_exact_in_theory(), epsilon_max=max(float(b.epsilon) for b in c.blocks),
            mean_error=float(err[:samples].mean()), max_error=float(err.max()),
            theorem5_tight=float(evaluate_bounds(c, X_uniform)["tight"]), tolerance=c.tolerance()))
    return RankAdvice(t.depth, t.target_depth, t.width, t.dtype, t.M, frozen.final_relu, radius, samples,
                      int(X_adv.shape[0]), seed, t.rank_tau, t.blocks, t.uniform, t.optimal, tuple(curve),
                      t.per_layer)
