"""The pytest plugin, tried as an adopter would: scratch repositories run with pytester.

Aggregation (examples, failures, margins, separation; also under xdist), attribution by marker only, claims and
Hypothesis profiles of the adopter's own conftest, the torch-threads ini option, and that the installed plugin is
inert until enabled. Runs are in-process (fast) except under xdist; the ``_isolated`` fixture undoes what an
in-process run leaves in this process (the Hypothesis profile in force, the torch thread count, claims registered
by a scratch conftest).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

import lora_theory.claims as claims_module
from lora_theory.claims import all_claims
from lora_theory.testing.profiles import PROFILES

PLUGIN = "lora_theory.testing.plugin"

PROPERTY = '''
import pytest
from hypothesis import given, settings, strategies as st
from lora_theory.testing.assertions import Example, assert_exact, assert_not_exact
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.eym
TOL = Tolerance(1e-12, 1.0, "fixed")

@settings(max_examples=7, database=None)
@given(x=st.integers(0, 100))
def test_counts(x):
    ex = Example("eym", f"x={x}")
    assert_exact(ex, 1e-13, tol=TOL, name="t", what="residual")

@pytest.mark.parametrize("k", range(3))
def test_param(k):
    ex = Example("eym", f"k={k}")
    assert_not_exact(ex, 1e-3, tol=TOL, name="t", what="error")
'''

FAILING = '''
import pytest
from lora_theory.testing.assertions import Example, assert_exact
from lora_theory.tolerance import Tolerance

pytestmark = pytest.mark.eym

def test_fails():
    assert_exact(Example("eym", "r"), 1.0, tol=Tolerance(1e-12, 1.0, "fixed"), name="t", what="residual")
'''

ADOPTER_CONFTEST = '''
from hypothesis import settings
import sympy as sp
from lora_theory.claims import Claim, register

settings.register_profile("adopter-own", max_examples=3, deadline=None, database=None)
settings.load_profile("adopter-own")

register(Claim(id="adopter_claim", reference="our notes, p. 1", statement="ones are ones", status="ours",
               formulas={"one": sp.Integer(1)}))
'''

SUB_CONFTEST = '''
import sympy as sp
from lora_theory.claims import Claim, register

register(Claim(id="adopter_sub_claim", reference="our notes, p. 2", statement="twos are twos", status="ours",
               formulas={"two": sp.Integer(2)}))
'''

ADOPTER_TESTS = '''
import pytest
import torch
from hypothesis import given, settings, strategies as st
from lora_theory.testing.assertions import Example

@pytest.mark.parametrize("case", [1], ids=["lemma1"])
def test_unmarked_with_a_claim_id(case):
    Example("lemma1", "not a check of lemma1")

@pytest.mark.lemma1
def test_marked():
    Example("lemma1", "a check of lemma1")

@pytest.mark.lemma3
def test_skipped():
    pytest.skip("not today")

@pytest.mark.hetero_ranks
def test_marked_with_a_renamed_id():
    Example("lemma8", "an old marker still counts for the renamed claim")

@pytest.mark.adopter_claim
@given(x=st.integers())
def test_own_claim(x):
    Example("adopter_claim", f"x={x}")

def test_own_profile_still_in_force():
    assert settings.get_current_profile_name() == "adopter-own"
    assert settings.default.max_examples == 3

def test_torch_threads():
    assert torch.get_num_threads() == {threads}
'''

SUB_TESTS = '''
import pytest
from lora_theory.testing.assertions import Example

pytestmark = pytest.mark.adopter_sub_claim

def test_sub():
    Example("adopter_sub_claim", "sub")
'''

INERT_TESTS = '''
import pytest
import torch
from hypothesis import settings

def test_nothing_changed(request):
    assert settings.get_current_profile_name() == "default"
    assert torch.get_num_threads() == {threads}
    assert request.config.pluginmanager.get_plugin("{plugin}") is not None  # loaded, but inert
    assert "lemma1" not in "".join(request.config.getini("markers"))
'''


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Start each scratch run from Hypothesis's ``default`` profile; restore this process's state afterwards."""
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    profile, threads, ids = settings.get_current_profile_name(), torch.get_num_threads(), set(claims_module._REGISTRY)
    ours = {name: settings.get_profile(name) for name in PROFILES}  # a scratch conftest may register its own
    settings.load_profile("default")
    try:
        yield
    finally:
        for name, obj in ours.items():
            settings.register_profile(name, obj)  # the same object again (so it is recognised as ours)
        settings.load_profile(profile)
        torch.set_num_threads(threads)
        for cid in set(claims_module._REGISTRY) - ids:
            del claims_module._REGISTRY[cid]


