"""pytest plugin: claim markers, Hypothesis profiles, per-worker threads, and the end-of-run claims table.

Enable it with ``pytest_plugins = ["lora_theory.testing.plugin"]`` in a ``conftest.py`` (this repository's root
conftest does). A test belongs to a claim when it carries the marker named by the claim id
(``pytestmark = pytest.mark.lemma1`` in ``properties/test_lemma1.py``). Records of the checks made inside such a test
(:mod:`lora_theory.testing.assertions`) travel in ``report.user_properties``, so the table is right under pytest-xdist too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import pytest

from lora_theory.claims import all_claims
from lora_theory.testing.assertions import recording
from lora_theory.testing.profiles import default_profile_name, load_default_profile

__all__ = ["SEPARATION_REQUIRED", "ClaimSummary", "ClaimTable", "format_claims_table"]

#: smallest acceptable (smallest "not exact" error) / (largest "exact" tolerance), both relative
SEPARATION_REQUIRED = 1e6
_KEY = "lora_theory"

load_default_profile()


@dataclass
class ClaimSummary:
    claim: str
    reference: str
    statement: str
    status: str
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    examples: int = 0
    checks: int = 0
    worst_margin: float = 0.0
    max_exact_tolerance: float = 0.0
    min_not_exact_error: float = math.inf
    seconds: float = 0.0  # summed call durations of the claim's tests

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
        return "skipped" if self.skipped else "not run"

    @property
    def separation_ok(self) -> bool:
        sep = self.separation
        return sep is None or sep >= SEPARATION_REQUIRED

    def as_dict(self) -> dict:
        return {"claim": self.claim, "reference": self.reference, "statement": self.statement,
                "status": self.status, "result": self.result, "tests": self.tests, "passed": self.passed,
                "failed": self.failed, "skipped": self.skipped, "examples": self.examples, "checks": self.checks,
                "worst_margin": self.worst_margin, "max_exact_tolerance": self.max_exact_tolerance or None,
                "min_not_exact_error": None if math.isinf(self.min_not_exact_error) else self.min_not_exact_error,
                "separation": self.separation, "separation_ok": self.separation_ok, "seconds": self.seconds}


def format_claims_table(rows: list[dict]) -> str:
    """The claims table (one row per claim, statement underneath)."""
    head = f"{'claim':<18} {'result':<8} {'tests':>5} {'examples':>8} {'worst margin':>12} {'separation':>14}  reference"
    lines = [head, "-" * (len(head) + 30)]
    for r in rows:
        sep = "—" if r["separation"] is None else f"{r['separation']:.1e}"
        if r["separation"] is not None and not r["separation_ok"]:
            sep += " (<1e6!)"
        margin = f"{r['worst_margin']:.2e}" if r["checks"] else "—"  # no tolerance-based check recorded
        lines.append(f"{r['claim']:<18} {r['result']:<8} {r['tests']:>5} {r['examples']:>8} "
                     f"{margin:>12} {sep:>14}  {r['reference']}")
        lines.append(f"{'':<18} {r['statement']}")
    seps = [r["separation"] for r in rows if r["separation"] is not None]
    if seps:
        lines.append(f"separation ratio of the run (smallest 'not exact' error / largest 'exact' tolerance): "
                     f"{min(seps):.2e} (required ≥ {SEPARATION_REQUIRED:.0e})")
    lines.append("worst margin = max residual/tolerance over all tolerance-based checks (≤ 1 passes; — = none: the "
                 "claim's checks are exact or symbolic)")
    return "\n".join(lines)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lora-theory")
    group.addoption("--claims-json", default=None, metavar="PATH",
                    help="write the claims table as JSON to PATH")
    group.addoption("--no-claims-table", action="store_true", default=False,
                    help="do not print the claims table at the end (lora-theory verify prints its own)")


def _claim_ids() -> set[str]:
    return {c.id for c in all_claims()}


def _claim_of(keywords) -> str | None:
    ids = _claim_ids()
    return next((name for name in keywords if name in ids), None)


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--claims-json")
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise pytest.UsageError(f"--claims-json {path!r}: its folder does not exist")
    for claim in all_claims():
        config.addinivalue_line("markers", f"{claim.id}: {claim.reference} — {claim.statement}")
    import torch
    torch.set_num_threads(1)  # the properties use small matrices: threads only add overhead (and -n workers compete)
    if not hasattr(config, "workerinput"):  # the controller (or the only process) aggregates the reports
        config.pluginmanager.register(ClaimTable(config), "lora-theory-claims-table")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    claim = _claim_of(item.keywords)
    if claim is None:
        yield
        return
    with recording() as rec:
        yield
    item.user_properties.append((_KEY, {"claim": claim, **rec.as_dict()}))


def _profile_name(config: pytest.Config) -> str:
    """The Hypothesis profile in force: --hypothesis-profile, else our default choice."""
    try:
        given = config.getoption("hypothesis_profile")
    except ValueError:  # Hypothesis's pytest plugin not loaded
        given = None
    return given or default_profile_name()


class ClaimTable:
    """Aggregates per-test records (from ``report.user_properties``) into one :class:`ClaimSummary` per claim."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.summaries: dict[str, ClaimSummary] = {}

    def _summary(self, claim_id: str) -> ClaimSummary:
        if claim_id not in self.summaries:
            c = next(c for c in all_claims() if c.id == claim_id)
            self.summaries[claim_id] = ClaimSummary(c.id, c.reference, c.statement, c.status)
        return self.summaries[claim_id]

    def rows(self) -> list[dict]:
        return [self.summaries[c.id].as_dict() for c in all_claims() if c.id in self.summaries]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        claim = _claim_of(report.keywords)
        if claim is None:
            return
        s = self._summary(claim)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            s.tests += 1
            if report.passed:
                s.passed += 1
            elif report.skipped:
                s.skipped += 1
            else:
                s.failed += 1
        elif report.when == "teardown" and report.failed:
            s.failed += 1
        if report.when != "call":  # item.user_properties is copied into the teardown report too: count it once
            return
        s.seconds += report.duration
        for name, value in report.user_properties:
            if name != _KEY:
                continue
            s.examples += value["examples"]
            s.checks += value["checks"]
            s.worst_margin = max(s.worst_margin, value["worst_margin"])
            s.max_exact_tolerance = max(s.max_exact_tolerance, value["max_exact_tolerance"])
            if value["min_not_exact_error"] is not None:
                s.min_not_exact_error = min(s.min_not_exact_error, value["min_not_exact_error"])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        rows = self.rows()
        path = self.config.getoption("--claims-json")
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump({"profile": _profile_name(self.config), "claims": rows}, fh, indent=2)
        if rows and any(not r["separation_ok"] for r in rows) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        rows = self.rows()
        if not rows or config.getoption("--no-claims-table"):
            return
        terminalreporter.section(f"lora-theory claims (Hypothesis profile: {_profile_name(config)})")
        terminalreporter.write_line(format_claims_table(rows))
        bad = [r["claim"] for r in rows if not r["separation_ok"]]
        if bad:
            terminalreporter.write_line(f"FAILED: separation ratio below {SEPARATION_REQUIRED:.0e} for "
                                        f"{', '.join(bad)}: the checks cannot tell exact from inexact reliably",
                                        red=True)
