"""``lora-theory claims``: list the registered claims (id, paper reference, statement, status, formulas)."""

from __future__ import annotations

import argparse

from lora_theory.cli._common import add_json_argument, check_output_path, write_json

__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run"]

NAME = "claims"
HELP = "list the registered claims with their paper reference, status and formulas"
DESCRIPTION = """\
List every claim the suite checks, in the order of the paper: its id (the pytest marker and the --claim of
'lora-theory verify'), the paper's number and page (arXiv 2310.17513v3), the statement, the status (what was
checked against which page, and how) and its sympy formulas as text. Claims registered by other packages
(entry-point group lora_theory.claims) are included.

example:
  lora-theory claims --json claims.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_argument(parser, "the list (id, reference, statement, status, formulas as text)")


def run(args: argparse.Namespace) -> int:
    import sympy as sp

    from lora_theory.claims import all_claims

    json_path = check_output_path(getattr(args, "json_path", None))
    rows = [{"id": c.id, "number": c.number, "pages": c.pages, "reference": c.reference, "statement": c.statement,
             "status": c.status,
             "formulas": {name: sp.sstr(expr) for name, expr in c.formulas.items()},
             "threshold_model": c.threshold.model if c.threshold is not None else None} for c in all_claims()]
    write_json(json_path, {"claims": rows})  # before printing: a closed pipe (`| head`) must not lose the file
    for row in rows:
        where = f"{row['number']}, {row['pages']}" if row["number"] else "not a numbered result of the paper"
        print(f"{row['id']} — {where}")
        print(f"  reference: {row['reference']}")
        print(f"  {row['statement']}")
        print(f"  status: {row['status']}")
        for name, text in row["formulas"].items():
            print(f"  {name}: {text}")
    return 0
