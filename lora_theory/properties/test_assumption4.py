"""Claim ``assumption4`` — arXiv 2310.17513v3, Assumption 4, p. 37 (non-singularity for the multi-head TFN, App. F.2).

The checker lists σ_min/σ_max of every weight of both TFNs and of the five families of the assumption for every
r ∈ [R], each entry named by block, head, family and r; where exactly one listed matrix is singular (planted), it
flags exactly that one, and the Theorem 7 construction refuses it only when it solves with it (r = R)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.tfn import FAMILIES, WEIGHT, assumption4_report
from lora_theory.claims import get_claim
from lora_theory.constructions.tfn import construct_tfn
from lora_theory.errors import SingularityError
from lora_theory.models import TFN, TFNBlock
from lora_theory.numerics import SINGULARITY_THRESHOLD
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import Example, assert_equal, assert_true, refusal_allowed, regime
from lora_theory.testing.instances import build_offgen_tfn_instance, build_tfn_instance
from lora_theory.testing.strategies import seeds, tfn_instances

pytestmark = pytest.mark.assumption4
CLAIM = "assumption4"

DT = torch.float64
#: (TFNBlock attribute, symbol in the checker's names) of the per-head weights
HEAD_WEIGHTS = (("WQ", "W_Q"), ("WK", "W_K"), ("WV", "W_V"), ("WO", "W_O"))


# --- planting one singular matrix (test helpers) ------------------------------------------------------------------

def _unit(g: torch.Generator, D: int) -> torch.Tensor:
    v = torch.randn(D, generator=g, dtype=DT)
    return v / torch.linalg.vector_norm(v)


def singular_rank_two_move(M: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """E = σ_1u_1v_1ᵀ + (σ_1/2)u_2v_2ᵀ (orthonormal pairs, so LR_1(E) = σ_1u_1v_1ᵀ) with M + σ_1u_1v_1ᵀ singular:
    det(M + σuvᵀ) = det M·(1 + σvᵀM⁻¹u) vanishes at σ_1 = −1/(vᵀM⁻¹u) (u flipped so that σ_1 > 0); M + E itself is
    non-singular for generic u_2, v_2."""
    D = M.shape[0]
    u1, v1 = _unit(g, D), _unit(g, D)
    c = float(v1 @ torch.linalg.solve(M, u1))
    if c > 0:
        u1, c = -u1, -c
    s1 = -1.0 / c
    u2, v2 = _unit(g, D), _unit(g, D)
    u2 = u2 - (u2 @ u1) * u1
    v2 = v2 - (v2 @ v1) * v1
    u2, v2 = u2 / torch.linalg.vector_norm(u2), v2 / torch.linalg.vector_norm(v2)
    return s1 * torch.outer(u1, v1) + 0.5 * s1 * torch.outer(u2, v2)


def plant_family(frozen: TFN, target: TFN, family: str, block: int | None, head: int | None,
                 g: torch.Generator) -> TFN:
    """A new target whose ``family`` matrix of (block, head) at r = 1 is singular: its calibrated target T is set to
    M + E (M the frozen product, E from :func:`singular_rank_two_move`) by changing one target weight (W̄_Q for a
    score, W̄_V for a value, W̄_2L for the output), solving the paper's relation for it. Blocks and heads 1-based."""
    blocks = list(target.blocks)
    if family == "output":
        M = frozen.Wo @ frozen.blocks[-1].W2
        T = M + singular_rank_two_move(M, g)
        blocks[-1] = dataclasses.replace(blocks[-1], W2=torch.linalg.solve(target.Wo, T))  # W̄_oW̄_2L = T
        return dataclasses.replace(target, blocks=tuple(blocks))
    l, h = block - 1, head - 1
    D = frozen.width
    # C⁻¹ = W_{2,l−1} W̄_{2,l−1}⁻¹ (identity for l = 1), from a solve with W̄_{2,l−1}ᵀ
    Cinv = (torch.eye(D, dtype=DT) if l == 0
            else torch.linalg.solve(target.blocks[l - 1].W2.T, frozen.blocks[l - 1].W2.T).T)
    fb, tb = frozen.blocks[l], blocks[l]
    if family.startswith("score"):
        M = fb.WK[h].T @ fb.WQ[h]
        T = M + singular_rank_two_move(M, g)
        WQ = list(tb.WQ)
        WQ[h] = torch.linalg.solve(tb.WK[h].T, Cinv.T @ T @ Cinv)  # CᵀW̄_KᵀW̄_Q C = T
        blocks[l] = dataclasses.replace(tb, WQ=tuple(WQ))
    else:
        M = fb.WO[h] @ fb.WV[h]
        T = M + singular_rank_two_move(M, g)
        WV = list(tb.WV)
        WV[h] = torch.linalg.solve(tb.W1 @ tb.WO[h], fb.W1 @ T @ Cinv)  # W_1⁻¹W̄_1W̄_OW̄_V C = T
        blocks[l] = dataclasses.replace(tb, WV=tuple(WV))
    return dataclasses.replace(target, blocks=tuple(blocks))


