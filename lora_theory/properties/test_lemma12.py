"""Claim ``lemma12`` — arXiv 2310.17513v3, Lemma 12 (App. E.4, p. 32): final-layers tuning in general.

With the non-activation regions I_l = {x : ∏_{i≤l}W_i x + Σ_i ∏_{j=i+1}^{l}W_j b_i ≤ 0} (Ī_i for the target), if some
l ∈ [L−1] has I_l ∖ ∪_i Ī_i ≠ ∅ and the target's weights are non-singular, no tuning of the last L − l layers gives
f = f̄. Checked by exact rational certificates (:func:`lora_theory.analysis.tfl.final_layers_certificate`): two points
that the frozen layers 1..l map to the same hidden value while the target separates them, one of them a point of
I_l ∖ ∪Ī_i. The statement as printed is refuted for L̄ = 2 by an exact counterexample
(:func:`lora_theory.analysis.tfl.lemma12_counterexample`); the proof (p. 33) reads "x ∉ ∪Ī_i" as "every target ReLU
is active at x".
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory.analysis.tfl import final_layers_certificate, lemma12_counterexample, lemma12_instance
from lora_theory.models import ReLUFNN
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import Example, assert_equal, assert_true, regime
from lora_theory.testing.instances import FNN_POPULATIONS, build_offgen_fnn_instance
from lora_theory.testing.strategies import DYNAMIC_RANGES, RELATIVE_CHANGES, WEIGHT_SCALES, seeds

pytestmark = pytest.mark.lemma12
CLAIM = "lemma12"
PROBES = 128


# --- an independent exact evaluation (sympy, not the library's Fraction code) ----------------------------------------

def _rat(t: torch.Tensor) -> sp.Matrix:
    """Exact rationals of a float tensor (every float64 is a rational: sympy.Rational(float) is exact)."""
    if t.ndim == 1:
        return sp.Matrix([sp.Rational(float(v)) for v in t])
    return sp.Matrix([[sp.Rational(float(v)) for v in row] for row in t])


def _layers(model: ReLUFNN) -> list[tuple[sp.Matrix, sp.Matrix]]:
    return [(_rat(W), _rat(b)) for W, b in zip(model.weights, model.biases)]


def _relu(v: sp.Matrix) -> sp.Matrix:
    return v.applyfunc(lambda e: sp.Max(e, 0))


def _hidden(model: ReLUFNN, upto: int, x: torch.Tensor) -> tuple[sp.Matrix, sp.Matrix]:
    """(pre-activation, output) of layer ``upto`` of the actual network, exactly."""
    z = _rat(x)
    pre = z
    for k, (W, b) in enumerate(_layers(model)[:upto]):
        pre = W * z + b
        z = _relu(pre) if (k < model.depth - 1 or model.final_relu) else pre
    return pre, z


def _linear_form(model: ReLUFNN, upto: int, x: torch.Tensor) -> sp.Matrix:
    """∏_{i≤l}W_i x + Σ_i ∏_{j=i+1}^{l} W_j b_i, exactly: x ∈ I_l iff every entry is ≤ 0."""
    z = _rat(x)
    for W, b in _layers(model)[:upto]:
        z = W * z + b
    return z


@st.composite
def lemma12_cases(draw: st.DrawFn) -> tuple[int, int, int, int, bool, bool, int, int]:
    """(D, L, L̄, l, final_relu, clipped_last, seed, probe seed): D ∈ 1..5, L ∈ 2..4, L̄ ∈ 1..L, l ∈ 1..L−1."""
    D = draw(st.integers(1, 5), label="width D")
    L = draw(st.integers(2, 4), label="frozen depth L")
    Lbar = draw(st.integers(1, L), label="target depth L̄")
    layer = draw(st.integers(1, L - 1), label="last frozen layer l")
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    clipped = draw(st.booleans(), label="some units of the target's last layer clipped at x₀")
    return (D, L, Lbar, layer, final_relu, clipped, draw(seeds(), label="instance seed"),
            draw(seeds(), label="probe seed"))


@given(case=lemma12_cases())
@example(case=(4, 2, 1, 1, True, False, 0, 0)).via("l = 1, one-layer target: the setting of Lemma 4")
@example(case=(3, 4, 2, 3, False, True, 1, 1)).via("l = L − 1: only the last layer tuned, no final ReLU")
@example(case=(5, 4, 4, 2, True, True, 2, 2)).via("L̄ = L, some target units clipped at x₀")
@example(case=(1, 3, 1, 2, True, False, 3, 3)).via("D = 1")
def test_lemma12_certificate(case):
    """On an instance with a known point of I_l ∖ ∪Ī_i (lemma12_instance: biases that put x₀ in I_l with layers
    1..l−1 active), a certificate is found within 128 probes, and re-checked here in exact arithmetic (sympy): x and
    x′ lie in I_l, x outside every Ī_i (the hypothesis, exhibited), layer l's actual pre-activation is ≤ 0 at both
    (so z_l(x) = z_l(x′) = 0 and every tuning of layers l+1..L gives f(x) = f(x′)), and f̄(x) ≠ f̄(x′)."""
    D, L, Lbar, layer, final_relu, clipped, seed, probe_seed = case
    frozen, target, x0 = lemma12_instance(D, L, Lbar, layer, final_relu=final_relu, clipped_last=clipped, seed=seed)
    repro = (f"frozen, target, x0 = lemma12_instance({D}, {L}, {Lbar}, {layer}, final_relu={final_relu}, "
             f"clipped_last={clipped}, seed={seed}); final_layers_certificate(frozen, target, {layer}, "
             f"gen=generator({probe_seed}), probes={PROBES}, near=x0)")
    ex = Example(CLAIM, repro, {"D": D, "L": L, "L̄": Lbar, "l": layer})
    cert = final_layers_certificate(frozen, target, layer, gen=generator(probe_seed), probes=PROBES, near=x0)
    assert_true(ex, cert is not None, name="certificate",
                what=f"a certificate with the hypothesis at x is found within {PROBES} probes", seen="none")
    x, xp = cert.x, cert.x_prime
    for name, pt in (("x", x), ("x′", xp)):
        form = _linear_form(frozen, layer, pt)
        assert_true(ex, all(v <= 0 for v in form), name="hypothesis", what=f"{name} ∈ I_{layer} (exact)",
                    seen=f"{[float(v) for v in form]}")
        pre, z = _hidden(frozen, layer, pt)
        assert_true(ex, all(v <= 0 for v in pre), name="certificate",
                    what=f"layer {layer}'s actual pre-activation at {name} is ≤ 0 (z_l = 0; exact)",
                    seen=f"{[float(v) for v in pre]}")
    for i in range(1, Lbar + 1):
        form = _linear_form(target, i, x)
        assert_true(ex, any(v > 0 for v in form), name="hypothesis", what=f"x ∉ Ī_{i} (exact)",
                    seen=f"{[float(v) for v in form]}")
    assert_equal(ex, _hidden(frozen, layer, x)[1], expected=_hidden(frozen, layer, xp)[1], name="certificate",
                 what="z_l(x) = z_l(x′) (exact): every tuning of the last L − l layers gives f(x) = f(x′)")
    fx, fxp = _hidden(target, Lbar, x)[1], _hidden(target, Lbar, xp)[1]
    assert_true(ex, fx != fxp, name="certificate", what="f̄(x) ≠ f̄(x′) (exact)",
                seen=f"f̄(x) = f̄(x′) = {[float(v) for v in fx]}")
    assert_true(ex, cert.is_valid() and cert.hypothesis_holds(), name="certificate",
                what="the certificate validates itself", seen=cert.summary())
    regime("every target ReLU active at x (the proof's reading)" if cert.target_active
           else "some target ReLU clipped at x")
    regime("l = 1" if layer == 1 else "l ≥ 2")


@pytest.mark.parametrize("final_relu", [True, False])
def test_lemma12_printed_counterexample(final_relu):
    """Lemma 12 as printed is false (with the paper's ReLU after the last layer): D = 2, L = L̄ = 2, l = 1, the
    hypothesis holds at x = (1, −1) and the target's weights are non-singular, yet f̄ ≡ 0 (W̄_2 ≤ 0 entrywise,
    b̄_2 = 0, and z̄_1 ≥ 0) and the final-layers tuning W̃_2 = 0, b̃_2 = 0 equals it on all of R². Checked exactly
    (sympy) and on samples; no certificate exists (the search finds none). Without the final ReLU the target is not
    constant and a certificate is found: the counterexample needs the paper's convention."""
    frozen, target, x, tuned = lemma12_counterexample(final_relu)
    ex = Example(CLAIM, f"frozen, target, x, tuned = lemma12_counterexample({final_relu})", {"final_relu": final_relu})
    assert_true(ex, all(v <= 0 for v in _linear_form(frozen, 1, x)), name="counterexample", what="x ∈ I_1")
    for i in (1, 2):
        assert_true(ex, any(v > 0 for v in _linear_form(target, i, x)), name="counterexample", what=f"x ∉ Ī_{i}")
    for i, (W, _) in enumerate(_layers(target), start=1):
        assert_true(ex, W.det() != 0, name="counterexample", what=f"W̄_{i} is non-singular (exact det {W.det()})")
    W2, b2 = _layers(target)[1]
    gen = generator(0)
    pts = torch.cat([x[None, :], 10.0 * torch.randn(512, 2, generator=gen, dtype=torch.float64)])
    if final_relu:
        assert_true(ex, all(v <= 0 for v in W2) and all(v <= 0 for v in b2), name="counterexample",
                    what="W̄_2 ≤ 0 and b̄_2 ≤ 0 entrywise: W̄_2 z̄_1 + b̄_2 ≤ 0 for every z̄_1 ≥ 0, so f̄ ≡ 0 on R²")
        assert_true(ex, all(torch.equal(a, b) for a, b in ((tuned.weights[0], frozen.weights[0]),
                                                             (tuned.biases[0], frozen.biases[0]))),
                    name="counterexample", what="the tuned network keeps layer 1 of the frozen one (l = 1)")
        assert_true(ex, not bool(tuned.weights[1].any()) and not bool(tuned.biases[1].any()), name="counterexample",
                    what="the tuned last layer is (0, 0): f ≡ ReLU(0) = 0")
        assert_true(ex, bool((target(pts) == 0).all()) and bool((tuned(pts) == 0).all()), name="counterexample",
                    what="f̄ = f = 0 on 513 sample points (bit for bit)")
        cert = final_layers_certificate(frozen, target, 1, gen=generator(0), probes=PROBES, require_hypothesis=False)
        assert_true(ex, cert is None, name="counterexample", what="no certificate exists, and none is found",
                    seen=cert.summary() if cert is not None else "")
        regime("counterexample (final ReLU)")
    else:
        cert = final_layers_certificate(frozen, target, 1, gen=generator(0), probes=PROBES)
        assert_true(ex, cert is not None and cert.is_valid(), name="counterexample",
                    what="without the final ReLU a certificate is found (not a counterexample)")
        regime("no final ReLU: certificate")


