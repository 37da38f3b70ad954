"""The TFN of arXiv 2310.17513v3 (Sec. 4.1, p. 8; App. F.2, pp. 36–37) as a ``torch.nn.Module`` whose every
adaptable matrix is its own ``nn.Linear``.

:func:`to_module` turns a :class:`lora_theory.models.TFN` into a :class:`TFNModule` computing the same function, and
:func:`from_module` reads one back. Layout::

    TFNModule
      blocks: ModuleList[TFNBlockModule]          (L blocks)
        heads: ModuleList[TFNHeadModule]          (H heads per block)
          q_proj, k_proj, v_proj, o_proj: nn.Linear(D, D, bias=False)   — W_Q^h, W_K^h, W_V^h, W_O^h
                                                                         (single-head models: no o_proj)
        W1, W2: nn.Linear(D, D) with biases                            — the FFN W_1 → ReLU → W_2
      Wo: nn.Linear(D, D, bias=False)                                  — the output layer
      output: "softmax" | "linear"                                     — softmax(W_o Z_L) or W_o Z_L

The forward pass takes X of shape (..., D, N) like ``TFN.__call__`` (columns are tokens) and computes exactly the
analysed model: Attn(Z) = Σ_h W_O W_V Z softmax((W_K Z)ᵀ(W_Q Z)) with the softmax over the key index (column-wise),
**no** 1/√D scaling, no residual connection, no LayerNorm, no dropout; then ReLU(W_1 · + b_1), W_2 · + b_2; output
softmax(W_o Z_L) over the D logits of each token (the paper's output layer, App. F.2, p. 37) or the logits W_o Z_L
(``output="linear"``, the authors' code), as the TFN's ``output`` says. A single-head TFN (``single_head=True``,
App. F.1, p. 33) gets heads without ``o_proj``: W_V Z softmax((W_K Z)ᵀ(W_Q Z)). Internally it works on the
token-row layout (..., N, D) so that every matrix is applied by calling its ``nn.Linear`` module — which is what
lets a LoRA library that wraps ``nn.Linear`` modules (PEFT ``target_modules`` such as ``["q_proj", "k_proj",
"v_proj", "o_proj", "Wo"]`` or ``blocks.<L-1>.W2``) act on each matrix separately.

**Why four separate projections per head.** Theorem 7 (arXiv 2310.17513v3, p. 8) puts an *independent* rank-R adapter on
each of W_Q^h, W_K^h, W_V^h and W_O^h, for every head h and block, and each head's matrices are full D×D. PEFT's support
for ``torch.nn.MultiheadAttention`` cannot express that: the module keeps Q, K and V in one fused ``in_proj_weight``
(3D×D), and PEFT adapts it with a *single* LoRA pair (lora_A: r×D, lora_B: 3D×r), so ΔW_Q, ΔW_K, ΔW_V share one A factor
— their row spaces coincide and their stack has rank ≤ r, instead of three independent rank-r updates — and the output
projection gets one adapter across the concatenated heads. Moreover ``nn.MultiheadAttention`` splits D into H heads of
size D/H and scales scores by 1/√(D/H), a different model from the paper's. Separate ``nn.Linear`` projections per head
give every matrix of the allowed set its own adapter, as the theorem needs.
"""

from __future__ import annotations

import torch
from torch import nn

from lora_theory.errors import DTypeError, ShapeError
from lora_theory.models import TFN, TFNBlock, check_sequence_input

__all__ = ["TFNHeadModule", "TFNBlockModule", "TFNModule", "to_module", "from_module"]


def _linear(W: torch.Tensor, b: torch.Tensor | None = None) -> nn.Linear:
    D = int(W.shape[0])
    lin = nn.Linear(D, D, bias=b is not None, dtype=W.dtype, device=W.device)
    with torch.no_grad():
        lin.weight.copy_(W)
        if b is not None:
            lin.bias.copy_(b)
    return lin


class TFNHeadModule(nn.Module):
    """One head: q_proj, k_proj, v_proj, o_proj, each an ``nn.Linear(D, D, bias=False)``. ``forward`` takes the
    token rows T = Zᵀ, shape (..., N, D), and returns (W_O W_V Z softmax((W_K Z)ᵀ(W_Q Z)))ᵀ, shape (..., N, D)."""

    def __init__(self, WQ: torch.Tensor, WK: torch.Tensor, WV: torch.Tensor, WO: torch.Tensor | None) -> None:
        super().__init__()
        self.q_proj = _linear(WQ)
        self.k_proj = _linear(WK)
        self.v_proj = _linear(WV)
        self.o_proj = _linear(WO) if WO is not None else None  # None: single-head block, no W_O

    def forward(self, T: torch.Tensor) -> torch.Tensor:
        q = self.q_proj(T)  # rows (W_Q z_j)ᵀ
        k = self.k_proj(T)  # rows (W_K z_i)ᵀ
        S = k @ q.transpose(-1, -2)  # S_ij = (W_K z_i)·(W_Q z_j) = [(W_K Z)ᵀ(W_Q Z)]_ij: keys i, queries j
        P = torch.softmax(S, dim=-2)  # column-wise: normalise over the key index i, no 1/√D
        # (W_O W_V Z) P in row layout: Pᵀ (W_O W_V Z)ᵀ, with W_O W_V Z formed first as in TFN.attention
        v = self.v_proj(T)
        return P.transpose(-1, -2) @ (self.o_proj(v) if self.o_proj is not None else v)


