"""Claim ``lemma4`` — arXiv 2310.17513v3, Lemma 4, p. 7 (restated p. 33; general version: Lemma 12, p. 32).

Tuning the final layers 2..L of a random ReLU FNN (layer 1 frozen) cannot match a generic one-layer target when
D ≥ 2, while LoRA with R = ⌈D/L⌉ on every layer can.

Non-representability is shown by a certificate (:func:`lora_theory.analysis.tfl.tfl_certificate`): two inputs x, x'
with the same first-layer output h — so every network that tunes only the final layers takes the same value at
both — and target outputs that differ by at least 10³ times the rounding bound τ on ‖h(x) − h(x')‖. The domain
caveat is checked too: where every first-layer unit is positive, a closed-form final-layers network *does* match
the target, so the claim needs a domain that reaches negative units (here: a ball containing the certificate points).

Lemma 4 as a corollary of Lemma 12 (claim ``lemma12``, l = 1): where I_1 ∖ Ī_1 ≠ ∅ the exact Lemma 12 certificate is
found. The proof (p. 33) says I_1 ∖ Ī_1 = ∅ needs W_1 = W̄_1; in fact I_1 ⊆ Ī_1 exactly when M = W̄W_1⁻¹ ≥ 0
entrywise and b̄ − Mb_1 ≤ 0, an event of positive probability (≈ 2.5 % of Gaussian draws at D = 2). There Lemma 12
does not apply, but the single-unit certificate above still proves Lemma 4.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.tfl import (
    TFLCertificate,
    certificate_tolerance,
    final_layers_certificate,
    first_region_inside_target,
    lemma4_proof_gap_instance,
    tfl_certificate,
    tfl_local_match,
)
from lora_theory.claims import get_claim
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball
from lora_theory.errors import SingularityError
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import (
    Example,
    assert_above,
    assert_at_most,
    assert_below,
    assert_close,
    assert_exact,
    assert_not_exact,
    assert_true,
    refusal_allowed,
    regime,
)
from lora_theory.testing.instances import FNNInstance, build_fnn_instance, build_offgen_fnn_instance
from lora_theory.testing.strategies import RELATIVE_CHANGES, WEIGHT_SCALES, seeds
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.lemma4
CLAIM = "lemma4"
PROBES = 64
#: the target gap must exceed the rounding bound τ on ‖h(x) − h(x′)‖ by this factor, so that "the target differs"
#: can never be a rounding artefact
MARGIN = 1e3
#: off-generator populations whose layer 1 is random (the lemma's setting), and the singular-W_1 control
TFL_POPULATIONS = ("gaussian", "xavier", "tiny_change", "zero_discrepancy", "singular_layer")


class TFLCase:
    """A frozen FNN with a generic one-layer target, and the seed of the certificate's probes."""

    __slots__ = ("instance", "probe_seed")

    def __init__(self, instance: FNNInstance, probe_seed: int) -> None:
        self.instance = instance
        self.probe_seed = probe_seed

    @property
    def width(self) -> int:
        return self.instance.frozen.width

    @property
    def depth(self) -> int:
        return self.instance.frozen.depth

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        return f"TFLCase({self.instance.repro()}, probe_seed={self.probe_seed})"

    def repro(self) -> str:
        return (f"{self.instance.repro()}; tfl_certificate(frozen, target, gen=generator({self.probe_seed}), "
                f"probes={PROBES})")


def _case(D: int, L: int, final_relu: bool, seed: int, probe_seed: int) -> TFLCase:
    return TFLCase(build_fnn_instance(D, L, 1, None, final_relu=final_relu, seed=seed), probe_seed)


@st.composite
def tfl_cases(draw: st.DrawFn) -> TFLCase:
    """D ∈ 2..6 (the lemma needs D ≥ 2; D = 1 is covered in tests/unit/test_tfl.py), L ∈ 2..4, a generic one-layer
    target, seeded."""
    D = draw(st.integers(2, 6), label="width D")
    L = draw(st.integers(2, 4), label="frozen depth L")
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    seed = draw(seeds(), label="instance seed")
    probe_seed = draw(seeds(), label="probe seed")
    return _case(D, L, final_relu, seed, probe_seed)


