"""The paper's slips, executable: one :class:`Erratum` per slip of arXiv 2310.17513v3, each with the printed and the
corrected formula (sympy expressions from :mod:`lora_theory.formulas`) and, where the slip changes a number, an
instance computed by running this package's constructions in float64 (fixed seeds, small sizes).

Each instance shows that the printed statement fails *for the paper's own construction* and that the corrected one
holds on the same instance. That refutes the printed bound as a description of what the construction achieves; it does
not by itself refute the existential statement ("there exist adapters such that …"): other adapters may do better
(for Theorems 5 and 6 a zero-output adapter does). Each record says what its instance does and does not refute.

Where the slips come from. Most numerical slips share one root: App. C.1 (p. 19) lists "‖A‖_F = tr(A) for
symmetric A", and the proofs of Lemma 2 (p. 26), Theorem 5 (pp. 29–31) and Theorem 6 use it as E‖x‖₂² = ‖Σ‖_F, i.e.
E‖x‖₂ = √‖Σ‖_F. For positive semi-definite Σ = E[xxᵀ], E‖x‖₂² = tr Σ ≥ ‖Σ‖_F, with equality only when rank Σ ≤ 1.
(For the terms of Theorem 5's β that carry a factor ‖W̄_j‖_F the printed form still holds, since
E‖W̄x‖₂ ≤ √tr(W̄ΣW̄ᵀ) ≤ ‖W̄‖_F√‖Σ‖_F; only the final "∨ √‖Σ‖_F", the bound on E‖x‖₂ itself, fails — the
instances below isolate it: zero biases, ‖W̄_j‖_F < 1, so β is that final term.)

Use :func:`errata` for the records, :func:`run_errata` for the computed instances, and :func:`render_text` /
:func:`render_markdown` / :func:`as_json` for the ``lora-theory errata`` command (docs/errata.md is its
``--markdown`` output). Numbers in the rendered text are rounded to four significant digits so that the page does
not change with the last bits of a LAPACK call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.errors import DomainError, UnknownClaimError

__all__ = ["Quantity", "InstanceResult", "Erratum", "CONSEQUENCES", "errata", "get_erratum", "run_errata",
           "render_text", "render_markdown", "as_json", "fmt",
           "lemma2_instance", "theorem5_instance", "theorem6_instance", "appendix_h_instance",
           "assumption2_instance", "LEMMA2_SPECTRUM", "LEMMA2_DEPTH", "LEMMA2_RANK", "THEOREM6_SCALE",
           "THEOREM6_PARTITION", "ADV_WIDTH", "ADV_RADIUS", "ADV_INPUTS"]

#: what a slip changes: a number (the statement fails on an instance), the hypothesis as stated, an index in a
#: proof only, or nothing
CONSEQUENCES = ("numerical", "hypothesis", "index only", "none")

#: Theorem 5/6 adversarial instances: width, radius of the input sphere, number of inputs
ADV_WIDTH, ADV_RADIUS, ADV_INPUTS = 64, 8.0, 2000
#: Lemma 2 instance: singular values of E (tied tail beyond RL = 2), frozen depth L, rank R
LEMMA2_SPECTRUM = (4.0, 2.0, 1.0, 1.0, 1.0, 1.0)
LEMMA2_DEPTH, LEMMA2_RANK = 2, 1
#: Theorem 6 instance: frozen layers (−I, c·I, c·I), partition (2, 1), c = THEOREM6_SCALE
THEOREM6_SCALE = 10.0
THEOREM6_PARTITION = (2, 1)


def fmt(value: object) -> str:
    """A number as the rendered pages show it: integers and exact sympy numbers as they are, floats with four
    significant digits (deterministic across machines for the instances here), booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, sp.Basic):
        return sp.sstr(value)
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Quantity:
    """One number of an instance: what it is, its value, and (optionally) its closed form on the instance."""

    name: str
    value: object
    closed_form: str = ""

    def text(self) -> str:
        return f"{self.name} = {fmt(self.value)}" + (f" (closed form {self.closed_form})" if self.closed_form else "")

    def as_dict(self) -> dict:
        return {"name": self.name, "value": _plain(self.value), "text": fmt(self.value),
                "closed_form": self.closed_form}


def _plain(v: object) -> object:
    """A value for JSON: sympy integers as int, other sympy numbers as {"exact", "float"}, tuples as lists."""
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, sp.Integer):
        return int(v)
    if isinstance(v, sp.Basic):
        return {"exact": sp.sstr(v), "float": float(v)}
    return v


@dataclass(frozen=True)
class InstanceResult:
    """The computed instance of an erratum: the printed side, the corrected side, what the construction achieves,
    and whether each statement holds on it (``None``: the instance does not test that side)."""

    description: str
    printed: Quantity
    corrected: Quantity
    achieved: Quantity | None
    printed_holds: bool | None
    corrected_holds: bool | None
    finding: str
    extra: tuple[Quantity, ...] = ()

    def as_dict(self) -> dict:
        return {"description": self.description, "printed": self.printed.as_dict(),
                "corrected": self.corrected.as_dict(),
                "achieved": None if self.achieved is None else self.achieved.as_dict(),
                "printed_holds": self.printed_holds, "corrected_holds": self.corrected_holds,
                "finding": self.finding, "extra": [q.as_dict() for q in self.extra]}


@dataclass(frozen=True)
class Erratum:
    """One slip of the paper: where (with page), the printed and corrected formulas (sympy, plus a readable form),
    its consequence, an instance builder, and what the instance does and does not refute."""

    id: str
    title: str
    where: str
    pages: str
    used_by: str
    printed: sp.Basic
    corrected: sp.Basic
    printed_display: str
    corrected_display: str
    consequence: str
    explanation: str
    refutes: str
    does_not_refute: str
    instance: Callable[[], InstanceResult] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.consequence not in CONSEQUENCES:
            raise DomainError(f"Erratum.consequence must be one of {CONSEQUENCES}; got {self.consequence!r}")


# --- instances -------------------------------------------------------------------------------------------------------

def _f64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _second_moment_norms(X: torch.Tensor) -> tuple[float, float]:
    """(‖Σ̂‖_F, tr Σ̂) of the empirical measure of the rows of X."""
    S = X.T @ X / X.shape[0]
    return float(torch.linalg.matrix_norm(S)), float(torch.trace(S))


