"""Sweep configuration, the grid runner and the result writers.

``run_sweep(config)`` loops seeds × frozen kinds × methods × ranks (k for ``final-layers``) and returns one dict per
row, plus one ``method="theory"`` row per rank for the linear chain and the FNN (see :mod:`.theory`). Rows are produced
in this fixed order, so the same config gives the same rows.

``write_results(rows, out_dir)`` writes, each atomically through :mod:`lora_theory.files` (a reader never sees a
half-written file under the final name):

* ``results.csv``: the columns :data:`COLUMNS` in that order; floats as ``repr`` (shortest round-trip form), so
  a rerun with the same arguments gives identical bytes; no wall time in it;
* ``results.json``: ``{"columns", "rows"}`` with every field of every row (NaN as ``null``), wall time excluded;
* ``timings.json``: the wall time of every row and the total;
* ``curves.csv`` (only when rows carry a ``train_curve``, i.e. ``record_curves=True``): the training MSE of every
  Adam step of every trained row, columns :data:`CURVE_COLUMNS`.
"""

from __future__ import annotations

import csv
import io
import numbers
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lora_theory.errors import DepthError, DomainError, FileFormatError, RankError
from lora_theory.experiments.methods import METHOD_ALIASES, METHODS, SELECT_STEPS, TrainConfig, run_method, test_inputs
from lora_theory.experiments.setups import ATTENTION_STD, FROZEN_KINDS, INITS, MODELS, make_setup
from lora_theory.experiments.theory import THEORY_METRICS, theory_value, threshold
from lora_theory.files import atomic_write_json, atomic_write_text
from lora_theory.validation import check_int, is_int

__all__ = ["COLUMNS", "CURVE_COLUMNS", "FULL_GRID", "QUICK_GRID", "FULL_STEPS", "QUICK_STEPS", "FULL_TEST_SIZE",
           "QUICK_TEST_SIZE", "BATCH_SIZE", "VAL_SIZE", "SweepConfig", "run_sweep",
           "write_results", "format_csv", "format_curves_csv", "check_out_dir"]

COLUMNS = ("preset", "model", "frozen", "seed", "width", "depth", "target_depth", "heads", "seq_len", "method",
           "rank", "metric", "value", "val_mse", "best_step", "params", "params_plot", "steps", "optimizer", "lr",
           "weight_decay", "threshold", "status")

CURVE_COLUMNS = ("preset", "model", "frozen", "seed", "width", "depth", "target_depth", "method", "rank", "lr",
                 "weight_decay", "step", "train_mse")

#: the paper's protocol (App. G.2, p. 40): Adam, lr × weight decay grid, 5000 steps of 256 fresh N(0, I) inputs,
#: selection on 256 validation inputs. The test set size is not in the paper; 5000 is the authors' n_test.
FULL_GRID = ((1e-2, 1e-3, 1e-4), (0.0, 1e-4, 1e-3, 1e-2))
FULL_STEPS = 5000
FULL_TEST_SIZE = 5000
BATCH_SIZE = 256
VAL_SIZE = 256
#: quick mode cuts: two learning rates, no weight decay, 100 steps unless the preset says otherwise, 1000 test inputs
QUICK_GRID = ((1e-2, 1e-3), (0.0,))
QUICK_STEPS = 100
QUICK_TEST_SIZE = 1000


def _ints(values, name: str) -> tuple[int, ...]:
    if is_int(values):
        values = (values,)
    return tuple(check_int(v, f"{name} item") for v in values)


def _names(values, name: str, known: tuple[str, ...], aliases: dict | None = None) -> tuple[str, ...]:
    if isinstance(values, str):
        values = tuple(v.strip() for v in values.split(",") if v.strip())
    values = tuple((aliases or {}).get(v, v) for v in values)
    if not values:
        raise DomainError(f"{name} is empty: give at least one of {', '.join(known)}")
    for v in values:
        if v not in known:
            raise DomainError(f"{name}: unknown value {v!r}; expected one of {', '.join(known)}")
    if len(set(values)) != len(values):
        raise DomainError(f"{name} lists a value twice: {', '.join(values)}")
    return values


