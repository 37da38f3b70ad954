"""Assertion helpers for properties, and the per-test record the pytest plugin turns into the claims table.

``check_*`` names are reserved for input validation (:mod:`lora_theory.validation`); the helpers here *assert* what
a claim says and are all called the same way: the example context, the subject (the value that was observed), then
keyword-only arguments::

    assert_exact(ex, residual, tol=tol, name="value", what="spectral error ‖∏W̃ − W̄‖₂")
    assert_close(ex, err, expected=sigma, tol=tol, name="value", what="spectral error vs σ_{RL+1}(E)")
    assert_at_most(ex, pair.rank, bound=R, name="adapter_rank", what="inner dimension of adapter 1")

=========================  ======================================  ===========================================
helper                     passes when                             used for
=========================  ======================================  ===========================================
``assert_exact``           residual ≤ tol                          "the adaptation is exact"
``assert_not_exact``       error > tol                             "the adaptation is not exact" (separation)
``assert_close``           |seen − expected| ≤ tol                 an equality the claim predicts
``assert_below``           seen ≤ bound + tol                      an upper bound the claim asserts
``assert_at_least``        seen ≥ bound − tol                      a lower bound no adapter may beat
``assert_above``           seen − bound > tol                      a violation rounding cannot explain
``assert_strictly_below``  bound − seen > tol                      strictly below, by more than rounding
``assert_at_most``         seen ≤ bound (no tolerance)             ranks, counts, exactly computed numbers
``assert_equal``           seen == expected (no tolerance)         integers, sympy expressions, exact results
``assert_true``            the condition holds (no tolerance)      a structural fact (a flag, a containment)
=========================  ======================================  ===========================================

Every comparison is written so that NaN fails it (``if not (seen <= bound): fail``), and a non-finite subject,
reference value or tolerance is a failure of its own, reported as such. A failure raises ``AssertionError`` whose
message (built in one place, :func:`_fail`) says which check failed, what was expected, what was seen, how far apart
(also in units of the tolerance), the tolerance with the terms it was built from, and a copy-pasteable
reproduction::

    lemma1.value: spectral error ‖∏W̃ − W̄‖₂ — should be exact
      expected:  ≤ tolerance
      seen:      3.100000e-04
      apart:     3.1e-04 above the tolerance (1.41e+09× the tolerance)
      tolerance: 2.200e-13 = u·(D²·((2L+1)·scale_prod + …)) with u=1.11e-16, D=8, …
      reproduce: build_linear_instance(width=8, depth=4, …, seed=1234), ranks=[2, 2, 2, 2] [rank(E)=8]

Each call also records into the active :class:`ClaimRecord` (if any): a tolerance-based check records its margin
(how much of the tolerance it used; ≤ 1 passes), ``assert_exact`` the relative tolerance used where the claim says
"exact" and ``assert_not_exact`` the relative error seen where it says "not exact" — their ratio is the *separation
ratio* of the run. Checks without a tolerance are counted apart (``exact_checks``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from hypothesis import currently_in_test_context, event

from lora_theory.tolerance import Tolerance

__all__ = ["ClaimRecord", "recording", "current_record", "Example", "regime", "Refusal", "refusal_allowed",
           "no_refusal", "assert_exact", "assert_not_exact", "assert_close", "assert_below", "assert_at_least",
           "assert_above", "assert_strictly_below", "assert_at_most", "assert_equal", "assert_true"]


@dataclass
class ClaimRecord:
    """What one test observed. Plain data, so it travels through pytest-xdist as JSON."""

    examples: int = 0
    checks: int = 0  # tolerance-based checks (they have a margin)
    exact_checks: int = 0  # checks without a tolerance (ranks, counts, symbolic identities, flags)
    worst_margin: float = 0.0
    max_exact_tolerance: float = 0.0  # largest relative tolerance used where the claim says "exact"
    min_not_exact_error: float = math.inf  # smallest relative error seen where it says "not exact"
    off_generator: int = 0  # examples drawn from an off-generator population (Example(population=...))
    refused: int = 0  # examples answered by a typed refusal (refusal_allowed)

    def as_dict(self) -> dict:
        return {"examples": self.examples, "checks": self.checks, "exact_checks": self.exact_checks,
                "worst_margin": self.worst_margin, "max_exact_tolerance": self.max_exact_tolerance,
                "min_not_exact_error": None if math.isinf(self.min_not_exact_error) else self.min_not_exact_error,
                "off_generator": self.off_generator, "refused": self.refused}


_STACK: list[ClaimRecord] = []


@contextlib.contextmanager
def recording() -> Iterator[ClaimRecord]:
    """Collect what the checks inside the block observe (used by the pytest plugin around each test)."""
    rec = ClaimRecord()
    _STACK.append(rec)
    try:
        yield rec
    finally:  # by identity: two records with the same counts compare equal
        del _STACK[max(i for i, r in enumerate(_STACK) if r is rec)]


def current_record() -> ClaimRecord | None:
    return _STACK[-1] if _STACK else None


@dataclass
class Example:
    """The context of one checked example: the claim, and how to reproduce it. Creating one counts an example;
    ``population`` names the off-generator population it was drawn from (``None``: a conditioned generator), and
    counts it as off-generator."""

    claim: str
    repro: str
    info: dict = field(default_factory=dict)
    population: str | None = None

    def __post_init__(self) -> None:
        rec = current_record()
        if rec is not None:
            rec.examples += 1
            if self.population is not None:
                rec.off_generator += 1

    def where(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.info.items())
        return f"reproduce: {self.repro}" + (f" [{extra}]" if extra else "")


def regime(name: str) -> None:
    """``hypothesis.event(name)`` inside a Hypothesis test (statistics prove each regime ran); a no-op elsewhere."""
    if currently_in_test_context():
        event(name)


@dataclass
class Refusal:
    """What :func:`refusal_allowed` saw: ``error`` is the typed refusal, or ``None`` when the block ran through."""

    error: Exception | None = None

    @property
    def refused(self) -> bool:
        return self.error is not None


@contextlib.contextmanager
def refusal_allowed(ex: Example, *, name: str, what: str) -> Iterator[Refusal]:
    """Run a library call that may refuse: a typed refusal (an ``AssumptionViolated`` — ``SingularityError`` is one —
    whose ``where`` names the matrix) ends the block, is counted in the record (``refused``) and reported as a
    Hypothesis event; ``outcome.refused`` tells the caller to skip the checks of the answer. Any other exception
    propagates (an untyped crash is never an answer), and a refusal that names no matrix fails as a check::

        with refusal_allowed(ex, name="invariant", what="construct_linear on a Gaussian chain") as outcome:
            c = construct_linear(weights, target, R)
        if outcome.refused:
            return
    """
    __tracebackhide__ = True
    from lora_theory.errors import AssumptionViolated

    outcome = Refusal()
    try:
        yield outcome
    except AssumptionViolated as exc:
        outcome.error = exc
        _record(None)
        if not (isinstance(exc.where, str) and exc.where.strip()):
            _fail(ex, name, what, "refused without naming the matrix", expected="a refusal whose `where` names "
                  "the matrix", seen=f"{type(exc).__name__}(where={exc.where!r}): {exc}")
        rec = current_record()
        if rec is not None:
            rec.refused += 1
        regime(f"refused: {type(exc).__name__}" + (f" ({ex.population})" if ex.population else ""))


@contextlib.contextmanager
def no_refusal(ex: Example, *, name: str, what: str) -> Iterator[None]:
    """Run a library call on an instance whose hypotheses hold *by construction* (the conditioned generators): a
    refusal (``AssumptionViolated``) there is a false refusal, so it fails as a check (an ``AssertionError`` naming the
    claim and ``name``) instead of crashing the test."""
    __tracebackhide__ = True
    from lora_theory.errors import AssumptionViolated

    try:
        yield
    except AssumptionViolated as exc:
        _record(None)
        _fail(ex, name, what, "refused an instance whose hypotheses hold by construction",
              expected="an answer (the generator guarantees the non-singularity hypothesis)",
              seen=f"{type(exc).__name__}(where={exc.where!r}): {str(exc)[:300]}")
    else:
        _record(None)


# --- recording and the one message builder ------------------------------------------------------------------------

def _record(margin: float | None, *, exact_tol: float | None = None, not_exact_err: float | None = None) -> None:
    """``margin=None``: a check without a tolerance."""
    rec = current_record()
    if rec is None:
        return
    if margin is None:
        rec.exact_checks += 1
        return
    rec.checks += 1
    rec.worst_margin = max(rec.worst_margin, margin)
    if exact_tol is not None:
        rec.max_exact_tolerance = max(rec.max_exact_tolerance, exact_tol)
    if not_exact_err is not None:
        rec.min_not_exact_error = min(rec.min_not_exact_error, not_exact_err)


def _ratio(num: float, den: float) -> float:
    """num/den for margins: 0/0 = 0, x/0 = ∞, NaN stays NaN."""
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _num(x: Any) -> str:
    """A number for a message: floats in full scientific notation, everything else as is."""
    return f"{x:.6e}" if isinstance(x, float) else str(x)


def _fail(ex: Example, name: str, what: str, verdict: str, *, expected: str, seen: str,
          apart: str | None = None, tol: Tolerance | None = None) -> NoReturn:
    """Raise the AssertionError of a failed check; every helper builds its message here."""
    __tracebackhide__ = True
    lines = [f"{ex.claim}.{name}: {what} — {verdict}",
             f"  expected:  {expected}",
             f"  seen:      {seen}"]
    if apart is not None:
        lines.append(f"  apart:     {apart}")
    if tol is not None:
        lines.append(f"  tolerance: {tol}")
    lines.append(f"  {ex.where()}")
    raise AssertionError("\n".join(lines))


def _apart(diff: float, tol: Tolerance, relation: str) -> str:
    return f"{diff:.3e} {relation} ({_ratio(abs(diff), tol.value):.3g}× the tolerance)"


def _require_finite(ex: Example, name: str, what: str, tol: Tolerance | None, **values: Any) -> None:
    """Fail (as a check failure, not a crash) on a NaN/inf value or a tolerance that is not a finite number ≥ 0."""
    __tracebackhide__ = True
    for label, value in values.items():
        if not math.isfinite(value):
            _fail(ex, name, what, f"{label} is not finite", expected=f"a finite {label}", seen=_num(value), tol=tol)
    if tol is not None and not (math.isfinite(tol.value) and tol.value >= 0):
        _fail(ex, name, what, "the tolerance is not a finite number ≥ 0", expected="a finite tolerance ≥ 0",
              seen=_num(tol.value), tol=tol)


# --- tolerance-based checks ---------------------------------------------------------------------------------------

def assert_exact(ex: Example, residual: float, *, tol: Tolerance, name: str, what: str) -> None:
    """residual ≤ tol where the claim says the adaptation is exact (records the relative tolerance used)."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, residual=residual)
    margin = _ratio(residual, tol.value)
    _record(margin, exact_tol=tol.relative)
    if not (residual <= tol.value):
        _fail(ex, name, what, "should be exact", expected="≤ tolerance", seen=_num(residual),
              apart=_apart(residual - tol.value, tol, "above the tolerance"), tol=tol)


