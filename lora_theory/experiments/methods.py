"""The methods compared in the experiments (arXiv 2310.17513v3, App. G, pp. 39–45), one row per (setup, method,
rank or k).

* ``construction``: the executable proofs — ``construct_linear`` on the chain, ``construct_fnn`` on a
  :class:`~lora_theory.domains.Ball` whose radius is the largest test-input norm (so the exactness it claims covers
  exactly the inputs it is evaluated on), ``construct_tfn``. A violated non-singularity hypothesis is recorded
  as status ``"assumption failed"`` with a NaN metric instead of crashing the sweep.
* ``gradient``: Adam on LoRA factors (``B = 0``, ``A ~ N(0, 0.25²)`` from the run's adapter generator, the
  initialisation of Hu et al. used by the paper, App. G.1, p. 40) plus the biases the theorem updates (FNN: every
  bias; TFN: every ``b_1, b_2``; linear: none).
* ``fixed-bias``: the same with every bias frozen (App. G.5, p. 42).
* ``final-layers``: final layers tuning (App. G.4, p. 42): Adam on the full weights and biases of the last k layers
  of the FNN. ``tfl`` is a deprecated alias of this name.

Protocol for the trained methods (App. G.2, p. 40): for every grid point (lr, weight decay) a fresh run of
``steps`` Adam steps, each on a fresh batch of ``batch_size`` N(0, I) inputs from the run's train generator. The
grid point with the lowest validation MSE (on ``val_size`` inputs of the run's validation generator; ties: the first
in grid order) is chosen; only then is the test MSE computed, once. ``select_step`` says which parameters of a run
are validated and kept: ``"final"`` (the paper, and the authors' code: the parameters after the last step) or
``"best"`` (the validation MSE is also evaluated every ``eval_every`` steps and at step 0, and the best step is
kept — an early-stopping variant that is not the paper's). The test set never influences any choice. Weight decay
is ``torch.optim.Adam``'s (an L2 term added to the gradient), the optimiser is recorded as "Adam". With
``record_curve`` the training MSE of every step of the chosen run is returned as ``train_curve`` (Figure 7).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from lora_theory.constructions.fnn import construct_fnn
from lora_theory.constructions.linear import construct_linear
from lora_theory.constructions.tfn import construct_tfn
from lora_theory.domains import Ball
from lora_theory.errors import AssumptionViolated, DomainError
from lora_theory.experiments.data import Streams, derived_seed
from lora_theory.experiments.nets import adapted_names, bias_names, forward, last_layer_names, to_params
from lora_theory.experiments.setups import Setup
from lora_theory.random_matrices import generator
from lora_theory.validation import check_int

__all__ = ["METHODS", "METHOD_ALIASES", "SELECT_STEPS", "TrainConfig", "mse",
           "validation_mse", "test_mse", "test_inputs", "run_construction",
           "run_gradient", "run_tfl", "run_method"]

METHODS = ("construction", "gradient", "fixed-bias", "final-layers")
#: deprecated method names → current ones
METHOD_ALIASES = {"tfl": "final-layers"}
SELECT_STEPS = ("final", "best")
A_INIT_STD = 0.25


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 5000
    lrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)
    batch_size: int = 256
    val_size: int = 256
    test_size: int = 5000
    eval_every: int | None = None  # default: max(1, steps // 100); used by select_step="best"
    select_step: str = "final"
    record_curve: bool = False

    def __post_init__(self) -> None:
        if self.select_step not in SELECT_STEPS:
            raise DomainError(f"select_step must be one of {SELECT_STEPS}; got {self.select_step!r}")

    @property
    def every(self) -> int:
        return self.eval_every or max(1, self.steps // 100)


def mse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error averaged over every output coordinate (and token, for the TFN)."""
    return float(torch.mean((pred - y) ** 2))


def validation_mse(template, params, x, y) -> float:
    with torch.no_grad():
        return mse(forward(template, params, x), y)


def test_mse(template, params, x, y) -> float:
    """The reported metric; called only after the grid point and the step have been chosen on validation."""
    with torch.no_grad():
        return mse(forward(template, params, x), y)


