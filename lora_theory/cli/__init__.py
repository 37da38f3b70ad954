"""Command line: ``lora-theory verify | threshold | claims | certify | sweep | rank | export-peft``.

Errors in arguments or inputs exit with code 2 and one line on stderr (no traceback); a failing claim makes
``verify`` exit with code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import sympy as sp

from lora_theory.errors import DomainError, LoRATheoryError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _positive_or_auto(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) >= 0):
        return text
    raise argparse.ArgumentTypeError(f"--workers must be 'auto' or an integer >= 0; got {text!r}")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lora-theory", description="Executable theorems for the expressive power of LoRA "
                                                "(Zeng & Lee, ICLR 2024, arXiv 2310.17513 v3).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="run every registered claim's properties and print the claims table")
    v.add_argument("--profile", choices=("dev", "ci", "deep"), default=None,
                   help="Hypothesis profile (default: $HYPOTHESIS_PROFILE, else 'ci' on CI, else 'dev')")
    v.add_argument("--claim", action="append", default=[], metavar="ID", help="only this claim (repeatable)")
    v.add_argument("--workers", "-n", type=_positive_or_auto, default="0",
                   help="pytest-xdist workers ('auto' or a number; 0 = in one process)")
    v.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="also write the table as JSON")
    v.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where the large-width properties run (LORA_THEORY_DEVICE); with cuda and no GPU they are "
                        "skipped with that reason")
    v.add_argument("--properties", default=None, metavar="DIR",
                   help="folder of property files (default: ./properties, else the one beside the package)")

    t = sub.add_parser("threshold", help="the LoRA rank a claim says is needed, with the formula it used")
    t.add_argument("--model", required=True, help="model family (see 'lora-theory claims'); e.g. linear")
    t.add_argument("--width", type=int, required=True, help="width D")
    t.add_argument("--depth", type=int, required=True, help="frozen depth L")
    t.add_argument("--target-depth", type=int, default=None, help="target depth L̄ (FNN models)")
    t.add_argument("--heads", type=int, default=None, help="attention heads H (transformer models)")
    t.add_argument("--discrepancy-rank", type=int, default=None, metavar="K",
                   help="rank of the discrepancy if known (default: D, the worst case)")
    t.add_argument("--latex", action="store_true", help="print the formula in LaTeX")

    sub.add_parser("claims", help="list the registered claims with their status and formulas")

    from lora_theory.cli.sweep import add_sweep_arguments
    add_sweep_arguments(sub.add_parser(
        "sweep", help="reproduce the paper's experiments: error vs rank for construction/gradient/tfl (CSV, JSON, PNG)"))

    from lora_theory.cli.certify import add_certify_arguments
    add_certify_arguments(sub.add_parser(
        "certify", help="run the exact rational certificate on one small integer instance and print the verdict"))

    from lora_theory.cli.rank import add_rank_arguments
    add_rank_arguments(sub.add_parser(
        "rank", help="rank advice for a frozen/target FNN checkpoint pair: rank(E_i), thresholds, error curve"))

    from lora_theory.cli.export_peft import add_export_arguments
    add_export_arguments(sub.add_parser(
        "export-peft", help="build the Theorem 3 adapters for an FNN checkpoint pair and save them as a PEFT adapter"))
    return p


def _properties_dir(given: str | None) -> Path:
    if given is not None:
        path = Path(given)
        if not path.is_dir():
            raise DomainError(f"--properties {given!r} is not a folder")
        return path
    for candidate in (Path(__file__).resolve().parent.parent / "properties",):
        if candidate.is_dir():
            return candidate
    raise DomainError("no properties/ folder found: run from the repository root or pass --properties DIR")


def _verify(args: argparse.Namespace) -> int:
    from lora_theory.claims import get_claim
    from lora_theory.testing.plugin import format_claims_table

    for cid in args.claim:
        get_claim(cid)  # unknown ids are a usage error, not an empty run
    props = _properties_dir(args.properties)
    if args.json_path is not None and not Path(args.json_path).resolve().parent.is_dir():
        raise DomainError(f"--json {args.json_path!r}: the folder {str(Path(args.json_path).parent)!r} does not exist")
    env = dict(os.environ)
    if args.profile:
        env["HYPOTHESIS_PROFILE"] = args.profile
    if args.device:
        env["LORA_THEORY_DEVICE"] = args.device
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(args.json_path) if args.json_path else Path(tmp) / "claims.json"
        cmd = [sys.executable, "-m", "pytest", str(props), "-p", "lora_theory.testing.plugin", "-q",
               "--claims-json", str(json_path), "--no-claims-table", "-o", "addopts=--strict-markers -ra"]
        if args.workers != "0":
            cmd += ["-n", args.workers]
        if args.claim:
            cmd += ["-m", " or ".join(args.claim)]
        proc = subprocess.run(cmd, env=env, cwd=props.parent)
        if not json_path.exists():
            print(f"lora-theory verify: pytest exited with code {proc.returncode} before any claim ran",
                  file=sys.stderr)
            return proc.returncode or 1
        data = json.loads(json_path.read_text(encoding="utf-8"))
    rows = data["claims"]
    failed = [r["claim"] for r in rows if r["result"] == "FAILED" or not r["separation_ok"]]
    print()
    print(format_claims_table(rows))
    verdict = "FAILED: " + ", ".join(failed) if failed else "all passed"
    print(f"lora-theory verify: {len(rows)} claims, {verdict} (Hypothesis profile {data['profile']})")
    return 1 if failed or proc.returncode else 0


def _threshold(args: argparse.Namespace) -> int:
    from lora_theory.claims import ThresholdArgs, threshold_models

    models = threshold_models()
    if args.model not in models:
        raise DomainError(f"--model must be one of {', '.join(sorted(models))}; got {args.model!r}")
    claim = models[args.model]
    spec = claim.threshold
    values, why = spec.bind(ThresholdArgs(width=args.width, depth=args.depth, target_depth=args.target_depth,
                                          heads=args.heads, discrepancy_rank=args.discrepancy_rank))
    value = spec.formula.subs(values)
    if not value.is_Integer:
        raise DomainError(f"the threshold did not evaluate to an integer: {value}")
    formula = sp.latex(spec.formula) if args.latex else sp.sstr(spec.formula)
    print(f"required LoRA rank: {int(value)}")
    print(f"formula: R ≥ {formula}")
    for line in why:
        print(f"  {line}")
    print(f"claim: {claim.id} ({claim.reference}; {claim.status})")
    return 0


def _claims(_: argparse.Namespace) -> int:
    from lora_theory.claims import all_claims

    for c in all_claims():
        print(f"{c.id} — {c.reference}")
        print(f"  {c.statement}")
        print(f"  status: {c.status}")
        for name, expr in c.formulas.items():
            print(f"  {name}: {sp.sstr(expr)}")
    return 0


def _one_line(message: str) -> str:
    """Error messages are one line: newlines (e.g. echoed from a stray argument) are shown escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "sweep":
            from lora_theory.cli.sweep import run_sweep_command
            return run_sweep_command(args)
        if args.command == "certify":
            from lora_theory.cli.certify import run_certify
            return run_certify(args)
        if args.command == "rank":
            from lora_theory.cli.rank import run_rank
            return run_rank(args)
        if args.command == "export-peft":
            from lora_theory.cli.export_peft import run_export
            return run_export(args)
        return {"verify": _verify, "threshold": _threshold, "claims": _claims}[args.command](args)
    except _UsageError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return 2
    except LoRATheoryError as exc:
        print(_one_line(f"lora-theory: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
