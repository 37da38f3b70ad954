"""Unit tests of :mod:`lora_theory.analysis.tfn` (claims ``assumption4`` and, at the end, ``assumption3``):
hand-computed σ values on 2×2 diagonal instances (one block; two blocks with a calibration W̄_2W_2⁻¹ ≠ I), the
flags of what the construction solves with, refusals naming the argument or the singular matrix, and reports that
never count a non-finite value as passing."""

from __future__ import annotations

import math

import pytest
import torch

from lora_theory.analysis.tfn import ASSUMPTION3_FAMILIES, FAMILIES, WEIGHT, assumption3_report, assumption4_report
from lora_theory.errors import DomainError, DTypeError, RankError, ShapeError, SingularityError
from lora_theory.models import TFN, TFNBlock, single_head_block
from lora_theory.testing.instances import build_tfn_instance

DT = torch.float64
REL = 1e-14  # the hand values below are exact on diagonal matrices; LAPACK's σ are within a few ulps


def d(*v: float, dtype=DT) -> torch.Tensor:
    return torch.diag(torch.tensor(v, dtype=dtype))


def _block(WQ, WK, WV, WO, W1, W2) -> TFNBlock:
    zero = torch.zeros(W1.shape[0], dtype=W1.dtype)
    return TFNBlock((WQ,), (WK,), (WV,), (WO,), W1, zero, W2, zero)


I2 = d(1, 1)

#: one block, D = 2, H = 1 (the σ values of every listed matrix are worked out by hand in the test below)
FROZEN_1 = TFN((_block(d(2, 1), I2, d(1, 3), I2, d(1, 4), d(1, 2)),), I2)
TARGET_1 = TFN((_block(d(5, 1.5), I2, d(1, -1), I2, d(2, 4), I2),), d(3, 1))


def test_hand_computed_one_block():
    """D = 2, L = 1, H = 1, R = 2, diagonal weights:

    * score: W_KᵀW_Q = diag(2, 1), target diag(5, 1.5), E = diag(3, 0.5): r = 1 gives diag(5, 1) (σ 1/5), r = 2
      the target diag(5, 1.5) (σ 0.3);
    * value: W_1⁻¹W̄_1W̄_OW̄_V = diag(1, 1/4)·diag(2, 4)·diag(1, −1) = diag(2, −1), W_OW_V = diag(1, 3), E = diag(1, −4):
      r = 1 gives diag(1, −1) (σ 1/1), r = 2 diag(2, −1) (σ 1/2);
    * output: W̄_oW̄_2 = diag(3, 1), W_oW_2 = diag(1, 2), E = diag(2, −1): r = 1 gives diag(3, 2) (σ 2/3), r = 2
      diag(3, 1) (σ 1/3)."""
    rep = assumption4_report(FROZEN_1, TARGET_1, 2)
    assert len(rep) == 2 * (1 * (4 + 2) + 1) + 2 * (2 + 1) == 20
    weights = {"frozen W_Q (block 1, head 1)": (1, 2), "frozen W_K (block 1, head 1)": (1, 1),
               "frozen W_V (block 1, head 1)": (1, 3), "frozen W_O (block 1, head 1)": (1, 1),
               "frozen W_1 (block 1)": (1, 4), "frozen W_2 (block 1)": (1, 2), "frozen W_o": (1, 1),
               "target W_Q (block 1, head 1)": (1.5, 5), "target W_V (block 1, head 1)": (1, 1),
               "target W_1 (block 1)": (2, 4), "target W_2 (block 1)": (1, 1), "target W_o": (1, 3)}
    for name, (smin, smax) in weights.items():
        e = rep.entry(name)
        assert (e.sigma_min, e.sigma_max) == (pytest.approx(smin, rel=REL), pytest.approx(smax, rel=REL)), name
        assert e.ratio == pytest.approx(smin / smax, rel=REL) and e.passed and e.family == WEIGHT
    families = {("score (l = 1)", 1): (1, 5), ("score (l = 1)", 2): (1.5, 5), ("value (l = 1)", 1): (1, 1),
                ("value (l = 1)", 2): (1, 2), ("output", 1): (2, 3), ("output", 2): (1, 3)}
    for (family, r), (smin, smax) in families.items():
        [e] = [e for e in rep if e.family == family and e.r == r]
        assert (e.sigma_min, e.sigma_max) == (pytest.approx(smin, rel=REL), pytest.approx(smax, rel=REL)), e.name
        assert e.passed and e.model is None
    assert rep.holds and rep.rank == 2 and not rep.failing()
    assert rep.worst().ratio == pytest.approx(0.2, rel=REL)
    assert rep.verdict().startswith("Assumption 4 holds for R=2: all 20 listed matrices")
    assert rep.entry("block 1, head 1, score (l = 1), r = 1: W_KᵀW_Q + LR_1(W̄_KᵀW̄_Q − W_KᵀW_Q)").ratio == (
        pytest.approx(0.2, rel=REL))
    with pytest.raises(KeyError):
        rep.entry("no such matrix")


