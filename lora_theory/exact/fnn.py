"""Exact rational certificate for the Theorem 3 construction on a box (claim ``theorem3``, arXiv 2310.17513v3,
Theorem 3, p. 6).

The float construction (:mod:`lora_theory.constructions.fnn`) can only be checked up to a tolerance, because its
linearising offsets grow geometrically and cancel only in exact arithmetic. Here the same construction is carried out
in sympy ``Rational`` arithmetic on the box 𝒳 = [−β, β]^D (β rational), so every conclusion is an *equality*.

Block i (frozen layers p_1 < … < p_m) emulates target layer i:

1. **Weights.** :func:`lora_theory.exact.linear.certify_linear` on the chain (W_{p_1}, …, W_{p_m}) with target
   W̄_i — rank R on the first M = ⌊L/L̄⌋ layers of the block for the uniform partition (as Theorem 3 states it and as
   :func:`~lora_theory.constructions.fnn.construct_fnn` does; ``use_remainder_layers=True`` spends R on all of them),
   on every layer of a given partition — and W̃ = W + BA exactly.
2. **Linearising offsets, ∞-norm version** (so that everything stays rational; the ℓ₂ version of
   :mod:`lora_theory.constructions.fnn` would need square roots): B_0 = B (a bound on ‖z‖_∞ over everything that
   can enter the block), for k < m ::

       c_k = ‖W̃_{p_k}‖_∞ · B_{k−1},   b̂_{p_k} = c_k·1,   B_k = ‖W̃_{p_k}‖_∞ · B_{k−1} + c_k

   with ‖·‖_∞ the maximum absolute row sum. Every pre-activation entry satisfies
   (W̃y)_j + c_k ≥ −‖row_j‖₁‖y‖_∞ + c_k ≥ 0, so every intermediate ReLU is the identity on the reachable set.
3. **Last bias.** b̂_{p_m} = b̄_i − W̃_{p_m} a_{m−1} with a_0 = 0, a_k = W̃_{p_k} a_{k−1} + c_k·1, so the block computes
   z ↦ σ(W̃^{(i)} z + b̄_i) with W̃^{(i)} = ∏_{P_i} W̃ (= W̄_i at or above the threshold).
4. **Next block.** B ← max(‖W̄_i‖_∞, ‖W̃^{(i)}‖_∞)·B + ‖b̄_i‖_∞ (ReLU is 1-Lipschitz and ReLU(0) = 0; the two norms
   coincide when the block is exact, and the larger one keeps the bound valid for the adapted network below it).

The certificate then checks, exactly: (i) ∏_{P_i} W̃ == W̄_i for every block; (ii) the composed affine map of the
linearised block, matrix and constant term, equals z ↦ W̄_i z + b̄_i; (iii) the offsets actually used satisfy
c_k ≥ ‖W̃_{p_k}‖_∞ B_{k−1}, with the B's recomputed from those offsets (so a mutated offset rule is caught);
(iv) f(x) == f̄(x) at all 2^D vertices of the box and at a few rational interior points, with ReLU = max(·, 0) on
rationals; and rank(B_l A_l) ≤ R. (i)–(iii) are the proof that f = f̄ on the whole box; (iv) is an independent
end-to-end check of the assembled network.
"""

from __future__ import annotations

import itertools
import math
import numbers
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import sympy as sp

from lora_theory.errors import (
    AssumptionViolated,
    DepthError,
    DomainError,
    DTypeError,
    RankError,
    ShapeError,
    SingularityError,
)
from lora_theory.exact._rational import (
    as_rational_matrix,
    as_rational_vector,
    exact_rational,
    exactly_equal,
    integer_matrix,
    rational_product,
    unimodular,
)
from lora_theory.exact.linear import certify_linear
from lora_theory.partition import block_ranges, block_ranks, check_depths, uniform_partition, validate_partition
from lora_theory.validation import check_int, check_rank

__all__ = ["FNNCertificate", "FNNInstance", "certify_fnn_box", "build_integer_fnn_instance",
           "certify_theorem3_example"]

#: how many mismatching points a certificate keeps (the count is always complete)
_KEEP_MISMATCHES = 4


