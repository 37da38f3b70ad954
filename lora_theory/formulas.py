"""Formulas as sympy expressions: the single source for thresholds, error values and parameter counts.

Numeric code evaluates these expressions (``subs``/``lambdify``), the CLI prints them (``sympy.pretty``/``latex``),
and the claims registry refers to them. Symbols carry integer/positive assumptions so simplifications are valid.

``sigma(i)`` is the i-th singular value of the discrepancy E (1-indexed), with σ_i := 0 for i > D (SPEC §2).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import sympy as sp
import torch

from lora_theory.errors import DomainError

__all__ = [
    "D", "L", "R", "R_E", "i", "l", "R_l", "sigma",
    "LEMMA1_THRESHOLD", "LEMMA1_ERROR_INDEX", "LEMMA1_SPECTRAL_ERROR", "LEMMA1_FROBENIUS_ERROR",
    "HETERO_TOTAL_RANK", "HETERO_EXACT", "HETERO_SPECTRAL_ERROR", "LINEAR_PARAMETER_COUNT",
    "evaluate_integer", "sigma_from", "evaluate_error", "with_layer_ranks",
    "Lbar", "R_max", "r_i", "n_i", "M_EXPR", "THEOREM3_THRESHOLD", "COROLLARY4_THRESHOLD", "GENERAL_THRESHOLD",
    "ONE_LAYER_THRESHOLD", "FNN_PARAMETER_COUNT", "general_threshold",
    "H", "G_i", "G_max", "THEOREM7_THRESHOLD", "THEOREM7_THRESHOLD_DISPLAY", "THEOREM7_WORST_CASE",
    "TFN_PARAMETER_COUNT", "theorem7_threshold",
]

D = sp.Symbol("D", integer=True, positive=True)  # width
L = sp.Symbol("L", integer=True, positive=True)  # frozen depth
R = sp.Symbol("R", integer=True, positive=True)  # uniform LoRA rank
R_E = sp.Symbol("R_E", integer=True, nonnegative=True)  # rank of the discrepancy E = W̄ − ∏W
i = sp.Symbol("i", integer=True, positive=True)
l = sp.Idx("l")
R_l = sp.IndexedBase("R", integer=True, nonnegative=True)  # per-layer ranks
sigma = sp.Function("sigma", nonnegative=True)

#: lemma1 — smallest uniform rank that makes the linear chain exact: ⌈R_E / L⌉
LEMMA1_THRESHOLD = sp.ceiling(R_E / L)
#: lemma1 — index of the singular value that is the optimal spectral error
LEMMA1_ERROR_INDEX = R * L + 1
#: lemma1 — optimal spectral error σ_{RL+1}(E)
LEMMA1_SPECTRAL_ERROR = sigma(R * L + 1)
#: lemma1 — optimal Frobenius error (Σ_{i>RL} σ_i(E)²)^{1/2}
LEMMA1_FROBENIUS_ERROR = sp.sqrt(sp.Sum(sigma(i) ** 2, (i, R * L + 1, D)))
#: hetero_ranks — total rank budget Σ_l R_l
HETERO_TOTAL_RANK = sp.Sum(R_l[l], (l, 1, L))
#: hetero_ranks — exact iff Σ_l R_l ≥ R_E
HETERO_EXACT = sp.GreaterThan(HETERO_TOTAL_RANK, R_E)
#: hetero_ranks — optimal spectral error σ_{ΣR_l + 1}(E)
HETERO_SPECTRAL_ERROR = sigma(HETERO_TOTAL_RANK + 1)
#: trainable scalars of a linear chain with uniform rank R (SPEC §3.5)
LINEAR_PARAMETER_COUNT = 2 * R * D * L


def evaluate_integer(expr: sp.Basic, values: Mapping[sp.Symbol, int]) -> int:
    """Substitute integer values and return the (integer) result.

    Raises DomainError (a ValueError) when ``expr`` is not a sympy expression, ``values`` is not a mapping of
    symbols to integers (bools and non-integers are refused, never truncated), or the result is not an integer
    (a missing value, a division by zero)."""
    if not isinstance(expr, sp.Basic):
        raise DomainError(f"expr must be a sympy expression; got {type(expr).__name__}")
    if not isinstance(values, Mapping):
        raise DomainError(f"values must be a mapping from symbols to integers; got {type(values).__name__}")
    clean = {}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, sp.Integer)):
            raise DomainError(f"values[{k}] must be an integer; got {v!r}")
        if getattr(k, "is_positive", None) and v <= 0 or getattr(k, "is_nonnegative", None) and v < 0:
            kind = "positive" if getattr(k, "is_positive", None) else "nonnegative"
            raise DomainError(f"values[{k}] must be a {kind} integer (the symbol's domain); got {v!r}")
        clean[k] = sp.Integer(int(v))
    out = expr.xreplace(clean)  # ~100× faster than subs
    if not out.is_Integer:
        raise DomainError(f"{expr} with {dict(values)} did not evaluate to an integer: {out}")
    return int(out)


def sigma_from(singular_values: torch.Tensor) -> Callable[[int], float]:
    """A 1-indexed σ function over given singular values, 0 past the end (σ_i := 0 for i > D)."""
    s = [float(v) for v in singular_values]
    return lambda k: s[int(k) - 1] if 1 <= int(k) <= len(s) else 0.0


def evaluate_error(expr: sp.Basic, values: Mapping[sp.Symbol, int], singular_values: torch.Tensor) -> float:
    """Evaluate an error expression in σ(·) numerically (via ``lambdify``) for the given singular values."""
    expr = sp.sympify(expr).subs(dict(values))
    free = sorted(expr.free_symbols - {i}, key=str)
    if free:
        raise DomainError(f"cannot evaluate {expr}: no value for {free}")
    fn = sp.lambdify([sigma], expr, modules="math")
    return float(fn(sigma_from(singular_values)))


def with_layer_ranks(expr: sp.Basic, ranks: tuple[int, ...]) -> sp.Basic:
    """Substitute L = len(ranks) and R_l = ranks[l-1] into an expression over the per-layer ranks R_l."""
    expanded = sp.sympify(expr).subs(L, len(ranks)).doit()
    return expanded.subs({R_l[j + 1]: int(r) for j, r in enumerate(ranks)})


# --- ReLU FNN (claims theorem3, corollary4, general_partition, one_layer_fnn) --------------------------------------

Lbar = sp.Symbol("Lbar", integer=True, positive=True)  # target depth L̄
R_max = sp.Symbol("R_Emax", integer=True, nonnegative=True)  # max_i rank(E_i), E_i = W̄_i − ∏_{P_i} W
r_i = sp.IndexedBase("r", integer=True, nonnegative=True)  # rank(E_i) for a given partition
n_i = sp.IndexedBase("n", integer=True, positive=True)  # block sizes |P_i|
max_i = sp.Function("max_i")  # display-only: maximum over the blocks i = 1..L̄

#: layers per block of the uniform partition, M = ⌊L/L̄⌋ (a floor, not a ratio)
M_EXPR = sp.floor(L / Lbar)
#: theorem3 — uniform partition: R ≥ ⌈max_i rank(E_i) / M⌉
THEOREM3_THRESHOLD = sp.ceiling(R_max / M_EXPR)
#: corollary4 — random weights: rank(E_i) = D almost surely, so R ≥ ⌈D / ⌊L/L̄⌋⌉
COROLLARY4_THRESHOLD = sp.ceiling(D / M_EXPR)
#: general_partition — R ≥ max_i ⌈rank(E_i) / |P_i|⌉ (display form; see general_threshold for a concrete L̄)
GENERAL_THRESHOLD = max_i(sp.ceiling(r_i[i] / n_i[i]))
#: one_layer_fnn — realised weight ∏W + LR_{min(RL, R_E)}(E), exact iff R ≥ ⌈R_E/L⌉
ONE_LAYER_THRESHOLD = LEMMA1_THRESHOLD
#: trainable scalars of an FNN with LoRA rank R and tuned biases (SPEC §3.5)
FNN_PARAMETER_COUNT = 2 * R * D * L + D * L


def general_threshold(ranks: tuple[int, ...], sizes: tuple[int, ...]) -> int:
    """max_i ⌈ranks[i]/sizes[i]⌉, evaluated through sympy (the concrete form of GENERAL_THRESHOLD)."""
    expr = sp.Max(*[sp.ceiling(r_i[j + 1] / n_i[j + 1]) for j in range(len(ranks))])
    values = {r_i[j + 1]: int(k) for j, k in enumerate(ranks)} | {n_i[j + 1]: int(n) for j, n in enumerate(sizes)}
    return evaluate_integer(expr, values)


# --- Transformer (claims theorem7, theorem7_scope, tfn_gap) --------------------------------------------------------

H = sp.Symbol("H", integer=True, positive=True)  # heads
G_i = sp.IndexedBase("G", integer=True, nonnegative=True)  # rank-based functionality gaps G_1..G_{L+1}
G_max = sp.Symbol("G_max", integer=True, nonnegative=True)  # max_i G_i
#: theorem7 — R ≥ max_i ⌈G_i/2⌉ (display form; each two-factor chain is exact iff 2R ≥ its discrepancy rank)
THEOREM7_THRESHOLD_DISPLAY = max_i(sp.ceiling(G_i[i] / 2))
#: theorem7 — the same threshold through the largest gap: ⌈G_max/2⌉ ≤ ⌈D/2⌉
THEOREM7_THRESHOLD = sp.ceiling(G_max / 2)
#: theorem7 — the worst case G_i = D
THEOREM7_WORST_CASE = sp.ceiling(D / 2)
#: theorem7_scope — adapter scalars 2RD(4HL + 2) + bias scalars 2DL (SPEC §3.5)
TFN_PARAMETER_COUNT = 2 * R * D * (4 * H * L + 2) + 2 * D * L


def theorem7_threshold(gaps: tuple[int, ...]) -> int:
    """max_i ⌈G_i/2⌉ evaluated through sympy (the concrete form of THEOREM7_THRESHOLD_DISPLAY)."""
    expr = sp.Max(*[sp.ceiling(G_i[j + 1] / 2) for j in range(len(gaps))])
    return evaluate_integer(expr, {G_i[j + 1]: int(g) for j, g in enumerate(gaps)})