def test_inputs(setup: Setup, cfg: TrainConfig) -> torch.Tensor:
    """The run's test set (its own generator; identical for every method of the same seed)."""
    return Streams(setup.seed, setup.width, seq_len=setup.seq_len).test(cfg.test_size)


# --- construction -------------------------------------------------------------------------------------------------

def run_construction(setup: Setup, rank: int, cfg: TrainConfig) -> dict:
    x = test_inputs(setup, cfg)
    y = setup.target_fn(x)
    row: dict = {"metric": "test_mse", "steps": 0, "optimizer": "", "lr": None, "weight_decay": None}
    try:
        if setup.model == "linear":
            c = construct_linear(setup.frozen, setup.target, rank)
            adapted = setup.frozen.adapted(c.adapters)
            row["tolerance"] = c.tolerance().value
            row["exact_in_theory"] = c.is_exact_in_theory()
        elif setup.model == "fnn":
            radius = float(torch.linalg.vector_norm(x, dim=1).max())
            c = construct_fnn(setup.frozen, setup.target, rank, Ball(setup.width, radius))
            adapted = c.adapted()
            row["tolerance"] = c.tolerance().value
            row["domain_radius"] = radius
            row["exact_in_theory"] = c.is_exact_in_theory()
        else:
            c = construct_tfn(setup.frozen, setup.target, rank)
            adapted = c.adapted()
            row["exact_in_theory"] = c.is_exact_in_theory()
    except AssumptionViolated as exc:
        row.update(value=math.nan, status="assumption failed", note=str(exc))
        return row
    with torch.no_grad():
        row["value"] = mse(adapted(x), y)
    row["status"] = "ok"
    return row


# --- trained methods ----------------------------------------------------------------------------------------------

def _train(setup: Setup, init, lr: float, wd: float, cfg: TrainConfig, streams: Streams, val_x, val_y):
    """One run at one grid point. ``init()`` returns (trainable tensors, effective-params function)."""
    trainable, effective = init()
    opt = torch.optim.Adam(trainable, lr=lr, weight_decay=wd)
    template = setup.frozen

    def snapshot():
        return {k: v.detach().clone() for k, v in effective().items()}

    best = cfg.select_step == "best"
    if best:
        best_val = validation_mse(template, effective(), val_x, val_y)
        best_step, best_params = 0, snapshot()
    curve: list[float] = []
    for step in range(1, cfg.steps + 1):
        x = streams.train_batch()
        with torch.no_grad():
            y = setup.target_fn(x)
        loss = torch.mean((forward(template, effective(), x) - y) ** 2)
        if cfg.record_curve:
            curve.append(float(loss.detach()))  # the training MSE before this step's update
        opt.zero_grad()
        loss.backward()
        opt.step()
        if best and (step % cfg.every == 0 or step == cfg.steps):
            v = validation_mse(template, effective(), val_x, val_y)
            if v < best_val:  # NaN never wins
                best_val, best_step, best_params = v, step, snapshot()
    if not best:
        best_params = snapshot()
        best_val, best_step = validation_mse(template, best_params, val_x, val_y), cfg.steps
    return best_val, best_step, best_params, curve


def _select(setup: Setup, init, cfg: TrainConfig) -> dict:
    """Run the grid, choose on validation, then evaluate the test set once."""
    results = []
    for lr in cfg.lrs:
        for wd in cfg.weight_decays:
            streams = Streams(setup.seed, setup.width, seq_len=setup.seq_len, batch_size=cfg.batch_size)
            val_x = streams.validation(cfg.val_size)
            val_y = setup.target_fn(val_x)
            best_val, best_step, params, curve = _train(setup, init, lr, wd, cfg, streams, val_x, val_y)
            results.append((best_val, lr, wd, best_step, params, curve))
    finite = [r for r in results if math.isfinite(r[0])]
    if not finite:
        return {"value": math.nan, "status": "diverged", "metric": "test_mse", "steps": cfg.steps,
                "optimizer": "Adam", "lr": None, "weight_decay": None}
    best_val, lr, wd, best_step, params, curve = min(finite, key=lambda r: r[0])  # first minimum in grid order
    x = test_inputs(setup, cfg)
    value = test_mse(setup.frozen, params, x, setup.target_fn(x))
    row = {"value": value, "val_mse": best_val, "best_step": best_step, "status": "ok", "metric": "test_mse",
           "steps": cfg.steps, "optimizer": "Adam", "lr": lr, "weight_decay": wd}
    if cfg.record_curve:
        row["train_curve"] = curve
    return row