def lemma2_instance(seed: int = 0):
    """Lemma 2's instance: D = 6, L = 2, R = 1 (RL = 2), orthogonal frozen layers W_1, W_2 (Haar, zero biases),
    target W̄_1 = W_2W_1 + E with singular values of E = (4, 2, 1, 1, 1, 1) — the tail beyond RL is tied at 1 —
    and target bias b̄ = (5√D + 1)·1, so every pre-activation of the target and of the construction is positive on
    the ball ‖x‖ ≤ √D (‖W̄‖₂, ‖W̃‖₂ ≤ ‖∏W‖₂ + ‖E‖₂ = 5) and the final ReLU is the identity there. Inputs: the 2D
    points ±√D·e_j, whose second moment is exactly I (Σ = I_D).

    Returns (frozen, target, domain, X). On it the construction's error is f − f̄ = (LR_{RL}(E) − E)x, so
    E‖f − f̄‖₂² = ‖LR_{RL}(E) − E‖_F² = Σ_{i>RL} σ_i² = D − RL = 4."""
    from lora_theory.domains import Ball
    from lora_theory.models import ReLUFNN
    from lora_theory.random_matrices import generator, haar_orthogonal, matrix_with_singular_values

    D, L = len(LEMMA2_SPECTRUM), LEMMA2_DEPTH
    gen = generator(seed)
    Ws = tuple(haar_orthogonal(D, gen) for _ in range(L))
    E = matrix_with_singular_values(_f64(LEMMA2_SPECTRUM), gen)
    prod = Ws[1] @ Ws[0]
    rho = math.sqrt(D)
    zero = torch.zeros(D, dtype=torch.float64)
    frozen = ReLUFNN(Ws, (zero,) * L)
    bias = torch.full((D,), (1.0 + LEMMA2_SPECTRUM[0]) * rho + 1.0, dtype=torch.float64)
    target = ReLUFNN((prod + E,), (bias,))
    eye = torch.eye(D, dtype=torch.float64)
    X = rho * torch.cat([eye, -eye])
    return frozen, target, Ball(D, rho), X


