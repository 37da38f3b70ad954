"""Final-layers tuning versus LoRA: claims ``lemma4`` (arXiv 2310.17513v3, Lemma 4, p. 7; the paper calls it "final
layers tuning" and never "TFL", kept only in function names here) and ``lemma12`` (its general version,
Lemma 12, App. E.4, p. 32; see "Lemma 12" at the end of this docstring).

Final-layers tuning freezes layer 1 of an L-layer ReLU FNN, (W_1, b_1), and tunes every weight and bias of layers
2..L at full rank. Whatever it tunes, the network is f = g∘h with h(x) = ReLU(W_1x + b_1) fixed: **f depends on x
only through h**.

**Non-representability certificate** (:func:`tfl_certificate`). Pick a unit k and u ∈ R^D with u_k < 0, set
u' = u − t·e_k (t > 0) and solve for the inputs that produce these pre-activations,

    x = W_1⁻¹(u − b_1),    x' = W_1⁻¹(u' − b_1)    (``torch.linalg.solve``; never an explicit inverse).

u and u' differ only in entry k, where both are negative, so h(x) = ReLU(u) = ReLU(u') = h(x') in exact arithmetic,
and *every* function of h — every final-layers network, whatever its layers 2..L — takes the same value at x and
x'. If the target differs there, f̄(x) ≠ f̄(x'), no final-layers parameters give f = f̄ on any domain containing x
and x'. (Moving x along W_1⁻¹e_k inside the region (W_1x + b_1)_k < 0 leaves h unchanged; a generic target
changes along that direction.)

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
h(x) = W_1x + b_1 is invertible and final-layers tuning *can* match a one-layer target exactly:
W̄x + b̄ = W̄W_1⁻¹(h − b_1) + b̄.
:func:`tfl_local_match` builds that network. So a test of the claim must take the domain to be R^D, or a ball large
enough to contain the certificate points.

**D = 1 is exempt.** The dead region of the single unit is a half-line; with positive probability the target is dead
on all of it too (sign(w̄) = sign(w) and the target's kink beyond the frozen one), and then final-layers tuning
matches the target on all of R: h = 0 ⇒ f̄ = 0 = g(0), and on the live half-line h = wx + b is invertible as above.
A certificate exists exactly when the target is not constant on the frozen unit's dead half-line, so for D = 1
:func:`tfl_certificate` may rightly return ``None``. For D ≥ 2 and continuous random weights the claim is "with
probability 1".

**Lemma 12** (:func:`final_layers_certificate`). Freeze layers 1..l (weights and biases), tune layers l+1..L. The
paper's non-activation region of layer l is I_l = {x : ∏_{i≤l}W_i x + Σ_i ∏_{j=i+1}^{l}W_j b_i ≤ 0} (every
coordinate; the layers composed *without* their ReLUs), Ī_i the same for the target. Lemma 12: if some l ∈ [L−1] has
I_l ∖ ∪_i Ī_i ≠ ∅ and the target's weights are non-singular, no tuning of the last L − l layers gives f = f̄.

The certificate exhibits two inputs x, x' and checks, **in exact rational arithmetic** on the float64 entries (every
float is a rational; :class:`fractions.Fraction`), that

1. the frozen prefix — layers 1..l of the actual network, ReLUs included — maps both to the same hidden value
   z_l(x) = z_l(x') (here: both pre-activations of layer l are ≤ 0 in every coordinate, so z_l = 0 at both);
2. f̄(x) ≠ f̄(x').

Then every network that tunes only layers l+1..L is f = g∘z_l and f(x) = f(x'), so f ≠ f̄ on any domain containing
x and x' — whatever g. It records the paper's hypothesis too: x, x' ∈ I_l and x ∉ Ī_i for every target layer i
(exact signs of the linear forms). The paper's I_l composes the layers without ReLUs, so for l ≥ 2 it is the dead set
of layer l only where layers 1..l−1 are active; the certificate's step 1 checks the actual network, which is what the
argument needs (for l = 1 the two coincide). :func:`lemma12_instance` builds instances where a point of
I_l ∖ ∪Ī_i with an active prefix is known.

**Parameter counts** (sympy expressions in :mod:`lora_theory.formulas`): final-layers tuning on the last k layers
tunes k(D² + D) scalars (the paper counts the weights only, (L − 1)D², p. 7); LoRA on every layer needs only
R = ⌈D/L⌉ for a one-layer target (claim ``corollary4`` with L̄ = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch

from lora_theory import formulas as F
from lora_theory.errors import DepthError, DTypeError, ShapeError, SingularityError
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import SINGULARITY_THRESHOLD, chain_product, singular_values, spectral_norm, unit_roundoff
from lora_theory.random_matrices import generator, matrix_with_singular_values
from lora_theory.tolerance import Tolerance, tfl_certificate_tolerance, tfl_local_match_tolerance
from lora_theory.validation import check_int, check_positive_float, check_size

__all__ = ["tfl_parameter_count", "TFLCertificate", "tfl_certificate", "certificate_tolerance", "TFLLocalMatch",
           "tfl_local_match", "FinalLayersCertificate", "final_layers_certificate", "region_values",
           "exact_hidden", "exact_output", "lemma12_instance", "first_region_inside_target", "lemma12_counterexample",
           "lemma4_proof_gap_instance"]


def tfl_parameter_count(D: int, k: int) -> int:
    """k(D² + D): the scalars final-layers tuning tunes on the last k layers of a width-D FNN (evaluated from
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


_TFL_DEPTH_REASON = "final-layers tuning freezes layer 1 and tunes layers 2..L"


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
    """A certificate that no final-layers network (layer 1 frozen) equals ``target`` on a domain containing two
    points.

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
    """The closed-form final-layers network that equals a one-layer target where every first-layer unit is positive.

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
    """The final-layers network (layer 1 of ``frozen`` kept) that equals the one-layer ``target`` wherever every
    first-layer unit is positive — the domain caveat of the module docstring. Raises DepthError unless L ≥ 2 and L̄ = 1,
    DomainError when the two models disagree on ``final_relu``, SingularityError for a singular W_1."""
    check_fnn_pair(frozen, target, min_depth=2, depth_reason=_TFL_DEPTH_REASON,
                   same_final_relu="final-layers tuning keeps the frozen architecture")
    if target.depth != 1:
        raise DepthError(f"the closed-form final-layers match needs a one-layer target; got target depth "
                         f"L̄={target.depth}")
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



# --- Lemma 12: the general version (App. E.4, p. 32) -----------------------------------------------------------------

def _fractions(t: torch.Tensor) -> list:
    """Exact rationals of a float tensor's entries (nested lists)."""
    if t.ndim == 0:
        return Fraction(float(t))
    return [_fractions(row) for row in t]


def _affine(W: list, b: list, z: list) -> list:
    return [sum((w * v for w, v in zip(row, z)), Fraction(0)) + bi for row, bi in zip(W, b)]


def _exact_layers(model: ReLUFNN) -> list[tuple[list, list]]:
    return [(_fractions(W), _fractions(b)) for W, b in zip(model.weights, model.biases)]


def region_values(model: ReLUFNN, layer: int, x: torch.Tensor) -> list[Fraction]:
    """∏_{i≤l}W_i x + Σ_{i≤l}∏_{j=i+1}^{l}W_j b_i in exact rational arithmetic (the layers composed without ReLUs):
    x ∈ I_l (the paper's non-activation region, p. 32) iff every entry is ≤ 0."""
    z = _fractions(x)
    for W, b in _exact_layers(model)[:layer]:
        z = _affine(W, b, z)
    return z


def exact_hidden(model: ReLUFNN, layer: int, x: torch.Tensor) -> tuple[list[Fraction], list[Fraction]]:
    """(pre-activation, output) of layer ``layer`` of the actual network at ``x``, in exact rational arithmetic
    (ReLU after every layer but the last, which follows ``final_relu``)."""
    z = _fractions(x)
    pre: list = z
    layers = _exact_layers(model)
    for k, (W, b) in enumerate(layers[:layer]):
        pre = _affine(W, b, z)
        relu = k < model.depth - 1 or model.final_relu
        z = [max(v, Fraction(0)) for v in pre] if relu else pre
    return pre, z


def exact_output(model: ReLUFNN, x: torch.Tensor) -> list[Fraction]:
    """f(x) in exact rational arithmetic."""
    return exact_hidden(model, model.depth, x)[1]


def _norm(v: list[Fraction]) -> float:
    return math.sqrt(float(sum(e * e for e in v)))


@dataclass(frozen=True, eq=False)
class FinalLayersCertificate:
    """Two inputs that the frozen layers 1..l cannot tell apart but the target can (module docstring, "Lemma 12").

    ``layer`` = l (1-based: layers 1..l frozen, l+1..L tuned); ``x``/``x_prime``: (D,) float64 points (exact
    rationals); ``hidden_equal``: z_l(x) = z_l(x') exactly; ``dead_margin``: the largest entry of layer l's exact
    pre-activation over both points (≤ 0: z_l = 0 at both); ``in_region``: (x ∈ I_l, x' ∈ I_l), exact;
    ``target_alive``: per target layer i, the largest entry of the exact linear form of Ī_i at x (> 0 ⇔ x ∉ Ī_i);
    ``target_differs``: f̄(x) ≠ f̄(x') exactly; ``target_gap``: ‖f̄(x) − f̄(x')‖₂ (of the exact difference);
    ``probes``: candidates tried; ``target_active``: every pre-activation of every target layer is > 0 at x in the
    actual network (exact) — how the paper's proof reads "x ∉ ∪_i Ī_i" (p. 33), a stronger condition.
    """

    layer: int
    x: torch.Tensor
    x_prime: torch.Tensor
    hidden_equal: bool
    dead_margin: float
    in_region: tuple[bool, bool]
    target_alive: tuple[float, ...]
    target_differs: bool
    target_gap: float
    probes: int
    target_active: bool = False

    @property
    def points(self) -> torch.Tensor:
        return torch.stack([self.x, self.x_prime])

    @property
    def radius(self) -> float:
        return max(float(torch.linalg.vector_norm(self.x)), float(torch.linalg.vector_norm(self.x_prime)))

    def is_valid(self) -> bool:
        """The conclusion is witnessed: the frozen prefix agrees exactly and the target differs exactly."""
        return self.hidden_equal and self.target_differs

    def hypothesis_holds(self) -> bool:
        """x, x' ∈ I_l and x ∉ Ī_i for every target layer i (the paper's hypothesis, exhibited at x)."""
        return all(self.in_region) and all(a > 0 for a in self.target_alive)

    def summary(self) -> str:
        return (f"l={self.layer}: z_l(x) = z_l(x′) exactly: {self.hidden_equal} (largest layer-l pre-activation "
                f"{self.dead_margin:.3e}); x, x′ ∈ I_l: {self.in_region}; max of Ī_i's form at x: "
                f"{tuple(f'{a:.3e}' for a in self.target_alive)}; f̄(x) ≠ f̄(x′): {self.target_differs} "
                f"(‖f̄(x) − f̄(x′)‖ = {self.target_gap:.3e}); probe {self.probes}")


def _check_certificate(frozen: ReLUFNN, target: ReLUFNN, layer: int, x: torch.Tensor, xp: torch.Tensor,
                       probes: int) -> FinalLayersCertificate:
    pre, z = exact_hidden(frozen, layer, x)
    pre_p, z_p = exact_hidden(frozen, layer, xp)
    in_region = (all(v <= 0 for v in region_values(frozen, layer, x)),
                 all(v <= 0 for v in region_values(frozen, layer, xp)))
    alive = tuple(float(max(region_values(target, i, x))) for i in range(1, target.depth + 1))
    active, z_t = True, _fractions(x)
    for W, b in _exact_layers(target):
        pre_t = _affine(W, b, z_t)
        active = active and all(v > 0 for v in pre_t)
        z_t = [max(v, Fraction(0)) for v in pre_t]
    fx, fxp = exact_output(target, x), exact_output(target, xp)
    diff = [a - b for a, b in zip(fx, fxp)]
    return FinalLayersCertificate(layer=layer, x=x.clone(), x_prime=xp.clone(), hidden_equal=z == z_p,
                                  dead_margin=float(max(max(pre), max(pre_p))), in_region=in_region,
                                  target_alive=alive, target_differs=any(d != 0 for d in diff),
                                  target_gap=_norm(diff), probes=probes, target_active=active)


def final_layers_certificate(frozen: ReLUFNN, target: ReLUFNN, layer: int, *, gen: torch.Generator,
                             probes: int = 256, near: torch.Tensor | None = None,
                             require_hypothesis: bool = True) -> FinalLayersCertificate | None:
    """A Lemma 12 certificate (module docstring): x, x' with z_l(x) = z_l(x') and f̄(x) ≠ f̄(x'), checked exactly.

    Candidates for x (drawn from ``gen``): solves of ∏_{i≤l}W_i x = p − Σ_i∏W_j b_i with p < 0 entrywise, of
    log-uniform magnitudes in [10⁻², 10²] (points of I_l, near its corner and far along its edges), Gaussian points
    of radii 1..30 and, when ``near`` is given, points around it. A candidate whose layer-l pre-activation is
    negative in float is paired with x' = x + t·d (d a random unit vector, t half the distance the Lipschitz bound
    ∏_{j≤l}‖W_j‖₂ allows), and the pair is checked in exact arithmetic. Returns the first valid pair for which the
    paper's hypothesis also holds at x (x, x' ∈ I_l, x ∉ Ī_i); with ``require_hypothesis=False`` the first valid
    pair; ``None`` when no candidate works. Raises ShapeError/DTypeError/DepthError for a bad pair or ``layer``
    outside 1..L−1.
    """
    L, _ = check_fnn_pair(frozen, target, min_depth=2, depth_reason="final-layers tuning freezes at least layer 1")
    layer = check_int(layer, "layer", minimum=1, maximum=L - 1, error=DepthError)
    if not isinstance(gen, torch.Generator):
        raise DTypeError(f"gen must be a torch.Generator (never the global RNG); got {type(gen).__name__}")
    probes = check_size(probes, "probes")
    D, dtype = frozen.width, frozen.dtype
    A = chain_product(frozen.weights[:layer])
    c = frozen.weights[0].new_zeros(D)
    for W, b in zip(frozen.weights[:layer], frozen.biases[:layer]):
        c = W @ c + b
    P = -(10.0 ** (4 * torch.rand(probes, D, generator=gen, dtype=dtype) - 2))  # magnitudes 1e-2..1e2
    try:  # σ_min(A) > 0 in float is no proof: an exactly singular A (a zero column) makes the LU solve raise
        cands = [torch.linalg.solve(A, (P - c).T).T] if float(singular_values(A)[-1]) > 0 else []
    except torch.linalg.LinAlgError:
        cands = []
    per = max(1, probes // 4)
    for radius in (1.0, 3.0, 10.0, 30.0):
        cands.append(radius * torch.randn(per, D, generator=gen, dtype=dtype))
    if near is not None:
        near = near.to(dtype)
        cands.append(near + 0.1 * torch.randn(per, D, generator=gen, dtype=dtype))
        cands.insert(0, near[None, :])
    X = torch.cat(cands)
    pre = frozen.preactivations(X)[layer - 1]
    top = pre.max(dim=1).values
    dead = ((top < 0) & torch.isfinite(top) & torch.isfinite(X).all(dim=1)).nonzero().flatten().tolist()
    lip = math.prod(spectral_norm(W) for W in frozen.weights[:layer])
    lin = X @ A.T + c
    in_region = (lin <= 0).all(dim=1)
    dead.sort(key=lambda j: not bool(in_region[j]))  # points of I_l first
    fallback = None
    for n, j in enumerate(dead[:probes], start=1):
        x = X[j]
        d = torch.randn(D, generator=gen, dtype=dtype)
        d = d / torch.linalg.vector_norm(d)
        # lip = 0 (a zero layer among 1..l): the layer-l pre-activation is constant in x, so any step keeps it
        xp = x + ((0.5 * float(-top[j]) / lip) if lip > 0 else 1.0) * d
        cert = _check_certificate(frozen, target, layer, x, xp, n)
        if cert.is_valid():
            if cert.hypothesis_holds() or not require_hypothesis:
                return cert
            fallback = fallback or cert
    return None if require_hypothesis else fallback


def lemma12_instance(width: int, depth: int, target_depth: int, layer: int, *, final_relu: bool = True,
                     clipped_last: bool = False, seed: int = 0,
                     dtype: torch.dtype = torch.float64) -> tuple[ReLUFNN, ReLUFNN, torch.Tensor]:
    """(frozen, target, x₀): an instance with a known point x₀ ∈ I_l ∖ ∪_i Ī_i (the hypothesis of Lemma 12).

    Weights are random (frozen: singular values in [0.8, 1.25]; target: in [0.5, 2], non-singular), x₀ ~ N(0, I).
    The biases are chosen from x₀'s activations: b_j = y_j − W_j y_{j−1} with y_0 = x₀, where y_j > 0 entrywise for
    frozen layers j < l (every unit active, so the layers compose linearly at x₀), y_l < 0 entrywise (every unit of
    layer l dead: x₀ ∈ I_l and z_l(x₀) = 0) and N(0, 1/4) biases after l. The target's pre-activations at x₀ are
    ȳ_i > 0 entrywise (every target unit active, x₀ ∉ Ī_i), except with ``clipped_last`` (and D ≥ 2), where a random
    non-empty proper subset of the last target layer's units is negative at x₀ (x₀ ∉ Ī_{L̄} still, but not every
    target ReLU is active — beyond the proof's reading). Returns ``near=x₀`` for :func:`final_layers_certificate`.
    """
    D = check_int(width, "width", minimum=1, error=ShapeError)
    L = check_int(depth, "depth", minimum=2, error=DepthError)
    Lbar = check_int(target_depth, "target_depth", minimum=1, maximum=L, error=DepthError)
    layer = check_int(layer, "layer", minimum=1, maximum=L - 1, error=DepthError)
    gen = generator(seed)

    def weight(lo: float, hi: float) -> torch.Tensor:
        sv = torch.sort(lo + (hi - lo) * torch.rand(D, generator=gen, dtype=dtype), descending=True).values
        return matrix_with_singular_values(sv, gen, dtype=dtype)

    def positive() -> torch.Tensor:
        return 0.5 + torch.rand(D, generator=gen, dtype=dtype)

    weights = [weight(0.8, 1.25) for _ in range(L)]
    x0 = torch.randn(D, generator=gen, dtype=dtype)
    y, biases = x0, []
    for j in range(L):
        if j < layer:
            nxt = positive() if j < layer - 1 else -positive()
            biases.append(nxt - weights[j] @ y)
            y = nxt
        else:
            biases.append(0.5 * torch.randn(D, generator=gen, dtype=dtype))
    t_weights = [weight(0.5, 2.0) for _ in range(Lbar)]
    y, t_biases = x0, []
    for i in range(Lbar):
        nxt = positive()
        if clipped_last and i == Lbar - 1 and D >= 2:
            k = 1 + int(torch.randint(D - 1, (1,), generator=gen))  # 1..D−1 clipped units
            nxt[torch.randperm(D, generator=gen)[:k]] *= -1
        t_biases.append(nxt - t_weights[i] @ y)
        y = nxt
    return (ReLUFNN(tuple(weights), tuple(biases), final_relu), ReLUFNN(tuple(t_weights), tuple(t_biases), final_relu),
            x0)


def _exact_solve(A: list, B: list) -> list:
    """X with A X = B for square rational A (Gauss–Jordan with exact pivots); raises SingularityError if singular."""
    n = len(A)
    M = [list(A[i]) + list(B[i]) for i in range(n)]
    for col in range(n):
        piv = next((r for r in range(col, n) if M[r][col] != 0), None)
        if piv is None:
            raise SingularityError("a matrix of the exact region test is exactly singular", where="W_1",
                                   ratio=0.0, threshold=SINGULARITY_THRESHOLD)
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        M[col] = [v / p for v in M[col]]
        for r in range(n):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[col])]
    return [row[n:] for row in M]


