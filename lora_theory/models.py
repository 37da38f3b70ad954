"""Frozen and target models of arXiv 2310.17513v3: the linear chain f(x) = W_L ⋯ W_1 x (Sec. 2, p. 3), the ReLU
FNN with biases (Sec. 3.1, p. 4) and the transformer network TFN as analysed (Sec. 4.1, p. 8; App. F.2, pp. 36–37).

Conventions: ``weights[0]`` is W_1, the first layer applied; ``product() = W_L ⋯ W_1``. Inputs are rows:
``chain(x)`` takes ``x: (n, D)`` (or ``(D,)``) and returns ``x @ (W_L⋯W_1)ᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair, adapted_weights
from lora_theory.errors import DepthError, DomainError, DTypeError, LoRATheoryError, NonFiniteError, ShapeError
from lora_theory.numerics import chain_product
from lora_theory.validation import as_matrix, as_square_stack, check_int, check_same_dtype

__all__ = ["LinearChain", "ReLUFNN", "TFN", "TFNBlock", "TFN_OUTPUTS", "HEAD_MATRICES", "column_softmax",
           "single_head_block", "check_fnn_pair", "check_tfn_pair", "check_sequence_input"]


def _check_finite_input(x: torch.Tensor, name: str = "x") -> None:
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = tuple((~finite).nonzero()[0].tolist())
        raise NonFiniteError(f"input {name} contains NaN or inf (first at index {bad}; shape {tuple(x.shape)})")


def check_sequence_input(X: object, width: int, reference: tuple[str, torch.Tensor]) -> torch.Tensor:
    """A TFN input: a tensor of shape (..., D, N) with D = ``width`` and N ≥ 1, of the dtype and device of the named
    ``reference`` tensor (the model's parameters)."""
    if not isinstance(X, torch.Tensor):
        raise DTypeError(f"input X must be a torch.Tensor of shape (..., D, N); got {type(X).__name__}")
    if X.ndim < 2 or X.shape[-2] != width:
        raise ShapeError(f"input X must have shape (..., D, N) with D={width}; got {tuple(X.shape)}")
    if X.shape[-1] == 0:
        raise ShapeError(f"input X has sequence length N=0 (shape {tuple(X.shape)}); a sequence needs N >= 1")
    check_same_dtype([reference, ("X", X)])
    return X


class _WeightStack:
    """depth, width, dtype and the input check of a model whose ``weights`` is a tuple of (D, D) layers."""

    weights: tuple[torch.Tensor, ...]

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def width(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"input x must be a torch.Tensor; got {type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != self.width:
            raise ShapeError(f"input x must have shape (D,) or (n, D) with D={self.width}; got {tuple(x.shape)}")
        check_same_dtype([("weights[0]", self.weights[0]), ("x", x)])
        _check_finite_input(x)
        return x


@dataclass(frozen=True, eq=False)
class LinearChain(_WeightStack):
    """A depth-L chain of D×D linear maps with no bias and no activation (arXiv 2310.17513v3, Sec. 2, p. 3)."""

    weights: tuple[torch.Tensor, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", as_square_stack(self.weights, "weights"))

    def product(self) -> torch.Tensor:
        """W_L ⋯ W_1."""
        return chain_product(self.weights)

    def adapted(self, pairs: Sequence[LoRAPair]) -> "LinearChain":
        """The chain with W_l + B_l A_l in place of W_l."""
        return LinearChain(tuple(adapted_weights(self.weights, pairs)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_input(x)
        for W in self.weights:
            x = x @ W.T
        return x


@dataclass(frozen=True, eq=False)
class ReLUFNN(_WeightStack):
    """FNN_{L,D}(x) with biases (arXiv 2310.17513v3, Sec. 3.1, p. 4): z_0 = x, z_l = ReLU(W_l z_{l-1} + b_l); the
    last ReLU is applied only when ``final_relu`` (the paper applies it after every layer, the last one included,
    Sec. 3.2; ``final_relu=False`` is the variant without it, and every claim is checked under both).

    ``weights[l]``: (D, D), ``biases[l]``: (D,); inputs are rows ``x: (n, D)`` (or one ``(D,)`` vector).
    """

    weights: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]
    final_relu: bool = True

    def __post_init__(self) -> None:
        weights = as_square_stack(self.weights, "weights")
        biases = self.biases
        if isinstance(biases, torch.Tensor) and biases.ndim == 2:
            biases = tuple(biases.unbind(0))
        if not isinstance(biases, Sequence) or len(biases) != len(weights):
            n = len(biases) if isinstance(biases, Sequence) else type(biases).__name__
            raise ShapeError(f"biases must hold one (D,) vector per layer (L={len(weights)}); got {n}")
        D = weights[0].shape[0]
        checked = []
        for i, b in enumerate(biases):
            if not isinstance(b, torch.Tensor):
                raise DTypeError(f"biases[{i}] must be a torch.Tensor; got {type(b).__name__}")
            if b.ndim != 1 or b.shape[0] != D:
                raise ShapeError(f"biases[{i}] must have shape ({D},) like the layers (D={D}); got {tuple(b.shape)}")
            as_matrix(b[None, :], f"biases[{i}]", square=False)
            checked.append(b)
        check_same_dtype([("weights[0]", weights[0])] + [(f"biases[{i}]", b) for i, b in enumerate(checked)])
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", tuple(checked))
        object.__setattr__(self, "final_relu", bool(self.final_relu))

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[W_l z_{l-1} + b_l for l = 1..L], each of the shape of ``x``."""
        z = self._check_input(x)
        out = []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = z @ W.T + b
            out.append(h)
            z = torch.relu(h) if (l < self.depth - 1 or self.final_relu) else h
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.preactivations(x)[-1]
        return torch.relu(h) if self.final_relu else h

    def adapted(self, pairs: Sequence[LoRAPair], biases: Sequence[torch.Tensor]) -> "ReLUFNN":
        """The network with W_l + B_l A_l and the new biases b̂_l (the frozen tensors are not modified)."""
        return ReLUFNN(tuple(adapted_weights(self.weights, pairs)), tuple(biases), self.final_relu)

    def to_sequential(self) -> torch.nn.Sequential:
        """An ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` computing the same function (copies the tensors)."""
        layers: list[torch.nn.Module] = []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            lin = torch.nn.Linear(self.width, self.width, dtype=self.dtype, device=W.device)
            with torch.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(b)
            layers.append(lin)
            if l < self.depth - 1 or self.final_relu:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)

    @classmethod
    def from_sequential(cls, seq: torch.nn.Sequential) -> "ReLUFNN":
        """Read an ``nn.Sequential`` of square ``nn.Linear`` (with bias) layers, each followed by ``nn.ReLU`` except
        possibly the last (which sets ``final_relu``)."""
        mods = list(seq)
        weights, biases = [], []
        i = 0
        final_relu = False
        while i < len(mods):
            lin = mods[i]
            if not isinstance(lin, torch.nn.Linear) or lin.bias is None:
                raise ShapeError(f"module {i} of the Sequential must be an nn.Linear with bias; got {lin!r}")
            weights.append(lin.weight.detach().clone())
            biases.append(lin.bias.detach().clone())
            i += 1
            if i < len(mods) and isinstance(mods[i], torch.nn.ReLU):
                final_relu = i == len(mods) - 1
                i += 1
            elif i < len(mods):
                raise ShapeError(f"module {i} must be nn.ReLU between two nn.Linear layers; got {mods[i]!r}")
        if not weights:
            raise DepthError("the Sequential holds no nn.Linear layer: an FNN needs depth L >= 1")
        return cls(tuple(weights), tuple(biases), final_relu)


HEAD_MATRICES = ("WQ", "WK", "WV", "WO")


@dataclass(frozen=True, eq=False)
class TFNBlock:
    """One transformer block as analysed (arXiv 2310.17513v3, App. F.2, pp. 36–37): H heads of D×D matrices W_Q,
    W_K, W_V, W_O, then the FFN W_1 → ReLU → W_2 with biases b_1, b_2. No residual connection, no LayerNorm, no
    1/√D scaling."""

    WQ: tuple[torch.Tensor, ...]
    WK: tuple[torch.Tensor, ...]
    WV: tuple[torch.Tensor, ...]
    WO: tuple[torch.Tensor, ...]
    W1: torch.Tensor
    b1: torch.Tensor
    W2: torch.Tensor
    b2: torch.Tensor

    @property
    def heads(self) -> int:
        return len(self.WQ)


def column_softmax(S: torch.Tensor) -> torch.Tensor:
    """softmax over the key index i for every query column j: [softmax(S)]_ij = e^{S_ij}/Σ_i' e^{S_i'j}
    (max-shifted)."""
    return torch.softmax(S, dim=-2)


#: the output layers a TFN supports: the paper's softmax(W_o Z_L) (App. F.2, p. 37) and the plain linear W_o Z_L of
#: the authors' code
TFN_OUTPUTS = ("softmax", "linear")


@dataclass(frozen=True, eq=False)
class TFN:
    """TFN_{L,D,H}: Z_0 = X ∈ R^{D×N} (columns are tokens); per block
    Attn(Z) = Σ_h W_O^h W_V^h Z softmax((W_K^h Z)ᵀ(W_Q^h Z)), H = ReLU(W_1 Attn(Z) + b_1 1ᵀ), Z' = W_2 H + b_2 1ᵀ;
    logits W_o Z_L (no bias, :meth:`logits`); output f(X) = softmax(W_o Z_L), column-wise, by default.
    Inputs may carry leading batch dimensions: X of shape (..., D, N).

    ``output``: ``"softmax"`` (default) is the paper's output layer softmax(W_o Z_L) (arXiv 2310.17513v3, App. F.2,
    p. 37, and App. F.1, p. 33); ``"linear"`` is the plain W_o Z_L of the authors' code. The constructions match the
    logits, W_o Z_L = W̄_o Z̄_L, which implies equality after the softmax.

    ``single_head``: the single-head block of App. F.1 (p. 33), Attn(Z) = W_V Z softmax((W_K Z)ᵀ(W_Q Z)) — it has no
    W_O. It is stored as H = 1 with W_O fixed to the identity (checked exactly), and the attention never multiplies
    by it, so the model computes the paper's single-head formula (see :func:`single_head_block`)."""

    blocks: tuple[TFNBlock, ...]
    Wo: torch.Tensor
    output: str = "softmax"
    single_head: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.output, str) or self.output not in TFN_OUTPUTS:
            raise DomainError(f"output must be one of {TFN_OUTPUTS} (the paper's softmax(W_o Z_L) or the linear "
                              f"W_o Z_L); got {self.output!r}")
        if not isinstance(self.single_head, bool):
            raise DTypeError(f"single_head must be a bool; got {type(self.single_head).__name__}")
        if not isinstance(self.blocks, Sequence):
            raise ShapeError(f"blocks must be a sequence of TFNBlock (one per layer); got {type(self.blocks).__name__}"
                             " — wrap a single TFNBlock in a tuple")
        if len(self.blocks) == 0:
            raise DepthError("a TFN needs at least one block (depth L >= 1); blocks is empty")
        Wo = as_matrix(self.Wo, "Wo")
        D = Wo.shape[0]
        named: list[tuple[str, torch.Tensor]] = [("Wo", Wo)]
        for l, blk in enumerate(self.blocks):
            if not isinstance(blk, TFNBlock):
                raise ShapeError(f"blocks[{l}] must be a TFNBlock; got {type(blk).__name__}")
            for name in HEAD_MATRICES:
                if not isinstance(getattr(blk, name), Sequence):
                    raise ShapeError(f"blocks[{l}].{name} must be a sequence of H (D, D) tensors, one per head; got "
                                     f"{type(getattr(blk, name)).__name__}")
            H = len(blk.WQ)
            if H == 0:
                raise ShapeError(f"blocks[{l}] has H=0 heads: a TFN block needs at least one head")
            for name in HEAD_MATRICES:
                mats = getattr(blk, name)
                if len(mats) != H:
                    raise ShapeError(f"blocks[{l}].{name} has {len(mats)} heads but blocks[{l}].WQ has {H}")
                for h, M in enumerate(mats):
                    M = as_matrix(M, f"blocks[{l}].{name}[{h}]")
                    if M.shape[0] != D:
                        raise ShapeError(f"blocks[{l}].{name}[{h}] has shape {tuple(M.shape)} but Wo has shape "
                                         f"({D}, {D}); every matrix must be D x D")
                    named.append((f"blocks[{l}].{name}[{h}]", M))
            for name in ("W1", "W2"):
                M = as_matrix(getattr(blk, name), f"blocks[{l}].{name}")
                if M.shape[0] != D:
                    raise ShapeError(f"blocks[{l}].{name} has shape {tuple(M.shape)}; expected ({D}, {D})")
                named.append((f"blocks[{l}].{name}", M))
            for name in ("b1", "b2"):
                b = getattr(blk, name)
                if not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != D:
                    shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
                    raise ShapeError(f"blocks[{l}].{name} must have shape ({D},); got {shape}")
                as_matrix(b[None, :], f"blocks[{l}].{name}", square=False)
                named.append((f"blocks[{l}].{name}", b))
            if H != len(self.blocks[0].WQ):
                raise ShapeError(f"blocks[{l}] has {H} heads but blocks[0] has {len(self.blocks[0].WQ)}")
        check_same_dtype(named)
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.single_head:
            for l, blk in enumerate(self.blocks):
                if blk.heads != 1:
                    raise ShapeError(f"single_head=True needs H = 1 head per block; blocks[{l}] has {blk.heads}")
                eye = torch.eye(D, dtype=Wo.dtype, device=Wo.device)
                if not torch.equal(blk.WO[0], eye):
                    raise DomainError(f"single_head=True: the single-head block has no W_O, so blocks[{l}].WO[0] must "
                                      "be exactly the identity (build blocks with single_head_block)")

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def width(self) -> int:
        return int(self.Wo.shape[0])

    @property
    def heads(self) -> int:
        return self.blocks[0].heads

    @property
    def dtype(self) -> torch.dtype:
        return self.Wo.dtype

    def _check_input(self, X: torch.Tensor) -> torch.Tensor:
        check_sequence_input(X, self.width, ("Wo", self.Wo))
        _check_finite_input(X, "X")
        return X

    def attention(self, l: int, Z: torch.Tensor) -> torch.Tensor:
        """Attn_l(Z) = Σ_h W_O W_V Z softmax((W_K Z)ᵀ(W_Q Z)), column-wise softmax, no scaling (l is 0-based)."""
        l = check_int(l, f"block index l (L={self.depth})", minimum=0, maximum=self.depth - 1, error=DepthError)
        Z = self._check_input(Z)
        blk = self.blocks[l]
        if self.single_head:  # App. F.1, p. 33: W_V Z softmax((W_K Z)ᵀ(W_Q Z)), no W_O
            S = (blk.WK[0] @ Z).transpose(-1, -2) @ (blk.WQ[0] @ Z)
            return (blk.WV[0] @ Z) @ column_softmax(S)
        out = torch.zeros_like(Z)
        for WQ, WK, WV, WO in zip(blk.WQ, blk.WK, blk.WV, blk.WO):
            S = (WK @ Z).transpose(-1, -2) @ (WQ @ Z)
            out = out + WO @ (WV @ Z) @ column_softmax(S)
        return out

    def hidden_states(self, X: torch.Tensor) -> list[torch.Tensor]:
        """[Z_0 = X, Z_1, …, Z_L]."""
        Z = self._check_input(X)
        out = [Z]
        for l, blk in enumerate(self.blocks):
            Hh = torch.relu(blk.W1 @ self.attention(l, Z) + blk.b1[:, None])
            Z = blk.W2 @ Hh + blk.b2[:, None]
            out.append(Z)
        return out

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """The pre-output logits W_o Z_L (what the constructions match), whatever ``output`` is."""
        return self.Wo @ self.hidden_states(X)[-1]

    def output_map(self, A: torch.Tensor) -> torch.Tensor:
        """The output layer applied to logits A = W_o Z_L: softmax over the D rows of each token column, or A."""
        return column_softmax(A) if self.output == "softmax" else A

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.output_map(self.logits(X))

    def with_output(self, output: str) -> "TFN":
        """The same network with another output layer (``"softmax"`` or ``"linear"``); tensors shared."""
        return TFN(self.blocks, self.Wo, output, self.single_head)


def single_head_block(WQ: torch.Tensor, WK: torch.Tensor, WV: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
                      W2: torch.Tensor, b2: torch.Tensor) -> TFNBlock:
    """A single-head block (arXiv 2310.17513v3, App. F.1, p. 33) for ``TFN(..., single_head=True)``: one head,
    W_O fixed to the identity (never multiplied, never adapted)."""
    eye = torch.eye(int(WV.shape[0]), dtype=WV.dtype, device=WV.device)
    return TFNBlock((WQ,), (WK,), (WV,), (eye,), W1, b1, W2, b2)


def check_fnn_pair(frozen: object, target: object, *, min_depth: int = 1, depth_reason: str = "",
                   same_final_relu: str = "") -> tuple[int, int]:
    """The one frozen/target check of the ReLU FNN family: two ReLUFNN of one width and dtype with 1 ≤ L̄ ≤ L;
    returns (L, L̄).

    ``min_depth``/``depth_reason``: a larger minimum frozen depth and why it is needed (final-layers tuning freezes
    layer 1, so it needs L ≥ 2). ``same_final_relu``: when non-empty, both models must share the final-ReLU
    convention, and this says why (DomainError otherwise).
    """
    if not isinstance(frozen, ReLUFNN) or not isinstance(target, ReLUFNN):
        raise ShapeError(f"frozen and target must be ReLUFNN models; got {type(frozen).__name__} and "
                         f"{type(target).__name__}")
    if frozen.depth < min_depth:
        raise DepthError(f"{depth_reason}, so it needs frozen depth L >= {min_depth}; got L={frozen.depth}")
    if target.depth > frozen.depth:
        raise DepthError(f"target depth L̄={target.depth} exceeds frozen depth L={frozen.depth} (the theorem needs "
                         "L̄ ≤ L)")
    if target.width != frozen.width:
        raise ShapeError(f"target width D̄={target.width} differs from frozen width D={frozen.width} (same width "
                         "needed)")
    check_same_dtype([("frozen.weights[0]", frozen.weights[0]), ("target.weights[0]", target.weights[0])])
    if same_final_relu and frozen.final_relu != target.final_relu:
        raise DomainError(f"frozen.final_relu={frozen.final_relu} but target.final_relu={target.final_relu}: "
                          f"{same_final_relu}, so both must use the same convention")
    return frozen.depth, target.depth


def check_tfn_pair(frozen: object, target: object, *, model_type: type = TFN,
                   type_error: type[LoRATheoryError] = ShapeError, hint: str = "") -> tuple[int, int, int]:
    """The one frozen/target check of the transformer family: two models of ``model_type`` (the float :class:`TFN`,
    or the exact certificate's model) with the same depth L, width D and heads H (Theorem 7 needs a same-size
    target) and, for tensors, one dtype; returns (D, L, H). A model of the wrong type raises ``type_error``, its
    message followed by ``hint``."""
    if not isinstance(frozen, model_type) or not isinstance(target, model_type):
        raise type_error(f"frozen and target must be {model_type.__name__} models; got {type(frozen).__name__} and "
                         f"{type(target).__name__}{hint}")
    for what, a, b in (("depth L", frozen.depth, target.depth), ("width D", frozen.width, target.width),
                       ("heads H", frozen.heads, target.heads)):
        if a != b:
            raise ShapeError(f"target {what}={b} differs from frozen {what}={a}: Theorem 7 needs a same-size target")
    if isinstance(frozen.Wo, torch.Tensor):
        check_same_dtype([("frozen.Wo", frozen.Wo), ("target.Wo", target.Wo)])
    for what in ("output", "single_head"):
        a, b = getattr(frozen, what, None), getattr(target, what, None)
        if a != b:
            raise DomainError(f"target {what}={b!r} differs from frozen {what}={a!r}: the adapted model keeps the "
                              "frozen architecture, so both must use the same one")
    return frozen.width, frozen.depth, frozen.heads
