"""Claim ``theorem7_scope`` — arXiv 2310.17513 v3, Theorem 7 (adapted matrices): the construction adapts only
W_Q, W_K, W_V, W_O of every head and block, W_2 of the last block and W_o, each with rank ≤ R; W_1 of every block and
W_2 of the earlier blocks are left exactly frozen; the trainable scalars are 2RD(4HL + 2) + 2DL."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions.tfn import construct_tfn
from lora_theory.errors import SingularityError
from lora_theory.testing.assertions import Example, check_at_most, regime
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
        assert torch.equal(a.W1, f.W1), f"{CLAIM}.support: W_1 of block {l + 1} was changed; {ex.where()}"
        if l < L - 1:
            assert torch.equal(a.W2, f.W2), f"{CLAIM}.support: W_2 of block {l + 1} < L was changed; {ex.where()}"
    adapters = c.adapters()
    assert len(adapters) == 4 * H * L + 2, f"{CLAIM}.support: {len(adapters)} adapted matrices; {ex.where()}"
    for name, pair in adapters.items():
        check_at_most(ex, "adapter_rank", pair.rank, R, f"inner dimension of ΔW for {name}")
        check_at_most(ex, "adapter_rank", pair.numerical_rank(), R, f"numerical rank of ΔW for {name}")
    count = sum(p.pad_to(R).num_params for p in adapters.values()) + 2 * D * L
    formula = F.evaluate_integer(get_claim(CLAIM).formulas["parameter_count"], {F.R: R, F.D: D, F.H: H, F.L: L})
    assert count == formula, f"{CLAIM}.parameter_count: counted {count}, formula {formula}; {ex.where()}"
    regime(f"L = {L}, H = {H}")