def first_region_inside_target(frozen: ReLUFNN, target: ReLUFNN) -> bool:
    """Whether I_1 ⊆ Ī_1, decided exactly: with M = W̄_1W_1⁻¹ and o = b̄_1 − M b_1 (rationals), the frozen layer 1's
    non-activation region {W_1x + b_1 ≤ 0} = {u ≤ 0} (u = W_1x + b_1) maps to W̄_1x + b̄_1 = Mu + o, which is ≤ 0 for
    every u ≤ 0 iff M ≥ 0 entrywise and o ≤ 0. Then Lemma 12 does not apply with l = 1 (I_1 ∖ Ī_1 = ∅) — an event of
    positive probability for random weights (both inequalities strict define an open set), although the proof of
    Lemma 4 (p. 33) says it needs W_1 = W̄_1. Raises SingularityError for an exactly singular W_1."""
    W1, b1 = _fractions(frozen.weights[0]), _fractions(frozen.biases[0])
    Wb, bb = _fractions(target.weights[0]), _fractions(target.biases[0])
    n = len(W1)
    W1T = [[W1[j][i] for j in range(n)] for i in range(n)]
    WbT = [[Wb[j][i] for j in range(n)] for i in range(n)]
    MT = _exact_solve(W1T, WbT)
    M = [[MT[j][i] for j in range(n)] for i in range(n)]
    o = [bb[i] - sum((M[i][j] * b1[j] for j in range(n)), Fraction(0)) for i in range(n)]
    return all(v >= 0 for row in M for v in row) and all(v <= 0 for v in o)