def make_singular(W: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """W(I − vvᵀ) for a random unit v: rank D − 1."""
    v = _unit(g, W.shape[0])
    return W - torch.outer(W @ v, v)


def replace_weight(net: TFN, kind: str, block: int | None, head: int | None, W: torch.Tensor) -> TFN:
    if kind == "W_o":
        return dataclasses.replace(net, Wo=W)
    blocks = list(net.blocks)
    b = blocks[block - 1]
    if kind in ("W_1", "W_2"):
        blocks[block - 1] = dataclasses.replace(b, **{kind.replace("_", ""): W})
    else:
        attr = dict((s, a) for a, s in HEAD_WEIGHTS)[kind]
        mats = list(getattr(b, attr))
        mats[head - 1] = W
        blocks[block - 1] = dataclasses.replace(b, **{attr: tuple(mats)})
    return dataclasses.replace(net, blocks=tuple(blocks))


def get_weight(net: TFN, kind: str, block: int | None, head: int | None) -> torch.Tensor:
    if kind == "W_o":
        return net.Wo
    b = net.blocks[block - 1]
    if kind in ("W_1", "W_2"):
        return getattr(b, kind.replace("_", ""))
    return getattr(b, dict((s, a) for a, s in HEAD_WEIGHTS)[kind])[head - 1]


def weight_name(model: str, kind: str, block: int | None, head: int | None) -> str:
    """The checker's name of a weight (its documented naming scheme)."""
    if kind == "W_o":
        return f"{model} W_o"
    return f"{model} {kind} (block {block}" + (f", head {head})" if head else ")")


def expected_keys(D: int, L: int, H: int, R: int) -> set[tuple]:
    """(family, model, weight symbol, block, head, r) of every matrix Assumption 4 lists (p. 37), written out from
    the paper."""
    keys = set()
    for model in ("frozen", "target"):
        keys.add((WEIGHT, model, "W_o", None, None, None))
        for l in range(1, L + 1):
            keys |= {(WEIGHT, model, k, l, None, None) for k in ("W_1", "W_2")}
            keys |= {(WEIGHT, model, k, l, h, None) for _, k in HEAD_WEIGHTS for h in range(1, H + 1)}
    for r in range(1, R + 1):
        keys.add(("output", None, None, None, None, r))
        for l in range(1, L + 1):
            first = "(l = 1)" if l == 1 else "(l > 1)"
            for h in range(1, H + 1):
                keys |= {(f"score {first}", None, None, l, h, r), (f"value {first}", None, None, l, h, r)}
    return keys


# --- strategies (private) -----------------------------------------------------------------------------------------

@st.composite
def planted_family_cases(draw: st.DrawFn):
    """A conditioned random pair (D ≥ 2) with one family matrix at r = 1 made singular, and a rank R."""
    D = draw(st.integers(2, 5), label="width D")
    L = draw(st.integers(1, 3), label="depth L")
    H = draw(st.integers(1, 2), label="heads H")
    family = draw(st.sampled_from([f for f in FAMILIES if L > 1 or "l > 1" not in f]), label="planted family")
    block = None if family == "output" else (1 if "l = 1" in family else draw(st.integers(2, L), label="block"))
    head = None if family == "output" else draw(st.integers(1, H), label="head")
    R = draw(st.integers(1, D), label="LoRA rank R")
    seed = draw(seeds(), label="seed")
    return D, L, H, family, block, head, R, seed


def _planted(D, L, H, family, block, head, seed):
    inst = build_tfn_instance(D, L, H, seed=seed)
    target = plant_family(inst.frozen, inst.target, family, block, head, generator(seed + 1))
    return inst, target


WEIGHT_KINDS = ("W_Q", "W_K", "W_V", "W_O", "W_1", "W_2", "W_o")


@st.composite
def planted_weight_cases(draw: st.DrawFn):
    """A conditioned random pair (D ≥ 2) with one weight of one model made rank D − 1, and a rank R."""
    D = draw(st.integers(2, 5), label="width D")
    L = draw(st.integers(1, 3), label="depth L")
    H = draw(st.integers(1, 2), label="heads H")
    model = draw(st.sampled_from(("frozen", "target")), label="model")
    kind = draw(st.sampled_from(WEIGHT_KINDS), label="weight")
    block = None if kind == "W_o" else draw(st.integers(1, L), label="block")
    head = draw(st.integers(1, H), label="head") if kind in ("W_Q", "W_K", "W_V", "W_O") else None
    R = draw(st.integers(1, D), label="LoRA rank R")
    seed = draw(seeds(), label="seed")
    return D, L, H, model, kind, block, head, R, seed


def _key(e) -> tuple:
    """(family, model, weight symbol, block, head, r); the symbol only for weights (a family entry's ``matrix`` is
    its formula)."""
    return (e.family, e.model, e.matrix if e.family == WEIGHT else None, e.block, e.head, e.r)


# --- properties ---------------------------------------------------------------------------------------------------

@given(inst=tfn_instances(max_width=5, max_depth=3, max_heads=3), data=st.data())
@example(inst=build_tfn_instance(3, 3, 2, seed=0), data=None).via("three blocks, two heads")
def test_assumption4_lists_every_matrix(inst, data):
    """The report lists exactly the matrices of the paper's list — every weight of both models and each family at
    every block, head and r ∈ [R] — as many as the sympy count 2(L(4H + 2) + 1) + R(2HL + 1), under unique names;
    every σ_min/σ_max is finite and in [0, 1]."""
    D, L, H = inst.frozen.width, inst.frozen.depth, inst.frozen.heads
    R = data.draw(st.integers(1, D), label="LoRA rank R") if data is not None else D
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    report = assumption4_report(inst.frozen, inst.target, R)
    count = F.evaluate_integer(get_claim(CLAIM).formulas["count"], {F.L: L, F.H: H, F.R: R})
    assert_equal(ex, len(report), expected=count, name="lists_every_matrix",
                 what="number of listed matrices vs 2(L(4H + 2) + 1) + R(2HL + 1)")
    seen = [_key(e) for e in report]
    assert_equal(ex, len(set(seen)), expected=len(seen), name="lists_every_matrix",
                 what="distinct (family, model, weight, block, head, r) keys")
    assert_equal(ex, set(seen), expected=expected_keys(D, L, H, R), name="lists_every_matrix",
                 what="(family, model, weight, block, head, r) of the listed matrices vs the paper's list")
    names = [e.name for e in report]
    assert_equal(ex, len(set(names)), expected=len(names), name="lists_every_matrix", what="distinct entry names")
    bad = [(e.name, e.ratio) for e in report if not (math.isfinite(e.ratio) and 0.0 <= e.ratio <= 1.0)]
    assert_true(ex, not bad, name="lists_every_matrix", what="every σ_min/σ_max finite and in [0, 1]", seen=bad)
    solved = {(e.family, e.r) for e in report if e.construction_solves and e.family != WEIGHT}
    assert_equal(ex, {r for _, r in solved}, expected={R}, name="lists_every_matrix",
                 what="family entries the construction solves with: only r = R")
    regime(f"L = {L}, H = {H}")


@given(case=planted_family_cases())
@example(case=(3, 2, 2, "score (l > 1)", 2, 2, 1, 0)).via("calibrated score family, R = 1: construction refuses")
@example(case=(4, 2, 1, "value (l > 1)", 2, 1, 3, 1)).via("calibrated value family, R = 3")
@example(case=(2, 1, 1, "output", None, None, 1, 2)).via("output family, D = 2")
def test_assumption4_planted_family_is_named(case):
    """One family matrix at r = 1 made singular (through a target weight chosen to solve the paper's relation, with
    a non-trivial calibration W̄_{2,l−1}W_{2,l−1}⁻¹ for l > 1): the report flags exactly that entry — by family,
    block, head and r — and nothing else; the construction refuses it (naming that chain) at R = 1, where it solves
    with it, and is not stopped by it for R ≥ 2, where it does not."""
    D, L, H, family, block, head, R, seed = case
    inst, target = _planted(D, L, H, family, block, head, seed)
    ex = Example(CLAIM, f"plant_family(build_tfn_instance({D}, {L}, {H}, seed={seed}), {family!r}, block={block}, "
                        f"head={head}, generator({seed + 1})), R={R}")
    report = assumption4_report(inst.frozen, target, R)
    failing = [_key(e) for e in report.failing()]
    assert_equal(ex, failing, expected=[(family, None, None, block, head, 1)], name="planted_named",
                 what="the failing entries of the report (family, model, weight, block, head, r)")
    planted = next(e for e in report if _key(e) == (family, None, None, block, head, 1))
    assert_true(ex, planted.ratio < SINGULARITY_THRESHOLD, name="planted_named",
                what=f"σ_min/σ_max of the planted matrix below {SINGULARITY_THRESHOLD:g}", seen=f"{planted.ratio:.3e}")
    chain = {"score": "score chain", "value": "value/output chain", "output": "output chain"}[family.split(" ")[0]]
    where = f"block {block}, head {head}, {chain}" if block else chain
    if R == 1:
        with pytest.raises(SingularityError) as info:
            construct_tfn(inst.frozen, target, R)
        assert_true(ex, str(info.value).startswith(where), name="planted_refused",
                    what=f"the construction's refusal at R = 1 names '{where}'", seen=str(info.value)[:200])
        regime("R = 1: the construction solves with the planted matrix and refuses it")
    else:
        with refusal_allowed(ex, name="planted_not_used", what="construct_tfn at R ≥ 2") as outcome:
            construct_tfn(inst.frozen, target, R)
        assert_true(ex, not outcome.refused, name="planted_not_used",
                    what="the construction at R ≥ 2 (it never solves with the r = 1 entry) answers",
                    seen=f"refused: {outcome.error}")
        regime("R ≥ 2: the planted r = 1 entry is listed but not used")
    regime(f"planted: {family}")


@given(case=planted_weight_cases())
@example(case=(3, 2, 1, "frozen", "W_1", 2, None, 2, 0)).via("singular frozen W_1: refused by name")
@example(case=(3, 2, 2, "target", "W_2", 1, None, 3, 0)).via("singular target W̄_2 of block 1, R = D")
def test_assumption4_planted_weight_is_named(case):
    """One weight made rank D − 1: the report flags that weight and, when R = D (then LR_D is the whole discrepancy
    and the family matrix is the calibrated target product itself), exactly the family entries at r = D whose
    target product contains it — nothing else. A singular frozen W_1, or frozen W_2 of a block < L, which the list
    inverts, is refused by a SingularityError naming it."""
    D, L, H, model, kind, block, head, R, seed = case
    inst = build_tfn_instance(D, L, H, seed=seed)
    nets = {"frozen": inst.frozen, "target": inst.target}
    W = make_singular(get_weight(nets[model], kind, block, head), generator(seed + 1))
    nets[model] = replace_weight(nets[model], kind, block, head, W)
    name = weight_name(model, kind, block, head)
    ex = Example(CLAIM, f"build_tfn_instance({D}, {L}, {H}, seed={seed}) with {name} made singular "
                        f"(make_singular, generator({seed + 1})), R={R}")
    if model == "frozen" and (kind == "W_1" or (kind == "W_2" and block < L)):
        with pytest.raises(SingularityError) as info:
            assumption4_report(nets["frozen"], nets["target"], R)
        assert_equal(ex, info.value.where, expected=name, name="planted_refused",
                     what="the refusal names the singular matrix the list inverts")
        regime("frozen W_1 / W_2 singular: refused by name")
        return
    report = assumption4_report(nets["frozen"], nets["target"], R)
    expected = {(WEIGHT, model, kind, block if kind != "W_o" else None, head, None)}
    if model == "target" and R == D:
        heads = range(1, H + 1)
        if kind in ("W_Q", "W_K"):
            expected.add((f"score {'(l = 1)' if block == 1 else '(l > 1)'}", None, None, block, head, D))
        elif kind in ("W_V", "W_O"):
            expected.add((f"value {'(l = 1)' if block == 1 else '(l > 1)'}", None, None, block, head, D))
        elif kind == "W_1":
            expected |= {(f"value {'(l = 1)' if block == 1 else '(l > 1)'}", None, None, block, h, D) for h in heads}
        elif kind == "W_2" and block < L:  # W̄_{2,l} enters block l + 1 through the calibration
            expected |= {(f"{f} (l > 1)", None, None, block + 1, h, D) for f in ("score", "value") for h in heads}
        else:  # W̄_o, or W̄_2 of the last block
            expected.add(("output", None, None, None, None, D))
    failing = {_key(e) for e in report.failing()}
    assert_equal(ex, failing, expected=expected, name="planted_named",
                 what=f"the failing entries with {name} singular (family, model, weight, block, head, r)")
    assert_true(ex, report.entry(name).ratio < SINGULARITY_THRESHOLD, name="planted_named",
                what=f"σ_min/σ_max of {name} below {SINGULARITY_THRESHOLD:g}", seen=f"{report.entry(name).ratio:.3e}")
    regime(f"{model} {kind} singular" + (", R = D" if R == D else ""))


# --- off the generators: user inputs --------------------------------------------------------------------------------

USER_POPULATIONS = ("gaussian", "xavier", "tiny_change", "zero_discrepancy", "diagonal", "singular_weight",
                    "overflow")


def _diagonal_tfn(D: int, L: int, H: int, dynamic_range: float, g: torch.Generator) -> TFN:
    """Every matrix diagonal, |entries| log-uniform in [1, dynamic_range], random signs; biases 0."""
    def diag() -> torch.Tensor:
        logs = torch.rand(D, generator=g, dtype=DT) * math.log10(dynamic_range)
        signs = torch.where(torch.rand(D, generator=g, dtype=DT) < 0.5, -1.0, 1.0).to(DT)
        return torch.diag(signs * 10.0 ** logs)

    zero = torch.zeros(D, dtype=DT)
    blocks = tuple(TFNBlock(tuple(diag() for _ in range(H)), tuple(diag() for _ in range(H)),
                            tuple(diag() for _ in range(H)), tuple(diag() for _ in range(H)), diag(), zero, diag(),
                            zero) for _ in range(L))
    return TFN(blocks, diag())


def user_pair(kind: str, D: int, L: int, H: int, seed: int, *, dynamic_range: float = 1e4,
              singular: tuple | None = None) -> tuple:
    """(kind, frozen, target, repro) of population ``kind``; ``singular`` = (model, weight, block, head) for
    ``singular_weight``."""
    if kind == "diagonal":
        g = generator(seed)
        frozen, target = _diagonal_tfn(D, L, H, dynamic_range, g), _diagonal_tfn(D, L, H, dynamic_range, g)
        return kind, frozen, target, f"user_pair('diagonal', {D}, {L}, {H}, {seed}, dynamic_range={dynamic_range:g})"
    base = "gaussian" if kind in ("singular_weight", "overflow") else kind
    inst = build_offgen_tfn_instance(base, D, L, H, seed=seed)
    frozen, target = inst.frozen, inst.target
    if kind == "singular_weight":
        model, wkind, block, head = singular
        nets = {"frozen": frozen, "target": target}
        W = make_singular(get_weight(nets[model], wkind, block, head), generator(seed + 1))
        nets[model] = replace_weight(nets[model], wkind, block, head, W)
        frozen, target = nets["frozen"], nets["target"]
    if kind == "overflow":  # W_oW_2L ≈ 1e320: the output family overflows
        frozen = replace_weight(frozen, "W_o", None, None, 1e160 * frozen.Wo)
        frozen = replace_weight(frozen, "W_2", L, None, 1e160 * frozen.blocks[-1].W2)
    return kind, frozen, target, f"user_pair({kind!r}, {D}, {L}, {H}, {seed}, singular={singular!r})"


@st.composite
def user_pairs(draw: st.DrawFn):
    """(kind, frozen, target, repro): unconditioned pairs as users bring them — N(0, 1/D) or Xavier weights, tiny
    changes, zero discrepancy, diagonal weights (dynamic range up to 1e4), one singular weight, and weights so large
    (1e160) that the listed products overflow."""
    kind = draw(st.sampled_from(USER_POPULATIONS), label="population")
    D = draw(st.integers(1, 5), label="width D")
    L = draw(st.integers(1, 2), label="depth L")
    H = draw(st.integers(1, 2), label="heads H")
    seed = draw(seeds(), label="seed")
    rng = draw(st.sampled_from((1e2, 1e4)), label="dynamic range") if kind == "diagonal" else 1e4
    singular = None
    if kind == "singular_weight":
        model = draw(st.sampled_from(("frozen", "target")), label="model")
        wkind = draw(st.sampled_from(WEIGHT_KINDS), label="singular weight")
        block = None if wkind == "W_o" else draw(st.integers(1, L), label="block")
        head = draw(st.integers(1, H), label="head") if wkind in ("W_Q", "W_K", "W_V", "W_O") else None
        singular = (model, wkind, block, head)
    return user_pair(kind, D, L, H, seed, dynamic_range=rng, singular=singular)


@given(pair=user_pairs(), R=st.integers(1, 5))
@example(pair=user_pair("overflow", 3, 2, 2, 0), R=2).via("overflowed output products: NaN entries must fail")
@example(pair=user_pair("singular_weight", 3, 2, 1, 0, singular=("frozen", "W_1", 1, None)), R=1).via(
    "singular frozen W_1: refused by name")
@example(pair=user_pair("diagonal", 4, 2, 2, 0), R=4).via("diagonal weights, dynamic range 1e4")
def test_assumption4_user_inputs_report(pair, R):
    """On user inputs the checker answers: a report in which every entry that passes has a finite σ_min/σ_max ≥ the
    threshold (a NaN from an overflowed product fails, never passes) and every finite ratio lies in [0, 1], or —
    only for a singular frozen W_1 / W_2 of a block < L — a SingularityError naming it; a made-singular weight is
    flagged, and overflowed products are NaN entries that fail."""
    kind, frozen, target, repro = pair
    R = min(R, frozen.width)
    ex = Example(CLAIM, f"{repro}, R={R}", population=kind)
    with refusal_allowed(ex, name="user_inputs", what=f"assumption4_report on a {kind} pair") as outcome:
        report = assumption4_report(frozen, target, R)
    if outcome.refused:
        where = outcome.error.where
        assert_true(ex, kind == "singular_weight" and where.startswith(("frozen W_1", "frozen W_2")),
                    name="user_inputs", what="a refusal only for a singular frozen W_1 or W_2, naming it",
                    seen=f"{kind}: {outcome.error}")
        return
    for e in report:
        assert_true(ex, (not e.passed) or (math.isfinite(e.ratio) and e.ratio >= report.threshold),
                    name="user_inputs", what=f"{e.name} passes only with a finite ratio ≥ the threshold",
                    seen=f"passed={e.passed}, ratio={e.ratio}")
        assert_true(ex, math.isnan(e.ratio) or 0.0 <= e.ratio <= 1.0, name="user_inputs",
                    what=f"σ_min/σ_max of {e.name} in [0, 1] (or NaN, failing)", seen=e.ratio)
    if kind == "singular_weight":
        assert_true(ex, not report.holds, name="user_inputs", what="the made-singular weight is flagged",
                    seen=report.verdict())
    if kind == "overflow":
        nan = [e.name for e in report if math.isnan(e.ratio)]
        assert_true(ex, bool(nan) and not report.holds, name="user_inputs",
                    what="overflowed products give NaN entries, which fail", seen=report.verdict()[:300])
    assert_true(ex, isinstance(report.verdict(), str) and report.verdict().startswith("Assumption 4"),
                name="user_inputs", what="a verdict", seen=report.verdict()[:100])
    regime(f"{kind}: Assumption 4 {'holds' if report.holds else 'fails'}")