def _rows(path) -> tuple[str, dict[str, dict]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["profile"], {r["claim"]: r for r in data["claims"]}


def _run(pytester: pytest.Pytester, source: str, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makepyfile(test_prop=source)
    out = pytester.path / "claims.json"
    run = pytester.runpytest_subprocess if "-n" in args else pytester.runpytest_inprocess  # xdist needs a process
    if "-n" in args and os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args = ("-p", "xdist.plugin", *args)
    result = run("-p", PLUGIN, "--lora-theory", "--claims-json", str(out), "-p", "no:cacheprovider", *args)
    profile, rows = _rows(out)
    if run is pytester.runpytest_inprocess:  # (a subprocess on CI starts from Hypothesis's ci profile)
        assert profile == "dev"  # nobody chose a profile: ours is loaded
    assert list(rows) == [c.id for c in all_claims()]  # one row per registered claim, registry order
    assert all(r["result"] == "not run" for cid, r in rows.items() if cid != "eym")
    return result, rows["eym"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_examples_and_separation_are_aggregated(pytester, workers):
    result, row = _run(pytester, PROPERTY, *workers)
    result.assert_outcomes(passed=4)
    assert row["claim"] == "eym" and row["tests"] == 4 and row["result"] == "passed"
    assert row["examples"] == 7 + 3
    assert row["worst_margin"] == pytest.approx(0.1)
    assert row["separation"] == pytest.approx(1e-3 / 1e-12)
    result.stdout.fnmatch_lines(["*lora-theory claims (Hypothesis profile: *)*", "eym*passed*",
                                 "not run (* of the * claims listed): abstract_threshold, *"])


REFUSING = '''
import pytest
from lora_theory.errors import SingularityError
from lora_theory.testing.assertions import Example, refusal_allowed

pytestmark = pytest.mark.eym

@pytest.mark.parametrize("k", range(4))
def test_offgen(k):
    ex = Example("eym", f"k={k}", population="gaussian")
    with refusal_allowed(ex, name="offgen", what="a call that may refuse") as outcome:
        if k % 2:
            raise SingularityError("W is singular", where="W_1")
    assert outcome.refused == bool(k % 2)
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_off_generator_examples_and_refusals_are_aggregated(pytester, workers):
    result, row = _run(pytester, REFUSING, *workers)
    result.assert_outcomes(passed=4)
    assert (row["examples"], row["off_generator"], row["refused"]) == (4, 4, 2)
    result.stdout.fnmatch_lines(["*off-gen*refused*", "eym*passed*4*4*2*"])


def test_a_failing_check_fails_the_claim(pytester):
    result, row = _run(pytester, FAILING)
    result.assert_outcomes(failed=1)
    assert row["result"] == "FAILED" and row["worst_margin"] > 1
    result.stdout.fnmatch_lines(["*eym.t: residual — should be exact*", "*seen:*1.000000e+00*"])


def test_low_separation_fails_the_run(pytester):
    weak = PROPERTY.replace("1e-3, tol", "1e-9, tol")
    assert weak != PROPERTY
    result, row = _run(pytester, weak)
    assert row["separation_ok"] is False
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*separation ratio below 1e+06 for eym*"])


def test_adopter_repository(pytester):
    """Own profile and own claims (root and sub-folder conftest) under --strict-markers; claims by marker only."""
    pytester.makeini("[pytest]\nlora_theory = true\naddopts = --strict-markers\n")
    pytester.makeconftest(ADOPTER_CONFTEST)
    pytester.makepyfile(test_adopter=ADOPTER_TESTS.replace("{threads}", str(torch.get_num_threads())))
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(SUB_CONFTEST, encoding="utf-8")
    (sub / "test_sub.py").write_text(SUB_TESTS, encoding="utf-8")
    out = pytester.path / "claims.json"
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider", "--claims-json", str(out))
    result.assert_outcomes(passed=7, skipped=1)
    profile, rows = _rows(out)
    assert profile == "adopter-own"
    lemma1 = rows["lemma1"]
    assert (lemma1["tests"], lemma1["passed"], lemma1["examples"]) == (1, 1, 1)  # the unmarked `lemma1` id: no
    assert rows["lemma3"]["result"] == "skipped" and rows["lemma3"]["skipped"] == 1
    assert (rows["lemma8"]["result"], rows["lemma8"]["tests"]) == ("passed", 1)  # marked `hetero_ranks` (renamed)
    assert "hetero_ranks" not in rows
    own = rows["adopter_claim"]
    assert (own["result"], own["tests"], own["examples"]) == ("passed", 1, 3)
    assert (own["reference"], own["statement"], own["status"]) == ("our notes, p. 1", "ones are ones", "ours")
    assert rows["adopter_sub_claim"]["result"] == "passed"
    builtin = [c.id for c in claims_module.builtin_claims()]
    assert list(rows) == [*builtin, "adopter_claim", "adopter_sub_claim"]
    assert all(rows[cid]["result"] == "not run" for cid in builtin if cid not in ("lemma1", "lemma3", "lemma8"))
    not_run = f"not run ({len(builtin) - 3} of the {len(rows)} claims listed): abstract_threshold, *"
    result.stdout.fnmatch_lines(["*lora-theory claims (Hypothesis profile: adopter-own)*", "lemma1 * passed *1 *",
                                 "lemma3 * skipped *", "adopter_claim * passed *1 *3 *our notes, p. 1", not_run])


def test_a_profile_of_the_adopter_named_like_ours_is_kept(pytester):
    pytester.makeini("[pytest]\nlora_theory = true\n")
    pytester.makeconftest("from hypothesis import settings\n\n"
                          "settings.register_profile('dev', max_examples=5)\n"
                          "settings.register_profile('deep', max_examples=6)\n")
    pytester.makepyfile("from hypothesis import settings\n\n"
                        "def test_profiles():\n"
                        "    assert settings.get_current_profile_name() == 'default'  # theirs is not loaded for them\n"
                        "    assert settings.get_profile('dev').max_examples == 5\n"
                        "    assert settings.get_profile('deep').max_examples == 6\n")
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_hypothesis_profile_option_selects_ours(pytester):
    """In a fresh process (in this one, ``deep`` is registered already): our profiles exist by the time Hypothesis's
    plugin loads the one named by --hypothesis-profile."""
    pytester.makepyfile("from hypothesis import settings\n\n"
                        "def test_profile():\n"
                        "    assert settings.get_current_profile_name() == 'deep'\n"
                        "    assert settings.default.max_examples == 2000\n")
    extra = ("-p", "_hypothesis_pytestplugin") if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else ()
    result = pytester.runpytest_subprocess("-p", PLUGIN, *extra, "--lora-theory", "--hypothesis-profile=deep",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_hypothesis_profile_environment_variable(pytester, monkeypatch):
    pytester.makepyfile("from hypothesis import settings\n\n"
                        "def test_profile():\n"
                        "    assert settings.get_current_profile_name() == 'deep'\n")
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "deep")
    pytester.runpytest_inprocess("-p", PLUGIN, "--lora-theory", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "no-such-profile")
    result = pytester.runpytest_inprocess("-p", PLUGIN, "--lora-theory", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*$HYPOTHESIS_PROFILE: *'no-such-profile'*"])


def test_torch_threads_ini_option(pytester):
    before = torch.get_num_threads()
    wanted = 2 if before != 2 else 3
    pytester.makeini(f"[pytest]\nlora_theory = true\nlora_theory_torch_threads = {wanted}\n")
    pytester.makepyfile(f"import torch\n\ndef test_threads():\n    assert torch.get_num_threads() == {wanted}\n")
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert torch.get_num_threads() == before  # restored at the end of the run


def test_bad_torch_threads_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nlora_theory = true\nlora_theory_torch_threads = many\n")
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lora_theory_torch_threads must be a positive integer; got 'many'*"])


def test_inert_unless_enabled(pytester):
    pytester.makepyfile(INERT_TESTS.replace("{threads}", str(torch.get_num_threads())).replace("{plugin}", PLUGIN))
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*lora-theory claims*")
    result.stdout.no_fnmatch_line("*claims registered*")
    assert settings.get_current_profile_name() == "default"
    # its options exist, but asking for the JSON without enabling it is a mistake worth saying
    result = pytester.runpytest_inprocess("-p", PLUGIN, "-p", "no:cacheprovider", "--claims-json", "claims.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claims-json needs the lora-theory plugin enabled*"])


def test_registered_once_however_it_is_named(pytester):
    """Entry point, ``-p`` and a conftest's ``pytest_plugins`` all name the module: one registration, one table."""
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.eym\ndef test_one():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", PLUGIN, "--lora-theory", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*lora-theory claims*", "eym * passed *1 *"])
    assert result.stdout.str().count("lora-theory claims") == 1


def test_entry_point_is_named_after_the_module():
    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}