def lemma12_counterexample(final_relu: bool = True) -> tuple[ReLUFNN, ReLUFNN, torch.Tensor, ReLUFNN]:
    """A counterexample to Lemma 12 as printed (p. 32), D = 2, L = L̄ = 2, l = 1: (frozen, target, x, tuned).

    Frozen: W_1 = I, b_1 = (−2, 0) (layer 2 arbitrary: I, 0). Target: W̄_1 = I, b̄_1 = 0,
    W̄_2 = [[−1, −3], [−2, −3]] (det −3: non-singular), b̄_2 = 0, ReLU after the last layer (the paper's
    convention). At x = (1, −1): W_1x + b_1 = (−1, −1) ≤ 0, so x ∈ I_1; W̄_1x + b̄_1 = (1, −1) and
    W̄_2W̄_1x + W̄_2b̄_1 + b̄_2 = (2, 1) each have a positive entry, so x ∉ Ī_1 ∪ Ī_2 — the hypothesis holds. Yet
    z̄_1 ≥ 0 and W̄_2 ≤ 0 entrywise give W̄_2z̄_1 + b̄_2 ≤ 0, so f̄ ≡ 0 on R², and tuning the last layer to
    (0, 0) (``tuned``) gives f ≡ 0 = f̄. The proof reads x ∉ ∪Ī_i as "every target ReLU active" (p. 33), which
    fails here (unit 2 of layer 1 and both units of layer 2 are clipped). With ``final_relu=False`` the target is
    the non-constant W̄_2z̄_1 and the example is not a counterexample."""
    def t(a: list) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float64)

    eye = t([[1.0, 0.0], [0.0, 1.0]])
    zero = t([0.0, 0.0])
    frozen = ReLUFNN((eye, eye), (t([-2.0, 0.0]), zero), final_relu)
    target = ReLUFNN((eye, t([[-1.0, -3.0], [-2.0, -3.0]])), (zero, zero), final_relu)
    tuned = ReLUFNN((eye, t([[0.0, 0.0], [0.0, 0.0]])), (t([-2.0, 0.0]), zero), final_relu)
    return frozen, target, t([1.0, -1.0]), tuned


