"""Hypothesis strategies: architectures first, then seeded instances.

Strategies draw only integers and choices (sizes, ranks, a seed, condition-number and scale *levels*) and hand
them to the deterministic builders of :mod:`lora_theory.testing.instances`, so every example is reproducible from
its printed ``repro()`` string and shrinks toward small sizes and seed 0. Every draw is labelled. The conditioning
each builder guarantees is described in :mod:`lora_theory.testing.instances`.
"""

from __future__ import annotations

from hypothesis import event
from hypothesis import strategies as st

from lora_theory.testing.instances import (
    FNN_POPULATIONS,
    LINEAR_POPULATIONS,
    TFN_POPULATIONS,
    FNNInstance,
    LinearCase,
    LinearInstance,
    OffGenLinearInstance,
    TFNInstance,
    build_fnn_instance,
    build_linear_instance,
    build_offgen_fnn_instance,
    build_offgen_linear_instance,
    build_offgen_tfn_instance,
    build_tfn_instance,
)

__all__ = ["KAPPA_LEVELS", "SMALL_RATIOS", "LARGE_RATIOS", "FLOORS", "seeds", "linear_instances", "lemma1_cases",
           "per_layer_ranks", "fnn_instances", "tfn_instances", "TFN_OUTPUT_KINDS", "RELATIVE_CHANGES", "WEIGHT_SCALES",
           "DYNAMIC_RANGES",
           "offgen_linear_instances", "offgen_fnn_instances", "offgen_tfn_instances"]

#: bounds on κ(∏W), by construction (κ ≤ 1e2 by default). Larger κ is certifiable in float64, but the
#: smallest "not exact" error the generator can produce relative to the operands is floor·ratio/κ, and the
#: separation ratio of the run (required ≥ 1e6) shrinks with it; build_linear_instance takes any κ explicitly.
KAPPA_LEVELS = (1.0, 10.0, 100.0)
#: σ_1(E) relative to the guaranteed σ_min(∏W) — below 1 the Lemma 1 hypothesis holds by construction
SMALL_RATIOS = (0.05, 0.5)
LARGE_RATIOS = (2.0, 10.0)
#: σ_k(E)/σ_1(E): how far the smallest non-zero singular value of E sits above zero
FLOORS = (0.1, 0.5, 1.0)


def seeds() -> st.SearchStrategy[int]:
    """Integer seeds; shrink toward 0."""
    return st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def linear_instances(draw: st.DrawFn, *, max_width: int = 16, min_depth: int = 1, max_depth: int = 6,
                     min_discrepancy_rank: int = 0, ratios: tuple[float, ...] = SMALL_RATIOS) -> LinearInstance:
    """Conditioned linear-chain instances (architecture drawn first, arrays from a seed)."""
    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(min_depth, max_depth), label="frozen depth L")
    k = draw(st.integers(min(min_discrepancy_rank, D), D), label="discrepancy rank k = rank(W̄ − ∏W)")
    kappa = draw(st.sampled_from(KAPPA_LEVELS), label="κ(∏W) bound")
    ratio = draw(st.sampled_from(ratios), label="σ_1(E) / σ_min(∏W) bound")
    ties = draw(st.booleans(), label="tied singular values of E")
    floor = 1.0 if ties else draw(st.sampled_from(FLOORS), label="σ_k(E)/σ_1(E)")
    seed = draw(seeds(), label="seed")
    return build_linear_instance(D, L, k, kappa=kappa, ratio=ratio, floor=floor, ties=ties, seed=seed)


@st.composite
def lemma1_cases(draw: st.DrawFn, **instance_kwargs) -> LinearCase:
    """A linear instance and a uniform rank R ∈ [D]."""
    inst = draw(linear_instances(**instance_kwargs), label="instance")
    R = draw(st.integers(1, inst.width), label="LoRA rank R")
    return LinearCase(inst, (R,) * inst.depth)


