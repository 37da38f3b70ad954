"""Unit tests of :mod:`lora_theory.analysis.one_layer` (claim ``lemma2``): the empirical second moment, both forms of
Lemma 2's bound on the tied-tail instance (closed forms), and the refusals."""

from __future__ import annotations

import math

import pytest
import torch

from lora_theory.analysis.one_layer import lemma2_bounds, second_moment, tied_tail_instance
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.errors import DepthError, DTypeError, ShapeError
from lora_theory.testing.instances import build_fnn_instance

DT = torch.float64


def test_second_moment():
    X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=DT)
    assert torch.equal(second_moment(X), torch.tensor([[0.5, 0.0], [0.0, 2.0]], dtype=DT))
    with pytest.raises(ShapeError):
        second_moment(torch.zeros(0, 2, dtype=DT))


@pytest.mark.parametrize("final_relu", [False, True])
def test_tied_tail_closed_forms(final_relu):
    """D = 6, k = RL = 2, tail σ = 0.1, sample ±e_j: tr Σ = 1, ‖Σ‖_F = 1/√6, E‖f − f̄‖² = 4σ²/6 (> σ²/√6 printed,
    < σ² provable)."""
    t = tied_tail_instance(6, 2, 1, tail=0.1, final_relu=final_relu)
    b = lemma2_bounds(construct_fnn(t.frozen, t.target, t.rank, t.domain), t.X)
    assert b.n == 12 and b.trace == pytest.approx(1.0, rel=1e-15)
    assert b.frobenius == pytest.approx(1 / math.sqrt(6), rel=1e-15)
    assert b.sigma_next == pytest.approx(0.1, rel=1e-12)
    assert b.provable == pytest.approx(0.01, rel=1e-12) and b.printed == pytest.approx(0.01 / math.sqrt(6), rel=1e-12)
    assert b.mean_squared_error == pytest.approx(4 * 0.01 / 6, rel=1e-9)
    assert b.quadratic_form == pytest.approx(b.mean_squared_error, rel=1e-9)
    assert b.printed < b.mean_squared_error < b.provable
    assert "printed" in b.summary() and b.tolerance.value > 0


def test_lemma2_bounds_refusals():
    two = build_fnn_instance(3, 2, 2, seed=0)
    c = construct_fnn(two.frozen, two.target, 1, two.domain)
    with pytest.raises(DepthError, match=r"one-layer target"):
        lemma2_bounds(c, torch.zeros(1, 3, dtype=DT))
    with pytest.raises(DTypeError, match=r"FNNConstruction"):
        lemma2_bounds(object(), torch.zeros(1, 3, dtype=DT))
    with pytest.raises(ShapeError):
        tied_tail_instance(1)
