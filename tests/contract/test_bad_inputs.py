"""The bad-input contract: every bad input raises a :class:`~lora_theory.errors.LoRATheoryError` subclass (never
another exception type) whose message names the offending argument and the shapes/values involved.

Each case is ``(callable, expected error class, regex)``; the regex always checks that the argument's name
(``weights[1]``, ``target``, ``rank``, ``B``, …) and the offending shape/value appear in the message.

The last section, "contract regressions", holds inputs beyond the core list that once violated the contract
(an untyped exception, or bad input accepted silently) and were fixed in the library.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from lora_theory import errors
from lora_theory.adapters import LoRAPair
from lora_theory.claims import Claim, all_claims, get_claim, register
from lora_theory.constructions.linear import construct_linear
from lora_theory.errors import (
    AssumptionViolated,
    DepthError,
    DomainError,
    DTypeError,
    LoRATheoryError,
    NonFiniteError,
    RankError,
    ShapeError,
    SingularityError,
    UnknownClaimError,
)
from lora_theory.exact.linear import certify_linear
from lora_theory.models import LinearChain
from lora_theory.validation import as_matrix, as_square_stack, check_layer_ranks, check_rank, check_same_dtype

F64 = torch.float64


def eye(n: int) -> torch.Tensor:
    return torch.eye(n, dtype=F64)


def ones(*shape: int) -> torch.Tensor:
    return torch.ones(*shape, dtype=F64)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def with_entry(M: torch.Tensor, index: tuple[int, int], value: float) -> torch.Tensor:
    out = M.clone()
    out[index] = value
    return out


def W3() -> list[torch.Tensor]:
    """A valid depth-2, width-3 frozen chain (well conditioned)."""
    return [2 * eye(3), eye(3) + 0.1 * randn(3, 3, seed=1)]


def T3() -> torch.Tensor:
    """A valid width-3 target."""
    return randn(3, 3, seed=2)


def pair32() -> LoRAPair:
    """A valid float64 adapter B: (3, 2), A: (2, 3)."""
    return LoRAPair(ones(3, 2), ones(2, 3))


def expect(fn, exc: type[LoRATheoryError], pattern: str) -> LoRATheoryError:
    assert issubclass(exc, LoRATheoryError)
    with pytest.raises(exc, match=pattern) as info:
        fn()
    err = info.value
    assert isinstance(err, LoRATheoryError), f"{type(err).__name__} is not a LoRATheoryError: {err}"
    return err


# ---------------------------------------------------------------------------------------------------------------
# The hierarchy
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_class_is_a_lora_theory_error(name):
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, Exception)
    assert issubclass(cls, LoRATheoryError)


def test_builtin_bases():
    assert issubclass(ShapeError, ValueError)
    assert issubclass(DTypeError, TypeError)
    assert issubclass(NonFiniteError, ValueError)
    assert issubclass(RankError, ValueError)
    assert issubclass(DepthError, ValueError)
    assert issubclass(DomainError, ValueError)
    assert issubclass(UnknownClaimError, KeyError)
    assert issubclass(AssumptionViolated, ValueError)
    assert issubclass(SingularityError, AssumptionViolated)
    assert issubclass(SingularityError, LoRATheoryError)


def test_unknown_claim_error_message_is_not_quoted():
    assert str(UnknownClaimError("unknown claim id 'x'")) == "unknown claim id 'x'"


# ---------------------------------------------------------------------------------------------------------------
# Controls: valid inputs are accepted (so the error cases below are not vacuous)
# ---------------------------------------------------------------------------------------------------------------

def test_valid_inputs_are_accepted():
    c = construct_linear(W3(), T3(), 1)
    assert c.ranks == (1, 1)
    assert construct_linear(W3(), T3(), [0, 3]).ranks == (0, 3)
    assert construct_linear(torch.stack(W3()), T3(), 2).ranks == (2, 2)  # (L, D, D) stack
    assert construct_linear(W3(), T3(), np.int64(2)).ranks == (2, 2)  # numbers.Integral
    chain = LinearChain(W3())
    assert (chain.depth, chain.width, chain.dtype) == (2, 3, F64)
    p = pair32()
    assert p.rank == 2 and p.shape == (3, 3)
    assert p.merge(eye(3)).shape == (3, 3)
    assert p.pad_to(2).rank == 2 and p.pad_to(3).rank == 3
    cert = certify_linear([[[1, 0], [0, 1]]], [[2, 0], [0, 1]], 1)
    assert cert.equal
    assert as_matrix(ones(2, 3), "M", square=False).shape == (2, 3)
    assert check_rank(3, "rank", width=3) == 3
    assert check_layer_ranks([0, 3], depth=2, width=3) == (0, 3)


# ---------------------------------------------------------------------------------------------------------------
# construct_linear(weights, target, rank)
# ---------------------------------------------------------------------------------------------------------------

CONSTRUCT_CASES = [
    # shapes
    pytest.param(lambda: construct_linear([eye(3), ones(3, 2)], eye(3), 1), ShapeError,
                 r"weights\[1\] must be square.*\(3, 2\)", id="non-square-weight"),
    pytest.param(lambda: construct_linear([ones(2, 3)], eye(3), 1), ShapeError,
                 r"weights\[0\] must be square.*\(2, 3\)", id="non-square-first-weight"),
    pytest.param(lambda: construct_linear([eye(3), eye(4)], eye(3), 1), ShapeError,
                 r"weights\[1\] has shape \(4, 4\) but weights\[0\] has shape \(3, 3\)", id="mismatched-widths"),
    pytest.param(lambda: construct_linear([eye(3), eye(3), eye(2)], eye(3), 1), ShapeError,
                 r"weights\[2\] has shape \(2, 2\) but weights\[0\] has shape \(3, 3\)", id="mismatched-width-deep"),
    pytest.param(lambda: construct_linear(W3(), eye(4), 1), ShapeError,
                 r"target has shape \(4, 4\).*D=3", id="target-other-width"),
    pytest.param(lambda: construct_linear(W3(), ones(3, 2), 1), ShapeError,
                 r"target must be square.*\(3, 2\)", id="target-non-square"),
    pytest.param(lambda: construct_linear(W3(), ones(3), 1), ShapeError,
                 r"target must be a 2-D matrix; got shape \(3,\)", id="target-1d"),
    pytest.param(lambda: construct_linear(W3(), ones(2, 3, 3), 1), ShapeError,
                 r"target must be a 2-D matrix; got shape \(2, 3, 3\)", id="target-3d"),
    pytest.param(lambda: construct_linear([eye(3), ones(3)], eye(3), 1), ShapeError,
                 r"weights\[1\] must be a 2-D matrix; got shape \(3,\)", id="weight-1d"),
    pytest.param(lambda: construct_linear([eye(3), ones(1, 3, 3)], eye(3), 1), ShapeError,
                 r"weights\[1\] must be a 2-D matrix; got shape \(1, 3, 3\)", id="weight-3d"),
    pytest.param(lambda: construct_linear(ones(3), eye(3), 1), ShapeError,
                 r"weights must be a sequence.*\(L, D, D\).*shape \(3,\)", id="weights-1d-tensor"),
    pytest.param(lambda: construct_linear(ones(1, 2, 3, 3), eye(3), 1), ShapeError,
                 r"weights must be a sequence.*shape \(1, 2, 3, 3\)", id="weights-4d-tensor"),
    pytest.param(lambda: construct_linear([torch.zeros(0, 0, dtype=F64)], eye(3), 1), ShapeError,
                 r"weights\[0\] must not be empty.*\(0, 0\)", id="weight-0x0"),
    # depth
    pytest.param(lambda: construct_linear([], eye(3), 1), DepthError, r"weights is empty.*L >= 1", id="empty-chain"),
    pytest.param(lambda: construct_linear(torch.zeros(0, 3, 3, dtype=F64), eye(3), 1), DepthError,
                 r"weights is empty", id="empty-stack"),
    # uniform rank
    pytest.param(lambda: construct_linear(W3(), T3(), 0), RankError, r"rank must be in 1\.\.3 \(D=3\); got 0",
                 id="rank-0"),
    pytest.param(lambda: construct_linear(W3(), T3(), -1), RankError, r"rank must be in 1\.\.3 \(D=3\); got -1",
                 id="rank-negative"),
    pytest.param(lambda: construct_linear(W3(), T3(), 4), RankError, r"rank must be in 1\.\.3 \(D=3\); got 4",
                 id="rank-above-D"),
    pytest.param(lambda: construct_linear(W3(), T3(), 2.5), RankError, r"rank must be an int.*got 2\.5",
                 id="rank-float"),
    pytest.param(lambda: construct_linear(W3(), T3(), 2.0), RankError, r"rank must be an int.*got 2\.0",
                 id="rank-integral-float"),
    pytest.param(lambda: construct_linear(W3(), T3(), "3"), RankError, r"rank must be an int.*got '3'",
                 id="rank-str"),
    pytest.param(lambda: construct_linear(W3(), T3(), True), RankError, r"rank must be an int.*got True",
                 id="rank-bool"),
    pytest.param(lambda: construct_linear(W3(), T3(), None), RankError, r"rank must be an int.*got None",
                 id="rank-none"),
    # per-layer ranks
    pytest.param(lambda: construct_linear(W3(), T3(), [1, 1, 1]), RankError,
                 r"per-layer ranks.*\(L=2\); got 3: \[1, 1, 1\]", id="ranks-too-long"),
    pytest.param(lambda: construct_linear(W3(), T3(), [1]), RankError,
                 r"per-layer ranks.*\(L=2\); got 1: \[1\]", id="ranks-too-short"),
    pytest.param(lambda: construct_linear(W3(), T3(), [1, -1]), RankError,
                 r"rank\[1\] must be in 0\.\.3 \(D=3\); got -1", id="ranks-negative"),
    pytest.param(lambda: construct_linear(W3(), T3(), [4, 1]), RankError,
                 r"rank\[0\] must be in 0\.\.3 \(D=3\); got 4", id="ranks-above-D"),
    pytest.param(lambda: construct_linear(W3(), T3(), [1, 1.5]), RankError,
                 r"rank\[1\] must be an integer.*1\.5 of type float", id="ranks-float-entry"),
    pytest.param(lambda: construct_linear(W3(), T3(), [True, 1]), RankError,
                 r"rank\[0\] must be an integer.*True of type bool", id="ranks-bool-entry"),
    # non-finite
    pytest.param(lambda: construct_linear([eye(3), with_entry(eye(3), (1, 2), math.nan)], eye(3), 1),
                 NonFiniteError, r"weights\[1\] contains NaN or inf \(first at index \(1, 2\); shape \(3, 3\)\)",
                 id="weight-nan"),
    pytest.param(lambda: construct_linear([with_entry(eye(3), (0, 1), math.inf)], eye(3), 1),
                 NonFiniteError, r"weights\[0\] contains NaN or inf \(first at index \(0, 1\)", id="weight-inf"),
    pytest.param(lambda: construct_linear(W3(), with_entry(T3(), (2, 0), -math.inf), 1),
                 NonFiniteError, r"target contains NaN or inf \(first at index \(2, 0\)", id="target-neg-inf"),
    pytest.param(lambda: construct_linear(W3(), with_entry(T3(), (1, 1), math.nan), 1),
                 NonFiniteError, r"target contains NaN or inf \(first at index \(1, 1\)", id="target-nan"),
    # dtypes
    pytest.param(lambda: construct_linear([torch.eye(3, dtype=torch.int64)], eye(3), 1), DTypeError,
                 r"weights\[0\] must be float64 \(or float32\); got.*torch\.int64.*\(3, 3\)", id="weight-int"),
    pytest.param(lambda: construct_linear(W3(), torch.eye(3, dtype=torch.int32), 1), DTypeError,
                 r"target must be float64 \(or float32\); got.*torch\.int32.*\(3, 3\)", id="target-int"),
    pytest.param(lambda: construct_linear([torch.eye(3, dtype=torch.bool)], eye(3), 1), DTypeError,
                 r"weights\[0\] must be float64 \(or float32\); got.*torch\.bool", id="weight-bool"),
    pytest.param(lambda: construct_linear([torch.eye(3, dtype=torch.complex128)], eye(3), 1), DTypeError,
                 r"weights\[0\] must be float64 \(or float32\); got.*torch\.complex128", id="weight-complex"),
    pytest.param(lambda: construct_linear([eye(3), torch.eye(3, dtype=torch.float32)], eye(3), 1), DTypeError,
                 r"weights\[1\] has dtype torch\.float32 but weights\[0\] has torch\.float64", id="mixed-weights"),
    pytest.param(lambda: construct_linear(W3(), T3().to(torch.float32), 1), DTypeError,
                 r"target has dtype torch\.float32 but weights\[0\] has torch\.float64", id="mixed-target"),
    # not tensors
    pytest.param(lambda: construct_linear([[[1.0, 0.0], [0.0, 1.0]]], eye(2), 1), DTypeError,
                 r"weights\[0\] must be a torch\.Tensor; got list", id="weight-list"),
    pytest.param(lambda: construct_linear([np.eye(3)], eye(3), 1), DTypeError,
                 r"weights\[0\] must be a torch\.Tensor; got ndarray", id="weight-ndarray"),
    pytest.param(lambda: construct_linear(W3(), np.eye(3), 1), DTypeError,
                 r"target must be a torch\.Tensor; got ndarray", id="target-ndarray"),
    pytest.param(lambda: construct_linear(W3(), 1.0, 1), DTypeError,
                 r"target must be a torch\.Tensor; got float", id="target-scalar"),
    pytest.param(lambda: construct_linear(None, eye(3), 1), DTypeError,
                 r"weights must be a sequence.*got NoneType", id="weights-none"),
    pytest.param(lambda: construct_linear("abc", eye(3), 1), DTypeError,
                 r"weights must be a sequence.*got str", id="weights-str"),
    pytest.param(lambda: construct_linear(iter(W3()), eye(3), 1), DTypeError,
                 r"weights must be a sequence.*got list_iterator", id="weights-iterator"),
]


@pytest.mark.parametrize("fn, exc, pattern", CONSTRUCT_CASES)
def test_construct_linear_bad_input(fn, exc, pattern):
    expect(fn, exc, pattern)


def test_construct_linear_checks_shapes_before_ranks():
    """With both a bad weight and a bad rank, the weight is reported (validation order is fixed)."""
    expect(lambda: construct_linear([eye(3), eye(4)], eye(3), 0), ShapeError, r"weights\[1\]")


def test_construct_linear_with_a_chain_still_checks_target_and_rank():
    chain = LinearChain(W3())
    expect(lambda: construct_linear(chain, eye(4), 1), ShapeError, r"target has shape \(4, 4\).*D=3")
    expect(lambda: construct_linear(chain, T3(), 0), RankError, r"rank must be in 1\.\.3")
    expect(lambda: construct_linear(chain, T3(), [1, 2, 3]), RankError, r"per-layer ranks.*L=2")


def test_singular_suffix_raises_singularity_error():
    """A zero frozen layer inside a suffix the construction solves with: SingularityError (an AssumptionViolated)."""
    err = expect(lambda: construct_linear([eye(3), torch.zeros(3, 3, dtype=F64)], eye(3), 3), SingularityError,
                 r"suffix product W_2 .*layer 1.*numerically singular")
    assert isinstance(err, AssumptionViolated) and isinstance(err, ValueError)
    assert "W_2" in err.where
    assert err.ratio == 0.0 and err.threshold is not None and err.ratio < err.threshold


# ---------------------------------------------------------------------------------------------------------------
# LinearChain(weights)
# ---------------------------------------------------------------------------------------------------------------

CHAIN_CASES = [
    pytest.param(lambda: LinearChain([eye(3), ones(3, 2)]), ShapeError, r"weights\[1\] must be square.*\(3, 2\)",
                 id="non-square"),
    pytest.param(lambda: LinearChain([eye(3), eye(2)]), ShapeError,
                 r"weights\[1\] has shape \(2, 2\) but weights\[0\] has shape \(3, 3\)", id="mismatched-widths"),
    pytest.param(lambda: LinearChain([ones(3)]), ShapeError, r"weights\[0\] must be a 2-D matrix.*\(3,\)",
                 id="weight-1d"),
    pytest.param(lambda: LinearChain(ones(2, 2, 3, 3)), ShapeError, r"weights must be a sequence.*\(2, 2, 3, 3\)",
                 id="weights-4d"),
    pytest.param(lambda: LinearChain([]), DepthError, r"weights is empty", id="empty-list"),
    pytest.param(lambda: LinearChain(()), DepthError, r"weights is empty", id="empty-tuple"),
    pytest.param(lambda: LinearChain([with_entry(eye(3), (2, 2), math.nan)]), NonFiniteError,
                 r"weights\[0\] contains NaN or inf \(first at index \(2, 2\)", id="nan"),
    pytest.param(lambda: LinearChain([eye(3), with_entry(eye(3), (0, 0), math.inf)]), NonFiniteError,
                 r"weights\[1\] contains NaN or inf", id="inf"),
    pytest.param(lambda: LinearChain([torch.ones(3, 3, dtype=torch.int64)]), DTypeError,
                 r"weights\[0\] must be float64 \(or float32\); got.*torch\.int64", id="int"),
    pytest.param(lambda: LinearChain([torch.eye(3, dtype=torch.float32), eye(3)]), DTypeError,
                 r"weights\[1\] has dtype torch\.float64 but weights\[0\] has torch\.float32", id="mixed"),
    pytest.param(lambda: LinearChain([eye(3), "W2"]), DTypeError, r"weights\[1\] must be a torch\.Tensor; got str",
                 id="non-tensor"),
    pytest.param(lambda: LinearChain(None), DTypeError, r"weights must be a sequence.*NoneType", id="none"),
]


@pytest.mark.parametrize("fn, exc, pattern", CHAIN_CASES)
def test_linear_chain_bad_input(fn, exc, pattern):
    expect(fn, exc, pattern)


def test_linear_chain_call_and_adapted_bad_shapes():
    chain = LinearChain(W3())
    expect(lambda: chain(ones(2, 4)), ShapeError, r"input x must have shape .*D=3; got \(2, 4\)")
    expect(lambda: chain.adapted([LoRAPair.zeros(3, 3)]), ShapeError, r"got 1 adapters for 2 layers")
    expect(lambda: chain.adapted([LoRAPair.zeros(3, 3), LoRAPair.zeros(4, 4)]), ShapeError,
           r"adapter of shape \(4, 4\) \(d_out, d_in\) into W of shape \(3, 3\)")


# ---------------------------------------------------------------------------------------------------------------
# LoRAPair(B, A), merge, pad_to
# ---------------------------------------------------------------------------------------------------------------

PAIR_CASES = [
    pytest.param(lambda: LoRAPair(ones(3, 2), ones(3, 3)), ShapeError,
                 r"B has shape \(3, 2\) \(d_out, r\) but A has shape \(3, 3\) \(r, d_in\)", id="inner-mismatch"),
    pytest.param(lambda: LoRAPair(ones(3, 0), ones(1, 3)), ShapeError,
                 r"B has shape \(3, 0\).*A has shape \(1, 3\)", id="inner-mismatch-zero"),
    pytest.param(lambda: LoRAPair(ones(3), ones(1, 3)), ShapeError,
                 r"LoRA factor B must be a 2-D tensor; got shape \(3,\)", id="B-1d"),
    pytest.param(lambda: LoRAPair(ones(3, 1), ones(1, 3, 1)), ShapeError,
                 r"LoRA factor A must be a 2-D tensor; got shape \(1, 3, 1\)", id="A-3d"),
    pytest.param(lambda: LoRAPair(torch.ones(3, 1, dtype=torch.int64), torch.ones(1, 3, dtype=torch.int64)),
                 DTypeError, r"B must be float64 \(or float32\); got.*torch\.int64.*\(3, 1\)", id="int"),
    pytest.param(lambda: LoRAPair(ones(3, 1), torch.ones(1, 3, dtype=torch.float32)), DTypeError,
                 r"A has dtype torch\.float32 but B has torch\.float64", id="mixed"),
    pytest.param(lambda: LoRAPair(with_entry(ones(3, 1), (2, 0), math.nan), ones(1, 3)), NonFiniteError,
                 r"B contains NaN or inf \(first at index \(2, 0\); shape \(3, 1\)\)", id="B-nan"),
    pytest.param(lambda: LoRAPair(ones(3, 1), with_entry(ones(1, 3), (0, 1), math.inf)), NonFiniteError,
                 r"A contains NaN or inf \(first at index \(0, 1\); shape \(1, 3\)\)", id="A-inf"),
    pytest.param(lambda: pair32().merge(eye(4)), ShapeError,
                 r"adapter of shape \(3, 3\) \(d_out, d_in\) into W of shape \(4, 4\)", id="merge-wrong-shape"),
    pytest.param(lambda: pair32().merge(ones(3, 2)), ShapeError,
                 r"adapter of shape \(3, 3\) \(d_out, d_in\) into W of shape \(3, 2\)", id="merge-wrong-shape-rect"),
    pytest.param(lambda: pair32().merge(ones(9)), ShapeError,
                 r"W must be a 2-D matrix; got shape \(9,\)", id="merge-1d"),
    pytest.param(lambda: pair32().pad_to(1), RankError, r"r must be in 2\.\.3 \(D=3\); got 1", id="pad-below-rank"),
    pytest.param(lambda: pair32().pad_to(-1), RankError, r"r must be in 2\.\.3 \(D=3\); got -1", id="pad-negative"),
    pytest.param(lambda: LoRAPair.zeros(3, 3).pad_to(-1), RankError, r"r must be in 0\.\.3 \(D=3\); got -1",
                 id="pad-zero-adapter-negative"),
]


@pytest.mark.parametrize("fn, exc, pattern", PAIR_CASES)
def test_lora_pair_bad_input(fn, exc, pattern):
    expect(fn, exc, pattern)


def test_lora_pair_non_tensor_factor_is_a_dtype_error():
    """A non-tensor is a DTypeError everywhere else (``as_matrix``: "A must be a torch.Tensor; got list")."""
    expect(lambda: LoRAPair(ones(3, 1), [[1.0, 2.0, 3.0]]), DTypeError, r"\bA\b.*torch\.Tensor.*list")


# ---------------------------------------------------------------------------------------------------------------
# certify_linear(weights, target, rank) — exact rational certificates
# ---------------------------------------------------------------------------------------------------------------

I2 = [[1, 0], [0, 1]]

CERTIFY_CASES = [
    pytest.param(lambda: certify_linear([[[0.5, 0], [0, 1]]], I2, 1), DTypeError,
                 r"weights\[0\] has the entry 0\.5.*integer or rational", id="float-weight"),
    pytest.param(lambda: certify_linear([I2, [[1, 0], [0, 0.25]]], I2, 1), DTypeError,
                 r"weights\[1\] has the entry 0\.25", id="float-second-weight"),
    pytest.param(lambda: certify_linear([I2], [[1.5, 0], [0, 1]], 1), DTypeError,
                 r"target has the entry 1\.5", id="float-target"),
    pytest.param(lambda: certify_linear([[[1, 0, 0], [0, 1, 0]]], I2, 1), ShapeError,
                 r"weights\[0\] must be a non-empty square \(D, D\) matrix; got shape \(2, 3\)", id="non-square"),
    pytest.param(lambda: certify_linear([[1, 2]], I2, 1), ShapeError,
                 r"weights\[0\] must be a non-empty square.*\(2, 1\)", id="1d-weight"),
    pytest.param(lambda: certify_linear([I2, [[1]]], I2, 1), ShapeError,
                 r"weights\[1\] has shape \(1, 1\) but weights\[0\] has shape \(2, 2\)", id="mismatched-widths"),
    pytest.param(lambda: certify_linear([I2], [[1]], 1), ShapeError,
                 r"target has shape \(1, 1\) but the chain has width D=2", id="target-other-width"),
    pytest.param(lambda: certify_linear([I2], [[1, 0]], 1), ShapeError,
                 r"target must be a non-empty square.*\(1, 2\)", id="target-non-square"),
    pytest.param(lambda: certify_linear([[[1, 0], [0]]], I2, 1), ShapeError,
                 r"weights\[0\] cannot be read as a \(D, D\) matrix", id="ragged"),
    pytest.param(lambda: certify_linear([], I2, 1), DepthError, r"weights must be a non-empty sequence",
                 id="empty"),
    pytest.param(lambda: certify_linear(None, I2, 1), DepthError, r"weights must be a non-empty sequence",
                 id="none"),
    pytest.param(lambda: certify_linear([I2], I2, 0), RankError, r"rank must be in 1\.\.2 \(D=2\); got 0",
                 id="rank-0"),
    pytest.param(lambda: certify_linear([I2], I2, 3), RankError, r"rank must be in 1\.\.2 \(D=2\); got 3",
                 id="rank-above-D"),
    pytest.param(lambda: certify_linear([I2], I2, 2.5), RankError, r"rank must be an int.*2\.5", id="rank-float"),
    pytest.param(lambda: certify_linear([I2, I2], I2, [1]), RankError, r"per-layer ranks.*\(L=2\)",
                 id="ranks-wrong-length"),
    pytest.param(lambda: certify_linear([I2, I2], I2, [1, -1]), RankError, r"rank\[1\] must be in 0\.\.2",
                 id="ranks-negative"),
]


@pytest.mark.parametrize("fn, exc, pattern", CERTIFY_CASES)
def test_certify_linear_bad_input(fn, exc, pattern):
    expect(fn, exc, pattern)


def test_certify_linear_exactly_singular_suffix():
    err = expect(lambda: certify_linear([[[0, 0], [0, 0]], [[0, 0], [0, 0]]], I2, 2), SingularityError,
                 r"suffix product after layer 1 is exactly singular")
    assert err.ratio == 0.0 and "W_1" in err.where


# ---------------------------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------------------------

HELPER_CASES = [
    pytest.param(lambda: as_matrix(3, "x"), DTypeError, r"x must be a torch\.Tensor; got int", id="as_matrix-int"),
    pytest.param(lambda: as_matrix(torch.eye(2, dtype=torch.int64), "M"), DTypeError,
                 r"M must be float64 \(or float32\); got.*torch\.int64 with shape \(2, 2\)", id="as_matrix-int-dtype"),
    pytest.param(lambda: as_matrix(ones(2, 3), "M"), ShapeError, r"M must be square \(D, D\); got shape \(2, 3\)",
                 id="as_matrix-non-square"),
    pytest.param(lambda: as_matrix(ones(3), "v"), ShapeError, r"v must be a 2-D matrix; got shape \(3,\)",
                 id="as_matrix-1d"),
    pytest.param(lambda: as_matrix(ones(1, 2, 2), "v", square=False), ShapeError,
                 r"v must be a 2-D matrix; got shape \(1, 2, 2\)", id="as_matrix-3d"),
    pytest.param(lambda: as_matrix(torch.zeros(2, 0, dtype=F64), "M", square=False), ShapeError,
                 r"M must not be empty; got shape \(2, 0\)", id="as_matrix-empty"),
    pytest.param(lambda: as_matrix(with_entry(eye(2), (1, 0), math.nan), "M"), NonFiniteError,
                 r"M contains NaN or inf \(first at index \(1, 0\); shape \(2, 2\)\)", id="as_matrix-nan"),
    pytest.param(lambda: check_same_dtype([("P", eye(2)), ("Q", torch.eye(2, dtype=torch.float32))]), DTypeError,
                 r"Q has dtype torch\.float32 but P has torch\.float64", id="check_same_dtype-mixed"),
    pytest.param(lambda: as_square_stack([], "Ws"), DepthError, r"Ws is empty", id="as_square_stack-empty"),
    pytest.param(lambda: as_square_stack({"a": eye(2)}, "Ws"), DTypeError, r"Ws must be a sequence.*got dict",
                 id="as_square_stack-dict"),
    pytest.param(lambda: as_square_stack([eye(2), eye(3)], "Ws"), ShapeError,
                 r"Ws\[1\] has shape \(3, 3\) but Ws\[0\] has shape \(2, 2\)", id="as_square_stack-mismatch"),
    pytest.param(lambda: check_rank(0, "rank", width=3), RankError, r"rank must be in 1\.\.3 \(D=3\); got 0",
                 id="check_rank-0"),
    pytest.param(lambda: check_rank(-2, "rank", width=3), RankError, r"rank must be in 1\.\.3.*got -2",
                 id="check_rank-negative"),
    pytest.param(lambda: check_rank(4, "R", width=3), RankError, r"R must be in 1\.\.3 \(D=3\); got 4",
                 id="check_rank-above-D"),
    pytest.param(lambda: check_rank(2.5, "rank", width=3), RankError,
                 r"rank must be an integer in 1\.\.3.*got 2\.5 of type float", id="check_rank-float"),
    pytest.param(lambda: check_rank("3", "rank", width=3), RankError, r"rank must be an integer.*'3' of type str",
                 id="check_rank-str"),
    pytest.param(lambda: check_rank(True, "rank", width=3), RankError, r"rank must be an integer.*True of type bool",
                 id="check_rank-bool"),
    pytest.param(lambda: check_rank(-1, "rank[0]", width=3, minimum=0), RankError,
                 r"rank\[0\] must be in 0\.\.3.*got -1", id="check_rank-minimum-0"),
    pytest.param(lambda: check_layer_ranks([1, 1, 1], depth=2, width=3), RankError,
                 r"per-layer ranks.*\(L=2\); got 3", id="check_layer_ranks-length"),
    pytest.param(lambda: check_layer_ranks([1, -1], depth=2, width=3), RankError,
                 r"rank\[1\] must be in 0\.\.3.*got -1", id="check_layer_ranks-negative"),
    pytest.param(lambda: check_layer_ranks("12", depth=2, width=3), RankError,
                 r"rank must be an int or a sequence of 2.*'12'", id="check_layer_ranks-str"),
    pytest.param(lambda: check_layer_ranks(0, depth=2, width=3), RankError, r"rank must be in 1\.\.3",
                 id="check_layer_ranks-uniform-0"),
]


@pytest.mark.parametrize("fn, exc, pattern", HELPER_CASES)
def test_validation_helper_bad_input(fn, exc, pattern):
    expect(fn, exc, pattern)


# ---------------------------------------------------------------------------------------------------------------
# Claims registry (error paths only: nothing is left registered)
# ---------------------------------------------------------------------------------------------------------------

def _fresh_claim(claim_id: str) -> Claim:
    return Claim(id=claim_id, reference="test reference", statement="test statement", status="test")


def test_get_claim_unknown():
    err = expect(lambda: get_claim("nope"), UnknownClaimError, r"unknown claim id 'nope'; known: .*lemma1")
    assert isinstance(err, KeyError)


def test_register_duplicate_id_is_rejected_and_registry_unchanged():
    before = {c.id: c for c in all_claims()}  # loads the built-in claims first
    original = get_claim("lemma1")
    expect(lambda: register(_fresh_claim("lemma1")), DomainError, r"claim id 'lemma1' is already registered")
    assert {c.id: c for c in all_claims()} == before
    assert get_claim("lemma1") is original
    assert register(original) is original  # re-registering the identical object is a no-op


@pytest.mark.parametrize("bad_id", ["not an id", "1abc", "has-dash", ""])
def test_register_non_identifier_is_rejected_and_registry_unchanged(bad_id):
    before = [c.id for c in all_claims()]
    expect(lambda: register(_fresh_claim(bad_id)), DomainError,
           rf"claim id must be a Python identifier.*got {bad_id!r}")
    assert [c.id for c in all_claims()] == before


# ---------------------------------------------------------------------------------------------------------------
# Contract regressions: inputs that once violated the contract (the comment says how: an untyped exception or
# silent acceptance). Each asserts the contract: a LoRATheoryError whose message names the argument.
# ---------------------------------------------------------------------------------------------------------------

VIOLATION_PROBES = [
    # LoRAPair.merge only checks the shape of W
    pytest.param(lambda: pair32().merge(torch.eye(3, dtype=torch.float32)), r"\bW\b|weight",
                 id="merge-float32-weight"),  # RuntimeError from torch.addmm
    pytest.param(lambda: pair32().merge(torch.eye(3, dtype=torch.int64)), r"\bW\b|weight",
                 id="merge-int-weight"),  # RuntimeError from torch.addmm
    pytest.param(lambda: pair32().merge([[1.0] * 3] * 3), r"\bW\b|weight",
                 id="merge-non-tensor"),  # AttributeError: 'list' object has no attribute 'shape'
    pytest.param(lambda: pair32().merge(with_entry(eye(3), (0, 0), math.nan)), r"\bW\b|weight",
                 id="merge-nan-weight"),  # accepted silently
    # LoRAPair.pad_to does not validate r
    pytest.param(lambda: pair32().pad_to(2.5), r"\br\b|rank", id="pad_to-float"),  # TypeError from new_zeros
    pytest.param(lambda: pair32().pad_to("3"), r"\br\b|rank", id="pad_to-str"),  # TypeError from '<'
    pytest.param(lambda: pair32().pad_to(None), r"\br\b|rank", id="pad_to-none"),  # TypeError from '<'
    pytest.param(lambda: LoRAPair.zeros(3, 3).pad_to(True), r"\br\b|rank", id="pad_to-bool"),  # accepted
    # rank-0 pairs skip the dtype check; LoRAPair.zeros does not validate its sizes
    pytest.param(lambda: LoRAPair.zeros(-1, 3), r"d_out", id="zeros-negative-size"),  # RuntimeError
    pytest.param(lambda: LoRAPair.zeros(3, 3, dtype=torch.int64), r"float64.*int64",
                 id="zeros-int-dtype"),  # accepted
    pytest.param(lambda: LoRAPair(torch.zeros(3, 0, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.int64)),
                 r"\bB\b", id="rank0-pair-int-dtype"),  # accepted
    # LoRAPair.apply and LinearChain.__call__ / .adapted do not validate their inputs
    pytest.param(lambda: pair32().apply(ones(2, 4)), r"\bx\b", id="apply-wrong-width"),  # RuntimeError
    pytest.param(lambda: LinearChain(W3())([1.0, 2.0, 3.0]), r"\bx\b", id="chain-call-non-tensor"),  # AttributeError
    pytest.param(lambda: LinearChain(W3())(torch.ones(2, 3)), r"\bx\b", id="chain-call-float32"),  # RuntimeError
    pytest.param(lambda: LinearChain(W3())(torch.tensor(1.0, dtype=F64)), r"\bx\b",
                 id="chain-call-0d"),  # IndexError
    pytest.param(lambda: LinearChain(W3()).adapted([LoRAPair(torch.ones(3, 1), torch.ones(1, 3))] * 2),
                 r"dtype", id="chain-adapted-float32-pair"),  # RuntimeError from torch.addmm
    # construct_linear: dtypes torch cannot decompose, and unchecked keyword arguments
    pytest.param(lambda: construct_linear([torch.eye(3, dtype=torch.float16)], torch.eye(3, dtype=torch.float16), 1),
                 r"float16", id="construct-float16"),  # NotImplementedError from linalg_svd
    pytest.param(lambda: construct_linear(W3(), T3(), 1, tau="x"), r"tau", id="construct-tau-str"),  # TypeError
    pytest.param(lambda: construct_linear(W3(), T3(), 1, tau=math.nan), r"tau",
                 id="construct-tau-nan"),  # accepted: rank(E) = 0, adapters all zero, residual = E
    pytest.param(lambda: construct_linear(W3(), T3(), 1, singular_threshold="x"), r"singular_threshold",
                 id="construct-threshold-str"),  # TypeError from '>='
    # certify_linear: nested lists deeper than 2 and non-numeric entries
    pytest.param(lambda: certify_linear([[[[1]]]], [[1]], 1), r"weights\[0\]",
                 id="certify-3d-list"),  # SymPyDeprecationWarning (AttributeError without -W error)
    pytest.param(lambda: certify_linear([[[None]]], [[1]], 1), r"weights\[0\]",
                 id="certify-none-entry"),  # AttributeError: 'NoneType' object has no attribute 'is_Rational'
    # registry and helpers
    pytest.param(lambda: get_claim([]), r"claim", id="get_claim-unhashable"),  # TypeError: unhashable type
    pytest.param(lambda: register(_fresh_claim(3)), r"claim id", id="register-non-str-id"),  # AttributeError
    pytest.param(lambda: check_same_dtype([]), r"got none", id="check_same_dtype-empty"),  # IndexError
]


@pytest.mark.parametrize("fn, pattern", VIOLATION_PROBES)
def test_contract_probe(fn, pattern):
    try:
        result = fn()
    except LoRATheoryError as exc:
        assert re.search(pattern, str(exc)), f"{type(exc).__name__} message does not match {pattern!r}: {exc}"
        return
    except Exception as exc:  # noqa: BLE001 - the point is to report the wrong type
        pytest.fail(f"contract violation: raised {type(exc).__module__}.{type(exc).__name__} "
                    f"(not a LoRATheoryError): {exc}")
    pytest.fail(f"contract violation: bad input accepted silently; returned {type(result).__name__}")
