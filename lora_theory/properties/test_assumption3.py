"""Claim ``assumption3`` — arXiv 2310.17513v3, Assumption 3, p. 34 (non-singularity for the single-head TFN,
App. F.1).

The checker lists σ_min/σ_max of every weight of both single-head TFNs and of the five families of the assumption
for every r ∈ [D], each entry named by block, family and r; where exactly one listed matrix is singular (planted),
it flags exactly that one, and the Theorem 8 construction refuses it by name exactly when it solves with it."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.tfn import ASSUMPTION3_FAMILIES, WEIGHT, assumption3_report
from lora_theory.claims import get_claim
from lora_theory.constructions.tfn import construct_tfn_single_head
from lora_theory.errors import SingularityError
from lora_theory.models import TFN
from lora_theory.numerics import SINGULARITY_THRESHOLD
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import Example, assert_equal, assert_true, refusal_allowed, regime
from lora_theory.testing.instances import build_offgen_tfn_instance, build_tfn_instance
from lora_theory.testing.strategies import seeds, tfn_instances

pytestmark = pytest.mark.assumption3
CLAIM = "assumption3"

DT = torch.float64
#: (TFNBlock attribute, symbol in the checker's names) of the single head's weights
HEAD_WEIGHTS = (("WQ", "W_Q"), ("WK", "W_K"), ("WV", "W_V"))
WEIGHT_KINDS = ("W_Q", "W_K", "W_V", "W_1", "W_2", "W_o")


# --- planting one singular matrix (test helpers) ------------------------------------------------------------------

def _unit(g: torch.Generator, D: int) -> torch.Tensor:
    v = torch.randn(D, generator=g, dtype=DT)
    return v / torch.linalg.vector_norm(v)


def singular_rank_two_move(M: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """E = σ_1u_1v_1ᵀ + (σ_1/2)u_2v_2ᵀ (orthonormal pairs, so LR_1(E) = σ_1u_1v_1ᵀ) with M + σ_1u_1v_1ᵀ singular:
    det(M + σuvᵀ) = det M·(1 + σvᵀM⁻¹u) vanishes at σ_1 = −1/(vᵀM⁻¹u) (u flipped so that σ_1 > 0); M + E itself is
    non-singular for generic u_2, v_2, and so is M + LR_r(E) = M + E for every r ≥ 2."""
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


def plant_family(frozen: TFN, target: TFN, family: str, block: int | None, g: torch.Generator) -> TFN:
    """A new single-head target whose ``family`` matrix of ``block`` at r = 1 is singular: its calibrated target T
    is set to M + E (M the frozen product, E from :func:`singular_rank_two_move`) by changing one target weight
    (W̄_Q for a score, W̄_V for a value, W̄_2L for the output), solving the paper's relation for it. 1-based."""
    blocks = list(target.blocks)
    if family == "output":
        M = frozen.Wo @ frozen.blocks[-1].W2
        T = M + singular_rank_two_move(M, g)
        blocks[-1] = dataclasses.replace(blocks[-1], W2=torch.linalg.solve(target.Wo, T))  # W̄_oW̄_2L = T
        return dataclasses.replace(target, blocks=tuple(blocks))
    l, D = block - 1, frozen.width
    # C⁻¹ = W_{2,l−1} W̄_{2,l−1}⁻¹ (identity for l = 1), from a solve with W̄_{2,l−1}ᵀ
    Cinv = (torch.eye(D, dtype=DT) if l == 0
            else torch.linalg.solve(target.blocks[l - 1].W2.T, frozen.blocks[l - 1].W2.T).T)
    fb, tb = frozen.blocks[l], blocks[l]
    if family.startswith("score"):
        M = fb.WK[0].T @ fb.WQ[0]
        T = M + singular_rank_two_move(M, g)
        blocks[l] = dataclasses.replace(tb, WQ=(torch.linalg.solve(tb.WK[0].T, Cinv.T @ T @ Cinv),))  # CᵀW̄_KᵀW̄_QC
    else:
        M = fb.W1 @ fb.WV[0]
        T = M + singular_rank_two_move(M, g)
        blocks[l] = dataclasses.replace(tb, WV=(torch.linalg.solve(tb.W1, T @ Cinv),))  # W̄_1W̄_V C = T
    return dataclasses.replace(target, blocks=tuple(blocks))