def _certificate(case: TFLCase, ex: Example) -> TFLCertificate:
    inst = case.instance
    cert = tfl_certificate(inst.frozen, inst.target, gen=generator(case.probe_seed), probes=PROBES, margin=MARGIN)
    assert_true(ex, cert is not None, name="certificate", what=f"a certificate is found within {PROBES} probes",
                seen=f"none: every probe's target gap was below {MARGIN:g}·τ")
    n = cert.probes
    regime("certificate at probe 1" if n == 1 else ("certificate at probe 2–3" if n <= 3 else
                                                     "certificate after ≥ 4 probes"))
    return cert


def _first_layer(inst: FNNInstance, pts: torch.Tensor) -> torch.Tensor:
    """W_1x + b_1 as the network computes it (rows of ``pts``)."""
    return inst.frozen.preactivations(pts)[0]


@given(case=tfl_cases())
@example(case=_case(4, 2, True, 0, 0)).via("D = 4, L = 2")
@example(case=_case(2, 4, False, 1, 1)).via("D = 2, L = 4, no final ReLU")
def test_lemma4_certificate(case):
    """A certificate is found within 64 probes: ‖h(x) − h(x′)‖ ≤ τ = u·D²·(‖W_1‖(‖x‖ + ‖x′‖) + 2‖b_1‖) (the backward
    error of the solves plus the evaluation of W_1x + b_1; ReLU is 1-Lipschitz and ReLU(u) = ReLU(u′) exactly),
    unit k is clipped at both points, and ‖f̄(x) − f̄(x′)‖ ≥ 10³·τ. Every final-layers network is a function of h, so it
    takes (up to Lip·τ) equal values at x and x′ and cannot equal f̄ on any domain containing both."""
    inst = case.instance
    ex = Example(CLAIM, case.repro(), {"D": case.width, "L": case.depth})
    cert = _certificate(case, ex)
    ex.info["probe"] = cert.probes
    pts = cert.points
    pre = _first_layer(inst, pts)  # recomputed here, independently of the certificate's own numbers
    h = torch.relu(pre)
    h_diff = float(torch.linalg.vector_norm(h[0] - h[1]))
    gap = float(torch.linalg.vector_norm(inst.target(pts[:1]) - inst.target(pts[1:])))
    tol = certificate_tolerance(inst.frozen.weights[0], inst.frozen.biases[0], cert.x, cert.x_prime)
    assert_exact(ex, h_diff, tol=tol, name="certificate", what="first-layer outputs ‖h(x) − h(x′)‖₂")
    assert_not_exact(ex, gap, tol=tol.scaled(MARGIN, "certificate margin"), name="certificate",
                     what="target outputs ‖f̄(x) − f̄(x′)‖₂")
    k = cert.unit
    for name, value in (("x", float(pre[0, k])), ("x′", float(pre[1, k]))):
        assert_at_most(ex, value, bound=tol.value, name="certificate",
                       what=f"pre-activation of the shifted unit k={k + 1} at {name} (must be clipped by the ReLU)")
    assert_close(ex, h_diff, expected=cert.h_difference, tol=tol, name="certificate",
                 what="recomputed ‖h(x) − h(x′)‖₂ vs the certificate's own")
    assert_true(ex, cert.is_valid(), name="certificate", what="the certificate validates itself",
                seen=f"{cert.summary()}; recomputed gap {gap:.3e}")
    regime("h(x) = h(x′) bit for bit" if h_diff == 0.0 else "h(x) ≈ h(x′) within rounding")


@given(case=tfl_cases())
@example(case=_case(4, 2, True, 0, 0)).via("D = 4, L = 2: R = 2")
@example(case=_case(5, 2, False, 2, 2)).via("L ∤ D: R = ⌈5/2⌉ = 3, no final ReLU")
@example(case=_case(2, 4, True, 1, 1)).via("R = 1")
def test_lemma4_lora_contrast(case):
    """On the same instance, LoRA with R = ⌈D/L⌉ (the registry's formula) and free biases is exact on a ball
    containing both certificate points (radius 1.01·max(‖x‖, ‖x′‖)): at x, x′, at uniform samples and on the
    sphere — where final-layers tuning cannot be."""
    inst = case.instance
    D, L = case.width, case.depth
    R = F.evaluate_integer(get_claim(CLAIM).formulas["lora_threshold"], {F.D: D, F.L: L})
    ex = Example(CLAIM, case.repro(), {"D": D, "L": L, "R": R})
    cert = _certificate(case, ex)
    domain = Ball(D, 1.01 * cert.radius)
    ex.info["domain"] = str(domain)
    try:
        con = construct_fnn(inst.frozen, inst.target, R, domain)
    except SingularityError as exc:  # the non-singularity hypothesis of Lemma 1 fails: nothing to check
        regime("LoRA hypothesis fails (singular)")
        ex.info["singular"] = exc.where
        return
    g = generator(case.probe_seed + 1)
    pts = torch.cat([cert.points, domain.evaluation_points(32, g, adversarial=16)])
    err = con.output_error(pts)
    assert_exact(ex, float(err[:2].max()), tol=con.tolerance(), name="lora_contrast",
                 what=f"LoRA (R = {R}) output error at the certificate points x, x′")
    assert_exact(ex, float(err.max()), tol=con.tolerance(), name="lora_contrast",
                 what=f"LoRA (R = {R}) output error on the ball")
    regime("R = 1" if R == 1 else "R ≥ 2")


