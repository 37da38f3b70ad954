"""Claim ``theorem7_scope`` — arXiv 2310.17513v3, Theorem 7, p. 8 (which matrices are adapted).

The construction adapts only W_Q, W_K, W_V, W_O of every head and block, W_2 of the last block and W_o, each with
rank ≤ R; W_1 of every block and W_2 of the earlier blocks are left exactly frozen; the trainable scalars are
2RD(4HL + 2) + 2DL."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions.tfn import construct_tfn
from lora_theory.errors import SingularityError
from lora_theory.testing.assertions import Example, assert_at_most, assert_equal, assert_true, regime
from lora_theory.testing.strategies import tfn_instances

pytestmark = pytest.mark.theorem7_scope
CLAIM = "theorem7_scope"


@given(inst=tfn_instances(), data=st.data())
def test_theorem7_scope_support_and_ranks(inst, data):
    """Only the allowed matrices move; every adapter has inner dimension and numerical rank ≤ R."""
    D, L, H = inst.frozen.width, inst.frozen.depth, inst.frozen.heads
    R = data.draw(st.integers(1, D), label="LoRA rank R")
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    try:
        c = construct_tfn(inst.frozen, inst.target, R)
    except SingularityError:
        regime("non-singularity fails numerically (hypothesis not met)")
        return
    adapted = c.adapted()
    for l, (a, f) in enumerate(zip(adapted.blocks, inst.frozen.blocks)):
        assert_true(ex, torch.equal(a.W1, f.W1), name="support", what=f"W_1 of block {l + 1} is left frozen",
                    seen=f"W_1 of block {l + 1} was changed (max |Δ| = {float((a.W1 - f.W1).abs().max()):.3e})")
        if l < L - 1:
            assert_true(ex, torch.equal(a.W2, f.W2), name="support", what=f"W_2 of block {l + 1} < L is left frozen",
                        seen=f"W_2 of block {l + 1} was changed (max |Δ| = {float((a.W2 - f.W2).abs().max()):.3e})")
    adapters = c.adapters()
    assert_equal(ex, len(adapters), expected=4 * H * L + 2, name="support",
                 what="number of adapted matrices (Q, K, V, O per head and block, W_2 of block L, W_o)")
    for name, pair in adapters.items():
        assert_at_most(ex, pair.rank, bound=R, name="adapter_rank", what=f"inner dimension of ΔW for {name}")
        assert_at_most(ex, pair.numerical_rank(), bound=R, name="adapter_rank", what=f"numerical rank of ΔW for {name}")
    count = sum(p.pad_to(R).num_params for p in adapters.values()) + 2 * D * L
    formula = F.evaluate_integer(get_claim(CLAIM).formulas["parameter_count"], {F.R: R, F.D: D, F.H: H, F.L: L})
    assert_equal(ex, count, expected=formula, name="parameter_count",
                 what="trainable scalars counted vs the registry formula 2RD(4HL + 2) + 2DL")
    regime(f"L = {L}, H = {H}")
