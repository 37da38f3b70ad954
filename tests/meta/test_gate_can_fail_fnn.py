"""The FNN gate can fail: broken variants of the Theorem 3 construction or its formula make the properties fail.

Mutants (injected with monkeypatch, no file edited): the registry threshold one too low; biases calibrated on a
sample of inputs instead of the domain; the last-bias correction dropped; offsets from the wrong norm (too small).
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions import fnn as fnn_mod
from lora_theory.random_matrices import generator
from lora_theory.testing.fnn import sample_calibrated_biases

from .._load import fails as _fails
from .._load import load_property_module
from .._load import quick as _quick


@pytest.fixture
def theorem3():
    return load_property_module("theorem3")








def _rebias(c, new_biases):
    return dataclasses.replace(c, biases=tuple(new_biases))


def _sample_calibrated(frozen, target, rank, domain, **kw):
    """Offsets = 2 × the most negative pre-activation over 64 points drawn from N(0, I/D) (the reference code's
    scheme, scaled down): exact near the sample, not on the domain's boundary."""
    c = fnn_mod.construct_fnn(frozen, target, rank, domain, **kw)
    z = torch.randn(64, frozen.width, generator=generator(0), dtype=torch.float64) / frozen.width ** 0.5
    return _rebias(c, sample_calibrated_biases(c, z))


def _no_last_bias_correction(frozen, target, rank, domain, **kw):
    c = fnn_mod.construct_fnn(frozen, target, rank, domain, **kw)
    biases = list(c.biases)
    for b in c.blocks:
        biases[b.layers[-1]] = target.biases[b.index].clone()
    return _rebias(c, biases)


def test_unmutated_theorem3_passes(theorem3):
    _quick(theorem3.test_theorem3_exact)()


def test_threshold_minus_one_is_caught(monkeypatch, theorem3):
    claim = get_claim("theorem3")
    monkeypatch.setitem(claim.formulas, "threshold", sp.Max(F.THEOREM3_THRESHOLD - 1, 1))
    assert "theorem3.exact" in _fails(theorem3.test_theorem3_exact)


def test_sample_calibrated_biases_are_caught(monkeypatch, theorem3):
    monkeypatch.setattr(theorem3, "construct_fnn", _sample_calibrated)
    assert "theorem3.exact" in _fails(theorem3.test_theorem3_exact)


def test_dropped_last_bias_correction_is_caught(monkeypatch, theorem3):
    monkeypatch.setattr(theorem3, "construct_fnn", _no_last_bias_correction)
    assert "theorem3.exact" in _fails(theorem3.test_theorem3_exact)


def test_too_small_offsets_are_caught(monkeypatch, theorem3):
    """Offsets from an input bound 10× too small (e.g. a wrong norm) clip pre-activations on the domain."""
    for cls in fnn_mod.Domain.__subclasses__():  # Ball, Box: the construction reads domain.norm_bound()
        monkeypatch.setattr(cls, "norm_bound", (lambda orig: (lambda self: 0.1 * orig(self)))(cls.norm_bound))
    message = _fails(theorem3.test_theorem3_biases_safe) + _fails(theorem3.test_theorem3_exact)
    assert "theorem3.biases_safe" in message and "theorem3.exact" in message