def assert_not_exact(ex: Example, error: float, *, tol: Tolerance, name: str, what: str) -> None:
    """error > tol where the claim says the adaptation is not exact: the check must be able to tell (records the
    relative error seen, which enters the separation ratio; use :func:`assert_above` for gaps that are not a
    property of the generator)."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, error=error)
    _record(_ratio(tol.value, error), not_exact_err=_ratio(error, tol.scale) if tol.scale > 0 else error)
    if not (error > tol.value):
        _fail(ex, name, what, "should NOT be exact, yet is within the tolerance", expected="> tolerance",
              seen=_num(error), apart=_apart(tol.value - error, tol, "short of exceeding the tolerance"), tol=tol)


def assert_close(ex: Example, seen: float, *, expected: float, tol: Tolerance, name: str, what: str) -> None:
    """|seen − expected| ≤ tol: an equality the claim asserts (e.g. error = σ_{RL+1}(E))."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, seen=seen, expected=expected)
    diff = abs(seen - expected)
    _record(_ratio(diff, tol.value))
    if not (diff <= tol.value):
        _fail(ex, name, what, "differs from the prediction", expected=_num(expected), seen=_num(seen),
              apart=_apart(diff, tol, "apart"), tol=tol)


def assert_below(ex: Example, seen: float, *, bound: float, tol: Tolerance, name: str, what: str) -> None:
    """seen ≤ bound + tol: an upper bound the claim asserts (tol is the rounding of the computed values)."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, seen=seen, bound=bound)
    excess = seen - bound
    _record(_ratio(max(excess, 0.0), tol.value))
    if not (excess <= tol.value):
        _fail(ex, name, what, "exceeds the upper bound", expected=f"≤ {_num(bound)} (+ tolerance)", seen=_num(seen),
              apart=_apart(excess, tol, "above the bound"), tol=tol)


def assert_at_least(ex: Example, seen: float, *, bound: float, tol: Tolerance, name: str, what: str) -> None:
    """seen ≥ bound − tol: a lower bound no adapter may beat."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, seen=seen, bound=bound)
    short = bound - seen
    _record(_ratio(max(short, 0.0), tol.value))
    if not (short <= tol.value):
        _fail(ex, name, what, "beats the lower bound", expected=f"≥ {_num(bound)} (− tolerance)", seen=_num(seen),
              apart=_apart(short, tol, "below the bound"), tol=tol)