def test_hand_computed_calibration_of_block_two():
    """Block 2 seen through C = W̄_{2,1}W_{2,1}⁻¹ = I·diag(1, 1/2): score CᵀW̄_KᵀW̄_QC = diag(1, 1/2)·4I·diag(1, 1/2) =
    diag(4, 1) against W_KᵀW_Q = I (E = diag(3, 0): σ 1/4 for r = 1, 2); value W_1⁻¹W̄_1W̄_OW̄_VC = 2I·diag(1, 1/2) =
    diag(2, 1) against I (σ 1/2); output diag(3, 1) against I (σ 1/3)."""
    frozen = TFN((_block(d(2, 1), I2, d(1, 3), I2, d(1, 4), d(1, 2)), _block(I2, I2, I2, I2, I2, I2)), I2)
    target = TFN((_block(d(5, 1.5), I2, d(1, -1), I2, d(2, 4), I2), _block(d(4, 4), I2, d(2, 2), I2, I2, I2)),
                 d(3, 1))
    rep = assumption4_report(frozen, target, 2)
    assert len(rep) == 2 * (2 * 6 + 1) + 2 * (2 * 2 + 1) == 36
    expected = {("score (l > 1)", 1): 0.25, ("score (l > 1)", 2): 0.25, ("value (l > 1)", 1): 0.5,
                ("value (l > 1)", 2): 0.5, ("output", 1): 1 / 3, ("output", 2): 1 / 3}
    for (family, r), ratio in expected.items():
        [e] = [e for e in rep if e.family == family and e.r == r]
        assert e.block == (None if family == "output" else 2) and e.ratio == pytest.approx(ratio, rel=REL), e.name
    assert "W_{2,1}⁻ᵀW̄_{2,1}ᵀ" in next(e.name for e in rep if e.family == "score (l > 1)")
    # what the construction solves with: frozen W_1, frozen/target W_2 of block 1, frozen W_K, W_O, W_o, r = R
    solves = {e.name for e in rep if e.construction_solves and e.family == WEIGHT}
    assert solves == {"frozen W_K (block 1, head 1)", "frozen W_O (block 1, head 1)", "frozen W_1 (block 1)",
                      "frozen W_2 (block 1)", "frozen W_K (block 2, head 1)", "frozen W_O (block 2, head 1)",
                      "frozen W_1 (block 2)", "frozen W_o", "target W_2 (block 1)"}
    assert {e.r for e in rep if e.construction_solves and e.family != WEIGHT} == {2}
    assert [f for f in FAMILIES if any(e.family == f for e in rep)] == list(FAMILIES)