# ---------------------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class FNNCertificate:
    """The verdict of an exact run of the Theorem 3 construction on the box [−β, β]^D.

    Per block i: ``product_equal[i]`` (∏W̃ == W̄_i), ``offset_identity[i]`` (the constant term of the linearised
    block equals b̄_i), ``linear_regime[i]`` (c_k ≥ ‖W̃_{p_k}‖_∞·B_{k−1} for all k < m), ``offsets[i]`` (c_1..c_{m−1},
    sympy Rationals), ``input_bounds[i]`` (B, a bound on ‖z‖_∞ at the block input). Per frozen layer l:
    ``delta_ranks[l]`` = rank(B_l A_l), ``adapters[l]`` = (B_l: (D, r), A_l: (r, D)), ``biases[l]`` = b̂_l: (D, 1).
    """

    width: int
    depth: int
    target_depth: int
    rank: int
    partition: tuple[int, ...]
    uniform: bool
    box_halfwidth: sp.Rational
    final_relu: bool
    layer_ranks: tuple[int, ...]  # the rank budget given to each frozen layer (R or 0)
    discrepancy_ranks: tuple[int, ...]  # rank(E_i) = rank(W̄_i − ∏_{P_i} W), exactly
    product_equal: tuple[bool, ...]
    offset_identity: tuple[bool, ...]
    linear_regime: tuple[bool, ...]
    offsets: tuple[tuple[sp.Rational, ...], ...]
    input_bounds: tuple[sp.Rational, ...]
    delta_ranks: tuple[int, ...]
    adapters: tuple[tuple[sp.Matrix, sp.Matrix], ...]
    biases: tuple[sp.Matrix, ...]
    vertex_checks: int  # vertices of the box evaluated (2^D)
    interior_checks: int  # rational interior points evaluated
    vertex_mismatches: int  # vertices with f(x) != f̄(x)
    interior_mismatches: int
    mismatch_points: tuple[tuple[sp.Rational, ...], ...]  # the first few points with f(x) != f̄(x)
    preactivations_nonnegative: bool  # every intermediate pre-activation ≥ 0 at every evaluated point

    @property
    def ranks_within_budget(self) -> bool:
        """rank(B_l A_l) ≤ R for every layer."""
        return all(r <= self.rank for r in self.delta_ranks)

    @property
    def points_equal(self) -> bool:
        """f(x) == f̄(x) at every evaluated point."""
        return self.vertex_mismatches == 0 and self.interior_mismatches == 0

    @property
    def equal(self) -> bool:
        """The verdict: every exact check holds, so f = f̄ on the whole box."""
        return (all(self.product_equal) and all(self.offset_identity) and all(self.linear_regime)
                and self.ranks_within_budget and self.points_equal and self.preactivations_nonnegative)

    @property
    def threshold(self) -> int:
        """The smallest R for which this construction is exact: max_i ⌈rank(E_i) / (layers of block i given R)⌉
        (= ⌈max_i rank(E_i) / M⌉ for the uniform partition, Theorem 3)."""
        used = _used_layers(self.layer_ranks, self.partition)
        return max(math.ceil(k / u) if u else (0 if k == 0 else self.width + 1)
                   for k, u in zip(self.discrepancy_ranks, used))

    def summary(self) -> str:
        verdict = "equal" if self.equal else "not equal"
        starved = [i + 1 for i, ok in enumerate(self.product_equal) if not ok]
        bad_offsets = [i + 1 for i, ok in enumerate(self.offset_identity) if not ok]
        bad_regime = [i + 1 for i, ok in enumerate(self.linear_regime) if not ok]
        parts = [
            f"exact FNN certificate (Theorem 3) on the box [-{self.box_halfwidth}, {self.box_halfwidth}]^{self.width}: "
            f"f {'==' if self.equal else '!='} f̄ ({verdict})",
            f"D={self.width} L={self.depth} L̄={self.target_depth} R={self.rank} "
            f"partition={list(self.partition)}{' (uniform)' if self.uniform else ''} final_relu={self.final_relu}",
            f"rank(E_i)={list(self.discrepancy_ranks)} threshold={self.threshold} rank(ΔW_l)={list(self.delta_ranks)}",
            f"∏W̃ == W̄_i: {'all blocks' if not starved else f'fails for blocks {starved}'}",
            f"offset identity: {'all blocks' if not bad_offsets else f'fails for blocks {bad_offsets}'}",
            f"linear regime: {'all blocks' if not bad_regime else f'fails for blocks {bad_regime}'}",
            f"points: {self.vertex_checks - self.vertex_mismatches}/{self.vertex_checks} vertices and "
            f"{self.interior_checks - self.interior_mismatches}/{self.interior_checks} interior points equal",
        ]
        if self.mismatch_points:
            parts.append(f"first mismatch at x={[str(v) for v in self.mismatch_points[0]]}")
        if not self.preactivations_nonnegative:
            parts.append("some intermediate pre-activation < 0 at an evaluated point")
        return "; ".join(parts)


