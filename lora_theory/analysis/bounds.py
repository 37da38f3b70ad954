"""Theorem 5 bounds (claims ``theorem5`` and ``theorem5_printed``, arXiv 2310.17513 v3, Theorem 5; SPEC §6.9).

Below the Theorem 3 threshold the construction realises, block by block, W̃^{(i)} = ∏_{P_i}W + LR_{RM}(E_i) with
‖W̃^{(i)} − W̄_i‖₂ = ε_i := σ_{RM+1}(E_i), and its mean error E‖f(x) − f̄(x)‖₂ is compared with three bounds, each a
sympy expression over indexed symbols, built for a concrete target depth L̄ (:func:`bound_expr`):

(a) ``printed`` — the paper's form *as SPEC reconstructs it* (:func:`theorem5_bound_printed`; not confirmed
    against the PDF, and violated by the construction on the adversarial instance of SPEC §6.9);
(b) ``variant`` — the same shape with inner upper index i and final term √tr Σ (:func:`theorem5_bound_variant`);
(c) ``tight`` — the spectral recursion (:func:`theorem5_bound_tight`).

Symbols (all nonnegative; indices are 1-based like the maths, i, k ∈ [L̄]):

=====================  =========================================
``varepsilon[i]``      ε_i = σ_{RM+1}(E_i)
``Wbar_F[k]``          ‖W̄_k‖_F
``Wbar_2[k]``          ‖W̄_k‖₂
``bbar[k]``            ‖b̄_k‖₂
``Sigma_F``            ‖Σ‖_F, Σ = E[xxᵀ]
``trSigma``            tr Σ = E‖x‖²
=====================  =========================================

Empty products (an upper index below the lower one, e.g. ∏_{k=i+1}^{i-1}) are 1: the expressions are built with
explicit Python products over concrete indices, *not* ``sympy.Product``, whose Karr convention would turn
∏_{k=i+1}^{i-1} into 1/‖W̄_i‖_F.

Numeric evaluation (:func:`evaluate_bounds`) uses the empirical measure of the rows of X (Σ̂ = XᵀX/n), so every
valid inequality holds deterministically for that measure — there is no Monte-Carlo slack, only rounding. Every
bound is a sum of terms each carrying a factor ε_i, so it is 0 when every ε_i = 0 (at or above the threshold), and
it is nondecreasing in every ε_i.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.errors import DepthError, DomainError, ShapeError, UnknownClaimError
from lora_theory.validation import as_matrix

__all__ = [
    "FORMS", "eps", "Wbar_F", "Wbar_2", "bbar", "Sigma_F", "tr_Sigma", "E_block", "EPSILON_DEF",
    "theorem5_bound_printed", "theorem5_bound_variant", "theorem5_bound_tight", "bound_expr",
    "BoundInputs", "second_moment", "bound_inputs", "evaluate_bound", "evaluate_bounds", "mean_error",
]

#: the three forms of SPEC §6.9, in the order (a), (b), (c)
FORMS = ("printed", "variant", "tight")

eps = sp.IndexedBase("varepsilon", nonnegative=True)  # ε_i = σ_{RM+1}(E_i)
Wbar_F = sp.IndexedBase("Wbar_F", nonnegative=True)  # ‖W̄_k‖_F
Wbar_2 = sp.IndexedBase("Wbar_2", nonnegative=True)  # ‖W̄_k‖₂
bbar = sp.IndexedBase("bbar", nonnegative=True)  # ‖b̄_k‖₂
Sigma_F = sp.Symbol("Sigma_F", nonnegative=True)  # ‖Σ‖_F
tr_Sigma = sp.Symbol("trSigma", nonnegative=True)  # tr Σ
E_block = sp.IndexedBase("E")  # the block discrepancy matrices E_i = W̄_i − ∏_{P_i}W (display only)

#: ε_i = σ_{RM+1}(E_i), M = ⌊L/L̄⌋ (SPEC §2; the paper reuses the letter E_i for this scalar)
EPSILON_DEF = sp.Eq(eps[F.i], F.sigma(F.R * F.M_EXPR + 1, E_block[F.i]))


def _check_Lbar(Lbar: object) -> int:
    if isinstance(Lbar, bool) or not isinstance(Lbar, numbers.Integral) or Lbar < 1:
        raise DepthError(f"target depth L̄ must be an integer >= 1 to build a Theorem 5 bound; got {Lbar!r}")
    return int(Lbar)


def _prod(factors) -> sp.Expr:
    """∏ of the given factors; the empty product is 1 (never sympy.Product's Karr convention)."""
    return sp.Mul(*factors)


def _beta(n: int, *, inner_upper_offset: int, final: sp.Expr) -> sp.Expr:
    """max_i (√‖Σ‖_F ∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i} ∏_{k=j+1}^{i+offset}‖W̄_k‖_F ‖b̄_j‖₂) ∨ final."""
    root = sp.sqrt(Sigma_F)
    brackets = []
    for i in range(1, n + 1):
        lead = root * _prod(Wbar_F[j] for j in range(1, i + 1))
        bias = sp.Add(*[_prod(Wbar_F[k] for k in range(j + 1, i + inner_upper_offset + 1)) * bbar[j]
                        for j in range(1, i + 1)])
        brackets.append(lead + bias)
    return sp.Max(*brackets, final)


def _frobenius_sum(n: int) -> sp.Expr:
    """Σ_i max_{k∈[L̄]}(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i."""
    growth = sp.Max(*[Wbar_F[k] + eps[k] for k in range(1, n + 1)])
    return sp.Add(*[growth ** (n - i) * eps[i] for i in range(1, n + 1)])


def theorem5_bound_printed(Lbar: int) -> sp.Expr:
    """Form (a), the paper's printed bound **as reconstructed in SPEC §6.9** (inner upper index i − 1, final term
    √‖Σ‖_F)::

        β Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i,
        β = max_i(√‖Σ‖_F ∏_{j=1}^{i}‖W̄_j‖_F + Σ_{j=1}^{i} ∏_{k=j+1}^{i−1}‖W̄_k‖_F ‖b̄_j‖₂) ∨ √‖Σ‖_F.

    .. warning::
       Not confirmed against the paper's PDF: the inner upper index i − 1 (the derivation gives i) and the
       √‖Σ‖_F of the final "∨" are uncertain. The paper's construction **violates** this bound on the adversarial
       instance of SPEC §6.9 (D = 64, W_1 = −I, R = 1: error ≈ 5.5 > 2.86), because E‖x‖ ≤ √‖Σ‖_F fails
       (Jensen gives √tr Σ). That does not refute the existential claim: a zero-output adapter does better there.
       Use :func:`theorem5_bound_variant` or :func:`theorem5_bound_tight` for a provable bound.
    """
    n = _check_Lbar(Lbar)
    return _beta(n, inner_upper_offset=-1, final=sp.sqrt(Sigma_F)) * _frobenius_sum(n)


def theorem5_bound_variant(Lbar: int) -> sp.Expr:
    """Form (b), provable (SPEC §6.9): the printed shape with inner upper index i and final term √tr Σ::

        β_var Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i,
        β_var = max_i(√‖Σ‖_F ∏_{j=1}^{i}‖W̄_j‖_F + Σ_{j=1}^{i} ∏_{k=j+1}^{i}‖W̄_k‖_F ‖b̄_j‖₂) ∨ √tr Σ.
    """
    n = _check_Lbar(Lbar)
    return _beta(n, inner_upper_offset=0, final=sp.sqrt(tr_Sigma)) * _frobenius_sum(n)


def theorem5_bound_tight(Lbar: int) -> sp.Expr:
    """Form (c), derived (SPEC §6.9), the strongest test of the construction::

        Σ_i (∏_{k=i+1}^{L̄}(‖W̄_k‖₂ + ε_k)) ε_i m_{i−1},   m_0 = √tr Σ,   m_i = ‖W̄_i‖₂ m_{i−1} + ‖b̄_i‖₂.

    (m_{i−1} bounds E‖z̄_{i−1}‖, the norm of the target's activation entering layer i; the error recursion is
    e_i ≤ (‖W̄_i‖₂ + ε_i) e_{i−1} + ε_i ‖z̄_{i−1}‖ with e_0 = 0, since ReLU is 1-Lipschitz.)
    """
    n = _check_Lbar(Lbar)
    m = [sp.sqrt(tr_Sigma)]
    for i in range(1, n + 1):
        m.append(Wbar_2[i] * m[-1] + bbar[i])
    return sp.Add(*[_prod(Wbar_2[k] + eps[k] for k in range(i + 1, n + 1)) * eps[i] * m[i - 1]
                    for i in range(1, n + 1)])


_BUILDERS: dict[str, Callable[[int], sp.Expr]] = {
    "printed": theorem5_bound_printed,
    "variant": theorem5_bound_variant,
    "tight": theorem5_bound_tight,
}


def bound_expr(form: str, Lbar: int) -> sp.Expr:
    """The sympy expression of bound ``form`` ∈ {"printed", "variant", "tight"} (SPEC §6.9 (a), (b), (c)) for a
    target of depth ``Lbar``."""
    if form not in _BUILDERS:
        raise UnknownClaimError(f"unknown Theorem 5 bound form {form!r}; known: {', '.join(FORMS)}")
    return _BUILDERS[form](Lbar)


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
    if form not in _BUILDERS:
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