def test_float32_is_analysed_exactly_in_float64():
    f32 = TFN((_block(d(2, 1, dtype=torch.float32), d(1, 1, dtype=torch.float32), d(1, 3, dtype=torch.float32),
                      d(1, 1, dtype=torch.float32), d(1, 4, dtype=torch.float32), d(1, 2, dtype=torch.float32)),),
              d(1, 1, dtype=torch.float32))
    t32 = TFN((_block(d(5, 1.5, dtype=torch.float32), d(1, 1, dtype=torch.float32), d(1, -1, dtype=torch.float32),
                      d(1, 1, dtype=torch.float32), d(2, 4, dtype=torch.float32), d(1, 1, dtype=torch.float32)),),
              d(3, 1, dtype=torch.float32))
    a, b = assumption4_report(f32, t32, 2), assumption4_report(FROZEN_1, TARGET_1, 2)
    assert [(e.name, e.ratio) for e in a] == [(e.name, e.ratio) for e in b]


# --- bad inputs: typed errors naming the argument -----------------------------------------------------------------

def test_rejects_non_tfn_and_mismatched_pairs():
    with pytest.raises(ShapeError, match=r"frozen and target must be TFN"):
        assumption4_report(FROZEN_1, "target", 1)
    wide = build_tfn_instance(3, 1, 1, seed=0).frozen
    with pytest.raises(ShapeError, match=r"width D"):
        assumption4_report(FROZEN_1, wide, 1)
    two_heads = build_tfn_instance(2, 1, 2, seed=0).frozen
    with pytest.raises(ShapeError, match=r"heads H"):
        assumption4_report(FROZEN_1, two_heads, 1)
    f32 = TFN((_block(*(d(1, 1, dtype=torch.float32) for _ in range(6))),), d(1, 1, dtype=torch.float32))
    with pytest.raises(DTypeError, match=r"dtype"):
        assumption4_report(f32, TARGET_1, 1)


@pytest.mark.parametrize("rank", [0, 3, -1, 1.5, True, "1", None])
def test_rejects_bad_rank(rank):
    with pytest.raises(RankError, match=r"^rank must"):
        assumption4_report(FROZEN_1, TARGET_1, rank)


@pytest.mark.parametrize("threshold", [0.0, -1e-13, math.nan, math.inf, "1e-13", True])
def test_rejects_bad_threshold(threshold):
    with pytest.raises(DomainError, match=r"^threshold must"):
        assumption4_report(FROZEN_1, TARGET_1, 1, threshold=threshold)


def test_rejects_single_head_models():
    sh = TFN(FROZEN_1.blocks, I2, single_head=True)
    st = TFN(TARGET_1.blocks, d(3, 1), single_head=True)
    with pytest.raises(DomainError, match=r"single-head"):
        assumption4_report(sh, st, 1)


# --- singular matrices ----------------------------------------------------------------------------------------------

def test_singular_frozen_w1_is_refused_by_name():
    frozen = TFN((_block(d(2, 1), I2, d(1, 3), I2, d(1, 0), d(1, 2)),), I2)
    with pytest.raises(SingularityError, match=r"^frozen W_1 \(block 1\) is numerically singular") as info:
        assumption4_report(frozen, TARGET_1, 1)
    assert info.value.where == "frozen W_1 (block 1)" and info.value.ratio == 0.0


def test_singular_frozen_w2_before_the_last_block_is_refused_but_the_last_one_is_reported():
    good = _block(I2, I2, I2, I2, I2, I2)
    target = TFN((good, good), I2)
    with pytest.raises(SingularityError, match=r"frozen W_2 \(block 1\)") as info:
        assumption4_report(TFN((_block(I2, I2, I2, I2, I2, d(1, 0)), good), I2), target, 1)
    assert info.value.where == "frozen W_2 (block 1)"
    rep = assumption4_report(TFN((good, _block(I2, I2, I2, I2, I2, d(1, 0))), I2), target, 1)
    assert [e.name for e in rep.failing()] == ["frozen W_2 (block 2)"]
    assert not rep.entry("frozen W_2 (block 2)").construction_solves
    assert rep.verdict().startswith("Assumption 4 fails for R=1: 1 of ")


