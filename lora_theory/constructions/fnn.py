"""Theorem 3 construction (claim ``theorem3``, arXiv 2310.17513v3, Theorem 3) and its relatives: general partitions
(``theorem6``), the one-layer lemma (``lemma2``) and the below-threshold version of Theorem 5.

Block i of the partition (frozen layers p_1 < … < p_m) emulates target layer i:

1. **Weights.** The Lemma 1 construction on the chain (W_{p_1}, …, W_{p_m}) with target W̄_i, rank R on the first
   M_i layers of the block (M_i = ⌊L/L̄⌋ for the uniform partition, so the realised product is
   ∏W + LR_{RM}(E_i) as Theorems 3 and 5 state it; M_i = |P_i| for a given partition or with
   ``use_remainder_layers``).
2. **Linearising biases, domain-safe.** With B_0 = B (a bound on ‖z‖₂ for every z that can enter the block from the
   declared domain), for k < m: c_k = max_j ‖(W̃_{p_k})_{j,:}‖₂·B_{k−1}, b̂_{p_k} = c_k·1, and
   B_k = ‖W̃_{p_k}‖₂B_{k−1} + c_k√D. Each pre-activation entry is ≥ −‖row_j‖·‖y‖ + c_k ≥ 0, so every intermediate
   ReLU is the identity on everything reachable from the domain — at *every* point, its boundary included.
3. **Last bias.** b̂_{p_m} = b̄_i − W̃_{p_m}·a_{m−1} with a_k = W̃_{p_k}a_{k−1} + c_k·1 (the offsets carried so far),
   so the block computes z ↦ σ(W̃^{(i)}z + b̄_i) with W̃^{(i)} = ∏_{P_i}W̃ (= W̄_i at or above the threshold).
4. **Next block.** B ← (‖W̄_i‖₂ + ε_i)·B + ‖b̄_i‖₂, valid for the adapted activations (ReLU is 1-Lipschitz and
   ReLU(0) = 0), where ε_i = σ_{RM_i+1}(E_i) = ‖W̃^{(i)} − W̄_i‖₂.

**Why biases are never calibrated on a sample.** A bias set to "twice the most negative pre-activation seen on 256
Gaussian inputs" (the paper's reference code) only linearises the ReLUs on that sample's neighbourhood: an input of
larger norm, or one aligned with a row of W̃, has a more negative pre-activation, the ReLU clips it, and the block no
longer computes W̄_i z + b̄_i — exactness fails off-sample (measured: MSE ≈ 0 on N(0, I) but 0.665 on 5·N(0, I)).
The offsets here come from norm bounds over the whole domain instead. They grow geometrically with the block length
and cancel only in exact arithmetic; :func:`lora_theory.tolerance.fnn_tolerance` accounts for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.linear import LinearConstruction, construct_linear
from lora_theory.domains import Domain
from lora_theory.errors import AssumptionViolated, DomainError, SingularityError
from lora_theory.models import ReLUFNN, check_fnn_pair
from lora_theory.numerics import unit_roundoff
from lora_theory.partition import block_ranges, block_ranks, uniform_partition, validate_partition
from lora_theory.tolerance import BlockErrorTerms, Tolerance, fnn_tolerance
from lora_theory.validation import check_layer_ranks, check_rank, is_int

__all__ = ["FNNBlock", "FNNConstruction", "construct_fnn", "block_ranks"]


@dataclass(frozen=True, eq=False)
class FNNBlock:
    """One block of the construction: its layers, the Lemma 1 construction, the offsets and the bounds."""

    index: int
    layers: range
    linear: LinearConstruction
    offsets: tuple[float, ...]  # c_1..c_{m-1}
    input_bound: float
    layer_bounds: tuple[float, ...]
    layer_norms: tuple[float, ...]
    cancel_scale: float

    @property
    def epsilon(self) -> float:
        """ε_i = σ_{k+1}(E_i) with k the rank budget spent in the block: the realised ‖W̃^{(i)} − W̄_i‖₂."""
        return self.linear.predicted_error()

    @property
    def discrepancy_rank(self) -> int:
        return self.linear.discrepancy_rank


@dataclass(frozen=True, eq=False)
class FNNConstruction:
    """Adapters and biases of the Theorem 3 construction, with everything needed to check them."""

    frozen: ReLUFNN
    target: ReLUFNN
    rank: int | tuple[int, ...]  # as given: a uniform R, or the per-layer ranks (R_1, …, R_L)
    partition: tuple[int, ...]
    uniform: bool
    domain: Domain
    adapters: tuple[LoRAPair, ...]
    biases: tuple[torch.Tensor, ...]
    blocks: tuple[FNNBlock, ...]

    @property
    def layer_ranks(self) -> tuple[int, ...]:
        """The rank each layer was allowed to spend (0-based layer order): (R_1, …, R_L) when per-layer ranks were
        given; for a uniform R, R on the layers that spend it (the first M of each uniform block) and 0 elsewhere."""
        return tuple(r for b in self.blocks for r in b.linear.ranks)

    @property
    def block_budgets(self) -> tuple[int, ...]:
        """Σ_{l∈P_i} R_l for every block i: the rank budget block i spends on E_i (Theorem 6, p. 7)."""
        return tuple(b.linear.total_rank for b in self.blocks)

    def adapted(self) -> ReLUFNN:
        """The adapted network f = FNN(·; W_l + B_l A_l, b̂_l)."""
        return self.frozen.adapted(self.adapters, self.biases)

    def is_exact_in_theory(self) -> bool:
        """Every block spends enough rank: R·M_i ≥ rank(E_i)."""
        return all(b.linear.is_exact_in_theory() for b in self.blocks)

    def tolerance(self) -> Tolerance:
        """Tolerance on ‖f(x) − f̄(x)‖₂ over the domain in the exact regime (:func:`fnn_tolerance`)."""
        return fnn_tolerance(
            unit_roundoff=unit_roundoff(self.frozen.dtype), width=self.frozen.width,
            blocks=tuple(BlockErrorTerms(
                chain=b.linear.tolerance(), input_bound=b.input_bound, layer_bounds=b.layer_bounds,
                layer_norms=b.layer_norms, cancel_scale=b.cancel_scale, target_norm=b.linear.target_norm,
                target_bias_norm=float(torch.linalg.vector_norm(self.target.biases[b.index])))
                for b in self.blocks))

    def output_error(self, x: torch.Tensor) -> torch.Tensor:
        """‖f(x) − f̄(x)‖₂ per row of ``x``; raises DomainError for inputs outside the declared domain."""
        x = self.domain.check_inputs(x)
        return torch.linalg.vector_norm(self.adapted()(x) - self.target(x), dim=1)


def construct_fnn(frozen: ReLUFNN, target: ReLUFNN, rank: int | Sequence[int], domain: Domain, *,
                  partition: Sequence[int] | None = None, use_remainder_layers: bool = False,
                  tau: float | None = None) -> FNNConstruction:
    """Adapters (rank ≤ R) and biases making ``frozen`` compute ``target`` on ``domain`` (Theorem 3), or the
    block-wise best rank-RM approximation below the threshold (Theorem 5). See the module docstring.

    ``rank``: a uniform LoRA rank R in 1..D, or per-layer ranks (R_1, …, R_L), each in 0..D (Theorem 6, p. 7): block
    i then spends Σ_{l∈P_i} R_l and realises ∏_{P_i}W + LR_{Σ_{P_i}R_l ∧ rank E_i}(E_i), exact when
    Σ_{l∈P_i} R_l ≥ rank(E_i) for every i (``use_remainder_layers`` is then moot: every layer spends its own R_l).

    ``partition``: block sizes (general partition); default: the uniform partition (Theorem 3, p. 6). ``tau``: relative
    threshold of each block's numerical rank(E_i), passed to :func:`construct_linear` (default: the rounding floor of
    each E_i, the rule :func:`lora_theory.analysis.fnn.block_discrepancies` uses too). Each block is certified a
    posteriori by :func:`construct_linear`; a block that cannot be refuses with a SingularityError naming it.
    Raises ShapeError/DTypeError for mismatched models, DepthError for L̄ > L, PartitionError, RankError,
    DomainError (domain width, mismatched ``final_relu``) and SingularityError naming the block and layer.
    """
    L, Lbar = check_fnn_pair(frozen, target, same_final_relu="the construction matches the last pre-activation")
    D = frozen.width
    if not isinstance(domain, Domain) or domain.width != D:
        raise DomainError(f"domain must be a Ball or Box of width D={D}; got {domain}")
    per_layer = None if is_int(rank) else check_layer_ranks(rank, depth=L, width=D)
    rank = check_rank(rank, "rank", width=D) if per_layer is None else per_layer
    uniform = partition is None
    sizes = uniform_partition(L, Lbar) if uniform else validate_partition(partition, L, Lbar)
    M = L // Lbar
    sqrtD = math.sqrt(D)

    adapters: list[LoRAPair] = []
    biases: list[torch.Tensor] = []
    blocks: list[FNNBlock] = []
    bound = domain.norm_bound()
    for i, layers in enumerate(block_ranges(sizes)):
        m = len(layers)
        used = M if (uniform and not use_remainder_layers) else m
        Ws = [frozen.weights[l] for l in layers]
        try:
            ranks = block_ranks(rank, m, used) if per_layer is None else list(per_layer[layers.start:layers.stop])
            lin = construct_linear(Ws, target.weights[i], ranks, tau=tau)
        except AssumptionViolated as exc:
            where = exc.where.replace("W_", "block-local W_").replace("W̃_", "block-local W̃_")
            raise SingularityError(
                f"block {i + 1} (frozen layers {layers.start + 1}..{layers.stop}, emulating target layer {i + 1}): "
                f"{exc}", where=f"block {i + 1}: {where}", ratio=exc.ratio, threshold=exc.threshold) from None
        adapters.extend(lin.adapters)
        tilde = [p.merge(W) for p, W in zip(lin.adapters, Ws)]
        norms = tuple(w + p.norm_bound() for w, p in zip(lin.weight_norms, lin.adapters))
        b_in = bound
        offsets: list[float] = []
        layer_bounds: list[float] = []
        carried = torch.zeros(D, dtype=frozen.dtype, device=frozen.weights[0].device)  # a_k
        for k in range(m - 1):
            c = float(torch.linalg.vector_norm(tilde[k], dim=1).max()) * bound
            offsets.append(c)
            biases.append(torch.full((D,), c, dtype=frozen.dtype, device=carried.device))
            carried = tilde[k] @ carried + c
            bound = norms[k] * bound + c * sqrtD
            layer_bounds.append(bound)
        biases.append(target.biases[i] - tilde[m - 1] @ carried)
        eps = lin.predicted_error() + lin.dropped_noise  # ‖W̃^{(i)} − W̄_i‖₂, the unfitted rounding-level σ included
        target_bias = float(torch.linalg.vector_norm(target.biases[i]))
        layer_bounds.append(norms[m - 1] * bound + float(torch.linalg.vector_norm(biases[-1])))
        cancel = sum(c * sqrtD * math.prod(norms[k + 1:]) for k, c in enumerate(offsets))
        blocks.append(FNNBlock(i, layers, lin, tuple(offsets), b_in, tuple(layer_bounds), norms, cancel))
        bound = (lin.target_norm + eps) * b_in + target_bias
    return FNNConstruction(frozen, target, rank, tuple(sizes), uniform, domain, tuple(adapters), tuple(biases),
                           tuple(blocks))
