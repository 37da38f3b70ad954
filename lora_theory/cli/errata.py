"""``lora-theory errata``: the paper's slips, each with the printed and the corrected formula and an instance that
shows it (computed by :mod:`lora_theory.analysis.errata`)."""

from __future__ import annotations

import argparse

from lora_theory.cli._common import add_json_argument, check_output_path, write_json
from lora_theory.errors import DomainError

__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run"]

NAME = "errata"
HELP = "the paper's slips: printed vs corrected formula, with an instance computed for each"
DESCRIPTION = """\
List where arXiv 2310.17513v3 slips: for each slip the place and page, the printed formula and the corrected one
(sympy text; LaTeX with --latex), and an instance computed with this package's constructions in float64 (fixed
seeds): the printed value, the corrected value, what the construction achieves, and what the instance does and
does not refute. --id shows one slip; --markdown prints the docs page (docs/errata.md).

example:
  lora-theory errata --id lemma2_bound"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", dest="erratum_id", default=None, metavar="ID",
                        help="show only this slip (e.g. lemma2_bound; default: all)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print the formulas in LaTeX instead of sympy text")
    out.add_argument("--markdown", action="store_true", help="print the docs page (docs/errata.md) instead")
    add_json_argument(parser, "every slip (formulas as text and LaTeX, the instance's numbers)")


def run(args: argparse.Namespace) -> int:
    """Print the errata for parsed ``args`` and return 0; bad flags raise a one-line LoRATheoryError."""
    from lora_theory.analysis.errata import as_json, errata, get_erratum, render_markdown, render_text

    json_path = check_output_path(getattr(args, "json_path", None))
    erratum_id = getattr(args, "erratum_id", None)
    if erratum_id is not None:
        if not isinstance(erratum_id, str) or not erratum_id.strip():
            raise DomainError(f"--id must name a slip; got {erratum_id!r}")
        chosen = [get_erratum(erratum_id)]
    else:
        chosen = list(errata())
    results = [(e, None if e.instance is None else e.instance()) for e in chosen]
    write_json(json_path, as_json(results))  # before printing: a closed pipe (`| head`) must not lose the file
    if getattr(args, "markdown", False):
        print(render_markdown(results), end="")
    else:
        print(render_text(results, latex=getattr(args, "latex", False)), end="")
    return 0
