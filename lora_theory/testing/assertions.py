"""Assertion helpers for properties, and the per-test record the pytest plugin turns into the claims table.

Every helper raises ``AssertionError`` with a message that says what was expected, what was seen, how far apart,
the tolerance with the terms it was built from, and a copy-pasteable reproduction, e.g.::

    lemma1.value: spectral error 3.1e-04 differs from σ_{RL+1}(E) = 0 by 3.1e-04 (tolerance 2.2e-13 = u·D·…);
    reproduce: build_linear_instance(width=8, depth=4, …, seed=1234), ranks=[2, 2, 2, 2]

Each call also records into the active :class:`ClaimRecord` (if any): the margin residual/tolerance (≤ 1 passes),
and — for exact/not-exact checks — the relative tolerance used where the theorem says "exact" and the relative
error seen where it says "not exact". Their ratio is the *separation ratio* of the run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import event
from hypothesis.control import currently_in_test_context

from lora_theory.tolerance import Tolerance

__all__ = ["ClaimRecord", "recording", "current_record", "Example", "regime", "check_close", "check_exact",
           "check_not_exact", "check_at_least", "check_at_most", "check_below", "check_above", "check_strictly_below"]


@dataclass
class ClaimRecord:
    """What one test observed. Plain data, so it travels through pytest-xdist as JSON."""

    examples: int = 0
    checks: int = 0
    worst_margin: float = 0.0
    max_exact_tolerance: float = 0.0  # largest relative tolerance used where the claim says "exact"
    min_not_exact_error: float = math.inf  # smallest relative error seen where it says "not exact"

    def as_dict(self) -> dict:
        return {"examples": self.examples, "checks": self.checks, "worst_margin": self.worst_margin,
                "max_exact_tolerance": self.max_exact_tolerance,
                "min_not_exact_error": None if math.isinf(self.min_not_exact_error) else self.min_not_exact_error}


_STACK: list[ClaimRecord] = []


@contextlib.contextmanager
def recording() -> Iterator[ClaimRecord]:
    """Collect what the checks inside the block observe (used by the pytest plugin around each test)."""
    rec = ClaimRecord()
    _STACK.append(rec)
    try:
        yield rec
    finally:
        _STACK.remove(rec)


def current_record() -> ClaimRecord | None:
    return _STACK[-1] if _STACK else None


@dataclass
class Example:
    """The context of one checked example: the claim, and how to reproduce it. Creating one counts an example."""

    claim: str
    repro: str
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        rec = current_record()
        if rec is not None:
            rec.examples += 1

    def where(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.info.items())
        return f"reproduce: {self.repro}" + (f" [{extra}]" if extra else "")


def regime(name: str) -> None:
    """``hypothesis.event(name)`` inside a Hypothesis test (statistics prove each regime ran); a no-op elsewhere."""
    if currently_in_test_context():
        event(name)


def _record(margin: float, *, exact_tol: float | None = None, not_exact_err: float | None = None) -> None:
    rec = current_record()
    if rec is None:
        return
    rec.checks += 1
    rec.worst_margin = max(rec.worst_margin, margin)
    if exact_tol is not None:
        rec.max_exact_tolerance = max(rec.max_exact_tolerance, exact_tol)
    if not_exact_err is not None:
        rec.min_not_exact_error = min(rec.min_not_exact_error, not_exact_err)


def _margin(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def check_close(ex: Example, name: str, seen: float, expected: float, tol: Tolerance, what: str) -> None:
    """|seen − expected| ≤ tol (an equality the theorem asserts, e.g. error = σ_{RL+1}(E))."""
    diff = abs(seen - expected)
    margin = _margin(diff, tol.value)
    _record(margin)
    if not diff <= tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} {seen:.6e} differs from the predicted {expected:.6e} by "
                             f"{diff:.3e} ({margin:.3g}× the tolerance {tol}); {ex.where()}")


def check_exact(ex: Example, name: str, residual: float, tol: Tolerance, what: str) -> None:
    """residual ≤ tol where the theorem says the adaptation is exact."""
    margin = _margin(residual, tol.value)
    _record(margin, exact_tol=tol.relative)
    if not residual <= tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} should be exact but the residual is {residual:.3e} "
                             f"({margin:.3g}× the tolerance {tol}); {ex.where()}")


def check_not_exact(ex: Example, name: str, error: float, tol: Tolerance, what: str) -> None:
    """error > tol where the theorem says the adaptation is not exact (the check must be able to tell)."""
    margin = _margin(tol.value, error)
    _record(margin, not_exact_err=_margin(error, tol.scale) if tol.scale > 0 else error)
    if not error > tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} should NOT be exact, yet its error {error:.3e} is within "
                             f"the tolerance {tol}; {ex.where()}")


def check_at_least(ex: Example, name: str, seen: float, bound: float, tol: Tolerance, what: str) -> None:
    """seen ≥ bound − tol (a lower bound no adapter may beat)."""
    short = bound - seen
    margin = _margin(max(short, 0.0), tol.value)
    _record(margin)
    if not short <= tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} {seen:.6e} beats the lower bound {bound:.6e} by "
                             f"{short:.3e} ({margin:.3g}× the tolerance {tol}); {ex.where()}")


def check_at_most(ex: Example, name: str, seen: int | float, bound: int | float, what: str) -> None:
    """seen ≤ bound for exact quantities (ranks, counts): no tolerance."""
    _record(0.0 if seen <= bound else math.inf)
    if not seen <= bound:
        raise AssertionError(f"{ex.claim}.{name}: {what} is {seen}, above the bound {bound}; {ex.where()}")


def check_below(ex: Example, name: str, seen: float, bound: float, tol: Tolerance, what: str) -> None:
    """seen ≤ bound + tol (an upper bound a theorem asserts; tol is the rounding of the computed ``seen``)."""
    excess = seen - bound
    margin = _margin(max(excess, 0.0), tol.value)
    _record(margin)
    if not excess <= tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} {seen:.6e} exceeds the bound {bound:.6e} by {excess:.3e} "
                             f"({margin:.3g}× the tolerance {tol}); {ex.where()}")


def check_above(ex: Example, name: str, seen: float, bound: float, tol: Tolerance, what: str) -> None:
    """seen > bound + tol: a violation that rounding cannot explain (e.g. a documented failure of a printed bound)."""
    if not seen - bound > tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} {seen:.6e} was expected to exceed the bound {bound:.6e} by "
                             f"more than the tolerance {tol}, but the difference is {seen - bound:.3e}; {ex.where()}")


def check_strictly_below(ex: Example, name: str, seen: float, bound: float, tol: Tolerance, what: str) -> None:
    """seen < bound − tol: strictly below, by more than rounding."""
    if not bound - seen > tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} {seen:.6e} was expected to stay below the bound "
                             f"{bound:.6e} by more than the tolerance {tol}, but the difference is "
                             f"{bound - seen:.3e}; {ex.where()}")