class TFNBlockModule(nn.Module):
    """One block: ``heads`` (ModuleList of :class:`TFNHeadModule`), then ``W1`` → ReLU → ``W2`` (``nn.Linear`` with
    biases). Token-row layout (..., N, D) in and out."""

    def __init__(self, block: TFNBlock, single_head: bool = False) -> None:
        super().__init__()
        self.heads = nn.ModuleList(TFNHeadModule(q, k, v, None if single_head else o) for q, k, v, o in
                                   zip(block.WQ, block.WK, block.WV, block.WO))
        self.W1 = _linear(block.W1, block.b1)
        self.W2 = _linear(block.W2, block.b2)

    def forward(self, T: torch.Tensor) -> torch.Tensor:
        attn = torch.zeros_like(T)
        for head in self.heads:
            attn = attn + head(T)
        return self.W2(torch.relu(self.W1(attn)))


class TFNModule(nn.Module):
    """TFN_{L,D,H} as an ``nn.Module`` (see the module docstring). ``forward(X)``: X of shape (..., D, N), columns
    are tokens, same dtype as the parameters; returns softmax(W_o Z_L) (column-wise) or W_o Z_L, as ``output``
    says, of shape (..., D, N)."""

    def __init__(self, tfn: TFN) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TFNBlockModule(b, tfn.single_head) for b in tfn.blocks)
        self.Wo = _linear(tfn.Wo)
        self.width = tfn.width
        self.output = tfn.output
        self.single_head = tfn.single_head

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        check_sequence_input(X, self.width, ("the parameters", next(self.parameters())))
        T = X.transpose(-1, -2)
        for block in self.blocks:
            T = block(T)
        logits = self.Wo(T)  # token rows: the softmax runs over the D logits of each token (the last dim here)
        return (torch.softmax(logits, dim=-1) if self.output == "softmax" else logits).transpose(-1, -2)


def to_module(tfn: TFN) -> TFNModule:
    """An ``nn.Module`` computing the same function as ``tfn`` (the tensors are copied; dtype and device kept —
    float64 throughout this library)."""
    if not isinstance(tfn, TFN):
        raise DTypeError(f"to_module needs a lora_theory.models.TFN; got {type(tfn).__name__}")
    return TFNModule(tfn)


def _weight(mod: object, where: str, *, bias: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    if not isinstance(mod, nn.Linear):
        raise ShapeError(f"{where} must be an nn.Linear; got {type(mod).__name__} (merge LoRA adapters into the "
                         "weights first, e.g. PEFT's merge_and_unload, so that no adapter is silently dropped)")
    if (mod.bias is not None) != bias:
        raise ShapeError(f"{where} must be an nn.Linear with{'' if bias else 'out'} bias "
                         f"(got bias={'present' if mod.bias is not None else 'None'})")
    W = mod.weight.detach().clone()
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ShapeError(f"{where}.weight must be square (D, D); got shape {tuple(W.shape)}")
    return W, (mod.bias.detach().clone() if bias else None)


def from_module(module: nn.Module) -> TFN:
    """Read a :class:`TFNModule` (or any module with the same attribute layout: ``blocks[l].heads[h].q_proj`` …,
    ``blocks[l].W1``/``W2``, ``Wo``) back into a :class:`~lora_theory.models.TFN` (tensors copied). The output layer
    is the module's ``output`` attribute (default ``"softmax"``, the paper's); heads whose ``o_proj`` is None make a
    single-head TFN."""
    if not isinstance(module, nn.Module):
        raise DTypeError(f"from_module needs an nn.Module; got {type(module).__name__}")
    blocks_mod = getattr(module, "blocks", None)
    if not isinstance(blocks_mod, nn.ModuleList):
        raise ShapeError(f"module must have a 'blocks' nn.ModuleList; got {type(blocks_mod).__name__}")
    blocks = []
    single = bool(getattr(module, "single_head", False))
    for l, blk in enumerate(blocks_mod):
        heads = getattr(blk, "heads", None)
        if not isinstance(heads, nn.ModuleList) or len(heads) == 0:
            raise ShapeError(f"blocks[{l}] must have a non-empty 'heads' nn.ModuleList")
        mats: dict[str, list[torch.Tensor]] = {"q_proj": [], "k_proj": [], "v_proj": [], "o_proj": []}
        for h, head in enumerate(heads):
            for name, out in mats.items():
                if name == "o_proj" and single:
                    V = mats["v_proj"][-1]
                    out.append(torch.eye(int(V.shape[0]), dtype=V.dtype, device=V.device))
                    continue
                out.append(_weight(getattr(head, name, None), f"blocks[{l}].heads[{h}].{name}", bias=False)[0])
        W1, b1 = _weight(getattr(blk, "W1", None), f"blocks[{l}].W1", bias=True)
        W2, b2 = _weight(getattr(blk, "W2", None), f"blocks[{l}].W2", bias=True)
        blocks.append(TFNBlock(tuple(mats["q_proj"]), tuple(mats["k_proj"]), tuple(mats["v_proj"]),
                               tuple(mats["o_proj"]), W1, b1, W2, b2))
    Wo, _ = _weight(getattr(module, "Wo", None), "Wo", bias=False)
    return TFN(tuple(blocks), Wo, getattr(module, "output", "softmax"), single)
