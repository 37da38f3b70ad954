"""Unit tests of :mod:`lora_theory.analysis.tfl` (claim ``lemma4``): parameter counts, the certificate's recipe and
its refusals, the D = 1 exemption, a no-shift mutant, and the closed-form final-layers match of the domain
caveat."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.analysis import tfl as tfl_mod
from lora_theory.analysis.tfl import (
    certificate_tolerance,
    tfl_certificate,
    tfl_local_match,
    tfl_parameter_count,
)
from lora_theory.claims import get_claim
from lora_theory.errors import DepthError, DomainError, DTypeError, ShapeError, SingularityError
from lora_theory.models import ReLUFNN
from lora_theory.random_matrices import generator
from lora_theory.testing.instances import build_fnn_instance

DT = torch.float64


def _fnn(weights, biases, final_relu=True) -> ReLUFNN:
    return ReLUFNN(tuple(torch.tensor(w, dtype=DT) for w in weights),
                   tuple(torch.tensor(b, dtype=DT) for b in biases), final_relu)


# --- parameter counts -------------------------------------------------------------------------------------------

def test_tfl_parameter_count_matches_spec():
    """k(D² + D): D = 16 gives 272 per tuned layer (the paper counts only the weights, k·D² = 256k, as
    in its comparison with LoRA, arXiv 2310.17513v3, Lemma 4, p. 7, and Fig. 6)."""
    assert [tfl_parameter_count(16, k) for k in range(1, 8)] == [272 * k for k in range(1, 8)]
    assert tfl_parameter_count(1, 1) == 2
    claim = get_claim("lemma4")
    plot = claim.formulas["tfl_parameter_count_plot"]
    assert [plot.subs({F.D: 16, F.TFL_LAYERS: k}) for k in (1, 7)] == [256, 1792]
    assert sp.expand(claim.formulas["tfl_parameter_count"] - F.TFL_LAYERS * F.D * (F.D + 1)) == 0


def test_lora_threshold_for_one_layer_target():
    """⌈D/L⌉: D = 16, L = 8 needs R = 2 (512 = 2RDL LoRA scalars, E5); L = 3 needs 6; L ≥ D needs 1."""
    expr = get_claim("lemma4").formulas["lora_threshold"]
    assert [F.evaluate_integer(expr, {F.D: 16, F.L: L}) for L in (8, 3, 16, 40)] == [2, 6, 1, 1]
    assert F.evaluate_integer(F.LINEAR_PARAMETER_COUNT, {F.R: 2, F.D: 16, F.L: 8}) == 512


@pytest.mark.parametrize("D, k", [(0, 1), (4, 0), (-1, 2), (True, 1), (4, 1.5), ("4", 1)])
def test_tfl_parameter_count_rejects_bad_arguments(D, k):
    with pytest.raises(DomainError, match=r"must be an integer >= 1"):
        tfl_parameter_count(D, k)


# --- the certificate --------------------------------------------------------------------------------------------

def test_certificate_follows_the_recipe():
    """W_1x + b_1 = u and W_1x′ + b_1 = u − t·e_k (up to rounding), u_k < 0, and the first layer agrees."""
    inst = build_fnn_instance(4, 3, 1, None, seed=11)
    cert = tfl_certificate(inst.frozen, inst.target, gen=generator(5), shift=2.5)
    assert cert is not None and cert.is_valid(), cert
    W1, b1 = inst.frozen.weights[0], inst.frozen.biases[0]
    k, tol = cert.unit, cert.tolerance.value
    assert float(cert.u[k]) <= 0.0
    e_k = torch.zeros(4, dtype=DT)
    e_k[k] = 1.0
    assert float(torch.linalg.vector_norm(W1 @ cert.x + b1 - cert.u)) <= tol
    assert float(torch.linalg.vector_norm(W1 @ cert.x_prime + b1 - (cert.u - 2.5 * e_k))) <= tol
    assert cert.h_difference <= tol and cert.target_gap >= 1e3 * tol
    assert cert.radius == max(float(torch.linalg.vector_norm(cert.x)), float(torch.linalg.vector_norm(cert.x_prime)))
    assert "probe" in cert.summary() and "τ" in cert.summary()
    same = certificate_tolerance(W1, b1, cert.x, cert.x_prime)
    assert same.value == cert.tolerance.value


def test_certificate_is_reproducible_and_leaves_the_global_rng_alone():
    inst = build_fnn_instance(3, 2, 1, None, seed=4)
    state = torch.random.get_rng_state()
    a = tfl_certificate(inst.frozen, inst.target, gen=generator(9))
    b = tfl_certificate(inst.frozen, inst.target, gen=generator(9))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a is not None and b is not None
    assert torch.equal(a.x, b.x) and torch.equal(a.x_prime, b.x_prime) and a.probes == b.probes


def test_no_shift_mutant_yields_no_certificate(monkeypatch):
    """u′ = u (no shift, the mutant) gives x′ = x, a zero target gap, and hence no certificate — the margin test
    cannot be passed by two copies of one point. The unmutated function finds one on the same instances."""
    instances = [build_fnn_instance(D, L, 1, None, final_relu=fr, seed=s)
                 for s, (D, L, fr) in enumerate([(2, 2, True), (4, 3, False), (6, 4, True)])]
    for inst in instances:
        assert tfl_certificate(inst.frozen, inst.target, gen=generator(0)) is not None
    monkeypatch.setattr(tfl_mod, "_shift", lambda U, units, t: U.clone())
    for inst in instances:
        assert tfl_certificate(inst.frozen, inst.target, gen=generator(0), probes=16) is None


def test_loose_margin_is_what_a_certificate_needs():
    """An impossible margin (1e300·τ) yields no certificate: acceptance is decided by the target gap alone."""
    inst = build_fnn_instance(4, 2, 1, None, seed=2)
    assert tfl_certificate(inst.frozen, inst.target, gen=generator(0), probes=8, margin=1e300) is None


# --- D = 1 is exempt --------------------------------------------------------------------------------------------

def test_d1_target_dead_on_the_dead_half_line_has_no_certificate_and_tfl_matches():
    """D = 1, frozen h = ReLU(x) (dead for x < 0), target ReLU(x − 1) (dead for x < 1 ⊃ x < 0): the target is constant
    where h is, so no certificate exists (None after 256 probes), and the closed-form final-layers net equals the
    target on all of R — which happens with positive probability for random D = 1 weights, hence the exemption."""
    frozen = _fnn([[[1.0]], [[0.7]]], [[0.0], [0.3]])
    target = _fnn([[[1.0]]], [[-1.0]])
    assert tfl_certificate(frozen, target, gen=generator(0), probes=256) is None
    match = tfl_local_match(frozen, target)
    x = torch.linspace(-50.0, 50.0, 2001, dtype=DT)[:, None]
    assert torch.equal(match.model(x), target(x))


def test_d1_target_alive_on_the_dead_half_line_has_a_certificate():
    """D = 1, frozen h = ReLU(x), target ReLU(−x): alive where h = 0, so a certificate exists (gap = t = 1)."""
    frozen = _fnn([[[1.0]], [[0.7]]], [[0.0], [0.3]])
    target = _fnn([[[-1.0]]], [[0.0]])
    cert = tfl_certificate(frozen, target, gen=generator(0))
    assert cert is not None and cert.is_valid()
    assert float(cert.x) <= 0.0 and float(cert.x_prime) < 0.0
    assert cert.target_gap == pytest.approx(1.0, rel=1e-12)


# --- the closed-form final-layers net of the domain caveat ----------------------------------------------------------

@pytest.mark.parametrize("final_relu", [True, False])
def test_local_match_layout_and_exactness_on_the_positive_region(final_relu):
    """Layer 1 kept, layers 2..L−1 identity with zero bias, layer L = (W̄W_1⁻¹, b̄ − W̄W_1⁻¹b_1); exact where
    W_1x + b_1 > 0, under both final-ReLU conventions."""
    inst = build_fnn_instance(3, 4, 1, None, final_relu=final_relu, seed=8)
    match = tfl_local_match(inst.frozen, inst.target)
    f = match.model
    W1, b1 = inst.frozen.weights[0], inst.frozen.biases[0]
    assert f.depth == 4 and f.final_relu == final_relu and torch.equal(f.weights[0], W1)
    for l in (1, 2):
        assert torch.equal(f.weights[l], torch.eye(3, dtype=DT)) and not bool(f.biases[l].any())
    M = inst.target.weights[0] @ torch.linalg.inv(W1)  # test-only reference: an explicit inverse
    assert torch.allclose(f.weights[3], M, rtol=0, atol=1e-12)
    u = torch.tensor([[0.5, 1.0, 2.0], [3.0, 0.1, 0.2]], dtype=DT)
    x = torch.linalg.solve(W1, (u - b1).T).T
    err = float(torch.linalg.vector_norm(f(x) - inst.target(x), dim=1).max())
    assert err <= match.tolerance(float(torch.linalg.vector_norm(x, dim=1).max())).value


def test_local_match_rejects_bad_pairs():
    inst = build_fnn_instance(3, 3, 2, None, seed=0)
    with pytest.raises(DepthError, match=r"one-layer target; got target depth L̄=2"):
        tfl_local_match(inst.frozen, inst.target)
    one = build_fnn_instance(3, 3, 1, None, seed=0)
    flipped = ReLUFNN(one.target.weights, one.target.biases, final_relu=False)
    with pytest.raises(DomainError, match=r"final_relu"):
        tfl_local_match(one.frozen, flipped)


# --- refusals -------------------------------------------------------------------------------------------------------

def test_certificate_rejects_bad_inputs():
    inst = build_fnn_instance(3, 2, 1, None, seed=0)
    gen = generator(0)
    shallow = build_fnn_instance(3, 1, 1, None, seed=0)
    with pytest.raises(DepthError, match=r"needs frozen depth L >= 2; got L=1"):
        tfl_certificate(shallow.frozen, shallow.target, gen=gen)
    other = build_fnn_instance(4, 2, 1, None, seed=0)
    with pytest.raises(ShapeError, match=r"target width D̄=4 differs from frozen width D=3"):
        tfl_certificate(inst.frozen, other.target, gen=gen)
    with pytest.raises(ShapeError, match=r"ReLUFNN"):
        tfl_certificate(inst.frozen, inst.target.weights[0], gen=gen)
    with pytest.raises(DTypeError, match=r"torch.Generator"):
        tfl_certificate(inst.frozen, inst.target, gen=0)
    with pytest.raises(ShapeError, match=r"probes must be an integer >= 1"):
        tfl_certificate(inst.frozen, inst.target, gen=gen, probes=0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(DomainError, match=r"shift must be a finite number > 0"):
            tfl_certificate(inst.frozen, inst.target, gen=gen, shift=bad)
    with pytest.raises(DomainError, match=r"margin"):
        tfl_certificate(inst.frozen, inst.target, gen=gen, margin=0)


def test_certificate_refuses_a_singular_first_layer():
    singular = _fnn([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0], [0.0, 0.0]])
    target = _fnn([[[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0]])
    with pytest.raises(SingularityError, match=r"frozen W_1 is numerically singular") as info:
        tfl_certificate(singular, target, gen=generator(0))
    assert info.value.where == "W_1"
    with pytest.raises(SingularityError):
        tfl_local_match(singular, target)


# --- Lemma 12 (claim lemma12): exact regions, certificates, the counterexample --------------------------------------

def test_region_values_and_exact_hidden_by_hand():
    """I_l composes the layers without ReLUs; the actual network clips in between."""
    from fractions import Fraction

    from lora_theory.analysis.tfl import exact_hidden, exact_output, region_values

    f = _fnn([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, -1.0]]], [[0.0, -1.0], [-0.5, 0.0]], final_relu=False)
    x = torch.tensor([1.0, 0.5], dtype=DT)  # layer 1: (1, −0.5) → ReLU (1, 0)
    assert region_values(f, 1, x) == [Fraction(1), Fraction(-1, 2)]
    assert region_values(f, 2, x) == [Fraction(0), Fraction(3, 2)]  # (1 − 0.5 − 0.5, 1 + 0.5)
    pre, z = exact_hidden(f, 2, x)
    assert pre == [Fraction(1, 2), Fraction(1)] and z == pre  # no final ReLU
    assert exact_output(f, x) == [Fraction(1, 2), Fraction(1)]


def test_first_region_inside_target_by_hand():
    from lora_theory.analysis.tfl import first_region_inside_target

    frozen = _fnn([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0], [0.0, 0.0]])
    inside = _fnn([[[1.0, 2.0], [0.5, 1.0]]], [[-1.0, 0.0]])  # M = W̄ ≥ 0, o = b̄ ≤ 0
    assert first_region_inside_target(frozen, inside)
    assert not first_region_inside_target(frozen, _fnn([[[1.0, -2.0], [0.5, 1.0]]], [[-1.0, 0.0]]))  # M has < 0
    assert not first_region_inside_target(frozen, _fnn([[[1.0, 2.0], [0.5, 1.0]]], [[-1.0, 1e-300]]))  # o_2 > 0
    singular = _fnn([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(SingularityError, match=r"exactly singular"):
        first_region_inside_target(singular, inside)


def test_final_layers_certificate_finds_and_refuses():
    from lora_theory.analysis.tfl import final_layers_certificate, lemma12_instance, region_values

    frozen, target, x0 = lemma12_instance(3, 3, 2, 2, seed=4)
    assert all(v <= 0 for v in region_values(frozen, 2, x0))  # x₀ ∈ I_2 by construction
    assert all(v > 0 for v in region_values(frozen, 1, x0))  # with layer 1 active there
    cert = final_layers_certificate(frozen, target, 2, gen=generator(0), near=x0)
    assert cert is not None and cert.is_valid() and cert.hypothesis_holds() and cert.dead_margin < 0
    assert "l=2" in cert.summary() and cert.points.shape == (2, 3) and cert.radius > 0
    with pytest.raises(DepthError, match=r"layer must be an integer in 1..2"):
        final_layers_certificate(frozen, target, 3, gen=generator(0))
    with pytest.raises(DTypeError, match=r"torch.Generator"):
        final_layers_certificate(frozen, target, 1, gen=0)
    shallow = build_fnn_instance(3, 1, 1, None, seed=0)
    with pytest.raises(DepthError, match=r"needs frozen depth L >= 2"):
        final_layers_certificate(shallow.frozen, shallow.target, 1, gen=generator(0))


def test_lemma12_counterexample_matches_with_final_layers():
    """f̄ ≡ 0 and the tuned last layer (0, 0) gives f ≡ 0, although the hypothesis holds at x = (1, −1)."""
    from lora_theory.analysis.tfl import exact_output, final_layers_certificate, lemma12_counterexample

    frozen, target, x, tuned = lemma12_counterexample()
    pts = torch.randn(256, 2, generator=generator(1), dtype=DT) * 5
    assert bool((target(pts) == 0).all()) and bool((tuned(pts) == 0).all())
    assert exact_output(target, x) == [0, 0]
    cert = final_layers_certificate(frozen, target, 1, gen=generator(0), probes=64, require_hypothesis=False)
    assert cert is None


def test_lemma4_proof_gap_instance_is_inside_and_open():
    """I_1 ⊆ Ī_1 with W_1 ≠ W̄_1, and still so after a 1e-6 perturbation of every weight and bias (an open set)."""
    from lora_theory.analysis.tfl import first_region_inside_target, lemma4_proof_gap_instance

    frozen, target = lemma4_proof_gap_instance(3, 2, seed=5)
    assert first_region_inside_target(frozen, target)
    assert not torch.equal(frozen.weights[0], target.weights[0])
    g = generator(6)

    def nudge(m: ReLUFNN) -> ReLUFNN:
        return ReLUFNN(tuple(w + 1e-6 * torch.randn(w.shape, generator=g, dtype=DT) for w in m.weights),
                       tuple(b + 1e-6 * torch.randn(b.shape, generator=g, dtype=DT) for b in m.biases), m.final_relu)

    assert first_region_inside_target(nudge(frozen), nudge(target))
    assert tfl_certificate(frozen, target, gen=generator(0)) is not None  # Lemma 4 holds there all the same