# --- off the generators -----------------------------------------------------------------------------------------------

OFFGEN_PROBES = 32


@st.composite
def _offgen_lemma12_cases(draw: st.DrawFn):
    """An off-generator FNN pair with L ≥ 2 (Gaussian, Xavier, diagonal with a wide range, tiny change on large
    weights, singular W_1, E = 0; drawn as offgen_fnn_instances does, with the depth L ∈ 2..3 drawn first), the last
    frozen layer l ∈ 1..L−1, and a probe seed."""
    kind = draw(st.sampled_from(FNN_POPULATIONS), label="off-generator population")
    D = draw(st.integers(1, 4), label="width D")
    L = draw(st.integers(2, 3), label="frozen depth L")
    Lbar = draw(st.integers(1, L), label="target depth L̄")
    generic = draw(st.booleans(), label="generic (independent) target layers")
    ranks = None if generic else tuple(draw(st.integers(0, D), label=f"rank of change {i + 1}") for i in range(Lbar))
    dynamic_range = draw(st.sampled_from(DYNAMIC_RANGES), label="dynamic range") if kind in (
        "diagonal", "permutation") else 1e4
    weight_scale = draw(st.sampled_from(WEIGHT_SCALES), label="weight scale") if kind == "tiny_change" else 1.0
    change = draw(st.sampled_from(RELATIVE_CHANGES), label="relative change") if kind in (
        "diagonal", "permutation", "tiny_change") else 1e-6
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    seed = draw(seeds(), label="instance seed")
    regime(f"population: {kind}")
    inst = build_offgen_fnn_instance(kind, D, L, Lbar, block_ranks=ranks, dynamic_range=dynamic_range,
                                     weight_scale=weight_scale, relative_change=change, final_relu=final_relu,
                                     seed=seed)
    layer = draw(st.integers(1, L - 1), label="last frozen layer l")
    return inst, layer, draw(seeds(), label="probe seed")


