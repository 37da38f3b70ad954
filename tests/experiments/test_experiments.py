"""Tests of lora_theory.experiments (the experiments of arXiv 2310.17513v3, App. G) and ``lora-theory sweep``:
schema, determinism, independent streams, selection by validation, optimality of the linear construction, FNN
exactness, plots, typed errors, atomic writes, preset conflicts."""

from __future__ import annotations

import argparse
import csv
import math
import struct

import pytest
import torch

import lora_theory.files
from lora_theory.cli import main
from lora_theory.cli import sweep as sweep_command
from lora_theory.cli.sweep import parse_int_list
from lora_theory.errors import DepthError, DomainError, FileFormatError, RankError, SingularityError
from lora_theory.experiments import methods as M
from lora_theory.experiments import sweep as S
from lora_theory.experiments.data import Streams
from lora_theory.experiments.nets import forward, to_params
from lora_theory.experiments.presets import PRESETS, preset_configs
from lora_theory.experiments.setups import make_setup
from lora_theory.experiments.sweep import COLUMNS, SweepConfig, format_csv, run_sweep, write_results

pytest.importorskip("matplotlib")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lora-theory sweep")
    sweep_command.add_arguments(p)
    return p


def tiny(**kw) -> SweepConfig:
    base = dict(model="linear", width=4, depth=2, target_depth=1, ranks=(1, 2, 3, 4),
                methods=("construction", "gradient"), seeds=(0,), steps=15, quick=True)
    base.update(kw)
    return SweepConfig(**base)


@pytest.fixture(scope="module")
def linear_rows():
    return run_sweep(tiny(steps=150, frozen_kind=("random", "pretrained")), progress=False)


# --- schema and determinism ---------------------------------------------------------------------------------------