def lemma4_proof_gap_instance(width: int = 2, depth: int = 2, *, final_relu: bool = True, seed: int = 0,
                              dtype: torch.dtype = torch.float64) -> tuple[ReLUFNN, ReLUFNN]:
    """(frozen, one-layer target) with I_1 ⊆ Ī_1 although W_1 ≠ W̄_1: the step "I_1 ∖ Ī_1 = ∅ holds only when
    W_1 = W̄_1" of the proof of Lemma 4 (p. 33) is false. Frozen: random layers (singular values in [0.8, 1.25]) and
    N(0, 1/4) biases; target W̄ = P W_1 with P entrywise in [0.5, 1.5] (so M = W̄W_1⁻¹ = P > 0) and
    b̄ = P b_1 − (0.5 + U[0, 1]) (so b̄ − M b_1 < 0): every x with W_1x + b_1 ≤ 0 has W̄x + b̄ < 0. Both inequalities
    are strict, so a neighbourhood of these weights has the same property — an event of positive probability for
    weights with a continuous positive density (see :func:`first_region_inside_target`)."""
    D = check_int(width, "width", minimum=1, error=ShapeError)
    L = check_int(depth, "depth", minimum=2, error=DepthError)
    gen = generator(seed)
    weights = []
    for _ in range(L):
        sv = torch.sort(0.8 + 0.45 * torch.rand(D, generator=gen, dtype=dtype), descending=True).values
        weights.append(matrix_with_singular_values(sv, gen, dtype=dtype))
    biases = [0.5 * torch.randn(D, generator=gen, dtype=dtype) for _ in range(L)]
    P = 0.5 + torch.rand(D, D, generator=gen, dtype=dtype)
    Wbar = P @ weights[0]
    bbar = P @ biases[0] - (0.5 + torch.rand(D, generator=gen, dtype=dtype))
    return (ReLUFNN(tuple(weights), tuple(biases), final_relu), ReLUFNN((Wbar,), (bbar,), final_relu))
