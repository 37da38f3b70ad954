"""Command line: ``lora-theory verify | threshold | claims | certify | sweep | rank | export-peft``.

One dispatch table (:data:`COMMANDS`) maps each subcommand to its module. Every module defines ``NAME``, ``HELP``,
``DESCRIPTION`` (a paragraph and an ``example:``), ``add_arguments(parser)`` and ``run(args) -> int``, and imports
only the standard library and :mod:`lora_theory.errors` at module level, so ``lora-theory --help`` does not import
torch or sympy.

Exit codes: 0 success; 1 a check failed (``verify``, ``certify``); 2 bad arguments or inputs — one line on stderr,
no traceback (argparse errors and every :class:`~lora_theory.errors.LoRATheoryError`); 130 interrupted (Ctrl-C);
141 the reader of stdout went away (``| head``). Without arguments the help text is printed and the exit code is 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from lora_theory.errors import LoRATheoryError

__all__ = ["COMMANDS", "main"]

#: subcommand → module (in the order of ``lora-theory --help``)
COMMANDS: dict[str, str] = {
    "verify": "lora_theory.cli.verify",
    "threshold": "lora_theory.cli.threshold",
    "claims": "lora_theory.cli.claims",
    "certify": "lora_theory.cli.certify",
    "sweep": "lora_theory.cli.sweep",
    "rank": "lora_theory.cli.rank",
    "export-peft": "lora_theory.cli.export_peft",
    "errata": "lora_theory.cli.errata",
}

_DESCRIPTION = """\
Executable theorems for the expressive power of LoRA (Zeng & Lee, ICLR 2024, arXiv 2310.17513v3): check the
paper's claims with Hypothesis properties, compute rank thresholds, certify small instances exactly, reproduce the
experiments, and give rank advice and PEFT adapters for your own FNN checkpoints.

examples:
  lora-theory claims
  lora-theory threshold --model linear --width 16 --depth 2
  lora-theory verify --claim lemma1

Run 'lora-theory COMMAND --help' for a command's options. Exit codes: 0 success, 1 a check failed,
2 bad arguments or inputs, 130 interrupted."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, so ``main`` returns 2 instead of exiting)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _version() -> str:
    from lora_theory import __version__

    return __version__


def command_module(name: str) -> ModuleType:
    """The module of subcommand ``name`` (one of :data:`COMMANDS`)."""
    return importlib.import_module(COMMANDS[name])


def _build_parser() -> argparse.ArgumentParser:
    # no abbreviations: `sweep --frozen` must not silently mean `--frozen-kind`, nor any prefix another flag
    parser = _Parser(prog="lora-theory", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"lora-theory {_version()}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = command_module(name)
        sp = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
        module.add_arguments(sp)
    return parser


def _one_line(message: str) -> str:
    """Error messages are one line: newlines (e.g. echoed from a stray argument) are shown escaped."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _exit_code(code: object) -> int:
    """A SystemExit code as an int (argparse exits 0 after --help/--version)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = _build_parser()
        if not argv:
            parser.print_help()
            return 2
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit as exc:  # --help, --version
            return _exit_code(exc.code)
        if args.command is None and not extra:  # e.g. only options
            raise _UsageError("lora-theory: error: a command is required (see 'lora-theory --help')")
        if extra:  # name the subcommand whose options they are not (argparse would blame 'lora-theory')
            prog = "lora-theory" if args.command is None else f"lora-theory {args.command}"
            raise _UsageError(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')")
        return command_module(args.command).run(args)
    except _UsageError as exc:
        print(_one_line(str(exc)), file=sys.stderr)
        return 2
    except LoRATheoryError as exc:
        print(_one_line(f"lora-theory: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lora-theory: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `lora-theory claims | head`: stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
