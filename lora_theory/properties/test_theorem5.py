"""Claim ``theorem5`` — arXiv 2310.17513v3, Theorem 5, p. 6 (proof pp. 29–31).

Below the threshold, the Theorem 3 construction with per-block weights ∏_{P_i}W + LR_{RM}(E_i) has mean error
E‖f(x) − f̄(x)‖₂ at most the provable bound (b) — the printed form with √tr Σ in place of √‖Σ‖_F, since the proof's
step E‖x‖₂ = √‖Σ‖_F (App. C.1, p. 19) is false in general — and at most the tight spectral bound (c), the proof's
recursion (21) with spectral norms (:mod:`lora_theory.analysis.bounds`), with ε_i = σ_{RM+1}(E_i); ε_i and every
bound are non-increasing in R and vanish at the threshold R ≥ ⌈max_i rank(E_i)/M⌉.

Every bound is evaluated on the empirical measure of the evaluation set X (uniform samples of the domain plus its
adversarial points), Σ̂ = XᵀX/n, so each inequality holds deterministically for that measure; the only slack is the
construction's rounding tolerance (``FNNConstruction.tolerance()``), added to the bound, never widened.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given, target
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.bounds import FORMS, BoundInputs, bound_inputs, evaluate_bound, mean_error
from lora_theory.claims import get_claim
from lora_theory.constructions.fnn import FNNConstruction, construct_fnn
from lora_theory.domains import Ball, Domain
from lora_theory.errors import SingularityError
from lora_theory.models import ReLUFNN
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import (
    Example,
    assert_at_most,
    assert_below,
    assert_exact,
    refusal_allowed,
    regime,
)
from lora_theory.testing.instances import (
    build_clipping_probe_fnn_instance,
    build_fnn_instance,
    build_offgen_fnn_instance,
)
from lora_theory.testing.strategies import fnn_instances, offgen_fnn_instances, seeds
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.theorem5
CLAIM = "theorem5"
#: uniform samples of the domain in each evaluation set (the adversarial points are added to them)
N_SAMPLE = 128


class Case:
    """A frozen/target FNN pair on a domain, a LoRA rank R, and the seed of the evaluation set.

    (A plain class, not a dataclass: tests/_load.py executes this module without registering it in sys.modules,
    where dataclasses look up string annotations.)
    """

    __slots__ = ("frozen", "target", "domain", "rank", "input_seed", "instance_repro")

    def __init__(self, frozen: ReLUFNN, target: ReLUFNN, domain: Domain, rank: int, input_seed: int,
                 instance_repro: str) -> None:
        self.frozen, self.target, self.domain = frozen, target, domain
        self.rank, self.input_seed, self.instance_repro = rank, input_seed, instance_repro

    def __repr__(self) -> str:
        return f"Case({self.repro()})"

    def repro(self) -> str:
        return (f"inst = {self.instance_repro}; construct_fnn(inst.frozen, inst.target, {self.rank}, inst.domain); "
                f"X = domain.sample({N_SAMPLE}, generator({self.input_seed})) + adversarial_points (same generator)")


def case_of(inst, rank: int, input_seed: int = 0) -> Case:
    return Case(inst.frozen, inst.target, inst.domain, rank, input_seed, inst.repro())


def adversarial_case(seed: int, rank: int = 1) -> Case:
    """The adversarial instance of ``properties/test_theorem5_printed.py``: D = 64, L̄ = L = 1, W_1 = −I,
    b = b̄ = 0, W̄_1 entries 0.01·N(0, 1/D), domain the ball of radius 8 (the construction violates the printed
    bound (a) here, not (b) or (c))."""
    D = 64
    gen = generator(seed)
    Wbar = 0.01 * torch.randn(D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    zero = torch.zeros(D, dtype=torch.float64)
    frozen = ReLUFNN((-torch.eye(D, dtype=torch.float64),), (zero,))
    tgt = ReLUFNN((Wbar,), (zero.clone(),))
    return Case(frozen, tgt, Ball(D, 8.0), rank, seed, f"properties/test_theorem5.py::adversarial_case({seed})")


@st.composite
def theorem5_cases(draw: st.DrawFn) -> Case:
    """An FNN pair (D ≤ 8, L ≤ 4), any rank R ∈ [D] (below, at and above the threshold) and an input seed."""
    inst = draw(fnn_instances(max_width=8, max_depth=4), label="FNN instance")
    D, M = inst.frozen.width, inst.frozen.depth // inst.target.depth
    designed = [D if k is None else k for k in inst.designed_ranks]  # generic targets: rank(E_i) = D a.s.
    expected = -(-max(designed) // M)  # the threshold the design aims at (the check recomputes it)
    if expected > 1 and draw(st.booleans(), label="aim below the designed threshold"):
        R = draw(st.integers(1, expected - 1), label="LoRA rank R (below)")
    else:
        R = draw(st.integers(1, D), label="LoRA rank R")
    seed = draw(seeds(), label="evaluation-set seed")
    return case_of(inst, R, seed)


def evaluation_set(domain: Domain, seed: int) -> torch.Tensor:
    """N_SAMPLE uniform points of the domain plus its adversarial points, from a seeded local generator."""
    gen = generator(seed)
    return domain.evaluation_points(N_SAMPLE, gen)


def threshold_of(c: FNNConstruction) -> int:
    """⌈max_i rank(E_i)/M⌉ through the registry's sympy formula (rank(E_i) = numerical rank of block i)."""
    formula = get_claim(CLAIM).formulas["vanishing_threshold"]
    return F.evaluate_integer(formula, {F.R_max: max(b.discrepancy_rank for b in c.blocks),
                                        F.L: c.frozen.depth, F.Lbar: c.target.depth})