@given(case=_offgen_lemma12_cases())
@example(case=(build_offgen_fnn_instance("gaussian", 3, 2, 1, seed=0), 1, 0)).via("N(0, 1/D) layers, l = 1")
@example(case=(build_offgen_fnn_instance("singular_layer", 3, 3, 2, seed=0), 2, 0)).via("exactly singular W_1")
@example(case=(build_offgen_fnn_instance("diagonal", 4, 2, 2, dynamic_range=1e8, seed=0), 1, 1)).via(
    "diagonal layers, dynamic range 1e8")
@example(case=(build_offgen_fnn_instance("singular_layer", 1, 2, 1, block_ranks=(0,), final_relu=False, seed=0), 1,
               0)).via("D = 1, W_1 = 0: a zero Lipschitz bound (the search once divided by it)")
@example(case=(build_offgen_fnn_instance("singular_layer", 4, 2, 1, final_relu=False, seed=1), 1, 0)).via(
    "W_1 with a zero column but σ_min > 0 in float: the solve for points of I_1 once raised LinAlgError")
def test_lemma12_offgen_certificate_valid_or_none(case):
    """Off the conditioned generators, the certificate search returns None or a certificate that is valid in exact
    arithmetic (sympy, independently of the library's Fraction code): x, x′ ∈ I_l, x ∉ Ī_i for every target layer
    i, layer l's actual pre-activation ≤ 0 at both (z_l(x) = z_l(x′)), and f̄(x) ≠ f̄(x′) — never an invalid
    certificate."""
    inst, layer, probe_seed = case
    frozen, target = inst.frozen, inst.target
    kind = inst.args.split(",", 1)[0].strip("'")
    ex = Example(CLAIM, f"inst = {inst.repro()}; final_layers_certificate(inst.frozen, inst.target, {layer}, "
                 f"gen=generator({probe_seed}), probes={OFFGEN_PROBES})", {"l": layer}, population=kind)
    cert = final_layers_certificate(frozen, target, layer, gen=generator(probe_seed), probes=OFFGEN_PROBES)
    if cert is None:
        regime("no certificate found")
        return
    regime("certificate found")
    x, xp = cert.x, cert.x_prime
    assert_true(ex, bool(torch.isfinite(x).all() and torch.isfinite(xp).all()), name="offgen_certificate",
                what="the certificate's points are finite", seen=f"x = {x.tolist()}, x′ = {xp.tolist()}")
    for name, pt in (("x", x), ("x′", xp)):
        form = _linear_form(frozen, layer, pt)
        assert_true(ex, all(v <= 0 for v in form), name="offgen_hypothesis", what=f"{name} ∈ I_{layer} (exact)",
                    seen=f"{[float(v) for v in form]}")
        pre, _ = _hidden(frozen, layer, pt)
        assert_true(ex, all(v <= 0 for v in pre), name="offgen_certificate",
                    what=f"layer {layer}'s actual pre-activation at {name} is ≤ 0 (exact)",
                    seen=f"{[float(v) for v in pre]}")
    for i in range(1, target.depth + 1):
        form = _linear_form(target, i, x)
        assert_true(ex, any(v > 0 for v in form), name="offgen_hypothesis", what=f"x ∉ Ī_{i} (exact)",
                    seen=f"{[float(v) for v in form]}")
    assert_equal(ex, _hidden(frozen, layer, x)[1], expected=_hidden(frozen, layer, xp)[1], name="offgen_certificate",
                 what="z_l(x) = z_l(x′) (exact)")
    fx, fxp = _hidden(target, target.depth, x)[1], _hidden(target, target.depth, xp)[1]
    assert_true(ex, fx != fxp, name="offgen_certificate", what="f̄(x) ≠ f̄(x′) (exact)",
                seen=f"f̄(x) = f̄(x′) = {[float(v) for v in fx]}")
