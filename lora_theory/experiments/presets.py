"""Named presets reproducing the experiments of arXiv 2310.17513v3, App. G (E1–E6 below). Each builder takes
``quick`` and returns the list of :class:`~.sweep.SweepConfig` it runs (one per setting; results of all of them
are written together).

Full grids follow App. G.2 (p. 39: 5000 steps, lr × wd grid of 12 points, seeds 0–4, ranks 1..16, 5000 test inputs).
Quick mode (``quick=True``): 1 seed, a subset of ranks, lr ∈ {1e-2, 1e-3} × wd ∈ {0}, 1000 test inputs and the
few hundred steps noted per preset, so that each preset finishes in well under a minute on 2 CPU cores.

==============  ======================================================================================
preset          grid
==============  ======================================================================================
fig1            E1: linear, D=16, L̄=1, L=2; random and pretrained; construction + gradient; R = 1..16
fig2            E2: FNN, D=16, L̄=2, L=4, biases tuned; random; construction + gradient; R = 1..16
fnn-appendix    E3: FNN, (L̄, L) ∈ {(1,2), (2,4)}; random and pretrained; construction + gradient; R = 1..16
tfn-appendix    E4: TFN, D=16, H=2, N=10, L ∈ {1, 2}, same-size target; random; construction + gradient
tfl             E5: FNN, L̄=1, L=8; random; gradient LoRA at R = 1..8 and TFL at k = 1..7 (error vs #params)
bias            E6: FNN, (1, 2); random; gradient with biases updated vs fixed (``fixed-bias``), R = 1..8
==============  ======================================================================================
"""

from __future__ import annotations

from dataclasses import replace

from lora_theory.errors import DomainError
from lora_theory.experiments.sweep import SweepConfig

__all__ = ["PRESETS", "preset_configs", "LOG_SCALE"]

ALL_RANKS = tuple(range(1, 17))
QUICK_SEEDS = (0,)
FULL_SEEDS = (0, 1, 2, 3, 4)
#: presets plotted in log scale by default (the TFN and E5/E6 span many orders of magnitude)
LOG_SCALE = {"tfn-appendix", "tfl", "bias", "fnn-appendix"}


def _c(quick: bool, **kw) -> SweepConfig:
    kw.setdefault("seeds", QUICK_SEEDS if quick else FULL_SEEDS)
    kw.setdefault("width", 16)
    return SweepConfig(quick=quick, **kw)


def _fig1(quick: bool) -> list[SweepConfig]:
    ranks = (1, 2, 3, 4, 6, 8, 12, 16) if quick else ALL_RANKS
    return [_c(quick, preset="fig1", model="linear", depth=2, target_depth=1, ranks=ranks,
               methods=("construction", "gradient"), frozen_kind=("random", "pretrained"),
               steps=300 if quick else None)]


def _fig2(quick: bool) -> list[SweepConfig]:
    ranks = (1, 2, 4, 6, 8, 12, 16) if quick else ALL_RANKS
    return [_c(quick, preset="fig2", model="fnn", depth=4, target_depth=2, ranks=ranks,
               methods=("construction", "gradient"), frozen_kind=("random",), steps=200 if quick else None)]


def _fnn_appendix(quick: bool) -> list[SweepConfig]:
    ranks = (1, 4, 8, 16) if quick else ALL_RANKS
    return [_c(quick, preset="fnn-appendix", model="fnn", depth=L, target_depth=Lb, ranks=ranks,
               methods=("construction", "gradient"), frozen_kind=("random", "pretrained"), steps=100 if quick else None,
               log_scale=True)
            for Lb, L in ((1, 2), (2, 4))]


def _tfn_appendix(quick: bool) -> list[SweepConfig]:
    ranks = (2, 6, 8, 12) if quick else ALL_RANKS
    return [_c(quick, preset="tfn-appendix", model="tfn", depth=L, target_depth=L, heads=2, seq_len=10,
               ranks=ranks, methods=("construction", "gradient"), frozen_kind=("random",),
               steps=30 if quick else None, log_scale=True)
            for L in (1, 2)]


def _tfl(quick: bool) -> list[SweepConfig]:
    ranks = (1, 2, 4) if quick else tuple(range(1, 9))
    k = (1, 3, 7) if quick else tuple(range(1, 8))
    return [_c(quick, preset="tfl", model="fnn", depth=8, target_depth=1, ranks=ranks, tfl_layers=k,
               methods=("gradient", "tfl"), frozen_kind=("random",), steps=60 if quick else None, log_scale=True)]


def _bias(quick: bool) -> list[SweepConfig]:
    ranks = (1, 2, 4, 8) if quick else tuple(range(1, 9))
    return [_c(quick, preset="bias", model="fnn", depth=2, target_depth=1, ranks=ranks,
               methods=("gradient", "fixed-bias"), frozen_kind=("random",), steps=200 if quick else None,
               log_scale=True)]


PRESETS = {"fig1": _fig1, "fig2": _fig2, "fnn-appendix": _fnn_appendix, "tfn-appendix": _tfn_appendix,
           "tfl": _tfl, "bias": _bias}


def preset_configs(name: str, quick: bool = False, **overrides) -> list[SweepConfig]:
    """The configs of preset ``name``; ``overrides`` (e.g. ``seeds``, ``steps``, ``out``) replace fields."""
    if name not in PRESETS:
        raise DomainError(f"--preset: unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    configs = PRESETS[name](quick)
    return [replace(c, **overrides) for c in configs] if overrides else configs