def regime_name(R: int, threshold: int) -> str:
    return "below threshold" if R < threshold else ("at threshold" if R == threshold else "above threshold")


def build(case: Case) -> FNNConstruction | None:
    """The construction, or None (event recorded) when Assumption 1 fails numerically for this draw."""
    try:
        return construct_fnn(case.frozen, case.target, case.rank, case.domain)
    except SingularityError:
        regime("Assumption 1 fails numerically (SingularityError): hypothesis not met")
        return None


def _assert_mean_error_below(case: Case, form: str, what: str) -> None:
    c = build(case)
    if c is None:
        return
    X = evaluation_set(case.domain, case.input_seed)
    inputs = bound_inputs(c, X)
    bound = evaluate_bound(form, inputs)
    err = mean_error(c, X)
    thr = threshold_of(c)
    regime(regime_name(case.rank, thr))
    ex = Example(CLAIM, case.repro(), {"R": case.rank, "threshold": thr,
                                       "ε": "[" + ", ".join(f"{e:.3g}" for e in inputs.epsilons) + "]"})
    assert_below(ex, err, bound=bound, tol=c.tolerance(), name=form, what=f"mean error E‖f(x) − f̄(x)‖₂ vs {what}")
    if bound > 0 and case.rank < thr:
        target(err / bound, label=f"mean error / bound ({form})")


@given(case=theorem5_cases())
@example(case=case_of(build_fnn_instance(8, 1, 1, seed=0), 7)).via("one direction short: RM + 1 = rank(E) = D")
@example(case=case_of(build_fnn_instance(8, 2, 1, seed=1), 1)).via("generic target, far below threshold 4")
@example(case=case_of(build_fnn_instance(8, 4, 2, seed=2), 3)).via("L̄ = 2, M = 2, one below threshold")
@example(case=case_of(build_fnn_instance(6, 5, 2, seed=3), 2)).via("remainder layer in the last block")
@example(case=case_of(build_fnn_instance(6, 4, 2, (3, 1), seed=4), 1)).via("designed ranks (3, 1), R = 1")
@example(case=case_of(build_fnn_instance(1, 1, 1, seed=5), 1)).via("D = 1 (at threshold)")
@example(case=adversarial_case(0)).via("adversarial instance (violates the printed form only)")
def test_theorem5_tight(case):
    """Mean error ≤ (c) Σ_i ∏_{k>i}(‖W̄_k‖₂ + ε_k)·ε_i·m_{i−1} + rounding tolerance, for every R."""
    _assert_mean_error_below(case, "tight", "the tight spectral bound (c)")


@given(inst=offgen_fnn_instances(max_width=6, max_depth=4), R=st.integers(1, 6), input_seed=seeds())
@example(inst=build_offgen_fnn_instance("gaussian", 6, 4, 2, seed=0), R=1, input_seed=0).via(
    "N(0, 1/D) layers, generic targets, far below the threshold")
