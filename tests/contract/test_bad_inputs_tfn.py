"""Bad-input contract of the TFN entry points (arXiv 2310.17513v3, Theorem 7 and App. F.2): ``TFN(...)`` (which
validates its ``TFNBlock``s), ``TFN.__call__``/``hidden_states``/``attention``, ``construct_tfn``, ``tfn_gaps`` and
``TFNConstruction.tolerance`` raise typed LoRATheoryError subclasses whose messages name the argument and the shapes.

Also the odd-D threshold of Theorem 7: for a random target every G_i = D, so max_i ⌈G_i/2⌉ = ⌈D/2⌉ (D = 5 → 3, not 2).
"""

from __future__ import annotations

import math

import pytest
import torch

from lora_theory.constructions.tfn import construct_tfn, construct_tfn_single_head, tfn_gaps
from lora_theory.errors import (
    DepthError,
    DomainError,
    DTypeError,
    LoRATheoryError,
    NonFiniteError,
    RankError,
    ShapeError,
    SingularityError,
)
from lora_theory.models import TFN, TFNBlock, single_head_block
from lora_theory.testing.instances import build_tfn_instance

F64 = torch.float64
F32 = torch.float32


def eye(D=3, dtype=F64, scale=1.0):
    return torch.eye(D, dtype=dtype) * scale


def with_entry(M, idx, value):
    M = M.clone()
    M[idx] = value
    return M


def block(D=3, H=1, dtype=F64, **overrides):
    """A valid block (identity heads, W_1 = 2I, W_2 = 3I, zero biases) with some fields replaced."""
    fields = dict(WQ=tuple(eye(D, dtype) for _ in range(H)), WK=tuple(eye(D, dtype) for _ in range(H)),
                  WV=tuple(eye(D, dtype) for _ in range(H)), WO=tuple(eye(D, dtype) for _ in range(H)),
                  W1=eye(D, dtype, 2.0), b1=torch.zeros(D, dtype=dtype), W2=eye(D, dtype, 3.0),
                  b2=torch.zeros(D, dtype=dtype))
    fields.update(overrides)
    return TFNBlock(**fields)


def tfn(D=3, L=1, H=1, dtype=F64):
    return TFN(tuple(block(D, H, dtype) for _ in range(L)), eye(D, dtype))


def X(D=3, N=2, dtype=F64):
    return torch.ones(D, N, dtype=dtype)


# ---------------------------------------------------------------------------------------------------------------
# TFN(...) and the blocks it validates
# ---------------------------------------------------------------------------------------------------------------

