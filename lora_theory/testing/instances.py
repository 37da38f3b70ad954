"""Deterministic instance builders: frozen/target pairs with designed ranks and conditioning, from a seed.

No Hypothesis here: every builder is a plain function of sizes, a few *levels* and a seed, using a local
``torch.Generator`` (the global RNG is never touched), so an instance is rebuilt bit for bit from its ``repro()``
string. The Hypothesis strategies of :mod:`lora_theory.testing.strategies` draw those arguments.

Conditioning is fixed by construction (no filtering):

* frozen layers W_l = U·diag(s_l)·Vᵀ with κ(W_l) = κ^{1/L}, so ∏‖W_l‖ ≤ √κ and σ_min(∏W) ≥ 1/√κ;
* the discrepancy E = U_k·diag(e)·V_kᵀ has exactly rank k, σ_1(E) = ratio/√κ and σ_k(E) = floor·σ_1(E);
* with ratio < 1, every P + LR_r(E) has σ_min ≥ (1 − ratio)/√κ (Weyl): the non-singularity hypothesis of
  arXiv 2310.17513v3, Lemma 1, p. 3 (and of Assumption 1, p. 6, block by block) holds by construction — a
  "pretrained pair": target = frozen product + a small low-rank change. Ratios ≥ 1 give generic targets where the
  hypothesis may fail; they are used only where failure is part of the claim.

Off-generator populations (:func:`build_offgen_linear_instance`, :func:`build_offgen_fnn_instance`,
:func:`build_offgen_tfn_instance`) are *not* conditioned: they draw what users and the paper's experiments use —
plain Gaussian N(0, 1/D) and Xavier-uniform layers, diagonal and permutation-like layers with a dynamic range up
to 1e8, a tiny relative change (1e-12 … 1e-4) on large weights (norm up to 1e4), tied singular values, an exactly
singular frozen layer, E = 0 — so a construction on them may legitimately refuse (a typed SingularityError naming
the matrix); what it must never do is report "exact" while its own residual exceeds its own tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from lora_theory.numerics import chain_product
from lora_theory.random_matrices import generator, haar_orthogonal, low_rank_matrix, matrix_with_singular_values

if TYPE_CHECKING:  # imported lazily in the builders to keep module import light
    from lora_theory.domains import Domain
    from lora_theory.models import TFN, ReLUFNN

__all__ = ["LinearInstance", "LinearCase", "build_linear_instance", "build_singular_prefix_instance", "FNNInstance",
           "build_fnn_instance", "TFNInstance", "build_tfn_instance", "LINEAR_POPULATIONS", "FNN_POPULATIONS",
           "TFN_POPULATIONS", "OffGenLinearInstance", "build_offgen_linear_instance", "issue12_diagonal_instance",
           "build_offgen_fnn_instance", "build_offgen_tfn_instance", "build_clipping_probe_fnn_instance"]


@dataclass(frozen=True, eq=False)
class LinearInstance:
    """A frozen chain and a target with designed discrepancy E = target − ∏W."""

    weights: tuple[torch.Tensor, ...]
    target: torch.Tensor
    designed_singular_values: torch.Tensor  # σ_1..σ_k of E, descending
    width: int
    depth: int
    discrepancy_rank: int
    kappa: float
    ratio: float
    floor: float
    ties: bool
    seed: int

    def repro(self) -> str:
        return (f"build_linear_instance(width={self.width}, depth={self.depth}, discrepancy_rank="
                f"{self.discrepancy_rank}, kappa={self.kappa!r}, ratio={self.ratio!r}, floor={self.floor!r}, "
                f"ties={self.ties!r}, seed={self.seed})")


def build_linear_instance(width: int, depth: int, discrepancy_rank: int, *, kappa: float = 10.0,
                          ratio: float = 0.5, floor: float = 0.1, ties: bool = False, seed: int = 0,
                          dtype: torch.dtype = torch.float64) -> LinearInstance:
    """Frozen W_1..W_L with κ(∏W) ≤ ``kappa`` and target ∏W + E, rank E = ``discrepancy_rank`` (see module doc)."""
    D, L, k = width, depth, discrepancy_rank
    gen = generator(seed)
    layer_kappa = kappa ** (1.0 / L)
    weights = []
    for _ in range(L):
        if D == 1:
            s = torch.ones(1, dtype=dtype)
        else:
            u = torch.rand(D, generator=gen, dtype=dtype)
            u[0], u[1] = 1.0, 0.0  # pin the extremes so κ(W_l) is exactly layer_kappa
            s = torch.sort(layer_kappa ** (u - 0.5), descending=True).values
        weights.append(matrix_with_singular_values(s, gen, dtype=dtype))
    top = ratio / kappa ** 0.5
    if k == 0:
        e = torch.zeros(0, dtype=dtype)
    elif ties or k == 1:
        e = torch.full((k,), top, dtype=dtype)
    else:
        u = torch.rand(k, generator=gen, dtype=dtype)
        u[0], u[1] = 1.0, 0.0
        e = torch.sort(top * floor ** (1.0 - u), descending=True).values
    E = low_rank_matrix(D, e, gen, dtype=dtype)
    target = chain_product(weights) + E
    return LinearInstance(tuple(weights), target, e, D, L, k, float(kappa), float(ratio),
                          float(floor) if k > 1 and not ties else 1.0, bool(ties), int(seed))


@dataclass(frozen=True, eq=False)
class LinearCase:
    """An instance and the per-layer ranks to adapt it with."""

    instance: LinearInstance
    ranks: tuple[int, ...]

    def repro(self) -> str:
        return f"{self.instance.repro()}, ranks={list(self.ranks)}"


def build_singular_prefix_instance(width: int, depth: int, *, kappa: float = 10.0, seed: int = 0,
                                   dtype: torch.dtype = torch.float64) -> LinearInstance:
    """An instance on which the Lemma 1 hypothesis fails *by construction* at r = 1: ∏W + LR_1(E) is singular.

    With P = ∏W and a unit vector v_1, put the top singular pair of E at u_1 = −P v_1/‖P v_1‖, σ_1 = ‖P v_1‖, so
    P + σ_1 u_1 v_1ᵀ = P (I − v_1 v_1ᵀ) has a null vector v_1; the other singular values of E are strictly smaller
    (LR_1(E) is unique). Needs width ≥ 2 and depth ≥ 2; with R = 1 the prefix W̃_1 solved with for A_2 is singular.
    """
    base = build_linear_instance(width, depth, 0, kappa=kappa, seed=seed, dtype=dtype)
    gen = generator(seed + 1)
    P = chain_product(base.weights)
    V = haar_orthogonal(width, gen, dtype=dtype)
    w = P @ V[:, 0]
    top = float(torch.linalg.vector_norm(w))
    basis = torch.cat([(-w / top)[:, None], torch.randn(width, width - 1, generator=gen, dtype=dtype)], dim=1)
    Q, Rm = torch.linalg.qr(basis)
    U = Q * torch.sign(torch.diagonal(Rm))  # first column is exactly −w/‖w‖ up to rounding
    e = torch.cat([torch.tensor([top], dtype=dtype), top * torch.linspace(0.9, 0.1, width - 1, dtype=dtype)])
    E = (U * e) @ V.T
    return LinearInstance(base.weights, P + E, e, width, depth, width, base.kappa, float("nan"), 0.1, False,
                          int(seed))

# ---------------------------------------------------------------------------------------------------------------
# ReLU FNN instances (claims theorem3, corollary4, theorem6, lemma2, theorem5, …)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class FNNInstance:
    """A frozen FNN, a target FNN, the partition the target was designed against, and the input domain.

    ``designed_ranks[i]`` is rank(W̄_i − ∏_{P_i}W) by construction, or ``None`` for a generic (independent) target
    layer, whose discrepancy is full rank almost surely.
    """

    frozen: "ReLUFNN"
    target: "ReLUFNN"
    partition: tuple[int, ...]
    designed_ranks: tuple[int | None, ...]
    domain: "Domain"
    kappa: float
    ratio: float
    seed: int
    args: str
    builder: str = "build_fnn_instance"  # the function ``args`` are for

    def repro(self) -> str:
        return f"{self.builder}({self.args})"


def build_fnn_instance(width: int, depth: int, target_depth: int, block_ranks: tuple[int | None, ...] | None = None,
                       *, partition: tuple[int, ...] | None = None, kappa: float = 10.0, ratio: float = 0.5,
                       bias_scale: float = 0.5, final_relu: bool = True, domain: str = "ball",
                       radius: float = 3.0, seed: int = 0, dtype: torch.dtype = torch.float64) -> FNNInstance:
    """Frozen layers with κ(W_l) = κ^{1/L}; target layer i = ∏_{P_i}W + (rank-k_i change with σ_1 = ratio·bound on
    σ_min(∏_{P_i}W), so Assumption 1 holds by construction) when ``block_ranks[i] = k_i``, or an independent
    matrix with continuous random singular values in [0.5/√κ, 2√κ] when it is ``None`` (default: all ``None``).
    Biases are uniform in ±bias_scale; the domain is the ball of ``radius`` or the box [−ρ/√D, ρ/√D]^D (same norm
    bound)."""
    from lora_theory.domains import Ball, Box
    from lora_theory.models import ReLUFNN
    from lora_theory.partition import block_ranges, uniform_partition, validate_partition

    D, L, Lbar = width, depth, target_depth
    sizes = uniform_partition(L, Lbar) if partition is None else validate_partition(partition, L, Lbar)
    ranks = tuple(block_ranks) if block_ranks is not None else (None,) * Lbar
    gen = generator(seed)
    layer_kappa = kappa ** (1.0 / L)

    def conditioned(k: float) -> torch.Tensor:
        if D == 1:
            return matrix_with_singular_values(torch.ones(1, dtype=dtype), gen, dtype=dtype)
        u = torch.rand(D, generator=gen, dtype=dtype)
        u[0], u[1] = 1.0, 0.0
        return matrix_with_singular_values(torch.sort(k ** (u - 0.5), descending=True).values, gen, dtype=dtype)

    def bias() -> torch.Tensor:
        return bias_scale * (2 * torch.rand(D, generator=gen, dtype=dtype) - 1)

    weights = [conditioned(layer_kappa) for _ in range(L)]
    biases = [bias() for _ in range(L)]
    t_weights, t_biases = [], []
    for i, layers in enumerate(block_ranges(sizes)):
        k = ranks[i]
        if k is None:  # generic: continuous singular values in [0.5/√κ, 2√κ] (no pinned values, even at D = 1)
            sv = 0.5 * kappa ** -0.5 + (2 * kappa ** 0.5 - 0.5 * kappa ** -0.5) * torch.rand(D, generator=gen,
                                                                                              dtype=dtype)
            t_weights.append(matrix_with_singular_values(torch.sort(sv, descending=True).values, gen, dtype=dtype))
        else:
            P = chain_product([weights[l] for l in layers])
            smin_bound = layer_kappa ** (-0.5 * len(layers))
            e = torch.full((k,), ratio * smin_bound, dtype=dtype) * torch.linspace(1.0, 0.5, k, dtype=dtype)
            t_weights.append(P + low_rank_matrix(D, e, gen, dtype=dtype))
        t_biases.append(bias())
    dom = Ball(D, radius) if domain == "ball" else Box(D, -radius / D ** 0.5, radius / D ** 0.5)
    frozen = ReLUFNN(tuple(weights), tuple(biases), final_relu)
    target = ReLUFNN(tuple(t_weights), tuple(t_biases), final_relu)
    args = (f"width={D}, depth={L}, target_depth={Lbar}, block_ranks={ranks!r}, partition={sizes!r}, "
            f"kappa={kappa!r}, ratio={ratio!r}, bias_scale={bias_scale!r}, final_relu={final_relu!r}, "
            f"domain={domain!r}, radius={radius!r}, seed={seed}")
    return FNNInstance(frozen, target, sizes, ranks, dom, float(kappa), float(ratio), int(seed), args)

# ---------------------------------------------------------------------------------------------------------------
# TFN instances (claims theorem7, theorem7_scope, theorem7_gap, theorem8, corollary9)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TFNInstance:
    """A frozen TFN and a same-size target. ``gap_rank`` is the designed perturbation rank k of a low-gap target
    (every W_Q, W_K, W_V, W_O and W_o moved by a rank-k matrix — for single-head models W_Q, W_K, W_V, W_1 and W_o —
    the other FFN weights kept, fresh biases: G = (2k, …, 2k, k)), or ``None`` for an independent random target
    (G_i = D almost surely)."""

    frozen: "TFN"
    target: "TFN"
    gap_rank: int | None
    seed: int
    args: str
    builder: str = "build_tfn_instance"  # the function ``args`` are for

    def repro(self) -> str:
        return f"{self.builder}({self.args})"


def build_tfn_instance(width: int, depth: int, heads: int, gap_rank: int | None = None, *, kappa: float = 4.0,
                       attention_scale: float = 1.0, ratio: float = 0.3, seed: int = 0,
                       dtype: torch.dtype = torch.float64, output: str = "softmax",
                       single_head: bool = False) -> TFNInstance:
    """Every matrix is U·diag(s)·Vᵀ with s in [1/√κ, √κ] (so W_1, W_2, W_o and the K, O factors are invertible,
    each with condition number ≤ κ); attention matrices are scaled by ``attention_scale``/D^{1/4} so the scores
    (Kz)ᵀQz, a product of two of them, stay of order one: the paper's attention has no 1/√D inside the softmax
    (arXiv 2310.17513v3, App. F.2, p. 36), so the generator supplies that scaling. Low-gap perturbations have
    σ_1 = ratio·(1/√κ) so the two-factor prefixes stay non-singular by construction.

    ``output``: the models' output layer (``"softmax"``, the paper's, or ``"linear"``). ``single_head=True`` (needs
    ``heads=1``) builds single-head models (App. F.1, p. 33; W_O is the identity and is never drawn); their low-gap
    targets move W_1 instead of W_O, so the value chain W_1W_V of Theorem 8 has both factors moved."""
    from lora_theory.models import TFN, TFNBlock, single_head_block

    D, L, H = width, depth, heads
    if single_head and H != 1:
        raise ValueError(f"single_head=True needs heads=1; got heads={H}")
    gen = generator(seed)
    att = attention_scale / D ** 0.25

    def cond(scale: float = 1.0) -> torch.Tensor:
        u = torch.rand(D, generator=gen, dtype=dtype)
        if D >= 2:
            u[0], u[1] = 1.0, 0.0
        s = torch.sort(kappa ** (u - 0.5), descending=True).values * scale
        return matrix_with_singular_values(s, gen, dtype=dtype)

    def bias() -> torch.Tensor:
        return 0.5 * (2 * torch.rand(D, generator=gen, dtype=dtype) - 1)

    def model() -> "TFN":
        if single_head:
            blocks = [single_head_block(cond(att), cond(att), cond(att), cond(), bias(), cond(), bias())
                      for _ in range(L)]
        else:
            blocks = [TFNBlock(tuple(cond(att) for _ in range(H)), tuple(cond(att) for _ in range(H)),
                               tuple(cond(att) for _ in range(H)), tuple(cond(att) for _ in range(H)),
                               cond(), bias(), cond(), bias()) for _ in range(L)]
        return TFN(tuple(blocks), cond(), output, single_head)

    frozen = model()
    if gap_rank is None:
        target = model()
    else:
        k = gap_rank

        def moved(W: torch.Tensor, scale: float) -> torch.Tensor:
            if k == 0:
                return W.clone()
            e = torch.full((k,), ratio * scale / kappa ** 0.5, dtype=dtype) * torch.linspace(1.0, 0.5, k, dtype=dtype)
            return W + low_rank_matrix(D, e, gen, dtype=dtype)

        if single_head:
            blocks = [single_head_block(moved(b.WQ[0], att), moved(b.WK[0], att), moved(b.WV[0], att),
                                        moved(b.W1, 1.0), bias(), b.W2.clone(), bias()) for b in frozen.blocks]
        else:
            blocks = [TFNBlock(tuple(moved(W, att) for W in b.WQ), tuple(moved(W, att) for W in b.WK),
                               tuple(moved(W, att) for W in b.WV), tuple(moved(W, att) for W in b.WO),
                               b.W1.clone(), bias(), b.W2.clone(), bias()) for b in frozen.blocks]
        target = TFN(tuple(blocks), moved(frozen.Wo, 1.0), output, single_head)
    args = (f"width={D}, depth={L}, heads={H}, gap_rank={gap_rank!r}, kappa={kappa!r}, "
            f"attention_scale={attention_scale!r}, ratio={ratio!r}, seed={seed}"
            + (f", output={output!r}" if output != "softmax" else "")
            + (", single_head=True" if single_head else ""))
    return TFNInstance(frozen, target, gap_rank, int(seed), args)


# ---------------------------------------------------------------------------------------------------------------
# Off-generator populations (not conditioned: what users and the paper's experiments draw)
# ---------------------------------------------------------------------------------------------------------------

#: the linear-chain populations; every one also serves the FNN builder (as frozen layers) except where noted
LINEAR_POPULATIONS = ("gaussian", "xavier", "diagonal", "permutation", "tiny_change", "tied", "singular_layer",
                      "zero_discrepancy")
FNN_POPULATIONS = ("gaussian", "xavier", "diagonal", "permutation", "tiny_change", "singular_layer",
                   "zero_discrepancy")
TFN_POPULATIONS = ("gaussian", "xavier", "tiny_change", "zero_discrepancy")


def _offgen_layer(kind: str, D: int, gen: torch.Generator, dtype: torch.dtype, *, dynamic_range: float = 1.0,
                  scale: float = 1.0) -> torch.Tensor:
    """One frozen layer of population ``kind`` (see the module doc)."""
    if kind in ("gaussian", "tiny_change", "tied", "singular_layer", "zero_discrepancy"):
        W = torch.randn(D, D, generator=gen, dtype=dtype) / D ** 0.5  # N(0, 1/D) entries, as in the paper's runs
    elif kind == "xavier":
        bound = (6.0 / (2 * D)) ** 0.5  # Xavier/Glorot uniform for a D×D layer
        W = (2 * torch.rand(D, D, generator=gen, dtype=dtype) - 1) * bound
    elif kind in ("diagonal", "permutation"):
        logs = torch.rand(D, generator=gen, dtype=dtype) * math.log10(max(dynamic_range, 1.0))
        signs = torch.where(torch.rand(D, generator=gen, dtype=dtype) < 0.5, -1.0, 1.0).to(dtype)
        W = torch.diag(signs * 10.0 ** logs)
        if kind == "permutation":
            W = W[torch.randperm(D, generator=gen)]
    else:
        raise ValueError(f"unknown off-generator population {kind!r}")
    return W * scale


@dataclass(frozen=True, eq=False)
class OffGenLinearInstance:
    """A frozen chain and a target from an off-generator population (``kind``); ``args`` rebuilds it."""

    weights: tuple[torch.Tensor, ...]
    target: torch.Tensor
    kind: str
    width: int
    depth: int
    seed: int
    args: str

    def repro(self) -> str:
        return self.args


def build_offgen_linear_instance(kind: str, width: int, depth: int, *, discrepancy_rank: int | None = None,
                                 dynamic_range: float = 1e8, weight_scale: float = 1.0, relative_change: float = 1e-6,
                                 seed: int = 0, dtype: torch.dtype = torch.float64) -> OffGenLinearInstance:
    """An unconditioned chain of population ``kind`` (:data:`LINEAR_POPULATIONS`) and its target.

    * ``gaussian`` / ``xavier``: N(0, 1/D) / Xavier-uniform layers; the target is ∏W + a Gaussian rank-k change
      (``discrepancy_rank`` k; ``None``: an independent Gaussian target, generic full-rank E);
    * ``diagonal`` / ``permutation``: diagonal (row-permuted) layers with |entries| log-uniform in [1, dynamic_range],
      the target ∏W with k of its diagonal entries changed by a relative ``relative_change``;
    * ``tiny_change``: Gaussian layers times ``weight_scale`` (‖W‖ up to 1e4), target ∏W + a rank-k change of
      relative size ``relative_change`` (1e-12 … 1e-4) of ‖∏W‖;
    * ``tied``: Gaussian layers, E with k equal singular values (LR_r(E) is not unique);
    * ``singular_layer``: Gaussian layers, the first one exactly singular (one zero column), target as ``gaussian``;
    * ``zero_discrepancy``: Gaussian layers, target = ∏W exactly (E = 0).
    """
    D, L = width, depth
    gen = generator(seed)
    k = discrepancy_rank
    if kind not in LINEAR_POPULATIONS:
        raise ValueError(f"unknown off-generator population {kind!r}; choose from {LINEAR_POPULATIONS}")
    scale = weight_scale ** (1.0 / L) if kind == "tiny_change" else 1.0
    weights = [_offgen_layer(kind, D, gen, dtype, dynamic_range=dynamic_range ** (1.0 / L), scale=scale)
               for _ in range(L)]
    if kind == "singular_layer":
        weights[0][:, int(torch.randint(D, (1,), generator=gen))] = 0.0
    P = chain_product(weights)
    if kind == "zero_discrepancy":
        target = P.clone()
    elif kind in ("diagonal", "permutation"):
        target = P.clone()
        rows = torch.randperm(D, generator=gen)[: D if k is None else k]
        for r in rows.tolist():
            c = int(torch.argmax(P[r].abs()))
            target[r, c] = P[r, c] * (1.0 + relative_change)
    elif kind == "tiny_change":
        e = torch.full((D if k is None else k,), relative_change * float(torch.linalg.matrix_norm(P, ord=2)),
                       dtype=dtype)
        target = P + low_rank_matrix(D, e, gen, dtype=dtype)
    elif kind == "tied":
        e = torch.full((D if k is None else k,), 0.5, dtype=dtype)
        target = P + low_rank_matrix(D, e, gen, dtype=dtype)
    elif k is None:
        target = _offgen_layer("gaussian", D, gen, dtype)
    else:
        X = torch.randn(D, k, generator=gen, dtype=dtype) / D ** 0.5
        Y = torch.randn(k, D, generator=gen, dtype=dtype) / D ** 0.5
        target = P + X @ Y
    args = (f"build_offgen_linear_instance({kind!r}, width={D}, depth={L}, discrepancy_rank={k!r}, "
            f"dynamic_range={dynamic_range!r}, weight_scale={weight_scale!r}, relative_change={relative_change!r}, "
            f"seed={seed})")
    return OffGenLinearInstance(tuple(weights), target, kind, D, L, int(seed), args)


def issue12_diagonal_instance(dtype: torch.dtype = torch.float64) -> OffGenLinearInstance:
    """The example of issue 12: W = diag(1e4, 1, 1, 1), W̄ = W except W̄[3,3] = 1 + 1e-6, L = 1 (use R = 1). A single
    rank-1 adapter is exact; a rank threshold that is too coarse drops the change and reports "exact" anyway."""
    W = torch.diag(torch.tensor([1e4, 1.0, 1.0, 1.0], dtype=dtype))
    target = W.clone()
    target[3, 3] = 1.0 + 1e-6
    return OffGenLinearInstance((W,), target, "diagonal", 4, 1, 0, "issue12_diagonal_instance()")


def build_offgen_fnn_instance(kind: str, width: int, depth: int, target_depth: int, *,
                              block_ranks: tuple[int | None, ...] | None = None, dynamic_range: float = 1e4,
                              weight_scale: float = 1.0, relative_change: float = 1e-6, bias_scale: float = 0.5,
                              final_relu: bool = True, domain: str = "ball", radius: float = 1.0, seed: int = 0,
                              dtype: torch.dtype = torch.float64) -> FNNInstance:
    """An unconditioned FNN pair of population ``kind`` (:data:`FNN_POPULATIONS`), uniform partition: frozen layers
    as in :func:`build_offgen_linear_instance`; target layer i = the block product plus a change of rank
    ``block_ranks[i]`` (Gaussian; relative ``relative_change`` for ``tiny_change``, a relative change of diagonal
    entries for ``diagonal``/``permutation``), an independent Gaussian layer for ``None``, or the block product
    itself for ``zero_discrepancy``. ``kappa``/``ratio`` of the returned instance are NaN (nothing is designed)."""
    from lora_theory.domains import Ball, Box
    from lora_theory.models import ReLUFNN
    from lora_theory.partition import block_ranges, uniform_partition

    if kind not in FNN_POPULATIONS:
        raise ValueError(f"unknown off-generator FNN population {kind!r}; choose from {FNN_POPULATIONS}")
    D, L, Lbar = width, depth, target_depth
    sizes = uniform_partition(L, Lbar)
    ranks = tuple(block_ranks) if block_ranks is not None else (None,) * Lbar
    gen = generator(seed)
    scale = weight_scale ** (1.0 / L) if kind == "tiny_change" else 1.0
    weights = [_offgen_layer(kind, D, gen, dtype, dynamic_range=dynamic_range ** (1.0 / L), scale=scale)
               for _ in range(L)]
    if kind == "singular_layer":
        weights[0][:, int(torch.randint(D, (1,), generator=gen))] = 0.0

    def bias() -> torch.Tensor:
        return bias_scale * (2 * torch.rand(D, generator=gen, dtype=dtype) - 1)

    biases = [bias() for _ in range(L)]
    t_weights, t_biases = [], []
    for i, layers in enumerate(block_ranges(sizes)):
        P = chain_product([weights[l] for l in layers])
        k = ranks[i]
        if kind == "zero_discrepancy":
            Wbar = P.clone()
        elif kind in ("diagonal", "permutation"):
            Wbar = P.clone()
            for r in torch.randperm(D, generator=gen)[: D if k is None else k].tolist():
                c = int(torch.argmax(P[r].abs()))
                Wbar[r, c] = P[r, c] * (1.0 + relative_change)
        elif kind == "tiny_change":
            e = torch.full((D if k is None else k,), relative_change * float(torch.linalg.matrix_norm(P, ord=2)),
                           dtype=dtype)
            Wbar = P + low_rank_matrix(D, e, gen, dtype=dtype)
        elif k is None:
            Wbar = _offgen_layer("gaussian", D, gen, dtype)
        else:
            Wbar = P + (torch.randn(D, k, generator=gen, dtype=dtype) @ torch.randn(k, D, generator=gen, dtype=dtype)
                        ) / D
        t_weights.append(Wbar)
        t_biases.append(bias())
    dom = Ball(D, radius) if domain == "ball" else Box(D, -radius / D ** 0.5, radius / D ** 0.5)
    frozen = ReLUFNN(tuple(weights), tuple(biases), final_relu)
    target = ReLUFNN(tuple(t_weights), tuple(t_biases), final_relu)
    args = (f"{kind!r}, width={D}, depth={L}, target_depth={Lbar}, block_ranks={ranks!r}, "
            f"dynamic_range={dynamic_range!r}, weight_scale={weight_scale!r}, relative_change={relative_change!r}, "
            f"bias_scale={bias_scale!r}, final_relu={final_relu!r}, domain={domain!r}, radius={radius!r}, "
            f"seed={seed}")
    return FNNInstance(frozen, target, sizes, ranks, dom, math.nan, math.nan, int(seed), args,
                       builder="build_offgen_fnn_instance")


def build_clipping_probe_fnn_instance(radius: float = 2.0, dtype: torch.dtype = torch.float64) -> FNNInstance:
    """A D = 3, L = 4, L̄ = 2 pair (M = 2) built so that, below the Theorem 3 threshold (R = 1: the construction
    drops the smallest direction of E_1), block 1's output reaches its worst-case norm bound *including* its error ε_1
    at the domain point ρ·e_3, and block 2's linearised layer (W_3 = −I) pre-activation −z + offset is 0 there.

    Block 1: W_1 = W_2 = I, W̄_1 = diag(0.5, 0.6, 0.9), so W̃^{(1)} = diag(0.5, 0.6, 1.0) (the dropped direction is e_3,
    ε_1 = 0.1) and ‖z‖ = ρ = (‖W̄_1‖ + ε_1)·ρ at x = ρ·e_3 (zero biases). Block 2: W_3 = W_4 = −I, W̄_2 = I (E_2 = 0).
    An input bound for block 2 computed without ε_1 (0.9ρ) gives offsets 0.9ρ and the pre-activation −0.1ρ < 0:
    the ReLU clips on the domain."""
    from lora_theory.domains import Ball
    from lora_theory.models import ReLUFNN

    eye = torch.eye(3, dtype=dtype)
    zero = torch.zeros(3, dtype=dtype)
    frozen = ReLUFNN((eye.clone(), eye.clone(), -eye, -eye), (zero,) * 4, True)
    target = ReLUFNN((torch.diag(torch.tensor([0.5, 0.6, 0.9], dtype=dtype)), eye.clone()), (zero, zero), True)
    return FNNInstance(frozen, target, (2, 2), (3, 0), Ball(3, radius), math.nan, math.nan, 0, f"radius={radius!r}",
                       builder="build_clipping_probe_fnn_instance")


def build_offgen_tfn_instance(kind: str, width: int, depth: int, heads: int, *, weight_scale: float = 1.0,
                              relative_change: float = 1e-6, seed: int = 0,
                              dtype: torch.dtype = torch.float64, output: str = "softmax",
                              single_head: bool = False) -> TFNInstance:
    """An unconditioned TFN pair of population ``kind`` (:data:`TFN_POPULATIONS`): every matrix N(0, 1/D) (``gaussian``,
    ``tiny_change``, ``zero_discrepancy``) or Xavier-uniform (``xavier``), attention matrices times D^{-1/4} so the
    scores stay of order one, biases U(±0.5). The target is an independent model of the same kind (``gaussian``,
    ``xavier``), the frozen model with every adaptable matrix moved by a rank-1 change of relative size
    ``relative_change`` and the whole model scaled by ``weight_scale`` (``tiny_change``), or a copy with fresh biases
    only (``zero_discrepancy``: every chain discrepancy is 0).

    ``single_head=True`` (needs ``heads=1``) builds single-head models (App. F.1, p. 33: W_O is the identity and is
    never drawn); ``tiny_change`` then moves W_1 instead of W_O, so both factors of the value chain W_1W_V move."""
    from lora_theory.models import TFN, TFNBlock, single_head_block

    if kind not in TFN_POPULATIONS:
        raise ValueError(f"unknown off-generator TFN population {kind!r}; choose from {TFN_POPULATIONS}")
    D, L, H = width, depth, heads
    if single_head and H != 1:
        raise ValueError(f"single_head=True needs heads=1; got heads={H}")
    gen = generator(seed)
    att = D ** -0.25
    layer_kind = "xavier" if kind == "xavier" else "gaussian"
    s = weight_scale if kind == "tiny_change" else 1.0

    def mat(scale: float = 1.0) -> torch.Tensor:
        return _offgen_layer(layer_kind, D, gen, dtype) * scale

    def bias() -> torch.Tensor:
        return 0.5 * (2 * torch.rand(D, generator=gen, dtype=dtype) - 1)

    def model() -> "TFN":
        if single_head:
            blocks = [single_head_block(mat(att), mat(att), mat(att), mat(s), bias(), mat(s), bias())
                      for _ in range(L)]
        else:
            blocks = [TFNBlock(tuple(mat(att) for _ in range(H)), tuple(mat(att) for _ in range(H)),
                               tuple(mat(att) for _ in range(H)), tuple(mat(att) for _ in range(H)),
                               mat(s), bias(), mat(s), bias()) for _ in range(L)]
        return TFN(tuple(blocks), mat(s), output, single_head)

    frozen = model()
    if kind in ("gaussian", "xavier"):
        target = model()
    else:
        def moved(W: torch.Tensor) -> torch.Tensor:
            if kind == "zero_discrepancy":
                return W.clone()
            e = torch.tensor([relative_change * float(torch.linalg.matrix_norm(W, ord=2))], dtype=dtype)
            return W + low_rank_matrix(D, e, gen, dtype=dtype)

        if single_head:
            blocks = [single_head_block(moved(b.WQ[0]), moved(b.WK[0]), moved(b.WV[0]), moved(b.W1), bias(),
                                        moved(b.W2), bias()) for b in frozen.blocks]
        else:
            blocks = [TFNBlock(tuple(moved(W) for W in b.WQ), tuple(moved(W) for W in b.WK),
                               tuple(moved(W) for W in b.WV), tuple(moved(W) for W in b.WO),
                               b.W1.clone(), bias(), moved(b.W2), bias()) for b in frozen.blocks]
        target = TFN(tuple(blocks), moved(frozen.Wo), output, single_head)
    args = (f"{kind!r}, width={D}, depth={L}, heads={H}, weight_scale={weight_scale!r}, "
            f"relative_change={relative_change!r}, seed={seed}"
            + (f", output={output!r}" if output != "softmax" else "")
            + (", single_head=True" if single_head else ""))
    return TFNInstance(frozen, target, None, int(seed), args, builder="build_offgen_tfn_instance")
