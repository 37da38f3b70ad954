"""Tuning final layers (TFL) versus LoRA: claim ``lemma4`` (arXiv 2310.17513v3, Lemma 4, p. 7; the paper calls it
"final layers tuning"; its general version is Lemma 12, App. E.4, p. 32).

TFL freezes layer 1 of an L-layer ReLU FNN, (W_1, b_1), and tunes every weight and bias of layers 2..L at full rank.
Whatever it tunes, the network is f = g∘h with h(x) = ReLU(W_1x + b_1) fixed: **f depends on x only through h**.

**Non-representability certificate** (:func:`tfl_certificate`). Pick a unit k and u ∈ R^D with u_k < 0, set
u' = u − t·e_k (t > 0) and solve for the inputs that produce these pre-activations,

    x = W_1⁻¹(u − b_1),    x' = W_1⁻¹(u' − b_1)    (``torch.linalg.solve``; never an explicit inverse).

u and u' differ only in entry k, where both are negative, so h(x) = ReLU(u) = ReLU(u') = h(x') in exact arithmetic,
and *every* function of h — every TFL network, whatever its layers 2..L — takes the same value at x and x'. If the
target differs there, f̄(x) ≠ f̄(x'), no TFL parameters give f = f̄ on any domain containing x and x'. (Moving x along
W_1⁻¹e_k inside the region (W_1x + b_1)_k < 0 leaves h unchanged; a generic target changes along that direction.)

*In floating point.* For the computed points x̂, x̂' the rounding bound of the one tolerance model
(:func:`lora_theory.tolerance.tfl_certificate_tolerance`, where it is derived from the backward stability of the
solve) gives

    ‖h(x̂) − h(x̂')‖₂ ≤ τ := u·D²·(‖W_1‖₂(‖x̂‖₂ + ‖x̂'‖₂) + 2‖b_1‖₂),

and the certificate records the difference actually computed in float64 next to τ. A probe is accepted when the
target gap ‖f̄(x̂) − f̄(x̂')‖₂ is at least ``margin``·τ (default 10³). Then any g∘h with Lipschitz constant Λ has
‖g∘h(x̂) − g∘h(x̂')‖ ≤ Λτ, so it misses f̄ by at least (gap − Λτ)/2 at one of the two points; and the exact points
x, x' (where h agrees exactly) lie within ‖W_1⁻¹‖·τ of x̂, x̂', where the continuous target still differs.

**Domain caveat** (derived here; Lemma 4 is stated for random weights without naming the domain). The argument needs
inputs where some first-layer unit is *negative*. On a region where every unit of W_1x + b_1 is positive,
h(x) = W_1x + b_1 is invertible and TFL *can* match a one-layer target exactly: W̄x + b̄ = W̄W_1⁻¹(h − b_1) + b̄.
:func:`tfl_local_match` builds that network. So a test of the claim must take the domain to be R^D, or a ball large
enough to contain the certificate points.

**D = 1 is exempt.** The dead region of the single unit is a half-line; with positive probability the target is dead
on all of it too (sign(w̄) = sign(w) and the target's kink beyond the frozen one), and then TFL matches the target on
all of R: h = 0 ⇒ f̄ = 0 = g(0), and on the live half-line h = wx + b is invertible as above. A certificate exists
exactly when the target is not constant on the frozen unit's dead half-line, so for D = 1 :func:`tfl_certificate`
may rightly return ``None``. For D ≥ 2 and continuous random weights the claim is "with probability 1".

**Parameter counts** (sympy expressions in :mod:`lora_theory.formulas`): TFL on the last k layers tunes k(D² + D)
scalars (the paper counts the weights only, (L − 1)D², p. 7); LoRA on every layer needs only R = ⌈D/L⌉ for a
one-layer target (claim ``corollary4`` with L̄ = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lora_theory import formulas as F
from lora_theory.errors import DepthError, DTypeError, SingularityError
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import SINGULARITY_THRESHOLD, singular_values, spectral_norm, unit_roundoff
from lora_theory.tolerance import Tolerance, tfl_certificate_tolerance, tfl_local_match_tolerance
from lora_theory.validation import check_int, check_positive_float, check_size

__all__ = ["tfl_parameter_count", "TFLCertificate", "tfl_certificate", "certificate_tolerance", "TFLLocalMatch",
           "tfl_local_match"]


def tfl_parameter_count(D: int, k: int) -> int:
    """k(D² + D): the scalars TFL tunes on the last k layers of a width-D FNN (evaluated from
    :data:`lora_theory.formulas.TFL_PARAMETER_COUNT`)."""
    D, k = check_int(D, "width D", minimum=1), check_int(k, "tuned layers k", minimum=1)
    return F.evaluate_integer(F.TFL_PARAMETER_COUNT, {F.D: D, F.TFL_LAYERS: k})


def certificate_tolerance(W1: torch.Tensor, b1: torch.Tensor, x: torch.Tensor, x_prime: torch.Tensor) -> Tolerance:
    """τ = u·D²·(‖W_1‖₂(‖x‖₂ + ‖x'‖₂) + 2‖b_1‖₂): what rounding can make of ‖h(x) − h(x')‖₂ (gathers the norms for
    :func:`lora_theory.tolerance.tfl_certificate_tolerance`)."""
    return tfl_certificate_tolerance(
        unit_roundoff=unit_roundoff(W1.dtype), width=int(W1.shape[0]), w1_norm=spectral_norm(W1),
        b1_norm=float(torch.linalg.vector_norm(b1)), x_norm=float(torch.linalg.vector_norm(x)),
        x_prime_norm=float(torch.linalg.vector_norm(x_prime)))


@dataclass(frozen=True, eq=False)
class TFLCertificate:
    """Two inputs with the same first-layer output h but different target outputs (see the module docstring).

    ``unit`` is k (0-indexed), ``u``: (D,) the chosen pre-activation (u_k < 0), ``shift`` = t, ``x``/``x_prime``:
    (D,) the inputs, ``h_difference`` = ‖h(x) − h(x')‖₂ as computed in float64 (≈ 0), ``target_gap`` =
    ‖f̄(x) − f̄(x')‖₂, ``tolerance`` the rounding bound τ on ``h_difference``, ``probes`` the number of probes drawn
    until this one (1 = the first probe worked).
    """

    unit: int
    u: torch.Tensor
    shift: float
    x: torch.Tensor
    x_prime: torch.Tensor
    h_difference: float
    target_gap: float
    tolerance: Tolerance
    margin: float
    probes: int

    @property
    def x_norm(self) -> float:
        return float(torch.linalg.vector_norm(self.x))

    @property
    def x_prime_norm(self) -> float:
        return float(torch.linalg.vector_norm(self.x_prime))

    @property
    def radius(self) -> float:
        """max(‖x‖, ‖x'‖): a ball of at least this radius contains both points."""
        return max(self.x_norm, self.x_prime_norm)

    @property
    def points(self) -> torch.Tensor:
        """(2, D): x and x' as rows."""
        return torch.stack([self.x, self.x_prime])

    def is_valid(self) -> bool:
        """h agrees within τ and the target differs by at least margin·τ."""
        return self.h_difference <= self.tolerance.value and self.target_gap >= self.margin * self.tolerance.value

    def summary(self) -> str:
        return (f"unit k={self.unit + 1}, shift t={self.shift:g}, probe {self.probes}: ‖h(x) − h(x′)‖ = "
                f"{self.h_difference:.3e} (τ = {self.tolerance.value:.3e}), ‖f̄(x) − f̄(x′)‖ = {self.target_gap:.3e} "
                f"({self.target_gap / self.tolerance.value:.3g}·τ), ‖x‖ = {self.x_norm:.4g}, "
                f"‖x′‖ = {self.x_prime_norm:.4g}")


_TFL_DEPTH_REASON = "TFL freezes layer 1 and tunes layers 2..L"


def _check_first_layer(W1: torch.Tensor) -> float:
    """σ_min/σ_max of W_1 (refuse to solve with a numerically singular one); returns κ(W_1)."""
    s = singular_values(W1)
    smax, smin = float(s[0]), float(s[-1])
    ratio = smin / smax if smax > 0 else 0.0
    if not ratio >= SINGULARITY_THRESHOLD:
        raise SingularityError(f"frozen W_1 is numerically singular: σ_min/σ_max = {ratio:.3e} < "
                               f"{SINGULARITY_THRESHOLD:.0e} (σ_min={smin:.3e}, σ_max={smax:.3e}); the certificate "
                               "solves W_1 x = u − b_1", where="W_1", ratio=ratio, threshold=SINGULARITY_THRESHOLD)
    return 1.0 / ratio


def _shift(U: torch.Tensor, units: torch.Tensor, t: float) -> torch.Tensor:
    """U' = U − t·e_k per row (row i shifted in entry ``units[i]``); U is not modified."""
    out = U.clone()
    rows = torch.arange(U.shape[0])
    out[rows, units] = U[rows, units] - t
    return out


def tfl_certificate(frozen: ReLUFNN, target: ReLUFNN, *, gen: torch.Generator, probes: int = 64,
                    shift: float = 1.0, margin: float = 1e3) -> TFLCertificate | None:
    """A certificate that no TFL network (layer 1 frozen) equals ``target`` on any domain containing two points.

    Draws up to ``probes`` probes from ``gen``: a unit k uniform in [D] and u ~ N(0, I_D) with u_k := −|u_k|; then
    u' = u − shift·e_k, x = W_1⁻¹(u − b_1), x' = W_1⁻¹(u' − b_1) (solves). Returns the first probe whose target gap
    ‖f̄(x) − f̄(x')‖₂ is at least ``margin``·τ (τ: :func:`certificate_tolerance`), or ``None`` if none is (for
    D ≥ 2 and random weights that is rare; for D = 1 it can be the truth, see the module docstring). The first-layer
    difference ‖h(x) − h(x')‖₂ is computed in float64 and reported, not filtered on: :meth:`TFLCertificate.is_valid`
    checks both. Raises ShapeError/DTypeError/DepthError for a bad pair and SingularityError for a singular W_1.
    """
    check_fnn_pair(frozen, target, min_depth=2, depth_reason=_TFL_DEPTH_REASON)
    if not isinstance(gen, torch.Generator):
        raise DTypeError(f"gen must be a torch.Generator (never the global RNG); got {type(gen).__name__}")
    probes = check_size(probes, "probes")
    shift = check_positive_float(shift, "shift")
    margin = check_positive_float(margin, "margin")
    W1, b1 = frozen.weights[0], frozen.biases[0]
    _check_first_layer(W1)
    D, dtype = frozen.width, frozen.dtype

    units = torch.randint(D, (probes,), generator=gen)
    U = torch.randn(probes, D, generator=gen, dtype=dtype)
    rows = torch.arange(probes)
    U[rows, units] = -U[rows, units].abs()
    U_prime = _shift(U, units, shift)
    X = torch.linalg.solve(W1, (U - b1).T).T  # (probes, D)
    X_prime = torch.linalg.solve(W1, (U_prime - b1).T).T
    H = torch.relu(X @ W1.T + b1)  # the first layer, as the network computes it
    H_prime = torch.relu(X_prime @ W1.T + b1)
    h_diff = torch.linalg.vector_norm(H - H_prime, dim=1)
    gap = torch.linalg.vector_norm(target(X) - target(X_prime), dim=1)
    for i in range(probes):
        tol = certificate_tolerance(W1, b1, X[i], X_prime[i])
        if float(gap[i]) >= margin * tol.value:
            return TFLCertificate(unit=int(units[i]), u=U[i].clone(), shift=shift, x=X[i].clone(),
                                  x_prime=X_prime[i].clone(), h_difference=float(h_diff[i]),
                                  target_gap=float(gap[i]), tolerance=tol, margin=margin, probes=i + 1)
    return None


@dataclass(frozen=True, eq=False)
class TFLLocalMatch:
    """The closed-form TFL network that equals a one-layer target where every first-layer unit is positive.

    Layers 2..L−1 are the identity with zero bias; layer L takes M = W̄W_1⁻¹ (a solve: Mᵀ = W_1⁻ᵀW̄ᵀ) and bias
    b̄ − M b_1. (Putting M in layer 2 and the identities after it is the same function when ``final_relu`` is set;
    putting M last is also right without a final ReLU.) Where W_1x + b_1 > 0 entrywise,
    h = W_1x + b_1, every identity layer passes h ≥ 0 through its ReLU unchanged, and layer L computes
    M(W_1x + b_1) + b̄ − M b_1 = W̄x + b̄ before the (shared) final-ReLU convention.
    """

    model: ReLUFNN
    target: ReLUFNN
    kappa_W1: float
    M_norm: float

    def tolerance(self, norm_bound: float) -> Tolerance:
        """Bound on ‖f_TFL(x) − f̄(x)‖₂ for ‖x‖₂ ≤ ``norm_bound`` inside the positive region (gathers the norms for
        :func:`lora_theory.tolerance.tfl_local_match_tolerance`, where the bound is derived)."""
        rho = check_positive_float(norm_bound, "norm_bound")
        f0 = self.model
        return tfl_local_match_tolerance(
            unit_roundoff=unit_roundoff(f0.dtype), width=f0.width, kappa_W1=self.kappa_W1, M_norm=self.M_norm,
            radius=rho, w1_norm=spectral_norm(f0.weights[0]),
            b1_norm=float(torch.linalg.vector_norm(f0.biases[0])), target_norm=spectral_norm(self.target.weights[0]),
            target_bias_norm=float(torch.linalg.vector_norm(self.target.biases[0])))


def tfl_local_match(frozen: ReLUFNN, target: ReLUFNN) -> TFLLocalMatch:
    """The TFL network (layer 1 of ``frozen`` kept) that equals the one-layer ``target`` wherever every first-layer
    unit is positive — the domain caveat of the module docstring. Raises DepthError unless L ≥ 2 and L̄ = 1,
    DomainError when the two models disagree on ``final_relu``, SingularityError for a singular W_1."""
    check_fnn_pair(frozen, target, min_depth=2, depth_reason=_TFL_DEPTH_REASON,
                   same_final_relu="TFL keeps the frozen architecture")
    if target.depth != 1:
        raise DepthError(f"the closed-form TFL match needs a one-layer target; got target depth L̄={target.depth}")
    W1, b1 = frozen.weights[0], frozen.biases[0]
    kappa = _check_first_layer(W1)
    Wbar, bbar = target.weights[0], target.biases[0]
    M = torch.linalg.solve(W1.T, Wbar.T).T  # W̄ W_1⁻¹
    c = bbar - M @ b1
    eye, zero = torch.eye(frozen.width, dtype=frozen.dtype), torch.zeros(frozen.width, dtype=frozen.dtype)
    L = frozen.depth
    weights = (W1,) + (eye,) * (L - 2) + (M,)
    biases = (b1,) + (zero,) * (L - 2) + (c,)
    return TFLLocalMatch(ReLUFNN(weights, biases, frozen.final_relu), target, kappa, spectral_norm(M))

