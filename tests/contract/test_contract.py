"""Hypothesis-driven bad-input contract of every public entry point.

For each entry point a strategy draws one *case*: a valid call, or a call with exactly one malformed argument
(wrong shape, 1-D/3-D tensor, non-square, mismatched widths, int/bool/complex/float16 dtype, mixed float32/float64,
NaN/±inf at a drawn position, a non-tensor, a rank ≤ 0 / > D / non-integer / bool, an empty or too-long rank list,
L̄ > L, a partition not summing to L or with an empty block, a domain radius ≤ 0 / inf / nan, an out-of-range or
non-integer CLI flag, …). The property (:func:`check_contract`):

* a valid call succeeds and returns a result of the right type and shape (a valid call may still be refused with an
  :class:`~lora_theory.errors.AssumptionViolated`, the documented outcome when a theorem's hypothesis fails);
* a malformed call raises a :class:`~lora_theory.errors.LoRATheoryError` subclass whose message names the offending
  argument (one of the expected names must appear) — never another exception type, and never silent acceptance;
* the CLI (``main(argv)``): a valid command exits 0 with nothing on stderr; a bad one exits 2 with exactly one line
  on stderr (no traceback) naming the flag.

Every draw is labelled: a case records each drawn value under its label, and its ``repr`` (what Hypothesis prints
for a failing example) lists them. Tensors come from integer seeds through ``torch.Generator``, never from the global
torch RNG. Each entry-point test counts its malformed calls and asserts at least ``MIN_MALFORMED`` (200) of them; it
runs ``max(EXAMPLES, profile max_examples)`` examples, so the dev profile (20) is overridden upwards and ``deep``
keeps its larger count.

Contract violations this file found (untyped exceptions from assumption1_report, best_partition, Box,
validate_partition, evaluate_integer; silent acceptance of mismatched widths, nan tolerances, truncated non-integer
values; a two-line CLI error) were fixed in the library; their exact reproductions stay as the explicit
``@example``s of the ``test_known_violations_*`` regression tests.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from lora_theory import (
    TFN,
    AssumptionViolated,
    Ball,
    Box,
    LinearChain,
    LoRAPair,
    LoRATheoryError,
    ReLUFNN,
    TFNBlock,
    construct_fnn,
    construct_linear,
    construct_tfn,
    tfn_gaps,
)
from lora_theory import formulas as F
from lora_theory.analysis.fnn import AssumptionEntry, assumption1_report, best_partition
from lora_theory.cli import main as cli_main
from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.constructions.linear import LinearConstruction
from lora_theory.constructions.tfn import TFNConstruction
from lora_theory.exact.linear import LinearCertificate, certify_linear
from lora_theory.partition import uniform_partition, validate_partition

F64, F32 = torch.float64, torch.float32
#: per entry point: with ~1/6–1/2 valid cases (evaluate_integer draws the most valid ones), ≥ 200 malformed calls
EXAMPLES = 500
MIN_MALFORMED = 200
BAD_DTYPES = (torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64, torch.complex128, torch.float16,
              torch.bfloat16)
NONFINITE = (math.nan, math.inf, -math.inf)


# ---------------------------------------------------------------------------------------------------------------
# Cases and the contract
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Case:
    """One call: ``fault`` is ``"valid"`` or the malformation; ``names`` are regexes, one of which the error message
    must match; ``check`` validates the result of a valid call; ``nan_ok`` marks a malformed input that may also
    propagate (NaN/inf in a forward input: refused with NonFiniteError, or returned as a result of the right shape)."""

    entry: str
    fault: str
    call: Callable[[], object]
    names: tuple[str, ...] = ()
    check: Callable[[object], None] | None = None
    drawn: dict = field(default_factory=dict)
    nan_ok: bool = False

    @property
    def valid(self) -> bool:
        return self.fault == "valid"

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.drawn.items())
        return f"Case({self.entry}: fault={self.fault!r}; {items})"


class Rec:
    """Labelled draws: ``rec(label, strategy)`` draws and records the value under ``label``."""

    def __init__(self, draw):
        self.draw, self.drawn = draw, {}

    def __call__(self, label: str, strategy):
        value = self.draw(strategy)
        self.drawn[label] = value
        return value

    def case(self, entry, fault, call, names=(), check=None, nan_ok=False) -> Case:
        return Case(entry, fault, call, tuple(names), check, dict(self.drawn), nan_ok)


def check_contract(case: Case, counts: Counter | None = None) -> None:
    if counts is not None:
        counts["valid" if case.valid else "malformed"] += 1
    try:
        result = case.call()
    except LoRATheoryError as exc:
        if case.valid:
            assert isinstance(exc, AssumptionViolated), \
                f"a valid call was refused with {type(exc).__name__}: {exc} [{case!r}]"
            return
        msg = str(exc)
        assert any(re.search(p, msg) for p in case.names), (
            f"{type(exc).__name__} message names none of {case.names}: {msg!r} [{case!r}]")
        return
    except Exception as exc:  # noqa: BLE001 - reporting the wrong type is the point
        pytest.fail(f"contract violation: {case!r} raised {type(exc).__module__}.{type(exc).__name__} "
                    f"(not a LoRATheoryError): {exc}", pytrace=False)
    if not case.valid and not case.nan_ok:
        pytest.fail(f"contract violation: {case!r} was accepted silently (returned {type(result).__name__})",
                    pytrace=False)
    if case.check is not None:
        case.check(result)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(argv)
    return rc, out.getvalue(), err.getvalue()


def check_cli(case: Case, counts: Counter | None = None) -> None:
    if counts is not None:
        counts["valid" if case.valid else "malformed"] += 1
    try:
        rc, out, err = case.call()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and tracebacks are violations too
        pytest.fail(f"contract violation: {case!r} raised {type(exc).__name__} out of main(): {exc}", pytrace=False)
    assert "Traceback" not in err, f"traceback on stderr for {case!r}:\n{err}"
    if rc == 0:
        assert case.valid, f"contract violation: {case!r} exited 0 (bad arguments accepted)\nstdout:\n{out}"
        assert err == "", f"exit 0 but stderr is not empty for {case!r}: {err!r}"
        assert out.strip(), f"exit 0 but nothing on stdout for {case!r}"
        return
    lines = err.splitlines()
    assert rc == 2, f"contract violation: {case!r} exited {rc}; stderr: {err!r}"
    assert len(lines) == 1 and lines[0].strip(), \
        f"contract violation: {case!r} exited 2 with {len(lines)} lines on stderr (need exactly one): {err!r}"
    if case.valid:  # a valid certify may only fail the non-singularity hypothesis for its seed
        assert "SingularityError" in lines[0], f"a valid command failed: {case!r}: {err!r}"
        return
    assert any(re.search(p, lines[0]) for p in case.names), \
        f"the stderr line names none of {case.names}: {lines[0]!r} [{case!r}]"


def profile_settings(**kw) -> settings:
    """At least EXAMPLES examples, more if the loaded profile asks for more (``deep``)."""
    return settings(max_examples=max(EXAMPLES, settings().max_examples), **kw)


def run_counted(strategy, checker=check_contract) -> None:
    """Run the property over ``strategy`` and assert the number of malformed calls."""
    counts: Counter = Counter()

    @profile_settings()
    @given(case=strategy)
    def prop(case):
        checker(case, counts)

    prop()
    assert counts["malformed"] >= MIN_MALFORMED, f"only {counts['malformed']} malformed calls: {dict(counts)}"
    assert counts["valid"] > 0, f"no valid call was drawn: {dict(counts)}"


def violations(fn):
    """A regression test that only runs its explicit @examples (the strategy is never drawn from)."""
    return settings(phases=[Phase.explicit], database=None)(given(case=st.just(None))(fn))


# ---------------------------------------------------------------------------------------------------------------
# Tensors (seeded; never the global RNG) and faults
# ---------------------------------------------------------------------------------------------------------------

def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def well_conditioned(D: int, seed: int, dtype=F64) -> torch.Tensor:
    """2I + 0.3·G/√D: σ_min ≥ ~1.3, so the constructions never hit their non-singularity checks."""
    G = torch.randn(D, D, generator=gen(seed), dtype=F64)
    return (2 * torch.eye(D, dtype=F64) + 0.3 * G / math.sqrt(D)).to(dtype)


def randn(*shape: int, seed: int, dtype=F64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=F64).to(dtype)


MATRIX_FAULTS = ("1d", "3d", "non_square", "wrong_width", "bad_dtype", "mixed", "nonfinite", "non_tensor", "empty")
VECTOR_FAULTS = ("2d", "0d", "wrong_length", "bad_dtype", "mixed", "nonfinite", "non_tensor")
RANK_FAULTS = ("zero", "negative", "above_D", "float", "integral_float", "bool", "str", "none", "complex")
SCALAR_FAULTS = ("zero", "negative", "nan", "inf", "neg_inf", "str", "none", "bool", "complex")


def non_tensor(rec: Rec, label: str, good: torch.Tensor) -> object:
    kind = rec(f"{label}.non_tensor", st.sampled_from(("list", "ndarray", "none", "float", "str", "tuple")))
    return {"list": good.tolist(), "ndarray": good.numpy(), "none": None, "float": 1.0, "str": "W",
            "tuple": tuple(good.tolist()) if good.ndim == 1 else tuple(map(tuple, good.tolist()))}[kind]


def bad_matrix(rec: Rec, label: str, good: torch.Tensor, faults=MATRIX_FAULTS) -> object:
    """``good`` (D, D) with one fault drawn from ``faults`` (each one makes the matrix unusable where it sits)."""
    fault = rec(f"{label}.fault", st.sampled_from(faults))
    D, dt = good.shape[0], good.dtype
    if fault == "1d":
        return good[0].clone()
    if fault == "3d":
        return good.unsqueeze(0).repeat(rec(f"{label}.copies", st.integers(1, 2)), 1, 1)
    if fault == "non_square":
        extra = rec(f"{label}.extra", st.integers(1, 2))
        if good.shape[0] != good.shape[1] or rec(f"{label}.wide", st.booleans()):
            return torch.cat([good, torch.zeros(good.shape[0], extra, dtype=dt)], dim=1)
        return torch.cat([good, torch.zeros(extra, good.shape[1], dtype=dt)])
    if fault == "wrong_width":
        k = rec(f"{label}.width", st.sampled_from([d for d in range(1, 5) if d != D]))
        return 2 * torch.eye(k, dtype=dt)
    if fault == "bad_dtype":
        return good.to(rec(f"{label}.dtype", st.sampled_from(BAD_DTYPES)))
    if fault == "mixed":
        return good.to(F32 if dt == F64 else F64)
    if fault == "nonfinite":
        i = rec(f"{label}.row", st.integers(0, good.shape[0] - 1))
        j = rec(f"{label}.col", st.integers(0, good.shape[1] - 1))
        out = good.clone()
        out[i, j] = rec(f"{label}.value", st.sampled_from(NONFINITE))
        return out
    if fault == "non_tensor":
        return non_tensor(rec, label, good)
    if fault == "empty":
        return torch.zeros(0, 0, dtype=dt)
    raise AssertionError(fault)


def bad_vector(rec: Rec, label: str, good: torch.Tensor, faults=VECTOR_FAULTS) -> object:
    fault = rec(f"{label}.fault", st.sampled_from(faults))
    D, dt = good.shape[0], good.dtype
    if fault == "2d":
        return good[None, :].clone()
    if fault == "0d":
        return good[0].clone()
    if fault == "wrong_length":
        k = rec(f"{label}.length", st.sampled_from([d for d in range(0, 5) if d != D]))
        return torch.zeros(k, dtype=dt)
    if fault == "bad_dtype":
        return good.to(rec(f"{label}.dtype", st.sampled_from(BAD_DTYPES)))
    if fault == "mixed":
        return good.to(F32 if dt == F64 else F64)
    if fault == "nonfinite":
        out = good.clone()
        out[rec(f"{label}.index", st.integers(0, D - 1))] = rec(f"{label}.value", st.sampled_from(NONFINITE))
        return out
    if fault == "non_tensor":
        return non_tensor(rec, label, good)
    raise AssertionError(fault)


def bad_rank(rec: Rec, label: str, D: int, minimum: int = 1) -> object:
    fault = rec(f"{label}.fault", st.sampled_from(RANK_FAULTS if minimum == 1 else
                                                  tuple(f for f in RANK_FAULTS if f != "zero")))
    return {"zero": 0, "negative": -rec(f"{label}.minus", st.integers(1, 3)),
            "above_D": D + rec(f"{label}.plus", st.integers(1, 3)), "float": 1.5, "integral_float": 1.0,
            "bool": True, "str": "1", "none": None, "complex": 1 + 0j}[fault]


def bad_scalar(rec: Rec, label: str, *, none_ok: bool = False) -> object:
    """A malformed positive float; ``none_ok``: None is a valid value of this argument (a default), not a fault."""
    fault = rec(f"{label}.fault", st.sampled_from(tuple(f for f in SCALAR_FAULTS if not (none_ok and f == "none"))))
    return {"zero": 0.0, "negative": -rec(f"{label}.size", st.sampled_from((1e-12, 0.5, 3.0))), "nan": math.nan,
            "inf": math.inf, "neg_inf": -math.inf, "str": "1e-9", "none": None, "bool": True, "complex": 1j}[fault]


def bad_container(rec: Rec, label: str, D: int) -> object:
    """A ``weights`` argument that is not a non-empty sequence of matrices / (L, D, D) stack."""
    kind = rec(f"{label}.container", st.sampled_from(("none", "str", "int", "dict", "empty_list", "empty_stack",
                                                      "tensor_1d", "tensor_2d", "tensor_4d", "generator")))
    return {"none": None, "str": "weights", "int": 3, "dict": {0: torch.eye(D, dtype=F64)}, "empty_list": [],
            "empty_stack": torch.zeros(0, D, D, dtype=F64), "tensor_1d": torch.ones(D, dtype=F64),
            "tensor_2d": torch.eye(D, dtype=F64), "tensor_4d": torch.ones(1, 1, D, D, dtype=F64),
            "generator": (torch.eye(D, dtype=F64) for _ in range(1))}[kind]


def rank_list(rec: Rec, label: str, L: int, D: int) -> tuple[object, str]:
    """A malformed per-layer rank list and the regex its error must match."""
    fault = rec(f"{label}.list_fault", st.sampled_from(("empty", "too_short", "too_long", "entry")))
    if fault == "empty":
        return [], r"rank"
    if fault == "too_short" and L > 1:
        return [1] * (L - 1), r"rank"
    if fault in ("too_short", "too_long"):
        return [1] * (L + rec(f"{label}.extra", st.integers(1, 2))), r"rank"
    pos = rec(f"{label}.pos", st.integers(0, L - 1))
    ranks: list[object] = [min(1, D)] * L
    ranks[pos] = bad_rank(rec, f"{label}[{pos}]", D, minimum=0)
    return ranks, rf"rank\[{pos}\]"


def dims(rec: Rec, max_D: int = 3, max_L: int = 3):
    D = rec("D", st.integers(1, max_D))
    L = rec("L", st.integers(1, max_L))
    seed = rec("seed", st.integers(0, 2 ** 31 - 1))
    dtype = rec("dtype", st.sampled_from((F64, F32)))
    return D, L, seed, dtype


def fault_or_valid(rec: Rec, faults: tuple[str, ...], valid_weight: int = 1) -> str:
    """'valid' with probability ~1/6 (valid_weight controls it), else one of ``faults``."""
    valid = rec("valid", st.integers(0, 5)) < valid_weight
    return "valid" if valid else rec("fault", st.sampled_from(faults))


# ---------------------------------------------------------------------------------------------------------------
# construct_linear(weights, target, rank, *, tau, singular_threshold)
# ---------------------------------------------------------------------------------------------------------------

@st.composite
def construct_linear_cases(draw):
    rec = Rec(draw)
    D, L, seed, dtype = dims(rec)
    Ws = [well_conditioned(D, seed + l, dtype) for l in range(L)]
    target = randn(D, D, seed=seed + 97, dtype=dtype)
    rank: object = rec("rank", st.integers(1, D))
    kw: dict = {}
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("weight", "weights", "target", "rank", "rank_list", "tau", "singular_threshold"))
    if fault == "valid":
        form = rec("valid_form", st.sampled_from(("list", "stack", "per_layer", "np_int")))
        if form == "per_layer":
            rank = [rec(f"rank[{l}]", st.integers(0, D)) for l in range(L)]
        elif form == "np_int":
            rank = np.int64(rank)
        weights: object = torch.stack(Ws) if form == "stack" else Ws
    elif fault == "weight":
        i = rec("i", st.integers(0, L - 1))
        weights = list(Ws)
        weights[i] = bad_matrix(rec, f"weights[{i}]", Ws[i])
        names = (rf"weights\[{i}\]",)
    elif fault == "weights":
        weights, names = bad_container(rec, "weights", D), (r"weights",)
    else:
        weights = Ws
        if fault == "target":
            target, names = bad_matrix(rec, "target", target), (r"target",)
        elif fault == "rank":
            rank, names = bad_rank(rec, "rank", D), (r"\brank\b",)
        elif fault == "rank_list":
            rank, pattern = rank_list(rec, "rank", L, D)
            names = (pattern,)
        else:
            kw[fault] = bad_scalar(rec, fault, none_ok=fault == "tau")  # tau=None: the dtype-aware default
            names = (fault,)

    def check(c):
        assert isinstance(c, LinearConstruction)
        assert len(c.adapters) == L and len(c.ranks) == L
        for p, r in zip(c.adapters, c.ranks):
            assert isinstance(p, LoRAPair) and p.shape == (D, D) and p.rank <= r and p.B.dtype == dtype

    return rec.case("construct_linear", fault, lambda: construct_linear(weights, target, rank, **kw), names, check)


def test_construct_linear_contract():
    run_counted(construct_linear_cases())


# ---------------------------------------------------------------------------------------------------------------
# LinearChain(weights) and chain(x)
# ---------------------------------------------------------------------------------------------------------------

def input_fault(rec: Rec, D: int, dtype, seed: int, *, name: str = "x") -> tuple[object, tuple[str, ...], bool]:
    """A malformed row input x for a width-D model; returns (x, names, nan_ok)."""
    fault = rec(f"{name}.fault", st.sampled_from(("non_tensor", "0d", "3d", "wrong_width", "bad_dtype", "mixed",
                                                  "nonfinite")))
    good = randn(2, D, seed=seed + 5, dtype=dtype)
    names = (rf"\b{name}\b",)
    if fault == "non_tensor":
        return non_tensor(rec, name, good), names, False
    if fault == "0d":
        return torch.tensor(1.0, dtype=dtype), names, False
    if fault == "3d":
        return good[None].repeat(2, 1, 1), names, False
    if fault == "wrong_width":
        k = rec(f"{name}.width", st.sampled_from([d for d in range(1, 5) if d != D]))
        return torch.ones(2, k, dtype=dtype), names, False
    if fault == "bad_dtype":
        return good.to(rec(f"{name}.dtype", st.sampled_from(BAD_DTYPES))), names, False
    if fault == "mixed":
        return good.to(F32 if dtype == F64 else F64), names, False
    out = good.clone()
    out[rec(f"{name}.row", st.integers(0, 1)), rec(f"{name}.col", st.integers(0, D - 1))] = \
        rec(f"{name}.value", st.sampled_from(NONFINITE))
    return out, names, True  # a forward pass may refuse NaN/inf inputs or propagate them


def weight_faults(i: int, L: int) -> tuple[str, ...]:
    """Faults of weights[i] that make a chain of L layers (with nothing else to compare to) invalid."""
    return MATRIX_FAULTS if L > 1 else tuple(f for f in MATRIX_FAULTS if f not in ("wrong_width", "mixed"))


@st.composite
def linear_chain_cases(draw):
    rec = Rec(draw)
    D, L, seed, dtype = dims(rec)
    Ws = [well_conditioned(D, seed + l, dtype) for l in range(L)]
    x: object = randn(rec("n", st.integers(1, 3)), D, seed=seed + 3, dtype=dtype)
    if rec("x_1d", st.booleans()):
        x = x[0]
    weights: object = Ws
    names: tuple[str, ...] = ()
    nan_ok = False
    fault = fault_or_valid(rec, ("weight", "weights", "x"))
    if fault == "weight":
        i = rec("i", st.integers(0, L - 1))
        weights = list(Ws)
        weights[i] = bad_matrix(rec, f"weights[{i}]", Ws[i], weight_faults(i, L))
        names = (rf"weights\[{i}\]",)
    elif fault == "weights":
        weights, names = bad_container(rec, "weights", D), (r"weights",)
    elif fault == "x":
        x, names, nan_ok = input_fault(rec, D, dtype, seed)
    x_shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None

    def call():
        return LinearChain(weights)(x)

    def check(y):
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == x_shape and y.dtype == dtype

    return rec.case("LinearChain", fault, call, names, check, nan_ok)


def test_linear_chain_contract():
    run_counted(linear_chain_cases())


# ---------------------------------------------------------------------------------------------------------------
# LoRAPair(B, A) and .merge(W) / .apply(x) / .pad_to(r)
# ---------------------------------------------------------------------------------------------------------------

FACTOR_FAULTS = ("1d", "3d", "bad_dtype", "mixed", "nonfinite", "non_tensor", "inner_mismatch")


@st.composite
def lora_pair_cases(draw):
    rec = Rec(draw)
    d_out = rec("d_out", st.integers(1, 4))
    d_in = rec("d_in", st.integers(1, 4))
    r = rec("r", st.integers(0, min(d_out, d_in)))
    seed = rec("seed", st.integers(0, 2 ** 31 - 1))
    dtype = rec("dtype", st.sampled_from((F64, F32)))
    B, A = randn(d_out, r, seed=seed, dtype=dtype), randn(r, d_in, seed=seed + 1, dtype=dtype)
    W = randn(d_out, d_in, seed=seed + 2, dtype=dtype)
    x = randn(rec("n", st.integers(1, 3)), d_in, seed=seed + 3, dtype=dtype)
    method = rec("method", st.sampled_from(("merge", "apply", "pad_to")))
    pad = rec("pad", st.integers(r, max(d_out, d_in)))
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("B", "A", "arg"))
    if fault in ("B", "A"):
        good = B if fault == "B" else A
        faults = FACTOR_FAULTS if r > 0 else tuple(f for f in FACTOR_FAULTS if f != "nonfinite")
        kind = rec(f"{fault}.fault", st.sampled_from(faults))
        if kind == "inner_mismatch":
            bad = torch.ones(d_out, r + 1, dtype=dtype) if fault == "B" else torch.ones(r + 1, d_in, dtype=dtype)
        elif kind == "1d":
            bad = torch.ones(max(good.numel(), 1), dtype=dtype)
        elif kind == "3d":
            bad = good[None].clone()
        elif kind == "bad_dtype":
            bad = good.to(rec(f"{fault}.dtype", st.sampled_from(BAD_DTYPES)))
        elif kind == "mixed":
            bad = good.to(F32 if dtype == F64 else F64)
        elif kind == "nonfinite":
            bad = good.clone()
            bad[rec(f"{fault}.row", st.integers(0, good.shape[0] - 1)),
                rec(f"{fault}.col", st.integers(0, good.shape[1] - 1))] = rec(f"{fault}.value",
                                                                              st.sampled_from(NONFINITE))
        else:
            bad = non_tensor(rec, fault, good)
        B, A = (bad, A) if fault == "B" else (B, bad)
        names = (rf"\b{fault}\b",)
    elif fault == "arg":
        if method == "merge":
            W = bad_matrix(rec, "W", W, ("1d", "3d", "bad_dtype", "mixed", "nonfinite", "non_tensor", "empty",
                                         "non_square"))
            names = (r"\bW\b",)
        elif method == "apply":
            x, names, _ = input_fault(rec, d_in, dtype, seed)
            names = (r"\bx\b",)
        else:
            pad = bad_rank(rec, "r", max(d_out, d_in), minimum=0)
            if pad == 0 and r == 0:  # pad_to(0) of a rank-0 pair is valid; make it out of range instead
                pad = -1
            if r > 0 and rec("below_rank", st.booleans()):
                pad = r - 1
            names = (r"\br\b",)

    def call():
        p = LoRAPair(B, A)
        return p, (p.merge(W) if method == "merge" else p.apply(x) if method == "apply" else p.pad_to(pad))

    def check(res):
        p, out = res
        assert isinstance(p, LoRAPair) and p.shape == (d_out, d_in) and p.rank == r
        if method == "merge":
            assert isinstance(out, torch.Tensor) and tuple(out.shape) == (d_out, d_in) and out.dtype == dtype
        elif method == "apply":
            assert isinstance(out, torch.Tensor) and tuple(out.shape) == (x.shape[0], d_out) and out.dtype == dtype
        else:
            assert isinstance(out, LoRAPair) and out.rank == pad and out.shape == (d_out, d_in)

    return rec.case(f"LoRAPair.{method}", fault, call, names, check)


def test_lora_pair_contract():
    run_counted(lora_pair_cases())


# ---------------------------------------------------------------------------------------------------------------
# ReLUFNN(weights, biases, final_relu) and net(x)
# ---------------------------------------------------------------------------------------------------------------

def relu_fnn(D: int, L: int, seed: int, dtype=F64, final_relu: bool = True) -> ReLUFNN:
    return ReLUFNN(tuple(well_conditioned(D, seed + l, dtype) for l in range(L)),
                   tuple(randn(D, seed=seed + 50 + l, dtype=dtype) for l in range(L)), final_relu)


@st.composite
def relu_fnn_cases(draw):
    rec = Rec(draw)
    D, L, seed, dtype = dims(rec)
    final_relu = rec("final_relu", st.booleans())
    Ws = [well_conditioned(D, seed + l, dtype) for l in range(L)]
    bs = [randn(D, seed=seed + 50 + l, dtype=dtype) for l in range(L)]
    x: object = randn(rec("n", st.integers(1, 3)), D, seed=seed + 3, dtype=dtype)
    weights: object = Ws
    biases: object = bs
    names: tuple[str, ...] = ()
    nan_ok = False
    fault = fault_or_valid(rec, ("weight", "weights", "bias", "biases", "x"))
    if fault == "valid" and rec("biases_as_matrix", st.booleans()):
        biases = torch.stack(bs)  # an (L, D) tensor is accepted
    if fault == "weight":
        i = rec("i", st.integers(0, L - 1))
        weights = list(Ws)
        weights[i] = bad_matrix(rec, f"weights[{i}]", Ws[i])  # biases pin D and the dtype, so every fault is bad
        names = (rf"weights\[{i}\]", r"biases\[\d+\]") if L == 1 or i == 0 else (rf"weights\[{i}\]",)
    elif fault == "weights":
        weights, names = bad_container(rec, "weights", D), (r"weights",)
    elif fault == "bias":
        i = rec("i", st.integers(0, L - 1))
        biases = list(bs)
        biases[i] = bad_vector(rec, f"biases[{i}]", bs[i])
        names = (rf"biases\[{i}\]",)
    elif fault == "biases":
        kind = rec("biases.container", st.sampled_from(("none", "too_few", "too_many", "str", "tensor_3d")))
        biases = {"none": None, "too_few": bs[:-1], "too_many": bs + bs[:1], "str": "b",
                  "tensor_3d": torch.stack(bs)[None]}[kind]
        names = (r"biases",)
    elif fault == "x":
        x, names, nan_ok = input_fault(rec, D, dtype, seed)
    x_shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None

    def check(y):
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == x_shape and y.dtype == dtype
        if final_relu:
            assert bool((y >= 0).all())

    return rec.case("ReLUFNN", fault, lambda: ReLUFNN(weights, biases, final_relu)(x), names, check, nan_ok)


def test_relu_fnn_contract():
    run_counted(relu_fnn_cases())


# ---------------------------------------------------------------------------------------------------------------
# Ball(width, radius), Box(width, low, high)
# ---------------------------------------------------------------------------------------------------------------

WIDTH_FAULTS = ("zero", "negative", "float", "bool", "str", "none")


def bad_width(rec: Rec) -> object:
    fault = rec("width.fault", st.sampled_from(WIDTH_FAULTS))
    return {"zero": 0, "negative": -rec("width.minus", st.integers(1, 3)), "float": 2.0, "bool": True, "str": "2",
            "none": None}[fault]


@st.composite
def ball_cases(draw):
    rec = Rec(draw)
    width = rec("width", st.integers(1, 6))
    radius: object = rec("radius", st.floats(1e-6, 1e6))
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("width", "radius"))
    if fault == "width":
        width, names = bad_width(rec), (r"width",)
    elif fault == "radius":
        radius, names = bad_scalar(rec, "radius"), (r"radius",)

    def check(b):
        assert isinstance(b, Ball) and b.width == width and b.norm_bound() == float(radius)

    return rec.case("Ball", fault, lambda: Ball(width, radius), names, check)


def test_ball_contract():
    run_counted(ball_cases())


@st.composite
def box_cases(draw):
    rec = Rec(draw)
    width = rec("width", st.integers(1, 4))
    low: object = [rec(f"low[{j}]", st.floats(-10, 0)) for j in range(width)]
    high: object = [rec(f"high[{j}]", st.floats(0, 10)) for j in range(width)]
    if rec("scalar_bounds", st.booleans()):
        low, high = min(low), max(high)
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("width", "low", "high", "crossed"))
    if fault == "width":
        width, names = bad_width(rec), (r"width",)
    elif fault in ("low", "high"):
        good = ([low] * width if isinstance(low, float) else list(low)) if fault == "low" else \
            ([high] * width if isinstance(high, float) else list(high))
        kind = rec(f"{fault}.fault", st.sampled_from(("nonfinite", "entry", "too_short", "too_long", "none",
                                                      "object", "scalar_nonfinite")))
        if kind == "nonfinite":
            good[rec(f"{fault}.index", st.integers(0, width - 1))] = rec(f"{fault}.value",
                                                                         st.sampled_from(NONFINITE))
            bad: object = good
        elif kind == "entry":
            good[rec(f"{fault}.index", st.integers(0, width - 1))] = rec(
                f"{fault}.entry", st.sampled_from(("0", None, True, 1j, [0.0])))
            bad = good
        elif kind == "too_short":
            bad = good[:-1] if width > 1 else []
        elif kind == "too_long":
            bad = good + good[:1]
        elif kind == "none":
            bad = None
        elif kind == "object":
            bad = object()
        else:
            bad = rec(f"{fault}.value", st.sampled_from(NONFINITE))
        if fault == "low":
            low = bad
        else:
            high = bad
        names = (rf"\b{fault}\b",)
    elif fault == "crossed":
        j = rec("crossed.index", st.integers(0, width - 1))
        lo = [low] * width if isinstance(low, float) else list(low)
        hi = [high] * width if isinstance(high, float) else list(high)
        lo[j] = hi[j] + rec("crossed.by", st.floats(1e-3, 5))
        low, high = lo, hi
        names = (rf"low\[{j}\]", rf"high\[{j}\]")

    def check(b):
        assert isinstance(b, Box) and b.width == width and len(b.low) == len(b.high) == width
        assert all(a <= c for a, c in zip(b.low, b.high)) and math.isfinite(b.norm_bound())

    return rec.case("Box", fault, lambda: Box(width, low, high), names, check)


def test_box_contract():
    run_counted(box_cases())


# ---------------------------------------------------------------------------------------------------------------
# uniform_partition(depth, target_depth), validate_partition(sizes, depth, target_depth)
# ---------------------------------------------------------------------------------------------------------------

DEPTH_FAULTS = ("zero", "negative", "float", "bool", "str", "none")


def bad_depth(rec: Rec, label: str) -> object:
    fault = rec(f"{label}.fault", st.sampled_from(DEPTH_FAULTS))
    return {"zero": 0, "negative": -rec(f"{label}.minus", st.integers(1, 3)), "float": 2.0, "bool": True,
            "str": "2", "none": None}[fault]


@st.composite
def uniform_partition_cases(draw):
    rec = Rec(draw)
    L = rec("L", st.integers(1, 12))
    Lbar: object = rec("Lbar", st.integers(1, L))
    depth: object = L
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("depth", "target_depth", "too_deep"))
    if fault == "depth":
        depth, names = bad_depth(rec, "depth"), (r"frozen depth",)
    elif fault == "target_depth":
        Lbar, names = bad_depth(rec, "target_depth"), (r"target depth",)
    elif fault == "too_deep":
        Lbar, names = L + rec("excess", st.integers(1, 3)), (r"target depth L̄=\d+ exceeds",)

    def check(sizes):
        assert isinstance(sizes, tuple) and len(sizes) == Lbar and sum(sizes) == L and min(sizes) >= 1
        assert all(isinstance(n, int) for n in sizes)

    return rec.case("uniform_partition", fault, lambda: uniform_partition(depth, Lbar), names, check)


def test_uniform_partition_contract():
    run_counted(uniform_partition_cases())


@st.composite
def validate_partition_cases(draw):
    rec = Rec(draw)
    L = rec("L", st.integers(1, 8))
    Lbar = rec("Lbar", st.integers(1, L))
    cuts = sorted(rec("cuts", st.sets(st.integers(1, L - 1), min_size=Lbar - 1, max_size=Lbar - 1))) if L > 1 else []
    sizes: object = [b - a for a, b in zip([0] + cuts, cuts + [L])]
    give_target = rec("give_target_depth", st.booleans())
    target: object = len(sizes) if give_target else None
    depth: object = L
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("container", "entry", "sum", "count", "depth"))
    if fault == "valid" and rec("as_tuple", st.booleans()):
        sizes = tuple(sizes)
    elif fault == "container":
        sizes = rec("container", st.sampled_from((None, "21", 3, frozenset({1, 2}), 2.0)))
        names = (r"partition",)
    elif fault == "entry":
        pos = rec("pos", st.integers(0, len(sizes) - 1))
        sizes = list(sizes)
        sizes[pos] = rec("entry", st.sampled_from((0, -1, 1.0, 1.5, True, "1", None)))
        names = (r"partition",)
    elif fault == "sum":
        sizes = list(sizes)
        sizes[-1] += rec("delta", st.sampled_from((-1, 1, 2))) if sizes[-1] > 1 else 1
        names = (r"partition",)
    elif fault == "count":
        target = len(sizes) + rec("count_delta", st.sampled_from((-1, 1))) if len(sizes) > 1 else 2
        names = (r"partition", r"target depth")
    elif fault == "depth":  # the frozen depth itself is not a depth: L must be an integer >= 1
        depth = rec("depth.value", st.sampled_from((0, -1, True, 1.0, None, "1")))
        sizes = [] if depth in (0, -1) and depth is not True else [1]  # True == 1 and 1.0 == 1 as dict keys
        target = None
        names = (r"depth", r"partition")

    def check(out):
        assert isinstance(out, tuple) and sum(out) == L and all(isinstance(n, int) and n >= 1 for n in out)
        assert target is None or len(out) == target

    return rec.case("validate_partition", fault, lambda: validate_partition(sizes, depth, target), names, check)


def test_validate_partition_contract():
    run_counted(validate_partition_cases())


# ---------------------------------------------------------------------------------------------------------------
# construct_fnn, assumption1_report, best_partition: a valid (frozen, target) pair with one pair-level fault
# ---------------------------------------------------------------------------------------------------------------

PAIR_FAULTS = ("too_deep", "width", "dtype", "not_a_model")


def fnn_pair(rec: Rec, faults: tuple[str, ...]):
    """(frozen, target, fault, names, D, L, Lbar) for an FNN pair; ``fault`` is 'valid', a pair fault or another
    fault name from ``faults`` for the caller to apply."""
    D, L, seed, dtype = dims(rec)
    Lbar = rec("Lbar", st.integers(1, L))
    final_relu = rec("final_relu", st.booleans())
    fault = fault_or_valid(rec, faults)
    frozen = relu_fnn(D, L, seed, dtype, final_relu)
    names: tuple[str, ...] = ()
    if fault == "too_deep":
        target = relu_fnn(D, L + rec("excess", st.integers(1, 2)), seed + 7, dtype, final_relu)
        names = (r"target depth", r"L̄")
    elif fault == "width":
        target = relu_fnn(rec("target_D", st.sampled_from([d for d in range(1, 5) if d != D])), Lbar, seed + 7,
                          dtype, final_relu)
        names = (r"width", r"\btarget\b")
    elif fault == "dtype":
        target = relu_fnn(D, Lbar, seed + 7, F32 if dtype == F64 else F64, final_relu)
        names = (r"\btarget\b", r"dtype")
    else:
        target = relu_fnn(D, Lbar, seed + 7, dtype, final_relu)
    if fault == "not_a_model":
        which = rec("not_a_model.which", st.sampled_from(("frozen", "target")))
        obj = rec("not_a_model.object", st.sampled_from(("none", "str", "tensor", "chain")))
        bad = {"none": None, "str": "net", "tensor": torch.eye(D, dtype=dtype),
               "chain": LinearChain([torch.eye(D, dtype=dtype)])}[obj]
        frozen, target = (bad, target) if which == "frozen" else (frozen, bad)
        names = (rf"\b{which}\b",)
    return frozen, target, fault, names, D, L, Lbar, dtype


def bad_partition(rec: Rec, L: int, Lbar: int) -> object:
    kind = rec("partition.fault", st.sampled_from(("sum", "zero_block", "count", "entry", "container")))
    base = uniform_partition(L, Lbar)
    if kind == "sum":
        return base[:-1] + (base[-1] + rec("partition.delta", st.sampled_from((-1, 1))),)
    if kind == "zero_block":
        return base[:-1] + (0,) if Lbar > 1 else (0,)
    if kind == "count":
        return base + (1,) if rec("partition.more", st.booleans()) or Lbar == 1 else base[:-2] + (base[-2] + base[-1],)
    if kind == "entry":
        return base[:-1] + (rec("partition.entry", st.sampled_from((float(base[-1]), True, "1", None))),)
    return rec("partition.container", st.sampled_from(("12", 3, frozenset({1}), 2.5)))


@st.composite
def construct_fnn_cases(draw):
    rec = Rec(draw)
    frozen, target, fault, names, D, L, Lbar, dtype = fnn_pair(
        rec, PAIR_FAULTS + ("rank", "domain", "partition", "final_relu"))
    rank: object = rec("rank", st.integers(1, D))
    radius = rec("radius", st.floats(0.1, 10))
    domain: object = Ball(D, radius) if rec("ball", st.booleans()) else Box(D, -radius, radius)
    partition: object = None
    if fault == "valid" and rec("give_partition", st.booleans()):
        partition = uniform_partition(L, Lbar)[::-1]
    elif fault == "rank":
        rank, names = bad_rank(rec, "rank", D), (r"\brank\b",)
    elif fault == "domain":
        kind = rec("domain.fault", st.sampled_from(("width", "float", "none", "str", "tuple")))
        domain = {"width": Ball(D + 1, radius), "float": radius, "none": None, "str": "ball",
                  "tuple": (-radius, radius)}[kind]
        names = (r"domain",)
    elif fault == "partition":
        partition, names = bad_partition(rec, L, Lbar), (r"partition",)
    elif fault == "final_relu":
        target = ReLUFNN(target.weights, target.biases, not target.final_relu)
        names = (r"final_relu",)

    def check(c):
        assert isinstance(c, FNNConstruction)
        assert len(c.adapters) == L and len(c.biases) == L
        assert all(p.shape == (D, D) and p.rank <= c.rank for p in c.adapters)
        assert all(tuple(b.shape) == (D,) and b.dtype == dtype for b in c.biases)

    return rec.case("construct_fnn", fault, lambda: construct_fnn(frozen, target, rank, domain, partition=partition),
                    names, check)


def test_construct_fnn_contract():
    run_counted(construct_fnn_cases())


@st.composite
def assumption1_report_cases(draw):
    rec = Rec(draw)
    frozen, target, fault, names, D, L, Lbar, dtype = fnn_pair(rec, PAIR_FAULTS + ("rank", "partition",
                                                                                    "threshold"))
    rank: object = rec("rank", st.integers(1, D))
    partition: object = None
    kw: dict = {}
    if fault == "rank":
        rank, names = bad_rank(rec, "rank", D), (r"\brank\b",)
    elif fault == "partition":
        partition, names = bad_partition(rec, L, Lbar), (r"partition",)
    elif fault == "threshold":
        kw["threshold"], names = bad_scalar(rec, "threshold"), (r"threshold",)
    elif fault == "valid":
        kw["extended"] = rec("extended", st.booleans())

    def check(entries):
        assert isinstance(entries, list) and len(entries) >= L
        assert all(isinstance(e, AssumptionEntry) and 0.0 <= e.ratio <= 1.0 + 1e-12 for e in entries)
        assert [e.name for e in entries[:L]] == [f"W_{l + 1}" for l in range(L)]

    return rec.case("assumption1_report", fault, lambda: assumption1_report(frozen, target, rank, partition, **kw),
                    names, check)


def test_assumption1_report_contract():
    run_counted(assumption1_report_cases())


@st.composite
def best_partition_cases(draw):
    rec = Rec(draw)
    frozen, target, fault, names, D, L, Lbar, dtype = fnn_pair(rec, PAIR_FAULTS + ("tau",))
    kw: dict = {}
    if fault == "tau":
        kw["tau"], names = bad_scalar(rec, "tau", none_ok=True), (r"\btau\b",)

    def check(res):
        sizes, R = res
        assert isinstance(sizes, tuple) and len(sizes) == Lbar and sum(sizes) == L and min(sizes) >= 1
        assert isinstance(R, int) and 0 <= R <= D

    return rec.case("best_partition", fault, lambda: best_partition(frozen, target, **kw), names, check)


def test_best_partition_contract():
    run_counted(best_partition_cases())


# ---------------------------------------------------------------------------------------------------------------
# TFN(blocks, Wo) and net(X); construct_tfn; tfn_gaps
# ---------------------------------------------------------------------------------------------------------------

HEADS = ("WQ", "WK", "WV", "WO")


def tfn_fields(D: int, H: int, seed: int, dtype) -> dict:
    f = {name: [well_conditioned(D, seed + 10 * k + h, dtype) for h in range(H)] for k, name in enumerate(HEADS)}
    f.update(W1=well_conditioned(D, seed + 101, dtype), b1=randn(D, seed=seed + 102, dtype=dtype),
             W2=well_conditioned(D, seed + 103, dtype), b2=randn(D, seed=seed + 104, dtype=dtype))
    return f


def make_tfn(blocks_fields: list[dict], Wo) -> TFN:
    blocks = [TFNBlock(*(tuple(f[n]) if isinstance(f[n], list) else f[n] for n in HEADS),
                       f["W1"], f["b1"], f["W2"], f["b2"]) for f in blocks_fields]
    return TFN(tuple(blocks), Wo)


def valid_tfn(D: int, L: int, H: int, seed: int, dtype=F64) -> TFN:
    return make_tfn([tfn_fields(D, H, seed + 1000 * l, dtype) for l in range(L)], well_conditioned(D, seed + 7, dtype))


@st.composite
def tfn_cases(draw):
    rec = Rec(draw)
    D, L, seed, dtype = dims(rec, max_D=3, max_L=2)
    H = rec("H", st.integers(1, 2))
    fields = [tfn_fields(D, H, seed + 1000 * l, dtype) for l in range(L)]
    Wo: object = well_conditioned(D, seed + 7, dtype)
    X: object = randn(D, rec("N", st.integers(1, 3)), seed=seed + 9, dtype=dtype)
    if rec("batched", st.booleans()):
        X = torch.stack([X, 2 * X])
    blocks_override = None
    names: tuple[str, ...] = ()
    nan_ok = False
    fault = fault_or_valid(rec, ("head", "ffn", "bias", "head_count", "Wo", "blocks", "X"))
    if fault in ("head", "ffn", "bias", "head_count"):
        l = rec("block", st.integers(0, L - 1))
        f = fields[l]
        if fault == "head":
            name = rec("matrix", st.sampled_from(HEADS))
            h = rec("head", st.integers(0, H - 1))
            f[name] = list(f[name])
            f[name][h] = bad_matrix(rec, f"blocks[{l}].{name}[{h}]", f[name][h])
            names = (rf"blocks\[{l}\]\.{name}\[{h}\]",)
        elif fault == "ffn":
            name = rec("matrix", st.sampled_from(("W1", "W2")))
            f[name] = bad_matrix(rec, f"blocks[{l}].{name}", f[name])
            names = (rf"blocks\[{l}\]\.{name}",)
        elif fault == "bias":
            name = rec("bias", st.sampled_from(("b1", "b2")))
            f[name] = bad_vector(rec, f"blocks[{l}].{name}", f[name])
            names = (rf"blocks\[{l}\]\.{name}",)
        else:
            kind = rec("head_count.fault", st.sampled_from(("one_more", "one_less", "no_heads", "not_a_sequence")))
            name = rec("matrix", st.sampled_from(HEADS))
            if kind == "one_more":
                f[name] = list(f[name]) + [f[name][0]]
            elif kind == "one_less":
                f[name] = list(f[name])[:-1]
            elif kind == "no_heads":
                for n in HEADS:
                    f[n] = []
            else:
                f[name] = torch.stack(list(f[name]))  # an (H, D, D) tensor is not a sequence of heads
            names = (rf"blocks\[{l}\]", r"blocks\[\d\] has \d+ heads")
    elif fault == "Wo":
        Wo = bad_matrix(rec, "Wo", Wo)
        names = (r"\bWo\b",)
    elif fault == "blocks":
        kind = rec("blocks.fault", st.sampled_from(("empty", "none", "single_block", "str_entry", "tensor_entry")))
        blocks_override = kind
        names = (r"\bblocks\b", r"blocks\[\d\]")
    elif fault == "X":
        xf = rec("X.fault", st.sampled_from(("non_tensor", "1d", "wrong_D", "N0", "bad_dtype", "mixed",
                                              "nonfinite")))
        good = X if X.ndim == 2 else X[0]
        if xf == "non_tensor":
            X = non_tensor(rec, "X", good)
        elif xf == "1d":
            X = good[:, 0].clone()
        elif xf == "wrong_D":
            X = torch.ones(rec("X.D", st.sampled_from([d for d in range(1, 5) if d != D])), 2, dtype=dtype)
        elif xf == "N0":
            X = torch.zeros(D, 0, dtype=dtype)
        elif xf == "bad_dtype":
            X = X.to(rec("X.dtype", st.sampled_from(BAD_DTYPES)))
        elif xf == "mixed":
            X = X.to(F32 if dtype == F64 else F64)
        else:
            X = X.clone()
            X[..., rec("X.row", st.integers(0, D - 1)), 0] = rec("X.value", st.sampled_from(NONFINITE))
            nan_ok = True
        names = (r"\bX\b",)
    X_shape = tuple(X.shape) if isinstance(X, torch.Tensor) else None

    def call():
        if blocks_override is None:
            net = make_tfn(fields, Wo)
        else:
            blk = make_tfn(fields, Wo).blocks
            bad = {"empty": (), "none": None, "single_block": blk[0], "str_entry": blk[:-1] + ("block",),
                   "tensor_entry": (torch.eye(D, dtype=dtype),)}[blocks_override]
            net = TFN(bad, Wo)
        return net(X)

    def check(Y):
        assert isinstance(Y, torch.Tensor) and tuple(Y.shape) == X_shape and Y.dtype == dtype

    return rec.case("TFN", fault, call, names, check, nan_ok)


def test_tfn_contract():
    run_counted(tfn_cases())


TFN_PAIR_FAULTS = ("depth", "width", "heads", "dtype", "not_a_model")


def tfn_pair(rec: Rec, faults: tuple[str, ...], max_D: int = 3):
    D, L, seed, dtype = dims(rec, max_D=max_D, max_L=2)
    H = rec("H", st.integers(1, 2))
    fault = fault_or_valid(rec, faults)
    frozen = valid_tfn(D, L, H, seed, dtype)
    tD, tL, tH, tdtype = D, L, H, dtype
    names: tuple[str, ...] = ()
    if fault == "depth":
        tL = rec("target_L", st.sampled_from([x for x in (1, 2, 3) if x != L]))
        names = (r"depth L",)
    elif fault == "width":
        tD = rec("target_D", st.sampled_from([x for x in range(1, 5) if x != D]))
        names = (r"width D",)
    elif fault == "heads":
        tH = rec("target_H", st.sampled_from([x for x in (1, 2, 3) if x != H]))
        names = (r"heads H",)
    elif fault == "dtype":
        tdtype = F32 if dtype == F64 else F64
        names = (r"target\.Wo", r"dtype")
    target = valid_tfn(tD, tL, tH, seed + 5, tdtype)
    if fault == "not_a_model":
        which = rec("not_a_model.which", st.sampled_from(("frozen", "target")))
        obj = rec("not_a_model.object", st.sampled_from(("none", "str", "block", "fnn")))
        bad = {"none": None, "str": "tfn", "block": frozen.blocks[0], "fnn": relu_fnn(D, L, seed, dtype)}[obj]
        frozen, target = (bad, target) if which == "frozen" else (frozen, bad)
        names = (rf"\b{which}\b",)
    return frozen, target, fault, names, D, L, H


@st.composite
def construct_tfn_cases(draw):
    rec = Rec(draw)
    frozen, target, fault, names, D, L, H = tfn_pair(rec, TFN_PAIR_FAULTS + ("rank", "rank", "rank"))
    rank: object = rec("rank", st.integers(1, D))
    if fault == "rank":
        rank, names = bad_rank(rec, "rank", D), (r"\brank\b",)

    def check(c):
        assert isinstance(c, TFNConstruction) and c.rank == rank
        ads = c.adapters()
        assert len(ads) == 4 * H * L + 2
        assert all(isinstance(p, LoRAPair) and p.shape == (D, D) and p.rank <= rank for p in ads.values())
        assert len(c.b1) == len(c.b2) == L

    return rec.case("construct_tfn", fault, lambda: construct_tfn(frozen, target, rank), names, check)


def test_construct_tfn_contract():
    run_counted(construct_tfn_cases())


@st.composite
def tfn_gaps_cases(draw):
    rec = Rec(draw)
    frozen, target, fault, names, D, L, H = tfn_pair(rec, TFN_PAIR_FAULTS)

    def check(g):
        assert isinstance(g, tuple) and len(g) == L + 1 and all(isinstance(v, int) and 0 <= v <= D for v in g)

    return rec.case("tfn_gaps", fault, lambda: tfn_gaps(frozen, target), names, check)


def test_tfn_gaps_contract():
    run_counted(tfn_gaps_cases())


# ---------------------------------------------------------------------------------------------------------------
# certify_linear(weights, target, rank) — nested lists of integers/rationals
# ---------------------------------------------------------------------------------------------------------------

def int_matrix(rec: Rec, label: str, D: int) -> list[list[int]]:
    return rec(label, st.lists(st.lists(st.integers(-2, 2), min_size=D, max_size=D), min_size=D, max_size=D))


@st.composite
def certify_linear_cases(draw):
    rec = Rec(draw)
    D = rec("D", st.integers(1, 3))
    L = rec("L", st.integers(1, 2))
    Ws: list = [[[int(r == c) + (v if r > c else 0) for c, v in enumerate(row)] for r, row in
                 enumerate(int_matrix(rec, f"weights[{l}].lower", D))] for l in range(L)]  # unit lower triangular
    target: object = int_matrix(rec, "target", D)
    rank: object = rec("rank", st.integers(1, D))
    weights: object = Ws
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("weight", "weights", "target", "rank", "rank_list"))
    if fault == "valid" and rec("fraction_entry", st.booleans()):
        target = [list(row) for row in target]
        target[0][0] = Fraction(target[0][0], 2)
    elif fault in ("weight", "target"):
        i = rec("i", st.integers(0, L - 1)) if fault == "weight" else None
        label = f"weights[{i}]" if fault == "weight" else "target"
        good = [list(row) for row in (Ws[i] if fault == "weight" else target)]
        kind = rec(f"{label}.fault", st.sampled_from(("entry", "non_square", "nested_3d", "ragged", "empty",
                                                      "wrong_width", "none", "str") + (("flat",) if D > 1 else ())))
        if kind == "entry":
            good[rec(f"{label}.row", st.integers(0, D - 1))][rec(f"{label}.col", st.integers(0, D - 1))] = rec(
                f"{label}.entry", st.sampled_from((0.5, math.nan, math.inf, True, None, "x", 1j, sp.Float(1.5))))
            bad: object = good
        elif kind == "non_square":
            bad = [row + [0] for row in good]
        elif kind == "flat":
            bad = [v for row in good for v in row]
        elif kind == "nested_3d":
            bad = [good]
        elif kind == "ragged":
            bad = good[:-1] + [good[-1] + [0]]
        elif kind == "empty":
            bad = []
        elif kind == "wrong_width":
            k = rec(f"{label}.width", st.sampled_from([d for d in range(1, 5) if d != D]))
            bad = [[int(r == c) for c in range(k)] for r in range(k)]
        elif kind == "none":
            bad = None
        else:
            bad = "1 0; 0 1"
        if fault == "weight":
            weights = list(Ws)
            weights[i] = bad
            names = (rf"weights\[{i}\]", r"\btarget\b") if i == 0 else (rf"weights\[{i}\]",)
            if kind == "wrong_width" and i == 0:
                names = (r"weights\[\d\]", r"\btarget\b")
        else:
            target, names = bad, (r"\btarget\b",)
    elif fault == "weights":
        weights = rec("weights.container", st.sampled_from((None, [], (), 3, "W")))
        names = (r"weights",)
    elif fault == "rank":
        rank, names = bad_rank(rec, "rank", D), (r"\brank\b",)
    elif fault == "rank_list":
        rank, pattern = rank_list(rec, "rank", L, D)
        names = (pattern,)

    def check(cert):
        assert isinstance(cert, LinearCertificate) and cert.width == D and cert.depth == L
        assert cert.equal == (cert.total_rank >= cert.discrepancy_rank)
        assert all(dr <= r for dr, r in zip(cert.delta_ranks, cert.ranks))

    return rec.case("certify_linear", fault, lambda: certify_linear(weights, target, rank), names, check)


def test_certify_linear_contract():
    run_counted(certify_linear_cases())


# ---------------------------------------------------------------------------------------------------------------
# formulas.evaluate_integer(expr, values)
# ---------------------------------------------------------------------------------------------------------------

FORMULAS = {  # name: (expr, symbols with their minimum value, the value in Python)
    "LEMMA1_THRESHOLD": (F.LEMMA1_THRESHOLD, {F.R_E: 0, F.L: 1}, lambda v: -(-v[F.R_E] // v[F.L])),
    "LINEAR_PARAMETER_COUNT": (F.LINEAR_PARAMETER_COUNT, {F.R: 1, F.D: 1, F.L: 1},
                               lambda v: 2 * v[F.R] * v[F.D] * v[F.L]),
    "THEOREM7_THRESHOLD": (F.THEOREM7_THRESHOLD, {F.G_max: 0}, lambda v: -(-v[F.G_max] // 2)),
    "FNN_PARAMETER_COUNT": (F.FNN_PARAMETER_COUNT, {F.R: 1, F.D: 1, F.L: 1},
                            lambda v: 2 * v[F.R] * v[F.D] * v[F.L] + v[F.D] * v[F.L]),
}


@st.composite
def evaluate_integer_cases(draw):
    rec = Rec(draw)
    fname = rec("formula", st.sampled_from(sorted(FORMULAS)))
    expr, symbols, python = FORMULAS[fname]
    values: object = {s: rec(f"values[{s}]", st.integers(lo, lo + 40)) for s, lo in symbols.items()}
    expr_arg: object = expr
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("value", "missing", "below_domain", "values", "expr"))
    if fault == "missing":  # all values >= 1, so every formula depends on each of its symbols
        values = {s: v + 2 for s, v in values.items()}
        rec.drawn["values (raised by 2)"] = dict(values)
    if fault in ("value", "missing", "below_domain"):
        sym = rec("symbol", st.sampled_from(sorted(symbols, key=str)))
        values = dict(values)
        if fault == "value":
            values[sym] = rec("value", st.sampled_from((2.5, 0.5, math.nan, math.inf, True, "3", None, 1j)))
        elif fault == "missing":
            del values[sym]
        else:
            values[sym] = symbols[sym] - rec("below_by", st.integers(1, 3))
        names = (r"values", re.escape(str(sym)))
    elif fault == "values":
        values = rec("values.object", st.sampled_from((None, [1, 2], 3, "R_E=1")))
        names = (r"values",)
    elif fault == "expr":
        expr_arg = rec("expr.object", st.sampled_from((None, "ceiling(", object, 1.5)))
        names = (r"expr",)

    def check(v):
        assert isinstance(v, int) and v == python(values)

    return rec.case("evaluate_integer", fault, lambda: F.evaluate_integer(expr_arg, values), names, check)


def test_evaluate_integer_contract():
    run_counted(evaluate_integer_cases())


# ---------------------------------------------------------------------------------------------------------------
# CLI: lora-theory threshold / certify
# ---------------------------------------------------------------------------------------------------------------

NOT_INT_TEXT = ("abc", "3.5", "", "1e3", "0x10", "two", "--")
EXTRA_TEXT = st.text(alphabet="ab1 \n\t", min_size=1, max_size=5).filter(lambda s: not s.lstrip().startswith("-"))


def argv_of(flags: dict) -> list[str]:
    out = []
    for k, v in flags.items():
        if v is None:
            continue
        out += [k] if v is True else [k, str(v)]
    return out


@st.composite
def threshold_cases(draw):
    rec = Rec(draw)
    model = rec("model", st.sampled_from(("linear", "fnn", "tfn")))
    width = rec("width", st.one_of(st.integers(1, 64), st.just(10 ** 20)))
    depth = rec("depth", st.integers(1, 12))
    flags: dict = {"--model": model, "--width": width, "--depth": depth}
    if model == "fnn":
        flags["--target-depth"] = rec("target_depth", st.integers(1, depth))
    if model == "tfn":
        flags["--target-depth"] = rec("target_depth", st.sampled_from((None, depth)))
        flags["--heads"] = rec("heads", st.one_of(st.none(), st.integers(1, 8)))
    flags["--discrepancy-rank"] = rec("discrepancy_rank", st.one_of(st.none(), st.integers(0, min(width, 64))))
    flags["--latex"] = rec("latex", st.sampled_from((None, True)))
    extra: list[str] = []
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("width", "depth", "target_depth", "heads", "discrepancy_rank", "model", "missing",
                                 "unknown_flag", "extra"))
    if fault in ("width", "depth"):
        flags[f"--{fault}"] = rec(f"{fault}.bad", st.one_of(st.integers(-5, 0), st.sampled_from(NOT_INT_TEXT)))
        names = (rf"--{fault}",)
    elif fault == "target_depth":
        if model == "fnn":
            flags["--target-depth"] = rec("target_depth.bad", st.one_of(st.integers(depth + 1, depth + 3),
                                                                        st.integers(-2, 0), st.just("x")))
        elif model == "tfn":
            flags["--target-depth"] = rec("target_depth.bad", st.sampled_from(
                [v for v in range(1, depth + 3) if v != depth] + ["x"]))
        else:
            flags["--target-depth"] = rec("target_depth.bad", st.integers(1, depth))
        names = (r"--target-depth", r"--depth")
    elif fault == "heads":
        flags["--heads"] = rec("heads.bad", st.integers(-3, 0) if model == "tfn" else st.integers(1, 3))
        names = (r"--heads",)
    elif fault == "discrepancy_rank":
        flags["--discrepancy-rank"] = rec("discrepancy_rank.bad", st.one_of(
            st.integers(-3, -1), st.just(width + 1) if width < 10 ** 6 else st.just(-1), st.sampled_from(("x",
                                                                                                          "1.5"))))
        names = (r"--discrepancy-rank",)
    elif fault == "model":
        flags["--model"] = rec("model.bad", st.sampled_from(("relu", "LINEAR", "fnn-nope", "", "lin\near")))
        names = (r"--model",)
    elif fault == "missing":
        # the tfn threshold does not depend on L, so `threshold --model tfn` may leave --depth out
        required = ("--model", "--width") if model == "tfn" else ("--model", "--width", "--depth")
        drop = rec("missing.flag", st.sampled_from(required))
        del flags[drop]
        names = (re.escape(drop),)
    elif fault == "unknown_flag":
        extra = [rec("unknown_flag.name", st.sampled_from(("--bogus", "--rank", "--seed", "-q")))]
        names = (r"unrecognized arguments",)
    elif fault == "extra":
        extra = [rec("extra.text", EXTRA_TEXT)]
        names = (r"unrecognized arguments",)
    argv = ["threshold"] + argv_of(flags) + extra
    rec.drawn["argv"] = argv
    return rec.case("cli threshold", fault, lambda: run_cli(argv), names)


def test_cli_threshold_contract():
    run_counted(threshold_cases(), check_cli)


@st.composite
def certify_cases(draw):
    rec = Rec(draw)
    model = rec("model", st.sampled_from(("linear", "fnn", "tfn")))
    # valid sizes stay small: exact sympy arithmetic (a tfn instance with D=3, L=2, H=2 takes ~0.3 s)
    width = rec("width", st.integers(1, 2 if model == "tfn" else 3))
    depth = rec("depth", st.integers(1, 2))
    flags: dict = {"--model": model, "--width": width, "--depth": depth}
    Lbar = 1
    if model == "fnn":
        Lbar = rec("target_depth", st.integers(1, depth))
        flags["--target-depth"] = Lbar if rec("give_target_depth", st.booleans()) else None
    if model == "tfn":
        flags["--target-depth"] = rec("target_depth", st.sampled_from((None, depth)))
        flags["--heads"] = rec("heads", st.sampled_from((None, 1)))
    flags["--rank"] = rec("rank", st.one_of(st.none(), st.integers(1, width)))
    if model == "fnn" and Lbar > 1 and rec("per_block", st.booleans()):
        flags["--target-depth"] = Lbar  # a per-block list needs the L̄ it is counted against (the default is 1)
        flags["--discrepancy-rank"] = ",".join(str(rec(f"K[{i}]", st.integers(0, width))) for i in range(Lbar))
    else:
        flags["--discrepancy-rank"] = rec("discrepancy_rank", st.one_of(st.none(), st.integers(0, width)))
    flags["--seed"] = rec("seed", st.integers(0, 50))
    extra: list[str] = []
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("width", "depth", "target_depth", "heads", "rank", "discrepancy_rank", "seed",
                                 "model", "missing", "extra"))
    if fault == "width":
        flags["--width"] = rec("width.bad", st.one_of(st.integers(-3, 0), st.integers(9, 12),
                                                      st.sampled_from(NOT_INT_TEXT)))
        names = (r"--width",)
    elif fault == "depth":
        flags["--depth"] = rec("depth.bad", st.one_of(st.integers(-3, 0), st.integers(5, 7),
                                                      st.sampled_from(NOT_INT_TEXT)))
        names = (r"--depth",)
    elif fault == "target_depth":
        flags["--target-depth"] = rec("target_depth.bad", st.sampled_from(
            [v for v in range(-1, depth + 3) if v != depth or model == "linear"] + ["x"]))
        if model == "fnn":  # for fnn every 1 ≤ L̄ ≤ L is valid
            flags["--target-depth"] = rec("target_depth.fnn_bad", st.sampled_from((0, -1, depth + 1, "x")))
        names = (r"--target-depth",)
    elif fault == "heads":
        flags["--heads"] = rec("heads.bad", st.sampled_from((0, -1, 5, "x")) if model == "tfn" else
                               st.integers(1, 4))
        names = (r"--heads",)
    elif fault == "rank":
        flags["--rank"] = rec("rank.bad", st.sampled_from((0, -1, width + 1, "x", "1.0")))
        names = (r"--rank",)
    elif fault == "discrepancy_rank":
        bad = [-1, width + 1, "x", "1,,1", ""] + (["1,1"] if model != "fnn" else [",".join(["0"] * (Lbar + 1))])
        flags["--discrepancy-rank"] = rec("discrepancy_rank.bad", st.sampled_from(bad))
        if model == "fnn" and flags["--discrepancy-rank"] == ",".join(["0"] * (Lbar + 1)):
            flags["--target-depth"] = Lbar  # so the count is checked against the given L̄
        names = (r"--discrepancy-rank",)
    elif fault == "seed":
        flags["--seed"] = rec("seed.bad", st.sampled_from(("x", "1.5", "")))
        names = (r"--seed",)
    elif fault == "model":
        flags["--model"] = rec("model.bad", st.sampled_from(("relu", "LINEAR", "", "fnn ")))
        names = (r"--model",)
    elif fault == "missing":
        drop = rec("missing.flag", st.sampled_from(("--model", "--width", "--depth")))
        del flags[drop]
        names = (re.escape(drop),)
    elif fault == "extra":
        extra = [rec("extra.text", EXTRA_TEXT)]
        names = (r"unrecognized arguments",)
    argv = ["certify"] + argv_of(flags) + extra
    rec.drawn["argv"] = argv
    return rec.case("cli certify", fault, lambda: run_cli(argv), names)


def test_cli_certify_contract():
    run_counted(certify_cases(), check_cli)


# ---------------------------------------------------------------------------------------------------------------
# Regressions: exact reproductions of contract violations found by this file, since fixed (explicit phase only)
# ---------------------------------------------------------------------------------------------------------------

def _fnn(D, L, dtype=F64):
    return relu_fnn(D, L, 0, dtype)


def V(entry: str, fault: str, repro: str, names: tuple[str, ...]) -> Case:
    """An explicit example: ``repro`` is the exact call, evaluated in this module (shown in the failure report)."""
    return Case(entry, fault, lambda: eval(repro), names, drawn={"call": repro})


@violations
@example(case=V("assumption1_report", "width", 'assumption1_report(_fnn(3, 2), _fnn(4, 1), 1)',
                (r"width", r"\btarget\b")))  # RuntimeError: The size of tensor a (4) must match ... (3)
@example(case=V("assumption1_report", "not_a_model", 'assumption1_report(None, _fnn(3, 1), 1)',
                (r"\bfrozen\b",)))  # AttributeError: 'NoneType' object has no attribute 'depth'
@example(case=V("assumption1_report", "threshold", 'assumption1_report(_fnn(3, 2), _fnn(3, 1), 1, threshold="1e-9")',
                (r"threshold",)))  # TypeError: '>=' not supported between instances of 'float' and 'str'
@example(case=V("assumption1_report", "threshold", 'assumption1_report(_fnn(3, 2), _fnn(3, 1), 1, threshold=math.nan)',
                (r"threshold",)))  # accepted silently: every entry reported as failing
@example(case=V("assumption1_report", "dtype", 'assumption1_report(_fnn(3, 2), _fnn(3, 1, F32), 1)',
                (r"\btarget\b", r"dtype")))  # accepted silently: mixed float64/float32 (construct_fnn refuses it)
@example(case=V("assumption1_report", "width", 'assumption1_report(_fnn(1, 1), _fnn(2, 1), 1)',
                (r"width", r"\btarget\b")))  # accepted silently: D=1 frozen vs D=2 target broadcasts in W̄ − ∏W
def test_known_violations_assumption1_report(case):
    check_contract(case)


@violations
@example(case=V("best_partition", "width", 'best_partition(_fnn(3, 2), _fnn(4, 1))',
                (r"width", r"\btarget\b")))  # RuntimeError: The size of tensor a (4) must match ... (3)
@example(case=V("best_partition", "not_a_model", 'best_partition(_fnn(3, 2), "net")',
                (r"\btarget\b",)))  # AttributeError: 'str' object has no attribute 'depth'
@example(case=V("best_partition", "tau", 'best_partition(_fnn(3, 2), _fnn(3, 1), tau="x")',
                (r"\btau\b",)))  # TypeError: can't multiply sequence by non-int of type 'float'
@example(case=V("best_partition", "tau", 'best_partition(_fnn(3, 2), _fnn(3, 1), tau=math.nan)',
                (r"\btau\b",)))  # accepted silently: returns ((2,), 0) — rank 0 "needed"
@example(case=V("best_partition", "dtype", 'best_partition(_fnn(3, 2), _fnn(3, 1, F32))',
                (r"\btarget\b", r"dtype")))  # accepted silently: mixed float64/float32
@example(case=V("best_partition", "width", 'best_partition(_fnn(1, 1), _fnn(2, 1))',
                (r"width", r"\btarget\b")))  # accepted silently: returns ((1,), 1) by broadcasting (1,1) to (2,2)
def test_known_violations_best_partition(case):
    check_contract(case)


@violations
@example(case=V("Box", "low", 'Box(2, None, 1.0)',
                (r"\blow\b",)))  # TypeError: 'NoneType' object is not iterable
@example(case=V("Box", "high", 'Box(2, 0.0, object())',
                (r"\bhigh\b",)))  # TypeError: not iterable
def test_known_violations_box(case):
    check_contract(case)


@violations
@example(case=V("validate_partition", "depth", 'validate_partition((), 0)',
                (r"depth", r"partition")))
# accepted silently: returns () for L = 0
@example(case=V("validate_partition", "depth", 'validate_partition((1,), True)',
                (r"depth", r"partition")))
# accepted silently: returns (1,) for L = True
def test_known_violations_validate_partition(case):
    check_contract(case)


@violations
@example(case=V("evaluate_integer", "value", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: 2.5, F.L: 1})',
                (r"values", r"R_E")))  # accepted silently: returns 2 (sp.Integer(2.5) truncates; ⌈2.5⌉ = 3)
@example(case=V("evaluate_integer", "value", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: True, F.L: 1})',
                (r"values", r"R_E")))  # accepted silently: returns 1
@example(case=V("evaluate_integer", "missing", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.L: 1})',
                (r"values", r"R_E")))  # ValueError (not a LoRATheoryError): did not evaluate to an integer: R_E
@example(case=V("evaluate_integer", "below_domain", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: 3, F.L: 0})',
                (r"values", r"\bL\b")))  # ValueError (not a LoRATheoryError): ... zoo
@example(case=V("evaluate_integer", "value", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, {F.R_E: None, F.L: 1})',
                (r"values", r"R_E")))  # TypeError: Argument of Integer should be of numeric type, got None
@example(case=V("evaluate_integer", "values", 'F.evaluate_integer(F.LEMMA1_THRESHOLD, [1, 2])',
                (r"values",)))  # TypeError: cannot convert dictionary update sequence element #0 to a sequence
@example(case=V("evaluate_integer", "expr", 'F.evaluate_integer(None, {})',
                (r"expr",)))
# AttributeError: 'NoneType' object has no attribute 'xreplace'
def test_known_violations_evaluate_integer(case):
    check_contract(case)


@violations
@example(case=V("cli threshold", "extra",
                'run_cli(["threshold", "--model", "linear", "--width", "3", "--depth", "2", "a\\nb"])',
                (r"unrecognized arguments",)))  # exit 2 but two lines on stderr: "...unrecognized arguments: a" / "b"
@example(case=V("cli certify", "extra",
                'run_cli(["certify", "--model", "linear", "--width", "2", "--depth", "1", "\\n"])',
                (r"unrecognized arguments",)))  # exit 2 but two lines on stderr
def test_known_violations_cli(case):
    check_cli(case)
