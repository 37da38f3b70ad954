"""Claim ``theorem7_gap`` — arXiv 2310.17513v3, Theorem 7, p. 8 (the rank-based functionality gap G_i, eq. (23), p. 38).

G_i — the ranks of the score and value/output discrepancies seen through W_1 and the previous block's W_2, and of
the output layer's for G_{L+1} — equals the ranks of the discrepancies the construction actually factorises, and
G_i ≤ D."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from lora_theory.constructions.tfn import construct_tfn, tfn_gaps
from lora_theory.errors import SingularityError
from lora_theory.testing.assertions import Example, assert_at_most, assert_equal, refusal_allowed, regime
from lora_theory.testing.instances import build_offgen_tfn_instance, build_tfn_instance
from lora_theory.testing.strategies import offgen_tfn_instances, tfn_instances

pytestmark = pytest.mark.theorem7_gap
CLAIM = "theorem7_gap"


@given(inst=tfn_instances())
@example(inst=build_tfn_instance(6, 2, 2, 1, seed=0)).via("low gap k = 1: G = (2, 2, 1)")
def test_theorem7_gap_matches_construction(inst):
    """The formula's G_i equal the construction's chain discrepancy ranks (max over heads and chains)."""
    gaps = tfn_gaps(inst.frozen, inst.target)
    ex = Example(CLAIM, inst.repro(), {"G": gaps})
    try:
        c = construct_tfn(inst.frozen, inst.target, inst.frozen.width)
    except SingularityError:
        regime("non-singularity fails numerically (hypothesis not met)")
        return
    assert_equal(ex, c.chain_gaps(), expected=gaps, name="matches_construction",
                 what="ranks of the discrepancies the construction factorises vs the formula's G_i")
    for g in gaps:
        assert_at_most(ex, g, bound=inst.frozen.width, name="le_D", what="G_i")
    regime("low-gap target" if inst.gap_rank is not None else "random target")
    regime(f"output layer: {inst.frozen.output} (the gaps do not depend on it)")


@given(inst=tfn_instances(low_gap=True))
def test_theorem7_gap_lowgap_values(inst):
    """Moving every Q, K, V, O by rank k and W_o by rank k (FFN kept) gives G = (min(2k, D), …, min(2k, D), k)."""
    k, D = inst.gap_rank, inst.frozen.width
    gaps = tfn_gaps(inst.frozen, inst.target)
    expected = (min(2 * k, D),) * inst.frozen.depth + (k,)
    assert_equal(Example(CLAIM, inst.repro()), gaps, expected=expected, name="lowgap",
                 what=f"G for rank-{k} moves of Q, K, V, O and W_o")
    regime(f"k = {k}")


#: how far below a chain's rounding floor a singular value may lie and still be counted by the formula's own floor
RESOLUTION = 1e3


def _only_near_the_floor(c, gaps, seen) -> bool:
    """Every disagreement is directions that the construction's chains leave at their rounding floor — the formula
    counts g > k of them where a chain counts k — and each of the g − k lies within RESOLUTION of that chain's floor
    (so a different but equally valid rounding bound could count it)."""
    for i, (g, k) in enumerate(zip(gaps, seen)):
        if g == k:
            continue
        if g < k or g > c.frozen.width:
            return False
        keys = [("out",)] if i == len(gaps) - 1 else [(i, kind, h) for kind in ("QK", "OV")
                                                      for h in range(c.frozen.heads)]
        near = [all(float(c.chains[key].discrepancy_singular_values[j]) * RESOLUTION >= c.chains[key].rank_floor
                    for j in range(k, g))
                for key in keys if c.chains[key].discrepancy_rank == k]
        if not any(near):
            return False
    return True


@given(inst=offgen_tfn_instances())
@example(inst=build_offgen_tfn_instance("zero_discrepancy", 4, 2, 1, seed=0)).via("every chain discrepancy 0: G = 0")
@example(inst=build_offgen_tfn_instance("tiny_change", 3, 2, 1, relative_change=1e-12, seed=6711025)).via(
    "two directions of block 2 within 1e1 of the chains' floor: G_2 = 3 by the formula, 1 by the chains")
def test_theorem7_gap_offgen(inst):
    """Off the conditioned generators (Gaussian, Xavier, tiny changes, zero discrepancy) the formula's G_i equal the
    construction's chain ranks whenever it answers (a typed refusal naming the matrix is the other outcome)."""
    kind = inst.args.split(",", 1)[0].strip("'")
    gaps = tfn_gaps(inst.frozen, inst.target)
    ex = Example(CLAIM, inst.repro(), {"G": gaps}, population=kind)
    with refusal_allowed(ex, name="offgen", what=f"construct_tfn at R = D on a {kind} pair") as outcome:
        c = construct_tfn(inst.frozen, inst.target, inst.frozen.width)
    if outcome.refused:
        return
    seen = c.chain_gaps()
    if seen != gaps and _only_near_the_floor(c, gaps, seen):
        # The formula sees the discrepancy through W̄_2/W_2 products, the chains through the calibration
        # C = W̄_2W_2⁻¹: a σ within RESOLUTION below one computation's rounding floor may sit above the other's, and
        # float64 cannot decide that rank. The construction stays honest there: such a direction is dropped as
        # rounding and counted in its chain's tolerance (checked by the claims' invariant properties).
        regime("a direction at the rounding floor: rank undecidable in float64")
        return
    assert_equal(ex, seen, expected=gaps, name="offgen_matches_construction",
                 what="ranks of the discrepancies the construction factorises vs the formula's G_i")
    if kind == "zero_discrepancy":
        assert_equal(ex, gaps, expected=(0,) * (inst.frozen.depth + 1), name="offgen_zero", what="G for E = 0")
    regime(f"population {kind}")
