"""``lora-theory verify``: run the claims' Hypothesis properties under pytest and print the claims table.

The properties ship inside the package (``lora_theory/properties/test_<claim id>.py``), so ``verify`` works from any
install; ``--properties DIR`` runs another folder instead. pytest runs in a child process, in the user's current
directory, with every option given explicitly (so no ``pyproject.toml`` needs to be found) and with nothing written
into the package's folder: no cache (``-p no:cacheprovider``), no bytecode (``PYTHONDONTWRITEBYTECODE=1``), and no
``.benchmarks/`` folder (``-p no:benchmark``: the properties are not benchmarks).
Hypothesis keeps its example database in ``.hypothesis/`` of the current directory, as under plain pytest.

Exit codes: 0 — every claim shown passed (claims that could not be checked in a full run are listed, see below);
1 — a claim FAILED, the separation gate failed, pytest reported an error outside the claims, or a claim asked for
with ``--claim`` was not checked (every test skipped, or none ran): a claim that was not checked is never reported as
verified; 2 — bad arguments (one line on stderr). In a full run (no ``--claim``) claims without a test in the
folder (e.g. claims that other packages register, whose properties live elsewhere) are listed as not checked but do
not fail the run, unless no claim at all was checked.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from lora_theory.cli._common import add_json_argument, check_output_path, write_json
from lora_theory.errors import DomainError

__all__ = ["NAME", "HELP", "DESCRIPTION", "PROPERTIES", "add_arguments", "run", "pytest_command"]

#: the property files shipped with the package
PROPERTIES = Path(__file__).resolve().parent.parent / "properties"

NAME = "verify"
HELP = "run the claims' Hypothesis properties (shipped in the package) and print the claims table"
DESCRIPTION = """\
Run the Hypothesis properties of every registered claim (or of the claims named with --claim) under pytest and
print the claims table: result, tests, examples, worst margin (residual/tolerance) and separation ratio per claim.

The properties come from the folder properties/ inside the installed lora_theory package (one file per claim,
test_<claim id>.py); --properties DIR runs another folder. pytest runs in the current directory and writes nothing
into the package (no cache, no bytecode); Hypothesis keeps its example database in ./.hypothesis.

Exit codes: 0 the claims shown passed (in a full run, claims without a test here are listed, not failed); 1 a
claim FAILED, the separation gate failed, pytest reported another error, a claim asked for with --claim was not
checked (all its tests skipped, or none ran), or nothing was checked; 2 bad arguments.