MODEL_CASES = [
    # heads
    pytest.param(lambda: TFN((block(WQ=(), WK=(), WV=(), WO=()),), eye()), ShapeError,
                 r"blocks\[0\] has H=0 heads: a TFN block needs at least one head", id="H0"),
    pytest.param(lambda: TFN((block(), block(H=0)), eye()), ShapeError, r"blocks\[1\] has H=0 heads", id="H0-block2"),
    pytest.param(lambda: TFN((block(WK=(eye(), eye())),), eye()), ShapeError,
                 r"blocks\[0\]\.WK has 2 heads but blocks\[0\]\.WQ has 1", id="heads-WK-vs-WQ"),
    pytest.param(lambda: TFN((block(H=2, WV=(eye(),)),), eye()), ShapeError,
                 r"blocks\[0\]\.WV has 1 heads but blocks\[0\]\.WQ has 2", id="heads-WV-vs-WQ"),
    pytest.param(lambda: TFN((block(H=2, WO=(eye(), eye(), eye())),), eye()), ShapeError,
                 r"blocks\[0\]\.WO has 3 heads but blocks\[0\]\.WQ has 2", id="heads-WO-vs-WQ"),
    pytest.param(lambda: TFN((block(H=1), block(H=2)), eye()), ShapeError,
                 r"blocks\[1\] has 2 heads but blocks\[0\] has 1", id="heads-differ-between-blocks"),
    # head matrices of the wrong shape
    pytest.param(lambda: TFN((block(H=2, WV=(eye(), torch.zeros(3, 4, dtype=F64))),), eye()), ShapeError,
                 r"blocks\[0\]\.WV\[1\] must be square \(D, D\); got shape \(3, 4\)", id="head-non-square"),
    pytest.param(lambda: TFN((block(WQ=(eye(4),)),), eye()), ShapeError,
                 r"blocks\[0\]\.WQ\[0\] has shape \(4, 4\) but Wo has shape \(3, 3\); every matrix must be D x D",
                 id="head-wrong-D"),
    pytest.param(lambda: TFN((block(), block(WK=(eye(2),))), eye()), ShapeError,
                 r"blocks\[1\]\.WK\[0\] has shape \(2, 2\) but Wo has shape \(3, 3\)", id="head-wrong-D-block2"),
    pytest.param(lambda: TFN((block(WO=(torch.ones(3, dtype=F64),)),), eye()), ShapeError,
                 r"blocks\[0\]\.WO\[0\] must be a 2-D matrix; got shape \(3,\)", id="head-1d"),
    pytest.param(lambda: TFN((block(WQ=([[1.0, 0.0, 0.0]] * 3,)),), eye()), DTypeError,
                 r"blocks\[0\]\.WQ\[0\] must be a torch\.Tensor; got list", id="head-not-tensor"),
    # FFN weights and biases
    pytest.param(lambda: TFN((block(W1=torch.zeros(3, 2, dtype=F64)),), eye()), ShapeError,
                 r"blocks\[0\]\.W1 must be square \(D, D\); got shape \(3, 2\)", id="W1-non-square"),
    pytest.param(lambda: TFN((block(W1=eye(4)),), eye()), ShapeError,
                 r"blocks\[0\]\.W1 has shape \(4, 4\); expected \(3, 3\)", id="W1-wrong-D"),
    pytest.param(lambda: TFN((block(), block(W2=torch.zeros(2, 3, dtype=F64))), eye()), ShapeError,
                 r"blocks\[1\]\.W2 must be square \(D, D\); got shape \(2, 3\)", id="W2-non-square"),
    pytest.param(lambda: TFN((block(W2=None),), eye()), DTypeError,
                 r"blocks\[0\]\.W2 must be a torch\.Tensor; got NoneType", id="W2-none"),
    pytest.param(lambda: TFN((block(b1=torch.zeros(2, dtype=F64)),), eye()), ShapeError,
                 r"blocks\[0\]\.b1 must have shape \(3,\); got \(2,\)", id="b1-wrong-length"),
    pytest.param(lambda: TFN((block(), block(b2=torch.zeros(4, dtype=F64))), eye()), ShapeError,
                 r"blocks\[1\]\.b2 must have shape \(3,\); got \(4,\)", id="b2-wrong-length"),
    pytest.param(lambda: TFN((block(b1=torch.zeros(3, 1, dtype=F64)),), eye()), ShapeError,
                 r"blocks\[0\]\.b1 must have shape \(3,\); got \(3, 1\)", id="b1-column"),
    pytest.param(lambda: TFN((block(b2=[0.0, 0.0, 0.0]),), eye()), ShapeError,
                 r"blocks\[0\]\.b2 must have shape \(3,\); got list", id="b2-list"),
    # output layer
    pytest.param(lambda: TFN((block(),), torch.zeros(3, 2, dtype=F64)), ShapeError,
                 r"Wo must be square \(D, D\); got shape \(3, 2\)", id="Wo-non-square"),
    pytest.param(lambda: TFN((block(),), eye(4)), ShapeError,
                 r"blocks\[0\]\.WQ\[0\] has shape \(3, 3\) but Wo has shape \(4, 4\)", id="Wo-wrong-D"),
    pytest.param(lambda: TFN((block(),), None), DTypeError, r"Wo must be a torch\.Tensor; got NoneType", id="Wo-none"),
    # NaN / inf
    pytest.param(lambda: TFN((block(WQ=(with_entry(eye(), (1, 2), math.nan),)),), eye()), NonFiniteError,
                 r"blocks\[0\]\.WQ\[0\] contains NaN or inf \(first at index \(1, 2\); shape \(3, 3\)\)", id="nan-WQ"),
    pytest.param(lambda: TFN((block(H=2, WK=(eye(), with_entry(eye(), (0, 0), math.nan))),), eye()),
                 NonFiniteError, r"blocks\[0\]\.WK\[1\] contains NaN or inf \(first at index \(0, 0\)",
                 id="nan-WK-head2"),
    pytest.param(lambda: TFN((block(), block(W2=with_entry(eye(), (2, 1), math.inf))), eye()), NonFiniteError,
                 r"blocks\[1\]\.W2 contains NaN or inf \(first at index \(2, 1\); shape \(3, 3\)\)", id="inf-W2"),
    pytest.param(lambda: TFN((block(W1=with_entry(eye(), (0, 2), -math.inf)),), eye()), NonFiniteError,
                 r"blocks\[0\]\.W1 contains NaN or inf \(first at index \(0, 2\)", id="neg-inf-W1"),
    pytest.param(lambda: TFN((block(b1=torch.tensor([0.0, math.nan, 0.0], dtype=F64)),), eye()), NonFiniteError,
                 r"blocks\[0\]\.b1 contains NaN or inf", id="nan-b1"),
    pytest.param(lambda: TFN((block(b2=torch.tensor([0.0, 0.0, math.inf], dtype=F64)),), eye()), NonFiniteError,
                 r"blocks\[0\]\.b2 contains NaN or inf", id="inf-b2"),
    pytest.param(lambda: TFN((block(),), with_entry(eye(), (1, 1), math.nan)), NonFiniteError,
                 r"Wo contains NaN or inf \(first at index \(1, 1\); shape \(3, 3\)\)", id="nan-Wo"),
    # dtypes
    pytest.param(lambda: TFN((block(WK=(eye(dtype=F32),)),), eye()), DTypeError,
                 r"blocks\[0\]\.WK\[0\] has dtype torch\.float32 but Wo has torch\.float64; mixed dtypes",
                 id="f32-head-in-f64-model"),
    pytest.param(lambda: TFN((block(), block(b2=torch.zeros(3, dtype=F32))), eye()), DTypeError,
                 r"blocks\[1\]\.b2 has dtype torch\.float32 but Wo has torch\.float64", id="f32-bias-in-f64-model"),
    pytest.param(lambda: TFN((block(),), eye(dtype=F32)), DTypeError,
                 r"blocks\[0\]\.WQ\[0\] has dtype torch\.float64 but Wo has torch\.float32", id="f32-Wo-f64-blocks"),
    pytest.param(lambda: TFN((block(W1=torch.eye(3, dtype=torch.int64)),), eye()), DTypeError,
                 r"blocks\[0\]\.W1 must be float64 \(or float32\); got torch\.int64 with shape \(3, 3\)", id="int-W1"),
    pytest.param(lambda: tfn(dtype=torch.float16), DTypeError, r"Wo must be float64 \(or float32\); got torch\.float16",
                 id="f16-model"),
    # blocks
    pytest.param(lambda: TFN((), eye()), DepthError, r"a TFN needs at least one block \(depth L >= 1\)",
                 id="empty-blocks-tuple"),
    pytest.param(lambda: TFN([], eye()), DepthError, r"at least one block \(depth L >= 1\)", id="empty-blocks-list"),
    pytest.param(lambda: TFN((block(), "block"), eye()), ShapeError, r"blocks\[1\] must be a TFNBlock; got str",
                 id="block-not-TFNBlock"),
    # output layer kind and the single-head form (App. F.1, p. 33; App. F.2, p. 37)
    pytest.param(lambda: TFN((block(),), eye(), "relu"), DomainError,
                 r"output must be one of \('softmax', 'linear'\) .*got 'relu'", id="output-unknown"),
    pytest.param(lambda: TFN((block(),), eye(), None), DomainError, r"output must be one of .*got None",
                 id="output-none"),
    pytest.param(lambda: TFN((block(),), eye(), "Softmax"), DomainError, r"output must be one of .*got 'Softmax'",
                 id="output-case"),
    pytest.param(lambda: TFN((block(),), eye(), single_head=1), DTypeError, r"single_head must be a bool; got int",
                 id="single-head-int"),
    pytest.param(lambda: TFN((block(H=2),), eye(), single_head=True), ShapeError,
                 r"single_head=True needs H = 1 head per block; blocks\[0\] has 2", id="single-head-H2"),
    pytest.param(lambda: TFN((block(WO=(eye(scale=2.0),)),), eye(), single_head=True), DomainError,
                 r"blocks\[0\]\.WO\[0\] must be exactly the identity", id="single-head-WO-not-I"),
]


