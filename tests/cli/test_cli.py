"""The command line ``lora-theory`` (``lora_theory.cli.main(argv) -> int``), called in-process.

Contract: exit 0 on success; bad arguments or inputs exit 2 with exactly one line on stderr and no traceback;
a failing claim makes ``verify`` exit 1; Ctrl-C exits 130 with one line. ``verify`` is tested end to end in
tests/cli/test_verify.py.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

import lora_theory.cli as cli
from lora_theory.cli import COMMANDS, main

LATEX_THRESHOLD = r"\left\lceil{\frac{R_{E}}{L}}\right\rceil"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].strip(), f"the stderr line is blank: {err!r}"
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# threshold
# ---------------------------------------------------------------------------------------------------------------

def test_threshold_linear_default_is_worst_case(capsys):
    rc, out, err = run(["threshold", "--model", "linear", "--width", "16", "--depth", "2"], capsys)
    assert rc == 0
    assert err == ""
    assert out.splitlines()[0] == "required LoRA rank: 8"
    assert "required LoRA rank: 8" in out
    assert "ceiling(R_E/L)" in out
    assert "claim: lemma1" in out


def test_threshold_latex(capsys):
    rc, out, err = run(["threshold", "--model", "linear", "--width", "16", "--depth", "2", "--latex"], capsys)
    assert rc == 0 and err == ""
    assert LATEX_THRESHOLD in out
    assert "required LoRA rank: 8" in out


def test_threshold_with_discrepancy_rank(capsys):
    rc, out, err = run(["threshold", "--model", "linear", "--width", "16", "--depth", "3",
                        "--discrepancy-rank", "5"], capsys)
    assert rc == 0 and err == ""
    assert out.splitlines()[0] == "required LoRA rank: 2"


@pytest.mark.parametrize("model_args", [["--model", "linear", "--depth", "2"],
                                        ["--model", "fnn", "--depth", "4", "--target-depth", "2"],
                                        ["--model", "tfn"]], ids=["linear", "fnn", "tfn"])
def test_threshold_zero_discrepancy_says_no_adapter_is_needed(model_args, capsys):
    """A rank-0 discrepancy gives threshold 0: the output says that no adapter is needed and that the constructions
    themselves take R >= 1 (they refuse rank 0), rather than presenting 0 as a LoRA rank to use."""
    rc, out, err = run(["threshold", "--width", "16", "--discrepancy-rank", "0", *model_args], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "required LoRA rank: 0 (no adapter needed)"
    note = next(line for line in lines if line.startswith("note: "))
    assert "no LoRA adapter is needed" in note and "take R >= 1" in note, note


def test_threshold_constructions_refuse_rank_zero():
    """The other half of the agreement above: rank 0 is not a LoRA rank for the constructions."""
    import torch

    from lora_theory import construct_linear
    from lora_theory.errors import RankError

    eye = torch.eye(3, dtype=torch.float64)
    with pytest.raises(RankError):
        construct_linear([eye, eye], eye, 0)


def test_threshold_tfn_needs_no_depth(capsys):
    """Theorem 7's threshold does not use L: --depth is optional for tfn, and the output says it is not used."""
    rc, out, err = run(["threshold", "--model", "tfn", "--width", "8", "--heads", "2"], capsys)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "required LoRA rank: 4"
    assert "ceiling(G_max/2)" in lines[1]
    assert "  the threshold does not depend on the depth L or the heads H (H = 2)" in lines, out
    assert not any(line.strip().startswith("L = ") for line in lines), out  # no stand-in depth is shown
    rc, out_with_depth, _ = run(["threshold", "--model", "tfn", "--width", "8", "--depth", "3"], capsys)
    assert rc == 0 and out_with_depth.splitlines()[0] == lines[0]
    assert "  the threshold does not depend on the depth L or the heads H (L = 3)" in out_with_depth.splitlines()