def assert_above(ex: Example, seen: float, *, bound: float, tol: Tolerance, name: str, what: str) -> None:
    """seen − bound > tol: a violation (or a gap) that rounding cannot explain, e.g. a documented failure of a
    printed bound, or an off-target adaptation that an exactness tolerance must reject (``bound=0``)."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, seen=seen, bound=bound)
    gap = seen - bound
    _record(_ratio(tol.value, gap) if gap > 0 else math.inf)
    if not (gap > tol.value):
        _fail(ex, name, what, "does not exceed the bound by more than the tolerance",
              expected=f"> {_num(bound)} + tolerance", seen=_num(seen),
              apart=_apart(gap, tol, "above the bound"), tol=tol)


def assert_strictly_below(ex: Example, seen: float, *, bound: float, tol: Tolerance, name: str, what: str) -> None:
    """bound − seen > tol: strictly below, by more than rounding."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, tol, seen=seen, bound=bound)
    gap = bound - seen
    _record(_ratio(tol.value, gap) if gap > 0 else math.inf)
    if not (gap > tol.value):
        _fail(ex, name, what, "does not stay below the bound by more than the tolerance",
              expected=f"< {_num(bound)} − tolerance", seen=_num(seen),
              apart=_apart(gap, tol, "below the bound"), tol=tol)


