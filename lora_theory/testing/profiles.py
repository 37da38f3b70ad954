"""Hypothesis profiles of the claims' properties: ``dev``, ``ci`` and ``deep``.

* ``dev`` — quick local runs (20 examples, no deadline); the default.
* ``ci`` — Hypothesis's built-in ``ci`` profile (derandomized, no example database, ``print_blob``; Hypothesis loads
  it by itself when it detects a CI environment) extended with our example count (50) and no deadline.
* ``deep`` — thousands of examples and the ``target`` phase, so ``hypothesis.target(error / bound)`` in the
  properties steers the search toward the worst margins. In ``dev`` and ``ci`` the target phase is off (``target``
  calls are then inert).

Nothing happens at import. The pytest plugin (:mod:`lora_theory.testing.plugin`), once enabled, calls
:func:`register_profiles` and :func:`load_default_profile` from its ``pytest_configure`` (before Hypothesis's own
plugin reads ``--hypothesis-profile``, so ``--hypothesis-profile=deep`` works):

* a profile your repository registered under one of our names (``dev``, ``deep``) is yours: it is not overwritten
  (a later session in the same process still recognises the profiles *we* registered, by identity);
* our default is loaded only when nobody chose a profile: no ``--hypothesis-profile``, no ``HYPOTHESIS_PROFILE``
  environment variable (which loads the profile it names), and the profile in force is still Hypothesis's
  ``default`` — then ``dev`` is loaded. A profile your conftest loaded stays in force.

Why replacing ``ci`` is opt-in (ini option ``lora_theory_ci_profile = true``, which this repository sets): on CI,
Hypothesis loads its built-in ``ci`` at import, and a repository may replace ``ci`` with its own — before our
``pytest_configure`` runs, and possibly before this module is even imported (a conftest's ``pytest_plugins``). No
public Hypothesis API tells the built-in ``ci`` settings object from a replacement, and guessing by comparing values
would tie us to one Hypothesis version. So by default we leave ``ci`` alone: on CI the profile in force is
Hypothesis's (or yours), never silently replaced, and there is no ``ci`` of ours. With the option set, we re-register
``ci`` as an extension of the ``ci`` found at that moment (Hypothesis's, or yours); when ``ci`` is the profile in
force (on CI), the extension takes effect at once, and ``--hypothesis-profile=ci`` selects it anywhere.

Select with ``pytest --hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``. All our profiles: ``deadline=None``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import InvalidArgument

__all__ = ["PROFILES", "ENV_VAR", "register_profiles", "load_default_profile", "current_profile_name"]

PROFILES = ("dev", "ci", "deep")
ENV_VAR = "HYPOTHESIS_PROFILE"
_NO_TARGET = tuple(p for p in Phase if p is not Phase.target)
_OURS: dict[str, settings] = {}  # profile name -> the settings object this module registered under it


def _registered(name: str) -> settings | None:
    try:
        return settings.get_profile(name)
    except InvalidArgument:
        return None


def _is_ours(name: str) -> bool:
    existing = _registered(name)
    return existing is not None and existing is _OURS.get(name)


def _register(name: str, profile: settings) -> None:
    settings.register_profile(name, profile)  # a parent without keyword arguments is stored as is
    _OURS[name] = profile


def register_profiles(*, replace_ci: bool = False) -> list[str]:
    """Register ``dev`` and ``deep`` unless a profile of that name exists that we did not register; with
    ``replace_ci``, also ``ci`` (extending the ``ci`` registered now). Returns the names that are ours afterwards."""
    ours = []
    definitions = {
        "dev": dict(max_examples=20, deadline=None, phases=_NO_TARGET, print_blob=True),
        "deep": dict(max_examples=2000, deadline=None, phases=tuple(Phase), print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow]),
    }
    for name, kwargs in definitions.items():
        if _registered(name) is None:
            _register(name, settings(**kwargs))
        if _is_ours(name):
            ours.append(name)
    if replace_ci:
        if not _is_ours("ci"):
            parent = _registered("ci")  # Hypothesis's built-in, or the one your repository registered
            _register("ci", settings(parent=parent, max_examples=50, deadline=None, phases=_NO_TARGET,
                                     suppress_health_check=[HealthCheck.too_slow]))
        ours.append("ci")
    return sorted(ours, key=PROFILES.index)


def current_profile_name() -> str:
    """The name of the Hypothesis profile in force."""
    return settings.get_current_profile_name()


def load_default_profile(*, chosen_on_command_line: str | None = None) -> str | None:
    """Load our default profile if nobody chose one; return the name loaded, or ``None`` when we left it alone.

    ``chosen_on_command_line`` is the value of ``--hypothesis-profile`` (Hypothesis's plugin loads it, after us).
    ``$HYPOTHESIS_PROFILE`` names the profile to load; raises ``hypothesis.errors.InvalidArgument`` if it is not
    registered. Otherwise ``dev`` (if it is ours) replaces Hypothesis's ``default``; any other profile in force —
    loaded by your conftest, or Hypothesis's ``ci`` on CI — stays.
    """
    if chosen_on_command_line:
        return None
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        settings.get_profile(from_env)  # raises first: load_profile would record an unknown name as current
        settings.load_profile(from_env)
        return from_env
    if current_profile_name() == "default" and _is_ours("dev"):
        settings.load_profile("dev")
        return "dev"
    return None