def test_csv_schema(linear_rows, tmp_path):
    paths = write_results(linear_rows, tmp_path)
    with open(paths["csv"], newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    assert len(rows) == len(linear_rows) == 2 * (4 + 4 + 4)  # 2 frozen kinds × (construction, gradient, theory)
    for r in rows:
        assert r["model"] == "linear" and r["frozen"] in ("random", "pretrained")
        int(r["seed"]), int(r["rank"]), int(r["threshold"]), int(r["width"])
        assert not math.isnan(float(r["value"]))
        assert r["status"] == "ok"
        if r["method"] == "gradient":
            assert r["optimizer"] == "Adam"  # the paper's optimiser (App. G.2, p. 39), never "SGD"
            assert int(r["steps"]) == 150 and float(r["lr"]) in (1e-2, 1e-3) and float(r["weight_decay"]) == 0.0
            assert int(r["params"]) == 2 * int(r["rank"]) * 4 * 2 == int(r["params_plot"])
            assert 0 <= int(r["best_step"]) <= 150 and float(r["val_mse"]) >= 0
    assert "wall_s" not in paths["csv"].read_text()
    assert paths["timings"].exists() and paths["json"].exists()


def test_same_arguments_identical_csv_bytes(tmp_path):
    a = write_results(run_sweep(tiny(), progress=False), tmp_path / "a")["csv"].read_bytes()
    b = write_results(run_sweep(tiny(), progress=False), tmp_path / "b")["csv"].read_bytes()
    c = write_results(run_sweep(tiny(seeds=(1,)), progress=False), tmp_path / "c")["csv"].read_bytes()
    assert a == b
    assert a != c


# --- streams ------------------------------------------------------------------------------------------------------

def test_streams_independent_and_fresh():
    s = Streams(0, 4, batch_size=8)
    batches = [s.train_batch() for _ in range(200)]
    assert len({tuple(b.flatten().tolist()) for b in batches}) == 200  # a fresh batch at every step
    val, test = s.validation(8), s.test(8)
    assert not torch.equal(val, test)
    assert all(not torch.equal(val, b) and not torch.equal(test, b) for b in batches)
    assert torch.equal(s.validation(8), val)  # drawn once, cached; drawing it did not disturb the train stream
    s2 = Streams(0, 4, batch_size=8)
    s2.validation(8), s2.test(8)
    assert torch.equal(s2.train_batch(), batches[0])
    assert batches[0].dtype == torch.float64
    assert Streams(0, 4, seq_len=3, batch_size=2).train_batch().shape == (2, 4, 3)
    # different seeds never share a stream
    assert not torch.equal(Streams(1, 4, batch_size=8).train_batch(), batches[0])


# --- selection ----------------------------------------------------------------------------------------------------

def test_selection_uses_validation_only(monkeypatch):
    setup = make_setup("fnn", "random", width=4, depth=2, target_depth=1, seed=0, quick=True)
    cfg = M.TrainConfig(steps=20, lrs=(1e-2, 1e-3, 1e-4), weight_decays=(0.0, 1e-2), test_size=200)
    honest = M.run_gradient(setup, 2, cfg)
    calls = []

    def fake_test(*args, **kw):  # a test metric that would prefer the *last* grid point, then anything else
        calls.append(1)
        return -float(len(calls))

    monkeypatch.setattr(M, "test_mse", fake_test)
    patched = M.run_gradient(setup, 2, cfg)
    assert (patched["lr"], patched["weight_decay"], patched["best_step"]) == \
        (honest["lr"], honest["weight_decay"], honest["best_step"])
    assert patched["val_mse"] == honest["val_mse"]
    assert len(calls) == 1  # the test set is evaluated once, after the choice


# --- the construction is optimal for the linear chain --------------------------------------------------------------

def test_linear_gradient_never_beats_construction(linear_rows):
    """For a linear map Δ and x ~ N(0, I_D), E‖Δx‖²/D = ‖Δ‖_F²/D; any rank-R adapters leave ‖Δ‖_F² ≥ Σ_{i>RL}σ_i(E)²
    (lower_bound), which the construction attains. The gradient row is a sample mean over n test inputs of
    q = ‖Δx‖²/D with Var q = 2‖ΔᵀΔ‖_F²/D² ≤ 2(E q)², so at 6 standard deviations its test MSE is ≥
    (1 − 6√(2/n))·E q ≥ (1 − 6√(2/n))·Σ_{i>RL}σ_i²/D."""
    n = tiny().train_config().test_size
    slack = 1 - 6 * math.sqrt(2 / n)
    assert slack > 0.5
    theory = {(r["frozen"], r["rank"]): r["value"] for r in linear_rows if r["method"] == "theory"}
    cons = {(r["frozen"], r["rank"]): r["value"] for r in linear_rows if r["method"] == "construction"}
    grads = [r for r in linear_rows if r["method"] == "gradient"]
    assert len(grads) == 8
    for r in grads:
        key = (r["frozen"], r["rank"])
        assert r["value"] >= slack * theory[key] - 1e-12, key
        # the construction's own test MSE matches its exact expectation within the same Monte-Carlo slack
        assert abs(cons[key] - theory[key]) <= (1 - slack) * theory[key] + 1e-20, key
    assert all(theory[(k, r)] == 0.0 for k in ("random", "pretrained") for r in (2, 3, 4))  # threshold ⌈4/2⌉


# --- FNN exactness at the threshold --------------------------------------------------------------------------------

@pytest.mark.parametrize("depth,target_depth", [(2, 1), (4, 2)])
def test_fnn_construction_exact_at_threshold(depth, target_depth):
    D = 4
    M_ = depth // target_depth
    R = math.ceil(D / M_)
    rows = run_sweep(SweepConfig(model="fnn", width=D, depth=depth, target_depth=target_depth, ranks=(1, R),
                                 methods=("construction",), quick=True), progress=False)
    row = next(r for r in rows if r["method"] == "construction" and r["rank"] == R)
    assert row["threshold"] == R and row["status"] == "ok" and row["exact_in_theory"]
    # construct_fnn's tolerance bounds ‖f(x) − f̄(x)‖₂ on the domain (the Ball covering the test inputs), so the MSE
    # over D coordinates is at most tol²/D
    assert row["value"] <= row["tolerance"] ** 2 / D
    below = next(r for r in rows if r["method"] == "construction" and r["rank"] == 1)
    assert below["value"] > row["value"]
    theory = next(r for r in rows if r["method"] == "theory" and r["rank"] == R)
    assert theory["metric"] == "thm5_tight_bound_mean_l2" and theory["value"] <= 1e-6


def test_assumption_failure_is_a_row_not_a_crash(monkeypatch):
    def boom(*a, **k):
        raise SingularityError("W_1 is singular", where="W_1", ratio=0.0, threshold=1e-13)

    monkeypatch.setattr(M, "construct_linear", boom)
    rows = run_sweep(tiny(methods=("construction",), ranks=(1,)), progress=False)
    row = rows[0]
    assert row["status"] == "assumption failed" and math.isnan(row["value"])
    assert "nan" in format_csv(rows)


def test_forward_matches_library_models():
    for model, kw in (("linear", {}), ("fnn", {}), ("tfn", {"seq_len": 3})):
        setup = make_setup(model, "random", width=4, depth=2, target_depth=2 if model == "tfn" else 1, seed=3,
                           **kw)
        x = Streams(0, 4, seq_len=kw.get("seq_len"), batch_size=5).train_batch()
        ref = setup.frozen(x)
        assert torch.allclose(forward(setup.frozen, to_params(setup.frozen), x), ref, rtol=1e-12, atol=1e-14)


def test_tfl_and_fixed_bias_counts():
    rows = run_sweep(SweepConfig(model="fnn", width=4, depth=3, target_depth=1, ranks=(1,), tfl_layers=(1, 2),
                                 methods=("fixed-bias", "tfl"), steps=5, quick=True), progress=False)
    tfl = {r["rank"]: r for r in rows if r["method"] == "final-layers"}  # "tfl" is the deprecated alias
    assert tfl[2]["params"] == 2 * (16 + 4) and tfl[2]["params_plot"] == 2 * 16
    fb = next(r for r in rows if r["method"] == "fixed-bias")
    assert fb["params"] == 2 * 1 * 4 * 3


# --- plots and presets ---------------------------------------------------------------------------------------------

def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return struct.unpack(">II", data[16:24])


def test_fig1_quick_preset_plots(tmp_path):
    from lora_theory.experiments.plots import PIXELS
    p = parser()
    args = p.parse_args(["--preset", "fig1a", "--quick", "--steps", "20", "--out", str(tmp_path), "--no-progress"])
    assert sweep_command.run(args) == 0
    pngs = sorted(tmp_path.glob("*.png"))
    assert [q.name for q in pngs] == ["fig1a_linear_L2_Lbar1_pretrained.png", "fig1a_linear_L2_Lbar1_random.png"]
    for q in pngs:
        assert _png_size(q) == PIXELS
    assert (tmp_path / "results.csv").exists()
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_quick(name, tmp_path, monkeypatch):
    """Every preset in quick mode, with steps cut to 3, pretraining to 3 steps and one rank per config (the full
    quick presets are timed in docs/experiments.md; here only the wiring, the rows and the plots are checked)."""
    from lora_theory.experiments import setups
    from lora_theory.experiments.plots import PIXELS, plot_rows

    monkeypatch.setattr(setups, "PRETRAIN_QUICK_MAX_STEPS", 3)
    rows = []
    for c in preset_configs(name, quick=True, steps=3):
        from dataclasses import replace
        c = replace(c, ranks=c.ranks[-1:], tfl_layers=c.tfl_layers[:1])
        rows.extend(run_sweep(c, progress=False))
    assert rows and all(r["status"] in ("ok", "assumption failed") for r in rows)
    paths = plot_rows(rows, tmp_path, log_scale=True)
    assert paths and all(_png_size(q) == PIXELS for q in paths)


# --- bad inputs and partial writes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,err,words", [
    ({"ranks": (0, 2)}, RankError, ["--ranks", "D", "4"]),
    ({"ranks": (5,)}, RankError, ["--ranks", "[1, 4]"]),
    ({"ranks": ()}, RankError, ["--ranks"]),
    ({"methods": ()}, DomainError, ["--methods", "empty"]),
    ({"methods": ("construction", "sgd")}, DomainError, ["--methods", "sgd"]),
    ({"frozen_kind": ("warm",)}, DomainError, ["--frozen-kind"]),
    ({"methods": ("fixed-bias",)}, DomainError, ["fixed-bias"]),
    ({"methods": ("tfl",)}, DomainError, ["final-layers", "--model fnn"]),
    ({"methods": ("final-layers",)}, DomainError, ["final-layers", "--model fnn"]),
    ({"target_depth": 3}, DepthError, ["--target-depth"]),
    ({"steps": 0}, DomainError, ["--steps"]),
    ({"model": "cnn"}, DomainError, ["--model"]),
])
def test_bad_config_typed_errors(kw, err, words):
    with pytest.raises(err) as info:
        tiny(**kw)
    for w in words:
        assert w in str(info.value)


