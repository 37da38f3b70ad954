"""Frozen/target pairs of the experiments (arXiv 2310.17513v3, App. G.1, p. 39), everything from a seed.

* **random**: FNN weights and biases (and the TFN's FFN ``W_1, b_1, W_2, b_2`` and output ``W_o``) have i.i.d.
  ``U(±1/√D)`` entries; the output layer has no bias. Linear chain: every ``W_l`` and the target's layers
  ``U(±1/√D)``; a target of depth L̄ > 1 is the product of its L̄ layers.
* **TFN attention matrices**: ``N(0, 1/D)`` entries by default (``attention_std="1/sqrt(D)"``), because the
  paper's TFN has no ``1/√D`` score scaling (App. F.2, p. 37), so with ``N(0, 1)`` entries and N(0, 1) inputs the
  scores are O(D) and the softmax saturates; gradients then vanish and the float64 construction is badly
  conditioned. ``attention_std="1"`` gives ``N(0, 1)`` entries.
* **pretrained**: the random frozen model is copied and *all* its parameters are trained with Adam (lr 1e-3, a
  fresh batch of 256 per step from the run's pretraining generator) toward the target, stopping at the first
  step whose training MSE is below initial/3, after at most 1000 steps (100 in quick mode). The number of steps
  and the losses are recorded in :attr:`Setup.info`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lora_theory.errors import DomainError
from lora_theory.experiments.data import derived_seed, sample_inputs
from lora_theory.experiments.nets import forward, to_model, to_params
from lora_theory.models import TFN, LinearChain, ReLUFNN, TFNBlock
from lora_theory.partition import check_depths
from lora_theory.random_matrices import generator

__all__ = ["MODELS", "FROZEN_KINDS", "ATTENTION_STD", "Setup", "random_pair", "pretrain", "make_setup"]

MODELS = ("linear", "fnn", "tfn")
FROZEN_KINDS = ("random", "pretrained")
ATTENTION_STD = ("1/sqrt(D)", "1")


@dataclass(eq=False)
class Setup:
    """One frozen/target pair. ``target`` is a matrix for the linear chain, a model otherwise."""

    model: str
    frozen_kind: str
    seed: int
    frozen: object
    target: object
    seq_len: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.frozen.width

    def target_fn(self, x: torch.Tensor) -> torch.Tensor:
        if self.model == "linear":
            return x @ self.target.T
        return self.target(x)


def _uniform(shape, D: int, gen: torch.Generator) -> torch.Tensor:
    a = 1.0 / math.sqrt(D)
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * a


def _tfn(D: int, L: int, H: int, gen: torch.Generator, attention_std: str) -> TFN:
    std = 1.0 / math.sqrt(D) if attention_std == "1/sqrt(D)" else 1.0
    blocks = []
    for _ in range(L):
        heads = [tuple(torch.randn(D, D, generator=gen, dtype=torch.float64) * std for _ in range(H))
                 for _ in range(4)]
        blocks.append(TFNBlock(*heads, _uniform((D, D), D, gen), _uniform((D,), D, gen), _uniform((D, D), D, gen),
                               _uniform((D,), D, gen)))
    return TFN(tuple(blocks), _uniform((D, D), D, gen))


def random_pair(model: str, width: int, depth: int, target_depth: int, *, seed: int, heads: int = 2,
                attention_std: str = "1/sqrt(D)", final_relu: bool = True):
    """(frozen, target) drawn from the seed's model generator (frozen first, then target)."""
    if model not in MODELS:
        raise DomainError(f"model must be one of {MODELS}; got {model!r}")
    if attention_std not in ATTENTION_STD:
        raise DomainError(f"attention_std must be one of {ATTENTION_STD}; got {attention_std!r}")
    L, Lbar = check_depths(depth, target_depth)
    D = width
    gen = generator(derived_seed(seed, "models"))
    if model == "linear":
        frozen = LinearChain(tuple(_uniform((D, D), D, gen) for _ in range(L)))
        tw = [_uniform((D, D), D, gen) for _ in range(Lbar)]
        target = tw[0]
        for W in tw[1:]:
            target = W @ target
        return frozen, target
    if model == "fnn":
        frozen = ReLUFNN(tuple(_uniform((D, D), D, gen) for _ in range(L)),
                         tuple(_uniform((D,), D, gen) for _ in range(L)), final_relu)
        target = ReLUFNN(tuple(_uniform((D, D), D, gen) for _ in range(Lbar)),
                         tuple(_uniform((D,), D, gen) for _ in range(Lbar)), final_relu)
        return frozen, target
    if Lbar != L:
        raise DomainError(f"the TFN experiments use a same-size target (Theorem 7): --target-depth must equal "
                          f"--depth={L}; got {Lbar}")
    return _tfn(D, L, heads, gen, attention_std), _tfn(D, L, heads, gen, attention_std)


def pretrain(frozen, target_fn, *, seed: int, seq_len: int | None, max_steps: int = 1000, lr: float = 1e-3,
             batch_size: int = 256):
    """Adam on every parameter of a copy of ``frozen`` toward ``target_fn``; stop at the first step whose training
    MSE < initial/3 or after ``max_steps``. Returns (model, info)."""
    gen = generator(derived_seed(seed, "pretrain"))
    params = {k: v.detach().clone().requires_grad_(True) for k, v in to_params(frozen).items()}
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    initial = None
    loss_value = float("nan")
    steps = 0
    for step in range(max_steps):
        x = sample_inputs(batch_size, frozen.width, gen, seq_len)
        with torch.no_grad():
            y = target_fn(x)
        loss = torch.mean((forward(frozen, params, x) - y) ** 2)
        loss_value = float(loss.detach())
        if initial is None:
            initial = loss_value
        elif loss_value < initial / 3:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps = step + 1
    model = to_model(frozen, params)
    return model, {"pretrain_steps": steps, "pretrain_initial_mse": initial, "pretrain_final_mse": loss_value,
                   "pretrain_reached": bool(initial is not None and loss_value < initial / 3)}


def make_setup(model: str, frozen_kind: str, *, width: int, depth: int, target_depth: int, seed: int,
               heads: int = 2, seq_len: int | None = None, quick: bool = False,
               attention_std: str = "1/sqrt(D)") -> Setup:
    if frozen_kind not in FROZEN_KINDS:
        raise DomainError(f"frozen kind must be one of {FROZEN_KINDS}; got {frozen_kind!r}")
    frozen, target = random_pair(model, width, depth, target_depth, seed=seed, heads=heads,
                                 attention_std=attention_std)
    n = seq_len if model == "tfn" else None
    setup = Setup(model, frozen_kind, seed, frozen, target, n)
    if frozen_kind == "pretrained":
        setup.frozen, info = pretrain(frozen, setup.target_fn, seed=seed, seq_len=n,
                                      max_steps=100 if quick else 1000)
        setup.info.update(info)
    return setup
