"""Flat tensor-dict views of the library models and differentiable forwards over them (for training).

The library models (:class:`~lora_theory.models.LinearChain`, :class:`~lora_theory.models.ReLUFNN`,
:class:`~lora_theory.models.TFN`) validate every tensor on construction, which is right for checks but too slow to
rebuild at every optimiser step. Training therefore works on ``dict[name, Tensor]`` and :func:`forward` computes
exactly what the model classes compute (a test checks the two agree); :func:`to_model` turns a dict back into a
library model for evaluation.

Names: linear/FNN ``W{l}``, ``b{l}`` (0-based layer l); TFN ``blocks.{l}.{WQ,WK,WV,WO}.{h}``, ``blocks.{l}.W1``,
``blocks.{l}.b1``, ``blocks.{l}.W2``, ``blocks.{l}.b2`` and ``Wo``.
"""

from __future__ import annotations

import torch

from lora_theory.errors import DomainError
from lora_theory.models import HEAD_MATRICES, TFN, LinearChain, ReLUFNN, TFNBlock

__all__ = ["to_params", "to_model", "forward", "adapted_names", "bias_names", "last_layer_names"]


def to_params(model) -> dict[str, torch.Tensor]:
    if isinstance(model, LinearChain):
        return {f"W{l}": W for l, W in enumerate(model.weights)}
    if isinstance(model, ReLUFNN):
        out = {f"W{l}": W for l, W in enumerate(model.weights)}
        out.update({f"b{l}": b for l, b in enumerate(model.biases)})
        return out
    if isinstance(model, TFN):
        out: dict[str, torch.Tensor] = {}
        for l, blk in enumerate(model.blocks):
            for name in HEAD_MATRICES:
                for h, M in enumerate(getattr(blk, name)):
                    out[f"blocks.{l}.{name}.{h}"] = M
            for name in ("W1", "b1", "W2", "b2"):
                out[f"blocks.{l}.{name}"] = getattr(blk, name)
        out["Wo"] = model.Wo
        return out
    raise TypeError(f"unsupported model type {type(model).__name__}")


def to_model(template, params: dict[str, torch.Tensor]):
    """A library model of the same kind and shape as ``template`` holding ``params`` (detached)."""
    p = {k: v.detach() for k, v in params.items()}
    if isinstance(template, LinearChain):
        return LinearChain(tuple(p[f"W{l}"] for l in range(template.depth)))
    if isinstance(template, ReLUFNN):
        L = template.depth
        return ReLUFNN(tuple(p[f"W{l}"] for l in range(L)), tuple(p[f"b{l}"] for l in range(L)), template.final_relu)
    if isinstance(template, TFN):
        blocks = []
        for l in range(template.depth):
            heads = {name: tuple(p[f"blocks.{l}.{name}.{h}"] for h in range(template.heads)) for name in HEAD_MATRICES}
            blocks.append(TFNBlock(heads["WQ"], heads["WK"], heads["WV"], heads["WO"], p[f"blocks.{l}.W1"],
                                   p[f"blocks.{l}.b1"], p[f"blocks.{l}.W2"], p[f"blocks.{l}.b2"]))
        kw = {"output": template.output} if hasattr(template, "output") else {}
        return TFN(tuple(blocks), p["Wo"], **kw)
    raise TypeError(f"unsupported model type {type(template).__name__}")


def forward(template, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """What ``to_model(template, params)(x)`` computes, differentiably."""
    if isinstance(template, LinearChain):
        for l in range(template.depth):
            x = x @ params[f"W{l}"].T
        return x
    if isinstance(template, ReLUFNN):
        L = template.depth
        for l in range(L):
            x = x @ params[f"W{l}"].T + params[f"b{l}"]
            if l < L - 1 or template.final_relu:
                x = torch.relu(x)
        return x
    if isinstance(template, TFN):
        if getattr(template, "output", "linear") != "linear":
            raise DomainError(f"the experiments train TFNs with the linear output W_o Z_L (as the authors' code); "
                              f"got output={template.output!r}")
        Z = x
        for l in range(template.depth):
            attn = torch.zeros_like(Z)
            for h in range(template.heads):
                g = lambda n: params[f"blocks.{l}.{n}.{h}"]  # noqa: E731, B023 (used within this iteration)
                S = (g("WK") @ Z).transpose(-1, -2) @ (g("WQ") @ Z)
                attn = attn + g("WO") @ (g("WV") @ Z) @ torch.softmax(S, dim=-2)
            Hh = torch.relu(params[f"blocks.{l}.W1"] @ attn + params[f"blocks.{l}.b1"][:, None])
            Z = params[f"blocks.{l}.W2"] @ Hh + params[f"blocks.{l}.b2"][:, None]
        return params["Wo"] @ Z
    raise TypeError(f"unsupported model type {type(template).__name__}")


def adapted_names(template) -> list[str]:
    """The matrices the theorems put LoRA on (every weight matrix; for the TFN those of arXiv 2310.17513v3,
    App. F.2, p. 37)."""
    if isinstance(template, (LinearChain, ReLUFNN)):
        return [f"W{l}" for l in range(template.depth)]
    if isinstance(template, TFN):
        L = template.depth
        out = [f"blocks.{l}.{n}.{h}" for l in range(L) for n in HEAD_MATRICES for h in range(template.heads)]
        return out + [f"blocks.{L - 1}.W2", "Wo"]
    raise TypeError(f"unsupported model type {type(template).__name__}")


def bias_names(template) -> list[str]:
    """The biases the theorems update (none for the linear chain)."""
    if isinstance(template, LinearChain):
        return []
    if isinstance(template, ReLUFNN):
        return [f"b{l}" for l in range(template.depth)]
    if isinstance(template, TFN):
        return [f"blocks.{l}.{n}" for l in range(template.depth) for n in ("b1", "b2")]
    raise TypeError(f"unsupported model type {type(template).__name__}")


def last_layer_names(template, k: int) -> list[str]:
    """Weights and biases of the last ``k`` layers of an FNN (what final layers tuning tunes)."""
    L = template.depth
    return [n for l in range(L - k, L) for n in (f"W{l}", f"b{l}")]