def make_singular(W: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """W(I − vvᵀ) for a random unit v: rank D − 1."""
    v = _unit(g, W.shape[0])
    return W - torch.outer(W @ v, v)


def replace_weight(net: TFN, kind: str, block: int | None, W: torch.Tensor) -> TFN:
    if kind == "W_o":
        return dataclasses.replace(net, Wo=W)
    blocks = list(net.blocks)
    b = blocks[block - 1]
    if kind in ("W_1", "W_2"):
        blocks[block - 1] = dataclasses.replace(b, **{kind.replace("_", ""): W})
    else:
        blocks[block - 1] = dataclasses.replace(b, **{dict((s, a) for a, s in HEAD_WEIGHTS)[kind]: (W,)})
    return dataclasses.replace(net, blocks=tuple(blocks))


def get_weight(net: TFN, kind: str, block: int | None) -> torch.Tensor:
    if kind == "W_o":
        return net.Wo
    b = net.blocks[block - 1]
    if kind in ("W_1", "W_2"):
        return getattr(b, kind.replace("_", ""))
    return getattr(b, dict((s, a) for a, s in HEAD_WEIGHTS)[kind])[0]


def weight_name(model: str, kind: str, block: int | None) -> str:
    """The checker's name of a weight (its documented naming scheme)."""
    return f"{model} W_o" if kind == "W_o" else f"{model} {kind} (block {block})"


def expected_keys(D: int, L: int) -> set[tuple]:
    """(family, model, weight symbol, block, r) of every matrix Assumption 3 lists (p. 34), written out from the
    paper: every weight of both models (no W_O) and the families for every r ∈ [D]."""
    keys = set()
    for model in ("frozen", "target"):
        keys.add((WEIGHT, model, "W_o", None, None))
        for l in range(1, L + 1):
            keys |= {(WEIGHT, model, k, l, None) for k in ("W_Q", "W_K", "W_V", "W_1", "W_2")}
    for r in range(1, D + 1):
        keys.add(("output", None, None, None, r))
        for l in range(1, L + 1):
            first = "(l = 1)" if l == 1 else "(l > 1)"
            keys |= {(f"score {first}", None, None, l, r), (f"value {first}", None, None, l, r)}
    return keys


def construction_refusal_prefix(model: str, kind: str, block: int | None, L: int) -> str | None:
    """Where the Theorem 8 construction's refusal points when this weight is singular: the chain whose second factor
    it is, or the solve that uses it; ``None`` when the construction never solves with it."""
    if model == "frozen" and kind == "W_K":
        return f"block {block}, score chain (W_Q, W_Kᵀ)"
    if model == "frozen" and kind == "W_1":
        return f"block {block}, value chain (W_V, W_1)"
    if model == "frozen" and kind == "W_o":
        return "output chain"
    if kind == "W_2" and block < L:
        return f"block {block}: {'frozen W_2' if model == 'frozen' else 'target W̄_2'}"
    return None


def _key(e) -> tuple:
    """(family, model, weight symbol, block, r); the symbol only for weights."""
    return (e.family, e.model, e.matrix if e.family == WEIGHT else None, e.block, e.r)


# --- strategies (private) -----------------------------------------------------------------------------------------

@st.composite
def planted_family_cases(draw: st.DrawFn):
    """A conditioned random single-head pair (D ≥ 2) with one family matrix at r = 1 made singular, and a rank R."""
    D = draw(st.integers(2, 5), label="width D")
    L = draw(st.integers(1, 3), label="depth L")
    family = draw(st.sampled_from([f for f in ASSUMPTION3_FAMILIES if L > 1 or "l > 1" not in f]),
                  label="planted family")
    block = None if family == "output" else (1 if "l = 1" in family else draw(st.integers(2, L), label="block"))
    R = draw(st.integers(1, D), label="LoRA rank R")
    seed = draw(seeds(), label="seed")
    return D, L, family, block, R, seed


@st.composite
def planted_weight_cases(draw: st.DrawFn):
    """A conditioned random single-head pair (D ≥ 2) with one weight of one model made rank D − 1, and a rank R."""
    D = draw(st.integers(2, 5), label="width D")
    L = draw(st.integers(1, 3), label="depth L")
    model = draw(st.sampled_from(("frozen", "target")), label="model")
    kind = draw(st.sampled_from(WEIGHT_KINDS), label="weight")
    block = None if kind == "W_o" else draw(st.integers(1, L), label="block")
    R = draw(st.integers(1, D), label="LoRA rank R")
    seed = draw(seeds(), label="seed")
    return D, L, model, kind, block, R, seed


# --- properties ---------------------------------------------------------------------------------------------------

@given(inst=tfn_instances(max_width=5, max_depth=3, single_head=True), data=st.data())
@example(inst=build_tfn_instance(3, 3, 1, seed=0, single_head=True), data=None).via("three single-head blocks")
def test_assumption3_lists_every_matrix(inst, data):
    """The report lists exactly the matrices of the paper's list — every weight of both models (no W_O) and each
    family at every block and r ∈ [D] — as many as the sympy count 2(5L + 1) + D(2L + 1), whatever R, under unique
    names; every σ_min/σ_max is finite and in [0, 1]; the construction's flags are the documented ones."""
    D, L = inst.frozen.width, inst.frozen.depth
    R = data.draw(st.integers(1, D), label="LoRA rank R") if data is not None else D
    ex = Example(CLAIM, f"{inst.repro()}, R={R}")
    report = assumption3_report(inst.frozen, inst.target, R)
    count = F.evaluate_integer(get_claim(CLAIM).formulas["count"], {F.L: L, F.D: D})
    assert_equal(ex, len(report), expected=count, name="lists_every_matrix",
                 what="number of listed matrices vs 2(5L + 1) + D(2L + 1)")
    seen = [_key(e) for e in report]
    assert_equal(ex, len(set(seen)), expected=len(seen), name="lists_every_matrix",
                 what="distinct (family, model, weight, block, r) keys")
    assert_equal(ex, set(seen), expected=expected_keys(D, L), name="lists_every_matrix",
                 what="(family, model, weight, block, r) of the listed matrices vs the paper's list")
    names = [e.name for e in report]
    assert_equal(ex, len(set(names)), expected=len(names), name="lists_every_matrix", what="distinct entry names")
    bad = [(e.name, e.ratio) for e in report if not (math.isfinite(e.ratio) and 0.0 <= e.ratio <= 1.0)]
    assert_true(ex, not bad, name="lists_every_matrix", what="every σ_min/σ_max finite and in [0, 1]", seen=bad)
    solved = {e.r for e in report if e.construction_solves and e.family != WEIGHT}
    assert_equal(ex, solved, expected={R}, name="lists_every_matrix",
                 what="family entries the construction solves with: only r = R")
    solved_weights = {(e.model, e.matrix, e.block) for e in report if e.construction_solves and e.family == WEIGHT}
    expected_weights = {(m, k, b) for m in ("frozen", "target") for k in WEIGHT_KINDS
                        for b in ((None,) if k == "W_o" else range(1, L + 1))
                        if construction_refusal_prefix(m, k, b, L) is not None}
    assert_equal(ex, solved_weights, expected=expected_weights, name="lists_every_matrix",
                 what="weights the construction solves with: frozen W_K, W_1, W_o; W_2 and W̄_2 of blocks < L")
    regime(f"L = {L}, R {'= D' if R == D else '< D'}")


@given(case=planted_family_cases())
@example(case=(3, 2, "score (l > 1)", 2, 1, 0)).via("calibrated score family, R = 1: construction refuses")
@example(case=(4, 2, "value (l > 1)", 2, 3, 1)).via("calibrated value family, R = 3")
@example(case=(2, 1, "output", None, 1, 2)).via("output family, D = 2")
def test_assumption3_planted_family_is_named(case):
    """One family matrix at r = 1 made singular (through a target weight chosen to solve the paper's relation, with
    a non-trivial calibration W̄_{2,l−1}W_{2,l−1}⁻¹ for l > 1): the report flags exactly that entry — by family,
    block and r — and nothing else; the Theorem 8 construction refuses it (naming that chain) at R = 1, where it
    solves with it, and is not stopped by it for R ≥ 2, where it does not."""
    D, L, family, block, R, seed = case
    inst = build_tfn_instance(D, L, 1, seed=seed, single_head=True)
    target = plant_family(inst.frozen, inst.target, family, block, generator(seed + 1))
    ex = Example(CLAIM, f"plant_family(build_tfn_instance({D}, {L}, 1, seed={seed}, single_head=True), {family!r}, "
                        f"block={block}, generator({seed + 1})), R={R}")
    report = assumption3_report(inst.frozen, target, R)
    failing = [_key(e) for e in report.failing()]
    assert_equal(ex, failing, expected=[(family, None, None, block, 1)], name="planted_named",
                 what="the failing entries of the report (family, model, weight, block, r)")
    planted = next(e for e in report if _key(e) == (family, None, None, block, 1))
    assert_true(ex, planted.ratio < SINGULARITY_THRESHOLD, name="planted_named",
                what=f"σ_min/σ_max of the planted matrix below {SINGULARITY_THRESHOLD:g}", seen=f"{planted.ratio:.3e}")
    assert_equal(ex, planted.construction_solves, expected=(R == 1), name="planted_named",
                 what="the planted r = 1 entry is flagged as solved with iff R = 1")
    chain = {"score": "score chain", "value": "value chain", "output": "output chain"}[family.split(" ")[0]]
    where = f"block {block}, {chain}" if block else chain
    if R == 1:
        with pytest.raises(SingularityError) as info:
            construct_tfn_single_head(inst.frozen, target, R)
        assert_true(ex, str(info.value).startswith(where), name="planted_refused",
                    what=f"the construction's refusal at R = 1 names '{where}'", seen=str(info.value)[:200])
        regime("R = 1: the construction solves with the planted matrix and refuses it")
    else:
        with refusal_allowed(ex, name="planted_not_used", what="construct_tfn_single_head at R ≥ 2") as outcome:
            construct_tfn_single_head(inst.frozen, target, R)
        assert_true(ex, not outcome.refused, name="planted_not_used",
                    what="the construction at R ≥ 2 (it never solves with the r = 1 entry) answers",
                    seen=f"refused: {outcome.error}")
        regime("R ≥ 2: the planted r = 1 entry is listed but not used")
    regime(f"planted: {family}")


@given(case=planted_weight_cases())
@example(case=(3, 2, "frozen", "W_2", 1, 2, 0)).via("singular frozen W_2 of block 1: refused by name")
@example(case=(3, 2, "frozen", "W_1", 2, 2, 0)).via("singular frozen W_1: listed (not inverted), construction refuses")
@example(case=(3, 2, "target", "W_2", 1, 3, 0)).via("singular target W̄_2 of block 1")
def test_assumption3_planted_weight_is_named(case):
    """One weight made rank D − 1: the report flags that weight and exactly the family entries at r = D (where LR_D
    is the whole discrepancy, so the entry is the calibrated target product) whose target product contains it —
    nothing else. A singular frozen W_2 of a block < L, which the list inverts, is refused by a SingularityError
    naming it. The Theorem 8 construction refuses by name exactly the weights it solves with."""
    D, L, model, kind, block, R, seed = case
    inst = build_tfn_instance(D, L, 1, seed=seed, single_head=True)
    nets = {"frozen": inst.frozen, "target": inst.target}
    nets[model] = replace_weight(nets[model], kind, block, make_singular(get_weight(nets[model], kind, block),
                                                                         generator(seed + 1)))
    name = weight_name(model, kind, block)
    ex = Example(CLAIM, f"build_tfn_instance({D}, {L}, 1, seed={seed}, single_head=True) with {name} made singular "
                        f"(make_singular, generator({seed + 1})), R={R}")
    prefix = construction_refusal_prefix(model, kind, block, L)
    if prefix is None:
        with refusal_allowed(ex, name="planted_refused", what="construct_tfn_single_head") as outcome:
            construct_tfn_single_head(nets["frozen"], nets["target"], R)
        # the one matrix solved with that the list does not name: W̃_o for the last bias, with W̃_oW̃_2L = W_oW_2L +
        # LR_{min(2R, D)}(W̄_oW̄_2L − W_oW_2L) — singular with W̄_o or W̄_2L once 2R ≥ D (the output entry at r = D)
        unlisted = model == "target" and (kind == "W_o" or (kind == "W_2" and block == L))
        assert_true(ex, not outcome.refused or (unlisted and str(outcome.error).startswith("output layer W̃_o")),
                    name="planted_refused", what=f"the construction, which never solves with {name}, answers (or, "
                    "for W̄_o / W̄_2L, refuses the unlisted W̃_o)", seen=f"{outcome.error}")
        if outcome.refused:
            regime("target W̄_o / W̄_2L singular: the construction refuses the unlisted W̃_o")
    else:
        with pytest.raises(SingularityError) as info:
            construct_tfn_single_head(nets["frozen"], nets["target"], R)
        assert_true(ex, str(info.value).startswith(prefix), name="planted_refused",
                    what=f"the construction solves with {name} and refuses it naming '{prefix}'",
                    seen=str(info.value)[:200])
    if model == "frozen" and kind == "W_2" and block < L:
        with pytest.raises(SingularityError) as info:
            assumption3_report(nets["frozen"], nets["target"], R)
        assert_equal(ex, info.value.where, expected=name, name="planted_refused",
                     what="the checker's refusal names the singular matrix the list inverts")
        regime("frozen W_2 of a block < L singular: refused by name")
        return
    report = assumption3_report(nets["frozen"], nets["target"], R)
    expected = {(WEIGHT, model, kind, block, None)}
    if model == "target":
        first = "(l = 1)" if block == 1 else "(l > 1)"
        if kind in ("W_Q", "W_K"):
            expected.add((f"score {first}", None, None, block, D))
        elif kind in ("W_V", "W_1"):
            expected.add((f"value {first}", None, None, block, D))
        elif kind == "W_2" and block < L:  # W̄_{2,l} enters block l + 1 through the calibration
            expected |= {(f"{f} (l > 1)", None, None, block + 1, D) for f in ("score", "value")}
        else:  # W̄_o, or W̄_2 of the last block
            expected.add(("output", None, None, None, D))
    failing = {_key(e) for e in report.failing()}
    assert_equal(ex, failing, expected=expected, name="planted_named",
                 what=f"the failing entries with {name} singular (family, model, weight, block, r)")
    assert_true(ex, report.entry(name).ratio < SINGULARITY_THRESHOLD, name="planted_named",
                what=f"σ_min/σ_max of {name} below {SINGULARITY_THRESHOLD:g}", seen=f"{report.entry(name).ratio:.3e}")
    regime(f"{model} {kind} singular" + (" (solved with)" if prefix else ""))


# --- off the generators: user inputs --------------------------------------------------------------------------------

USER_POPULATIONS = ("gaussian", "xavier", "tiny_change", "zero_discrepancy", "singular_weight", "overflow")


def user_pair(kind: str, D: int, L: int, seed: int, *, singular: tuple | None = None) -> tuple:
    """(kind, frozen, target, repro) of single-head population ``kind``; ``singular`` = (model, weight, block) for
    ``singular_weight``."""
    base = "gaussian" if kind in ("singular_weight", "overflow") else kind
    inst = build_offgen_tfn_instance(base, D, L, 1, seed=seed, single_head=True)
    frozen, target = inst.frozen, inst.target
    if kind == "singular_weight":
        model, wkind, block = singular
        nets = {"frozen": frozen, "target": target}
        W = make_singular(get_weight(nets[model], wkind, block), generator(seed + 1))
        nets[model] = replace_weight(nets[model], wkind, block, W)
        frozen, target = nets["frozen"], nets["target"]
    if kind == "overflow":  # W_oW_2L ≈ 1e320: the output family overflows
        frozen = replace_weight(frozen, "W_o", None, 1e160 * frozen.Wo)
        frozen = replace_weight(frozen, "W_2", L, 1e160 * frozen.blocks[-1].W2)
    return kind, frozen, target, f"user_pair({kind!r}, {D}, {L}, {seed}, singular={singular!r})"


@st.composite
def user_pairs(draw: st.DrawFn):
    """(kind, frozen, target, repro): unconditioned single-head pairs as users bring them — N(0, 1/D) or Xavier
    weights, tiny changes, zero discrepancy, one singular weight, and weights so large (1e160) that the listed
    products overflow."""
    kind = draw(st.sampled_from(USER_POPULATIONS), label="population")
    D = draw(st.integers(1, 5), label="width D")
    L = draw(st.integers(1, 2), label="depth L")
    seed = draw(seeds(), label="seed")
    singular = None
    if kind == "singular_weight":
        model = draw(st.sampled_from(("frozen", "target")), label="model")
        wkind = draw(st.sampled_from(WEIGHT_KINDS), label="singular weight")
        block = None if wkind == "W_o" else draw(st.integers(1, L), label="block")
        singular = (model, wkind, block)
    return user_pair(kind, D, L, seed, singular=singular)


@given(pair=user_pairs(), R=st.integers(1, 5))
@example(pair=user_pair("overflow", 3, 2, 0), R=2).via("overflowed output products: NaN entries must fail")
@example(pair=user_pair("singular_weight", 3, 2, 0, singular=("frozen", "W_2", 1)), R=1).via(
    "singular frozen W_2 of block 1: refused by name")
@example(pair=user_pair("xavier", 4, 2, 1), R=2).via("Xavier-uniform weights")
def test_assumption3_user_inputs_report(pair, R):
    """On user inputs the checker answers: a report in which every entry that passes has a finite σ_min/σ_max ≥ the
    threshold (a NaN from an overflowed product fails, never passes) and every finite ratio lies in [0, 1], or —
    only for a singular frozen W_2 of a block < L — a SingularityError naming it; a made-singular weight is
    flagged, and overflowed products are NaN entries that fail."""
    kind, frozen, target, repro = pair
    R = min(R, frozen.width)
    ex = Example(CLAIM, f"{repro}, R={R}", population=kind)
    with refusal_allowed(ex, name="user_inputs", what=f"assumption3_report on a {kind} pair") as outcome:
        report = assumption3_report(frozen, target, R)
    if outcome.refused:
        where = getattr(outcome.error, "where", "")
        assert_true(ex, kind == "singular_weight" and where.startswith("frozen W_2"), name="user_inputs",
                    what="a refusal only for a singular frozen W_2 of a block < L, naming it",
                    seen=f"{kind}: {outcome.error}")
        regime(f"{kind}: refused by name")
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
    assert_true(ex, isinstance(report.verdict(), str) and report.verdict().startswith("Assumption 3"),
                name="user_inputs", what="a verdict", seen=report.verdict()[:100])
    regime(f"{kind}: Assumption 3 {'holds' if report.holds else 'fails'}")
