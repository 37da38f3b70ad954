"""Claim ``tfn_gap`` — arXiv 2310.17513 v3, Theorem 7 (functionality gap): G_i, computed from the SPEC §6.11 formula
(value/output and score discrepancies seen through W_1 and the previous block's W_2; the output layer for
G_{L+1}), equals the ranks of the discrepancies the construction actually factorises, and G_i ≤ D."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from lora_theory.constructions.tfn import construct_tfn, tfn_gaps
from lora_theory.errors import SingularityError
from lora_theory.testing.assertions import Example, check_at_most, regime
from lora_theory.testing.strategies import build_tfn_instance, tfn_instances

pytestmark = pytest.mark.tfn_gap
CLAIM = "tfn_gap"


@given(inst=tfn_instances())
@example(inst=build_tfn_instance(6, 2, 2, 1, seed=0)).via("low gap k = 1: G = (2, 2, 1)")
def test_tfn_gap_matches_construction(inst):
    """The formula's G_i equal the construction's chain discrepancy ranks (max over heads and chains)."""
    gaps = tfn_gaps(inst.frozen, inst.target)
    ex = Example(CLAIM, inst.repro(), {"G": gaps})
    try:
        c = construct_tfn(inst.frozen, inst.target, inst.frozen.width)
    except SingularityError:
        regime("non-singularity fails numerically (hypothesis not met)")
        return
    assert c.chain_gaps() == gaps, f"{CLAIM}.matches_construction: formula {gaps} vs chains {c.chain_gaps()}; " \
                                   f"{ex.where()}"
    for g in gaps:
        check_at_most(ex, "le_D", g, inst.frozen.width, "G_i")
    regime("low-gap target" if inst.gap_rank is not None else "random target")


@given(inst=tfn_instances(low_gap=True))
def test_tfn_gap_lowgap_values(inst):
    """Moving every Q, K, V, O by rank k and W_o by rank k (FFN kept) gives G = (min(2k, D), …, min(2k, D), k)."""
    k, D = inst.gap_rank, inst.frozen.width
    gaps = tfn_gaps(inst.frozen, inst.target)
    expected = (min(2 * k, D),) * inst.frozen.depth + (k,)
    assert gaps == expected, f"{CLAIM}.lowgap: G = {gaps}, expected {expected}; reproduce: {inst.repro()}"
    regime(f"k = {k}")