@given(case=tfl_cases(), point_seed=seeds())
@example(case=_case(4, 2, True, 0, 0), point_seed=0).via("D = 4, L = 2")
@example(case=_case(3, 3, False, 3, 3), point_seed=3).via("no final ReLU, identity middle layer")
def test_lemma4_domain_caveat(case, point_seed):
    """Documented counterexample to reading the claim without its domain: on a small ball B(x₀, r) where every
    first-layer unit is positive (W_1x + b_1 ≥ min(u₀)/2 > 0), the closed-form final-layers network (layer L: W̄W_1⁻¹ and
    b̄ − W̄W_1⁻¹b_1 by solves; layers 2..L−1 the identity) matches the target within rounding. The same network
    misses the target at one of the certificate points by at least half the target gap: non-representability needs
    a domain that reaches negative units."""
    inst = case.instance
    D, L = case.width, case.depth
    ex = Example(CLAIM, f"{case.repro()}; point_seed={point_seed}", {"D": D, "L": L})
    W1, b1 = inst.frozen.weights[0], inst.frozen.biases[0]
    g = generator(point_seed)
    u0 = 0.5 + torch.randn(D, generator=g, dtype=W1.dtype).abs()  # every unit strictly positive
    x0 = torch.linalg.solve(W1, u0 - b1)
    r = float(u0.min()) / (2 * float(torch.linalg.matrix_norm(W1, ord=2)))
    ball = Ball(D, r)
    pts = x0 + ball.evaluation_points(32, g, adversarial=16)
    pre = _first_layer(inst, pts)
    assert_true(ex, bool((pre > 0).all()), name="domain_caveat", what="every first-layer unit is positive on B(x₀, r)",
                seen=f"min pre-activation {float(pre.min()):.3e}")
    match = tfl_local_match(inst.frozen, inst.target)
    rho = float(torch.linalg.vector_norm(x0)) + r
    tol = match.tolerance(rho)
    err = torch.linalg.vector_norm(match.model(pts) - inst.target(pts), dim=1)
    assert_exact(ex, float(err.max()), tol=tol, name="domain_caveat",
                 what="closed-form final-layers tuning on the positive ball B(x₀, r)")
    regime("target active on the ball" if bool((inst.target(pts) != 0).any()) else "target zero on the ball")

    cert = _certificate(case, ex)
    cpts = cert.points
    out = match.model(cpts)
    spread = float(torch.linalg.vector_norm(out[0] - out[1]))  # a function of h: ≈ 0
    cert_tol = match.tolerance(cert.radius)
    spread_tol = Tolerance(value=match.M_norm * cert.tolerance.value + cert_tol.value, scale=cert_tol.scale,
                           formula="‖M‖·τ + [closed-form final-layers tuning tolerance at ρ = max(‖x‖, ‖x′‖)]",
                           terms={"‖M‖": match.M_norm, "τ": cert.tolerance.value, "tfl": cert_tol.value})
    assert_exact(ex, spread, tol=spread_tol, name="domain_caveat",
                 what="closed-form final-layers tuning output difference ‖f(x) − f(x′)‖₂")
    miss = float(torch.linalg.vector_norm(out - inst.target(cpts), dim=1).max())
    assert_not_exact(ex, miss, tol=cert_tol, name="domain_caveat",
                     what="closed-form final-layers net at the certificate points")
    half = (cert.target_gap - spread) / 2
    assert_true(ex, miss >= half * (1 - 1e-12), name="domain_caveat",
                what=f"the closed-form final-layers net misses the target at a certificate point by ≥ "
                     f"(gap − spread)/2 = {half:.3e} "
                     "(triangle inequality, to 1e-12 relative)",
                seen=f"miss {miss:.3e}")


