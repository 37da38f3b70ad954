"""The error bound of the paper's Lemma 2 (claim ``lemma2``; arXiv 2310.17513v3, Lemma 2, p. 5; detailed version
Lemma 9, App. E.1, pp. 25–26), printed and provable, for a construction and a sample.

**The construction's residual** (Lemma 9, p. 25). For a one-layer target ReLU(W̄x + b̄) the construction makes the
adapted FNN compute ReLU(W̃x + b̄) on the domain, W̃ = ∏W + LR_k(E), k = min(RL, R_E), E = W̄ − ∏W. With
M := W̃ − W̄ = LR_k(E) − E (so ‖M‖₂ = σ_{k+1}(E) = σ_{RL+1}(E)),

    f(x) − f̄(x) = ReLU(W̄x + b̄ + Mx) − ReLU(W̄x + b̄)      (paper's convention: ReLU after every layer)
    f(x) − f̄(x) = Mx                                        (``final_relu=False``).

The paper writes the first as ReLU(Mx) (p. 25), which holds only where W̄x + b̄ ≥ 0 and W̄x + b̄ + Mx ≥ 0 or
similar; what always holds is ‖f(x) − f̄(x)‖₂ ≤ ‖Mx‖₂ (ReLU is 1-Lipschitz coordinate-wise), with equality where
both pre-activations are positive, and always without the final ReLU.

**The bound.** For any input distribution with Σ = E[xxᵀ],

    E‖f(x) − f̄(x)‖₂² ≤ E‖Mx‖₂² = tr(MᵀMΣ) ≤ ‖M‖₂²·tr Σ = tr(Σ)·σ²_{RL+1}(E)      (provable)

while the paper prints ‖Σ‖_F·σ²_{RL+1}(E) (p. 5; Lemma 9, p. 25), from the line "‖A‖_F = tr(A) for symmetric A" of
App. C.1 (p. 19), false for Σ of rank ≥ 2 (tr Σ ≥ ‖Σ‖_F, equality iff rank Σ ≤ 1). Both are evaluated from the
sympy expressions :data:`lora_theory.formulas.LEMMA2_BOUND_PRINTED` / ``LEMMA2_BOUND_PROVABLE``.

**On a sample** X (rows x_1..x_n) take the empirical measure: Σ = XᵀX/n, so tr Σ = (1/n)Σ‖x_j‖² and the left side
is (1/n)Σ‖f(x_j) − f̄(x_j)‖². The provable inequality then holds *pointwise*, ‖f(x_j) − f̄(x_j)‖ ≤ σ‖x_j‖, hence
for the sample in exact arithmetic; :func:`lemma2_bounds` gives the root-mean-square form
RMS ≤ σ_{RL+1}(E)·√tr Σ with a tolerance (the construction's own, plus the rounding of σ times √tr Σ).

**Where the printed form fails.** Σ ∝ I (e.g. the sample ±ρe_j) and E with tied tail singular values
σ_{k+1} = … = σ_D = σ, no final ReLU (or biases keeping every unit active): the construction's error is
E‖Mx‖² = (D − k)σ²·tr Σ/D, the printed bound σ²·tr Σ/√D, so it is exceeded whenever D − k > √D
(:func:`tied_tail_instance` builds such an instance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lora_theory import formulas as F
from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.domains import Ball
from lora_theory.errors import DepthError, DTypeError, ShapeError
from lora_theory.models import ReLUFNN
from lora_theory.numerics import chain_product, singular_values
from lora_theory.random_matrices import generator, haar_orthogonal, matrix_with_singular_values
from lora_theory.tolerance import Tolerance
from lora_theory.validation import check_int, check_positive_float

__all__ = ["Lemma2Bounds", "lemma2_bounds", "second_moment", "tied_tail_instance", "TiedTailInstance"]


def second_moment(X: torch.Tensor) -> torch.Tensor:
    """Σ = XᵀX/n, the second moment of the empirical measure of the rows of ``X: (n, D)``."""
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or X.shape[0] == 0:
        raise ShapeError(f"X must be an (n, D) tensor with n ≥ 1; got {getattr(X, 'shape', type(X).__name__)}")
    return X.T @ X / X.shape[0]


@dataclass(frozen=True)
class Lemma2Bounds:
    """Both sides of Lemma 2's bound for one construction on the empirical measure of a sample.

    ``mean_squared_error`` = (1/n)Σ‖f(x_j) − f̄(x_j)‖² as computed; ``quadratic_form`` = (1/n)Σ‖Mx_j‖² =
    tr(MᵀMΣ) (M = ∏W̃ − W̄, the construction's weight residual: the error exactly when no final ReLU, an upper
    bound otherwise); ``sigma_next`` = σ_{RL+1}(E); ``trace`` = tr Σ; ``frobenius`` = ‖Σ‖_F; ``printed`` =
    ‖Σ‖_F·σ²; ``provable`` = tr Σ·σ²; ``tolerance`` bounds what rounding can add to √mean_squared_error beyond
    √provable.
    """

    n: int
    rank: int
    depth: int
    mean_squared_error: float
    quadratic_form: float
    sigma_next: float
    trace: float
    frobenius: float
    printed: float
    provable: float
    tolerance: Tolerance

    @property
    def rms_error(self) -> float:
        return math.sqrt(self.mean_squared_error)

    @property
    def rms_provable(self) -> float:
        """σ_{RL+1}(E)·√tr Σ: the root of the provable bound."""
        return math.sqrt(self.provable)

    @property
    def rms_printed(self) -> float:
        return math.sqrt(self.printed)

    def summary(self) -> str:
        return (f"E‖f − f̄‖² = {self.mean_squared_error:.6e} (tr(MᵀMΣ) = {self.quadratic_form:.6e}); provable "
                f"tr Σ·σ²_{{RL+1}} = {self.trace:.4g}·{self.sigma_next:.4g}² = {self.provable:.6e}; printed "
                f"‖Σ‖_F·σ² = {self.frobenius:.4g}·{self.sigma_next:.4g}² = {self.printed:.6e}; n = {self.n}")


def lemma2_bounds(construction: FNNConstruction, X: torch.Tensor) -> Lemma2Bounds:
    """The printed and the provable bound of Lemma 2 for ``construction`` (a one-layer target, built by
    :func:`lora_theory.constructions.fnn.construct_fnn`) on the empirical measure of the rows of ``X: (n, D)`` (each
    in the construction's domain), next to the error the construction makes there.

    σ_{RL+1}(E) is computed from E = W̄ − ∏W (singular values, σ_i := 0 for i > D); the two bounds are evaluated
    from :data:`lora_theory.formulas.LEMMA2_BOUND_PRINTED` and ``LEMMA2_BOUND_PROVABLE``. Raises DepthError for a
    target of depth > 1, DomainError for inputs outside the domain.
    """
    if not isinstance(construction, FNNConstruction):
        raise DTypeError(f"construction must be an FNNConstruction; got {type(construction).__name__}")
    target = construction.target
    if target.depth != 1:
        raise DepthError(f"Lemma 2 is about a one-layer target; got target depth L̄={target.depth}")
    X = construction.domain.check_inputs(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ShapeError(f"X must be an (n, D) sample with n ≥ 1; got shape {tuple(X.shape)}")
    frozen = construction.frozen
    R, L, D = construction.rank, frozen.depth, frozen.width
    E = target.weights[0] - chain_product(frozen.weights)
    s = singular_values(E)
    values = {F.R: R, F.L: L}
    sig = F.evaluate_error(F.LEMMA2_SIGMA, values, s)
    Sigma = second_moment(X)
    trace = float(torch.trace(Sigma))
    frob = float(torch.linalg.matrix_norm(Sigma))
    printed = F.evaluate_error(F.LEMMA2_BOUND_PRINTED.subs(F.Sigma_F, frob), values, s)
    provable = F.evaluate_error(F.LEMMA2_BOUND_PROVABLE.subs(F.tr_Sigma, trace), values, s)
    diff = construction.adapted()(X) - target(X)
    mse = float((diff * diff).sum(dim=1).mean())
    lin = construction.blocks[0].linear
    M = lin.residual()
    MX = X @ M.T
    quad = float((MX * MX).sum(dim=1).mean())
    fnn_tol = construction.tolerance()
    chain_tol = lin.tolerance()
    value = fnn_tol.value + chain_tol.value * math.sqrt(trace)
    tol = Tolerance(value=value, scale=max(fnn_tol.scale, 1.0),
                    formula="τ_FNN + τ_chain·√tr Σ (the construction's output tolerance, plus the rounding of "
                            "σ_{RL+1}(E) times √tr Σ)",
                    terms={"τ_FNN": fnn_tol.value, "τ_chain": chain_tol.value, "√tr Σ": math.sqrt(trace), "D": D})
    return Lemma2Bounds(n=int(X.shape[0]), rank=R, depth=L, mean_squared_error=mse, quadratic_form=quad,
                        sigma_next=sig, trace=trace, frobenius=frob, printed=printed, provable=provable,
                        tolerance=tol)


@dataclass(frozen=True, eq=False)
class TiedTailInstance:
    """A one-layer instance where the printed Lemma 2 bound fails for the construction (module docstring).

    ``frozen``/``target``: width D, depths L and 1; E = W̄ − ∏W has singular values (head…, σ, …, σ) with k = RL
    leading ones above the tied tail σ; ``domain`` a ball; ``X`` the sample ±ρ·e_j (Σ = ρ²I/D); ``rank`` = R.
    """

    frozen: ReLUFNN
    target: ReLUFNN
    rank: int
    domain: Ball
    X: torch.Tensor
    tail: float
    args: str

    def repro(self) -> str:
        return f"tied_tail_instance({self.args})"


def tied_tail_instance(width: int = 6, depth: int = 2, rank: int = 1, *, tail: float = 0.1,
                       final_relu: bool = False, seed: int = 0,
                       dtype: torch.dtype = torch.float64) -> TiedTailInstance:
    """Frozen layers with singular values in [0.8, 1.25] (Haar factors, seeded), E = U diag(s) Vᵀ with the first
    k = min(R·L, D) singular values 2·tail·(1.5 … 1) and the remaining D − k tied at ``tail``, target W̄ = ∏W + E
    (with the default tail 0.1, ‖E‖₂ ≤ 0.3 < 0.8³ ≤ σ_min(∏W) for L ≤ 3, so ∏W + LR_r(E) is non-singular).
    Biases: 0 without a final ReLU; with ``final_relu`` the target bias is b̄ = 2·(‖W̄‖₂ + ‖E‖₂)·ρ·1, so every unit
    of f and f̄ is active on the ball and f − f̄ = Mx there too. Domain: the ball of radius ρ = 1; sample ±e_j."""
    D = check_int(width, "width", minimum=2, error=ShapeError)
    L = check_int(depth, "depth", minimum=1)
    R = check_int(rank, "rank", minimum=1, maximum=D)
    tail = check_positive_float(tail, "tail")
    gen = generator(seed)
    weights = []
    for _ in range(L):
        sv = torch.sort(0.8 + 0.45 * torch.rand(D, generator=gen, dtype=dtype), descending=True).values
        weights.append(matrix_with_singular_values(sv, gen, dtype=dtype))
    k = min(R * L, D)
    head = 2 * tail * torch.linspace(1.5, 1.0, k, dtype=dtype) if k else torch.zeros(0, dtype=dtype)
    s = torch.cat([head, torch.full((D - k,), tail, dtype=dtype)])
    U, V = haar_orthogonal(D, gen, dtype=dtype), haar_orthogonal(D, gen, dtype=dtype)
    E = (U * s) @ V.T
    Wbar = chain_product(weights) + E
    rho = 1.0
    zero = torch.zeros(D, dtype=dtype)
    if final_relu:
        c = 2.0 * (float(torch.linalg.matrix_norm(Wbar, ord=2)) + float(s.max())) * rho
        bbar = torch.full((D,), c, dtype=dtype)
    else:
        bbar = zero
    frozen = ReLUFNN(tuple(weights), (zero,) * L, final_relu)
    target = ReLUFNN((Wbar,), (bbar,), final_relu)
    eye = torch.eye(D, dtype=dtype)
    X = torch.cat([rho * eye, -rho * eye])
    args = f"width={D}, depth={L}, rank={R}, tail={tail!r}, final_relu={final_relu!r}, seed={seed}"
    return TiedTailInstance(frozen, target, R, Ball(D, rho), X, tail, args)