def theorem5_instance(seed: int = 0):
    """Theorem 5's adversarial instance: D = 64, L̄ = L = 1, W_1 = −I, b = b̄ = 0, W̄_1 entries 0.01·N(0, 1/D), and
    n = 2000 inputs uniform on the sphere of radius 8 (Σ = I in expectation, tr Σ̂ = 64 exactly), from one seeded
    local generator. Returns (frozen, target, domain, X)."""
    from lora_theory.domains import Ball
    from lora_theory.models import ReLUFNN
    from lora_theory.random_matrices import generator

    D = ADV_WIDTH
    gen = generator(seed)
    Wbar = 0.01 * torch.randn(D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    zero = torch.zeros(D, dtype=torch.float64)
    frozen = ReLUFNN((-torch.eye(D, dtype=torch.float64),), (zero,))
    tgt = ReLUFNN((Wbar,), (zero.clone(),))
    g = torch.randn(ADV_INPUTS, D, generator=gen, dtype=torch.float64)
    X = ADV_RADIUS * g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
    return frozen, tgt, Ball(D, ADV_RADIUS), X


def theorem6_instance(seed: int = 0, scale: float = THEOREM6_SCALE):
    """Theorem 6's instance (a general, non-uniform partition): D = 64, L = 3, L̄ = 2, partition (2, 1), frozen
    layers W_1 = −I, W_2 = c·I, W_3 = c·I (c = ``scale``, zero biases), so the block products are −c·I and c·I;
    target layers W̄_1, W̄_2 with entries 0.01·N(0, 1/D), zero biases; inputs as in :func:`theorem5_instance`
    (sphere of radius 8). Use with per-layer ranks R_l = 1 (uniform ranks are a Theorem 6 instance).
    Returns (frozen, target, domain, X, partition)."""
    from lora_theory.domains import Ball
    from lora_theory.models import ReLUFNN
    from lora_theory.random_matrices import generator

    D = ADV_WIDTH
    gen = generator(seed)
    W1 = 0.01 * torch.randn(D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    W2 = 0.01 * torch.randn(D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    eye = torch.eye(D, dtype=torch.float64)
    zero = torch.zeros(D, dtype=torch.float64)
    frozen = ReLUFNN((-eye, scale * eye, scale * eye), (zero,) * 3)
    tgt = ReLUFNN((W1, W2), (zero.clone(), zero.clone()))
    g = torch.randn(ADV_INPUTS, D, generator=gen, dtype=torch.float64)
    X = ADV_RADIUS * g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
    return frozen, tgt, Ball(D, ADV_RADIUS), X, THEOREM6_PARTITION


def appendix_h_instance(seed: int = 0):
    """Appendix H's instance: D̄ = 5, L = 2, D = 6; frozen layers Haar-orthogonal times diag(1..2) (well
    conditioned), target W̄ (5×5) with i.i.d. N(0, 1) entries (rank(E) = 5 almost surely).
    Returns (weights, Wbar, Wtilde) with W̃ the expanded target of p. 46
    (:func:`lora_theory.constructions.widths.pad_linear_target`)."""
    from lora_theory.constructions.widths import pad_linear_target
    from lora_theory.random_matrices import generator, haar_orthogonal

    D, Dbar, L = 6, 5, 2
    gen = generator(seed)
    scales = torch.linspace(1.0, 2.0, D, dtype=torch.float64)
    Ws = tuple((haar_orthogonal(D, gen) * scales) for _ in range(L))
    Wbar = torch.randn(Dbar, Dbar, generator=gen, dtype=torch.float64)
    return Ws, Wbar, pad_linear_target(Ws, Wbar)


def assumption2_instance():
    """Assumption 2's instance (exact rationals): one block P = {1, 2} of a linear chain, W_1 = 2I, W_2 = ½I
    (∏_{l∈P}W = I), W̄ = diag(0, 3/2), per-layer ranks R_1 = R_2 = 1 (Σ_{l∈P}R_l = 2 = rank(W̄ − ∏W)).
    Returns (W_1, W_2, W̄) as sympy matrices."""
    W1 = sp.Matrix([[2, 0], [0, 2]])
    W2 = sp.Matrix([[sp.Rational(1, 2), 0], [0, sp.Rational(1, 2)]])
    Wbar = sp.diag(0, sp.Rational(3, 2))
    return W1, W2, Wbar


def _lr_diagonal(M: sp.Matrix, r: int) -> sp.Matrix:
    """LR_r of a diagonal sympy matrix with distinct |entries| (keep the r entries of largest magnitude)."""
    d = [M[k, k] for k in range(M.rows)]
    keep = sorted(range(len(d)), key=lambda k: -abs(d[k]))[:r]
    return sp.diag(*[d[k] if k in keep else 0 for k in range(len(d))])


def _c1_result() -> InstanceResult:
    D = 4
    Sigma = sp.eye(D)
    frob = sp.sqrt(sum(v ** 2 for v in Sigma))
    trace = Sigma.trace()
    # x uniform on {±√D·e_j}: E[xxᵀ] = I and ‖x‖₂ = √D for every x, so E‖x‖₂ = √D exactly
    mean_norm = sp.sqrt(D)
    return InstanceResult(
        description="Σ = I_4: x uniform on the 8 points ±2·e_j (E[xxᵀ] = I, ‖x‖₂ = 2 for every x); exact sympy numbers",
        printed=Quantity("√‖Σ‖_F (the printed E‖x‖₂)", sp.sqrt(frob), "D^{1/4} = √2"),
        corrected=Quantity("√tr Σ (Jensen's bound on E‖x‖₂)", sp.sqrt(trace), "√D = 2"),
        achieved=Quantity("E‖x‖₂", mean_norm, "√D = 2"),
        printed_holds=bool(sp.simplify(mean_norm - sp.sqrt(frob)) == 0),
        corrected_holds=bool(sp.simplify(sp.sqrt(trace) - mean_norm) >= 0),
        finding=f"‖Σ‖_F = {frob} ≠ tr Σ = {trace}; E‖x‖₂ = {mean_norm} ≠ √‖Σ‖_F = √2",
        extra=(Quantity("‖Σ‖_F", frob, "√D = 2"), Quantity("tr Σ", trace, "D = 4")),
    )


def _lemma2_result() -> InstanceResult:
    from lora_theory.constructions.fnn import construct_fnn

    frozen, target, domain, X = lemma2_instance(0)
    c = construct_fnn(frozen, target, LEMMA2_RANK, domain)
    tol = c.tolerance().value
    sq = float((c.output_error(X) ** 2).mean())
    s = c.blocks[0].epsilon  # σ_{RL+1}(E)
    sf, tr = _second_moment_norms(X)
    printed = float(F.LEMMA2_BOUND_PRINTED.subs({F.Sigma_F: sf, F.sigma(F.R * F.L + 1): s}))
    provable = float(F.LEMMA2_BOUND_PROVABLE.subs({F.tr_Sigma: tr, F.sigma(F.R * F.L + 1): s}))
    rms = math.sqrt(sq)
    D, RL = len(LEMMA2_SPECTRUM), LEMMA2_RANK * LEMMA2_DEPTH
    return InstanceResult(
        description=(f"D = {D}, L = {LEMMA2_DEPTH}, R = {LEMMA2_RANK} (RL = {RL}); σ(E) = "
                     f"({', '.join(fmt(v) for v in LEMMA2_SPECTRUM)}), tied tail beyond RL; target bias large "
                     "enough that every ReLU is active; inputs ±√D·e_j (Σ = I); construct_fnn(frozen, target, 1, "
                     "Ball(6, √6)) — lora_theory.analysis.errata.lemma2_instance(0)"),
        printed=Quantity("printed bound ‖Σ‖_F·σ²_{RL+1}(E)", printed, "√D = √6"),
        corrected=Quantity("provable bound tr Σ·σ²_{RL+1}(E)", provable, "D = 6"),
        achieved=Quantity("construction's E‖f(x) − f̄(x)‖₂²", sq, "Σ_{i>RL}σ_i(E)² = D − RL = 4"),
        printed_holds=not (rms - math.sqrt(printed) > tol),
        corrected_holds=rms <= math.sqrt(provable) + tol,
        finding=f"the construction's {fmt(sq)} exceeds the printed {fmt(printed)} and stays within the provable "
                f"{fmt(provable)}",
        extra=(Quantity("σ_{RL+1}(E)", s, "1"), Quantity("‖Σ̂‖_F", sf, "√6"), Quantity("tr Σ̂", tr, "6")),
    )


def _beta_result(kind: str) -> InstanceResult:
    from lora_theory.analysis.bounds import bound_inputs, evaluate_bound, mean_error
    from lora_theory.constructions.fnn import construct_fnn

    if kind == "theorem5":
        frozen, target, domain, X = theorem5_instance(0)
        c = construct_fnn(frozen, target, 1, domain)
        desc = ("D = 64, L̄ = L = 1, W_1 = −I, W̄_1 entries 0.01·N(0, 1/64), zero biases, R = 1, 2000 inputs on the "
                "sphere of radius 8 (Σ̂ ≈ I, tr Σ̂ = 64) — lora_theory.analysis.errata.theorem5_instance(0)")
    else:
        frozen, target, domain, X, partition = theorem6_instance(0)
        c = construct_fnn(frozen, target, (1,) * frozen.depth, domain, partition=partition)
        desc = (f"D = 64, L = 3, L̄ = 2, partition (2, 1), frozen layers (−I, {fmt(THEOREM6_SCALE)}·I, "
                f"{fmt(THEOREM6_SCALE)}·I), W̄_1, W̄_2 entries 0.01·N(0, 1/64), zero biases, per-layer ranks R_l = 1, "
                "2000 inputs on the sphere of radius 8 — lora_theory.analysis.errata.theorem6_instance(0)")
    tol = c.tolerance().value
    inputs = bound_inputs(c, X)
    printed = evaluate_bound("printed", inputs)
    provable = evaluate_bound("variant", inputs)
    err = mean_error(c, X)
    return InstanceResult(
        description=desc,
        printed=Quantity("printed bound (β with √‖Σ‖_F)", printed),
        corrected=Quantity("provable bound (β with √tr Σ, inner index i)", provable),
        achieved=Quantity("construction's E‖f(x) − f̄(x)‖₂", err),
        printed_holds=not (err - printed > tol),
        corrected_holds=err <= provable + tol,
        finding=f"the construction's {fmt(err)} exceeds the printed {fmt(printed)} and stays within the provable "
                f"{fmt(provable)}",
        extra=tuple(Quantity(f"ε_{k + 1}", e) for k, e in enumerate(inputs.epsilons))
        + (Quantity("√‖Σ̂‖_F", math.sqrt(inputs.sigma_frobenius), "in expectation √‖I_64‖_F = √8 ≈ 2.83"),
           Quantity("√tr Σ̂", math.sqrt(inputs.sigma_trace), "8")),
    )


def _appendix_h_result() -> InstanceResult:
    from lora_theory.constructions.linear import construct_linear
    from lora_theory.numerics import spectral_norm

    Ws, Wbar, Wtilde = appendix_h_instance(0)
    Dbar, L = Wbar.shape[0], len(Ws)
    floor_R = F.evaluate_integer(F.APPENDIX_H_THRESHOLD_PRINTED, {F.Dbar: Dbar, F.L: L})
    ceil_R = F.evaluate_integer(F.APPENDIX_H_THRESHOLD, {F.Dbar: Dbar, F.L: L})
    low = construct_linear(Ws, Wtilde, floor_R)
    high = construct_linear(Ws, Wtilde, ceil_R)
    err_low = spectral_norm(low.residual()[:Dbar, :Dbar])
    err_high = spectral_norm(high.residual()[:Dbar, :Dbar])
    sigma5 = float(torch.linalg.svdvals(Wtilde - Ws[1] @ Ws[0])[Dbar - 1])
    return InstanceResult(
        description=("D̄ = 5, L = 2, D = 6: frozen W_1, W_2 well conditioned, W̄ 5×5 Gaussian, expanded target "
                     "W̃ = pad_linear_target(W, W̄) (rank(E) = 5); construct_linear at R = ⌊5/2⌋ = 2 and "
                     "R = ⌈5/2⌉ = 3 — lora_theory.analysis.errata.appendix_h_instance(0)"),
        printed=Quantity("printed rank ⌊D̄/L⌋", floor_R, "⌊5/2⌋ = 2"),
        corrected=Quantity("corrected rank ⌈D̄/L⌉", ceil_R, "⌈5/2⌉ = 3"),
        achieved=Quantity(f"‖[∏W̃]_D̄ − W̄‖₂ at R = {floor_R}", err_low, "σ_5(E)"),
        printed_holds=not (err_low > low.tolerance().value),
        corrected_holds=err_high <= high.tolerance().value,
        finding=(f"at R = {floor_R} the error is σ_5(E) = {fmt(sigma5)} > 0 (RL = {floor_R * L} < 5); at "
                 f"R = {ceil_R} it is within the construction's rounding tolerance (exact)"),
        extra=(Quantity("σ_5(E)", sigma5),
               Quantity(f"exact at R = {ceil_R} (‖[∏W̃]_D̄ − W̄‖₂ ≤ tolerance)", err_high <= high.tolerance().value)),
    )


def _assumption2_result() -> InstanceResult:
    from lora_theory.constructions.linear import construct_linear
    from lora_theory.errors import SingularityError

    W1, W2, Wbar = assumption2_instance()
    prod = W2 * W1
    # printed: (∏_{P}W) + LR_r(W̄ − ∏_{l=min P}^{max P − 1}W) = W_2W_1 + LR_r(W̄ − W_1), r ≤ R_1 = 1
    printed_dets = [(prod + _lr_diagonal(Wbar - W1, r)).det() for r in (0, 1)]
    # needed by the construction: W_2W_1 + LR_r(W̄ − W_2W_1), r ≤ R_1 = 1
    needed_dets = [(prod + _lr_diagonal(Wbar - prod, r)).det() for r in (0, 1)]
    try:
        construct_linear([_f64(W1.tolist()), _f64(W2.tolist())], _f64(Wbar.tolist()), 1)
        refused = "no"
    except SingularityError as exc:
        refused = f"yes (SingularityError at {exc.where.split(' (')[0]})"
    return InstanceResult(
        description=("one block P = {1, 2}, W_1 = 2I, W_2 = ½I, W̄ = diag(0, 3/2), R_1 = R_2 = 1 (Σ R_l = 2 = "
                     "rank E); exact rationals — lora_theory.analysis.errata.assumption2_instance()"),
        printed=Quantity("det of the printed matrices, r = 0, 1", tuple(printed_dets)),
        corrected=Quantity("det of the matrices the construction inverts, r = 0, 1", tuple(needed_dets)),
        achieved=Quantity("construct_linear refuses", refused),
        printed_holds=all(d != 0 for d in printed_dets),
        corrected_holds=all(d != 0 for d in needed_dets),
        finding=("Assumption 2 as printed holds (determinants " + ", ".join(map(str, printed_dets)) + ") but the "
                 "construction's matrix W_2W_1 + LR_1(W̄ − W_2W_1) = diag(0, 1) is singular and the construction "
                 "refuses; read with ∏_{l∈P_i} the hypothesis fails here, as it should"),
    )


def _theorem3_index_result() -> InstanceResult:
    from lora_theory.constructions.fnn import construct_fnn
    from lora_theory.testing.instances import build_fnn_instance

    inst = build_fnn_instance(4, 4, 2, seed=0)
    c = construct_fnn(inst.frozen, inst.target, 1, inst.domain)
    fitted = tuple(b.linear.fitted_rank for b in c.blocks)
    ranks = tuple(b.discrepancy_rank for b in c.blocks)
    printed = tuple(F.evaluate_integer(F.THEOREM3_PROOF_INDEX_PRINTED, {F.R: 1, F.L: 4, F.Rtilde[F.i]: k})
                    for k in ranks)
    corrected = tuple(F.evaluate_integer(F.THEOREM3_PROOF_INDEX_CORRECTED, {F.R: 1, F.L: 4, F.Lbar: 2,
                                                                              F.Rtilde[F.i]: k}) for k in ranks)
    return InstanceResult(
        description=("D = 4, L = 4, L̄ = 2 (M = 2), R = 1: build_fnn_instance(4, 4, 2, seed=0), construct_fnn at "
                     "R = 1; the rank each block's correction realises"),
        printed=Quantity("RL ∧ R̃_i per block", printed, "min(4, 4) = 4"),
        corrected=Quantity("RM ∧ R̃_i per block", corrected, "min(2, 4) = 2"),
        achieved=Quantity("realised rank per block", fitted),
        printed_holds=fitted == printed,
        corrected_holds=fitted == corrected,
        finding=f"each block realises LR_{{RM}} (ranks {fitted}), as the rest of the proof uses",
        extra=(Quantity("R̃_i = rank(E_i)", ranks),),
    )


def _corollary4_result() -> InstanceResult:
    # an independent check with exact fractions, then the sympy relations themselves on a smaller grid
    grid = [(d, m, r) for d in range(1, 33) for m in range(1, 9) for r in range(1, d + 1)]
    disagree = sum((r >= Fraction(d, m)) != (r >= -(-d // m)) for d, m, r in grid)
    small = [(d, ll, r) for d in range(1, 9) for ll in range(1, 5) for r in range(1, d + 1)]
    sym_disagree = 0
    for d, ll, r in small:
        vals = {F.D: sp.Integer(d), F.L: sp.Integer(ll), F.Lbar: sp.Integer(1), F.R: sp.Integer(r)}
        sym_disagree += bool(F.COROLLARY4_STATEMENT_PRINTED.xreplace(vals)) != bool(
            F.COROLLARY4_STATEMENT_CORRECTED.xreplace(vals))
    return InstanceResult(
        description=("every integer R ∈ [1, D], D ≤ 32, M ≤ 8 (exact fractions), and the sympy statements on D ≤ 8, "
                     "L ≤ 4, L̄ = 1"),
        printed=Quantity("cases (D, M, R) where R ≥ D/M and R ≥ ⌈D/M⌉ disagree", disagree, "0"),
        corrected=Quantity("cases checked", len(grid)),
        achieved=Quantity("sympy statements disagreeing", sym_disagree, "0"),
        printed_holds=disagree == 0 and sym_disagree == 0,
        corrected_holds=True,
        finding=f"no disagreement in {len(grid)} + {len(small)} cases: for integer R, R ≥ D/M ⟺ R ≥ ⌈D/M⌉",
    )


def _lemma12_result() -> InstanceResult:
    from lora_theory.analysis import tfl

    frozen, target, x, tuned = tfl.lemma12_counterexample()
    in_I1 = all(v <= 0 for v in tfl.region_values(frozen, 1, x))
    outside = all(any(v > 0 for v in tfl.region_values(target, i, x)) for i in (1, 2))
    # f̄ ≡ 0 (proof in lemma12_counterexample's docstring); checked in exact rationals on a grid of 81 points
    grid = [torch.tensor([a / 2, b / 2], dtype=torch.float64) for a in range(-8, 9, 2) for b in range(-8, 9, 2)]
    equal = all(tfl.exact_output(tuned, z) == tfl.exact_output(target, z) for z in grid)
    nonzero = sum(any(v != 0 for v in tfl.exact_output(target, z)) for z in grid)
    return InstanceResult(
        description=("D = 2, L = L̄ = 2, l = 1: frozen W_1 = I, b_1 = (−2, 0); target W̄_1 = I, b̄_1 = 0, "
                     "W̄_2 = [[−1, −3], [−2, −3]] (det −3), b̄_2 = 0, ReLU after the last layer; x = (1, −1) — "
                     "lora_theory.analysis.tfl.lemma12_counterexample()"),
        printed=Quantity("x ∈ I_1 ∖ (Ī_1 ∪ Ī_2) (the printed hypothesis)", in_I1 and outside),
        corrected=Quantity("every target unit active at x (what the proof uses)", False),
        achieved=Quantity("last layer tuned to 0 equals f̄ at all 81 grid points (exact rationals)", equal),
        printed_holds=not (in_I1 and outside and equal),
        corrected_holds=True,
        finding=("the printed hypothesis holds, yet f̄ ≡ 0 (z̄_1 ≥ 0 and W̄_2 ≤ 0 entrywise) and tuning the last "
                 "layer to zero weights and bias gives f = f̄: Lemma 12 as printed is false"),
        extra=(Quantity("grid points where f̄ ≠ 0", nonzero, "0"),),
    )


def _lemma4_step_result() -> InstanceResult:
    from lora_theory.analysis import tfl
    from lora_theory.random_matrices import generator

    frozen, target = tfl.lemma4_proof_gap_instance(seed=0)
    inside = tfl.first_region_inside_target(frozen, target)
    differ = bool((frozen.weights[0] != target.weights[0]).any())
    cert = tfl.tfl_certificate(frozen, target, gen=generator(0))
    return InstanceResult(
        description=("D = 2, L = 2: frozen layers with singular values in [0.8, 1.25], target W̄_1 = P W_1 with "
                     "P entrywise in [0.5, 1.5] and b̄_1 = P b_1 − (0.5 + U[0, 1]) — "
                     "lora_theory.analysis.tfl.lemma4_proof_gap_instance(seed=0)"),
        printed=Quantity("I_1 ⊆ Ī_1 while W_1 ≠ W̄_1 (decided in exact rationals)", inside and differ),
        corrected=Quantity("W̄_1W_1⁻¹ ≥ 0 and b̄_1 − W̄_1W_1⁻¹b_1 ≤ 0", inside),
        achieved=Quantity("Lemma 4's conclusion still certified (two inputs, equal first layer, different targets)",
                          cert is not None and cert.is_valid()),
        printed_holds=not (inside and differ),
        corrected_holds=inside,
        finding=("I_1 ∖ Ī_1 = ∅ although W_1 ≠ W̄_1, on an open set of weights (positive probability for random "
                 "weights: 2.45 % of Gaussian draws at D = 2); Lemma 12 with l = 1 does not apply there, but "
                 "Lemma 4's conclusion is still certified by another pair of inputs"),
    )


# --- the records -------------------------------------------------------------------------------------------------

_C1_ROOT = ("App. C.1 (p. 19) lists \"‖A‖_F = tr(A) for symmetric A\"; the proofs use it as E‖x‖₂² = ‖Σ‖_F. For "
            "positive semi-definite Σ = E[xxᵀ], E‖x‖₂² = tr Σ ≥ ‖Σ‖_F, with equality only when rank Σ ≤ 1.")


def _records() -> tuple[Erratum, ...]:
    return (
        Erratum(
            id="c1_frobenius_trace", title="‖A‖_F = tr(A) for symmetric A", where="App. C.1", pages="p. 19",
            used_by="Lemma 2 and Lemma 9 (p. 26), Theorem 5 (pp. 29–31), Theorem 6",
            printed=F.C1_EXPECTED_NORM_PRINTED, corrected=F.C1_EXPECTED_NORM_CORRECTED,
            printed_display="‖Σ‖_F = tr Σ, hence E‖x‖₂ = √‖Σ‖_F",
            corrected_display="E‖x‖₂ ≤ √(E‖x‖₂²) = √tr Σ (Jensen), and tr Σ ≥ ‖Σ‖_F",
            consequence="numerical", explanation=_C1_ROOT,
            refutes="the identity: for Σ = I_D, ‖Σ‖_F = √D while tr Σ = D, so E‖x‖₂ = √‖Σ‖_F fails for every D ≥ 2",
            does_not_refute="the identity for rank-one Σ (there ‖Σ‖_F = tr Σ); the results that use it are judged "
                            "in their own entries",
            instance=_c1_result),
        Erratum(
            id="lemma2_bound", title="Lemma 2's error bound", where="Lemma 2 (and Lemma 9)", pages="p. 5 (p. 25)",
            used_by="Theorem 3's proof applies Lemma 9 block by block; Lemma 10 (per-layer ranks) has the same form",
            printed=F.LEMMA2_STATEMENT_PRINTED, corrected=F.LEMMA2_STATEMENT_PROVABLE,
            printed_display="E‖f(x) − f̄(x)‖₂² ≤ ‖Σ‖_F·σ²_{RL+1}(E)",
            corrected_display="E‖f(x) − f̄(x)‖₂² ≤ tr Σ·σ²_{RL+1}(E)",
            consequence="numerical",
            explanation=("The construction's residual is (LR_{RL}(E) − E)x before the last ReLU, whose spectral norm "
                         "is σ_{RL+1}(E); the proof's last step (p. 26) writes σ²·E‖x‖₂² = ‖Σ‖_F·σ² by App. C.1. "
                         "With a tied tail (many σ_i(E) = σ_{RL+1}(E)) and Σ = I the residual's energy "
                         "Σ_{i>RL}σ_i² exceeds √D·σ²_{RL+1}. By Cauchy–Schwarz the construction does satisfy "
                         "E‖f − f̄‖₂² ≤ ‖Σ‖_F·(Σ_{i>RL}σ_i(E)⁴)^{1/2}, which is the printed bound when a single "
                         "σ_i(E) beyond RL is non-zero: the printed bound fails only for a spread tail, which is "
                         "why random draws rarely exceed it."),
            refutes="the printed bound for the paper's construction (Lemma 9's adapters and biases)",
            does_not_refute=("the existential statement: whether other rank-R adapters (with intermediate ReLUs "
                             "active) reach ‖Σ‖_F·σ² on this instance is not decided here; among adapted networks "
                             "whose ReLUs all act as the identity on the inputs none does better than Σ_{i>RL}σ_i² "
                             "(∏(W_l + ΔW_l) − ∏W_l has rank ≤ RL; Eckart–Young–Mirsky)"),
            instance=_lemma2_result),
        Erratum(
            id="theorem5_beta", title="Theorem 5's β", where="Theorem 5", pages="p. 6 (restated p. 29)",
            used_by="Theorem 6 (same β)",
            printed=F.theorem5_bound_printed(1), corrected=F.theorem5_bound_variant(1),
            printed_display="E‖f(x) − f̄(x)‖₂ ≤ β·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i with "
                            "β = max_i(√‖Σ‖_F∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i}∏_{k=j+1}^{i−1}‖W̄_k‖_F‖b̄_j‖₂) ∨ √‖Σ‖_F",
            corrected_display="the same with β = max_i(√‖Σ‖_F∏_{j≤i}‖W̄_j‖_F + Σ_{j≤i}∏_{k=j+1}^{i}‖W̄_k‖_F‖b̄_j‖₂) "
                              "∨ √tr Σ",
            consequence="numerical",
            explanation=("The proof bounds E‖z̄_{i−1}‖₂ through E‖x‖₂ = √‖Σ‖_F (App. C.1). The terms with a "
                         "factor ‖W̄_j‖_F survive (E‖W̄x‖₂ ≤ ‖W̄‖_F√‖Σ‖_F), the final ∨ √‖Σ‖_F — the bound on E‖x‖₂ "
                         "itself — does not. The instance (zero biases, ‖W̄_1‖_F < 1) isolates that term; the "
                         "formulas are shown for L̄ = 1."),
            refutes="the printed bound for the paper's construction",
            does_not_refute=("the existential statement: a zero-output adapter (bias −ρ‖W̃‖₂·1) has error "
                             "E‖ReLU(W̄_1x)‖₂, below the printed bound on this instance "
                             "(properties/test_theorem5_printed.py)"),
            instance=lambda: _beta_result("theorem5")),
        Erratum(
            id="theorem6_beta", title="Theorem 6's β (general partition, per-layer ranks)", where="Theorem 6",
            pages="p. 7 (restated p. 32)", used_by="—",
            printed=F.theorem5_bound_printed(2), corrected=F.theorem5_bound_variant(2),
            printed_display="the bound of Theorem 5 with ε_i = σ_{Σ_{l∈P_i}R_l+1}(E_i), β with √‖Σ‖_F",
            corrected_display="the same with β's final term √tr Σ (and inner index i)",
            consequence="numerical",
            explanation=("Theorem 6 repeats Theorem 5's β. On a non-uniform partition (2, 1) with block products "
                         "−c·I and c·I the construction's error is ≈ c²·E‖ReLU(−x)‖₂ while the printed bound is "
                         "≈ √‖Σ‖_F·c(c + 1); the formulas are shown for L̄ = 2 (ε_i of each block's own budget)."),
            refutes="the printed bound for the paper's construction on a general partition",
            does_not_refute=("the existential statement: the target's outputs are small here (‖W̄_i‖_F ≈ 0.08), so a "
                             "zero-output adapter is far below the printed bound"),
            instance=lambda: _beta_result("theorem6")),
        Erratum(
            id="appendix_h_floor", title="Appendix H's rank", where="Appendix H", pages="p. 46", used_by="—",
            printed=F.APPENDIX_H_STATEMENT_PRINTED, corrected=F.APPENDIX_H_STATEMENT_CORRECTED,
            printed_display="R ≥ ⌊D̄/L⌋", corrected_display="R ≥ ⌈D̄/L⌉",
            consequence="numerical",
            explanation=("The expanded target's discrepancy has rank(E) ≤ D̄, and Lemma 1 is exact iff "
                         "RL ≥ rank(E); ⌊D̄/L⌋·L < D̄ whenever L does not divide D̄."),
            refutes="exactness at the printed rank when L ∤ D̄ and rank(E) = D̄ (Lemma 1's lower bound: no rank-R "
                    "adapters beat σ_{RL+1}(E))",
            does_not_refute="anything when L divides D̄ (floor and ceiling agree)",
            instance=_appendix_h_result),
        Erratum(
            id="assumption2_product", title="Assumption 2's product range", where="Assumption 2", pages="p. 31",
            used_by="Theorem 6, Lemma 11 (claim assumption2 checks both readings: "
                    "lora_theory.analysis.fnn.assumption2_report(..., reading='printed' | 'needed'))",
            printed=F.ASSUMPTION2_PRODUCT_PRINTED, corrected=F.ASSUMPTION2_PRODUCT_CORRECTED,
            printed_display="(∏_{l∈P_i}W_l) + LR_r(W̄_i − ∏_{l=min P_i}^{max P_i−1}W_l) non-singular",
            corrected_display="(∏_{l∈P_i}W_l) + LR_r(W̄_i − ∏_{l∈P_i}W_l) non-singular (as in Assumption 1)",
            consequence="hypothesis",
            explanation=("The construction runs Lemma 10 on block i, whose adapted prefixes are "
                         "∏_{l∈P_i}W_l + LR_r(E_i) with E_i = W̄_i − ∏_{l∈P_i}W_l the discrepancy of the whole "
                         "block, so those are the matrices it inverts; the range r ≤ Σ_{l=min P_i}^{max P_i−1}R_l "
                         "is right as printed."),
            refutes="that the printed hypothesis carries the proof: it can hold while the matrix the construction "
                    "inverts is singular",
            does_not_refute=("Theorem 6's exactness on the instance: adapters ΔW_1 = diag(−2, 0), ΔW_2 = diag(0, ¼) "
                             "give ∏(W_l + ΔW_l) = W̄; only the construction (and the printed hypothesis) fail"),
            instance=_assumption2_result),
        Erratum(
            id="theorem3_proof_index", title="An index in Theorem 3's proof", where="Proof of Theorem 3, (15)–(16)",
            pages="p. 28", used_by="—",
            printed=F.THEOREM3_PROOF_INDEX_PRINTED, corrected=F.THEOREM3_PROOF_INDEX_CORRECTED,
            printed_display="LR_{RL∧R̃_i}", corrected_display="LR_{RM∧R̃_i} (a block has M layers)",
            consequence="index only",
            explanation="Block i spends rank R on its M layers; the proof writes RM ∧ R̃_i further on.",
            refutes="nothing in the statements (the theorem's threshold uses M)",
            does_not_refute="Theorem 3",
            instance=_theorem3_index_result),
        Erratum(
            id="corollary4_ceiling", title="Corollary 4 without a ceiling", where="Corollary 4", pages="p. 6",
            used_by="—",
            printed=F.COROLLARY4_STATEMENT_PRINTED, corrected=F.COROLLARY4_STATEMENT_CORRECTED,
            printed_display="R ≥ D/M", corrected_display="R ≥ ⌈D/M⌉",
            consequence="none",
            explanation="R is an integer, and an integer is ≥ a real number iff it is ≥ its ceiling.",
            refutes="nothing: the two conditions select the same integer ranks",
            does_not_refute="Corollary 4",
            instance=_corollary4_result),
        Erratum(
            id="lemma12_hypothesis", title="Lemma 12's hypothesis", where="Lemma 12", pages="p. 32 (proof p. 33)",
            used_by="Lemma 4's proof (p. 33) applies it with l = 1",
            printed=F.LEMMA12_HYPOTHESIS_PRINTED, corrected=F.LEMMA12_HYPOTHESIS_NEEDED,
            printed_display="some l ∈ [L−1] with I_l ∖ ∪_i Ī_i ≠ ∅ and W̄_i non-singular ⟹ f ≠ f̄ for every tuning "
                            "of the last L − l layers",
            corrected_display="the same with a point x in the interior of I_l at which every target pre-activation "
                              "is positive (so f̄ is injective affine near x while f is constant there)",
            consequence="numerical",
            explanation=("The proof (p. 33) reads x ∉ ∪_i Ī_i as 'every ReLU of the target is active at x'. But Ī_i "
                         "is the set where *all* pre-activations of layer i are ≤ 0: outside it only one unit need "
                         "be active, and a target whose later layer clips everything is constant."),
            refutes="Lemma 12 as printed: its hypothesis holds and a tuning of the last layer equals the target",
            does_not_refute=("Lemma 4 (p. 7): its random targets are one-layer and generic, and claim lemma4 "
                             "certifies its conclusion; nor Lemma 12 without the final ReLU (the same weights are "
                             "then not a counterexample)"),
            instance=_lemma12_result),
        Erratum(
            id="lemma4_region_step", title="A step in Lemma 4's proof", where="Proof of Lemma 4",
            pages="p. 33", used_by="—",
            printed=F.LEMMA4_REGION_STEP_PRINTED, corrected=F.LEMMA4_REGION_STEP_CORRECTED,
            printed_display="I_1 ∖ Ī_1 = ∅ only when W_1 = W̄_1",
            corrected_display="I_1 ⊆ Ī_1 iff M = W̄_1W_1⁻¹ ≥ 0 entrywise and b̄_1 − M b_1 ≤ 0",
            consequence="numerical",
            explanation=("With u = W_1x + b_1, the target's first pre-activation is Mu + (b̄_1 − Mb_1); it is ≤ 0 "
                         "for every u ≤ 0 exactly under the stated condition, which holds on an open set of "
                         "weights, so with positive probability."),
            refutes="the proof's step (an event of positive probability where Lemma 12 with l = 1 does not apply)",
            does_not_refute="Lemma 4: on the instance its conclusion is still certified (claim lemma4)",
            instance=_lemma4_step_result),
        Erratum(
            id="theorem8_typography", title="Theorem 8 and Assumption 3 (single head): three misprints",
            where="Assumption 3 and Theorem 8", pages="p. 34", used_by="Corollary 9",
            printed=F.ASSUMPTION3_SCORE_PRINTED, corrected=F.ASSUMPTION3_SCORE_MEANT,
            printed_display="W_Kl W_Ql + LR_r(…) in Assumption 3 (l > 1); G_i with max_h and superscripts h; "
                            "'… with probability 1' at the end of Theorem 8",
            corrected_display="W_Klᵀ W_Ql + LR_r(…); G_i without max_h (one head); no probability in Theorem 8 "
                              "(its hypothesis, Assumption 3, is deterministic)",
            consequence="index only",
            explanation=("The single-head statements were adapted from the multi-head ones: the score chain the "
                         "construction factorises is W_Kᵀ W_Q (Theorem 8's own G_i says so), a single head needs no "
                         "max over heads, and 'with probability 1' belongs to Corollary 9 (random weights)."),
            refutes="nothing in the results: the construction (claim theorem8) uses the meant matrices",
            does_not_refute="Theorem 8 or Corollary 9",
            instance=None),
        Erratum(
            id="tfn_output_softmax", title="TFN output layer: softmax or linear", where="Sec. 4.1 / App. F.2",
            pages="p. 8, pp. 36–37", used_by="Theorem 7 (vs the authors' code)",
            printed=F.TFN_OUTPUT_PRINTED, corrected=F.TFN_OUTPUT_CODE,
            printed_display="output softmax(W_o Z_L) (the paper)",
            corrected_display="output W_o Z_L (the authors' code)",
            consequence="none",
            explanation=("Theorem 7's construction makes W_o Z_L of the adapted model equal the target's; softmax "
                         "is a function, so the outputs after the softmax are equal too. Exactness under one "
                         "output convention implies it under the other; no number changes."),
            refutes="nothing",
            does_not_refute="Theorem 7 under either output convention",
            instance=None),
    )


_ERRATA: tuple[Erratum, ...] | None = None


def errata() -> tuple[Erratum, ...]:
    """Every erratum, in the order of the paper's table of slips."""
    global _ERRATA
    if _ERRATA is None:
        _ERRATA = _records()
    return _ERRATA


def get_erratum(erratum_id: str) -> Erratum:
    """The erratum with this id; UnknownClaimError listing the known ids otherwise."""
    for e in errata():
        if e.id == erratum_id:
            return e
    raise UnknownClaimError(f"unknown erratum {erratum_id!r}; known: {', '.join(e.id for e in errata())}")


def run_errata() -> list[tuple[Erratum, InstanceResult | None]]:
    """Every erratum with its computed instance (``None`` where none is needed)."""
    return [(e, None if e.instance is None else e.instance()) for e in errata()]


# --- rendering ---------------------------------------------------------------------------------------------------

def _formula(expr: sp.Basic, latex: bool) -> str:
    return sp.latex(expr) if latex else sp.sstr(expr)


def render_text(results, *, latex: bool = False) -> str:
    """The ``lora-theory errata`` report: each slip with page, formulas, instance and what it refutes."""
    lines = []
    for e, res in results:
        lines.append(f"{e.id} — {e.title}: {e.where}, {e.pages} [{e.consequence}]")
        lines.append(f"  printed:   {e.printed_display}")
        lines.append(f"             {_formula(e.printed, latex)}")
        lines.append(f"  corrected: {e.corrected_display}")
        lines.append(f"             {_formula(e.corrected, latex)}")
        lines.append(f"  used by:   {e.used_by}")
        lines.append(f"  why:       {e.explanation}")
        if res is None:
            lines.append("  instance:  none needed")
        else:
            lines.append(f"  instance:  {res.description}")
            for q in (res.printed, res.corrected) + ((res.achieved,) if res.achieved else ()) + res.extra:
                lines.append(f"    {q.text()}")
            lines.append(f"    printed statement holds: {fmt(res.printed_holds)}; corrected holds: "
                         f"{fmt(res.corrected_holds)}")
            lines.append(f"    finding: {res.finding}")
        lines.append(f"  refutes:   {e.refutes}")
        lines.append(f"  does not refute: {e.does_not_refute}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_MD_HEADER = """\
# Errata: where arXiv 2310.17513v3 slips

Generated by `lora-theory errata --markdown` (do not edit by hand; `tests/cli/test_errata.py` checks that this page
equals the command's output). Each entry gives the printed formula and the corrected one (sympy text), and, where the
slip changes a number, an instance computed with this package's constructions in float64 (fixed seeds; numbers
rounded to four significant digits). An instance on which the paper's construction exceeds a printed bound refutes
that bound *for the construction*; it does not by itself refute the existential statement — each entry says which.

Most numerical slips share one root: App. C.1 (p. 19) lists "‖A‖_F = tr(A) for symmetric A", which the proofs use as
E‖x‖₂ = √‖Σ‖_F; for Σ = E[xxᵀ], E‖x‖₂² = tr Σ ≥ ‖Σ‖_F. The claims `lemma2_printed`, `theorem5_printed` and
`theorem6_printed` (docs/claims.md) check the instances below as properties.

| id | where | printed | corrected | consequence |
|---|---|---|---|---|
"""


def render_markdown(results) -> str:
    """docs/errata.md: a table of the slips, then one section per slip."""
    out = [_MD_HEADER]
    for e, _ in results:
        out.append(f"| `{e.id}` | {e.where}, {e.pages} | {e.printed_display} | {e.corrected_display} | "
                   f"{e.consequence} |\n")
    for e, res in results:
        out.append(f"\n## {e.id}: {e.title} ({e.where}, {e.pages})\n\n")
        out.append(f"- printed: {e.printed_display} — `{sp.sstr(e.printed)}`\n")
        out.append(f"- corrected: {e.corrected_display} — `{sp.sstr(e.corrected)}`\n")
        out.append(f"- used by: {e.used_by}\n")
        out.append(f"- consequence: {e.consequence}\n\n")
        out.append(f"{e.explanation}\n\n")
        if res is None:
            out.append("Instance: none needed.\n\n")
        else:
            out.append(f"Instance: {res.description}.\n\n")
            for q in (res.printed, res.corrected) + ((res.achieved,) if res.achieved else ()) + res.extra:
                out.append(f"- {q.text()}\n")
            out.append(f"- printed statement holds: {fmt(res.printed_holds)}; corrected holds: "
                       f"{fmt(res.corrected_holds)}\n\n")
            out.append(f"Finding: {res.finding}.\n\n")
        out.append(f"Refutes: {e.refutes}. Does not refute: {e.does_not_refute}.\n")
    return "".join(out)


def as_json(results) -> dict:
    """The errata as a JSON document (formulas as sympy text and LaTeX)."""
    return {"errata": [{
        "id": e.id, "title": e.title, "where": e.where, "pages": e.pages, "used_by": e.used_by,
        "printed": {"display": e.printed_display, "text": sp.sstr(e.printed), "latex": sp.latex(e.printed)},
        "corrected": {"display": e.corrected_display, "text": sp.sstr(e.corrected), "latex": sp.latex(e.corrected)},
        "consequence": e.consequence, "explanation": e.explanation, "refutes": e.refutes,
        "does_not_refute": e.does_not_refute, "instance": None if res is None else res.as_dict(),
    } for e, res in results]}
