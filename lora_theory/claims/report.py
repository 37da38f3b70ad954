"""The claims table: one summary per registered claim, as JSON rows and as the text table.

The pytest plugin (:mod:`lora_theory.testing.plugin`) fills one :class:`ClaimSummary` per registered claim from the
test reports and writes ``{"profile": <Hypothesis profile>, "claims": [row, ...]}`` for ``--claims-json``, one row
(:meth:`ClaimSummary.as_dict`) per registered claim in registry order. ``lora-theory verify`` reads that file and
prints :func:`format_claims_table`.

A row's ``result`` is ``FAILED`` (a test of the claim failed), ``passed`` (none failed, at least one passed),
``skipped`` (every test of the claim was skipped) or ``not run`` (no test of the claim ran: none collected, or all
deselected).

Besides the counts of tests and examples, a row has ``off_generator`` (examples drawn from the off-generator
populations of :mod:`lora_theory.testing.instances`) and ``refused`` (examples the library answered with a typed
refusal naming the matrix, see :func:`lora_theory.testing.assertions.refusal_allowed`); rows written before these
keys existed read as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["SEPARATION_REQUIRED", "NOT_RUN", "ClaimSummary", "format_claims_table"]

#: smallest acceptable (smallest "not exact" error) / (largest "exact" tolerance), both relative
SEPARATION_REQUIRED = 1e6
NOT_RUN = "not run"


@dataclass
class ClaimSummary:
    """What the tests of one claim did in one run (the counts are of tests, ``examples`` of checked examples)."""

    claim: str
    reference: str
    statement: str
    status: str
    number: str = ""  # the paper's number ("Lemma 3"), "" outside the paper
    pages: str = ""
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    examples: int = 0
    checks: int = 0  # tolerance-based checks (they have a margin)
    exact_checks: int = 0  # checks without a tolerance (ranks, counts, symbolic identities, flags)
    worst_margin: float = 0.0
    max_exact_tolerance: float = 0.0
    min_not_exact_error: float = math.inf
    seconds: float = 0.0  # summed call durations of the claim's tests
    off_generator: int = 0  # examples drawn from an off-generator population
    refused: int = 0  # examples answered by a typed refusal (SingularityError / AssumptionViolated naming the matrix)

    @property
    def separation(self) -> float | None:
        if self.max_exact_tolerance > 0 and math.isfinite(self.min_not_exact_error):
            return self.min_not_exact_error / self.max_exact_tolerance
        return None

    @property
    def result(self) -> str:
        if self.failed:
            return "FAILED"
        if self.passed:
            return "passed"
        return "skipped" if self.skipped else NOT_RUN

    @property
    def separation_ok(self) -> bool:
        sep = self.separation
        return sep is None or sep >= SEPARATION_REQUIRED

    def add_record(self, record: Mapping) -> None:
        """Fold in the record of one test (:meth:`lora_theory.testing.assertions.ClaimRecord.as_dict`)."""
        self.examples += record["examples"]
        self.checks += record["checks"]
        self.exact_checks += record.get("exact_checks", 0)
        self.worst_margin = max(self.worst_margin, record["worst_margin"])
        self.max_exact_tolerance = max(self.max_exact_tolerance, record["max_exact_tolerance"])
        if record["min_not_exact_error"] is not None:
            self.min_not_exact_error = min(self.min_not_exact_error, record["min_not_exact_error"])
        self.off_generator += record.get("off_generator", 0)
        self.refused += record.get("refused", 0)

    def as_dict(self) -> dict:
        return {"claim": self.claim, "number": self.number, "pages": self.pages, "reference": self.reference,
                "statement": self.statement, "status": self.status, "result": self.result, "tests": self.tests,
                "passed": self.passed, "failed": self.failed, "skipped": self.skipped, "examples": self.examples,
                "checks": self.checks,
                "exact_checks": self.exact_checks,
                "worst_margin": self.worst_margin, "max_exact_tolerance": self.max_exact_tolerance or None,
                "min_not_exact_error": None if math.isinf(self.min_not_exact_error) else self.min_not_exact_error,
                "separation": self.separation, "separation_ok": self.separation_ok, "seconds": self.seconds,
                "off_generator": self.off_generator, "refused": self.refused}


def _paper(row: Mapping) -> str:
    """The paper's number and page(s) (rows written before these keys existed, or claims outside the paper: the
    reference)."""
    return f"{row['number']}, {row['pages']}" if row.get("number") else row["reference"]


def format_claims_table(rows: Iterable[Mapping]) -> str:
    """The claims table: one line per claim that ran (statement underneath), then one line naming those not run."""
    rows = list(rows)
    ran = [r for r in rows if r["result"] != NOT_RUN]
    not_run = [r["claim"] for r in rows if r["result"] == NOT_RUN]
    head = (f"{'claim':<18} {'result':<8} {'tests':>5} {'examples':>8} {'off-gen':>7} {'refused':>7} "
            f"{'worst margin':>12} {'separation':>14}  paper")
    lines = [head, "-" * (len(head) + 30)]
    for r in ran:
        sep = "—" if r["separation"] is None else f"{r['separation']:.1e}"
        if r["separation"] is not None and not r["separation_ok"]:
            sep += f" (<{SEPARATION_REQUIRED:.0e}!)"
        margin = f"{r['worst_margin']:.2e}" if r["checks"] else "—"  # no tolerance-based check recorded
        off, refused = r.get("off_generator", 0), r.get("refused", 0)  # rows from before these columns: 0
        lines.append(f"{r['claim']:<18} {r['result']:<8} {r['tests']:>5} {r['examples']:>8} {off:>7} {refused:>7} "
                     f"{margin:>12} {sep:>14}  {_paper(r)}")
        lines.append(f"{'':<18} {r['statement']}")
    if not_run:
        lines.append(f"not run ({len(not_run)} of the {len(rows)} claims listed): {', '.join(not_run)}")
    seps = [r["separation"] for r in ran if r["separation"] is not None]
    if seps:
        lines.append(f"separation ratio of the run (smallest 'not exact' error / largest 'exact' tolerance): "
                     f"{min(seps):.2e} (required ≥ {SEPARATION_REQUIRED:.0e})")
    if ran:
        lines.append("off-gen = examples drawn outside the conditioned generators (Gaussian, Xavier, diagonal, "
                     "tiny-change, tied, singular, E = 0 populations); refused = examples answered by a typed "
                     "refusal naming the matrix (every other off-gen example was certified and checked)")
        lines.append("worst margin = max residual/tolerance over all tolerance-based checks (≤ 1 passes; — = none: "
                     "the claim's checks are exact or symbolic)")
    return "\n".join(lines)
