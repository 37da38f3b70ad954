"""Formulas as sympy expressions: the single source for thresholds, error values and parameter counts.

Numeric code evaluates these expressions (``subs``/``lambdify``), the CLI prints them (``sympy.pretty``/``latex``),
and the claims registry refers to them. Symbols carry integer/positive assumptions so simplifications are valid.

``sigma(i)`` is the i-th singular value of the discrepancy E (1-indexed), with σ_i := 0 for i > D (the paper's
convention, arXiv 2310.17513v3, Sec. 2: "When d > D, σ_d(W) is defined as zero").

Every sympy expression of the package lives here — thresholds, errors, parameter counts, the Theorem 5 bounds, the
abstract's threshold — so that the claims registry only refers to this module and never imports construction,
analysis or certificate code. Parameter counts follow from the shapes: an adapter B A of a D×D layer has
r(D + D) = 2rD scalars and a bias D (the paper's own counts, e.g. 2RDL after Corollary 4, p. 6, count adapters only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import sympy as sp

from lora_theory.errors import DepthError, DomainError, UnknownClaimError
from lora_theory.tolerance import SINGULARITY_THRESHOLD
from lora_theory.validation import check_int, is_int

if TYPE_CHECKING:  # torch only in annotations: the claims registry loads without it
    import torch

__all__ = [
    "D", "L", "R", "R_E", "i", "l", "R_l", "sigma",
    "LEMMA1_THRESHOLD", "LEMMA1_ERROR_INDEX", "LEMMA1_ERROR_2NORM", "LEMMA1_FROBENIUS_ERROR",
    "HETERO_TOTAL_RANK", "HETERO_EXACT", "HETERO_ERROR_2NORM", "LINEAR_PARAMETER_COUNT",
    "evaluate_integer", "sigma_from", "evaluate_error", "with_layer_ranks",
    "Lbar", "R_max", "r_i", "n_i", "M_EXPR", "THEOREM3_THRESHOLD", "COROLLARY4_THRESHOLD", "GENERAL_THRESHOLD",
    "ONE_LAYER_THRESHOLD", "FNN_PARAMETER_COUNT", "general_threshold",
    "H", "G_i", "G_max", "THEOREM7_THRESHOLD", "THEOREM7_THRESHOLD_DISPLAY", "THEOREM7_WORST_CASE",
    "TFN_PARAMETER_COUNT", "theorem7_threshold",
    "r", "prefix_index", "EYM_ERROR", "SINGULARITY_THRESHOLD_VALUE", "LINEAR_PREFIX_RANKS", "ASSUMPTION1_RANGE",
    "ONE_LAYER_REALISED_RANK",
    "ABSTRACT_THRESHOLD", "ABSTRACT_EXACT", "ABSTRACT_THEOREM_THRESHOLD", "threshold_gap",
    "TFL_LAYERS", "TFL_PARAMETER_COUNT", "TFL_PARAMETER_COUNT_PLOT", "LORA_ONE_LAYER_THRESHOLD",
    "THEOREM5_FORMS", "eps", "Wbar_F", "Wbar_2", "bbar", "Sigma_F", "tr_Sigma", "E_block", "EPSILON_DEF",
    "theorem5_bound_printed", "theorem5_bound_variant", "theorem5_bound_tight", "theorem5_bound",
    "THEOREM5_BOUND_BUILDERS",
    "P_min", "P_max", "THEOREM6_BLOCK_BUDGET", "THEOREM6_BLOCK_EXACT", "THEOREM6_EPSILON_DEF",
    "PER_LAYER_PARAMETER_COUNT", "ASSUMPTION2_RANGE", "LEMMA10_REALISED_RANK", "LEMMA10_EXACT",
    "LEMMA10_SQUARED_BOUND", "block_budgets_of",
    "THEOREM8_THRESHOLD", "THEOREM8_THRESHOLD_DISPLAY", "THEOREM8_ADAPTED_MATRICES", "THEOREM8_PARAMETER_COUNT",
    "COROLLARY9_THRESHOLD", "theorem8_threshold",
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
LEMMA1_ERROR_2NORM = sigma(R * L + 1)
#: lemma1 — optimal Frobenius error (Σ_{i>RL} σ_i(E)²)^{1/2}
LEMMA1_FROBENIUS_ERROR = sp.sqrt(sp.Sum(sigma(i) ** 2, (i, R * L + 1, D)))
#: lemma8 — total rank budget Σ_l R_l
HETERO_TOTAL_RANK = sp.Sum(R_l[l], (l, 1, L))
#: lemma8 — exact iff Σ_l R_l ≥ R_E
HETERO_EXACT = sp.GreaterThan(HETERO_TOTAL_RANK, R_E)
#: lemma8 — optimal spectral error σ_{ΣR_l + 1}(E)
HETERO_ERROR_2NORM = sigma(HETERO_TOTAL_RANK + 1)
#: trainable scalars of a linear chain with uniform rank R: 2RD per layer
LINEAR_PARAMETER_COUNT = 2 * R * D * L

r = sp.Symbol("r", integer=True, nonnegative=True)  # a rank r ≤ D
prefix_index = sp.Symbol("j", integer=True, positive=True)  # j-th adapted prefix of the Lemma 1 construction
#: eym — Eckart–Young–Mirsky: the best rank-r approximation misses by σ_{r+1} in the spectral norm
EYM_ERROR = sigma(r + 1)
#: assumption_linear, lemma3 — σ_min/σ_max below which a matrix to solve with counts as singular
SINGULARITY_THRESHOLD_VALUE = sp.Float(SINGULARITY_THRESHOLD)
#: assumption_linear — the Lemma 1 construction solves with ∏W + LR_r(E) only for r = jR (j = 1..L−1)
LINEAR_PREFIX_RANKS = sp.Eq(r, prefix_index * R)


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
        if not (is_int(v) or isinstance(v, sp.Integer)):
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


# --- ReLU FNN (claims theorem3, corollary4, theorem6, lemma2) --------------------------------------

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
#: theorem6 — R ≥ max_i ⌈rank(E_i) / |P_i|⌉ (display form; see general_threshold for a concrete L̄)
GENERAL_THRESHOLD = max_i(sp.ceiling(r_i[i] / n_i[i]))
#: lemma2 — realised weight ∏W + LR_{min(RL, R_E)}(E), exact iff R ≥ ⌈R_E/L⌉
ONE_LAYER_THRESHOLD = LEMMA1_THRESHOLD
#: trainable scalars of an FNN with LoRA rank R and tuned biases: 2RD + D per layer
FNN_PARAMETER_COUNT = 2 * R * D * L + D * L
#: assumption1 — the ranks of the LR_r(E_i) Assumption 1 lists: r ≤ R(M − 1)
ASSUMPTION1_RANGE = sp.Le(r, R * (M_EXPR - 1))
#: lemma2 — the rank of the realised correction LR_{RL ∧ R_E}(E) (Lemma 9, the detailed Lemma 2)
ONE_LAYER_REALISED_RANK = sp.Min(R * L, R_E)


def general_threshold(ranks: tuple[int, ...], sizes: tuple[int, ...]) -> int:
    """max_i ⌈ranks[i]/sizes[i]⌉, evaluated through sympy (the concrete form of GENERAL_THRESHOLD)."""
    expr = sp.Max(*[sp.ceiling(r_i[j + 1] / n_i[j + 1]) for j in range(len(ranks))])
    values = {r_i[j + 1]: int(k) for j, k in enumerate(ranks)} | {n_i[j + 1]: int(n) for j, n in enumerate(sizes)}
    return evaluate_integer(expr, values)


# --- Transformer (claims theorem7, theorem7_scope, theorem7_gap) -------------------------------------------------

H = sp.Symbol("H", integer=True, positive=True)  # heads
G_i = sp.IndexedBase("G", integer=True, nonnegative=True)  # rank-based functionality gaps G_1..G_{L+1}
G_max = sp.Symbol("G_max", integer=True, nonnegative=True)  # max_i G_i
#: theorem7 — R ≥ max_i ⌈G_i/2⌉ (display form; each two-factor chain is exact iff 2R ≥ its discrepancy rank)
THEOREM7_THRESHOLD_DISPLAY = max_i(sp.ceiling(G_i[i] / 2))
#: theorem7 — the same threshold through the largest gap: ⌈G_max/2⌉ ≤ ⌈D/2⌉
THEOREM7_THRESHOLD = sp.ceiling(G_max / 2)
#: theorem7 — the worst case G_i = D
THEOREM7_WORST_CASE = sp.ceiling(D / 2)
#: theorem7_scope — adapter scalars 2RD(4HL + 2) (4H head matrices per block, W_2 of the last block, W_o) + bias
#: scalars 2DL (b_1, b_2 of every block)
TFN_PARAMETER_COUNT = 2 * R * D * (4 * H * L + 2) + 2 * D * L


def theorem7_threshold(gaps: tuple[int, ...]) -> int:
    """max_i ⌈G_i/2⌉ evaluated through sympy (the concrete form of THEOREM7_THRESHOLD_DISPLAY)."""
    expr = sp.Max(*[sp.ceiling(G_i[j + 1] / 2) for j in range(len(gaps))])
    return evaluate_integer(expr, {G_i[j + 1]: int(g) for j, g in enumerate(gaps)})


# --- the abstract's threshold (claim abstract_threshold) -------------------------------------------------------------

#: corollary4's threshold written with the abstract's symbols: ⌈D / ⌊L/L̄⌋⌉ (the same expression)
ABSTRACT_THEOREM_THRESHOLD = COROLLARY4_THRESHOLD
#: the abstract's informal threshold, rounded up to a rank: ⌈D·L̄/L⌉
ABSTRACT_THRESHOLD = sp.ceiling(D * Lbar / L)
#: the abstract's threshold as printed (a ratio, not a rank): D·L̄/L
ABSTRACT_EXACT = D * Lbar / L


def threshold_gap(width: int, depth: int, target_depth: int) -> tuple[int, int]:
    """(theorem threshold ⌈D/⌊L/L̄⌋⌉, abstract threshold ⌈D·L̄/L⌉), both evaluated from the sympy expressions.

    Since ⌊L/L̄⌋ ≤ L/L̄ the theorem's threshold is at least the abstract's, with equality when L̄ divides L; e.g.
    ``threshold_gap(16, 5, 2) == (8, 7)``. Raises DomainError for a non-positive or non-integer argument and
    DepthError for L̄ > L (the theorem needs L̄ ≤ L; ⌊L/L̄⌋ = 0 otherwise).
    """
    D_ = check_int(width, "width D", minimum=1)
    L_ = check_int(depth, "frozen depth L", minimum=1)
    Lb = check_int(target_depth, "target depth L̄", minimum=1)
    if Lb > L_:
        raise DepthError(f"target depth L̄={Lb} exceeds frozen depth L={L_} (the theorem needs L̄ ≤ L)")
    values = {D: D_, L: L_, Lbar: Lb}
    return evaluate_integer(ABSTRACT_THEOREM_THRESHOLD, values), evaluate_integer(ABSTRACT_THRESHOLD, values)


# --- final-layers tuning (claim lemma4; arXiv 2310.17513v3, Lemma 4) ---------------------------------------------

#: k — number of final layers tuned (1 ≤ k ≤ L − 1)
TFL_LAYERS = sp.Symbol("k", integer=True, positive=True)
#: trainable scalars of tuning the last k layers: full weights and biases, k(D² + D)
TFL_PARAMETER_COUNT = TFL_LAYERS * (D ** 2 + D)
#: the paper's count for final-layers tuning, weights only: k·D² ((L − 1)D² for k = L − 1, Lemma 4, p. 7)
TFL_PARAMETER_COUNT_PLOT = TFL_LAYERS * D ** 2
#: LoRA rank that makes an L-layer FNN exact for a one-layer target, ⌈D/L⌉ (corollary4 with L̄ = 1)
LORA_ONE_LAYER_THRESHOLD = sp.ceiling(D / L)


# --- Theorem 5 bounds (claims theorem5, theorem5_printed) ------------------------------------------------------------
#
# Symbols (all nonnegative; indices are 1-based like the maths, i, k ∈ [L̄]): varepsilon[i] = ε_i = σ_{RM+1}(E_i),
# Wbar_F[k] = ‖W̄_k‖_F, Wbar_2[k] = ‖W̄_k‖₂, bbar[k] = ‖b̄_k‖₂, Sigma_F = ‖Σ‖_F and trSigma = tr Σ = E‖x‖² with
# Σ = E[xxᵀ]. Empty products (an upper index below the lower one, e.g. ∏_{k=i+1}^{i−1}) are 1: the expressions are
# built with explicit Python products over concrete indices, *not* ``sympy.Product``, whose Karr convention would turn
# ∏_{k=i+1}^{i−1} into 1/‖W̄_i‖_F. Every bound is a sum of terms each carrying a factor ε_i, so it is 0 when every
# ε_i = 0 (at or above the threshold), and it is nondecreasing in every ε_i.

#: the three forms, in the order (a) printed, (b) variant, (c) tight
THEOREM5_FORMS = ("printed", "variant", "tight")

eps = sp.IndexedBase("varepsilon", nonnegative=True)  # ε_i = σ_{RM+1}(E_i)
Wbar_F = sp.IndexedBase("Wbar_F", nonnegative=True)  # ‖W̄_k‖_F
Wbar_2 = sp.IndexedBase("Wbar_2", nonnegative=True)  # ‖W̄_k‖₂
bbar = sp.IndexedBase("bbar", nonnegative=True)  # ‖b̄_k‖₂
Sigma_F = sp.Symbol("Sigma_F", nonnegative=True)  # ‖Σ‖_F
tr_Sigma = sp.Symbol("trSigma", nonnegative=True)  # tr Σ
E_block = sp.IndexedBase("E")  # the block discrepancy matrices E_i = W̄_i − ∏_{P_i}W (display only)

#: ε_i = σ_{RM+1}(E_i), M = ⌊L/L̄⌋ (Theorem 5, p. 6, where the paper reuses the letter E_i for this scalar)
EPSILON_DEF = sp.Eq(eps[i], sigma(R * M_EXPR + 1, E_block[i]))


def _theorem5_depth(Lbar_value: object) -> int:
    return check_int(Lbar_value, "target depth L̄ (of a Theorem 5 bound)", minimum=1, error=DepthError)


def _prod(factors) -> sp.Expr:
    """∏ of the given factors; the empty product is 1 (never sympy.Product's Karr convention)."""
    return sp.Mul(*factors)


def _beta(n: int, *, inner_upper_offset: int, final: sp.Expr) -> sp.Expr:
    """max_i (√‖Σ‖_F ∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i} ∏_{k=j+1}^{i+offset}‖W̄_k‖_F ‖b̄_j‖₂) ∨ final."""
    root = sp.sqrt(Sigma_F)
    brackets = []
    for q in range(1, n + 1):
        lead = root * _prod(Wbar_F[p] for p in range(1, q + 1))
        bias = sp.Add(*[_prod(Wbar_F[k] for k in range(p + 1, q + inner_upper_offset + 1)) * bbar[p]
                        for p in range(1, q + 1)])
        brackets.append(lead + bias)
    return sp.Max(*brackets, final)


def _frobenius_sum(n: int) -> sp.Expr:
    """Σ_i max_{k∈[L̄]}(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i."""
    growth = sp.Max(*[Wbar_F[k] + eps[k] for k in range(1, n + 1)])
    return sp.Add(*[growth ** (n - q) * eps[q] for q in range(1, n + 1)])


def theorem5_bound_printed(target_depth: int) -> sp.Expr:
    """Form (a), the bound as printed in arXiv 2310.17513v3, Theorem 5, p. 6 (inner upper index i − 1, final term
    √‖Σ‖_F)::

        β Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i,
        β = max_i(√‖Σ‖_F ∏_{j=1}^{i}‖W̄_j‖_F + Σ_{j=1}^{i} ∏_{k=j+1}^{i−1}‖W̄_k‖_F ‖b̄_j‖₂) ∨ √‖Σ‖_F.

    .. warning::
       Not a provable bound for the paper's construction. Its proof (pp. 29–31) uses E‖x‖₂ = √‖Σ‖_F, which rests on
       the identity "‖A‖_F = tr(A) for symmetric A" (App. C.1, p. 19); for positive semi-definite Σ, Jensen only gives
       E‖x‖₂ ≤ √tr Σ ≥ √‖Σ‖_F. On an adversarial instance (D = 64, W_1 = −I, R = 1) the construction's error
       ≈ 5.5 exceeds this bound (≈ 2.86). That does not refute the existential claim: a zero-output adapter does
       better there. Use :func:`theorem5_bound_variant` or :func:`theorem5_bound_tight` for a provable bound.
    """
    n = _theorem5_depth(target_depth)
    return _beta(n, inner_upper_offset=-1, final=sp.sqrt(Sigma_F)) * _frobenius_sum(n)


def theorem5_bound_variant(target_depth: int) -> sp.Expr:
    """Form (b), provable: the printed shape with inner upper index i and final term √tr Σ::

        β_var Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i} ε_i,
        β_var = max_i(√‖Σ‖_F ∏_{j=1}^{i}‖W̄_j‖_F + Σ_{j=1}^{i} ∏_{k=j+1}^{i}‖W̄_k‖_F ‖b̄_j‖₂) ∨ √tr Σ.

    Derived from the proof of Theorem 5 (arXiv 2310.17513v3, pp. 29–31) with the bound on E‖z̄_{i−1}‖ carried
    through layer i (inner index i) and E‖x‖₂ ≤ √tr Σ (Jensen) in place of √‖Σ‖_F.
    """
    n = _theorem5_depth(target_depth)
    return _beta(n, inner_upper_offset=0, final=sp.sqrt(tr_Sigma)) * _frobenius_sum(n)


def theorem5_bound_tight(target_depth: int) -> sp.Expr:
    """Form (c), derived: the spectral recursion, the strongest test of the construction::

        Σ_i (∏_{k=i+1}^{L̄}(‖W̄_k‖₂ + ε_k)) ε_i m_{i−1},   m_0 = √tr Σ,   m_i = ‖W̄_i‖₂ m_{i−1} + ‖b̄_i‖₂.

    (m_{i−1} bounds E‖z̄_{i−1}‖, the norm of the target's activation entering layer i; the error recursion is
    e_i ≤ (‖W̄_i‖₂ + ε_i) e_{i−1} + ε_i ‖z̄_{i−1}‖ with e_0 = 0, since ReLU is 1-Lipschitz.)
    """
    n = _theorem5_depth(target_depth)
    m = [sp.sqrt(tr_Sigma)]
    for q in range(1, n + 1):
        m.append(Wbar_2[q] * m[-1] + bbar[q])
    return sp.Add(*[_prod(Wbar_2[k] + eps[k] for k in range(q + 1, n + 1)) * eps[q] * m[q - 1]
                    for q in range(1, n + 1)])


THEOREM5_BOUND_BUILDERS: dict[str, Callable[[int], sp.Expr]] = {
    "printed": theorem5_bound_printed,
    "variant": theorem5_bound_variant,
    "tight": theorem5_bound_tight,
}


def theorem5_bound(form: str, target_depth: int) -> sp.Expr:
    """The sympy expression of Theorem 5 bound ``form`` ∈ {"printed", "variant", "tight"} ((a), (b), (c)) for a
    target of depth ``target_depth``; UnknownClaimError naming the known forms otherwise."""
    if form not in THEOREM5_BOUND_BUILDERS:
        raise UnknownClaimError(f"unknown Theorem 5 bound form {form!r}; known: {', '.join(THEOREM5_FORMS)}")
    return THEOREM5_BOUND_BUILDERS[form](target_depth)


# --- per-layer ranks on ReLU FNNs (claims theorem6, assumption2, lemma11, lemma10) ------------------------------------
#
# Per-layer ranks R_l (the IndexedBase R_l above). A block's expressions are written over the block-local ranks
# R_1..R_{|P_i|} (substitute with :func:`with_layer_ranks` on the block's slice of the ranks, as
# :func:`block_budgets_of` does); P_min/P_max display the block's first and last layer in the global numbering.

P_min = sp.Symbol("minP_i", integer=True, positive=True)  # first layer of block i (display)
P_max = sp.Symbol("maxP_i", integer=True, positive=True)  # last layer of block i (display)

#: theorem6 — block i's rank budget Σ_{l∈P_i} R_l (over the block-local ranks R_1..R_{|P_i|}, L = |P_i|)
THEOREM6_BLOCK_BUDGET = HETERO_TOTAL_RANK
#: theorem6 — block i is exact iff its budget reaches rank(E_i) (R_E = rank(W̄_i − ∏_{P_i}W); Theorem 6, p. 7)
THEOREM6_BLOCK_EXACT = sp.GreaterThan(THEOREM6_BLOCK_BUDGET, R_E)
#: theorem6 — ε_i = σ_{Σ_{l∈P_i}R_l + 1}(E_i), the block's realised spectral error (display form)
THEOREM6_EPSILON_DEF = sp.Eq(eps[i], sigma(sp.Sum(R_l[l], (l, P_min, P_max)) + 1, E_block[i]))
#: theorem6 (budget search) — adapter scalars of per-layer ranks R_l on D×D layers: 2·D·Σ_l R_l
PER_LAYER_PARAMETER_COUNT = 2 * D * HETERO_TOTAL_RANK
#: assumption2 — the ranks of the LR_r Assumption 2 lists: r ≤ Σ_{l=min P_i}^{max P_i − 1} R_l (p. 31)
ASSUMPTION2_RANGE = sp.Le(r, sp.Sum(R_l[l], (l, P_min, P_max - 1)))
#: lemma10 — the rank of the realised correction LR_{ΣR_l ∧ R_E}(E) (one-layer target, per-layer ranks)
LEMMA10_REALISED_RANK = sp.Min(HETERO_TOTAL_RANK, R_E)
#: lemma10 — exact iff Σ_l R_l ≥ R_E
LEMMA10_EXACT = HETERO_EXACT
#: lemma10 — provable squared-error bound E‖f(x) − f̄(x)‖₂² ≤ tr Σ · σ²_{ΣR_l+1}(E) (the printed one has ‖Σ‖_F)
LEMMA10_SQUARED_BOUND = tr_Sigma * sigma(HETERO_TOTAL_RANK + 1) ** 2


def block_budgets_of(expr: sp.Basic, ranks: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    """``expr`` (over block-local ranks, e.g. THEOREM6_BLOCK_BUDGET) evaluated on every block's slice of the per-layer
    ``ranks`` for the partition ``sizes``."""
    out, start = [], 0
    for n in sizes:
        out.append(int(with_layer_ranks(expr, tuple(ranks[start:start + n]))))
        start += n
    return tuple(out)


# --- Lemma 2's bound and Appendix H (claims lemma2, appendix_h; lemma6 uses SINGULARITY_THRESHOLD_VALUE) ---------

#: lemma2 — σ_{RL+1}(E), the spectral norm of the construction's weight residual LR_{RL∧R_E}(E) − E (0 when RL ≥ R_E)
LEMMA2_SIGMA = sigma(R * L + 1)
#: lemma2 — the bound as printed (Lemma 2, p. 5; Lemma 9, p. 25): E‖f − f̄‖² ≤ ‖Σ‖_F·σ²_{RL+1}(E) — an erratum
LEMMA2_BOUND_PRINTED = Sigma_F * LEMMA2_SIGMA ** 2
#: lemma2 — the provable bound: E‖f − f̄‖² ≤ E‖(LR − E)x‖² ≤ tr(Σ)·σ²_{RL+1}(E) (tr Σ = E‖x‖² ≥ ‖Σ‖_F)
LEMMA2_BOUND_PROVABLE = tr_Sigma * LEMMA2_SIGMA ** 2

Dbar = sp.Symbol("Dbar", integer=True, positive=True)  # target width D̄ ≤ D (Appendix H)
#: appendix_h — the rank printed on p. 46, R ≥ ⌊D̄/L⌋ (too small when L ∤ D̄)
APPENDIX_H_THRESHOLD_PRINTED = sp.floor(Dbar / L)
#: appendix_h — what Lemma 1 gives with rank(E) ≤ D̄: R ≥ ⌈D̄/L⌉ always suffices (⌈rank(E)/L⌉ is exact)
APPENDIX_H_THRESHOLD = sp.ceiling(Dbar / L)
#: appendix_h — FNN with a width-D̄ target of depth L̄ (uniform partition): R ≥ ⌈D̄/⌊L/L̄⌋⌉
APPENDIX_H_FNN_THRESHOLD = sp.ceiling(Dbar / M_EXPR)


# --- errata (lora_theory.analysis.errata; claims lemma2_printed, theorem5_printed, theorem6_printed) ----------------
#
# The printed and corrected forms of the paper's slips that the sections above do not already hold (Lemma 2's bound,
# Appendix H's threshold, Theorem 5/6's bounds and Assumption 2's range are above). Display expressions: the errata
# module evaluates them on its instances, the CLI prints them.

Enorm_x = sp.Symbol("Enorm_x", nonnegative=True)  # E‖x‖₂ for x with E[xxᵀ] = Σ
mean_sq_error = sp.Symbol("Esq_err", nonnegative=True)  # E‖f(x) − f̄(x)‖₂²
mean_error_sym = sp.Symbol("E_err", nonnegative=True)  # E‖f(x) − f̄(x)‖₂
Wfrozen = sp.IndexedBase("W")  # frozen weights W_l (display)
Rtilde = sp.IndexedBase("Rtilde", integer=True, nonnegative=True)  # R̃_i = rank(W̄_i − ∏_{P_i}W) (Theorem 3 proof)
W_o, Z_L = sp.symbols("W_o Z_L", commutative=False)  # TFN output weight and last hidden state (display)
softmax = sp.Function("softmax")  # column-wise softmax (display)

#: App. C.1 (p. 19): "‖A‖_F = tr(A) for symmetric A", used as E‖x‖₂ = √‖Σ‖_F (Lemmas 2 and 9, Theorems 5 and 6)
C1_EXPECTED_NORM_PRINTED = sp.Eq(Enorm_x, sp.sqrt(Sigma_F))
#: App. C.1 corrected: Jensen, E‖x‖₂ ≤ √(E‖x‖₂²) = √tr Σ, and tr Σ ≥ ‖Σ‖_F for PSD Σ (equal iff rank Σ ≤ 1)
C1_EXPECTED_NORM_CORRECTED = sp.Le(Enorm_x, sp.sqrt(tr_Sigma))
#: lemma2_printed — Lemma 2 as printed (p. 5): E‖f − f̄‖₂² ≤ ‖Σ‖_F·σ²_{RL+1}(E)
LEMMA2_STATEMENT_PRINTED = sp.Le(mean_sq_error, LEMMA2_BOUND_PRINTED)
#: lemma2_printed — the provable form for the construction: E‖f − f̄‖₂² ≤ tr Σ·σ²_{RL+1}(E)
LEMMA2_STATEMENT_PROVABLE = sp.Le(mean_sq_error, LEMMA2_BOUND_PROVABLE)
#: theorem5_printed — the final term of β as printed (p. 6; also Theorem 6, p. 7): … ∨ √‖Σ‖_F
BETA_FINAL_PRINTED = sp.sqrt(Sigma_F)
#: theorem5_printed — the provable final term: E‖x‖₂ ≤ √tr Σ
BETA_FINAL_CORRECTED = sp.sqrt(tr_Sigma)
#: Appendix H (p. 46) as printed: R ≥ ⌊D̄/L⌋
APPENDIX_H_STATEMENT_PRINTED = sp.GreaterThan(R, APPENDIX_H_THRESHOLD_PRINTED)
#: Appendix H corrected (Lemma 1 with rank(E) ≤ D̄): R ≥ ⌈D̄/L⌉
APPENDIX_H_STATEMENT_CORRECTED = sp.GreaterThan(R, APPENDIX_H_THRESHOLD)
#: Assumption 2 (p. 31) as printed: the discrepancy inside LR_r is W̄_i − ∏_{l=min P_i}^{max P_i − 1} W_l
ASSUMPTION2_PRODUCT_PRINTED = sp.Product(Wfrozen[l], (l, P_min, P_max - 1))
#: Assumption 2 as the construction needs it (and as Assumption 1 has it): ∏_{l∈P_i} W_l
ASSUMPTION2_PRODUCT_CORRECTED = sp.Product(Wfrozen[l], (l, P_min, P_max))
#: Theorem 3's proof (p. 28), (15)–(16) as printed: LR_{RL ∧ R̃_i}
THEOREM3_PROOF_INDEX_PRINTED = sp.Min(R * L, Rtilde[i])
#: Theorem 3's proof corrected: block i has M layers, so LR_{RM ∧ R̃_i}
THEOREM3_PROOF_INDEX_CORRECTED = sp.Min(R * M_EXPR, Rtilde[i])
#: Corollary 4 (p. 6) as printed: R ≥ D/M (a ratio)
COROLLARY4_STATEMENT_PRINTED = sp.GreaterThan(R, D / M_EXPR)
#: Corollary 4 with the ceiling (the same set of integer R): R ≥ ⌈D/M⌉
COROLLARY4_STATEMENT_CORRECTED = sp.GreaterThan(R, COROLLARY4_THRESHOLD)
#: TFN output as printed (App. F.2, p. 37): softmax(W_o Z_L)
TFN_OUTPUT_PRINTED = softmax(W_o * Z_L)
#: TFN output of the authors' code: the linear W_o Z_L
TFN_OUTPUT_CODE = W_o * Z_L


# --- Assumption 4, Lemma 14, Corollary 10 (claims assumption4, lemma14, corollary10) --------------------------------

#: assumption4 — the number of matrices Assumption 4 lists for rank R: every weight of both TFNs, 2(L(4H + 2) + 1)
#: (W_Q, W_K, W_V, W_O per head, W_1, W_2 per block, W_o), and R per family member: H per block for the score and
#: the value families (HL each) plus the output family, R(2HL + 1)
ASSUMPTION4_COUNT = 2 * (L * (4 * H + 2) + 1) + R * (2 * H * L + 1)
#: corollary10 — random TFNs: R ≥ ⌈D/2⌉ (Theorem 7's worst case G_i = D, THEOREM7_WORST_CASE)
COROLLARY10_THRESHOLD = THEOREM7_WORST_CASE


# --- Assumption 3, Lemma 13 (claims assumption3, lemma13; single-head TFN, App. F.1, p. 34) ---------------------------

#: assumption3 — the number of matrices Assumption 3 lists: every weight of both single-head TFNs, 2(5L + 1) (W_Q,
#: W_K, W_V, W_1, W_2 per block, W_o; no W_O), and, for every r ∈ [D] (as printed: not r ∈ [R]), one matrix per
#: family member: the score and value families of every block (L each) plus the output family, D(2L + 1)
ASSUMPTION3_COUNT = 2 * (5 * L + 1) + D * (2 * L + 1)


# --- single-head TFN: Theorem 8, Corollary 9 (claims theorem8, corollary9; App. F.1, pp. 34 and 36) -----------------

#: theorem8 — R ≥ max_i ⌈G_i/2⌉ with the single-head gaps (the value term W̄_1 W̄_V W̄_{2,i−1} − W_1 W_V W_{2,i−1},
#: no W_O); each score chain (W_Q, W_Kᵀ), value chain (W_V, W_1) and the output chain (W_2L, W_o) is a two-factor
#: Lemma 1 chain, exact iff 2R ≥ its discrepancy rank
THEOREM8_THRESHOLD_DISPLAY = max_i(sp.ceiling(G_i[i] / 2))
#: theorem8 — the same threshold through the largest gap: ⌈G_max/2⌉
THEOREM8_THRESHOLD = sp.ceiling(G_max / 2)
#: theorem8 — the adapted matrices: W_K, W_Q, W_V, W_1 of every block, W_2 of the last block, W_o
THEOREM8_ADAPTED_MATRICES = 4 * L + 2
#: theorem8 — trainable scalars: a D×R and an R×D factor per adapted matrix, plus b̂_1, b̂_2 of every block
THEOREM8_PARAMETER_COUNT = 2 * R * D * THEOREM8_ADAPTED_MATRICES + 2 * D * L
#: corollary9 — random single-head TFNs: every G_i = D almost surely, so R ≥ ⌈D/2⌉
COROLLARY9_THRESHOLD = sp.ceiling(D / 2)


def theorem8_threshold(gaps: tuple[int, ...]) -> int:
    """max_i ⌈G_i/2⌉ through sympy (the concrete form of THEOREM8_THRESHOLD_DISPLAY)."""
    expr = sp.Max(*[sp.ceiling(G_i[j + 1] / 2) for j in range(len(gaps))])
    return evaluate_integer(expr, {G_i[j + 1]: int(g) for j, g in enumerate(gaps)})


# --- errata found while encoding Lemma 12 and Lemma 4 (arXiv 2310.17513v3, App. E.4, pp. 32–33) ---------------------

#: Lemma 12's hypothesis as printed: some point of the frozen model's non-activation region I_l lies outside every
#: target region Ī_i
LEMMA12_HYPOTHESIS_PRINTED = sp.Symbol(r"\exists x \in I_l \setminus \bigcup_i \bar{I}_i")
#: what the proof uses (p. 33): a point in the interior of I_l at which every target pre-activation is positive
LEMMA12_HYPOTHESIS_NEEDED = sp.Symbol(r"\exists x \in \mathrm{int}\, I_l:\ \bar{z}_i(x) > 0\ \forall i")
#: the proof of Lemma 4 (p. 33): "I_1 ∖ Ī_1 = ∅ only when W_1 = W̄_1"
LEMMA4_REGION_STEP_PRINTED = sp.Symbol(r"I_1 \subseteq \bar{I}_1 \Rightarrow W_1 = \bar{W}_1")
#: the exact condition, with M = W̄_1 W_1⁻¹: I_1 ⊆ Ī_1 iff M ≥ 0 entrywise and b̄_1 − M b_1 ≤ 0
LEMMA4_REGION_STEP_CORRECTED = sp.Symbol(
    r"I_1 \subseteq \bar{I}_1 \Leftrightarrow \bar{W}_1W_1^{-1} \geq 0,\ \bar{b}_1 - \bar{W}_1W_1^{-1}b_1 \leq 0")

#: Assumption 3 (single head, App. F.1) as printed for l > 1: the score factor written W_Kl W_Ql ...
ASSUMPTION3_SCORE_PRINTED = sp.Symbol(r"W_{Kl}W_{Ql} + \mathrm{LR}_r(\cdot)")
#: ... where the construction's score chain is W_Klᵀ W_Ql (as in Theorem 8's G_i and Assumption 4)
ASSUMPTION3_SCORE_MEANT = sp.Symbol(r"W_{Kl}^\top W_{Ql} + \mathrm{LR}_r(\cdot)")
