"""Frozen/target pairs of the experiments (arXiv 2310.17513v3, App. G.1, p. 40, and G.3.2, p. 41), from a seed.

* **random** (App. G.1, p. 40: "randomly generating all the weight matrices using the Xavier uniform
  distribution"): every D×D weight matrix of the FNN, of the linear chain, of the TFN's feed-forward layers
  ``W_1, W_2`` and of its output layer ``W_o`` has i.i.d. entries ``U(±√(6/(fan_in + fan_out))) = U(±√(3/D))``
  (``init="xavier"``, the default). The paper adds that this is "the default weight initialization method used in
  PyTorch"; it is not: ``nn.Linear``'s default is ``U(±1/√fan_in) = U(±1/√D)``, which the authors' code uses
  (``init="torch-default"``, kept for comparison). Biases (FNN ``b_l``, TFN ``b_1, b_2``) are ``U(±1/√D)`` in both
  cases (``nn.Linear``'s bias default; the paper names no bias distribution); the FNN's output layer has a bias
  like every other layer, the TFN's output layer has none, the linear chain has none. A target of depth L̄ > 1 of
  the linear chain is the product of its L̄ layers.
* **TFN attention matrices** ``W_Q, W_K, W_V, W_O`` (App. G.3.2, p. 41: "follow a standard Gaussian
  distribution"): ``N(0, 1)`` entries (``attention_std="1"``, the default). ``attention_std="1/sqrt(D)"`` gives
  ``N(0, 1/D)``: the paper's TFN has no ``1/√D`` score scaling (App. F.2, p. 37), so with ``N(0, 1)`` entries the
  scores are O(D), the softmax is nearly one-hot and gradient training moves slowly; the option shows that regime
  apart from the paper's. The TFN output is linear, ``W_o Z_L`` (as in the authors' code; the paper's App. F.2
  writes a softmax output, see :func:`tfn_output_kwargs`).
* **pretrained** (App. G.1, p. 40: "full-rank updates on the frozen model via gradient descent to approximate the
  target model until the approximation error is reduced by 1/3"): the random frozen model is copied and *all* its
  parameters are trained with Adam (lr 1e-3, a fresh batch of 256 N(0, I) inputs per step from the run's
  pretraining generator) on the MSE toward the target, stopping at the first step whose training MSE is below
  initial/3, after at most 1000 steps (100 in quick mode). "Reduced by 1/3" is read as "reduced to a third", the
  stopping rule ``loss < init_loss / pretrained_level`` with ``pretrained_level = 3``, Adam, lr 1e-3 and at most
  1000 steps of the authors' code. The number of steps and the losses are recorded in :attr:`Setup.info`.
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

__all__ = ["MODELS", "FROZEN_KINDS", "ATTENTION_STD", "INITS", "PRETRAIN_LR", "PRETRAIN_MAX_STEPS",
           "PRETRAIN_FACTOR", "Setup", "random_pair", "pretrain", "make_setup", "tfn_output_kwargs", "weight_bound"]

MODELS = ("linear", "fnn", "tfn")
FROZEN_KINDS = ("random", "pretrained")
#: TFN attention-matrix entry std: "1" = N(0, 1) (the paper, App. G.3.2, p. 41), "1/sqrt(D)" = N(0, 1/D)
ATTENTION_STD = ("1", "1/sqrt(D)")
#: weight initialisation: "xavier" = U(±√(3/D)) (the paper, App. G.1, p. 40), "torch-default" = U(±1/√D)
#: (nn.Linear's default, the authors' code)
INITS = ("xavier", "torch-default")
PRETRAIN_LR = 1e-3
PRETRAIN_MAX_STEPS = 1000
PRETRAIN_QUICK_MAX_STEPS = 100
PRETRAIN_FACTOR = 3  # stop once the training MSE < initial MSE / 3


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


def weight_bound(D: int, init: str) -> float:
    """The half-width a of the U(±a) entries of a D×D weight matrix: √(6/(D + D)) for "xavier", 1/√D for
    "torch-default"."""
    if init not in INITS:
        raise DomainError(f"init must be one of {INITS}; got {init!r}")
    return math.sqrt(6.0 / (D + D)) if init == "xavier" else 1.0 / math.sqrt(D)


def _uniform(shape, a: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * a


def tfn_output_kwargs() -> dict:
    """``{"output": "linear"}`` when :class:`~lora_theory.models.TFN` has an ``output`` field (the experiments use
    the linear output ``W_o Z_L`` of the authors' code), else ``{}`` (the model's output is then linear anyway)."""
    return {"output": "linear"} if "output" in getattr(TFN, "__dataclass_fields__", {}) else {}


def _tfn(D: int, L: int, H: int, gen: torch.Generator, attention_std: str, init: str) -> TFN:
    std = 1.0 / math.sqrt(D) if attention_std == "1/sqrt(D)" else 1.0
    a, ab = weight_bound(D, init), 1.0 / math.sqrt(D)
    blocks = []
    for _ in range(L):
        heads = [tuple(torch.randn(D, D, generator=gen, dtype=torch.float64) * std for _ in range(H))
                 for _ in range(4)]
        blocks.append(TFNBlock(*heads, _uniform((D, D), a, gen), _uniform((D,), ab, gen), _uniform((D, D), a, gen),
                               _uniform((D,), ab, gen)))
    return TFN(tuple(blocks), _uniform((D, D), a, gen), **tfn_output_kwargs())


def random_pair(model: str, width: int, depth: int, target_depth: int, *, seed: int, heads: int = 2,
                attention_std: str = "1", final_relu: bool = True, init: str = "xavier"):
    """(frozen, target) drawn from the seed's model generator (frozen first, then target)."""
    if model not in MODELS:
        raise DomainError(f"model must be one of {MODELS}; got {model!r}")
    if attention_std not in ATTENTION_STD:
        raise DomainError(f"attention_std must be one of {ATTENTION_STD}; got {attention_std!r}")
    L, Lbar = check_depths(depth, target_depth)
    D = width
    a, ab = weight_bound(D, init), 1.0 / math.sqrt(D)
    gen = generator(derived_seed(seed, "models"))
    if model == "linear":
        frozen = LinearChain(tuple(_uniform((D, D), a, gen) for _ in range(L)))
        tw = [_uniform((D, D), a, gen) for _ in range(Lbar)]
        target = tw[0]
        for W in tw[1:]:
            target = W @ target
        return frozen, target
    if model == "fnn":
        frozen = ReLUFNN(tuple(_uniform((D, D), a, gen) for _ in range(L)),
                         tuple(_uniform((D,), ab, gen) for _ in range(L)), final_relu)
        target = ReLUFNN(tuple(_uniform((D, D), a, gen) for _ in range(Lbar)),
                         tuple(_uniform((D,), ab, gen) for _ in range(Lbar)), final_relu)
        return frozen, target
    if Lbar != L:
        raise DomainError(f"the TFN experiments use a same-size target (Theorem 7): --target-depth must equal "
                          f"--depth={L}; got {Lbar}")
    return _tfn(D, L, heads, gen, attention_std, init), _tfn(D, L, heads, gen, attention_std, init)