def test_threshold_json(tmp_path, capsys):
    path = tmp_path / "threshold.json"
    rc, out, err = run(["threshold", "--model", "fnn", "--width", "16", "--depth", "5", "--target-depth", "2",
                        "--json", str(path)], capsys)
    assert rc == 0 and err == ""
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["value"] == 8 and out.splitlines()[0] == "required LoRA rank: 8"
    assert doc["formula"]["text"] == "ceiling(R_Emax/floor(L/Lbar))"
    assert doc["formula"]["latex"].startswith(r"\left\lceil")
    assert doc["substitutions"] == {"R_Emax": 16, "L": 5, "Lbar": 2}
    assert doc["claim"]["id"] == "theorem3" and "Theorem 3" in doc["claim"]["reference"]
    assert doc["claim"]["status"] and doc["adapter_needed"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["threshold.json"]  # no temporary file left beside it


# (width D, depth L, discrepancy rank K or None for the worst case K = D)
THRESHOLD_TABLE = [
    (1, 1, None),
    (1, 1, 0),
    (1, 4, 1),  # L > D
    (3, 7, 2),  # L > D
    (2, 2, 1),
    (7, 2, None),
    (16, 3, 16),
    (10, 4, 9),
    (8, 8, 8),
    (100, 7, 50),
    (64, 5, 64),
    (5, 1, 3),
]


@pytest.mark.parametrize("width, depth, k", THRESHOLD_TABLE)
def test_threshold_matches_ceiling(width, depth, k, capsys):
    argv = ["threshold", "--model", "linear", "--width", str(width), "--depth", str(depth)]
    if k is not None:
        argv += ["--discrepancy-rank", str(k)]
    rc, out, err = run(argv, capsys)
    K = width if k is None else k
    assert rc == 0 and err == ""
    expected = math.ceil(K / depth)
    assert out.splitlines()[0] == f"required LoRA rank: {expected}" + (" (no adapter needed)" if expected == 0 else "")
    assert f"R_E = {K}" in out or f"R_E = D = {K}" in out
    assert f"L = {depth}" in out


# ---------------------------------------------------------------------------------------------------------------
# bad arguments: exit 2, one line on stderr, no traceback
# ---------------------------------------------------------------------------------------------------------------

LINEAR = ["threshold", "--model", "linear"]

ERROR_CASES = [
    pytest.param(LINEAR + ["--width", "0", "--depth", "2"], "--width", id="width-0"),
    pytest.param(LINEAR + ["--width", "-3", "--depth", "2"], "--width", id="width-negative"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "0"], "--depth", id="depth-0"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "-1"], "--depth", id="depth-negative"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "2", "--discrepancy-rank", "5"], "--discrepancy-rank",
                 id="discrepancy-rank-above-width"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "2", "--discrepancy-rank", "-1"], "--discrepancy-rank",
                 id="discrepancy-rank-negative"),
    pytest.param(["threshold", "--model", "fnn-nope", "--width", "4", "--depth", "2"], "fnn-nope",
                 id="unknown-model"),
    pytest.param(LINEAR + ["--width", "x", "--depth", "2"], "--width", id="width-not-int"),
    pytest.param(LINEAR + ["--width", "4.0", "--depth", "2"], "--width", id="width-float"),
    pytest.param(LINEAR + ["--width", "4"], "--depth", id="missing-depth"),
    pytest.param(["threshold", "--model", "fnn", "--width", "4", "--depth", "2"], "--target-depth",
                 id="fnn-missing-target-depth"),
    pytest.param(["threshold", "--model", "tfn", "--width", "4", "--depth", "2", "--target-depth", "1"],
                 "--target-depth", id="tfn-shallower-target"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "2", "--json", "/nonexistent-dir/t.json"], "--json",
                 id="json-folder-missing"),
    pytest.param(["claims", "--json", "/nonexistent-dir/c.json"], "--json", id="claims-json-folder-missing"),
    pytest.param(["threshold", "--width", "4", "--depth", "2"], "--model", id="missing-model"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "2", "--bogus"], "lora-theory threshold: error: unrecognized "
                 "arguments: --bogus", id="unknown-option"),
    pytest.param(["--bogus"], "--bogus", id="unknown-top-level-option"),
    pytest.param(["frobnicate"], "frobnicate", id="unknown-subcommand"),
    pytest.param(["verify", "--claim", "nope"], "nope", id="verify-unknown-claim"),
    pytest.param(["verify", "--properties", "/nonexistent-dir"], "/nonexistent-dir", id="verify-missing-properties"),
    pytest.param(["verify", "--workers", "-3"], "--workers", id="verify-negative-workers"),
    pytest.param(["verify", "--workers", "x"], "--workers", id="verify-workers-not-int"),
    pytest.param(["verify", "--profile", "nope"], "--profile", id="verify-unknown-profile"),
]


