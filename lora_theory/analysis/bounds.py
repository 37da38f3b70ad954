"""Theorem 5 bounds evaluated on the construction (claims ``theorem5`` and ``theorem5_printed``; arXiv 2310.17513v3,
Theorem 5, p. 6).

Below the Theorem 3 threshold the construction realises, block by block, W̃^{(i)} = ∏_{P_i}W + LR_{RM}(E_i) with
‖W̃^{(i)} − W̄_i‖₂ = ε_i := σ_{RM+1}(E_i), and its mean error E‖f(x) − f̄(x)‖₂ is compared with three bounds, sympy
expressions over indexed symbols kept in :mod:`lora_theory.formulas` (:func:`~lora_theory.formulas.theorem5_bound`,
derivations in the docstrings there):

(a) ``printed`` — the paper's bound as printed (:func:`~lora_theory.formulas.theorem5_bound_printed`; not provable
    for the construction, which exceeds it on an adversarial instance);
(b) ``variant`` — the same shape with inner upper index i and final term √tr Σ
    (:func:`~lora_theory.formulas.theorem5_bound_variant`);
(c) ``tight`` — the spectral recursion (:func:`~lora_theory.formulas.theorem5_bound_tight`).

**Theorem 6 (p. 7; claims ``theorem6`` and ``theorem6_printed``).** With per-layer ranks R_l and a general partition
the bound has the same shape, with ε_i = σ_{Σ_{l∈P_i}R_l + 1}(E_i): :func:`bound_inputs` takes ε_i from each block's
own budget (``FNNConstruction.blocks[i].epsilon``), so every function here covers Theorem 6 too;
:func:`theorem6_bounds` evaluates its printed (√‖Σ‖_F) and provable (√tr Σ) forms, and :func:`budget_epsilons`
computes the ε_i of given per-layer ranks from the block discrepancies, without a construction.

Numeric evaluation (:func:`evaluate_bound`) lambdifies those expressions and uses the empirical measure of the rows
of X (Σ̂ = XᵀX/n), so every valid inequality holds deterministically for that measure — there is no Monte-Carlo
slack, only rounding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
import torch

from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.errors import DepthError, DomainError, ShapeError
from lora_theory.formulas import (
    EPSILON_DEF,
    THEOREM5_BOUND_BUILDERS,
    E_block,
    Sigma_F,
    Wbar_2,
    Wbar_F,
    bbar,
    eps,
    theorem5_bound_printed,
    theorem5_bound_tight,
    theorem5_bound_variant,
    tr_Sigma,
)
from lora_theory.formulas import THEOREM5_FORMS as FORMS
from lora_theory.formulas import theorem5_bound as bound_expr
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import sigma as sigma_at
from lora_theory.partition import block_budgets, uniform_partition, validate_partition
from lora_theory.validation import as_matrix, check_layer_ranks

__all__ = [
    "FORMS", "eps", "Wbar_F", "Wbar_2", "bbar", "Sigma_F", "tr_Sigma", "E_block", "EPSILON_DEF",
    "theorem5_bound_printed", "theorem5_bound_variant", "theorem5_bound_tight", "bound_expr",
    "BoundInputs", "second_moment", "bound_inputs", "evaluate_bound", "evaluate_bounds", "mean_error",
    "THEOREM6_FORMS", "theorem6_bounds", "budget_epsilons",
]


@lru_cache(maxsize=None)
def _compiled(form: str, Lbar: int) -> Callable[..., float]:
    return sp.lambdify([eps, Wbar_F, Wbar_2, bbar, Sigma_F, tr_Sigma], bound_expr(form, Lbar), modules="math")


@dataclass(frozen=True)
class BoundInputs:
    """The numbers the bounds are evaluated at (0-based tuples: entry i−1 belongs to target layer i)."""

    epsilons: tuple[float, ...]  # ε_i
    target_frobenius: tuple[float, ...]  # ‖W̄_k‖_F
    target_spectral: tuple[float, ...]  # ‖W̄_k‖₂
    target_bias: tuple[float, ...]  # ‖b̄_k‖₂
    sigma_frobenius: float  # ‖Σ‖_F
    sigma_trace: float  # tr Σ

    def __post_init__(self) -> None:
        seqs = {"epsilons": self.epsilons, "target_frobenius": self.target_frobenius,
                "target_spectral": self.target_spectral, "target_bias": self.target_bias}
        n = len(self.epsilons)
        if n < 1:
            raise DepthError("BoundInputs needs one ε_i per target layer (L̄ >= 1); got none")
        for name, seq in seqs.items():
            if len(seq) != n:
                raise ShapeError(f"BoundInputs.{name} has {len(seq)} entries but epsilons has {n} (one per target "
                                 "layer)")
            object.__setattr__(self, name, tuple(self._nonneg(v, f"{name}[{k}]") for k, v in enumerate(seq)))
        object.__setattr__(self, "sigma_frobenius", self._nonneg(self.sigma_frobenius, "sigma_frobenius"))
        object.__setattr__(self, "sigma_trace", self._nonneg(self.sigma_trace, "sigma_trace"))

    @staticmethod
    def _nonneg(v: object, name: str) -> float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise DomainError(f"BoundInputs.{name} must be a finite number >= 0 (a norm); got {v!r}")
        return float(v)

    @property
    def target_depth(self) -> int:
        return len(self.epsilons)

    def with_epsilons(self, epsilons: Sequence[float]) -> "BoundInputs":
        """The same inputs with other ε_i (e.g. rounding-level ones, to bound a bound that should vanish)."""
        return BoundInputs(tuple(epsilons), self.target_frobenius, self.target_spectral, self.target_bias,
                           self.sigma_frobenius, self.sigma_trace)

    def substitutions(self) -> dict[sp.Basic, float]:
        """Symbol → value, for ``expr.subs`` (the slow path; :func:`evaluate_bound` uses lambdify)."""
        out: dict[sp.Basic, float] = {Sigma_F: self.sigma_frobenius, tr_Sigma: self.sigma_trace}
        for k in range(self.target_depth):
            out[eps[k + 1]] = self.epsilons[k]
            out[Wbar_F[k + 1]] = self.target_frobenius[k]
            out[Wbar_2[k + 1]] = self.target_spectral[k]
            out[bbar[k + 1]] = self.target_bias[k]
        return out


def second_moment(X: torch.Tensor) -> torch.Tensor:
    """Σ̂ = XᵀX / n, the second-moment matrix of the empirical measure of the rows of ``X: (n, D)``."""
    X = as_matrix(X, "X", square=False)
    return X.T @ X / X.shape[0]


def bound_inputs(construction: FNNConstruction, X: torch.Tensor) -> BoundInputs:
    """ε_i = ``construction.blocks[i].epsilon``, the target's norms, and ‖Σ̂‖_F, tr Σ̂ of the rows of ``X``
    (which must lie in the construction's domain)."""
    if not isinstance(construction, FNNConstruction):
        raise ShapeError(f"construction must be an FNNConstruction; got {type(construction).__name__}")
    X = construction.domain.check_inputs(X, "X")
    S = second_moment(X)
    tgt = construction.target
    return BoundInputs(
        epsilons=tuple(float(b.epsilon) for b in construction.blocks),
        target_frobenius=tuple(float(torch.linalg.matrix_norm(W)) for W in tgt.weights),
        target_spectral=tuple(float(torch.linalg.matrix_norm(W, ord=2)) for W in tgt.weights),
        target_bias=tuple(float(torch.linalg.vector_norm(b)) for b in tgt.biases),
        sigma_frobenius=float(torch.linalg.matrix_norm(S)),
        sigma_trace=float(torch.trace(S)),
    )


def evaluate_bound(form: str, inputs: BoundInputs) -> float:
    """Bound ``form`` at ``inputs`` (through ``lambdify`` of :func:`bound_expr`; indexed symbols are 1-based, so
    position 0 of each sequence is a NaN that would poison any stray use)."""
    if not isinstance(inputs, BoundInputs):
        raise ShapeError(f"inputs must be BoundInputs; got {type(inputs).__name__}")
    if form not in THEOREM5_BOUND_BUILDERS:
        bound_expr(form, inputs.target_depth)  # raises UnknownClaimError naming the known forms
    fn = _compiled(form, inputs.target_depth)
    pad = (math.nan,)
    return float(fn(pad + inputs.epsilons, pad + inputs.target_frobenius, pad + inputs.target_spectral,
                    pad + inputs.target_bias, inputs.sigma_frobenius, inputs.sigma_trace))


def evaluate_bounds(construction: FNNConstruction, X: torch.Tensor) -> dict[str, float]:
    """The three bounds {"printed": (a), "variant": (b), "tight": (c)} for ``construction`` under the empirical
    measure of the rows of ``X``."""
    inputs = bound_inputs(construction, X)
    return {form: evaluate_bound(form, inputs) for form in FORMS}


def mean_error(construction: FNNConstruction, X: torch.Tensor) -> float:
    """(1/n) Σ_rows ‖f(x) − f̄(x)‖₂, the construction's mean error under the empirical measure of ``X``."""
    if not isinstance(construction, FNNConstruction):
        raise ShapeError(f"construction must be an FNNConstruction; got {type(construction).__name__}")
    return float(construction.output_error(X).mean())


#: Theorem 6's bound forms → the Theorem 5 form with the same expression: "printed" (√‖Σ‖_F, as printed on p. 7),
#: "provable" (the variant (b): inner upper index i and √tr Σ) and "tight" (the spectral recursion (c))
THEOREM6_FORMS: dict[str, str] = {"printed": "printed", "provable": "variant", "tight": "tight"}


def theorem6_bounds(construction: FNNConstruction, X: torch.Tensor) -> dict[str, float]:
    """Theorem 6's bound (arXiv 2310.17513v3, p. 7) for ``construction`` (any partition, uniform or per-layer ranks)
    under the empirical measure of the rows of ``X``: {"printed": the bound as printed (√‖Σ‖_F in β; not provable,
    see :func:`~lora_theory.formulas.theorem5_bound_printed`), "provable": the same shape with √tr Σ and inner upper
    index i, "tight": the spectral recursion}, each with ε_i = σ_{Σ_{l∈P_i}R_l+1}(E_i) of the construction's
    blocks. Compare with :func:`mean_error`."""
    inputs = bound_inputs(construction, X)
    return {name: evaluate_bound(form, inputs) for name, form in THEOREM6_FORMS.items()}


def budget_epsilons(frozen: ReLUFNN, target: ReLUFNN, rank: int | Sequence[int],
                    partition: Sequence[int] | None = None, tau: float | None = None) -> tuple[float, ...]:
    """ε_i = σ_{Σ_{l∈P_i}R_l + 1}(E_i) for per-layer ranks ``rank`` (an int R means R_l = R on every layer) and a
    partition (default uniform), from the block discrepancies alone (σ_j := 0 past D; a σ at or below the block's
    rank threshold counts as 0, the construction's rule)."""
    L, Lbar = check_fnn_pair(frozen, target)
    ranks = check_layer_ranks(rank, depth=L, width=frozen.width)
    sizes = uniform_partition(L, Lbar) if partition is None else validate_partition(partition, L, Lbar)
    out = []
    for blk, k in zip(block_discrepancies(frozen, target, sizes, tau=tau), block_budgets(ranks, sizes)):
        e = sigma_at(blk.singular_values, k + 1)
        out.append(e if e > blk.threshold else 0.0)
    return tuple(out)