@pytest.mark.parametrize("fn, exc, pattern", MODEL_CASES)
def test_tfn_model_bad_input(fn, exc, pattern):
    assert issubclass(exc, LoRATheoryError)
    with pytest.raises(exc, match=pattern):
        fn()


# ---------------------------------------------------------------------------------------------------------------
# TFN.__call__ (and the other methods that take an input X)
# ---------------------------------------------------------------------------------------------------------------

CALL_CASES = [
    pytest.param(lambda: tfn()(torch.ones(3, 0, dtype=F64)), ShapeError,
                 r"input X has sequence length N=0 \(shape \(3, 0\)\); a sequence needs N >= 1", id="N0"),
    pytest.param(lambda: tfn(L=2, H=2)(torch.ones(5, 3, 0, dtype=F64)), ShapeError,
                 r"sequence length N=0 \(shape \(5, 3, 0\)\)", id="N0-batched"),
    pytest.param(lambda: tfn()(X(D=4)), ShapeError, r"input X must have shape \(\.\.\., D, N\) with D=3; got \(4, 2\)",
                 id="wrong-D"),
    pytest.param(lambda: tfn()(torch.ones(2, 3, dtype=F64)), ShapeError, r"with D=3; got \(2, 3\)",
                 id="transposed-X"),
    pytest.param(lambda: tfn()(torch.ones(7, 2, 2, dtype=F64)), ShapeError, r"with D=3; got \(7, 2, 2\)",
                 id="wrong-D-batched"),
    pytest.param(lambda: tfn()(torch.ones(3, dtype=F64)), ShapeError, r"with D=3; got \(3,\)", id="X-1d"),
    pytest.param(lambda: tfn()(torch.tensor(1.0, dtype=F64)), ShapeError, r"with D=3; got \(\)", id="X-0d"),
    pytest.param(lambda: tfn()([[1.0, 2.0]] * 3), DTypeError,
                 r"input X must be a torch\.Tensor of shape \(\.\.\., D, N\); got list", id="X-list"),
    pytest.param(lambda: tfn()(None), DTypeError, r"input X must be a torch\.Tensor .*got NoneType", id="X-none"),
    pytest.param(lambda: tfn()(X(dtype=F32)), DTypeError,
                 r"X has dtype torch\.float32 but Wo has torch\.float64; mixed dtypes", id="X-f32-model-f64"),
    pytest.param(lambda: tfn(dtype=F32)(X()), DTypeError, r"X has dtype torch\.float64 but Wo has torch\.float32",
                 id="X-f64-model-f32"),
    pytest.param(lambda: tfn()(torch.ones(3, 2, dtype=torch.int64)), DTypeError, r"X has dtype torch\.int64",
                 id="X-int"),
    pytest.param(lambda: tfn().hidden_states(X(D=2)), ShapeError, r"with D=3; got \(2, 2\)", id="hidden-wrong-D"),
    pytest.param(lambda: tfn().hidden_states(torch.ones(3, 0, dtype=F64)), ShapeError, r"sequence length N=0",
                 id="hidden-N0"),
]