@dataclass(frozen=True)
class SweepConfig:
    """A sweep. ``steps=None`` means 5000 (100 in quick mode); ``tfl_layers`` are the k of method
    ``final-layers`` (final layers tuning; default 1..L−1). Quick mode also shrinks the grid to
    lr ∈ {1e-2, 1e-3} × wd ∈ {0} and the test set to 1000. ``init`` and ``attention_std``: see
    :mod:`.setups`; ``select_step``: see :mod:`.methods`; ``record_curves``: keep every step's training MSE of the
    trained rows (``curves.csv``, Figure 7)."""

    model: str = "linear"
    width: int = 16
    depth: int = 2
    target_depth: int = 1
    heads: int = 2
    seq_len: int = 10
    ranks: tuple[int, ...] = tuple(range(1, 17))
    methods: tuple[str, ...] = ("construction", "gradient")
    frozen_kind: tuple[str, ...] = ("random",)
    seeds: tuple[int, ...] = (0,)
    steps: int | None = None
    quick: bool = False
    out: str | None = None
    preset: str = ""
    tfl_layers: tuple[int, ...] = ()
    log_scale: bool = False
    attention_std: str = "1"
    init: str = "xavier"
    select_step: str = "final"
    record_curves: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise DomainError(f"--model must be one of {', '.join(MODELS)}; got {self.model!r}")
        for name, v in (("--width", self.width), ("--depth", self.depth), ("--target-depth", self.target_depth),
                        ("--heads", self.heads), ("--seq-len", self.seq_len)):
            check_int(v, name, minimum=1, error=DepthError if "depth" in name else DomainError)
        if self.target_depth > self.depth:
            raise DepthError(f"--target-depth={self.target_depth} exceeds --depth={self.depth} (the theorems need "
                             "L̄ ≤ L)")
        ranks = _ints(self.ranks, "--ranks")
        if not ranks:
            raise RankError(f"--ranks is empty: give ranks in 1..D={self.width}")
        for r in ranks:
            if not 1 <= r <= self.width:
                raise RankError(f"--ranks: rank {r} is outside [1, D] = [1, {self.width}] (D = --width)")
        object.__setattr__(self, "ranks", tuple(sorted(set(ranks))))
        methods = _names(self.methods, "--methods", METHODS, METHOD_ALIASES)
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "frozen_kind", _names(self.frozen_kind, "--frozen-kind", FROZEN_KINDS))
        seeds = _ints(self.seeds, "--seeds")
        if not seeds or min(seeds) < 0:
            raise DomainError(f"--seeds must hold at least one integer >= 0; got {list(seeds)}")
        object.__setattr__(self, "seeds", tuple(sorted(set(seeds))))
        if self.steps is not None:
            check_int(self.steps, "--steps", minimum=1)
        if "final-layers" in methods and self.model != "fnn":
            raise DomainError(f"--methods final-layers tunes the last layers of an FNN; it needs --model fnn, got "
                              f"--model {self.model}")
        if "final-layers" in methods and self.depth < 2:
            raise DepthError(f"--methods final-layers needs --depth >= 2 (k in 1..L-1); got --depth {self.depth}")
        if "fixed-bias" in methods and self.model == "linear":
            raise DomainError("--methods fixed-bias freezes the biases, but the linear chain has none; use --model "
                              "fnn or tfn")
        if self.model == "tfn" and self.target_depth != self.depth:
            raise DepthError(f"--model tfn uses a same-size target: --target-depth must equal --depth={self.depth}")
        k = _ints(self.tfl_layers, "--final-layers") or (tuple(range(1, self.depth)) if "final-layers" in methods
                                                          else ())
        for v in k:
            if not 1 <= v <= self.depth - 1:
                raise DepthError(f"--final-layers: layer count k={v} is outside 1..L-1 = 1..{self.depth - 1}")
        object.__setattr__(self, "tfl_layers", tuple(k))
        if self.attention_std not in ATTENTION_STD:
            raise DomainError(f"attention_std must be one of {ATTENTION_STD}; got {self.attention_std!r}")
        if self.init not in INITS:
            raise DomainError(f"init must be one of {INITS}; got {self.init!r}")
        if self.select_step not in SELECT_STEPS:
            raise DomainError(f"select_step must be one of {SELECT_STEPS}; got {self.select_step!r}")

    def train_config(self) -> TrainConfig:
        lrs, wds = QUICK_GRID if self.quick else FULL_GRID
        steps = self.steps if self.steps is not None else (QUICK_STEPS if self.quick else FULL_STEPS)
        return TrainConfig(steps=steps, lrs=lrs, weight_decays=wds, batch_size=BATCH_SIZE, val_size=VAL_SIZE,
                           test_size=QUICK_TEST_SIZE if self.quick else FULL_TEST_SIZE,
                           select_step=self.select_step, record_curve=self.record_curves)

    def items_per_setup(self) -> list[tuple[str, int]]:
        return [(m, r) for m in self.methods for r in (self.tfl_layers if m == "final-layers" else self.ranks)]

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("ranks", "methods", "frozen_kind", "seeds", "tfl_layers"):
            d[k] = list(d[k])
        return d


