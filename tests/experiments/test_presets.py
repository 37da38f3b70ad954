"""The presets of ``lora-theory sweep`` against the paper's protocol, arXiv 2310.17513v3, Sec. 5 (p. 9) and
App. G (pp. 39–44). Every expected number is written out here as a literal from the paper's text (or, where the
paper gives none, from the authors' experiment configuration, said so next to it) — never read back from the code.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from lora_theory.cli import main
from lora_theory.errors import DomainError
from lora_theory.experiments.presets import ALIASES, NOT_IMPLEMENTED, PRESETS, QUICK_CUTS, preset_configs
from lora_theory.experiments.setups import make_setup, random_pair
from lora_theory.experiments.sweep import SweepConfig, run_sweep, write_results
from lora_theory.models import TFN

PAPER_D = 16  # Sec. 5, p. 9 and App. G.3.2, G.4, G.5: "D = 16"
PAPER_LRS = {1e-2, 1e-3, 1e-4}  # App. G.2, p. 40
PAPER_WDS = {0.0, 1e-2, 1e-3, 1e-4}  # App. G.2, p. 40
PAPER_STEPS = 5000  # App. G.2: "We run 5,000 iterations for each hyperparameter setting"
PAPER_BATCH = 256  # App. G.2: "at each step 256 fresh standard Gaussian samples"
PAPER_VAL = 256  # App. G.2: "validation loss on a set of 256 samples"
PAPER_SEEDS = 5  # App. G.3: "All simulations are conducted five times using different seeds" (medians)
AUTHORS_N_TEST = 5000  # not in the paper: n_test = 5000 in the authors' experiment configuration
ALL_RANKS = tuple(range(1, 17))

# (preset, [(model, L, L̄, frozen kinds, methods)]) as the paper describes each figure
PAPER_FIGURES = {
    # Figure 1 (Sec. 5, p. 9): "For linear model cases, we set L̄ = 1, L = 2, while for FNN cases, we set L̄ = 2,
    # L = 4"; "two variants of the frozen model ... (Random) ... (Pretrained)"
    "fig1": [("linear", 2, 1, ("random", "pretrained"), ("construction", "gradient")),
             ("fnn", 4, 2, ("random", "pretrained"), ("construction", "gradient"))],
    "fig1a": [("linear", 2, 1, ("random", "pretrained"), ("construction", "gradient"))],
    "fig1b": [("fnn", 4, 2, ("random", "pretrained"), ("construction", "gradient"))],
    # Figure 3 (App. G.3.1, pp. 40–41): "L̄ = 1 and L = 2 and ... L̄ = 2 and L = 4"; (a) random, (b) pretrained
    "fig3": [("fnn", 2, 1, ("random", "pretrained"), ("construction", "gradient")),
             ("fnn", 4, 2, ("random", "pretrained"), ("construction", "gradient"))],
    # Figure 4 (p. 41): "Log-scale MSE versus LoRA-rank on randomly initialized FNNs"
    "fig4": [("fnn", 2, 1, ("random",), ("construction", "gradient")),
             ("fnn", 4, 2, ("random",), ("construction", "gradient"))],
    # Figure 5 (App. G.3.2, p. 41): same architecture, L = 1 and L = 2; (a) random, (b) pretrained
    "fig5": [("tfn", 1, 1, ("random", "pretrained"), ("construction", "gradient")),
             ("tfn", 2, 2, ("random", "pretrained"), ("construction", "gradient"))],
    # Figure 6a (App. G.4, p. 42): "D = 16, L̄ = 1, L = 8", LoRA vs tuning final layers, random and pretrained
    # Figure 6b (App. G.5, p. 42): "D = 16, L̄ = 1, L = 2", with and without bias tuning, random and pretrained
    "fig6": [("fnn", 8, 1, ("random", "pretrained"), ("gradient", "final-layers")),
             ("fnn", 2, 1, ("random", "pretrained"), ("gradient", "fixed-bias"))],
    "fig6a": [("fnn", 8, 1, ("random", "pretrained"), ("gradient", "final-layers"))],
    "fig6b": [("fnn", 2, 1, ("random", "pretrained"), ("gradient", "fixed-bias"))],
    # Figure 7 (App. G.6, p. 43): "randomly generated FNNs", the FNN setting of Sec. 5 (L̄ = 2, L = 4)
    "fig7": [("fnn", 4, 2, ("random",), ("gradient",))],
}


def test_every_figure_has_a_preset_and_nothing_else():
    assert set(PRESETS) == set(PAPER_FIGURES)


@pytest.mark.parametrize("name", sorted(PAPER_FIGURES))
def test_full_mode_is_the_papers_protocol(name):
    configs = preset_configs(name, quick=False)
    got = [(c.model, c.depth, c.target_depth, c.frozen_kind, c.methods) for c in configs]
    assert got == PAPER_FIGURES[name]
    for c in configs:
        assert c.width == PAPER_D and not c.quick
        assert c.seeds == (0, 1, 2, 3, 4) and len(c.seeds) == PAPER_SEEDS
        assert c.init == "xavier"  # App. G.1, p. 40: "Xavier uniform distribution"
        t = c.train_config()
        assert t.steps == PAPER_STEPS and t.batch_size == PAPER_BATCH and t.val_size == PAPER_VAL
        assert set(t.lrs) == PAPER_LRS and set(t.weight_decays) == PAPER_WDS
        assert len(t.lrs) * len(t.weight_decays) == 12
        assert t.select_step == "final"  # validation chooses the grid point; the run's last parameters are kept
        assert t.test_size == AUTHORS_N_TEST
        if c.model == "tfn":
            # App. G.3.2, p. 41: "two attention heads", attention weights "follow a standard Gaussian distribution";
            # N = 10 is the authors' seq_len (the paper gives none)
            assert (c.heads, c.seq_len, c.attention_std) == (2, 10, "1")
        if name == "fig7":
            assert c.ranks == (1, 4, 8, 13, 16) and c.record_curves  # App. G.6, p. 43: "R = 1, 4, 8, 13, 16"
        elif c.preset == "fig6a":
            assert c.ranks == (1, 2, 3, 4, 5, 6, 7, 8) and c.tfl_layers == (1, 2, 3, 4, 5, 6, 7)
        elif c.preset == "fig6b":
            assert c.ranks == (1, 2, 3, 4, 5, 6, 7, 8)
        else:
            assert c.ranks == ALL_RANKS


@pytest.mark.parametrize("name", sorted(PAPER_FIGURES))
def test_quick_mode_cuts_and_says_so(name):
    full = preset_configs(name, quick=False)
    quick = preset_configs(name, quick=True)
    assert [(c.model, c.depth, c.target_depth, c.frozen_kind, c.methods) for c in quick] == \
        [(c.model, c.depth, c.target_depth, c.frozen_kind, c.methods) for c in full]
    for c in quick:
        t = c.train_config()
        assert c.quick and c.seeds == (0,) and c.width == PAPER_D
        assert t.steps <= 300 and len(t.lrs) * len(t.weight_decays) == 2 and t.test_size == 1000
        assert set(c.ranks) <= set(ALL_RANKS)
    assert "quick mode" in QUICK_CUTS[name] and "1 seed" in QUICK_CUTS[name]


def test_old_names_are_aliases():
    expected = {"fig2": "fig1b", "fnn-appendix": "fig3", "tfn-appendix": "fig5", "tfl": "fig6a", "bias": "fig6b"}
    assert {k: v for k, (v, _) in ALIASES.items()} == expected
    for old, new in expected.items():
        assert preset_configs(old, quick=True) == preset_configs(new, quick=True)
        assert "deprecated" in ALIASES[old][1] and new in ALIASES[old][1]


def test_old_name_prints_a_one_line_note(tmp_path, capsys, monkeypatch):
    import lora_theory.experiments.sweep as S

    monkeypatch.setattr(S, "run_sweep", lambda c, progress=True: [])
    monkeypatch.setattr(S, "write_results", lambda rows, out, config=None: {"csv": "a", "json": "b",
                                                                            "timings": "c"})
    assert main(["sweep", "--preset", "fig2", "--quick", "--no-plots", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"lora-theory: note: {ALIASES['fig2'][1]}"
    assert err[1].startswith("lora-theory: fig1b: quick mode: 1 seed")


@pytest.mark.parametrize("name", ["fig8", "fig9"])
def test_unimplemented_figures_say_so(name):
    assert "not implemented" in NOT_IMPLEMENTED[name]
    with pytest.raises(DomainError, match=f"--preset {name}: Figure {name[-1]} .*not implemented"):
        preset_configs(name)
    assert "not an experiment" in NOT_IMPLEMENTED["fig2"]


# --- the frozen models ----------------------------------------------------------------------------------------------

def test_random_weights_are_xavier_uniform():
    """Xavier uniform for a 16×16 matrix: U(±√(6/(16 + 16))) = U(±0.4330127...), variance 1/16. nn.Linear's
    default (the authors' code) is U(±1/√16) = U(±0.25)."""
    frozen, _ = random_pair("fnn", 16, 8, 1, seed=0)
    W = torch.cat([w.flatten() for w in frozen.weights])  # 2048 entries
    assert float(W.abs().max()) <= 0.4330127018922193
    assert float(W.abs().max()) > 0.43  # the support reaches the bound
    assert abs(float(W.var()) - 1 / 16) < 0.006  # 5 standard errors of the variance estimate
    b = torch.cat(list(frozen.biases))
    assert float(b.abs().max()) <= 0.25
    old, _ = random_pair("fnn", 16, 8, 1, seed=0, init="torch-default")
    W0 = torch.cat([w.flatten() for w in old.weights])
    assert 0.24 < float(W0.abs().max()) <= 0.25


def test_tfn_attention_is_standard_gaussian_and_output_linear():
    frozen, target = random_pair("tfn", 16, 2, 2, seed=0, heads=2)
    A = torch.cat([M.flatten() for blk in frozen.blocks for n in ("WQ", "WK", "WV", "WO") for M in getattr(blk, n)])
    assert A.numel() == 2 * 4 * 2 * 256
    assert abs(float(A.std()) - 1.0) < 0.05
    assert float(frozen.Wo.abs().max()) <= 0.4330127018922193
    if "output" in getattr(TFN, "__dataclass_fields__", {}):
        assert frozen.output == "linear" and target.output == "linear"


def test_pretrained_stops_at_a_third_of_the_initial_mse():
    """App. G.1, p. 40: full-rank updates "until the approximation error is reduced by 1/3" — the authors' code stops
    once the training MSE < initial / 3 (Adam, lr 1e-3, at most 1000 steps)."""
    s = make_setup("fnn", "pretrained", width=4, depth=2, target_depth=1, seed=1)
    info = s.info
    assert info["pretrain_reached"] and 0 < info["pretrain_steps"] <= 1000
    assert info["pretrain_final_mse"] < info["pretrain_initial_mse"] / 3
    r = make_setup("fnn", "random", width=4, depth=2, target_depth=1, seed=1)
    assert not torch.equal(r.frozen.weights[0], s.frozen.weights[0])  # every parameter was trained ...
    assert torch.equal(r.target.weights[0], s.target.weights[0])  # ... toward the same target


# --- equal parameter counts (Figure 6a) and training curves (Figure 7) ---------------------------------------------

def test_fig6a_counts_equal_parameters():
    """D = 16, L = 8: LoRA at rank R has 2·R·16·8 = 256·R factor entries, final layers tuning of k layers k·16² =
    256·k weights (the plot convention), so R and k line up on the same x axis."""
    (c,) = preset_configs("fig6a", quick=True)
    c = replace(c, ranks=(1, 3), tfl_layers=(1, 3), steps=1, frozen_kind=("random",))
    rows = run_sweep(c, progress=False)
    plot = {(r["method"], r["rank"]): r["params_plot"] for r in rows if r["method"] != "theory"}
    assert plot == {("gradient", 1): 256, ("gradient", 3): 768, ("final-layers", 1): 256,
                    ("final-layers", 3): 768}


def test_fig7_records_training_curves(tmp_path):
    c = SweepConfig(model="fnn", width=4, depth=4, target_depth=2, ranks=(1, 4), methods=("gradient",),
                    steps=6, quick=True, record_curves=True, preset="fig7")
    rows = run_sweep(c, progress=False)
    grads = [r for r in rows if r["method"] == "gradient"]
    assert all(len(r["train_curve"]) == 6 and all(math.isfinite(v) for v in r["train_curve"]) for r in grads)
    paths = write_results(rows, tmp_path, c)
    lines = paths["curves"].read_text().splitlines()
    assert lines[0].endswith("step,train_mse") and len(lines) == 1 + 2 * 6
    from lora_theory.experiments.plots import plot_rows
    names = sorted(p.name for p in plot_rows(rows, tmp_path, log_scale=True))
    assert "fig7_curves_fnn_L4_Lbar2_random.png" in names


def test_select_step_final_vs_best():
    setup = make_setup("fnn", "random", width=4, depth=2, target_depth=1, seed=0)
    from lora_theory.experiments.methods import TrainConfig, run_gradient

    final = run_gradient(setup, 1, TrainConfig(steps=20, lrs=(1e-2,), weight_decays=(0.0,), test_size=100))
    best = run_gradient(setup, 1, TrainConfig(steps=20, lrs=(1e-2,), weight_decays=(0.0,), test_size=100,
                                              select_step="best", eval_every=1))
    assert final["best_step"] == 20
    assert best["val_mse"] <= final["val_mse"]
    with pytest.raises(DomainError, match="select_step"):
        TrainConfig(select_step="last")