@example(inst=build_clipping_probe_fnn_instance(), R=1, input_seed=0).via("clipping probe, below the threshold")
def test_theorem5_offgen_tight(inst, R, input_seed):
    """Off the conditioned generators, at any R the FNN construction is refused with a typed error naming the block
    and matrix, or its mean error on the evaluation set is ≤ the tight bound (c) + its own tolerance."""
    R = min(R, inst.frozen.width)
    case = case_of(inst, R, input_seed)
    population = inst.args.split(",", 1)[0].strip("'") if inst.builder == "build_offgen_fnn_instance" else inst.builder
    ex = Example(CLAIM, case.repro(), {"R": R}, population=population)
    with refusal_allowed(ex, name="offgen", what=f"construct_fnn at R = {R} on a {population} pair") as outcome:
        c = construct_fnn(case.frozen, case.target, R, case.domain)
    if outcome.refused:
        return
    X = evaluation_set(case.domain, input_seed)
    bound = evaluate_bound("tight", bound_inputs(c, X))
    assert_below(ex, mean_error(c, X), bound=bound, tol=c.tolerance(), name="offgen_tight",
                 what="mean error E‖f(x) − f̄(x)‖₂ vs the tight spectral bound (c)")
    regime(regime_name(R, threshold_of(c)))


@given(case=theorem5_cases())
@example(case=case_of(build_fnn_instance(8, 1, 1, seed=0), 7)).via("one direction short: RM + 1 = rank(E) = D")
@example(case=case_of(build_fnn_instance(8, 4, 2, seed=2), 3)).via("L̄ = 2, M = 2, one below threshold")
@example(case=case_of(build_fnn_instance(6, 5, 3, seed=6), 1)).via("L̄ = 3, remainder layers")
@example(case=adversarial_case(0)).via("adversarial instance (violates the printed form only)")
def test_theorem5_variant(case):
    """Mean error ≤ (b) β_var·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i (√tr Σ in β_var) + rounding tolerance."""
    _assert_mean_error_below(case, "variant", "the provable variant (b)")


def _bound_tolerance(form: str, inputs: BoundInputs, c: FNNConstruction) -> Tolerance:
    """What a bound that should vanish may show from rounding: every bound is nondecreasing in each ε_i, and at the
    threshold ε_i is at most block i's chain tolerance, so the bound is at most its value there."""
    tols = [b.linear.tolerance() for b in c.blocks]
    value = evaluate_bound(form, inputs.with_epsilons([t.value for t in tols]))
    scale = evaluate_bound(form, inputs.with_epsilons([t.scale for t in tols]))
    return Tolerance(value, scale, f"bound ({form}) at ε_i = chain tolerance of block i",
                     {"max chain tolerance": max(t.value for t in tols)})


@given(inst=fnn_instances(max_width=8, max_depth=4), input_seed=seeds())
@example(inst=build_fnn_instance(8, 2, 1, seed=1), input_seed=0).via("generic: threshold ⌈8/2⌉ = 4")
@example(inst=build_fnn_instance(6, 4, 2, (3, 1), seed=4), input_seed=0).via("designed ranks (3, 1): threshold 2")
@example(inst=build_fnn_instance(5, 3, 1, (0,), seed=7), input_seed=0).via("rank(E) = 0: every R is at threshold")
def test_theorem5_monotone(inst, input_seed):
    """ε_i and the bounds (a), (b), (c) are non-increasing in R = 1..D, and vanish (up to rounding) once
    R ≥ ⌈max_i rank(E_i)/M⌉."""
    X = evaluation_set(inst.domain, input_seed)
    prev: tuple[tuple[float, ...], dict[str, float]] | None = None
    thr = None
    for R in range(1, inst.frozen.width + 1):
        case = case_of(inst, R, input_seed)
        c = build(case)
        if c is None:
            return
        thr = threshold_of(c)
        inputs = bound_inputs(c, X)
        bounds = {form: evaluate_bound(form, inputs) for form in FORMS}
        ex = Example(CLAIM, case.repro(), {"R": R, "threshold": thr})
        if prev is not None:
            for i, (e, e_prev) in enumerate(zip(inputs.epsilons, prev[0])):
                assert_at_most(ex, e, bound=e_prev, name="monotone",
                               what=f"ε_{i + 1} at R = {R} (vs {e_prev:.6e} at R − 1)")
            for form in FORMS:
                assert_at_most(ex, bounds[form], bound=prev[1][form], name="monotone",
                               what=f"bound ({form}) at R = {R} (vs {prev[1][form]:.6e} at R − 1)")
        if R >= thr:
            for i, b in enumerate(c.blocks):
                assert_exact(ex, b.epsilon, tol=b.linear.tolerance(), name="monotone",
                             what=f"ε_{i + 1} = σ_{{RM+1}}(E_{i + 1}) at R = {R} ≥ threshold {thr}")
            for form in FORMS:
                assert_exact(ex, bounds[form], tol=_bound_tolerance(form, inputs, c), name="monotone",
                             what=f"bound ({form}) at R = {R} ≥ threshold {thr}")
        prev = (inputs.epsilons, bounds)
    if thr is not None:
        regime("some R below threshold" if thr > 1 else "every R at or above threshold")