def test_zero_target_weight_fails_with_ratio_zero():
    target = TFN(TARGET_1.blocks, d(0, 0))
    rep = assumption4_report(FROZEN_1, target, 2)
    e = rep.entry("target W_o")
    assert e.ratio == 0.0 and e.sigma_max == 0.0 and not e.passed
    # E = 0 − diag(1, 2): r = 1 gives diag(1, 2) + diag(0, −2) = diag(1, 0), r = 2 = D the target product 0 itself
    assert {x.name.split(":")[0] for x in rep.failing()} == {"target W_o", "output, r = 1", "output, r = 2"}
    assert [x.sigma_max for x in rep.failing()[1:]] == [pytest.approx(1.0, rel=REL), 0.0]


def test_overflow_gives_nan_entries_that_fail():
    """Finite weights whose products overflow (1e200 · 1e200): the entries are NaN and fail, never pass."""
    big = TFN((_block(1e200 * d(2, 1), 1e200 * I2, d(1, 3), I2, d(1, 4), d(1, 2)),), I2)
    target = TFN((_block(d(5, 1.5), I2, d(1, -1), I2, d(2, 4), I2),), d(3, 1))
    rep = assumption4_report(big, target, 1)
    nan = [e for e in rep if math.isnan(e.ratio)]
    assert nan and all(not e.passed for e in nan)
    assert all(e.family == "score (l = 1)" for e in nan)
    assert not rep.holds and math.isnan(rep.worst().ratio)
    assert all(e.passed == (math.isfinite(e.ratio) and e.ratio >= rep.threshold) for e in rep)


def test_threshold_decides():
    rep = assumption4_report(FROZEN_1, TARGET_1, 2, threshold=0.25)
    assert sorted(e.ratio for e in rep.failing()) == pytest.approx([0.2])
    assert "score (l = 1), r = 1" in rep.failing()[0].name


# --- Assumption 3: the single-head checker (claim assumption3) ------------------------------------------------------


def _sh_block(WQ, WK, WV, W1, W2) -> TFNBlock:
    zero = torch.zeros(W1.shape[0], dtype=W1.dtype)
    return single_head_block(WQ, WK, WV, W1, zero, W2, zero)


#: one single-head block, D = 2 (the same numbers as FROZEN_1/TARGET_1 without W_O)
SH_FROZEN_1 = TFN((_sh_block(d(2, 1), I2, d(1, 3), d(1, 4), d(1, 2)),), I2, single_head=True)
SH_TARGET_1 = TFN((_sh_block(d(5, 1.5), I2, d(1, -1), d(2, 4), I2),), d(3, 1), single_head=True)


def test_assumption3_hand_computed_one_block():
    """D = 2, L = 1, diagonal weights; the list runs over r ∈ [D] = {1, 2} whatever R:

    * score: W_KᵀW_Q = diag(2, 1), target diag(5, 1.5): r = 1 gives diag(5, 1) (σ 1/5), r = 2 diag(5, 1.5) (0.3);
    * value: W_1W_V = diag(1, 12), W̄_1W̄_V = diag(2, −4), E = diag(1, −16): r = 1 gives diag(1, −4) (σ 1/4), r = 2
      diag(2, −4) (σ 1/2) — no W_1⁻¹ and no W_O, unlike Assumption 4;
    * output: as in Assumption 4, r = 1 diag(3, 2) (2/3), r = 2 diag(3, 1) (1/3)."""
    for R in (1, 2):
        rep = assumption3_report(SH_FROZEN_1, SH_TARGET_1, R)
        assert len(rep) == 2 * (5 * 1 + 1) + 2 * (2 * 1 + 1) == 18
        assert all(e.head is None for e in rep)
        weights = {"frozen W_Q (block 1)": (1, 2), "frozen W_K (block 1)": (1, 1), "frozen W_V (block 1)": (1, 3),
                   "frozen W_1 (block 1)": (1, 4), "frozen W_2 (block 1)": (1, 2), "frozen W_o": (1, 1),
                   "target W_Q (block 1)": (1.5, 5), "target W_V (block 1)": (1, 1), "target W_1 (block 1)": (2, 4),
                   "target W_2 (block 1)": (1, 1), "target W_o": (1, 3)}
        for name, (smin, smax) in weights.items():
            e = rep.entry(name)
            assert (e.sigma_min, e.sigma_max) == (pytest.approx(smin, rel=REL), pytest.approx(smax, rel=REL)), name
            assert e.passed and e.family == WEIGHT
        assert not any("W_O" in e.name for e in rep)
        families = {("score (l = 1)", 1): (1, 5), ("score (l = 1)", 2): (1.5, 5), ("value (l = 1)", 1): (1, 4),
                    ("value (l = 1)", 2): (2, 4), ("output", 1): (2, 3), ("output", 2): (1, 3)}
        for (family, r), (smin, smax) in families.items():
            [e] = [e for e in rep if e.family == family and e.r == r]
            assert (e.sigma_min, e.sigma_max) == (pytest.approx(smin, rel=REL), pytest.approx(smax, rel=REL)), e.name
            assert e.passed and e.model is None and e.construction_solves == (r == R)
        assert rep.holds and rep.rank == R and rep.worst().ratio == pytest.approx(0.2, rel=REL)
        assert rep.verdict().startswith(f"Assumption 3 holds (r ∈ [D]; R={R}): all 18 listed matrices")
    assert rep.entry("block 1, value (l = 1), r = 1: W_1W_V + LR_1(W̄_1W̄_V − W_1W_V)").ratio == (
        pytest.approx(0.25, rel=REL))


