"""The pytest plugin: examples, failures, margins and separation are aggregated right, also under xdist."""

from __future__ import annotations

import json

import pytest

PROPERTY = '''
import pytest
from hypothesis import given, settings, strategies as st
from lora_theory.testing.assertions import Example, check_exact, check_not_exact
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.eym
TOL = Tolerance(1e-12, 1.0, "fixed")

@settings(max_examples=7, database=None)
@given(x=st.integers(0, 100))
def test_counts(x):
    ex = Example("eym", f"x={x}")
    check_exact(ex, "t", 1e-13, TOL, "residual")

@pytest.mark.parametrize("k", range(3))
def test_param(k):
    ex = Example("eym", f"k={k}")
    check_not_exact(ex, "t", 1e-3, TOL, "error")
'''

FAILING = '''
import pytest
from lora_theory.testing.assertions import Example, check_exact
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.eym

def test_fails():
    check_exact(Example("eym", "r"), "t", 1.0, Tolerance(1e-12, 1.0, "fixed"), "residual")
'''


def _run(pytester: pytest.Pytester, source: str, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makepyfile(test_prop=source)
    out = pytester.path / "claims.json"
    run = pytester.runpytest_subprocess if "-n" in args else pytester.runpytest_inprocess  # xdist needs a process
    result = run("-p", "lora_theory.testing.plugin", "--claims-json", str(out), "-p", "no:cacheprovider", *args)
    return result, json.loads(out.read_text())["claims"][0]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_examples_and_separation_are_aggregated(pytester, workers):
    result, row = _run(pytester, PROPERTY, *workers)
    result.assert_outcomes(passed=4)
    assert row["claim"] == "eym" and row["tests"] == 4 and row["result"] == "passed"
    assert row["examples"] == 7 + 3
    assert row["worst_margin"] == pytest.approx(0.1)
    assert row["separation"] == pytest.approx(1e-3 / 1e-12)
    result.stdout.fnmatch_lines(["*lora-theory claims*", "eym*passed*"])


def test_a_failing_check_fails_the_claim(pytester):
    result, row = _run(pytester, FAILING)
    result.assert_outcomes(failed=1)
    assert row["result"] == "FAILED" and row["worst_margin"] > 1
    result.stdout.fnmatch_lines(["*eym.t: residual should be exact but the residual is 1.000e+00*"])


def test_low_separation_fails_the_run(pytester):
    weak = PROPERTY.replace('"t", 1e-3', '"t", 1e-9')
    result, row = _run(pytester, weak)
    assert row["separation_ok"] is False
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*separation ratio below 1e+06 for eym*"])
