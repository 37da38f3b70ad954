"""Meta-tests of the generators (:mod:`lora_theory.testing.instances` builders and the Hypothesis strategies of
:mod:`lora_theory.testing.strategies`): do they produce what they promise (ranks, conditioning, domains,
reproducibility)?"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.domains import Ball
from lora_theory.errors import SingularityError
from lora_theory.numerics import chain_product, numerical_rank, singular_values, spectral_norm
from lora_theory.random_matrices import generator, haar_orthogonal, low_rank_matrix, matrix_with_singular_values
from lora_theory.testing.assertions import (
    Example,
    assert_at_least,
    assert_at_most,
    assert_below,
    assert_close,
    assert_exact,
    assert_not_exact,
    recording,
    refusal_allowed,
)
from lora_theory.testing.instances import (
    FNN_POPULATIONS,
    LINEAR_POPULATIONS,
    TFN_POPULATIONS,
    build_fnn_instance,
    build_linear_instance,
    build_offgen_fnn_instance,
    build_offgen_linear_instance,
    build_offgen_tfn_instance,
    build_singular_prefix_instance,
    build_tfn_instance,
    issue12_diagonal_instance,
)
from lora_theory.testing.strategies import (
    LARGE_RATIOS,
    fnn_instances,
    linear_instances,
    offgen_linear_instances,
    per_layer_ranks,
)
from lora_theory.tolerance import Tolerance


@given(inst=linear_instances())
def test_designed_rank_is_the_numerical_rank(inst):
    """rank_τ(W̄ − ∏W) relative to the operands equals the designed k (no noise direction counted, none lost)."""
    P = chain_product(inst.weights)
    s = singular_values(inst.target - P)
    scale = max(spectral_norm(inst.target), spectral_norm(P))
    assert numerical_rank(s=s, scale=scale) == inst.discrepancy_rank, inst.repro()


@given(inst=linear_instances())
def test_discrepancy_singular_values_are_as_designed(inst):
    """σ_i(E) match the designed values to rounding, with σ_1 = ratio/√κ and σ_k/σ_1 = floor."""
    s = singular_values(inst.target - chain_product(inst.weights))
    k = inst.discrepancy_rank
    if k:
        assert torch.allclose(s[:k], inst.designed_singular_values, rtol=1e-10, atol=1e-13), inst.repro()
        assert math.isclose(float(inst.designed_singular_values[0]), inst.ratio / math.sqrt(inst.kappa),
                            rel_tol=1e-12)
        assert math.isclose(float(inst.designed_singular_values[-1] / inst.designed_singular_values[0]),
                            inst.floor, rel_tol=1e-12)


@given(inst=linear_instances())
def test_frozen_conditioning_is_as_promised(inst):
    """κ(W_l) = κ^{1/L} exactly (D ≥ 2), so κ(∏W) ≤ κ and σ_min(∏W) ≥ 1/√κ."""
    for W in inst.weights:
        s = singular_values(W)
        if inst.width >= 2:
            assert math.isclose(float(s[0] / s[-1]), inst.kappa ** (1 / inst.depth), rel_tol=1e-9), inst.repro()
    sp = singular_values(chain_product(inst.weights))
    assert float(sp[-1]) >= (1 - 1e-9) / math.sqrt(inst.kappa)
    assert float(sp[0]) <= (1 + 1e-9) * math.sqrt(inst.kappa)


@given(inst=linear_instances(ratios=LARGE_RATIOS))
def test_large_ratio_regime_is_large(inst):
    """The 'generic target' regime really has ‖E‖₂ ≥ 2/√κ ≥ 2·(guaranteed σ_min bound)."""
    if inst.discrepancy_rank:
        s = singular_values(inst.target - chain_product(inst.weights))
        assert float(s[0]) >= 2 / math.sqrt(inst.kappa) * (1 - 1e-9)


@given(D=st.integers(2, 12), L=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_singular_prefix_instance_is_singular(D, L, seed):
    """∏W + LR_1(E) has σ_min/σ_max at rounding level, and σ_1(E) is a strict top singular value."""
    inst = build_singular_prefix_instance(D, L, seed=seed)
    P = chain_product(inst.weights)
    U, s, Vh = torch.linalg.svd(inst.target - P)
    assert float(s[1]) < 0.95 * float(s[0])
    M = P + s[0] * torch.outer(U[:, 0], Vh[0])
    sm = singular_values(M)
    assert float(sm[-1] / sm[0]) < 1e-13


def test_builders_are_reproducible_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    a = build_linear_instance(6, 3, 4, kappa=100.0, seed=7)
    b = build_linear_instance(6, 3, 4, kappa=100.0, seed=7)
    c = build_linear_instance(6, 3, 4, kappa=100.0, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.weights, b.weights)) and torch.equal(a.target, b.target)
    assert not torch.equal(a.target, c.target)


def test_repro_string_rebuilds_the_instance():
    inst = build_linear_instance(5, 2, 3, kappa=10.0, ratio=0.05, floor=0.5, ties=False, seed=11)
    rebuilt = eval(inst.repro(), {"build_linear_instance": build_linear_instance})  # noqa: S307 - our own string
    assert torch.equal(rebuilt.target, inst.target)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_haar_orthogonal_is_orthogonal(n):
    Q = haar_orthogonal(n, generator(0))
    assert torch.allclose(Q.T @ Q, torch.eye(n, dtype=torch.float64), atol=1e-14)


def test_matrix_generators_hit_their_singular_values():
    s = torch.tensor([5.0, 2.0, 1.0, 1e-3], dtype=torch.float64)
    assert torch.allclose(singular_values(matrix_with_singular_values(s, generator(1))), s, rtol=1e-12)
    M = low_rank_matrix(6, s[:2], generator(2))
    assert numerical_rank(M) == 2
    assert torch.allclose(singular_values(M)[:2], s[:2], rtol=1e-12)


@given(data=st.data(), D=st.integers(1, 8), L=st.integers(1, 5))
def test_per_layer_ranks_are_in_range(data, D, L):
    ranks = data.draw(per_layer_ranks(D, L), label="ranks")
    assert len(ranks) == L and all(0 <= r <= D for r in ranks)


@given(inst=fnn_instances(low_rank=True, general_partition=True))
def test_fnn_designed_block_ranks_are_the_numerical_ranks(inst):
    """rank(W̄_i − ∏_{P_i}W), measured for the partition the target was designed on, is the designed k_i."""
    ranks = [b.rank for b in block_discrepancies(inst.frozen, inst.target, inst.partition)]
    assert ranks == list(inst.designed_ranks), inst.repro()


@given(inst=fnn_instances())
def test_fnn_conditioning_and_domain_are_as_promised(inst):
    """κ(W_l) = κ^{1/L} for the frozen layers (D ≥ 2), and ball and box both have the norm bound ρ = 3."""
    L = inst.frozen.depth
    if inst.frozen.width >= 2:
        for W in inst.frozen.weights:
            s = singular_values(W)
            assert math.isclose(float(s[0] / s[-1]), inst.kappa ** (1 / L), rel_tol=1e-9), inst.repro()
    assert math.isclose(inst.domain.norm_bound(), 3.0, rel_tol=1e-12), inst.repro()
    corners = inst.domain.adversarial_points(generator(0))
    assert bool(inst.domain.contains(corners).all()), inst.repro()


def test_fnn_and_tfn_builders_are_reproducible_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b = build_fnn_instance(4, 3, 2, (2, 1), seed=5), build_fnn_instance(4, 3, 2, (2, 1), seed=5)
    t, u = build_tfn_instance(4, 2, 2, 1, seed=5), build_tfn_instance(4, 2, 2, 1, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    pairs = zip(a.target.weights + a.frozen.biases, b.target.weights + b.frozen.biases)
    assert all(torch.equal(x, y) for x, y in pairs)
    assert torch.equal(t.target.Wo, u.target.Wo) and torch.equal(t.frozen.blocks[1].WQ[1], u.frozen.blocks[1].WQ[1])
    rebuilt = eval(a.repro(), {"build_fnn_instance": build_fnn_instance})  # noqa: S307 - our own string
    assert torch.equal(rebuilt.target.weights[0], a.target.weights[0])


# --- off-generator populations (issue 12) ---------------------------------------------------------------------------



@pytest.mark.parametrize("kind", LINEAR_POPULATIONS)
def test_offgen_linear_builder_is_deterministic_and_as_described(kind):
    a = build_offgen_linear_instance(kind, 5, 3, discrepancy_rank=2, seed=7)
    b = build_offgen_linear_instance(kind, 5, 3, discrepancy_rank=2, seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.weights, b.weights)) and torch.equal(a.target, b.target)
    assert a.repro().startswith(f"build_offgen_linear_instance({kind!r}")
    E = a.target - chain_product(a.weights)
    if kind == "zero_discrepancy":
        assert torch.equal(E, torch.zeros_like(E))
    if kind == "singular_layer":
        assert int((a.weights[0].abs().sum(dim=0) == 0).sum()) == 1  # one exactly zero column
    if kind in ("diagonal", "permutation"):
        s = singular_values(a.weights[0])
        assert float(s[0] / s[-1]) <= 1e8 ** (1 / 3) * (1 + 1e-12)
        assert int((E != 0).sum()) == 2  # two entries changed
    if kind == "tied":
        s = singular_values(E)
        assert abs(float(s[0] - s[1])) <= 1e-12


def test_offgen_tiny_change_is_relative_to_large_weights():
    inst = build_offgen_linear_instance("tiny_change", 6, 2, discrepancy_rank=1, weight_scale=1e4,
                                       relative_change=1e-12, seed=0)
    P = chain_product(inst.weights)
    rel = spectral_norm(inst.target - P) / spectral_norm(P)
    assert 0.5e-12 < rel < 2e-12


def test_issue12_diagonal_instance():
    inst = issue12_diagonal_instance()
    E = inst.target - inst.weights[0]
    assert float(E[3, 3]) == pytest.approx(1e-6) and int((E != 0).sum()) == 1


@pytest.mark.parametrize("kind", FNN_POPULATIONS)
def test_offgen_fnn_builder_is_deterministic(kind):
    a = build_offgen_fnn_instance(kind, 3, 4, 2, seed=3)
    b = build_offgen_fnn_instance(kind, 3, 4, 2, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.target.weights, b.target.weights))
    assert a.repro().startswith(f"build_offgen_fnn_instance({kind!r}")
    if kind == "zero_discrepancy":
        assert all(d.rank == 0 for d in block_discrepancies(a.frozen, a.target))


@pytest.mark.parametrize("kind", TFN_POPULATIONS)
def test_offgen_tfn_builder_is_deterministic(kind):
    a = build_offgen_tfn_instance(kind, 3, 2, 1, seed=2)
    b = build_offgen_tfn_instance(kind, 3, 2, 1, seed=2)
    assert torch.equal(a.target.Wo, b.target.Wo) and a.repro() == b.repro()


@given(inst=offgen_linear_instances(max_width=4, max_depth=2))
def test_offgen_strategy_draws_finite_instances(inst):
    assert all(bool(torch.isfinite(w).all()) for w in inst.weights) and bool(torch.isfinite(inst.target).all())
    assert inst.kind in LINEAR_POPULATIONS


@pytest.mark.parametrize("D", [2, 3, 5, 8, 16, 32])
def test_ball_sampling_is_uniform(D):
    """P(‖x‖ ≤ ρ·2^{-1/D}) = 1/2 for the uniform ball; 4000 samples: within 0.05 (≈ 6 standard deviations). A radius
    drawn U(0, 1) gives 2^{-1/D} ≥ 0.70 there (D ≥ 2) and fails."""
    x = Ball(D, 2.0).sample(4000, generator(100 + D))
    inner = float((torch.linalg.vector_norm(x, dim=1) <= 2.0 * 2.0 ** (-1.0 / D)).double().mean())
    assert abs(inner - 0.5) <= 0.05, inner
    assert bool(Ball(D, 2.0).contains(x).all())


def _helper_calls(value):
    tol = Tolerance(1e-10, 1.0, "t", {})
    return [
        lambda ex: assert_exact(ex, value, tol=tol, name="n", what="w"),
        lambda ex: assert_not_exact(ex, value, tol=tol, name="n", what="w"),
        lambda ex: assert_close(ex, value, expected=0.0, tol=tol, name="n", what="w"),
        lambda ex: assert_below(ex, value, bound=0.0, tol=tol, name="n", what="w"),
        lambda ex: assert_at_least(ex, value, bound=0.0, tol=tol, name="n", what="w"),
        lambda ex: assert_at_most(ex, value, bound=1.0, name="n", what="w"),
        lambda ex: assert_exact(ex, 0.0, tol=Tolerance(value, 1.0, "t", {}), name="n", what="w"),
    ]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_helpers_reject_nonfinite(value):
    """Every tolerance-based helper (and assert_at_most) fails on a NaN/±inf subject or tolerance."""
    for call in _helper_calls(value):
        with recording(), pytest.raises(AssertionError, match="not finite|finite number"):
            call(Example("meta", "probe"))


def test_refusal_allowed_counts_typed_refusals_and_lets_crashes_through():
    with recording() as rec:
        ex = Example("meta", "probe", population="gaussian")
        with refusal_allowed(ex, name="n", what="w") as outcome:
            raise SingularityError("W is singular", where="W_1")
        assert outcome.refused and rec.refused == 1 and rec.off_generator == 1
        with refusal_allowed(ex, name="n", what="w") as outcome:
            pass
        assert not outcome.refused and rec.refused == 1
        with pytest.raises(AssertionError, match="without naming the matrix"):
            with refusal_allowed(ex, name="n", what="w"):
                raise SingularityError("singular", where="")
        with pytest.raises(ZeroDivisionError):
            with refusal_allowed(ex, name="n", what="w"):
                raise ZeroDivisionError