@st.composite
def offgen_tfl_cases(draw: st.DrawFn) -> TFLCase:
    """A frozen FNN of an off-generator population with a one-layer target (generic, or a change of the frozen
    product), D ∈ 2..6, L ∈ 2..4, and a probe seed. The populations are those whose layer 1 is random, as the lemma
    assumes (Gaussian, Xavier, tiny change on large weights, E = 0) and the exactly singular W_1 (refused). Not the
    diagonal / permutation-like ones: there the target is aligned with a diagonal W_1 (unit j of f̄ reads only
    unit j of W_1x + b_1), and when that dependence is increasing and clipped where unit j is, f̄ *is* a function of
    h = ReLU(W_1x + b_1) — final-layers tuning matches it, and "no certificate" is the truth (e.g.
    ``build_offgen_fnn_instance('diagonal', 2, 4, 1, dynamic_range=100.0, relative_change=1e-12, seed=8080153)``)."""
    kind = draw(st.sampled_from(TFL_POPULATIONS), label="off-generator population")
    D = draw(st.integers(2, 6), label="width D")
    L = draw(st.integers(2, 4), label="frozen depth L")
    k = draw(st.one_of(st.none(), st.integers(0, D)), label="rank of the change (None: generic target)")
    weight_scale = draw(st.sampled_from(WEIGHT_SCALES), label="weight scale") if kind == "tiny_change" else 1.0
    change = draw(st.sampled_from(RELATIVE_CHANGES), label="relative change") if kind == "tiny_change" else 1e-6
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    seed = draw(seeds(), label="instance seed")
    probe_seed = draw(seeds(), label="probe seed")
    inst = build_offgen_fnn_instance(kind, D, L, 1, block_ranks=(k,), weight_scale=weight_scale,
                                     relative_change=change, final_relu=final_relu, seed=seed)
    return TFLCase(inst, probe_seed)


@given(case=offgen_tfl_cases())
@example(case=TFLCase(build_offgen_fnn_instance("gaussian", 4, 2, 1, seed=0), 0)).via("N(0, 1/D) layers, L = 2")
@example(case=TFLCase(build_offgen_fnn_instance("singular_layer", 3, 3, 1, seed=0), 0)).via("exactly singular W_1")
@example(case=TFLCase(build_offgen_fnn_instance("tiny_change", 4, 3, 1, block_ranks=(1,), weight_scale=1e4,
                                                relative_change=1e-12, seed=0), 0)).via("1e-12 change on ‖W‖ = 1e4")
def test_lemma4_offgen_certified_or_refused(case):
    """Off the conditioned generators the final-layers-tuning certificate is refused with a typed error naming the
    matrix (a singular W_1: the probes are solves with it), or produced and checked as in
    :func:`test_lemma4_certificate` — ‖h(x) − h(x′)‖ ≤ τ, the shifted unit clipped at both points,
    ‖f̄(x) − f̄(x′)‖ > 10³·τ, the certificate validates itself — never an untyped exception."""
    inst = case.instance
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, case.repro(), {"D": case.width, "L": case.depth}, population=kind)
    with refusal_allowed(ex, name="offgen", what=f"tfl_certificate on a {kind} frozen FNN") as outcome:
        cert = tfl_certificate(inst.frozen, inst.target, gen=generator(case.probe_seed), probes=PROBES,
                               margin=MARGIN)
    if outcome.refused:
        return
    assert_true(ex, cert is not None, name="offgen_certificate", what=f"a certificate is found within {PROBES} probes",
                seen=f"none: every probe's target gap was below {MARGIN:g}·τ")
    pts = cert.points
    pre = _first_layer(inst, pts)  # recomputed here, independently of the certificate's own numbers
    h_diff = float(torch.linalg.vector_norm(torch.relu(pre[0]) - torch.relu(pre[1])))
    gap = float(torch.linalg.vector_norm(inst.target(pts[:1]) - inst.target(pts[1:])))
    tol = certificate_tolerance(inst.frozen.weights[0], inst.frozen.biases[0], cert.x, cert.x_prime)
    # assert_below / assert_above, not assert_exact / assert_not_exact: off-generator instances must not enter the
    # separation ratio of the conditioned generators
    assert_below(ex, h_diff, bound=0.0, tol=tol, name="offgen_certificate",
                 what="first-layer outputs ‖h(x) − h(x′)‖₂")
    assert_above(ex, gap, bound=0.0, tol=tol.scaled(MARGIN, "certificate margin"), name="offgen_certificate",
                 what="target outputs ‖f̄(x) − f̄(x′)‖₂")
    k = cert.unit
    for name, value in (("x", float(pre[0, k])), ("x′", float(pre[1, k]))):
        assert_at_most(ex, value, bound=tol.value, name="offgen_certificate",
                       what=f"pre-activation of the shifted unit k={k + 1} at {name} (must be clipped by the ReLU)")
    assert_true(ex, cert.is_valid(), name="offgen_certificate", what="the certificate validates itself",
                seen=f"{cert.summary()}; recomputed gap {gap:.3e}")
    regime("certificate produced")