# --- checks without a tolerance -----------------------------------------------------------------------------------

def assert_at_most(ex: Example, seen: int | float, *, bound: int | float, name: str, what: str) -> None:
    """seen ≤ bound for exactly computed quantities (ranks, counts, monotone sequences of computed numbers)."""
    __tracebackhide__ = True
    _require_finite(ex, name, what, None, seen=seen, bound=bound)
    _record(None)
    if not (seen <= bound):
        _fail(ex, name, what, "exceeds its bound", expected=f"≤ {_num(bound)}", seen=_num(seen),
              apart=f"{_num(seen - bound)} above")


def assert_equal(ex: Example, seen: Any, *, expected: Any, name: str, what: str) -> None:
    """seen == expected with no tolerance: integers, tuples, sympy expressions, results of exact arithmetic."""
    __tracebackhide__ = True
    _record(None)
    if not bool(seen == expected):
        _fail(ex, name, what, "differs from the expected value", expected=_num(expected), seen=_num(seen))


def assert_true(ex: Example, condition: bool, *, name: str, what: str, seen: Any = None) -> None:
    """A condition the claim asserts (``what`` states it; ``seen`` says what was observed when it fails)."""
    __tracebackhide__ = True
    _record(None)
    if not (condition is True or (not isinstance(condition, float) and bool(condition) is True)):
        _fail(ex, name, what, "does not hold", expected=what, seen="false" if seen is None else _num(seen))
