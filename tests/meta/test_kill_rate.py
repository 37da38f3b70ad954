"""The kill-rate gate: every registered mutant (``tests/meta/mutants.py``, the one registry) must be killed.

* ``test_mutant_is_killed[<name>]`` — one test per mutant (independent, so ``pytest -n`` spreads them); a mutant
  with a documented ``gap`` is marked ``xfail(strict=True)``: the suite stays green while the gap is visible, and
  the day a property starts killing it the XPASS fails the run so the registry is updated.
* ``test_blind_properties_survive[<name>]`` — the properties a mutant documents as blind to it do pass on it (the
  reason in its description stays true, so its other killers are really needed).
* ``test_kill_rate`` — runs every mutant, prints the table (mutant, killing properties, message excerpt; shown
  with ``-rA`` or ``-s``), writes it to ``$LORA_THEORY_KILL_REPORT`` when that names a path, and asserts the killed
  mutants are exactly the ones without a documented gap (100 % when there is none).
* ``test_listed_properties_pass_unmutated[<claim>]`` — the control: every listed property passes on the real
  library, so the kills are the mutants' doing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .mutants import MUTANTS, format_table, hunt, killer_module, run_property


def _param(mutant):
    marks = [pytest.mark.xfail(strict=True, reason=f"known gap: {mutant.gap}")] if mutant.gap else []
    return pytest.param(mutant, id=mutant.name, marks=marks)


@pytest.mark.parametrize("mutant", [_param(m) for m in MUTANTS])
def test_mutant_is_killed(mutant, monkeypatch):
    verdict = hunt(mutant, monkeypatch)
    assert verdict.killed, f"mutant survived:\n{verdict.summary()}"


@pytest.mark.parametrize("mutant", [pytest.param(m, id=m.name) for m in MUTANTS if m.blind])
def test_blind_properties_survive(mutant, monkeypatch):
    verdict = hunt(mutant, monkeypatch, mutant.blind)
    assert all(a.outcome == "survived" for a in verdict.attempts), (
        f"a property documented as blind to the mutant did not pass on it:\n{verdict.summary()}")


def test_kill_rate():
    verdicts = []
    for mutant in MUTANTS:
        with pytest.MonkeyPatch.context() as mp:
            verdicts.append(hunt(mutant, mp))
    table = format_table(verdicts)
    expected = [m.name for m in MUTANTS if m.gap is None]
    table += f"\nexpected: {len(expected)}/{len(MUTANTS)} (mutants without a documented gap)"
    print(table)
    report = os.environ.get("LORA_THEORY_KILL_REPORT")
    if report:
        Path(report).write_text(table + "\n", encoding="utf-8")
    killed = [v.mutant.name for v in verdicts if v.killed]
    assert killed == expected, f"killed {killed}, expected exactly {expected}\n{table}"


def _props(mutant):
    return mutant.killers + mutant.blind


_CLAIMS = sorted({p.claim for m in MUTANTS for p in _props(m)})


@pytest.mark.parametrize("claim", _CLAIMS, ids=lambda claim: f"properties_of_{claim}")
def test_listed_properties_pass_unmutated(claim):
    module = killer_module(claim)
    calls = sorted({(p.function, p.args) for m in MUTANTS for p in _props(m) if p.claim == claim})
    for name, args in calls:
        outcome, message = run_property(getattr(module, name), args)
        assert outcome == "survived", f"{claim}::{name}{list(args)} fails unmutated ({outcome}): {message[:500]}"


def test_registry_is_well_formed():
    """Unique names, a description, at least one listed property, and every listed property exists."""
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    modules = {claim: killer_module(claim) for claim in _CLAIMS}
    for m in MUTANTS:
        assert m.description and m.killers and callable(m.apply), m.name
        for p in _props(m):
            assert callable(getattr(modules[p.claim], p.function, None)), f"{m.name}: no property {p.label}"
