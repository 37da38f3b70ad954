"""pytest plugin: claim markers, Hypothesis profiles, torch threads, and the end-of-run claims table.

Installing lora-theory installs this plugin (entry point ``pytest11``, named after this module, so ``-p
lora_theory.testing.plugin`` or ``pytest_plugins = ["lora_theory.testing.plugin"]`` register it once, not twice),
but it is inert — no markers, no profile change, no thread setting, no table — until enabled, by the ini option
``lora_theory = true`` or the flag ``--lora-theory``. It always adds only its options: ``--lora-theory``,
``--claims-json PATH``, ``--no-claims-table`` and the ini options ``lora_theory``, ``lora_theory_torch_threads``,
``lora_theory_ci_profile``.

Once enabled:

* every registered claim (:mod:`lora_theory.claims`: built-in, installed, or registered by your conftest) gets the
  marker of its id, so ``--strict-markers`` accepts ``pytest.mark.<id>``;
* the Hypothesis profiles ``dev``/``ci``/``deep`` are registered and ``dev`` loaded only if nobody chose a profile
  (see :mod:`lora_theory.testing.profiles`, which also explains why replacing ``ci`` is opt-in);
* ``lora_theory_torch_threads = N`` sets ``torch.set_num_threads(N)`` in each pytest process (restored at the end);
  unset, torch is left alone;
* a test belongs to a claim when it carries the claim's *marker* (``pytestmark = pytest.mark.lemma1``; keywords such
  as a parametrize id ``lemma1`` do not count). The records of the checks made inside it
  (:mod:`lora_theory.testing.assertions`) and its claim travel in ``report.user_properties``, so the table is right
  under pytest-xdist too (they include the off-generator examples and the typed refusals counted by
  ``refusal_allowed``). The table (:mod:`lora_theory.claims.report`) is printed at the end and, with
  ``--claims-json PATH``, written as ``{"profile": ..., "claims": [one row per registered claim]}``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lora_theory.claims import Claim
    from lora_theory.claims.report import ClaimSummary

# Installed as an entry point, this module is imported by every pytest run in an environment that has lora-theory,
# enabled or not: it imports only pytest and the standard library at module level (the registry pulls in sympy).

__all__ = ["is_enabled"]

_RECORD_KEY = "lora_theory"  # user_properties entry: the checks recorded during the call
_CLAIM_KEY = "lora_theory_claim"  # user_properties entry: the claim the test belongs to
_SESSION_PLUGIN = "lora-theory-session"
_TABLE_PLUGIN = "lora-theory-claims-table"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lora-theory")
    group.addoption("--lora-theory", action="store_true", default=False,
                    help="enable the lora-theory plugin (claim markers, Hypothesis profiles, claims table) for this "
                         "run; the ini option lora_theory = true enables it for every run")
    group.addoption("--claims-json", default=None, metavar="PATH",
                    help="write the claims table as JSON to PATH (needs the plugin enabled)")
    group.addoption("--no-claims-table", action="store_true", default=False,
                    help="do not print the claims table at the end (lora-theory verify prints its own)")
    parser.addini("lora_theory", type="bool", default=False,
                  help="enable the lora-theory plugin (claim markers, Hypothesis profiles, claims table)")
    parser.addini("lora_theory_torch_threads", type="string", default="",
                  help="lora-theory: torch.set_num_threads(N) in each pytest process (default: leave torch alone)")
    parser.addini("lora_theory_ci_profile", type="bool", default=False,
                  help="lora-theory: replace Hypothesis's 'ci' profile with lora-theory's extension of it")


def is_enabled(config: pytest.Config) -> bool:
    """Whether the plugin is enabled for this run (``--lora-theory`` or the ini option ``lora_theory``)."""
    return bool(config.getoption("--lora-theory") or config.getini("lora_theory"))


def _torch_threads(config: pytest.Config) -> int | None:
    text = str(config.getini("lora_theory_torch_threads")).strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise pytest.UsageError(f"ini option lora_theory_torch_threads must be a positive integer; got {text!r}")
    return threads


@pytest.hookimpl(tryfirst=True)  # before Hypothesis's plugin loads --hypothesis-profile, which may name our profile
def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--claims-json")
    if not is_enabled(config):
        if path:
            raise pytest.UsageError("--claims-json needs the lora-theory plugin enabled: pass --lora-theory or set "
                                    "the ini option lora_theory = true")
        return
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise pytest.UsageError(f"--claims-json {path!r}: its folder does not exist")
    threads = _torch_threads(config)
    session = LoraTheorySession(config, threads)
    session.start()
    config.pluginmanager.register(session, _SESSION_PLUGIN)
    if not hasattr(config, "workerinput"):  # the controller (or the only process) aggregates the reports
        config.pluginmanager.register(ClaimTable(config), _TABLE_PLUGIN)


def _claim_of(item: pytest.Item, claims: dict[str, Claim]) -> Claim | None:
    """The claim whose marker the item carries (the closest one, if several); keywords do not count. A renamed
    claim's old marker (``lora_theory.claims.RENAMED``) counts for the new claim."""
    from lora_theory.claims import RENAMED

    for m in item.iter_markers():
        name = m.name if m.name in claims else RENAMED.get(m.name)
        if name in claims:
            return claims[name]
    return None