class _Progress:
    def __init__(self, total: int, enabled: bool, stream=None) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        el = time.perf_counter() - self.t0
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {el:6.1f}s "
                          f"{label[:40]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_sweep(config: SweepConfig, progress: bool = True) -> list[dict]:
    """Every row of the sweep (see the module docstring). Runs with one torch intra-op thread (restored after):
    the matrices are D×D with D ≤ 16, where extra threads only add synchronisation cost (several times slower on a
    busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_sweep(config, progress)
    finally:
        torch.set_num_threads(threads)


def _run_sweep(config: SweepConfig, progress: bool) -> list[dict]:
    cfg = config.train_config()
    items = config.items_per_setup()
    bar = _Progress(len(config.seeds) * len(config.frozen_kind) * len(items), progress)
    rows: list[dict] = []
    for seed in config.seeds:
        for kind in config.frozen_kind:
            setup = make_setup(config.model, kind, width=config.width, depth=config.depth,
                               target_depth=config.target_depth, seed=seed, heads=config.heads,
                               seq_len=config.seq_len, quick=config.quick, attention_std=config.attention_std,
                               init=config.init)
            thr = threshold(setup)
            base = {"preset": config.preset, "model": config.model, "frozen": kind, "seed": seed,
                    "width": config.width, "depth": config.depth, "target_depth": config.target_depth,
                    "heads": config.heads if config.model == "tfn" else None,
                    "seq_len": config.seq_len if config.model == "tfn" else None, "threshold": thr}
            setup_info = {k: v for k, v in setup.info.items()}
            for method, r in items:
                row = dict(base, method=method, rank=r)
                row.update(run_method(method, setup, r, cfg))
                row.update({f"setup_{k}": v for k, v in setup_info.items()})
                rows.append(row)
                bar.step(f"seed {seed} {kind} {method} {'k' if method == 'final-layers' else 'R'}={r}")
            if config.model in THEORY_METRICS and any(m != "final-layers" for m in config.methods):
                x = test_inputs(setup, cfg)
                for r in config.ranks:
                    rows.append(dict(base, method="theory", rank=r, metric=THEORY_METRICS[config.model],
                                     value=theory_value(setup, r, x), status="ok", steps=0, optimizer="",
                                     wall_s=0.0))
    return rows


# --- writers ------------------------------------------------------------------------------------------------------

def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return repr(float(v))
    return str(v)


def format_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow([_cell(row.get(c)) for c in COLUMNS])
    return buf.getvalue()


def format_curves_csv(rows: list[dict]) -> str:
    """One line per (trained row, Adam step): the training MSE of that step (step numbers start at 1)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CURVE_COLUMNS)
    for row in rows:
        for i, v in enumerate(row.get("train_curve") or (), start=1):
            w.writerow([_cell(row.get(c)) for c in CURVE_COLUMNS[:-2]] + [str(i), _cell(v)])
    return buf.getvalue()


def check_out_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed and check it is a writable directory (FileFormatError naming --out)."""
    if out_dir is None or str(out_dir) == "":
        raise FileFormatError("--out is missing: give the directory to write results.csv/results.json/plots to")
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise FileFormatError(f"--out {p} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileFormatError(f"--out {p} cannot be created: {exc.strerror or exc}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise FileFormatError(f"--out {p} is not writable")
    return p


def write_results(rows: list[dict], out_dir, config: SweepConfig | None = None) -> dict[str, Path]:
    """Write results.csv, results.json and timings.json (each atomically); returns their paths."""
    out = check_out_dir(out_dir)
    csv_text = format_csv(rows)
    stable = [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]
    doc = {"columns": list(COLUMNS), "config": config.as_dict() if config else None, "rows": stable}
    timings = {"total_s": sum(r.get("wall_s", 0.0) for r in rows),
               "rows": [{"method": r["method"], "frozen": r["frozen"], "seed": r["seed"], "rank": r["rank"],
                         "wall_s": r.get("wall_s", 0.0)} for r in rows]}
    paths = {"csv": out / "results.csv", "json": out / "results.json", "timings": out / "timings.json"}
    if any("train_curve" in r for r in rows):
        paths["curves"] = out / "curves.csv"
        atomic_write_text(paths["curves"], format_curves_csv(rows))
    atomic_write_json(paths["json"], doc)
    atomic_write_json(paths["timings"], timings)
    atomic_write_text(paths["csv"], csv_text)  # last: a complete results.csv means the others are complete too
    return paths