def test_assumption3_hand_computed_calibration_of_block_two():
    """Block 2 seen through C = W̄_{2,1}W_{2,1}⁻¹ = diag(1, 1/2): score CᵀW̄_KᵀW̄_QC = diag(4, 1) against I (σ 1/4
    for r = 1, 2); value W̄_1W̄_VC = diag(2, 1) against I (σ 1/2); output diag(3, 1) against I (σ 1/3)."""
    frozen = TFN((_sh_block(d(2, 1), I2, d(1, 3), d(1, 4), d(1, 2)), _sh_block(I2, I2, I2, I2, I2)), I2,
                 single_head=True)
    target = TFN((_sh_block(d(5, 1.5), I2, d(1, -1), d(2, 4), I2), _sh_block(d(4, 4), I2, d(2, 2), I2, I2)),
                 d(3, 1), single_head=True)
    rep = assumption3_report(frozen, target, 1)
    assert len(rep) == 2 * (5 * 2 + 1) + 2 * (2 * 2 + 1) == 32
    expected = {("score (l > 1)", 1): 0.25, ("score (l > 1)", 2): 0.25, ("value (l > 1)", 1): 0.5,
                ("value (l > 1)", 2): 0.5, ("output", 1): 1 / 3, ("output", 2): 1 / 3}
    for (family, r), ratio in expected.items():
        [e] = [e for e in rep if e.family == family and e.r == r]
        assert e.block == (None if family == "output" else 2) and e.ratio == pytest.approx(ratio, rel=REL), e.name
    assert "W_{2,1}⁻ᵀW̄_{2,1}ᵀ" in next(e.name for e in rep if e.family == "score (l > 1)")
    assert "W̄_1W̄_VW̄_{2,1}W_{2,1}⁻¹" in next(e.name for e in rep if e.family == "value (l > 1)")
    solves = {e.name for e in rep if e.construction_solves and e.family == WEIGHT}
    assert solves == {"frozen W_K (block 1)", "frozen W_1 (block 1)", "frozen W_2 (block 1)", "frozen W_K (block 2)",
                      "frozen W_1 (block 2)", "frozen W_o", "target W_2 (block 1)"}
    assert {e.r for e in rep if e.construction_solves and e.family != WEIGHT} == {1}
    assert [f for f in ASSUMPTION3_FAMILIES if any(e.family == f for e in rep)] == list(ASSUMPTION3_FAMILIES)