def test_bad_preset_and_out(tmp_path):
    with pytest.raises(DomainError, match="--preset"):
        preset_configs("fig9")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FileFormatError, match="--out"):
        write_results([], f)
    p = parser()
    with pytest.raises(FileFormatError, match="--out"):
        sweep_command.run(p.parse_args(["--model", "linear", "--width", "4", "--ranks", "1", "--out", str(f)]))
    assert parse_int_list("1,2,4-6") == (1, 2, 4, 5, 6)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_int_list("4-2")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_int_list("1,x")


def test_nothing_partial_on_failure(tmp_path, monkeypatch):
    # a sweep that fails midway writes nothing
    real = M.run_method
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real(*a, **k)

    monkeypatch.setattr(S, "run_method", flaky)
    p = parser()
    args = p.parse_args(["--width", "4", "--ranks", "1-4", "--methods", "construction", "--out", str(tmp_path / "o"),
                         "--no-progress"])
    with pytest.raises(RuntimeError):
        sweep_command.run(args)
    assert list((tmp_path / "o").iterdir()) == []
    monkeypatch.setattr(S, "run_method", real)
    # a write interrupted at the final rename leaves neither a results.csv nor a temporary file
    rows = run_sweep(tiny(methods=("construction",)), progress=False)

    def bad_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(lora_theory.files.os, "replace", bad_replace)
    with pytest.raises(OSError):
        write_results(rows, tmp_path / "w")
    assert list((tmp_path / "w").iterdir()) == []