def _lora_init(setup: Setup, rank: int, tune_biases: bool):
    frozen = {k: v.detach() for k, v in to_params(setup.frozen).items()}
    names = adapted_names(setup.frozen)
    bnames = bias_names(setup.frozen) if tune_biases else []
    D = setup.width

    def init():
        gen = generator(derived_seed(setup.seed, "adapter"))  # a fresh run: same initial A at every grid point
        lora = {n: (torch.zeros(D, rank, dtype=torch.float64, requires_grad=True),
                    (torch.randn(rank, D, generator=gen, dtype=torch.float64) * A_INIT_STD).requires_grad_(True))
                for n in names}
        biases = {n: frozen[n].clone().requires_grad_(True) for n in bnames}

        def effective():
            out = dict(frozen)
            for n, (B, A) in lora.items():
                out[n] = frozen[n] + B @ A
            out.update(biases)
            return out

        return [t for pair in lora.values() for t in pair] + list(biases.values()), effective

    params = 2 * rank * D * len(names) + D * len(bnames)
    return init, params


def run_gradient(setup: Setup, rank: int, cfg: TrainConfig, *, tune_biases: bool = True) -> dict:
    """``params`` counts every trained entry (factors and biases); ``params_plot`` is the paper's x axis of
    Figure 6 (the authors' plotting code: 2·R·D per adapted matrix, biases not counted)."""
    init, params = _lora_init(setup, rank, tune_biases)
    row = _select(setup, init, cfg)
    row.update(params=params, params_plot=2 * rank * setup.width * len(adapted_names(setup.frozen)))
    return row


def run_tfl(setup: Setup, k: int, cfg: TrainConfig) -> dict:
    if setup.model != "fnn":
        raise DomainError(f"method final-layers tunes the last k layers of an FNN; got --model {setup.model}")
    L, D = setup.frozen.depth, setup.width
    k = check_int(k, "final layers count k (1..L-1)", minimum=1, maximum=L - 1)
    frozen = {n: v.detach() for n, v in to_params(setup.frozen).items()}
    names = last_layer_names(setup.frozen, k)

    def init():
        tuned = {n: frozen[n].clone().requires_grad_(True) for n in names}

        def effective():
            return dict(frozen) | tuned

        return list(tuned.values()), effective

    row = _select(setup, init, cfg)
    row.update(params=k * (D * D + D), params_plot=k * D * D)
    return row


def construction_params(setup: Setup, rank: int) -> int:
    names = adapted_names(setup.frozen)
    return 2 * rank * setup.width * len(names) + setup.width * len(bias_names(setup.frozen))


def run_method(method: str, setup: Setup, rank: int, cfg: TrainConfig) -> dict:
    """One row's measured fields (plus ``wall_s``)."""
    t0 = time.perf_counter()
    if method == "construction":
        row = run_construction(setup, rank, cfg)
        p = construction_params(setup, rank)
        row.update(params=p, params_plot=2 * rank * setup.width * len(adapted_names(setup.frozen)))
    elif method == "gradient":
        row = run_gradient(setup, rank, cfg, tune_biases=True)
    elif method == "fixed-bias":
        row = run_gradient(setup, rank, cfg, tune_biases=False)
    elif method in ("final-layers", "tfl"):
        row = run_tfl(setup, rank, cfg)
    else:
        raise DomainError(f"unknown method {method!r}; expected one of {METHODS} (--methods)")
    row["wall_s"] = time.perf_counter() - t0
    return row
