"""Unit tests of the exact rational Theorem 7 certificate (lora_theory.exact.tfn); the property-based use goes through
:func:`lora_theory.exact.tfn.certify_theorem7_example`."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from lora_theory.constructions.tfn import tfn_gaps
from lora_theory.errors import DepthError, DTypeError, RankError, ShapeError, SingularityError
from lora_theory.exact import tfn as exact_tfn
from lora_theory.exact.tfn import (
    ExactTFN,
    ExactTFNBlock,
    TFNIntegerInstance,
    build_integer_tfn_instance,
    certify_tfn,
    certify_theorem7_example,
    exact_tfn_gaps,
    model_to_torch,
    to_torch,
)

#: seeds tried per case; W_Q and W_V are plain integer matrices, so some seeds hit an exactly singular adapted chain
#: prefix (the hypothesis of Theorem 7 fails there and the certificate refuses with SingularityError)
SEEDS = range(12)


def _threshold(gaps) -> int:
    return max(math.ceil(g / 2) for g in gaps)


def _certifiable(D, L, H, k, count=1):
    """The first ``count`` (seed, instance, certificate) at the threshold that satisfy the hypothesis."""
    out = []
    for seed in SEEDS:
        try:
            cert = certify_theorem7_example(seed, D, L, H, k)
        except SingularityError as exc:
            assert "chain" in str(exc) and "exactly singular" in str(exc), str(exc)
            continue
        out.append((seed, build_integer_tfn_instance(D, L, H, k, seed), cert))
        if len(out) == count:
            return out
    raise AssertionError(f"no certifiable seed in {list(SEEDS)} for D={D} L={L} H={H} k={k}")


# (D, L, H, gap_rank): low-gap k ∈ {0, 1, 2} and random (None)
CASES = [(1, 1, 1, None), (1, 2, 2, 0), (1, 2, 1, 1),
         (2, 1, 2, None), (2, 2, 1, None), (2, 2, 2, 1), (2, 2, 1, 2),
         (3, 1, 1, None), (3, 2, 1, None), (3, 2, 2, 1), (3, 1, 2, 2),
         (4, 1, 2, None), (4, 2, 2, None), (4, 2, 1, 2), (4, 2, 2, 0), (4, 2, 1, 1)]


@pytest.mark.parametrize(("D", "L", "H", "k"), CASES, ids=[f"D{D}-L{L}-H{H}-k{k}" for D, L, H, k in CASES])
def test_equal_at_exact_threshold_and_gaps_match_float(D, L, H, k):
    seed, inst, cert = _certifiable(D, L, H, k)[0]
    repro = f"certify_theorem7_example({seed}, {D}, {L}, {H}, {k})"
    assert cert.equal, f"{cert.summary()}; {repro}"
    assert cert.rank == max(1, cert.threshold) == max(1, _threshold(cert.gaps)), repro
    assert len(cert.gaps) == L + 1 and all(0 <= g <= D for g in cert.gaps)
    assert cert.gaps == exact_tfn_gaps(*inst)
    assert cert.gaps_match_chains, repro  # chain discrepancy ranks == G_i (rank bookkeeping of the proof of Theorem 7)
    assert all(cert.chain_equal.values()) and len(cert.chains) == 2 * L * H + 1
    assert all(all(row) for row in cert.score_equal) and all(all(row) for row in cert.value_equal)
    assert cert.output_equal and cert.output_bias_equal and cert.support_ok and cert.ranks_within_budget
    assert len(cert.calibration_equal) == len(cert.carried_bias_equal) == L - 1
    # the allowed set only: W_1 everywhere and W_2 below the last block are untouched
    for l in range(L):
        assert cert.delta_ranks[f"blocks[{l}].W1"] == 0
        if l < L - 1:
            assert cert.delta_ranks[f"blocks[{l}].W2"] == 0
    assert set(cert.adapters) == ({f"blocks[{l}].{n}[{h}]" for l in range(L) for n in ("WQ", "WK", "WV", "WO")
                                   for h in range(H)} | {f"blocks[{L - 1}].W2", "Wo"})
    # the exact gaps are the float ranks of the same (integer) matrices
    assert tfn_gaps(*to_torch(inst)) == cert.gaps, repro
    if k is not None:  # low-gap target: G_i ≤ 2k for the blocks and ≤ k for the output layer
        assert all(g <= min(2 * k, D) for g in cert.gaps[:-1]) and cert.gaps[-1] <= k, (cert.gaps, repro)
        assert cert.threshold <= k
    else:
        assert cert.threshold <= math.ceil(D / 2)


NOT_EQUAL_CASES = [(3, 1, 1, None), (3, 2, 1, None), (4, 1, 2, 2), (4, 2, 2, None), (4, 2, 1, None), (3, 2, 2, None)]


@pytest.mark.parametrize(("D", "L", "H", "k"), NOT_EQUAL_CASES,
                         ids=[f"D{D}-L{L}-H{H}-k{k}" for D, L, H, k in NOT_EQUAL_CASES])
def test_not_equal_below_threshold(D, L, H, k):
    checked = 0
    for seed in SEEDS:
        inst = build_integer_tfn_instance(D, L, H, k, seed)
        th = _threshold(exact_tfn_gaps(*inst))
        if th < 2:
            continue
        try:
            cert = certify_tfn(inst.frozen, inst.target, th - 1)
        except SingularityError:
            continue
        repro = f"certify_tfn(*build_integer_tfn_instance({D}, {L}, {H}, {k}, {seed}), {th - 1})"
        assert not cert.equal, repro
        failing = [key for key, ok in cert.chain_equal.items() if not ok]
        assert failing, repro
        # every chain whose discrepancy rank exceeds 2R fails, and the matching identity fails with it
        for key, c in cert.chains.items():
            assert c.equal == (c.discrepancy_rank <= 2 * (th - 1)), (key, repro)
            if key == ("out",):
                assert cert.output_equal == c.equal
            else:
                l, kind, h = key
                assert (cert.score_equal if kind == "QK" else cert.value_equal)[l][h] == c.equal, (key, repro)
        assert cert.ranks_within_budget and cert.support_ok  # the adapters stay legal; they are just too small
        checked += 1
        if checked == 2:
            break
    assert checked, f"no seed with threshold >= 2 and a non-singular prefix for {(D, L, H, k)}"


def test_hand_computed_one_dimensional():
    # D = L = H = 1; only the output chain and the last bias move: (W_2, W_o) = (1, 1) → W̄_o W̄_2 = 3·1.
    # E = 2 goes to the first factor: ΔW_2 = 2 (B = W_o⁻¹·2, A = 1), so W̃_2 = 3, W̃_o = 1, b̂_2 = W̃_o⁻¹·3·1 = 3.
    one = [[1]]
    frozen = ExactTFN((ExactTFNBlock((one,), (one,), (one,), (one,), one, [0], one, [0]),), one)
    target = ExactTFN((ExactTFNBlock((one,), (one,), (one,), (one,), one, [5], one, [1]),), [[3]])
    cert = certify_tfn(frozen, target, 1)
    assert cert.equal, cert.summary()
    assert cert.gaps == (0, 1) and cert.threshold == 1
    assert cert.adapted.blocks[0].W2 == sp.Matrix([[3]]) and cert.adapted.Wo == sp.Matrix([[1]])
    assert cert.b1 == (sp.Matrix([5]),) and cert.b2 == (sp.Matrix([3]),)
    assert cert.delta_ranks["blocks[0].W2"] == 1 and cert.delta_ranks["Wo"] == 0


def test_rational_entries_and_calibration_values():
    # W̄_2 = 2 W_2 (block 1 of 2): C_2 = W̄_2 W_2⁻¹ = 2I and b̂_2 = W_2 W̄_2⁻¹ b̄_2 = b̄_2 / 2 (rational)
    I2 = sp.eye(2)
    hd = ((I2,), (I2,), (I2,), (I2,))
    frozen = ExactTFN((ExactTFNBlock(*hd, I2, [0, 0], I2, [0, 0]), ExactTFNBlock(*hd, I2, [0, 0], I2, [0, 0])), I2)
    target = ExactTFN((ExactTFNBlock(*hd, I2, [1, -1], 2 * I2, [1, 3]),
                       ExactTFNBlock(*hd, I2, [0, 2], I2, [1, 1])), I2)
    cert = certify_tfn(frozen, target, 2)
    assert cert.equal, cert.summary()
    assert cert.calibrations[1] == 2 * I2
    assert cert.b2[0] == sp.Matrix([sp.Rational(1, 2), sp.Rational(3, 2)])
    # block 2 must undo the scaling inside the scores (Cᵀ·I·C = 4I) and the values (I·C = 2I)
    assert cert.gaps == (0, 2, 0) and cert.calibration_equal == (True,) and cert.carried_bias_equal == (True,)


@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_adapted_network_matches_target_in_float(output):
    """The certified logits identity carries to both output layers (the integer models saturate the output softmax,
    so the frozen model is told apart at the logits)."""
    seed, inst, cert = _certifiable(3, 2, 2, None)[0]
    frozen, target = to_torch(inst, output)
    adapted = model_to_torch(cert.adapted, output)
    assert adapted.output == target.output == output
    X = 0.01 * torch.randn(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    ref = target(X)
    scale = float(ref.abs().max())
    assert float((adapted(X) - ref).abs().max()) <= 1e-6 * scale
    logits = target.logits(X)
    assert float((frozen.logits(X) - logits).abs().max()) > 1e-2 * float(logits.abs().max())


# ------------------------------------------------------------------------------------------------------- mutants


def test_mutant_adapter_on_w1_breaks_value_identity(monkeypatch):
    seed, inst, good = _certifiable(3, 2, 1, None)[0]
    assert good.equal

    def adapted_w1(block: int, W1):
        if block != 0:
            return W1
        u = sp.Matrix([1, 0, -1])
        v = sp.Matrix([0, 1, 1])
        return W1 + u * v.T  # a nonzero rank-1 adapter on W_1 of block 1

    monkeypatch.setattr(exact_tfn, "_adapt_w1", adapted_w1)
    cert = certify_tfn(inst.frozen, inst.target, good.rank)
    assert not cert.equal
    assert not all(cert.value_equal[0]), cert.summary()  # (ii) fails in block 1
    assert all(cert.score_equal[0]) and all(cert.chain_equal.values())  # the chains themselves are fine
    assert not cert.support_ok and cert.delta_ranks["blocks[0].W1"] == 1


def test_mutant_skipped_calibration_breaks_block_two(monkeypatch):
    seed, inst, good = _certifiable(3, 2, 2, None)[0]
    assert good.equal and inst.frozen.blocks[0].W2 != inst.target.blocks[0].W2
    monkeypatch.setattr(exact_tfn, "_calibration", lambda W2, W2bar: sp.eye(W2.rows))
    cert = certify_tfn(inst.frozen, inst.target, good.rank)
    assert not cert.equal
    assert not (all(cert.score_equal[1]) and all(cert.value_equal[1])), cert.summary()  # (i) or (ii) in block 2
    assert cert.calibration_equal == (False,)
    assert all(cert.score_equal[0]) and all(cert.value_equal[0])  # block 1 is unaffected


# ---------------------------------------------------------------------------------------------------- bad inputs


def _tiny(D=2, H=1, L=1, **over):
    I = sp.eye(D)
    parts = dict(WQ=(I,) * H, WK=(I,) * H, WV=(I,) * H, WO=(I,) * H, W1=I, b1=[0] * D, W2=I, b2=[0] * D)
    parts.update(over)
    return ExactTFN(tuple(ExactTFNBlock(**parts) for _ in range(L)), I)


def test_bad_inputs_raise_typed_errors():
    good = _tiny()
    with pytest.raises(DTypeError, match="floats are not exact"):
        _tiny(W1=[[1.5, 0], [0, 1]])
    with pytest.raises(DTypeError, match="boolean"):
        _tiny(b1=[True, 0])
    with pytest.raises(ShapeError):
        _tiny(W2=[[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ShapeError):
        _tiny(WQ=(sp.eye(3),))
    with pytest.raises(ShapeError):
        _tiny(b2=[1, 2, 3])
    with pytest.raises(ShapeError):
        _tiny(WK=(sp.eye(2), sp.eye(2)))  # 2 key matrices but 1 query matrix
    with pytest.raises(ShapeError):
        _tiny(WQ=())
    with pytest.raises(DepthError):
        ExactTFN((), sp.eye(2))
    with pytest.raises(DTypeError):
        ExactTFN(("not a block",), sp.eye(2))
    with pytest.raises(ShapeError):
        ExactTFN(_tiny().blocks, sp.eye(3))
    with pytest.raises(ShapeError):
        certify_tfn(good, _tiny(D=3), 1)
    with pytest.raises(ShapeError):
        certify_tfn(good, _tiny(H=2), 1)
    with pytest.raises(ShapeError):
        certify_tfn(good, _tiny(L=2), 1)
    with pytest.raises(DTypeError):
        certify_tfn(model_to_torch(good), good, 1)
    with pytest.raises(DTypeError):
        certify_tfn(good, "target", 1)
    for bad_rank in (0, 3, 1.0, True):
        with pytest.raises(RankError):
            certify_tfn(good, good, bad_rank)
    with pytest.raises(DTypeError):
        to_torch(good)
    with pytest.raises(DTypeError):
        model_to_torch(TFNIntegerInstance(good, good))
    with pytest.raises(ShapeError):
        build_integer_tfn_instance(0, 1, 1, None, 0)
    with pytest.raises(DepthError):
        build_integer_tfn_instance(2, 0, 1, None, 0)
    with pytest.raises(ShapeError):
        build_integer_tfn_instance(2, 1, 0, None, 0)
    with pytest.raises(RankError):
        build_integer_tfn_instance(2, 1, 1, 3, 0)
    with pytest.raises(DTypeError):
        build_integer_tfn_instance(2, 1, 1, None, 1.5)
    with pytest.raises(DTypeError):
        build_integer_tfn_instance(True, 1, 1, None, 0)


def test_singular_chain_prefix_names_block_head_and_chain():
    # W_Q = 0 in head 2: the score discrepancy W̄_Kᵀ W̄_Q − 0 = I has rank 2 > R = 1, so the Lemma 1 chain needs the
    # adapted prefix W_Q + ΔW_Q (rank ≤ 1) to be invertible — it is exactly singular.
    I, Z = sp.eye(2), sp.zeros(2)
    frozen = _tiny(H=2, WQ=(I, Z))
    target = _tiny(H=2)
    with pytest.raises(SingularityError, match=r"block 1, head 2, score chain .*prefix.*exactly singular") as info:
        certify_tfn(frozen, target, 1)
    assert info.value.ratio == 0.0
    assert certify_tfn(frozen, target, 2).equal  # 2R ≥ 2: the prefix is not needed


def test_singular_frozen_matrices_are_refused():
    I = sp.eye(2)
    singular = sp.Matrix([[1, 1], [1, 1]])
    with pytest.raises(SingularityError, match="block 1: frozen W_1"):
        certify_tfn(_tiny(W1=singular), _tiny(), 1)
    with pytest.raises(SingularityError, match="block 1: frozen W_2"):
        certify_tfn(_tiny(L=2, W2=singular), _tiny(L=2), 1)
    # a singular second factor W_Kᵀ with a non-zero score discrepancy: the chain's suffix is singular
    with pytest.raises(SingularityError, match=r"block 1, head 1, score chain .*suffix"):
        certify_tfn(_tiny(WK=(singular,)), _tiny(WQ=(2 * I,)), 1)


# ------------------------------------------------------------------------------------- single head (Theorem 8)


def test_single_head_certificate_equal_at_threshold_and_float_agrees():
    from lora_theory.exact.tfn import certify_tfn_single_head, single_head_integer_instance

    inst = single_head_integer_instance(4, 2, 2, 3)
    gaps = exact_tfn_gaps(*inst)
    assert gaps == (4, 4, 2)
    below = certify_tfn_single_head(inst.frozen, inst.target, 1)
    assert not below.equal and below.single_head
    cert = certify_tfn_single_head(inst.frozen, inst.target, 2)
    assert cert.equal and cert.gaps_match_chains and cert.single_head, cert.summary()
    assert set(cert.adapters) == {"blocks[0].WQ[0]", "blocks[0].WK[0]", "blocks[0].WV[0]", "blocks[0].W1",
                                  "blocks[1].WQ[0]", "blocks[1].WK[0]", "blocks[1].WV[0]", "blocks[1].W1",
                                  "blocks[1].W2", "Wo"}
    assert all(b.WO[0] == sp.eye(4) for b in cert.adapted.blocks)
    assert "Theorem 8" in cert.summary()
    for output in ("linear", "softmax"):
        frozen, target = to_torch(inst, output, single_head=True)
        adapted = model_to_torch(cert.adapted, output, single_head=True)
        X = 0.01 * torch.randn(2, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        ref = target(X)
        assert float((adapted(X) - ref).abs().max()) <= 1e-6 * float(ref.abs().max())


def test_single_head_certificate_refuses_multi_head_models():
    from lora_theory.exact.tfn import certify_tfn_single_head

    inst = build_integer_tfn_instance(3, 1, 2, None, 0)
    with pytest.raises(ShapeError, match=r"needs single-head models: H = 1 and W_O = I"):
        certify_tfn_single_head(inst.frozen, inst.target, 1)
    one = build_integer_tfn_instance(3, 1, 1, None, 0)  # H = 1 but W_O ≠ I
    with pytest.raises(ShapeError, match=r"W_O = I in every block"):
        certify_tfn_single_head(one.frozen, one.target, 1)


def test_single_head_certificate_catches_a_frozen_w1(monkeypatch):
    """With the value chain's W_1 adapter dropped (W_1 left frozen, Theorem 7's placement) identity (ii) fails."""
    from lora_theory.exact import tfn as exact_tfn

    inst = exact_tfn.single_head_integer_instance(3, 1, 1, 2)
    real = exact_tfn._delta
    calls = {"n": 0}

    def drop_w1(B, A, D):
        calls["n"] += 1
        return sp.zeros(D, D) if calls["n"] == 4 else real(B, A, D)  # the 4th delta of block 1 is ΔW_1

    gaps = exact_tfn.exact_tfn_gaps(*inst)
    assert gaps == (2, 1)  # the value chain needs both factors at R = 1
    assert exact_tfn.certify_tfn_single_head(inst.frozen, inst.target, 1).equal
    monkeypatch.setattr(exact_tfn, "_delta", drop_w1)
    cert = exact_tfn.certify_tfn_single_head(inst.frozen, inst.target, 1)
    assert not cert.equal and any("(ii) value identity" in f for f in cert.failed_checks())