@pytest.mark.parametrize("fn, exc, pattern", CALL_CASES)
def test_tfn_call_bad_input(fn, exc, pattern):
    assert issubclass(exc, LoRATheoryError)
    with pytest.raises(exc, match=pattern):
        fn()


# ---------------------------------------------------------------------------------------------------------------
# construct_tfn and tfn_gaps
# ---------------------------------------------------------------------------------------------------------------

PAIR_CASES = [
    pytest.param(lambda: (tfn(L=1), tfn(L=2)), ShapeError,
                 r"target depth L=2 differs from frozen depth L=1: Theorem 7 needs a same-size target", id="depth"),
    pytest.param(lambda: (tfn(L=3), tfn(L=2)), ShapeError, r"target depth L=2 differs from frozen depth L=3",
                 id="depth-shallower"),
    pytest.param(lambda: (tfn(D=3), tfn(D=4)), ShapeError, r"target width D=4 differs from frozen width D=3",
                 id="width"),
    pytest.param(lambda: (tfn(H=1), tfn(H=2)), ShapeError, r"target heads H=2 differs from frozen heads H=1",
                 id="heads"),
    pytest.param(lambda: (tfn(), tfn(dtype=F32)), DTypeError,
                 r"target\.Wo has dtype torch\.float32 but frozen\.Wo has torch\.float64", id="dtype"),
    pytest.param(lambda: (tfn(), "target"), ShapeError, r"frozen and target must be TFN models; got TFN and str",
                 id="target-not-TFN"),
    pytest.param(lambda: (block(), tfn()), ShapeError, r"must be TFN models; got TFNBlock and TFN",
                 id="frozen-is-a-block"),
]