# --- Lemma 4 as a corollary of Lemma 12 (l = 1) ----------------------------------------------------------------------

LEMMA12_PROBES = 256


def _gap_case(D: int, L: int, final_relu: bool, seed: int) -> TFLCase:
    frozen, target = lemma4_proof_gap_instance(D, L, final_relu=final_relu, seed=seed)
    args = f"{D}, {L}, final_relu={final_relu}, seed={seed}"
    inst = FNNInstance(frozen, target, (L,), (None,), Ball(D, 1.0), 1.0, 0.5, seed, args,
                       builder="lemma4_proof_gap_instance")
    return TFLCase(inst, seed)


@given(case=tfl_cases())
@example(case=_case(4, 2, True, 0, 0)).via("D = 4, L = 2")
@example(case=_case(2, 2, False, 3, 3)).via("D = 2: I_1 ∖ Ī_1 only near an edge of I_1")
@example(case=_gap_case(2, 2, True, 0)).via("I_1 ⊆ Ī_1 with W_1 ≠ W̄_1: the proof's step fails")
@example(case=_gap_case(5, 3, False, 1)).via("I_1 ⊆ Ī_1 at D = 5, no final ReLU")
def test_lemma4_via_lemma12(case):
    """I_1 ⊆ Ī_1 is decided exactly (first_region_inside_target: M = W̄W_1⁻¹ ≥ 0 and b̄ − Mb_1 ≤ 0, rationals). If
    not, Lemma 12's hypothesis holds with l = 1 and its exact certificate is found (x, x′ ∈ I_1, x ∉ Ī_1,
    ReLU(W_1x + b_1) = ReLU(W_1x′ + b_1) = 0, f̄(x) ≠ f̄(x′)): Lemma 4 follows from Lemma 12. If so (the proof of
    Lemma 4, p. 33, says that needs W_1 = W̄_1; checked here W_1 ≠ W̄_1), Lemma 12 does not apply, yet the single-unit
    certificate of :func:`test_lemma4_certificate` still separates the target: Lemma 4 holds by another route."""
    inst = case.instance
    W1, Wbar = inst.frozen.weights[0], inst.target.weights[0]
    ex = Example(CLAIM, case.repro(), {"D": case.width, "L": case.depth})
    inside = first_region_inside_target(inst.frozen, inst.target)
    if not inside:
        regime("I_1 ∖ Ī_1 ≠ ∅: Lemma 12 (l = 1) applies")
        cert = final_layers_certificate(inst.frozen, inst.target, 1, gen=generator(case.probe_seed),
                                        probes=LEMMA12_PROBES)
        assert_true(ex, cert is not None, name="via_lemma12",
                    what=f"a Lemma 12 certificate (l = 1) is found within {LEMMA12_PROBES} probes", seen="none")
        assert_true(ex, cert.is_valid() and cert.hypothesis_holds(), name="via_lemma12",
                    what="x, x′ ∈ I_1, x ∉ Ī_1, equal first-layer outputs and f̄(x) ≠ f̄(x′), all exact",
                    seen=cert.summary())
        return
    regime("I_1 ⊆ Ī_1: Lemma 12 does not apply")
    assert_true(ex, not torch.equal(W1, Wbar), name="via_lemma12", what="I_1 ⊆ Ī_1 although W_1 ≠ W̄_1 (p. 33)")
    _certificate(case, ex)  # Lemma 4 still holds: the single-unit certificate
