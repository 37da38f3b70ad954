"""Exact rational certificate for the Theorem 7 construction (claims ``theorem7``, ``theorem7_gap``; arXiv 2310.17513v3,
Theorem 7, p. 8) on small integer TFNs.

The float construction (:func:`lora_theory.constructions.tfn.construct_tfn`) can only be checked up to a tolerance.
Here the same recipe (the proof of Theorem 7, pp. 38–39, with an explicit calibration) is carried out in sympy
``Rational`` arithmetic, with :func:`lora_theory.exact.linear.certify_linear` (Lemma 1, L = 2, no SVD) for every
two-factor chain:

* block i, head h — **score chain** (first W_Q, second W_Kᵀ) towards C_iᵀ W̄_Kᵀ W̄_Q C_i; the adapter (B, A) of the
  second factor becomes ΔW_K = (BA)ᵀ, i.e. the pair (Aᵀ, Bᵀ);
* block i, head h — **value chain** (first W_V, second W_O) towards W_1⁻¹ W̄_1 W̄_O W̄_V C_i (the unadapted W_1 is
  absorbed here);
* block i — b̂_1 = b̄_1; for i < L: b̂_2 = W_2 W̄_2⁻¹ b̄_2 and the calibration C_{i+1} = W̄_2 W_2⁻¹ (C_1 = I);
* **output chain** (first W_2L, second W_o) towards W̄_o W̄_2L, then b̂_2L = W̃_o⁻¹ W̄_o b̄_2L.

The certificate then re-reads the **assembled adapted network** (not the construction's intermediate results) and
checks with equality, block by block, with its own calibration C_1 = I, C_{i+1} = W̄_2i W̃_2i⁻¹ (computed
independently of the construction, so a construction that carries the wrong calibration is caught):

(i)   W̃_Kᵀ W̃_Q == C_iᵀ W̄_Kᵀ W̄_Q C_i for every block and head (``score_equal``);
(ii)  W̃_1 W̃_O W̃_V == W̄_1 W̄_O W̄_V C_i for every block and head (``value_equal``; W̃_1 is the adapted network's W_1,
      so an adapter that sneaks onto W_1 is caught);
(iii) W̃_o W̃_2L == W̄_o W̄_2L and W̃_o b̂_2L == W̄_o b̄_2L (``output_equal``, ``output_bias_equal``);
(iv)  b̂_1 == b̄_1 (``first_bias_equal``); for i < L: C_{i+1} b̂_2 == b̄_2 (``carried_bias_equal``) and the
      construction's carried calibration satisfies C_{i+1} W_2 == W̄_2 (``calibration_equal``);
(v)   rank(W̃ − W) ≤ R exactly for every adapted matrix, and W̃ == W off the allowed set (W_1 of every block, W_2 of
      blocks < L) (``delta_ranks``, ``support_ok``).

**Why these identities certify the function, although softmax is never evaluated.** Softmax (an exponential) has no
exact rational evaluation, and none is needed. Suppose Z̄_{i−1} = C_i Z_{i−1} for every input (true for i = 1 with
C_1 = I, since Z_0 = Z̄_0 = X). By (i), for every X and every N the score matrices are *identical*:
(W̃_K Z)ᵀ(W̃_Q Z) = Zᵀ C_iᵀ W̄_Kᵀ W̄_Q C_i Z = (W̄_K Z̄)ᵀ(W̄_Q Z̄), so softmax is applied to the same matrix in both
networks and the softmax matrices P_h = P̄_h coincide, whatever softmax evaluates to. By (ii),
W̃_1 Attn(Z) = Σ_h W̃_1 W̃_O W̃_V Z P_h = Σ_h W̄_1 W̄_O W̄_V Z̄ P̄_h = W̄_1 Attn̄(Z̄), so with b̂_1 = b̄_1 the hidden
states H_i = H̄_i are equal (ReLU is applied to equal matrices). Then Z̄_i = W̄_2 H + b̄_2 = C_{i+1}(W_2 H + b̂_2)
= C_{i+1} Z_i by (iv) and the definition of C_{i+1}, which carries the invariant; at the last block (iii) gives
f̄(X) = W̄_o W̄_2L H + W̄_o b̄_2L = W̃_o W̃_2L H + W̃_o b̂_2L = f(X). So (i)–(iv) hold ⇒ f = f̄ on every
X ∈ R^{D×N}, every N, and (v) says the adapters are the ones Theorem 7 allows.

**The output layer.** What (iii) certifies is equality of the *logits*, W̃_o Z_L = W̄_o Z̄_L, for every input. The
paper's TFN output is softmax(W_o Z_L), column-wise (App. F.2, p. 37): a fixed map applied to two equal matrices, so
the outputs are equal too — the certificate covers both the paper's softmax output and the linear output of the
authors' code, and never evaluates the output softmax (which has no exact rational value). An :class:`ExactTFN` is
therefore the network up to its logits; :func:`model_to_torch` chooses the float model's output layer.

The exact gaps G_i (eq. (23), p. 37) are ranks of rational matrices, computed from the frozen and target networks alone;
each chain's discrepancy equals a G-matrix up to invertible factors (W_1 and W_{2,i−1}), so the chain ranks must equal
the gaps (``gaps_match_chains``), and the construction is exact iff R ≥ max_i ⌈G_i/2⌉ (``threshold``).

Two module-level hooks, :func:`_adapt_w1` and :func:`_calibration`, are the construction's choices of W̃_1 and
C_{i+1}; tests swap in mutants (an adapter on W_1, a skipped calibration) and see the certificate fail.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import sympy as sp

from lora_theory.errors import AssumptionViolated, DepthError, DTypeError, ShapeError, SingularityError
from lora_theory.exact._rational import (
    as_immutable_matrix,
    as_rational_vector,
    integer_matrix,
    require_nonsingular,
    unimodular,
)
from lora_theory.exact.linear import LinearCertificate, certify_linear
from lora_theory.models import check_tfn_pair
from lora_theory.validation import check_int, check_rank

__all__ = ["ExactTFNBlock", "ExactTFN", "TFNIntegerInstance", "TFNCertificate", "build_integer_tfn_instance",
           "single_head_integer_instance", "certify_tfn_single_head", "certify_theorem8_example",
           "exact_tfn_gaps", "certify_tfn", "certify_theorem7_example", "to_torch", "model_to_torch"]

_HEAD_MATRICES = ("WQ", "WK", "WV", "WO")


# ------------------------------------------------------------------------------------------------------ the models


def _as_vector(x: object, name: str, width: int) -> sp.ImmutableMatrix:
    """A (D, 1) column of Rationals (see :func:`lora_theory.exact.linear.as_rational_vector`)."""
    return sp.ImmutableMatrix(as_rational_vector(x, name, width))


@dataclass(frozen=True, eq=False)
class ExactTFNBlock:
    """One TFN block (arXiv 2310.17513v3, App. F.2, pp. 36–37) with exact entries: per head D×D matrices W_Q, W_K,
    W_V, W_O (tuples over heads), the FFN W_1 → ReLU → W_2 and the biases b_1, b_2 as (D, 1) columns. Entries are
    validated and converted to sympy Rationals (ImmutableMatrix); floats are refused (DTypeError)."""

    WQ: tuple
    WK: tuple
    WV: tuple
    WO: tuple
    W1: object
    b1: object
    W2: object
    b2: object

    def __post_init__(self) -> None:
        W1 = as_immutable_matrix(self.W1, "W1")
        D = W1.rows
        object.__setattr__(self, "W1", W1)
        W2 = as_immutable_matrix(self.W2, "W2")
        if W2.shape != (D, D):
            raise ShapeError(f"W2 has shape {W2.shape} but W1 has shape ({D}, {D}); every matrix must be D x D")
        object.__setattr__(self, "W2", W2)
        H = None
        for name in _HEAD_MATRICES:
            mats = getattr(self, name)
            if isinstance(mats, (str, bytes)) or not isinstance(mats, Sequence) or isinstance(mats, sp.MatrixBase):
                raise ShapeError(f"{name} must be a sequence of per-head (D, D) matrices; got {type(mats).__name__}")
            if len(mats) == 0:
                raise ShapeError(f"{name} has 0 heads: a TFN block needs H >= 1")
            if H is None:
                H = len(mats)
            elif len(mats) != H:
                raise ShapeError(f"{name} has {len(mats)} heads but WQ has {H}")
            conv = tuple(as_immutable_matrix(M, f"{name}[{h}]") for h, M in enumerate(mats))
            for h, M in enumerate(conv):
                if M.shape != (D, D):
                    raise ShapeError(f"{name}[{h}] has shape {M.shape} but W1 has shape ({D}, {D}); every matrix "
                                     "must be D x D")
            object.__setattr__(self, name, conv)
        object.__setattr__(self, "b1", _as_vector(self.b1, "b1", D))
        object.__setattr__(self, "b2", _as_vector(self.b2, "b2", D))

    @property
    def heads(self) -> int:
        return len(self.WQ)

    @property
    def width(self) -> int:
        return self.W1.rows


@dataclass(frozen=True, eq=False)
class ExactTFN:
    """TFN_{L,D,H} with exact entries (as :class:`lora_theory.models.TFN`): ``blocks`` (ExactTFNBlock, L ≥ 1) and the
    output layer ``Wo`` (D×D, no bias). Every block must have the same width D and the same number of heads H."""

    blocks: tuple
    Wo: object

    def __post_init__(self) -> None:
        if isinstance(self.blocks, (str, bytes)) or not isinstance(self.blocks, Sequence):
            raise ShapeError(f"blocks must be a sequence of ExactTFNBlock; got {type(self.blocks).__name__}")
        if len(self.blocks) == 0:
            raise DepthError("an ExactTFN needs at least one block (depth L >= 1)")
        Wo = as_immutable_matrix(self.Wo, "Wo")
        D = Wo.rows
        for l, blk in enumerate(self.blocks):
            if not isinstance(blk, ExactTFNBlock):
                raise DTypeError(f"blocks[{l}] must be an ExactTFNBlock; got {type(blk).__name__}")
            if blk.width != D:
                raise ShapeError(f"blocks[{l}] has width D={blk.width} but Wo has shape ({D}, {D})")
            if blk.heads != self.blocks[0].heads:
                raise ShapeError(f"blocks[{l}] has {blk.heads} heads but blocks[0] has {self.blocks[0].heads}")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "Wo", Wo)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def width(self) -> int:
        return self.Wo.rows

    @property
    def heads(self) -> int:
        return self.blocks[0].heads


class TFNIntegerInstance(NamedTuple):
    """A frozen and a same-size target :class:`ExactTFN` (``certify_tfn(*instance, R)``)."""

    frozen: ExactTFN
    target: ExactTFN


# ---------------------------------------------------------------------------------------------- float conversions


def _to_tensor(M: sp.MatrixBase, vector: bool = False):
    import torch

    rows = [[float(M[r, c]) for c in range(M.cols)] for r in range(M.rows)]
    t = torch.tensor(rows, dtype=torch.float64)
    return t[:, 0].clone() if vector else t


def model_to_torch(model: ExactTFN, output: str = "softmax", single_head: bool = False):
    """The float64 :class:`lora_theory.models.TFN` of an ExactTFN (entries rounded to the nearest float; integer
    entries below 2^53 are exact), with output layer ``output`` (``"softmax"``, the paper's, or ``"linear"``);
    ``single_head=True`` for a single-head model (H = 1, W_O = I)."""
    from lora_theory.models import TFN, TFNBlock

    if not isinstance(model, ExactTFN):
        raise DTypeError(f"model must be an ExactTFN; got {type(model).__name__}")
    blocks = [TFNBlock(*(tuple(_to_tensor(M) for M in getattr(b, name)) for name in _HEAD_MATRICES),
                       _to_tensor(b.W1), _to_tensor(b.b1, True), _to_tensor(b.W2), _to_tensor(b.b2, True))
              for b in model.blocks]
    return TFN(tuple(blocks), _to_tensor(model.Wo), output, single_head)


def to_torch(instance: TFNIntegerInstance | tuple, output: str = "softmax", single_head: bool = False) -> tuple:
    """(frozen, target) as float64 :class:`lora_theory.models.TFN` models, for cross-checks with the float code."""
    if isinstance(instance, ExactTFN) or not isinstance(instance, tuple) or len(instance) != 2:
        raise DTypeError("instance must be a (frozen, target) pair of ExactTFN (a TFNIntegerInstance); got "
                         f"{type(instance).__name__} (use model_to_torch for one model)")
    return model_to_torch(instance[0], output, single_head), model_to_torch(instance[1], output, single_head)


# ------------------------------------------------------------------------------------------------------- instances


def build_integer_tfn_instance(width: int, depth: int, heads: int, gap_rank: int | None, seed: int,
                               entry_bound: int = 2) -> TFNIntegerInstance:
    """An integer frozen/target pair of TFNs, drawn with ``random.Random(seed)`` only.

    Frozen: W_1, W_2, W_o and every W_K, W_O are unit lower × unit upper triangular (det = 1, so they are invertible
    by construction, with integer inverses), W_Q and W_V are plain integer matrices, off-diagonal/plain entries in
    [−entry_bound, entry_bound]; biases have entries in [−2, 2].

    Target: with ``gap_rank = k`` (0..D) a *low-gap* target: every W_Q, W_K,
    W_V, W_O and W_o plus an integer X Yᵀ with X, Y: (D, k) (rank ≤ k), FFN weights W_1, W_2 kept, fresh integer
    biases — so G = (≤2k, …, ≤2k, ≤k) (compute the gaps, don't assume them). With ``gap_rank=None`` an independent
    integer TFN of the same kind as the frozen one.
    """
    D = check_int(width, "width", minimum=1, error=ShapeError, type_error=DTypeError)
    L = check_int(depth, "depth", minimum=1, error=DepthError, type_error=DTypeError)
    H = check_int(heads, "heads", minimum=1, error=ShapeError, type_error=DTypeError)
    bound = check_int(entry_bound, "entry_bound", minimum=1, error=ShapeError, type_error=DTypeError)
    k = None if gap_rank is None else check_rank(gap_rank, "gap_rank", width=D, minimum=0)
    rng = random.Random(check_int(seed, "seed", error=DTypeError))

    def draw(b: int = bound) -> int:
        return rng.randint(-b, b)

    def invertible() -> sp.ImmutableMatrix:
        return sp.ImmutableMatrix(unimodular(D, draw))

    def plain() -> sp.ImmutableMatrix:
        return sp.ImmutableMatrix(integer_matrix(D, D, draw))

    def bias() -> sp.ImmutableMatrix:
        return sp.ImmutableMatrix(D, 1, lambda r, c: draw(2))

    def model() -> ExactTFN:
        blocks = []
        for _ in range(L):
            WQ = tuple(plain() for _ in range(H))
            WK = tuple(invertible() for _ in range(H))
            WV = tuple(plain() for _ in range(H))
            WO = tuple(invertible() for _ in range(H))
            blocks.append(ExactTFNBlock(WQ, WK, WV, WO, invertible(), bias(), invertible(), bias()))
        return ExactTFN(tuple(blocks), invertible())

    frozen = model()
    if k is None:
        return TFNIntegerInstance(frozen, model())

    def moved(W: sp.MatrixBase) -> sp.ImmutableMatrix:
        if k == 0:
            return sp.ImmutableMatrix(W)
        X = integer_matrix(D, k, draw)
        Y = integer_matrix(D, k, draw)
        return sp.ImmutableMatrix(W + X * Y.T)

    blocks = [ExactTFNBlock(tuple(moved(W) for W in b.WQ), tuple(moved(W) for W in b.WK),
                            tuple(moved(W) for W in b.WV), tuple(moved(W) for W in b.WO), b.W1, bias(), b.W2, bias())
              for b in frozen.blocks]
    return TFNIntegerInstance(frozen, ExactTFN(tuple(blocks), moved(frozen.Wo)))


# ------------------------------------------------------------------------------------------------------------ gaps


def _check_pair(frozen: object, target: object) -> tuple[int, int, int]:
    """:func:`lora_theory.models.check_tfn_pair` for ExactTFN models (DTypeError for anything else)."""
    hint = (" (float models are not exact: build an ExactTFN from integer/rational entries)"
            if "TFN" in (type(frozen).__name__, type(target).__name__) else "")
    return check_tfn_pair(frozen, target, model_type=ExactTFN, type_error=DTypeError, hint=hint)


def exact_tfn_gaps(frozen: ExactTFN, target: ExactTFN) -> tuple[int, ...]:
    """G_1..G_L, G_{L+1} of Theorem 7 (eq. (23), p. 37) as exact ranks of rational matrices, with
    W_{2,0} = W̄_{2,0} = I::

        G_i = max_h rank(W̄_1i W̄_O W̄_V W̄_{2,i−1} − W_1i W_O W_V W_{2,i−1})
              ∨ max_h rank(W̄_{2,i−1}ᵀ W̄_Kᵀ W̄_Q W̄_{2,i−1} − W_{2,i−1}ᵀ W_Kᵀ W_Q W_{2,i−1}),
        G_{L+1} = rank(W̄_o W̄_2L − W_o W_2L).
    """
    D, _, H = _check_pair(frozen, target)
    eye = sp.eye(D)
    gaps = []
    for i, (b, bb) in enumerate(zip(frozen.blocks, target.blocks)):
        P = eye if i == 0 else frozen.blocks[i - 1].W2
        Pb = eye if i == 0 else target.blocks[i - 1].W2
        g = 0
        for h in range(H):
            ov = (bb.W1 * bb.WO[h] * bb.WV[h] * Pb - b.W1 * b.WO[h] * b.WV[h] * P).rank()
            qk = (Pb.T * bb.WK[h].T * bb.WQ[h] * Pb - P.T * b.WK[h].T * b.WQ[h] * P).rank()
            g = max(g, ov, qk)
        gaps.append(g)
    gaps.append((target.Wo * target.blocks[-1].W2 - frozen.Wo * frozen.blocks[-1].W2).rank())
    return tuple(gaps)


# ----------------------------------------------------------------------------------------------------- certificate


@dataclass(frozen=True, eq=False)
class TFNCertificate:
    """The verdict of an exact run of the Theorem 7 construction (see the module docstring for (i)–(v)).

    Blocks and heads are 0-based in the tuples and keys, 1-based in messages. ``chains`` maps
    ``(block, "QK", head)``, ``(block, "OV", head)`` and ``("out",)`` to the :class:`LinearCertificate` of that
    two-factor chain. ``score_equal[l][h]``, ``value_equal[l][h]``: (i), (ii); ``first_bias_equal[l]``,
    ``carried_bias_equal[l]`` and ``calibration_equal[l]`` (l < L−1): (iv); ``delta_ranks``: rank(W̃ − W) by matrix
    name (``blocks[l].WQ[h]``, ``blocks[l].W1``, ``blocks[l].W2``, ``Wo``, …) for *every* matrix; ``adapters``: the
    (B, A) factors on the allowed set; ``calibrations``: the construction's C_1..C_L.
    """

    width: int
    depth: int
    heads: int
    rank: int
    gaps: tuple[int, ...]
    chains: dict
    score_equal: tuple[tuple[bool, ...], ...]
    value_equal: tuple[tuple[bool, ...], ...]
    first_bias_equal: tuple[bool, ...]
    carried_bias_equal: tuple[bool, ...]
    calibration_equal: tuple[bool, ...]
    output_equal: bool
    output_bias_equal: bool
    support_ok: bool
    delta_ranks: dict
    adapters: dict
    adapted: ExactTFN
    calibrations: tuple
    b1: tuple = field(default=())
    b2: tuple = field(default=())
    #: the single-head construction (Theorem 8): value chains (W_V, W_1) under the keys ``(block, "V1", 0)``, W_1
    #: adapted, W_O = I never adapted
    single_head: bool = False

    @property
    def threshold(self) -> int:
        """max_i ⌈G_i/2⌉ (Theorem 7); 0 when every gap is 0."""
        return max(math.ceil(g / 2) for g in self.gaps)

    @property
    def chain_equal(self) -> dict:
        """Per two-factor chain: did the Lemma 1 construction reach its target exactly?"""
        return {key: c.equal for key, c in self.chains.items()}

    def chain_gaps(self) -> tuple[int, ...]:
        """The chains' discrepancy ranks, per block (max over heads and the two chains) and for the output chain."""
        kinds = ("QK", "V1") if self.single_head else ("QK", "OV")
        per_block = [max(self.chains[(l, kind, h)].discrepancy_rank for kind in kinds
                         for h in range(self.heads)) for l in range(self.depth)]
        return tuple(per_block) + (self.chains[("out",)].discrepancy_rank,)

    @property
    def gaps_match_chains(self) -> bool:
        """The rank bookkeeping of the proof of Theorem 7: the chain discrepancy ranks equal the gaps G_i."""
        return self.chain_gaps() == self.gaps

    @property
    def ranks_within_budget(self) -> bool:
        return all(r <= self.rank for r in self.delta_ranks.values())

    @property
    def equal(self) -> bool:
        """Every identity (i)–(v) holds, so the adapted network equals the target on every input."""
        return not self.failed_checks()

    def failed_checks(self) -> list[str]:
        """Human-readable list of the identities that fail (empty iff ``equal``)."""
        out = []
        for l in range(self.depth):
            for h in range(self.heads):
                if not self.score_equal[l][h]:
                    out.append(f"(i) score identity, block {l + 1}, head {h + 1}")
                if not self.value_equal[l][h]:
                    out.append(f"(ii) value identity, block {l + 1}, head {h + 1}")
            if not self.first_bias_equal[l]:
                out.append(f"(iv) b̂_1 == b̄_1, block {l + 1}")
        for l, (cb, ce) in enumerate(zip(self.carried_bias_equal, self.calibration_equal)):
            if not cb:
                out.append(f"(iv) carried bias C b̂_2 == b̄_2, block {l + 1}")
            if not ce:
                out.append(f"(iv) calibration C W_2 == W̄_2, block {l + 1}")
        if not self.output_equal:
            out.append("(iii) W̃_o W̃_2L == W̄_o W̄_2L")
        if not self.output_bias_equal:
            out.append("(iii) W̃_o b̂_2L == W̄_o b̄_2L")
        if not self.support_ok:
            out.append("(v) support: W_O, or W_2 (block < L) was changed" if self.single_head else
                       "(v) support: W_1 or W_2 (block < L) was changed")
        over = [name for name, r in self.delta_ranks.items() if r > self.rank]
        if over:
            out.append(f"(v) rank(ΔW) > R={self.rank} for {over}")
        return out

    def summary(self) -> str:
        verdict = "equal" if self.equal else "not equal"
        failed_chains = [key for key, ok in self.chain_equal.items() if not ok]
        which = "Theorem 8, single head" if self.single_head else "Theorem 7"
        parts = [f"exact TFN certificate ({which}): f {'==' if self.equal else '!='} f̄ ({verdict})",
                 f"D={self.width} L={self.depth} H={self.heads} R={self.rank}",
                 f"gaps G={list(self.gaps)} threshold={self.threshold} chain ranks={list(self.chain_gaps())}",
                 f"chains not exact: {failed_chains if failed_chains else 'none'}",
                 f"max rank(ΔW)={max(self.delta_ranks.values())}"]
        failed = self.failed_checks()
        if failed:
            more = f" (+{len(failed) - 6} more)" if len(failed) > 6 else ""
            parts.append("failed: " + ", ".join(failed[:6]) + more)
        return "; ".join(parts)


# ------------------------------------------------------------------------------------ construction (hooks for tests)


def _adapt_w1(block: int, W1: sp.MatrixBase) -> sp.MatrixBase:
    """W̃_1 of block ``block`` (0-based) in the assembled network: Theorem 7 never adapts W_1, so W_1 itself.
    (A module-level function so that tests can put a mutant adapter here and see (ii) fail.)"""
    return W1


def _calibration(W2: sp.MatrixBase, W2bar: sp.MatrixBase) -> sp.MatrixBase:
    """C_{i+1} = W̄_2 W_2⁻¹ (a solve with W_2ᵀ; W_2 is checked non-singular first). (Module-level so that tests can
    skip the calibration and see the certificate fail.)"""
    return W2.T.LUsolve(W2bar.T).T


def _chain(where: str, names: tuple[str, str], factors: list, target: sp.MatrixBase, R: int) -> LinearCertificate:
    try:
        return certify_linear(factors, target, R)
    except AssumptionViolated as exc:
        raise SingularityError(
            f"{where} (layer 1 = {names[0]}, layer 2 = {names[1]}): {exc}", where=f"{where}: {exc.where}",
            ratio=exc.ratio, threshold=exc.threshold) from None


def _delta(B: sp.MatrixBase, A: sp.MatrixBase, D: int) -> sp.MatrixBase:
    return B * A if B.cols else sp.zeros(D, D)


def certify_tfn(frozen: ExactTFN, target: ExactTFN, rank: int) -> TFNCertificate:
    """Run the Theorem 7 construction in rational arithmetic and certify f = f̄ on every input by exact identities.

    ``frozen``/``target``: :class:`ExactTFN` of the same L, D, H (e.g. from :func:`build_integer_tfn_instance`);
    ``rank``: R in 1..D. The verdict is ``equal`` at R ≥ ``threshold`` unless a hypothesis fails, in which case this
    raises. Raises DTypeError (not an ExactTFN), ShapeError (different L, D or H), RankError, and SingularityError
    naming the block, head and chain (an exactly singular chain suffix or adapted prefix inside
    :func:`certify_linear`) or the matrix (W_1, W_2, W̄_2 of a block < L, W̃_o = W_o + ΔW_o).
    """
    D, L, H = _check_pair(frozen, target)
    R = check_rank(rank, "rank", width=D)
    gaps = exact_tfn_gaps(frozen, target)

    C = sp.eye(D)
    calibrations = [sp.ImmutableMatrix(C)]
    chains: dict = {}
    adapters: dict = {}
    adapted_blocks_parts = []
    b1s, b2s = [], []
    for l, (blk, tb) in enumerate(zip(frozen.blocks, target.blocks)):
        require_nonsingular(blk.W1, f"block {l + 1}: frozen W_1", "the value/output target W_1⁻¹W̄_1W̄_OW̄_V C",
                            claim="Theorem 7")
        mats: dict[str, list] = {name: [] for name in _HEAD_MATRICES}
        for h in range(H):
            where = f"block {l + 1}, head {h + 1}"
            qk = _chain(f"{where}, score chain (W_Q, W_Kᵀ)", ("W_Q", "W_Kᵀ"), [blk.WQ[h], blk.WK[h].T],
                        C.T * tb.WK[h].T * tb.WQ[h] * C, R)
            ov_target = blk.W1.LUsolve(tb.W1 * tb.WO[h] * tb.WV[h] * C)
            ov = _chain(f"{where}, value chain (W_V, W_O)", ("W_V", "W_O"), [blk.WV[h], blk.WO[h]], ov_target, R)
            chains[(l, "QK", h)], chains[(l, "OV", h)] = qk, ov
            (Bq, Aq), (Bk, Ak) = qk.adapters
            (Bv, Av), (Bo, Ao) = ov.adapters
            pairs = {"WQ": (Bq, Aq), "WK": (Ak.T, Bk.T), "WV": (Bv, Av), "WO": (Bo, Ao)}
            for name, (B, A) in pairs.items():
                adapters[f"blocks[{l}].{name}[{h}]"] = (B, A)
                mats[name].append(sp.ImmutableMatrix(getattr(blk, name)[h] + _delta(B, A, D)))
        W1t = _adapt_w1(l, blk.W1)
        b1s.append(tb.b1)
        if l < L - 1:
            require_nonsingular(tb.W2, f"block {l + 1}: target W̄_2", "the carried bias W_2 W̄_2⁻¹ b̄_2",
                                claim="Theorem 7")
            require_nonsingular(blk.W2, f"block {l + 1}: frozen W_2", "the calibration W̄_2 W_2⁻¹",
                                claim="Theorem 7")
            b2s.append(blk.W2 * tb.W2.LUsolve(tb.b2))
            C = _calibration(blk.W2, tb.W2)
            calibrations.append(sp.ImmutableMatrix(C))
        adapted_blocks_parts.append((mats, W1t))

    last, tlast = frozen.blocks[-1], target.blocks[-1]
    out = _chain("output chain (W_2 of the last block, W_o)", ("W_2L", "W_o"), [last.W2, frozen.Wo],
                 target.Wo * tlast.W2, R)
    chains[("out",)] = out
    (B2, A2), (Bo, Ao) = out.adapters
    adapters[f"blocks[{L - 1}].W2"] = (B2, A2)
    adapters["Wo"] = (Bo, Ao)
    W2L = last.W2 + _delta(B2, A2, D)
    Wot = frozen.Wo + _delta(Bo, Ao, D)
    require_nonsingular(Wot, "output layer W̃_o = W_o + ΔW_o", "the last bias W̃_o⁻¹ W̄_o b̄_2L", claim="Theorem 7")
    b2s.append(Wot.LUsolve(target.Wo * tlast.b2))

    blocks = []
    for l, ((mats, W1t), blk) in enumerate(zip(adapted_blocks_parts, frozen.blocks)):
        W2 = W2L if l == L - 1 else blk.W2
        blocks.append(ExactTFNBlock(tuple(mats["WQ"]), tuple(mats["WK"]), tuple(mats["WV"]), tuple(mats["WO"]),
                                    W1t, b1s[l], W2, b2s[l]))
    adapted = ExactTFN(tuple(blocks), Wot)
    return _verify(frozen, target, adapted, R, gaps, chains, adapters, tuple(calibrations))


def _verify(frozen: ExactTFN, target: ExactTFN, adapted: ExactTFN, R: int, gaps: tuple[int, ...], chains: dict,
            adapters: dict, calibrations: tuple, single_head: bool = False) -> TFNCertificate:
    """Checks (i)–(v) on the assembled adapted network, with the verifier's own calibration. ``single_head``: W_O is
    the identity in all three networks, so (ii) reads W̃_1 W̃_V == W̄_1 W̄_V C, and (v) allows W_1 to move but not
    W_O."""
    D, L, H = frozen.width, frozen.depth, frozen.heads
    C = sp.eye(D)
    score_eq, value_eq, first_bias, carried_bias, calib_eq = [], [], [], [], []
    for l, (ab, tb) in enumerate(zip(adapted.blocks, target.blocks)):
        if C is None:  # the previous W̃_2 was singular: no calibration, nothing certifiable downstream
            score_eq.append((False,) * H)
            value_eq.append((False,) * H)
        else:
            score_eq.append(tuple(ab.WK[h].T * ab.WQ[h] == C.T * tb.WK[h].T * tb.WQ[h] * C for h in range(H)))
            value_eq.append(tuple(ab.W1 * ab.WO[h] * ab.WV[h] == tb.W1 * tb.WO[h] * tb.WV[h] * C for h in range(H)))
        first_bias.append(ab.b1 == tb.b1)
        if l < L - 1:
            calib_eq.append(l + 1 < len(calibrations) and calibrations[l + 1] * frozen.blocks[l].W2 == tb.W2)
            if ab.W2.det() == 0:
                C = None
                carried_bias.append(False)
            else:
                C = tb.W2 * ab.W2.inv()  # the unique C with C W̃_2 = W̄_2 (independent of the construction's hook)
                carried_bias.append(C * ab.b2 == tb.b2)
    lastA, lastT = adapted.blocks[-1], target.blocks[-1]
    output_equal = adapted.Wo * lastA.W2 == target.Wo * lastT.W2
    output_bias_equal = adapted.Wo * lastA.b2 == target.Wo * lastT.b2

    delta_ranks: dict[str, int] = {}
    support_ok = True
    for l, (ab, fb) in enumerate(zip(adapted.blocks, frozen.blocks)):
        for name in _HEAD_MATRICES:
            for h in range(H):
                delta_ranks[f"blocks[{l}].{name}[{h}]"] = (getattr(ab, name)[h] - getattr(fb, name)[h]).rank()
        delta_ranks[f"blocks[{l}].W1"] = (ab.W1 - fb.W1).rank()
        delta_ranks[f"blocks[{l}].W2"] = (ab.W2 - fb.W2).rank()
        if (ab.WO != fb.WO if single_head else ab.W1 != fb.W1) or (l < L - 1 and ab.W2 != fb.W2):
            support_ok = False
    delta_ranks["Wo"] = (adapted.Wo - frozen.Wo).rank()

    return TFNCertificate(
        width=D, depth=L, heads=H, rank=R, gaps=gaps, chains=chains, score_equal=tuple(score_eq),
        value_equal=tuple(value_eq), first_bias_equal=tuple(first_bias), carried_bias_equal=tuple(carried_bias),
        calibration_equal=tuple(calib_eq), output_equal=output_equal, output_bias_equal=output_bias_equal,
        support_ok=support_ok, delta_ranks=delta_ranks, adapters=adapters, adapted=adapted,
        calibrations=calibrations, b1=tuple(b.b1 for b in adapted.blocks), b2=tuple(b.b2 for b in adapted.blocks),
        single_head=single_head)


def certify_theorem7_example(seed: int, width: int, depth: int, heads: int,
                             gap_rank: int | None = None) -> TFNCertificate:
    """Build :func:`build_integer_tfn_instance` (``width``, ``depth``, ``heads``, ``gap_rank``, ``seed``), compute the
    exact gaps, set R = max(1, max_i ⌈G_i/2⌉) and certify. At the threshold Theorem 7 says the verdict is ``equal``
    unless the non-singularity hypothesis fails, in which case this raises SingularityError (W_Q and W_V are plain
    integer matrices, so an adapted chain prefix W_Q + ΔW_Q can be exactly singular on some seeds)."""
    inst = build_integer_tfn_instance(width, depth, heads, gap_rank, seed)
    gaps = exact_tfn_gaps(*inst)
    R = max(1, max(math.ceil(g / 2) for g in gaps))
    return certify_tfn(inst.frozen, inst.target, R)


# ------------------------------------------------------------------------------------------ single head (Theorem 8)


def single_head_integer_instance(width: int, depth: int, gap_rank: int | None, seed: int) -> TFNIntegerInstance:
    """An integer single-head pair (arXiv 2310.17513v3, App. F.1, p. 33): :func:`build_integer_tfn_instance` with one
    head and W_O = I in both models. A low-gap target (``gap_rank = k``) moves W_Q, W_K, W_V, W_o by rank-≤k integer
    matrices and, instead of W_O, W̄_1 = W_1 + (the rank-≤k move drawn for W_O), so Theorem 8's value chain W_1·W_V
    has both factors moved."""
    frozen, target = build_integer_tfn_instance(width, depth, 1, gap_rank, seed)
    eye = sp.ImmutableMatrix(sp.eye(frozen.width))

    def single(model: ExactTFN, moved_w1: bool) -> ExactTFN:
        blocks = []
        for b, fb in zip(model.blocks, frozen.blocks):
            W1 = sp.ImmutableMatrix(fb.W1 + (b.WO[0] - fb.WO[0])) if moved_w1 else b.W1
            blocks.append(ExactTFNBlock(b.WQ, b.WK, b.WV, (eye,), W1, b.b1, b.W2, b.b2))
        return ExactTFN(tuple(blocks), model.Wo)

    return TFNIntegerInstance(single(frozen, False), single(target, gap_rank is not None))


def certify_tfn_single_head(frozen: ExactTFN, target: ExactTFN, rank: int) -> TFNCertificate:
    """The Theorem 8 construction (claim ``theorem8``; arXiv 2310.17513v3, Theorem 8, App. F.1, p. 34) in rational
    arithmetic, certified by exact identities on the assembled network as :func:`certify_tfn` does.

    Single-head models are ExactTFN with H = 1 and W_O = I (exactly) in both networks. Per block: the score chain
    (W_Q, W_Kᵀ) towards C_iᵀW̄_KᵀW̄_Q C_i; the value chain (first W_V, second W_1) towards W̄_1 W̄_V C_i — W_1 is
    adapted, no solve with it; b̂_1 = b̄_1; the carry and the output chain as in Theorem 7. The gaps are
    :func:`exact_tfn_gaps` (with W_O = I they are Theorem 8's). Equality of the logits W̃_o Z_L = W̄_o Z̄_L holds for
    every input, hence of the softmax outputs. Raises DTypeError, ShapeError (sizes, H ≠ 1, W_O ≠ I), RankError,
    and SingularityError naming block, chain or matrix."""
    D, L, H = _check_pair(frozen, target)
    eye = sp.eye(D)
    if H != 1 or any(b.WO[0] != eye for m in (frozen, target) for b in m.blocks):
        raise ShapeError("certify_tfn_single_head needs single-head models: H = 1 and W_O = I in every block "
                         f"(got H={H}; build them with single_head_integer_instance)")
    R = check_rank(rank, "rank", width=D)
    gaps = exact_tfn_gaps(frozen, target)
    C = eye
    calibrations = [sp.ImmutableMatrix(C)]
    chains: dict = {}
    adapters: dict = {}
    parts = []
    b1s, b2s = [], []
    for l, (blk, tb) in enumerate(zip(frozen.blocks, target.blocks)):
        where = f"block {l + 1}"
        qk = _chain(f"{where}, score chain (W_Q, W_Kᵀ)", ("W_Q", "W_Kᵀ"), [blk.WQ[0], blk.WK[0].T],
                    C.T * tb.WK[0].T * tb.WQ[0] * C, R)
        v1 = _chain(f"{where}, value chain (W_V, W_1)", ("W_V", "W_1"), [blk.WV[0], blk.W1], tb.W1 * tb.WV[0] * C, R)
        chains[(l, "QK", 0)], chains[(l, "V1", 0)] = qk, v1
        (Bq, Aq), (Bk, Ak) = qk.adapters
        (Bv, Av), (B1, A1) = v1.adapters
        pairs = {"WQ": (Bq, Aq), "WK": (Ak.T, Bk.T), "WV": (Bv, Av)}
        mats = {}
        for name, (B, A) in pairs.items():
            adapters[f"blocks[{l}].{name}[0]"] = (B, A)
            mats[name] = (sp.ImmutableMatrix(getattr(blk, name)[0] + _delta(B, A, D)),)
        adapters[f"blocks[{l}].W1"] = (B1, A1)
        b1s.append(tb.b1)
        if l < L - 1:
            require_nonsingular(tb.W2, f"block {l + 1}: target W̄_2", "the carried bias W_2 W̄_2⁻¹ b̄_2",
                                claim="Theorem 8")
            require_nonsingular(blk.W2, f"block {l + 1}: frozen W_2", "the calibration W̄_2 W_2⁻¹", claim="Theorem 8")
            b2s.append(blk.W2 * tb.W2.LUsolve(tb.b2))
            C = _calibration(blk.W2, tb.W2)
            calibrations.append(sp.ImmutableMatrix(C))
        parts.append((mats, sp.ImmutableMatrix(blk.W1 + _delta(B1, A1, D))))

    last, tlast = frozen.blocks[-1], target.blocks[-1]
    out = _chain("output chain (W_2 of the last block, W_o)", ("W_2L", "W_o"), [last.W2, frozen.Wo],
                 target.Wo * tlast.W2, R)
    chains[("out",)] = out
    (B2, A2), (Bo, Ao) = out.adapters
    adapters[f"blocks[{L - 1}].W2"] = (B2, A2)
    adapters["Wo"] = (Bo, Ao)
    W2L = last.W2 + _delta(B2, A2, D)
    Wot = frozen.Wo + _delta(Bo, Ao, D)
    require_nonsingular(Wot, "output layer W̃_o = W_o + ΔW_o", "the last bias W̃_o⁻¹ W̄_o b̄_2L", claim="Theorem 8")
    b2s.append(Wot.LUsolve(target.Wo * tlast.b2))
    blocks = [ExactTFNBlock(mats["WQ"], mats["WK"], mats["WV"], blk.WO, W1t, b1s[l],
                            W2L if l == L - 1 else blk.W2, b2s[l])
              for l, ((mats, W1t), blk) in enumerate(zip(parts, frozen.blocks))]
    adapted = ExactTFN(tuple(blocks), Wot)
    return _verify(frozen, target, adapted, R, gaps, chains, adapters, tuple(calibrations), single_head=True)


def certify_theorem8_example(seed: int, width: int, depth: int, gap_rank: int | None = None) -> TFNCertificate:
    """:func:`single_head_integer_instance` (``width``, ``depth``, ``gap_rank``, ``seed``) certified at
    R = max(1, max_i ⌈G_i/2⌉) (exact gaps)."""
    inst = single_head_integer_instance(width, depth, gap_rank, seed)
    gaps = exact_tfn_gaps(*inst)
    R = max(1, max(math.ceil(g / 2) for g in gaps))
    return certify_tfn_single_head(inst.frozen, inst.target, R)