def sh_tfn(D=3, L=1, dtype=F64, output="softmax", **overrides):
    """A valid single-head TFN (identity attention, W_1 = 2I, W_2 = 3I) with some block fields replaced."""
    fields = dict(WQ=eye(D, dtype), WK=eye(D, dtype), WV=eye(D, dtype), W1=eye(D, dtype, 2.0),
                  b1=torch.zeros(D, dtype=dtype), W2=eye(D, dtype, 3.0), b2=torch.zeros(D, dtype=dtype))
    fields.update(overrides)
    return TFN(tuple(single_head_block(**fields) for _ in range(L)), eye(D, dtype), output, True)


PAIR_CASES += [
    pytest.param(lambda: (tfn(), TFN(tfn().blocks, eye(), "linear")), DomainError,
                 r"target output='linear' differs from frozen output='softmax'", id="output-kind"),
    pytest.param(lambda: (sh_tfn(), tfn()), DomainError, r"target single_head=False differs from frozen "
                 r"single_head=True", id="single-vs-multi"),
]


@pytest.mark.parametrize("pair, exc, pattern", PAIR_CASES)
@pytest.mark.parametrize("entry", ["construct_tfn", "tfn_gaps"])
def test_tfn_pair_mismatch(entry, pair, exc, pattern):
    frozen, target = pair()
    fn = (lambda: construct_tfn(frozen, target, 1)) if entry == "construct_tfn" else (lambda: tfn_gaps(frozen, target))
    with pytest.raises(exc, match=pattern):
        fn()


RANK_CASES = [
    pytest.param(0, r"rank must be in 1\.\.3 \(D=3\); got 0", id="rank0"),
    pytest.param(-1, r"rank must be in 1\.\.3 \(D=3\); got -1", id="rank-negative"),
    pytest.param(4, r"rank must be in 1\.\.3 \(D=3\); got 4", id="rank-above-D"),
    pytest.param(2.0, r"rank must be an integer in 1\.\.3 \(D=3\); got 2\.0 of type float", id="rank-float"),
    pytest.param(1.5, r"rank must be an integer .*got 1\.5 of type float", id="rank-fraction"),
    pytest.param("2", r"rank must be an integer .*got '2' of type str", id="rank-str"),
    pytest.param(True, r"rank must be an integer .*got True of type bool", id="rank-bool"),
    pytest.param(None, r"rank must be an integer .*got None of type NoneType", id="rank-none"),
    pytest.param([1], r"rank must be an integer .*got \[1\] of type list", id="rank-list"),
]


