"""Different widths, D̄ ≤ D: claim ``appendix_h`` (arXiv 2310.17513v3, Appendix H, pp. 45–46).

The target has D̄ neurons per layer, the frozen model D ≥ D̄; a target input x ∈ R^D̄ is fed as [x; 0] and the first
D̄ outputs are compared.

**Linear** (:func:`pad_linear_target`). The paper's expanded target W̃ ∈ R^{D×D} has top-left block W̄ and every
other entry equal to that of ∏W, so E = W̃ − ∏W vanishes outside its top-left D̄×D̄ block and rank(E) ≤ D̄. The
Lemma 1 construction on (W_1..W_L, W̃) then makes ∏(W_l + ΔW_l) = W̃ exactly iff RL ≥ rank(E), so R ≥ ⌈D̄/L⌉
always suffices; and [∏W̃ [x; 0]]_{1..D̄} = W̄x. The paper prints R ≥ ⌊D̄/L⌋ (p. 46), which is too small when
L ∤ D̄ (D̄ = 5, L = 2: RL = 4 < 5).

**FNN** (:func:`pad_fnn_target`). A width-D̄ target FNN (W̄_i, b̄_i) is padded into width D layer by layer.
With Π = ∏_{l∈P_i}W_l the product of the frozen block that represents layer i (uniform partition) split as
[[Π₁₁, Π₁₂], [Π₂₁, Π₂₂]] (Π₁₁ of size D̄×D̄),

    W̃_i = [[W̄_i, Π₁₂], [0, Π₂₂]],   b̃_i = [b̄_i; 0],   so   E_i = W̃_i − Π = [[W̄_i − Π₁₁, 0], [−Π₂₁, 0]].

Why this choice:

* *rank*: the last D − D̄ columns of E_i are zero, so rank(E_i) ≤ D̄ and R ≥ ⌈D̄/M⌉ suffices (M = ⌊L/L̄⌋), as for
  the linear model;
* *no leak*: on an input [x; 0] the padded coordinates of every hidden layer are ReLU(0·z₁ + Π₂₂·0 + 0) = 0
  (by induction from the zero padding of the input: the bottom-left block is zero and the padded biases are zero),
  so the first D̄ coordinates compute W̄_i z₁ + Π₁₂·0 + b̄_i — exactly the width-D̄ target — and the padded outputs
  are 0, under both final-ReLU conventions: f̃([x; 0]) = [f̄(x); 0].

Copying *every* entry outside the top-left block from Π (the linear recipe) would also give rank(E_i) ≤ D̄, but for
L̄ ≥ 2 it leaks: the padded coordinates of layer 1 become ReLU(Π₂₁x) ≠ 0 and reach the first D̄ coordinates of
layer 2 through Π₁₂ (:func:`pad_fnn_target` with ``mode="copy"`` builds that variant for the contrast test).
The transposed choice [[W̄_i, 0], [Π₂₁, Π₂₂]] (zero rows of E_i instead of zero columns) is also leak-free, with
non-zero but unread padded coordinates. The paper only says "a similar analysis can be conducted for FNN
approximation" (p. 46).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lora_theory.errors import DTypeError, ShapeError
from lora_theory.models import LinearChain, ReLUFNN
from lora_theory.numerics import chain_product
from lora_theory.validation import as_matrix, as_square_stack, check_same_dtype

__all__ = ["pad_linear_target", "pad_input", "pad_fnn_target", "block_products"]


def _frozen_weights(weights: Sequence[torch.Tensor] | LinearChain, name: str) -> tuple[torch.Tensor, ...]:
    if isinstance(weights, (LinearChain, ReLUFNN)):
        return weights.weights
    return as_square_stack(weights, name)


def pad_linear_target(weights: Sequence[torch.Tensor] | LinearChain, target: torch.Tensor) -> torch.Tensor:
    """The expanded target W̃ ∈ R^{D×D} of Appendix H (arXiv 2310.17513v3, p. 46).

    ``weights``: the frozen chain W_1..W_L, each (D, D) (or a :class:`~lora_theory.models.LinearChain`);
    ``target``: W̄, (D̄, D̄) with D̄ ≤ D. Returns W̃ with [W̃]_{1..D̄, 1..D̄} = W̄ and every other entry that of
    ∏W = W_L ⋯ W_1, so E = W̃ − ∏W is zero outside the top-left D̄×D̄ block and rank(E) ≤ D̄. The entries outside
    the block are copied bit for bit from the computed product (so E is exactly zero there in float arithmetic).

    Raises ShapeError (non-square target, D̄ > D), DTypeError (non-tensor, unsupported or mixed dtype),
    NonFiniteError; each message names the argument.
    """
    Ws = _frozen_weights(weights, "weights")
    if not isinstance(target, torch.Tensor):
        raise DTypeError(f"target must be a torch.Tensor of shape (D̄, D̄); got {type(target).__name__}")
    Wbar = as_matrix(target, "target")
    D, Dbar = int(Ws[0].shape[0]), int(Wbar.shape[0])
    if Dbar > D:
        raise ShapeError(f"target width D̄={Dbar} exceeds frozen width D={D} (Appendix H needs D̄ ≤ D)")
    check_same_dtype([("weights[0]", Ws[0]), ("target", Wbar)])
    out = chain_product(Ws).clone()
    out[:Dbar, :Dbar] = Wbar
    return out


def pad_input(x: torch.Tensor, width: int) -> torch.Tensor:
    """[x; 0]: rows ``x: (n, D̄)`` (or ``(D̄,)``) padded with zeros to width D = ``width``."""
    if not isinstance(x, torch.Tensor):
        raise DTypeError(f"x must be a torch.Tensor of shape (n, D̄); got {type(x).__name__}")
    if x.ndim not in (1, 2) or x.shape[-1] > width:
        raise ShapeError(f"x must have shape (D̄,) or (n, D̄) with D̄ ≤ width={width}; got {tuple(x.shape)}")
    pad = torch.zeros(*x.shape[:-1], width - x.shape[-1], dtype=x.dtype, device=x.device)
    return torch.cat([x, pad], dim=-1)


def block_products(frozen: ReLUFNN, target_depth: int) -> tuple[torch.Tensor, ...]:
    """∏_{l∈P_i} W_l for the uniform partition of the L frozen layers into ``target_depth`` blocks (M = ⌊L/L̄⌋, the
    last block absorbing the remainder; arXiv 2310.17513v3, p. 5)."""
    from lora_theory.partition import block_ranges, uniform_partition

    ranges = block_ranges(uniform_partition(frozen.depth, target_depth))
    return tuple(chain_product([frozen.weights[l] for l in blk]) for blk in ranges)


PAD_MODES = ("columns", "copy")


def pad_fnn_target(frozen: ReLUFNN, target: ReLUFNN, *, mode: str = "columns") -> ReLUFNN:
    """A width-D target FNN equal to the width-D̄ ``target`` on inputs [x; 0]: f̃([x; 0]) = [f̄(x); 0].

    Layer i (``mode="columns"``, the default): W̃_i = [[W̄_i, Π₁₂], [0, Π₂₂]] with Π the frozen block product
    ∏_{l∈P_i}W_l (uniform partition), b̃_i = [b̄_i; 0]; ``final_relu`` is the target's. Then E_i = W̃_i − Π has
    zero last D − D̄ columns, rank(E_i) ≤ D̄, and nothing leaks (module docstring). ``mode="copy"`` copies every
    entry outside the top-left block from Π (the linear recipe): rank(E_i) ≤ D̄ as well, but for L̄ ≥ 2 the padded
    coordinates leak into the first D̄ — a contrast, not a construction to use.

    Raises ShapeError (not ReLUFNN models, D̄ > D), DepthError (L̄ > L), DTypeError (mixed dtypes), DomainError
    (unknown mode).
    """
    from lora_theory.errors import DepthError, DomainError

    if not isinstance(frozen, ReLUFNN) or not isinstance(target, ReLUFNN):
        raise ShapeError(f"frozen and target must be ReLUFNN models; got {type(frozen).__name__} and "
                         f"{type(target).__name__}")
    if mode not in PAD_MODES:
        raise DomainError(f"mode must be one of {PAD_MODES}; got {mode!r}")
    D, Dbar = frozen.width, target.width
    if Dbar > D:
        raise ShapeError(f"target width D̄={Dbar} exceeds frozen width D={D} (Appendix H needs D̄ ≤ D)")
    if target.depth > frozen.depth:
        raise DepthError(f"target depth L̄={target.depth} exceeds frozen depth L={frozen.depth} (the theorem needs "
                         "L̄ ≤ L)")
    check_same_dtype([("frozen.weights[0]", frozen.weights[0]), ("target.weights[0]", target.weights[0])])
    products = block_products(frozen, target.depth)
    weights, biases = [], []
    for Wbar, bbar, prod in zip(target.weights, target.biases, products):
        W = prod.clone()
        if mode == "columns":
            W[Dbar:, :Dbar] = 0.0
        W[:Dbar, :Dbar] = Wbar
        b = torch.zeros(D, dtype=frozen.dtype, device=bbar.device)
        b[:Dbar] = bbar
        weights.append(W)
        biases.append(b)
    return ReLUFNN(tuple(weights), tuple(biases), target.final_relu)