example:
  lora-theory verify --claim lemma1 --profile dev"""

#: pytest exit codes after which the claims table is still meaningful (0 ok, 1 tests failed, 5 none collected)
_TABLE_EXIT_CODES = (0, 1, 5)
_NOT_CHECKED = ("skipped", "not run")


def _workers(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) >= 0):
        return text
    raise argparse.ArgumentTypeError(f"--workers must be 'auto' or an integer >= 0; got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--claim", action="append", default=[], metavar="ID",
                        help="only this claim (repeatable; ids from 'lora-theory claims')")
    parser.add_argument("--profile", choices=("dev", "ci", "deep"), default=None,
                        help="Hypothesis profile (default: $HYPOTHESIS_PROFILE, else 'ci' on CI, else 'dev')")
    parser.add_argument("--workers", "-n", type=_workers, default="0", metavar="N",
                        help="pytest-xdist workers: 'auto' or a number (default 0: one process)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where the large-width properties run (sets LORA_THEORY_DEVICE); with cuda and no GPU "
                             "they are skipped with that reason")
    parser.add_argument("--properties", default=None, metavar="DIR",
                        help="folder of property files (default: properties/ inside the installed lora_theory "
                             "package)")
    add_json_argument(parser, "the rows of the claims shown (the JSON of the table) and the verdict")


def _properties_dir(given: str | None) -> Path:
    if given is None:
        if not PROPERTIES.is_dir():
            raise DomainError(f"the package's properties folder is missing ({PROPERTIES}); pass --properties DIR")
        return PROPERTIES
    path = Path(given)
    if not path.is_dir():
        raise DomainError(f"--properties {given!r} is not a folder")
    return path


def pytest_command(properties: Path, claims_json: Path, *, claims: list[str], workers: str) -> list[str]:
    """The pytest command line ``verify`` runs (every option explicit: no configuration file is needed)."""
    cmd = [sys.executable, "-m", "pytest", str(properties), "-q",
           "-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "lora_theory.testing.plugin", "--lora-theory",
           "--claims-json", str(claims_json), "--no-claims-table",
           "-o", "lora_theory_torch_threads=1", "-o", "addopts=", "--strict-markers", "-ra"]
    if workers != "0":
        cmd += ["-n", workers]
    if claims:
        from lora_theory.claims import RENAMED

        old_ids = [old for old, new in RENAMED.items() if new in claims]  # tests still marked with a renamed id
        cmd += ["-m", " or ".join([*claims, *old_ids])]
    return cmd


def _names(rows: list[dict]) -> str:
    return ", ".join(f"{r['claim']} ({r['result']})" if r["result"] in _NOT_CHECKED else r["claim"] for r in rows)


def run(args: argparse.Namespace) -> int:
    from lora_theory.claims import get_claim, renamed_notice
    from lora_theory.claims.report import format_claims_table

    asked: list[str] = []
    for claim_id in args.claim:
        notice = renamed_notice(claim_id)
        if notice is not None:
            print(f"lora-theory verify: {notice}", file=sys.stderr)
        with warnings.catch_warnings():  # the notice above already said it, once
            warnings.simplefilter("ignore", DeprecationWarning)
            cid = get_claim(claim_id).id  # an unknown id is a usage error, not an empty run
        if cid not in asked:
            asked.append(cid)
    props = _properties_dir(args.properties)
    json_path = check_output_path(args.json_path)
    if args.workers != "0" and importlib.util.find_spec("xdist") is None:
        raise DomainError(f"--workers {args.workers} needs pytest-xdist (pip install pytest-xdist)")

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if args.profile:
        env["HYPOTHESIS_PROFILE"] = args.profile
    if args.device:
        env["LORA_THEORY_DEVICE"] = args.device
    print(f"running the properties in {props}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lora-theory-verify-") as tmp:
        raw = Path(tmp) / "claims.json"
        cmd = pytest_command(props, raw, claims=asked, workers=args.workers)
        proc = subprocess.run(cmd, env=env, cwd=os.getcwd())
        if not raw.is_file():
            print(f"lora-theory verify: pytest exited with code {proc.returncode} before writing the claims table "
                  f"(see its output above)", file=sys.stderr)
            return 1
        data = json.loads(raw.read_text(encoding="utf-8"))

    rows = data["claims"]
    shown = [r for r in rows if r["claim"] in asked] if asked else rows
    failed = [r for r in shown if r["result"] == "FAILED"]
    separation = [r for r in shown if not r["separation_ok"]]
    unchecked = [r for r in shown if r["result"] in _NOT_CHECKED]
    passed = [r for r in shown if r["result"] == "passed"]
    pytest_error = proc.returncode not in _TABLE_EXIT_CODES or (proc.returncode == 1 and not failed and not separation)

    print()
    print(format_claims_table(shown))
    if unchecked:
        consequence = "asked for with --claim, so verify fails" if asked else "they do not fail a full run"
        print(f"not checked (not verified by this run): {_names(unchecked)}; {consequence}")
    if separation:
        print(f"separation gate failed for {_names(separation)}: the checks cannot tell exact from inexact reliably")
    if pytest_error:
        print(f"pytest exited with code {proc.returncode} outside the claims' results (a collection error, or a "
              f"test without a claim marker failed): see its output above")

    nothing_checked = not passed and not failed
    if nothing_checked:
        print("no claim was checked by this run: nothing is verified")
    exit_code = 1 if failed or separation or pytest_error or (asked and unchecked) or nothing_checked else 0
    if exit_code == 0 and len(passed) == len(shown):
        verdict = "all passed"
    else:
        parts = [f"{len(passed)} passed"]
        if failed:
            parts.append(f"{len(failed)} FAILED ({', '.join(r['claim'] for r in failed)})")
        if unchecked:
            parts.append(f"{len(unchecked)} not checked ({', '.join(r['claim'] for r in unchecked)})")
        verdict = ", ".join(parts)
    write_json(json_path, {"profile": data["profile"], "properties": str(props), "claims_asked": asked or None,
                           "claims": shown, "failed": [r["claim"] for r in failed],
                           "not_checked": [r["claim"] for r in unchecked],
                           "separation_failed": [r["claim"] for r in separation],
                           "pytest_exit_code": proc.returncode, "exit_code": exit_code})
    count = f"{len(shown)} claim" + ("" if len(shown) == 1 else "s")
    print(f"lora-theory verify: {count}, {verdict} (Hypothesis profile {data['profile']})")
    return exit_code