def per_layer_ranks(width: int, depth: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Per-layer ranks R_l ∈ 0..D (zeros allowed), one per layer."""
    return st.lists(st.integers(0, width), min_size=depth, max_size=depth).map(tuple)


# ---------------------------------------------------------------------------------------------------------------
# ReLU FNN instances (claims theorem3, corollary4, theorem6, lemma2, theorem5, …)
# ---------------------------------------------------------------------------------------------------------------

@st.composite
def fnn_instances(draw: st.DrawFn, *, max_width: int = 8, max_depth: int = 4, low_rank: bool | None = None,
                  general_partition: bool = False, target_depth: int | None = None) -> FNNInstance:
    """FNN pairs: architecture first (D, L, L̄ ≤ L), then the partition (uniform, or drawn when
    ``theorem6``), the per-block discrepancy ranks (designed low rank, or generic full rank), the domain
    kind, ``final_relu``, and a seed."""
    from lora_theory.partition import compositions, uniform_partition

    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(1, max_depth), label="frozen depth L")
    Lbar = target_depth if target_depth is not None else draw(st.integers(1, L), label="target depth L̄")
    if general_partition:
        sizes = draw(st.sampled_from(compositions(L, Lbar)), label="partition block sizes")
    else:
        sizes = uniform_partition(L, Lbar)
    lr = draw(st.booleans(), label="designed low-rank discrepancies") if low_rank is None else low_rank
    ranks = tuple(draw(st.integers(0, D), label=f"rank(E_{i + 1})") for i in range(Lbar)) if lr else None
    kappa = draw(st.sampled_from((1.0, 10.0)), label="κ(∏W) bound")
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    domain = draw(st.sampled_from(("ball", "box")), label="domain kind")
    seed = draw(seeds(), label="seed")
    return build_fnn_instance(D, L, Lbar, ranks, partition=sizes, kappa=kappa, final_relu=final_relu,
                              domain=domain, seed=seed)


# ---------------------------------------------------------------------------------------------------------------
# TFN instances (claims theorem7, theorem7_scope, theorem7_gap, theorem8, corollary9)
# ---------------------------------------------------------------------------------------------------------------

#: the output layers drawn for TFN instances: the paper's softmax(W_o Z_L) and the authors' code's linear W_o Z_L
TFN_OUTPUT_KINDS = ("softmax", "linear")


@st.composite
def tfn_instances(draw: st.DrawFn, *, max_width: int = 6, max_depth: int = 2, max_heads: int = 2,
                  low_gap: bool | None = None, output: str | None = None,
                  single_head: bool = False) -> TFNInstance:
    """TFN pairs: D, L, H first (H = 1 for ``single_head``), then random or low-gap targets, then a seed, then the
    output layer (drawn from :data:`TFN_OUTPUT_KINDS` unless ``output`` is given)."""
    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(1, max_depth), label="depth L")
    H = 1 if single_head else draw(st.integers(1, max_heads), label="heads H")
    lg = draw(st.booleans(), label="low-gap target") if low_gap is None else low_gap
    k = draw(st.integers(0, max(D // 2, 0)), label="perturbation rank k") if lg else None
    seed = draw(seeds(), label="seed")
    out = draw(st.sampled_from(TFN_OUTPUT_KINDS), label="output layer") if output is None else output
    return build_tfn_instance(D, L, H, k, seed=seed, output=out, single_head=single_head)



# ---------------------------------------------------------------------------------------------------------------
# Off-generator populations (unconditioned; a construction may refuse them with a typed error)
# ---------------------------------------------------------------------------------------------------------------

#: relative size of a tiny change on large weights (issue 12: 1e-12 … 1e-4)
RELATIVE_CHANGES = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)
#: ‖W‖ scale of the large weights the tiny change sits on (up to 1e4)
WEIGHT_SCALES = (1.0, 1e2, 1e4)
#: dynamic range of diagonal / permutation-like layers (up to 1e8)
DYNAMIC_RANGES = (1e2, 1e4, 1e8)


@st.composite
def offgen_linear_instances(draw: st.DrawFn, *, max_width: int = 16, max_depth: int = 4,
                            populations: tuple[str, ...] = LINEAR_POPULATIONS) -> OffGenLinearInstance:
    """Linear chains from the off-generator populations (:data:`~lora_theory.testing.instances.LINEAR_POPULATIONS`):
    the population first (reported with ``event``), then D, L, the change's rank (``None`` = generic full-rank
    target), the population's level, and a seed."""
    kind = draw(st.sampled_from(populations), label="off-generator population")
    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(1, max_depth), label="frozen depth L")
    k = draw(st.one_of(st.none(), st.integers(1, D)), label="rank of the change (None: generic target)")
    dynamic_range = draw(st.sampled_from(DYNAMIC_RANGES), label="dynamic range") if kind in (
        "diagonal", "permutation") else 1e8
    weight_scale = draw(st.sampled_from(WEIGHT_SCALES), label="weight scale") if kind == "tiny_change" else 1.0
    change = draw(st.sampled_from(RELATIVE_CHANGES), label="relative change") if kind in (
        "diagonal", "permutation", "tiny_change") else 1e-6
    seed = draw(seeds(), label="seed")
    event(f"population: {kind}")
    return build_offgen_linear_instance(kind, D, L, discrepancy_rank=k, dynamic_range=dynamic_range,
                                        weight_scale=weight_scale, relative_change=change, seed=seed)