def pretrain(frozen, target_fn, *, seed: int, seq_len: int | None, max_steps: int = PRETRAIN_MAX_STEPS,
             lr: float = PRETRAIN_LR, batch_size: int = 256):
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
        elif loss_value < initial / PRETRAIN_FACTOR:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps = step + 1
    model = to_model(frozen, params)
    return model, {"pretrain_steps": steps, "pretrain_initial_mse": initial, "pretrain_final_mse": loss_value,
                   "pretrain_reached": bool(initial is not None and loss_value < initial / PRETRAIN_FACTOR)}


def make_setup(model: str, frozen_kind: str, *, width: int, depth: int, target_depth: int, seed: int,
               heads: int = 2, seq_len: int | None = None, quick: bool = False,
               attention_std: str = "1", init: str = "xavier") -> Setup:
    if frozen_kind not in FROZEN_KINDS:
        raise DomainError(f"frozen kind must be one of {FROZEN_KINDS}; got {frozen_kind!r}")
    frozen, target = random_pair(model, width, depth, target_depth, seed=seed, heads=heads,
                                 attention_std=attention_std, init=init)
    n = seq_len if model == "tfn" else None
    setup = Setup(model, frozen_kind, seed, frozen, target, n)
    if frozen_kind == "pretrained":
        setup.frozen, info = pretrain(frozen, setup.target_fn, seed=seed, seq_len=n,
                                      max_steps=PRETRAIN_QUICK_MAX_STEPS if quick else PRETRAIN_MAX_STEPS)
        setup.info.update(info)
    return setup