@pytest.mark.parametrize("rank, pattern", RANK_CASES)
def test_construct_tfn_bad_rank(rank, pattern):
    with pytest.raises(RankError, match=pattern):
        construct_tfn(tfn(L=2), tfn(L=2), rank)


SINGULAR_CASES = [
    pytest.param(lambda: (TFN((block(W1=torch.zeros(3, 3, dtype=F64)),), eye()), tfn()),
                 r"block 1: W_1 .*numerically singular", id="W1"),
    pytest.param(lambda: (TFN((block(W2=torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=F64))), block()), eye()),
                          tfn(L=2)), r"block 1: frozen W_2 .*numerically singular", id="W2-frozen"),
    pytest.param(lambda: (tfn(L=2), TFN((block(W2=torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=F64))), block()),
                                        eye())), r"block 1: target W̄_2 .*numerically singular", id="W2-target"),
    pytest.param(lambda: (TFN((block(WK=(torch.zeros(3, 3, dtype=F64),)),), eye()), tfn()),
                 r"block 1, head 1, score chain \(W_Q, W_Kᵀ\)", id="WK"),
    pytest.param(lambda: (TFN((block(WO=(torch.zeros(3, 3, dtype=F64),)),), eye()), tfn()),
                 r"block 1, head 1, value/output chain \(W_V, W_O\)", id="WO"),
    pytest.param(lambda: (TFN((block(),), torch.zeros(3, 3, dtype=F64)), tfn()),
                 r"output chain \(W_2 of the last block, W_o\)", id="Wo"),
]


@pytest.mark.parametrize("pair, pattern", SINGULAR_CASES)
def test_construct_tfn_singular_matrix_is_named(pair, pattern):
    frozen, target = pair()
    with pytest.raises(SingularityError, match=pattern):
        construct_tfn(frozen, target, 1)


TOLERANCE_CASES = [
    pytest.param(lambda: X(D=4), ShapeError, r"with D=3; got \(4, 2\)", id="wrong-D"),
    pytest.param(lambda: torch.ones(3, 0, dtype=F64), ShapeError, r"sequence length N=0", id="N0"),
    pytest.param(lambda: [1.0, 2.0], DTypeError, r"input X must be a torch\.Tensor .*got list", id="list"),
    pytest.param(lambda: X(dtype=F32), DTypeError, r"X has dtype torch\.float32 but Wo has torch\.float64", id="f32"),
]


@pytest.mark.parametrize("make_x, exc, pattern", TOLERANCE_CASES)
def test_construction_tolerance_bad_input(make_x, exc, pattern):
    c = construct_tfn(tfn(), tfn(), 1)
    with pytest.raises(exc, match=pattern):
        c.tolerance(make_x())


def test_construction_tolerance_bad_output_kind():
    c = construct_tfn(tfn(), tfn(), 1)
    with pytest.raises(DomainError, match=r"output must be one of \('softmax', 'linear'\); got 'logits'"):
        c.tolerance(X(), "logits")


# ---------------------------------------------------------------------------------------------------------------
# construct_tfn_single_head (Theorem 8, arXiv 2310.17513v3, App. F.1, p. 34)
# ---------------------------------------------------------------------------------------------------------------

def test_single_head_and_multi_head_constructions_refuse_each_other():
    with pytest.raises(DomainError, match=r"frozen is a single-head TFN .*use construct_tfn_single_head"):
        construct_tfn(sh_tfn(), sh_tfn(), 1)
    with pytest.raises(DomainError, match=r"frozen must be a single-head TFN .*use construct_tfn \(Theorem 7\)"):
        construct_tfn_single_head(tfn(), tfn(), 1)