class FNNInstance(NamedTuple):
    """An integer FNN instance: frozen (W_l: (D, D), b_l: (D, 1)) for l ≤ L and target (W̄_i, b̄_i) for i ≤ L̄."""

    frozen_weights: list[sp.Matrix]
    frozen_biases: list[sp.Matrix]
    target_weights: list[sp.Matrix]
    target_biases: list[sp.Matrix]


# ---------------------------------------------------------------------------------------------------------- inputs


def _as_halfwidth(beta: object) -> sp.Rational:
    if isinstance(beta, bool) or not isinstance(beta, (numbers.Rational, sp.Rational)):
        raise DTypeError(f"box_halfwidth must be an integer or rational (int, Fraction, sympy Rational) so that the "
                         f"certificate stays exact; got {beta!r} of type {type(beta).__name__}")
    beta = exact_rational(beta, "box_halfwidth")
    if not beta > 0:
        raise DomainError(f"box_halfwidth must be > 0 (the domain is the box [-β, β]^D); got {beta}")
    return beta


def _as_layers(mats: object, name: str) -> list[sp.Matrix]:
    if isinstance(mats, (str, bytes)) or not isinstance(mats, Sequence):
        raise ShapeError(f"{name} must be a sequence of (D, D) matrices; got {type(mats).__name__}")
    if len(mats) == 0:
        raise DepthError(f"{name} is empty: a network needs depth >= 1")
    return [as_rational_matrix(w, f"{name}[{i}]") for i, w in enumerate(mats)]


def _as_biases(vecs: object, name: str, count: int, weights_name: str, width: int) -> list[sp.Matrix]:
    if isinstance(vecs, (str, bytes)) or not isinstance(vecs, Sequence):
        raise ShapeError(f"{name} must be a sequence of {count} vectors of D={width} entries; "
                         f"got {type(vecs).__name__}")
    if len(vecs) != count:
        raise ShapeError(f"{name} has {len(vecs)} vectors but {weights_name} has {count} layers (one bias per layer)")
    return [as_rational_vector(b, f"{name}[{i}]", width) for i, b in enumerate(vecs)]


# ------------------------------------------------------------------------------------------- construction helpers


def _inf_norm(M: sp.Matrix) -> sp.Rational:
    """‖M‖_∞: the maximum absolute row sum (for a column vector: the maximum absolute entry)."""
    return max(sum((abs(M[r, c]) for c in range(M.cols)), sp.Integer(0)) for r in range(M.rows))


def _block_offsets(tildes: Sequence[sp.Matrix], input_bound: sp.Rational) -> list[sp.Rational]:
    """The domain-safe linearising offsets c_1..c_{m−1} of one block (step 2 of the module docstring).

    ``tildes``: the adapted layers W̃_{p_1}, …, W̃_{p_m} of the block; ``input_bound``: B_0 ≥ ‖z‖_∞ at its input.
    (A module-level function so that tests can swap in a mutant rule and see the certificate fail.)
    """
    offsets, bound = [], input_bound
    for W in tildes[:-1]:
        norm = _inf_norm(W)
        c = norm * bound
        offsets.append(c)
        bound = norm * bound + c
    return offsets


def _last_bias(target_bias: sp.Matrix, last_tilde: sp.Matrix, carried: sp.Matrix) -> sp.Matrix:
    """b̂_{p_m} = b̄_i − W̃_{p_m} a_{m−1}: cancels the offsets carried through the block (step 3 of the module
    docstring)."""
    return target_bias - last_tilde * carried


def _used_layers(layer_ranks: Sequence[int], partition: Sequence[int]) -> list[int]:
    return [sum(1 for l in r if layer_ranks[l] > 0) for r in block_ranges(partition)]


# ------------------------------------------------------------------------------------------------ exact evaluation


class _IntAffine(NamedTuple):
    """An affine layer z ↦ W z + b in integer form: W = Wn / dW, b = bn / db (dW, db > 0)."""

    Wn: tuple[tuple[int, ...], ...]
    dW: int
    bn: tuple[int, ...]
    db: int


def _int_affine(W: sp.Matrix, b: sp.Matrix) -> _IntAffine:
    dW = math.lcm(*(int(v.q) for v in W))
    db = math.lcm(*(int(v.q) for v in b))
    Wn = tuple(tuple(int(W[r, c] * dW) for c in range(W.cols)) for r in range(W.rows))
    return _IntAffine(Wn, dW, tuple(int(v * db) for v in b), db)


