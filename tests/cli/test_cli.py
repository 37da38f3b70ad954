"""The command line ``lora-theory`` (``lora_theory.cli.main(argv) -> int``), called in-process.

Contract: exit 0 on success; bad arguments or inputs exit 2 with exactly one line on stderr and no traceback;
a failing claim makes ``verify`` exit 1.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from lora_theory.cli import main

REPO = Path(__file__).resolve().parents[2]
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


def test_threshold_zero_discrepancy_needs_rank_zero(capsys):
    rc, out, err = run(["threshold", "--model", "linear", "--width", "16", "--depth", "2",
                        "--discrepancy-rank", "0"], capsys)
    assert rc == 0 and err == ""
    assert out.splitlines()[0] == "required LoRA rank: 0"


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
    assert out.splitlines()[0] == f"required LoRA rank: {math.ceil(K / depth)}"
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
    pytest.param(["threshold", "--width", "4", "--depth", "2"], "--model", id="missing-model"),
    pytest.param(LINEAR + ["--width", "4", "--depth", "2", "--bogus"], "--bogus", id="unknown-option"),
    pytest.param([], "command", id="missing-subcommand"),
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
    for cid in ("lemma1", "hetero_ranks", "assumption_linear"):
        assert cid in heads, out
    assert "ceiling(R_E/L)" in out


def test_verify_one_claim_dev_profile(monkeypatch, capsys):
    """Spawns pytest on properties/ for one claim and prints the claims table."""
    monkeypatch.chdir(REPO)
    rc = main(["verify", "--claim", "assumption_linear", "--profile", "dev"])
    out, err = capsys.readouterr()
    assert rc == 0, f"exit code {rc}\nstdout:\n{out}\nstderr:\n{err}"
    lines = out.splitlines()
    rows = [line for line in lines if line.startswith("assumption_linear")]
    assert rows and "passed" in rows[0], out
    final = [line for line in lines if line.startswith("lora-theory verify:")]
    assert len(final) == 1, out
    assert "all passed" in final[0] and "profile dev" in final[0], final[0]
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
    from lora_theory.cli import main
    assert main(["certify", "--model", "linear", "--width", "3", "--depth", "2"]) == 0
    assert capsys.readouterr().out.startswith("verdict: equal")


def test_sweep_is_wired_into_the_cli(tmp_path, capsys):
    from lora_theory.cli import main
    rc = main(["sweep", "--model", "linear", "--width", "3", "--depth", "2", "--target-depth", "1", "--ranks", "1-2",
               "--methods", "construction", "--frozen", "random", "--seeds", "0", "--out", str(tmp_path),
               "--no-plots", "--no-progress"])
    assert rc == 0 and (tmp_path / "results.csv").read_text().startswith("preset,model,frozen")
    assert main(["sweep", "--model", "linear", "--width", "3", "--depth", "2", "--ranks", "1-9",
                 "--out", str(tmp_path)]) == 2
    assert "--ranks" in capsys.readouterr().err
