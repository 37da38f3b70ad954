"""Claim ``lemma2`` — arXiv 2310.17513v3, Lemma 3, p. 6 (the claim id predates the v3 numbering).

Frozen and target weights with independent continuous random entries satisfy Assumption 1 with probability 1, for
every R. "With probability 1" says nothing about conditioning, so the property checks the singularity threshold on
small, well-scaled draws and only *reports* the conditioning (events; ``target`` in the deep profile)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, target
from hypothesis import strategies as st

from lora_theory.analysis.fnn import assumption1_report
from lora_theory.testing.assertions import Example, assert_true, regime
from lora_theory.testing.strategies import fnn_instances

pytestmark = pytest.mark.lemma2
CLAIM = "lemma2"


@given(inst=fnn_instances(low_rank=False), data=st.data())
def test_lemma2_random_nonsingular(inst, data):
    """Independent random targets (continuous singular values, Haar factors): every listed ratio > 1e-13."""
    R = data.draw(st.integers(1, inst.frozen.width), label="LoRA rank R")
    entries = assumption1_report(inst.frozen, inst.target, R, extended=True)
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    worst = min(entries, key=lambda e: e.ratio)
    assert_true(ex, worst.passed, name="random_nonsingular", what=f"{worst.name} is numerically non-singular",
                seen=f"σ_min/σ_max = {worst.ratio:.3e}")
    decade = math.floor(math.log10(worst.ratio)) if worst.ratio > 0 else -99
    regime(f"worst σ_min/σ_max ≥ 1e{max(decade, -12)}" if decade >= -3 else "worst σ_min/σ_max < 1e-3")
    target(-math.log10(max(worst.ratio, 1e-300)), label="-log10 worst σ_min/σ_max")
