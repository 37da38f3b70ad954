"""Numerical ranks of discrepancies between weights *stored* in float32: the default threshold is the rounding floor
of E (numerics.discrepancy_rank_floor), which includes the storage rounding (numerics.storage_rank_tau) of float32
weights; it is shared by construct_linear and analysis.fnn.block_discrepancy, so rank advice and constructions
agree; an explicit ``tau`` is honoured (it used to be validated and then ignored)."""

from __future__ import annotations

import torch

from lora_theory import construct_fnn, construct_linear
from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.models import ReLUFNN
from lora_theory.numerics import RANK_TAU, discrepancy_rank_floor, storage_rank_tau, unit_roundoff
from lora_theory.testing.instances import build_fnn_instance, build_linear_instance


def test_storage_rank_tau_values():
    assert storage_rank_tau(torch.float64, 1024, 8) == 0.0  # float64 weights are the numbers meant
    assert storage_rank_tau(torch.float32, 16, 3) == 4 * 16 * 2.0 ** -24
    assert storage_rank_tau(torch.float32, 1, 1) == 2 * 2.0 ** -24


def test_float32_floor_contains_the_storage_rounding():
    kw = dict(width=16, weight_norms=[1.0, 1.0, 1.0], target_norm=1.0, product_norm=1.0, discrepancy_norm=1.0)
    f32, f64 = discrepancy_rank_floor(dtype=torch.float32, **kw), discrepancy_rank_floor(dtype=torch.float64, **kw)
    assert f32 >= storage_rank_tau(torch.float32, 16, 3) > 1e3 * f64 > 0


def test_explicit_tau_is_used():
    inst = build_linear_instance(width=8, depth=2, discrepancy_rank=4, floor=1e-3, seed=3)
    full = construct_linear(inst.weights, inst.target, 4)
    coarse = construct_linear(inst.weights, inst.target, 4, tau=1e-2)
    assert full.discrepancy_rank == 4
    assert coarse.discrepancy_rank < 4, "tau was ignored"


def _float32(inst):
    return tuple(W.float() for W in inst.weights), inst.target.float()


def test_float32_chain_has_its_designed_rank():
    inst = build_linear_instance(width=16, depth=3, discrepancy_rank=3, seed=1)
    Ws, T = _float32(inst)
    noisy = construct_linear(Ws, T, 1, tau=RANK_TAU)
    c = construct_linear(Ws, T, 1)  # ⌈3/3⌉ = 1
    assert noisy.discrepancy_rank == 16, "float32 storage rounding is above 1e-9: counted as rank"
    assert c.discrepancy_rank == 3 and c.is_exact_in_theory()
    err = float(torch.linalg.matrix_norm(c.residual().double(), ord=2))
    assert err <= c.tolerance().value, (err, str(c.tolerance()))


def test_float32_fnn_advice_and_construction_agree():
    inst = build_fnn_instance(8, 4, 2, (3, 5), seed=1)
    f32 = [ReLUFNN(tuple(W.float() for W in m.weights), tuple(b.float() for b in m.biases), m.final_relu)
           for m in (inst.frozen, inst.target)]
    ranks = [b.rank for b in block_discrepancies(*f32)]
    c = construct_fnn(*f32, 3, inst.domain)
    assert ranks == [3, 5] == [b.discrepancy_rank for b in c.blocks]
    assert c.is_exact_in_theory()
    x = inst.domain.sample(64, torch.Generator().manual_seed(0), dtype=torch.float32)
    assert float(c.output_error(x).max()) <= c.tolerance().value
    assert unit_roundoff(torch.float32) == 2.0 ** -24


def test_float32_boundary_points_are_inside_their_domain():
    """A sphere point or box vertex rounded to float32 may sit an ulp outside; contains() allows 8u of the input's
    dtype (1e-12 in float64), and nothing more."""
    from lora_theory import Ball, Box

    gen = torch.Generator().manual_seed(0)
    for dom in (Ball(8, 3.0), Box(8, -0.7, 0.7)):
        exact = dom.adversarial_points(gen)  # float64, on the boundary
        pts = exact.to(torch.float32)
        assert bool(dom.contains(pts).all()) and bool(dom.contains(exact).all())
        assert not bool(dom.contains(pts * (1 + 1e-5)).any())
        assert not bool(dom.contains(exact * (1 + 1e-10)).any())