@pytest.mark.parametrize("pair, exc, pattern", [
    pytest.param(lambda: (sh_tfn(L=1), sh_tfn(L=2)), ShapeError, r"target depth L=2 differs from frozen depth L=1",
                 id="depth"),
    pytest.param(lambda: (sh_tfn(D=3), sh_tfn(D=4)), ShapeError, r"target width D=4 differs from frozen width D=3",
                 id="width"),
    pytest.param(lambda: (sh_tfn(), sh_tfn(output="linear")), DomainError, r"target output='linear' differs",
                 id="output"),
    pytest.param(lambda: (sh_tfn(), "target"), ShapeError, r"must be TFN models; got TFN and str", id="not-TFN"),
])
def test_construct_tfn_single_head_pair_mismatch(pair, exc, pattern):
    frozen, target = pair()
    with pytest.raises(exc, match=pattern):
        construct_tfn_single_head(frozen, target, 1)


@pytest.mark.parametrize("rank, pattern", RANK_CASES)
def test_construct_tfn_single_head_bad_rank(rank, pattern):
    with pytest.raises(RankError, match=pattern):
        construct_tfn_single_head(sh_tfn(L=2), sh_tfn(L=2), rank)


@pytest.mark.parametrize("pair, pattern", [
    pytest.param(lambda: (sh_tfn(W1=torch.zeros(3, 3, dtype=F64)), sh_tfn()), r"block 1, value chain \(W_V, W_1\)",
                 id="W1"),
    pytest.param(lambda: (sh_tfn(WV=torch.zeros(3, 3, dtype=F64)), sh_tfn()), r"block 1, value chain \(W_V, W_1\)",
                 id="WV"),
    pytest.param(lambda: (sh_tfn(WK=torch.zeros(3, 3, dtype=F64)), sh_tfn()),
                 r"block 1, score chain \(W_Q, W_Kᵀ\)", id="WK"),
    pytest.param(lambda: (sh_tfn(L=2, W2=torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=F64))), sh_tfn(L=2)),
                 r"block 1: frozen W_2 .*numerically singular", id="W2-frozen"),
    pytest.param(lambda: (sh_tfn(L=2), sh_tfn(L=2, W2=torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=F64)))),
                 r"block 1: target W̄_2 .*numerically singular", id="W2-target"),
])
def test_construct_tfn_single_head_singular_matrix_is_named(pair, pattern):
    """Assumption 3 (App. F.1, p. 33): a matrix the construction solves with that is numerically singular is named."""
    frozen, target = pair()
    with pytest.raises(SingularityError, match=pattern):
        construct_tfn_single_head(frozen, target, 1)


