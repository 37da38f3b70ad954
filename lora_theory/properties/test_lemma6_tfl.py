"""Claim ``lemma6_tfl`` — arXiv 2310.17513v3, Lemma 4, p. 7 (general version: Lemma 12, p. 32; the claim id
predates the v3 numbering).

Tuning the final layers 2..L of a random ReLU FNN (layer 1 frozen) cannot match a generic one-layer target when
D ≥ 2, while LoRA with R = ⌈D/L⌉ on every layer can.

Non-representability is shown by a certificate (:func:`lora_theory.analysis.tfl.tfl_certificate`): two inputs x, x'
with the same first-layer output h — so every network that tunes only the final layers takes the same value at
both — and target outputs that differ by at least 10³ times the rounding bound τ on ‖h(x) − h(x')‖. The domain
caveat is checked too: where every first-layer unit is positive, a closed-form final-layers network *does* match
the target, so the claim needs a domain that reaches negative units (here: a ball containing the certificate points).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.tfl import TFLCertificate, certificate_tolerance, tfl_certificate, tfl_local_match
from lora_theory.claims import get_claim
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball
from lora_theory.errors import SingularityError
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import (
    Example,
    assert_at_most,
    assert_close,
    assert_exact,
    assert_not_exact,
    assert_true,
    regime,
)
from lora_theory.testing.instances import FNNInstance, build_fnn_instance
from lora_theory.testing.strategies import seeds
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.lemma6_tfl
CLAIM = "lemma6_tfl"
PROBES = 64
#: the target gap must exceed the rounding bound τ on ‖h(x) − h(x′)‖ by this factor, so that "the target differs"
#: can never be a rounding artefact
MARGIN = 1e3


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
def test_lemma6_tfl_certificate(case):
    """A certificate is found within 64 probes: ‖h(x) − h(x′)‖ ≤ τ = u·D²·(‖W_1‖(‖x‖ + ‖x′‖) + 2‖b_1‖) (the backward
    error of the solves plus the evaluation of W_1x + b_1; ReLU is 1-Lipschitz and ReLU(u) = ReLU(u′) exactly),
    unit k is clipped at both points, and ‖f̄(x) − f̄(x′)‖ ≥ 10³·τ. Every TFL network is a function of h, so it takes
    (up to Lip·τ) equal values at x and x′ and cannot equal f̄ on any domain containing both."""
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
def test_lemma6_tfl_lora_contrast(case):
    """On the same instance, LoRA with R = ⌈D/L⌉ (the registry's formula) and free biases is exact on a ball
    containing both certificate points (radius 1.01·max(‖x‖, ‖x′‖)): at x, x′, at uniform samples and on the
    sphere — where TFL cannot be."""
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
def test_lemma6_tfl_domain_caveat(case, point_seed):
    """Documented counterexample to reading the claim without its domain: on a small ball B(x₀, r) where every
    first-layer unit is positive (W_1x + b_1 ≥ min(u₀)/2 > 0), the closed-form TFL network (layer L: W̄W_1⁻¹ and
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
                 what="closed-form TFL on the positive ball B(x₀, r)")
    regime("target active on the ball" if bool((inst.target(pts) != 0).any()) else "target zero on the ball")

    cert = _certificate(case, ex)
    cpts = cert.points
    out = match.model(cpts)
    spread = float(torch.linalg.vector_norm(out[0] - out[1]))  # a function of h: ≈ 0
    cert_tol = match.tolerance(cert.radius)
    spread_tol = Tolerance(value=match.M_norm * cert.tolerance.value + cert_tol.value, scale=cert_tol.scale,
                           formula="‖M‖·τ + [closed-form TFL tolerance at ρ = max(‖x‖, ‖x′‖)]",
                           terms={"‖M‖": match.M_norm, "τ": cert.tolerance.value, "tfl": cert_tol.value})
    assert_exact(ex, spread, tol=spread_tol, name="domain_caveat",
                 what="closed-form TFL output difference ‖f(x) − f(x′)‖₂")
    miss = float(torch.linalg.vector_norm(out - inst.target(cpts), dim=1).max())
    assert_not_exact(ex, miss, tol=cert_tol, name="domain_caveat", what="closed-form TFL at the certificate points")
    half = (cert.target_gap - spread) / 2
    assert_true(ex, miss >= half * (1 - 1e-12), name="domain_caveat",
                what=f"the closed-form TFL misses the target at a certificate point by ≥ (gap − spread)/2 = {half:.3e} "
                     "(triangle inequality, to 1e-12 relative)",
                seen=f"miss {miss:.3e}")