@st.composite
def offgen_fnn_instances(draw: st.DrawFn, *, max_width: int = 6, max_depth: int = 4,
                         populations: tuple[str, ...] = FNN_POPULATIONS, generic: bool | None = None,
                         target_depth: int | None = None) -> FNNInstance:
    """FNN pairs from the off-generator populations (uniform partition): population, D, L, L̄ ≤ L (``target_depth``
    fixes it, e.g. 1 for one-layer targets), per-block change ranks (or generic targets; ``generic`` fixes the
    choice), the population's level, ``final_relu``, the domain kind, and a seed."""
    kind = draw(st.sampled_from(populations), label="off-generator population")
    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(target_depth or 1, max(max_depth, target_depth or 1)), label="frozen depth L")
    Lbar = target_depth if target_depth is not None else draw(st.integers(1, L), label="target depth L̄")
    if generic is None:
        generic = draw(st.booleans(), label="generic (independent) target layers")
    ranks = None if generic else tuple(draw(st.integers(0, D), label=f"rank of change {i + 1}") for i in range(Lbar))
    dynamic_range = draw(st.sampled_from(DYNAMIC_RANGES), label="dynamic range") if kind in (
        "diagonal", "permutation") else 1e4
    weight_scale = draw(st.sampled_from(WEIGHT_SCALES), label="weight scale") if kind == "tiny_change" else 1.0
    change = draw(st.sampled_from(RELATIVE_CHANGES), label="relative change") if kind in (
        "diagonal", "permutation", "tiny_change") else 1e-6
    final_relu = draw(st.booleans(), label="ReLU after the last layer")
    domain = draw(st.sampled_from(("ball", "box")), label="domain kind")
    seed = draw(seeds(), label="seed")
    event(f"population: {kind}")
    return build_offgen_fnn_instance(kind, D, L, Lbar, block_ranks=ranks, dynamic_range=dynamic_range,
                                     weight_scale=weight_scale, relative_change=change, final_relu=final_relu,
                                     domain=domain, seed=seed)


@st.composite
def offgen_tfn_instances(draw: st.DrawFn, *, max_width: int = 5, max_depth: int = 2, max_heads: int = 2,
                         populations: tuple[str, ...] = TFN_POPULATIONS, single_head: bool = False) -> TFNInstance:
    """TFN pairs from the off-generator populations: population, D, L, H, the population's level, a seed, and the
    output layer. ``single_head=True``: single-head models (H = 1, no W_O; Theorem 8, App. F.1, p. 33)."""
    kind = draw(st.sampled_from(populations), label="off-generator population")
    D = draw(st.integers(1, max_width), label="width D")
    L = draw(st.integers(1, max_depth), label="depth L")
    H = 1 if single_head else draw(st.integers(1, max_heads), label="heads H")
    weight_scale = draw(st.sampled_from((1.0, 1e2)), label="weight scale") if kind == "tiny_change" else 1.0
    change = draw(st.sampled_from(RELATIVE_CHANGES), label="relative change") if kind == "tiny_change" else 1e-6
    seed = draw(seeds(), label="seed")
    out = draw(st.sampled_from(TFN_OUTPUT_KINDS), label="output layer")
    event(f"population: {kind}")
    return build_offgen_tfn_instance(kind, D, L, H, weight_scale=weight_scale, relative_change=change, seed=seed,
                                     output=out, single_head=single_head)