def _claim_dict(claim: Claim) -> dict:
    return {"claim": claim.id, "number": claim.number, "pages": claim.pages, "reference": claim.reference,
            "statement": claim.statement, "status": claim.status}


class LoraTheorySession:
    """What the enabled plugin does in every pytest process (controller and xdist workers)."""

    def __init__(self, config: pytest.Config, threads: int | None) -> None:
        self.config = config
        self.threads = threads
        self.previous_threads: int | None = None
        self.previous_profile: str | None = None
        self.claims: dict[str, Claim] = {}  # the registered claims whose marker was added
        self._aliases: set[str] = set()  # renamed ids whose marker was added

    def start(self) -> None:
        from hypothesis.errors import InvalidArgument

        from lora_theory.testing import profiles

        before = profiles.current_profile_name()
        profiles.register_profiles(replace_ci=bool(self.config.getini("lora_theory_ci_profile")))
        try:
            chosen = self.config.getoption("hypothesis_profile")
        except ValueError:  # Hypothesis's pytest plugin not loaded
            chosen = None
        try:
            if profiles.load_default_profile(chosen_on_command_line=chosen) is not None:
                self.previous_profile = before
        except InvalidArgument as exc:
            raise pytest.UsageError(f"${profiles.ENV_VAR}: {exc}") from None
        self.sync_markers()
        if self.threads is not None:
            import torch

            self.previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def sync_markers(self) -> None:
        """Add the marker of every registered claim not yet added (claims registered by a conftest included)."""
        from lora_theory.claims import RENAMED, all_claims

        for claim in all_claims():
            if claim.id not in self.claims:
                self.config.addinivalue_line("markers", f"{claim.id}: {claim.reference} — {claim.statement}")
                self.claims[claim.id] = claim
        for old, new in RENAMED.items():  # old markers keep working (and counting) under --strict-markers
            if old not in self.claims and old not in self._aliases and new in self.claims:
                self.config.addinivalue_line("markers", f"{old}: deprecated alias of {new} (renamed to follow the "
                                                        "numbering of arXiv 2310.17513v3)")
                self._aliases.add(old)

    def pytest_plugin_registered(self, plugin: object) -> None:
        # a conftest module is registered as a plugin right after its import: claims it registered get their
        # marker before the test modules next to it are imported
        self.sync_markers()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.previous_threads is not None:
            import torch

            torch.set_num_threads(self.previous_threads)
        if self.previous_profile is not None:
            from hypothesis import settings

            settings.load_profile(self.previous_profile)

    def pytest_report_header(self, config: pytest.Config) -> str:
        threads = "left alone" if self.threads is None else str(self.threads)
        return f"lora-theory: {len(self.claims)} claims registered, torch threads {threads}"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        claim = _claim_of(item, self.claims)
        if claim is not None and not any(name == _CLAIM_KEY for name, _ in item.user_properties):
            item.user_properties.append((_CLAIM_KEY, _claim_dict(claim)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        if not any(name == _CLAIM_KEY for name, _ in item.user_properties):
            return (yield)
        from lora_theory.testing.assertions import recording

        with recording() as rec:
            try:
                return (yield)
            finally:
                item.user_properties.append((_RECORD_KEY, rec.as_dict()))


class ClaimTable:
    """Aggregates the per-test entries of ``report.user_properties`` into one :class:`ClaimSummary` per claim."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.summaries: dict[str, ClaimSummary] = {}

    def _summary(self, info: dict) -> ClaimSummary:
        from lora_theory.claims.report import ClaimSummary

        if info["claim"] not in self.summaries:  # a claim known to an xdist worker only (registered in a conftest
            self.summaries[info["claim"]] = ClaimSummary(**info)  # below the root) still gets its row
        return self.summaries[info["claim"]]

    def rows(self) -> list[dict]:
        """One row per registered claim (registry order), then any other claim a test reported."""
        from lora_theory.claims import all_claims

        for claim in all_claims():
            self._summary(_claim_dict(claim))
        order = [c.id for c in all_claims()]
        extra = [cid for cid in self.summaries if cid not in order]
        return [self.summaries[cid].as_dict() for cid in order + extra]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = next((value for name, value in report.user_properties if name == _CLAIM_KEY), None)
        if info is None:
            return
        s = self._summary(info)
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
            if name == _RECORD_KEY:
                s.add_record(value)

    def _profile(self) -> str:
        from lora_theory.testing.profiles import current_profile_name

        return current_profile_name()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from lora_theory.files import atomic_write_json

        rows = self.rows()
        path = self.config.getoption("--claims-json")
        if path:
            atomic_write_json(path, {"profile": self._profile(), "claims": rows}, indent=2)
        if any(not r["separation_ok"] for r in rows) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        from lora_theory.claims.report import NOT_RUN, SEPARATION_REQUIRED, format_claims_table

        rows = self.rows()
        if config.getoption("--no-claims-table") or all(r["result"] == NOT_RUN for r in rows):
            return
        terminalreporter.section(f"lora-theory claims (Hypothesis profile: {self._profile()})")
        terminalreporter.write_line(format_claims_table(rows))
        bad = [r["claim"] for r in rows if not r["separation_ok"]]
        if bad:
            terminalreporter.write_line(f"FAILED: separation ratio below {SEPARATION_REQUIRED:.0e} for "
                                        f"{', '.join(bad)}: the checks cannot tell exact from inexact reliably",
                                        red=True)
