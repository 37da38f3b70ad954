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
from lora_theory.validation import as_matrix

__all__ = [
    "FORMS", "eps", "Wbar_F", "Wbar_2", "bbar", "Sigma_F", "tr_Sigma", "E_block", "EPSILON_DEF",
    "theorem5_bound_printed", "theorem5_bound_variant", "theorem5_bound_tight", "bound_expr",
    "BoundInputs", "second_moment", "bound_inputs", "evaluate_bound", "evaluate_bounds", "mean_error",
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