@pytest.mark.parametrize("argv, needle", ERROR_CASES)
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2, f"exit code {rc}; stderr: {err!r}"
    line = assert_one_line_error(err)
    assert needle in line, f"the error line does not name {needle!r}: {line!r}"
    assert out == ""


def test_verify_unwritable_json_path_is_a_one_line_usage_error(tmp_path, capfd):
    """``--json`` into a folder that does not exist: a bad input, so exit 2 and one line — not pytest's traceback.

    An empty ``--properties`` folder keeps this fast (pytest collects nothing)."""
    props = tmp_path / "properties"
    props.mkdir()
    bad_json = tmp_path / "missing-dir" / "claims.json"
    rc = main(["verify", "--properties", str(props), "--json", str(bad_json)])
    out, err = capfd.readouterr()
    lines = err.splitlines()
    summary = f"exit code {rc}; {len(lines)} stderr lines, Traceback: {'Traceback' in err}; last: {lines[-2:]!r}"
    assert rc == 2, summary
    assert "Traceback" not in err and len(lines) == 1, summary


# ---------------------------------------------------------------------------------------------------------------
# claims, verify
# ---------------------------------------------------------------------------------------------------------------

def test_claims_lists_the_registered_claims(capsys):
    rc, out, err = run(["claims"], capsys)
    assert rc == 0 and err == ""
    heads = [line.split(" — ")[0] for line in out.splitlines() if line and not line.startswith(" ")]
    for cid in ("lemma1", "lemma8", "assumption_linear"):
        assert cid in heads, out
    assert "ceiling(R_E/L)" in out
    # the paper's number and page head each entry (v3 numbering: Lemma 3 is random weights ⇒ Assumption 1)
    assert "lemma3 — Lemma 3, p. 6 (proof App. E.2, p. 27)" in out.splitlines()
    assert "appendix_h — Appendix H, pp. 45–46" in out.splitlines()
    assert "eym — not a numbered result of the paper" in out.splitlines()


def test_claims_json(tmp_path, capsys):
    from lora_theory.claims import all_claims

    path = tmp_path / "claims.json"
    rc, out, err = run(["claims", "--json", str(path)], capsys)
    assert rc == 0 and err == ""
    rows = json.loads(path.read_text(encoding="utf-8"))["claims"]
    assert [r["id"] for r in rows] == [c.id for c in all_claims()]
    lemma1 = next(r for r in rows if r["id"] == "lemma1")
    assert set(lemma1) >= {"id", "number", "pages", "reference", "statement", "status", "formulas"}
    assert (lemma1["number"], lemma1["pages"]) == ("Lemma 1", "p. 3 (detailed: Lemma 7, p. 20)")
    assert lemma1["formulas"]["threshold"] == "ceiling(R_E/L)" and lemma1["threshold_model"] == "linear"


# ---------------------------------------------------------------------------------------------------------------
# main: help, version, no arguments, interrupts, the dispatch table
# ---------------------------------------------------------------------------------------------------------------

def test_version(capsys):
    rc, out, err = run(["--version"], capsys)
    assert rc == 0 and err == ""
    assert out.strip() == f"lora-theory {version('lora-theory')}"


