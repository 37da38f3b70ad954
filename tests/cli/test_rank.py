"""``lora-theory rank`` (lora_theory.cli.rank over lora_theory.analysis.rank_advice): rank advice for a
frozen/target FNN checkpoint pair.

Claims behind the output (arXiv 2310.17513v3): ``theorem3`` (Theorem 3, p. 6: exact at R ≥ ⌈max_i rank(E_i)/⌊L/L̄⌋⌉),
``theorem6`` (Theorem 6, p. 7: R ≥ max_i ⌈rank(E_i)/|P_i|⌉ for the best consecutive partition) and
``theorem5`` (Theorem 5, p. 6: below the threshold the mean error is at most the tight bound). The checkpoints are
written by ``build_fnn_instance`` with *designed* block ranks, so every expected number below (ranks, thresholds) is
computed here from the design, never read back from the code under test. The command runs through
``lora_theory.cli.main`` (exit code 2 and one stderr line for a bad input) and, for the stand-alone wiring, through a
parser built with the command module's ``add_arguments``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from lora_theory.analysis.rank_advice import rank_advice
from lora_theory.cli import main
from lora_theory.cli import rank as rank_command
from lora_theory.interop.checkpoints import fnn_state_dict, save_state_dict
from lora_theory.models import ReLUFNN
from lora_theory.testing.instances import build_fnn_instance

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Pair:
    frozen: Path
    target: Path
    repro: str  # build_fnn_instance arguments, for failure messages


def write_pair(folder: Path, name: str, suffix: str, *args, **kwargs) -> Pair:
    inst = build_fnn_instance(*args, **kwargs)
    frozen = save_state_dict(fnn_state_dict(inst.frozen), folder / f"{name}_frozen{suffix}")
    target = save_state_dict(fnn_state_dict(inst.target), folder / f"{name}_target{suffix}")
    return Pair(frozen, target, f"build_fnn_instance({inst.args})")


def cli(argv: list[str], capsys) -> tuple[int, list[str], list[str]]:
    rc = main(["rank", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err.splitlines()


def rank(pair: Pair, capsys, *extra) -> list[str]:
    rc, out, err = cli(["--frozen", pair.frozen, "--target", pair.target, *extra], capsys)
    assert rc == 0 and err == [], f"exit {rc}, stderr {err}; {pair.repro}"
    return out


def section(lines: list[str], title: str) -> list[str]:
    """The table rows under the line starting with ``title`` (after its column header, up to a blank line)."""
    start = next(k for k, line in enumerate(lines) if line.startswith(title)) + 2
    stop = next((k for k in range(start, len(lines)) if not lines[k].strip()), len(lines))
    return lines[start:stop]


def block_rows(lines: list[str]) -> list[dict]:
    rows = []
    for line in section(lines, "block discrepancies"):
        block, layers, r, s1 = line.split()
        rows.append({"block": int(block), "layers": layers, "rank": int(r), "sigma_1": float(s1)})
    return rows


def num(text: str) -> float | None:
    return None if text == "—" else float(text)


def curve_rows(lines: list[str]) -> list[dict]:
    rows = []
    for line in section(lines, "error of the Theorem 3 construction"):
        R, exact, eps, mean, mx, bound, tol, check = line.split(maxsplit=7)
        rows.append({"R": int(R), "exact": exact, "eps": num(eps), "mean": num(mean), "max": num(mx),
                     "bound": num(bound), "tol": num(tol), "check": check})
    return rows


def threshold(lines: list[str], which: str) -> tuple[int, list[int]]:
    """(value, partition) from ``Theorem 3 (theorem3), uniform partition [2, 2]: R ≥ 3`` or
    ``optimal partition (theorem6) [1, 3]: R ≥ 1``."""
    prefix = {"uniform": "  Theorem 3 (theorem3), uniform partition ",
              "optimal": "  optimal partition (theorem6) "}[which]
    line = next(line for line in lines if line.startswith(prefix))
    part, value = line[len(prefix):].split(": R ≥ ")
    return int(value), json.loads(part)


def designed_threshold(ranks: tuple[int, ...], L: int, Lbar: int) -> int:
    return math.ceil(max(ranks) / (L // Lbar))


# (D, L, L̄, designed block ranks, suffix): M = 2; M = 1 with a 2-layer remainder block; L̄ = 1; a zero block
CASES = {
    "D6_L4_Lbar2": (6, 4, 2, (3, 5), ".safetensors"),
    "D5_L3_Lbar2_remainder": (5, 3, 2, (4, 2), ".pt"),
    "D4_L2_Lbar1": (4, 2, 1, (4,), ".pt"),
    "D6_L4_Lbar2_zero_block": (6, 4, 2, (0, 3), ".safetensors"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rank")


@pytest.fixture(scope="module")
def pairs(folder) -> dict[str, Pair]:
    return {name: write_pair(folder, name, suffix, D, L, Lbar, block_ranks=ks, radius=1.0, seed=7)
            for name, (D, L, Lbar, ks, suffix) in CASES.items()}


# ----------------------------------------------------------------------------------------- ranks and thresholds


@pytest.mark.parametrize("name", list(CASES))
def test_printed_block_ranks_are_the_designed_ranks(pairs, capsys, name):
    D, L, Lbar, ks, _ = CASES[name]
    lines = rank(pairs[name], capsys)
    rows = block_rows(lines)
    assert [r["rank"] for r in rows] == list(ks), f"printed rank(E_i) {[r['rank'] for r in rows]} ≠ designed " \
                                                  f"{list(ks)}; {pairs[name].repro}"
    assert [r["block"] for r in rows] == list(range(1, Lbar + 1))
    M = L // Lbar
    expected_layers = [f"{M * i + 1}..{M * (i + 1)}" if M > 1 else str(M * i + 1) for i in range(Lbar - 1)]
    expected_layers.append(f"{M * (Lbar - 1) + 1}..{L}" if L - M * (Lbar - 1) > 1 else str(L))
    assert [r["layers"] for r in rows] == expected_layers
    for r, k in zip(rows, ks):
        assert (r["sigma_1"] > 0) == (k > 0), f"σ_1(E_{r['block']}) = {r['sigma_1']} for designed rank {k}"
    header = next(line for line in lines if line.startswith("frozen depth"))
    assert f"L={L} " in header and f"L̄={Lbar} " in header and f"D={D} " in header and "dtype=float64" in header
    assert f"M=⌊L/L̄⌋={M} " in header


@pytest.mark.parametrize("name", list(CASES))
def test_uniform_threshold_is_ceil_max_rank_over_M(pairs, capsys, name):
    D, L, Lbar, ks, _ = CASES[name]
    value, partition = threshold(rank(pairs[name], capsys), "uniform")
    assert value == designed_threshold(ks, L, Lbar), f"theorem3 threshold {value} ≠ ⌈{max(ks)}/{L // Lbar}⌉"
    M = L // Lbar
    assert partition == [M] * (Lbar - 1) + [L - M * (Lbar - 1)]


@pytest.mark.parametrize("name", list(CASES))
def test_exact_at_and_above_threshold_and_clearly_not_below(pairs, capsys, name):
    """theorem3: max error ≤ tolerance for R ≥ threshold; one below (designed ranks > 0), the error is > 100× the
    exact-regime tolerance; theorem5: below the threshold the mean error is at most the tight bound."""
    D, L, Lbar, ks, _ = CASES[name]
    thr = designed_threshold(ks, L, Lbar)
    rows = curve_rows(rank(pairs[name], capsys))
    assert [r["R"] for r in rows] == list(range(1, D + 1))
    for r in rows:
        where = f"R={r['R']} threshold={thr}; {pairs[name].repro}"
        if r["R"] >= thr:
            assert r["exact"] == "yes" and r["check"] == "max ≤ tol", where
            assert r["eps"] == 0.0 and r["bound"] == 0.0, where
            assert r["max"] <= r["tol"], f"theorem3: max error {r['max']:.3e} > tolerance {r['tol']:.3e}; {where}"
            assert r["mean"] <= r["max"], where
        else:
            assert r["exact"] == "no" and r["tol"] is None and r["check"] == "mean ≤ bound", where
            assert 0 < r["eps"] and r["mean"] <= r["bound"], f"theorem5: mean {r['mean']} > bound {r['bound']}; " \
                                                             f"{where}"
    if thr >= 2:
        below, at = rows[thr - 2], rows[thr - 1]
        assert below["mean"] > 100 * at["tol"] and below["max"] > 100 * at["tol"], \
            f"R={thr - 1} below the threshold: error {below['max']:.3e} not clearly above the tolerance " \
            f"{at['tol']:.3e}; {pairs[name].repro}"


def test_theorem6_needs_less_rank_than_the_uniform_one(folder, capsys):
    """A target designed on the partition (1, 3) of L = 4: low rank there, generic (full rank) on the uniform
    blocks (2, 2), so the optimal-partition threshold is strictly below Theorem 3's."""
    D, L, Lbar, ks, part = 6, 4, 2, (1, 3), (1, 3)
    pair = write_pair(folder, "general", ".pt", D, L, Lbar, block_ranks=ks, partition=part, radius=1.0, seed=3)
    lines = rank(pair, capsys)
    optimal, opt_partition = threshold(lines, "optimal")
    uniform, _ = threshold(lines, "uniform")
    designed = max(math.ceil(k / n) for k, n in zip(ks, part))
    assert opt_partition == list(part) and optimal == designed, f"optimal {optimal} on {opt_partition}; {pair.repro}"
    assert [r["rank"] for r in block_rows(lines)] == [D, D]  # generic on the uniform blocks
    assert uniform == math.ceil(D / (L // Lbar)) > optimal
    rows = curve_rows(lines)
    assert rows[optimal - 1]["exact"] == "no"  # the error curve is the uniform construction's
    assert rows[uniform - 2]["max"] > 100 * rows[uniform - 1]["tol"]
    assert lines[-1] == f"advice: R = {uniform} with the uniform partition {[L // Lbar] * Lbar} (Theorem 3); " \
                        f"R = {optimal} with the partition {list(part)} (general partitions)"


# ------------------------------------------------------------------------------------------------ flags, outputs


def test_plot_is_a_png_and_json_has_the_printed_data(pairs, folder, capsys):
    name = "D6_L4_Lbar2"
    D, L, Lbar, ks, _ = CASES[name]
    png, js = folder / "curve.png", folder / "curve.json"
    lines = rank(pairs[name], capsys, "--plot", png, "--json", js, "--samples", 64)
    assert lines[-2:] == [f"wrote {png}", f"wrote {js}"]
    assert png.read_bytes()[:8] == PNG_MAGIC
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["command"] == "rank" and doc["frozen"] == str(pairs[name].frozen)
    assert (doc["depth"], doc["target_depth"], doc["width"], doc["M"], doc["dtype"]) == (L, Lbar, D, L // Lbar,
                                                                                        "float64")
    assert doc["samples"] == 64 and doc["seed"] == 0 and doc["domain"] == {"kind": "ball", "radius": 1.0}
    assert [b["rank"] for b in doc["blocks"]] == list(ks)
    thr = designed_threshold(ks, L, Lbar)
    assert doc["thresholds"]["uniform"]["value"] == thr and doc["thresholds"]["uniform"]["claim"] == "theorem3"
    assert doc["thresholds"]["optimal"]["claim"] == "theorem6"
    printed = curve_rows(lines)
    assert [c["rank"] for c in doc["curve"]] == [r["R"] for r in printed] == list(range(1, D + 1))
    for c, r in zip(doc["curve"], printed):
        assert set(c) == {"rank", "exact", "epsilon_max", "mean_error", "max_error", "theorem5_tight", "tolerance",
                          "ok", "reason"}
        assert c["exact"] == (c["rank"] >= thr) and c["ok"] is True and c["reason"] is None
        assert f"{c['max_error']:.3e}" == f"{r['max']:.3e}"
        if not c["exact"]:  # the row's own tolerance, not only the one of the threshold row
            assert c["mean_error"] > 100 * c["tolerance"]


def test_max_rank_samples_seed_and_final_relu(pairs, capsys):
    pair = pairs["D6_L4_Lbar2"]
    two = rank(pair, capsys, "--max-rank", 2, "--samples", 32, "--seed", 5)
    assert [r["R"] for r in curve_rows(two)] == [1, 2]
    assert "32 uniform samples" in two[2] and "seed 5" in two[2]
    again = rank(pair, capsys, "--max-rank", 2, "--samples", 32, "--seed", 5)
    assert again == two  # the sampling generator is local and seeded
    other = curve_rows(rank(pair, capsys, "--max-rank", 2, "--samples", 32, "--seed", 6))
    assert [r["mean"] for r in other] != [r["mean"] for r in curve_rows(two)]
    clipped = rank(pair, capsys, "--max-rank", 100, "--no-final-relu", "--radius", 2.5)
    assert [r["R"] for r in curve_rows(clipped)] == list(range(1, 7))
    assert "final ReLU: no" in clipped[1] and "‖x‖₂ ≤ 2.5;" in clipped[2]
    thr = designed_threshold(CASES["D6_L4_Lbar2"][3], 4, 2)
    assert all(r["check"] == "max ≤ tol" for r in curve_rows(clipped)[thr - 1:])


def test_assumption1_failure_is_a_row_not_a_crash(folder, capsys):
    """A zero frozen layer: the construction must solve with it, so every rank is refused with a reason."""
    inst = build_fnn_instance(4, 2, 1, seed=3)
    weights = list(inst.frozen.weights)
    weights[1] = torch.zeros_like(weights[1])
    frozen = save_state_dict(fnn_state_dict(ReLUFNN(tuple(weights), inst.frozen.biases)), folder / "sing_f.pt")
    target = save_state_dict(fnn_state_dict(inst.target), folder / "sing_t.pt")
    rc, out, err = cli(["--frozen", frozen, "--target", target], capsys)
    assert rc == 0 and err == []
    rows = curve_rows(out)
    assert len(rows) == 4
    for r in rows:
        assert r["eps"] is r["mean"] is r["max"] is r["bound"] is r["tol"] is None
        assert r["check"].startswith("Assumption 1 fails: block 1") and "singular" in r["check"]


def test_library_function_matches_the_design():
    inst = build_fnn_instance(5, 4, 2, block_ranks=(2, 4), radius=1.0, seed=11)
    advice = rank_advice(inst.frozen, inst.target, max_rank=3, samples=16, seed=1)
    assert [b.rank for b in advice.blocks] == [2, 4]
    assert advice.uniform.value == designed_threshold((2, 4), 4, 2) and len(advice.curve) == 3
    assert [r.exact for r in advice.curve] == [False, True, True]
    assert all(r.ok for r in advice.curve)


def test_standalone_parser_wiring(pairs, capsys):
    """``add_arguments`` + ``run`` of the command module without the dispatcher; ``--final-relu`` is the default."""
    parser = argparse.ArgumentParser(prog="lora-theory rank")
    rank_command.add_arguments(parser)
    pair = pairs["D4_L2_Lbar1"]
    args = parser.parse_args(["--frozen", str(pair.frozen), "--target", str(pair.target), "--max-rank", "1"])
    assert args.final_relu is True and args.radius == 1.0 and args.samples == 256 and args.seed == 0
    assert rank_command.run(args) == 0
    assert "final ReLU: yes" in capsys.readouterr().out


def test_float32_pair_runs_in_its_dtype(folder, capsys):
    pair = write_pair(folder, "f32", ".safetensors", 4, 2, 1, block_ranks=(2,), radius=1.0, seed=2,
                      dtype=torch.float32)
    lines = rank(pair, capsys)
    assert "dtype=float32" in lines[1]
    storage = (2 + 1) * 4 * 2.0 ** -24  # (L+1)·D·u with float32's u = 2^-24: the floor includes it
    (line,) = [line for line in lines if "rank(E_i) counts" in line]
    shown = float(line.split("τ = ")[1].split(" ")[0])
    assert shown >= storage and "storage rounding (|P_i|+1)·D·u of float32 weights" in line, line
    assert [r["rank"] for r in block_rows(lines)] == [2], "float32 storage rounding counted as rank"
    for r in curve_rows(lines):
        if r["exact"] == "yes":
            assert r["max"] <= r["tol"]


# ---------------------------------------------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad_files(folder, pairs) -> dict[str, Path]:
    deep = build_fnn_instance(6, 4, 4, seed=1).target  # depth 4 > the depth-2 frozen model below
    shallow = build_fnn_instance(6, 2, 2, seed=1).frozen
    narrow = build_fnn_instance(5, 2, 1, seed=1).target
    out = {
        "shallow": save_state_dict(fnn_state_dict(shallow), folder / "shallow.safetensors"),
        "deep": save_state_dict(fnn_state_dict(deep), folder / "deep.safetensors"),
        "narrow": save_state_dict(fnn_state_dict(narrow), folder / "narrow.pt"),
        "f32": save_state_dict({k: v.float() for k, v in fnn_state_dict(shallow).items()}, folder / "f32.pt"),
    }
    sd = fnn_state_dict(build_fnn_instance(6, 2, 1, seed=1).target)
    out["missing_key"] = save_state_dict({k: v for k, v in sd.items() if k != "0.bias"}, folder / "nobias.pt")
    return out


BAD = {
    # name: (argv with {placeholders}, error type, words the one stderr line must contain)
    "missing file": (["--frozen", "{folder}/nope.safetensors", "--target", "{good}"], "FileFormatError",
                     ["--frozen", "nope.safetensors", "no such file"]),
    "deeper target": (["--frozen", "{shallow}", "--target", "{deep}"], "DepthError",
                      ["--frozen", "--target", "shallow.safetensors", "deep.safetensors", "L̄=4", "L=2"]),
    "width mismatch": (["--frozen", "{shallow}", "--target", "{narrow}"], "ShapeError",
                       ["--frozen", "--target", "shallow.safetensors", "narrow.pt", "5", "6"]),
    "dtype mismatch": (["--frozen", "{shallow}", "--target", "{f32}"], "DTypeError",
                       ["--frozen", "--target", "float32", "float64"]),
    "missing key": (["--frozen", "{shallow}", "--target", "{missing_key}"], "StateDictError",
                    ["--target", "nobias.pt", "'0.bias'"]),
    "negative radius": (["--frozen", "{shallow}", "--target", "{good}", "--radius", "-1"], "DomainError",
                        ["--radius", "-1"]),
    "zero max rank": (["--frozen", "{shallow}", "--target", "{good}", "--max-rank", "0"], "RankError",
                      ["--max-rank", "0"]),
    "tau out of range": (["--frozen", "{shallow}", "--target", "{good}", "--tau", "2"], "DomainError",
                         ["--tau", "(0, 1)"]),
    "zero samples": (["--frozen", "{shallow}", "--target", "{good}", "--samples", "0"], "DomainError",
                     ["--samples", "0"]),
    "negative seed": (["--frozen", "{shallow}", "--target", "{good}", "--seed", "-3"], "DomainError",
                      ["--seed", "-3"]),
    "seed too large": (["--frozen", "{shallow}", "--target", "{good}", "--seed", str(2**64)], "DomainError",
                       ["--seed", str(2**64)]),
    "json folder missing": (["--frozen", "{shallow}", "--target", "{good}", "--json", "{folder}/no/such/x.json"],
                            "FileFormatError", ["--json", "does not exist"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exit_2_with_one_line_naming_the_flag(bad_files, folder, capsys, case):
    argv, error, words = BAD[case]
    # {good}: a valid target for the frozen model (the model itself), so only the flag under test is wrong
    names = {k: str(v) for k, v in bad_files.items()} | {"folder": str(folder), "good": str(bad_files["shallow"])}
    rc, out, err = cli([a.format(**names) for a in argv], capsys)
    assert rc == 2, f"{case}: exit {rc}; stdout {out}"
    assert len(err) == 1, f"{case}: stderr must be one line; got {err}"
    assert err[0].startswith(f"lora-theory: {error}: "), err[0]
    missing = [w for w in words if w not in err[0]]
    assert not missing, f"{case}: {missing} not in {err[0]!r}"
    assert out == []  # nothing printed before the error


def test_explicit_tau_reaches_the_construction(pairs):
    """With --tau, the advice's ranks and the construction's own block ranks use the same threshold: a τ above
    every σ(E_i)/scale makes both see rank 0 (threshold 1) — but the directions it drops lie far above the rounding
    floor, so the construction says so: not exact, with error σ_1(E_i) (never a silent "exact")."""
    from lora_theory.interop.checkpoints import load_fnn_pair

    pair = pairs["D6_L4_Lbar2"]
    frozen, target = load_fnn_pair(pair.frozen, pair.target)
    advice = rank_advice(frozen, target, max_rank=2, samples=8, tau=0.99)
    assert [b.rank for b in advice.blocks] == [0, 0] and advice.uniform.value <= 1
    largest = max(b.sigma_1 for b in advice.blocks)
    assert all(not r.exact and r.epsilon_max == pytest.approx(largest, rel=1e-12) for r in advice.curve), advice.curve
