"""The gate can fail: deliberately broken variants of the library make the properties fail.

Each mutant is injected with ``monkeypatch`` (no file is edited) and the property that should catch it is run
directly (a Hypothesis-decorated function is callable); the test passes only if the property raises.
"""

from __future__ import annotations

import pytest
import sympy as sp

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions import linear as linear_mod

from .._load import fails as _fails
from .._load import load_property_module
from .._load import quick as _quick


@pytest.fixture
def lemma1():
    return load_property_module("lemma1")  # a fresh copy per test: settings are applied to it once


@pytest.fixture
def hetero():
    return load_property_module("hetero_ranks")








def test_unmutated_properties_pass(lemma1, hetero):
    """The control: the same properties pass on the real library (so the failures below are the mutants')."""
    for prop in (lemma1.test_lemma1_threshold, lemma1.test_lemma1_value, lemma1.test_lemma1_resolution,
                 hetero.test_hetero_ranks_compositions):
        _quick(prop)()


def test_threshold_off_by_one_is_caught(monkeypatch, lemma1):
    """Registry threshold ⌈R_E/L⌉ − 1 (a wrong theorem): the construction is not exact there."""
    claim = get_claim("lemma1")
    monkeypatch.setitem(claim.formulas, "threshold", sp.Max(F.LEMMA1_THRESHOLD - 1, 1))
    assert "should be exact" in _fails(lemma1.test_lemma1_threshold)


def test_construction_with_rank_minus_one_is_caught(monkeypatch, lemma1):
    """A construction that spends only R − 1 directions per layer misses σ_{RL+1}(E)."""
    real = linear_mod.construct_linear

    def short(weights, target, rank, **kw):
        ranks = [rank] * len(weights) if isinstance(rank, int) else list(rank)
        return real(weights, target, [max(r - 1, 0) for r in ranks], **kw)

    monkeypatch.setattr(lemma1, "construct_linear", short)
    message = _fails(lemma1.test_lemma1_value)
    assert "lemma1.value" in message or "lemma1.frobenius" in message


def test_wrong_singular_index_is_caught(monkeypatch, lemma1):
    """Predicting σ_{RL}(E) instead of σ_{RL+1}(E)."""
    claim = get_claim("lemma1")
    monkeypatch.setitem(claim.formulas, "spectral_error", F.sigma(F.R * F.L))
    assert "σ_{RL+1}" in _fails(lemma1.test_lemma1_value)


def test_frobenius_tail_from_wrong_index_is_caught(monkeypatch, lemma1):
    """Summing the Frobenius tail from RL + 2 instead of RL + 1."""
    claim = get_claim("lemma1")
    monkeypatch.setitem(claim.formulas, "frobenius_error",
                        sp.sqrt(sp.Sum(F.sigma(F.i) ** 2, (F.i, F.R * F.L + 2, F.D))))
    assert "tail energy" in _fails(lemma1.test_lemma1_value)


def test_loosened_tolerance_is_caught(monkeypatch, lemma1):
    """A tolerance model loosened ×1e6 can no longer tell a 1e-8 relative miss from rounding."""
    real = linear_mod.LinearConstruction.tolerance
    monkeypatch.setattr(linear_mod.LinearConstruction, "tolerance",
                        lambda self: real(self).scaled(1e6, "mutant: loosened"))
    assert "lemma1.resolution" in _fails(lemma1.test_lemma1_resolution)


def test_hetero_exactness_rule_mutant_is_caught(monkeypatch, hetero):
    """'Exact iff max_l R_l ≥ rank E' (per-layer instead of total budget) is refuted by the compositions."""
    claim = get_claim("hetero_ranks")
    mutant = sp.GreaterThan(sp.Max(*[F.R_l[j] for j in range(1, 7)]), F.R_E)
    monkeypatch.setitem(claim.formulas, "exact_iff", mutant)
    _fails(hetero.test_hetero_ranks_compositions)
