"""The TFN gate can fail: an adapter on W_1, a missing calibration through the previous block's W_2, and a
threshold one too low (⌈G/2⌉ − 1, e.g. ⌊D/2⌋ − 1 claimed sufficient for odd D) make the properties fail."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions import tfn as tfn_mod
from lora_theory.models import TFN

from .._load import fails as _fails
from .._load import load_property_module
from .._load import quick as _quick


@pytest.fixture
def theorem7():
    return load_property_module("theorem7")


@pytest.fixture
def scope():
    return load_property_module("theorem7_scope")


def test_unmutated_tfn_properties_pass(theorem7, scope):
    for prop in (theorem7.test_theorem7_exact_random, theorem7.test_theorem7_threshold_lowgap,
                 scope.test_theorem7_scope_support_and_ranks):
        _quick(prop)()


def test_adapter_on_w1_is_caught(monkeypatch, theorem7, scope):
    real = tfn_mod.TFNConstruction.adapted

    def with_w1_adapter(self):
        net = real(self)
        b0 = net.blocks[0]
        W1 = b0.W1 + 1e-3 * torch.outer(torch.ones(net.width, dtype=net.dtype), torch.ones(net.width, dtype=net.dtype))
        return TFN((dataclasses.replace(b0, W1=W1),) + net.blocks[1:], net.Wo)

    monkeypatch.setattr(tfn_mod.TFNConstruction, "adapted", with_w1_adapter)
    assert "theorem7_scope.support: W_1 of block 1 was changed" in _fails(scope.test_theorem7_scope_support_and_ranks)
    assert "theorem7.exact" in _fails(theorem7.test_theorem7_exact_random)


def test_missing_calibration_is_caught(monkeypatch, theorem7):
    """C_{i+1} = I instead of W̄_2 W_2⁻¹: block 2 is built for the wrong hidden-state coordinates."""
    real = tfn_mod._calibration

    def identity(W2, W2bar, l):
        _, rec = real(W2, W2bar, l)
        return torch.eye(W2.shape[0], dtype=W2.dtype), rec

    monkeypatch.setattr(tfn_mod, "_calibration", identity)
    assert "theorem7.exact" in _fails(theorem7.test_theorem7_exact_random)


def test_threshold_one_too_low_is_caught(monkeypatch, theorem7):
    """⌈G/2⌉ − 1 claimed sufficient (for D odd: ⌊D/2⌋ − 1 … or ⌈D/2⌉ − 1 = ⌊D/2⌋)."""
    claim = get_claim("theorem7")
    monkeypatch.setitem(claim.formulas, "threshold", sp.Max(F.THEOREM7_THRESHOLD - 1, 1))
    assert "theorem7.chains" in _fails(theorem7.test_theorem7_threshold_lowgap)
    assert "theorem7.chains" in _fails(theorem7.test_theorem7_exact_random)