def test_assumption3_score_for_later_blocks_is_the_meant_transpose():
    """Erratum: the l > 1 score entries print W_KlW_Ql; the checker lists W_KlᵀW_Ql. With the target equal to the
    frozen model (E = 0, C = I) every entry is the frozen product itself: W_Kᵀ W_Q = [[2, 0], [2, 1]] (σ² the roots
    of x² − 9x + 4), not W_K W_Q = [[2, 1], [0, 1]] (x² − 6x + 4)."""
    WK = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=DT)
    blocks = (_sh_block(I2, I2, I2, I2, d(1, 2)), _sh_block(d(2, 1), WK, I2, I2, I2))
    net = TFN(blocks, I2, single_head=True)
    rep = assumption3_report(net, net, 2)
    meant = math.sqrt((9 - math.sqrt(65)) / (9 + math.sqrt(65)))
    printed = math.sqrt((6 - math.sqrt(20)) / (6 + math.sqrt(20)))
    for r in (1, 2):
        [e] = [e for e in rep if e.family == "score (l > 1)" and e.r == r]
        assert e.ratio == pytest.approx(meant, rel=1e-13) and e.ratio != pytest.approx(printed, rel=1e-3)


def test_assumption3_rejects_multi_head_and_bad_arguments():
    with pytest.raises(DomainError, match=r"multi-head.*Assumption 4"):
        assumption3_report(FROZEN_1, TARGET_1, 1)
    with pytest.raises(ShapeError, match=r"frozen and target must be TFN"):
        assumption3_report(SH_FROZEN_1, "target", 1)
    with pytest.raises(DomainError, match=r"single_head"):
        assumption3_report(SH_FROZEN_1, TFN(TARGET_1.blocks, d(3, 1)), 1)
    for rank in (0, 3, 1.5, True):
        with pytest.raises(RankError, match=r"^rank must"):
            assumption3_report(SH_FROZEN_1, SH_TARGET_1, rank)
    with pytest.raises(DomainError, match=r"^threshold must"):
        assumption3_report(SH_FROZEN_1, SH_TARGET_1, 1, threshold=math.nan)


def test_assumption3_singular_frozen_w2_is_refused_but_a_singular_w1_is_listed():
    good = _sh_block(I2, I2, I2, I2, I2)
    target = TFN((good, good), I2, single_head=True)
    with pytest.raises(SingularityError, match=r"^frozen W_2 \(block 1\) is numerically singular.*Assumption 3 fails"):
        assumption3_report(TFN((_sh_block(I2, I2, I2, I2, d(1, 0)), good), I2, single_head=True), target, 1)
    # the single-head list never inverts W_1: a singular frozen W_1 is a failing entry (the value entries at r = 1, 2
    # are diag(1, 0) + LR_r(I − diag(1, 0)) = I, fine), not a refusal
    rep = assumption3_report(TFN((_sh_block(I2, I2, I2, d(1, 0), I2), good), I2, single_head=True), target, 2)
    assert [e.name for e in rep.failing()] == ["frozen W_1 (block 1)"]
    assert rep.entry("frozen W_1 (block 1)").construction_solves
    assert rep.verdict().startswith("Assumption 3 fails (r ∈ [D]; R=2): 1 of ")


def test_assumption3_overflow_gives_nan_entries_that_fail():
    big = TFN((_sh_block(d(2, 1), I2, d(1, 3), d(1, 4), 1e200 * d(1, 2)),), 1e200 * I2, single_head=True)
    rep = assumption3_report(big, SH_TARGET_1, 1)
    nan = [e for e in rep if math.isnan(e.ratio)]
    assert nan and all(not e.passed for e in nan) and all(e.family == "output" for e in nan)
    assert not rep.holds and math.isnan(rep.worst().ratio)
    assert all(e.passed == (math.isfinite(e.ratio) and e.ratio >= rep.threshold) for e in rep)


def test_assumption3_float32_is_analysed_exactly_in_float64():
    def f32(net):
        return TFN(tuple(_sh_block(*(t.to(torch.float32) for t in (b.WQ[0], b.WK[0], b.WV[0], b.W1, b.W2)))
                         for b in net.blocks), net.Wo.to(torch.float32), single_head=True)

    a, b = assumption3_report(f32(SH_FROZEN_1), f32(SH_TARGET_1), 2), assumption3_report(SH_FROZEN_1, SH_TARGET_1, 2)
    assert [(e.name, e.ratio) for e in a] == [(e.name, e.ratio) for e in b]