# ---------------------------------------------------------------------------------------------------------------
# Odd D: the threshold is ⌈D/2⌉, not ⌊D/2⌋ (Corollary 10, arXiv 2310.17513v3, p. 39)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("D", [3, 5, 7])
@pytest.mark.parametrize("L, H", [(1, 1), (2, 2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_odd_width_threshold_is_the_ceiling(D, L, H, seed):
    inst = build_tfn_instance(D, L, H, None, seed=seed)  # independent random target: G_i = D almost surely
    gaps = tfn_gaps(inst.frozen, inst.target)
    assert len(gaps) == L + 1
    assert all(0 <= g <= D for g in gaps), gaps  # theorem7_gap.le_D
    assert gaps == (D,) * (L + 1), gaps
    threshold = max(math.ceil(g / 2) for g in gaps)
    assert threshold == math.ceil(D / 2) == D // 2 + 1  # e.g. D = 5 → 3, not 2

    below = construct_tfn(inst.frozen, inst.target, D // 2)
    at = construct_tfn(inst.frozen, inst.target, math.ceil(D / 2))
    assert below.chain_gaps() == gaps and at.chain_gaps() == gaps  # theorem7_gap.matches_construction
    assert not below.is_exact_in_theory()
    assert at.is_exact_in_theory()

    # and the functions agree with that: exact at ⌈D/2⌉, visibly not at ⌊D/2⌋
    Xs = torch.randn(3, D, 4, generator=torch.Generator().manual_seed(seed), dtype=F64)
    err_at = float(torch.linalg.vector_norm(at.adapted()(Xs) - inst.target(Xs), dim=-2).max())
    tol = at.tolerance(Xs)
    assert err_at <= tol.value, (err_at, str(tol))
    err_below = float(torch.linalg.vector_norm(below.adapted()(Xs) - inst.target(Xs), dim=-2).max())
    assert err_below > 1e3 * tol.value, (err_below, str(tol))  # far above what the exact construction reaches


def test_width_one_threshold_is_one():
    """D = 1: ⌈1/2⌉ = 1 (⌊1/2⌋ = 0 is not a valid rank)."""
    inst = build_tfn_instance(1, 2, 2, None, seed=0)
    gaps = tfn_gaps(inst.frozen, inst.target)
    assert all(g <= 1 for g in gaps)
    assert construct_tfn(inst.frozen, inst.target, 1).is_exact_in_theory()
    with pytest.raises(RankError, match=r"rank must be in 1\.\.1 \(D=1\); got 0"):
        construct_tfn(inst.frozen, inst.target, 0)


# ---------------------------------------------------------------------------------------------------------------
# Contract regressions: violations found while writing this file, since fixed in the library
# ---------------------------------------------------------------------------------------------------------------

HEAD_CONTAINER_CASES = [
    pytest.param(lambda: TFN((block(WQ=None),), eye()), r"blocks\[0\]\.WQ must be a sequence .*got NoneType",
                 id="WQ-none"),
    pytest.param(lambda: TFN((block(WK=None),), eye()), r"blocks\[0\]\.WK must be a sequence .*got NoneType",
                 id="WK-none"),
    pytest.param(lambda: TFN((block(), block(WV=3)), eye()), r"blocks\[1\]\.WV must be a sequence .*got int",
                 id="WV-int"),
]


@pytest.mark.parametrize("fn, pattern", HEAD_CONTAINER_CASES)
def test_head_container_that_is_not_a_sequence_is_a_typed_error(fn, pattern):
    """A head field that is not a sequence of matrices (None, an int) once escaped as a bare TypeError from
    ``len()`` in ``TFN.__post_init__``; the contract asks for a LoRATheoryError naming the field."""
    with pytest.raises(ShapeError, match=pattern):
        fn()


@pytest.mark.parametrize("blocks, got", [(lambda: block(), "TFNBlock"), (lambda: None, "NoneType"),
                                         (lambda: (b for b in [block()]), "generator")],
                         ids=["bare-TFNBlock", "None", "generator"])
def test_blocks_that_are_not_a_sequence_are_named(blocks, got):
    """``TFN(block, Wo)`` (a TFNBlock not wrapped in a tuple) was refused with DepthError "needs at least one block",
    which misreported what was passed; the message now says that ``blocks`` must be a sequence and what it got."""
    with pytest.raises(ShapeError, match=rf"blocks must be a sequence .*got {got}"):
        TFN(blocks(), eye())


ATTENTION_CASES = [
    pytest.param(lambda: tfn(L=2).attention(2, X()), DepthError,
                 r"block index l \(L=2\) must be an integer in 0\.\.1; got 2", id="block-index-out-of-range"),
    pytest.param(lambda: tfn(L=2).attention(-1, X()), DepthError, r"block index l .*got -1", id="block-index-negative"),
    pytest.param(lambda: tfn().attention(0.0, X()), DepthError, r"block index l .*got 0\.0", id="block-index-float"),
    pytest.param(lambda: tfn().attention(0, X(D=4)), ShapeError, r"with D=3; got \(4, 2\)", id="Z-wrong-D"),
    pytest.param(lambda: tfn().attention(0, torch.ones(3, 0, dtype=F64)), ShapeError, r"sequence length N=0",
                 id="Z-N0"),
]


@pytest.mark.parametrize("fn, exc, pattern", ATTENTION_CASES)
def test_attention_bad_input_is_a_typed_error(fn, exc, pattern):
    """``TFN.attention(l, Z)`` is public and validates ``l`` and ``Z`` (an out-of-range block once raised
    IndexError and a wrong-width Z torch's RuntimeError)."""
    with pytest.raises(exc, match=pattern):
        fn()