# --- the command line: flags, presets, names -----------------------------------------------------------------------

@pytest.mark.parametrize("extra,flags", [
    (["--model", "fnn"], "--model"),
    (["--frozen-kind", "random"], "--frozen-kind"),
    (["--ranks", "1-4", "--width", "8"], "--width, --ranks"),
])
def test_preset_with_an_option_it_fixes_is_a_one_line_error(tmp_path, capsys, extra, flags):
    """A --preset fixes the setting: giving one of its options too is an error (exit 2, one line naming both), not
    silently ignored; nothing runs and nothing is written."""
    out = tmp_path / "o"
    rc = main(["sweep", "--preset", "fig1", "--quick", "--out", str(out), "--no-progress", *extra])
    stdout, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, (rc, err)
    assert lines[0].startswith("lora-theory: DomainError: --preset fig1 fixes ") and flags in lines[0], lines[0]
    assert stdout == "" and not out.exists()


def test_preset_allows_run_options_and_rejects_unknown_names(tmp_path):
    args = parser().parse_args(["--preset", "fig2", "--quick", "--seeds", "0-1", "--steps", "7", "--out",
                                str(tmp_path)])
    (config,) = sweep_command.configs_from_args(args)  # the old name fig2 is Figure 1b
    assert (config.preset, config.model, config.seeds, config.steps) == ("fig1b", "fnn", (0, 1), 7)
    with pytest.raises(DomainError, match="--preset: unknown preset 'fig99'"):
        sweep_command.configs_from_args(parser().parse_args(["--preset", "fig99", "--model", "fnn"]))


def test_frozen_kind_flag(tmp_path):
    """The sweep's frozen-model kinds are --frozen-kind (``rank --frozen`` is a checkpoint file)."""
    args = parser().parse_args(["--model", "linear", "--width", "4", "--ranks", "1", "--frozen-kind",
                                "random,pretrained", "--out", str(tmp_path)])
    (config,) = sweep_command.configs_from_args(args)
    assert config.frozen_kind == ("random", "pretrained")
    from lora_theory.cli import main

    # not an abbreviation of --frozen-kind: the command's parser has allow_abbrev=False
    assert main(["sweep", "--model", "linear", "--frozen", "random", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_help_names_match_the_experiments():
    """cli.sweep lists the names without importing torch; they must be the experiments' own."""
    from lora_theory.experiments.methods import METHODS
    from lora_theory.experiments.presets import ALIASES
    from lora_theory.experiments.setups import FROZEN_KINDS, MODELS

    assert sweep_command.PRESET_NAMES == tuple(PRESETS)
    assert sweep_command.PRESET_ALIASES == tuple(ALIASES)
    assert sweep_command.MODEL_NAMES == MODELS
    assert sweep_command.METHOD_NAMES == METHODS
    assert sweep_command.FROZEN_KIND_NAMES == FROZEN_KINDS
    assert {a for a, _ in sweep_command.PRESET_FIXED} <= set(SweepConfig.__dataclass_fields__)