def _forward(layers: Sequence[_IntAffine], x: Sequence[Fraction], final_relu: bool,
             watch: frozenset[int] = frozenset()) -> tuple[list[Fraction], bool]:
    """Exact FNN output at x (ReLU = max(·, 0)), and whether every pre-activation of the layers in ``watch`` is ≥ 0.

    Integer arithmetic on a common denominator (z = zn / dz) — much faster than Fraction arithmetic entry by entry.
    """
    dz = math.lcm(*(v.denominator for v in x))
    zn = [v.numerator * (dz // v.denominator) for v in x]
    nonneg, last = True, len(layers) - 1
    for l, (Wn, dW, bn, db) in enumerate(layers):
        den = dW * dz
        g = math.gcd(den, db)
        scale_pre, scale_b = db // g, den // g  # den·db/g = lcm(den, db)
        pre = [sum(w * v for w, v in zip(row, zn)) * scale_pre + bj * scale_b for row, bj in zip(Wn, bn)]
        dz = den * scale_pre
        if l in watch and any(p < 0 for p in pre):
            nonneg = False
        zn = pre if (l == last and not final_relu) else [p if p > 0 else 0 for p in pre]
        g = math.gcd(dz, *zn)  # keep the numbers small
        if g > 1:
            dz //= g
            zn = [v // g for v in zn]
    return [Fraction(v, dz) for v in zn], nonneg


def _interior_points(width: int, beta: Fraction) -> list[list[Fraction]]:
    """A few fixed rational points strictly inside the box (none of them a scaled vertex)."""
    D = width
    return [
        [Fraction(0)] * D,
        [beta * (-1) ** j / (j + 2) for j in range(D)],
        [beta * (-1) ** (j + 1) * (j + 1) / (D + 1) for j in range(D)],
        [beta * (2 * j + 1) / (2 * D + 3) * (1 if j % 3 else -1) for j in range(D)],
    ]


# ------------------------------------------------------------------------------------------------------ public API


def certify_fnn_box(frozen_weights: Sequence[object], frozen_biases: Sequence[object],
                    target_weights: Sequence[object], target_biases: Sequence[object], rank: int,
                    box_halfwidth: object, *, partition: Sequence[int] | None = None, final_relu: bool = True,
                    use_remainder_layers: bool = False) -> FNNCertificate:
    """Run the Theorem 3 construction in rational arithmetic on the box [−β, β]^D and certify f = f̄ exactly.

    ``frozen_weights``/``target_weights``: L and L̄ integer/rational (D, D) matrices (nested lists or sympy
    matrices); ``frozen_biases``/``target_biases``: L and L̄ vectors of D entries (the frozen biases are validated
    but replaced, since every bias is adapted); ``rank``: R in 1..D; ``box_halfwidth``: β > 0, int or rational.
    ``partition``: block sizes (default: the uniform partition, R on the first M = ⌊L/L̄⌋ layers of each block
    unless ``use_remainder_layers``). See the module docstring for the construction and the checks.

    Raises DTypeError (a float/non-rational entry, naming the argument), ShapeError (mismatched widths, wrong bias
    length or count), DepthError (empty network, L̄ > L), PartitionError, RankError, DomainError (β ≤ 0) and
    SingularityError (an exactly singular suffix or adapted prefix, naming the block).
    """
    Ws = _as_layers(frozen_weights, "frozen_weights")
    Wbars = _as_layers(target_weights, "target_weights")
    D = Ws[0].rows
    for name, mats in (("frozen_weights", Ws), ("target_weights", Wbars)):
        for idx, W in enumerate(mats):
            if W.shape != (D, D):
                raise ShapeError(f"{name}[{idx}] has shape {W.shape} but frozen_weights[0] has shape ({D}, {D}) "
                                 "(frozen and target networks must share the width D)")
    L, Lbar = check_depths(len(Ws), len(Wbars))
    bs = _as_biases(frozen_biases, "frozen_biases", L, "frozen_weights", D)
    bbars = _as_biases(target_biases, "target_biases", Lbar, "target_weights", D)
    del bs  # validated only: every bias of the adapted network is set by the construction
    R = check_rank(rank, "rank", width=D)
    beta = _as_halfwidth(box_halfwidth)
    if not isinstance(final_relu, bool):
        raise DTypeError(f"final_relu must be a bool; got {final_relu!r}")
    uniform = partition is None
    sizes = uniform_partition(L, Lbar) if uniform else validate_partition(partition, L, Lbar)
    M = L // Lbar

    layer_ranks: list[int] = []
    adapters: list[tuple[sp.Matrix, sp.Matrix]] = []
    tildes_all: list[sp.Matrix] = []
    biases: list[sp.Matrix] = []
    delta_ranks: list[int] = []
    disc_ranks, product_equal, offset_identity, linear_regime = [], [], [], []
    offsets_all, input_bounds = [], []
    watch: set[int] = set()

    bound = beta  # B: ‖z‖_∞ ≤ β on the box; afterwards a bound at the block input (independent of the offsets)
    for i, layers in enumerate(block_ranges(sizes)):
        m = len(layers)
        used = M if (uniform and not use_remainder_layers) else m
        ranks = block_ranks(R, m, used)
        chain = [Ws[l] for l in layers]
        try:
            lin = certify_linear(chain, Wbars[i], ranks)
        except AssumptionViolated as exc:
            where = exc.where.replace("W_", "block-local W_").replace("W̃_", "block-local W̃_")
            raise SingularityError(
                f"block {i + 1} (frozen layers {layers.start + 1}..{layers.stop}, emulating target layer {i + 1}): "
                f"{exc}", where=f"block {i + 1}: {where}", ratio=exc.ratio, threshold=exc.threshold) from None
        layer_ranks.extend(ranks)
        disc_ranks.append(lin.discrepancy_rank)
        delta_ranks.extend(lin.delta_ranks)
        adapters.extend(lin.adapters)
        tildes = [W + B * A for W, (B, A) in zip(chain, lin.adapters)]
        tildes_all.extend(tildes)
        watch.update(layers[:-1])

        # linearising offsets and the last bias (the construction)
        input_bounds.append(bound)
        cs = [exact_rational(c, f"offset of block {i + 1}") for c in _block_offsets(tildes, bound)]
        if len(cs) != m - 1:
            raise AssertionError(f"offset rule returned {len(cs)} offsets for a block of {m} layers")
        carried = sp.zeros(D, 1)  # a_k
        for W, c in zip(tildes[:-1], cs):
            biases.append(sp.Matrix([c] * D))
            carried = W * carried + sp.Matrix([c] * D)
        biases.append(_last_bias(bbars[i], tildes[-1], carried))
        offsets_all.append(tuple(cs))

        # (ii) the composed affine map of the linearised block: z ↦ T z + t
        T, t = sp.eye(D), sp.zeros(D, 1)
        for W, b in zip(tildes, biases[-m:]):
            T, t = W * T, W * t + b
        product_equal.append(exactly_equal(T, Wbars[i]))  # (i): T = ∏_{P_i} W̃
        offset_identity.append(exactly_equal(t, bbars[i]))

        # (iii) linear regime, with the B_k recomputed from the offsets actually used (not from _block_offsets):
        # c_k ≥ ‖W̃_{p_k}‖_∞·B_{k−1} ≥ −(W̃_{p_k} y)_j for every reachable y
        regime, b_k = True, bound
        for W, c in zip(tildes[:-1], cs):
            norm = _inf_norm(W)
            if not c >= norm * b_k:
                regime = False
            b_k = norm * b_k + abs(c)
        linear_regime.append(regime)

        bound = max(_inf_norm(Wbars[i]), _inf_norm(T)) * bound + _inf_norm(bbars[i])

    # (iv) end-to-end evaluation at the vertices and a few interior points
    beta_f = Fraction(int(beta.p), int(beta.q))
    adapted_net = [_int_affine(W, b) for W, b in zip(tildes_all, biases)]
    target_net = [_int_affine(W, b) for W, b in zip(Wbars, bbars)]
    frozen_watch = frozenset(watch)
    mismatches: list[tuple[sp.Rational, ...]] = []
    nonneg_all = True
    counts = {"vertex": 0, "interior": 0}
    vertices = (list(v) for v in itertools.product((-beta_f, beta_f), repeat=D))
    interior = _interior_points(D, beta_f)
    for kind, pts in (("vertex", vertices), ("interior", interior)):
        for x in pts:
            y, nonneg = _forward(adapted_net, x, final_relu, frozen_watch)
            ybar, _ = _forward(target_net, x, final_relu)
            nonneg_all = nonneg_all and nonneg
            if y != ybar:
                counts[kind] += 1
                if len(mismatches) < _KEEP_MISMATCHES:
                    mismatches.append(tuple(sp.Rational(v.numerator, v.denominator) for v in x))

    return FNNCertificate(
        width=D, depth=L, target_depth=Lbar, rank=R, partition=tuple(sizes), uniform=uniform, box_halfwidth=beta,
        final_relu=final_relu, layer_ranks=tuple(layer_ranks), discrepancy_ranks=tuple(disc_ranks),
        product_equal=tuple(product_equal), offset_identity=tuple(offset_identity),
        linear_regime=tuple(linear_regime), offsets=tuple(offsets_all), input_bounds=tuple(input_bounds),
        delta_ranks=tuple(delta_ranks), adapters=tuple(adapters), biases=tuple(biases), vertex_checks=2 ** D,
        interior_checks=len(interior), vertex_mismatches=counts["vertex"], interior_mismatches=counts["interior"],
        mismatch_points=tuple(mismatches), preactivations_nonnegative=nonneg_all)


def build_integer_fnn_instance(width: int, depth: int, target_depth: int, block_ranks: Sequence[int], seed: int,
                               entry_bound: int = 2) -> FNNInstance:
    """An integer FNN instance for the uniform partition of ``depth`` layers into ``target_depth`` blocks.

    Frozen layers have det = 1 by construction (unit lower × unit upper triangular, off-diagonal entries in
    [−entry_bound, entry_bound], as :func:`lora_theory.exact.linear.build_integer_linear_instance`); frozen and
    target biases have
    entries in [−2, 2]; target layer i is W̄_i = ∏_{P_i} W + X_i Y_iᵀ with X_i, Y_i: (D, block_ranks[i]) integer
    (rank(E_i) may come out lower than block_ranks[i]: compute it, don't assume). Uses ``random.Random(seed)`` only.
    """
    D = check_int(width, "width", minimum=1, error=ShapeError)
    entry_bound = check_int(entry_bound, "entry_bound", minimum=1, error=ShapeError)
    L, Lbar = check_depths(depth, target_depth)
    if isinstance(block_ranks, (str, bytes)) or not isinstance(block_ranks, Sequence) or len(block_ranks) != Lbar:
        raise RankError(f"block_ranks must be a sequence of one rank per target layer (L̄={Lbar}); "
                        f"got {block_ranks!r}")
    ks = [check_rank(k, f"block_ranks[{i}]", width=D, minimum=0) for i, k in enumerate(block_ranks)]
    rng = random.Random(check_int(seed, "seed", error=DTypeError))

    def draw(bound: int = entry_bound) -> int:
        return rng.randint(-bound, bound)

    Ws = [unimodular(D, draw) for _ in range(L)]
    bs = [sp.Matrix(D, 1, lambda r, c: draw(2)) for _ in range(L)]
    Wbars, bbars = [], []
    for layers, k in zip(block_ranges(uniform_partition(L, Lbar)), ks):
        X = integer_matrix(D, k, draw)
        Y = integer_matrix(D, k, draw)
        Wbars.append(rational_product([Ws[l] for l in layers], D) + X * Y.T)
        bbars.append(sp.Matrix(D, 1, lambda r, c: draw(2)))
    return FNNInstance(Ws, bs, Wbars, bbars)


def certify_theorem3_example(seed: int, width: int, depth: int, target_depth: int, *,
                             box_halfwidth: object = 1, final_relu: bool = True) -> FNNCertificate:
    """Draw block ranks k_i ∈ 0..D with ``random.Random(seed)``, build the integer instance
    (:func:`build_integer_fnn_instance`, same seed), set R to the Theorem 3 threshold ⌈max_i rank(E_i) / M⌉ (with the
    exact ranks rank(E_i), and at least 1) and certify. At the threshold Theorem 3 says the verdict is ``equal``
    unless the hypothesis fails, in which case this raises SingularityError (an exactly singular suffix/prefix).
    """
    L, Lbar = check_depths(depth, target_depth)
    rng = random.Random(seed)
    ks = [rng.randint(0, width) for _ in range(Lbar)]
    inst = build_integer_fnn_instance(width, L, Lbar, ks, seed)
    M = L // Lbar
    rank_E = [(Wbar - rational_product([inst.frozen_weights[l] for l in layers], width)).rank()
              for Wbar, layers in zip(inst.target_weights, block_ranges(uniform_partition(L, Lbar)))]
    R = max(1, math.ceil(max(rank_E) / M))
    return certify_fnn_box(*inst, R, box_halfwidth, final_relu=final_relu)