def test_no_arguments_prints_the_help(capsys):
    rc, out, err = run([], capsys)
    assert rc == 2 and err == ""
    assert out.startswith("usage: lora-theory") and "commands:" in out
    for name in COMMANDS:
        assert f"    {name}" in out, name


def test_top_level_help_exits_0(capsys):
    rc, out, err = run(["--help"], capsys)
    assert rc == 0 and err == "" and "example" in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_a_description_and_an_example(name, capsys):
    module = cli.command_module(name)
    assert module.NAME == name
    assert module.HELP and "\n" not in module.HELP
    rc, out, err = run([name, "--help"], capsys)
    assert rc == 0 and err == ""
    assert out.startswith(f"usage: lora-theory {name}")
    example = out.split("example:", 1)
    assert len(example) == 2, f"{name} --help has no 'example:' line:\n{out}"
    assert example[1].strip().startswith(f"lora-theory {name}"), example[1][:200]


def test_docs_cli_covers_every_command_and_option():
    """docs/cli.md has a section per subcommand naming each of its options (it pastes the --help outputs)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = {part.split("\n", 1)[0].strip(): part for part in doc.split("\n## ")[1:]}
    parser = cli._build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in COMMANDS:
        assert name in sections, f"docs/cli.md has no '## {name}' section"
        for action in subparsers[name]._actions:
            for option in action.option_strings:
                assert option in sections[name], f"docs/cli.md, section {name}, does not mention {option}"


def test_keyboard_interrupt_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.command_module("claims"), "run", interrupted)
    rc, out, err = run(["claims"], capsys)
    assert rc == 130
    assert assert_one_line_error(err) == "lora-theory: interrupted"


def test_verify_one_claim_dev_profile(tmp_path, monkeypatch, capsys):
    """Spawns pytest on the package's properties for one claim and prints the claims table."""
    monkeypatch.chdir(tmp_path)  # any folder: the properties come from the package
    rc = main(["verify", "--claim", "assumption_linear", "--profile", "dev"])
    out, err = capsys.readouterr()
    assert rc == 0, f"exit code {rc}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.splitlines()
    rows = [line for line in lines if line.startswith("assumption_linear")]
    assert rows and "passed" in rows[0], out
    final = [line for line in lines if line.startswith("lora-theory verify:")]
    assert len(final) == 1, out
    assert final[0] == "lora-theory verify: 1 claim, all passed (Hypothesis profile dev)", final[0]
    assert [line for line in lines if line.strip()][-1] == final[0]


# ---------------------------------------------------------------------------------------------------------------
# the installed console script
# ---------------------------------------------------------------------------------------------------------------

def test_console_script():
    exe = shutil.which("lora-theory")
    assert exe is not None, "the console script 'lora-theory' is not on PATH (pip install -e . installs it)"
    ok = subprocess.run([exe, "threshold", "--model", "linear", "--width", "16", "--depth", "2"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "required LoRA rank: 8" in ok.stdout
    assert "ceiling(R_E/L)" in ok.stdout
    bad = subprocess.run([exe, "threshold", "--model", "linear", "--width", "0", "--depth", "2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stdout == ""
    line = assert_one_line_error(bad.stderr)
    assert "--width" in line


def test_certify_is_wired_into_the_cli(capsys):
    assert main(["certify", "--model", "linear", "--width", "3", "--depth", "2"]) == 0
    assert capsys.readouterr().out.startswith("verdict: equal")


def test_sweep_is_wired_into_the_cli(tmp_path, capsys):
    rc = main(["sweep", "--model", "linear", "--width", "3", "--depth", "2", "--target-depth", "1", "--ranks", "1-2",
               "--methods", "construction", "--frozen-kind", "random", "--seeds", "0", "--out", str(tmp_path),
               "--no-plots", "--no-progress"])
    assert rc == 0 and (tmp_path / "results.csv").read_text().startswith("preset,model,frozen")
    assert main(["sweep", "--model", "linear", "--width", "3", "--depth", "2", "--ranks", "1-9",
                 "--out", str(tmp_path)]) == 2
    assert "--ranks" in capsys.readouterr().err
