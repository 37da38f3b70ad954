"""Hypothesis profiles of the suite: ``dev`` (default), ``ci`` and ``deep``.

* ``dev`` — quick local runs.
* ``ci`` — extends Hypothesis's built-in ``ci`` profile (derandomized, no example database, ``print_blob``), which
  Hypothesis auto-loads when a CI environment variable is set; we re-register it with our example count and load it
  in the same situation, so CI stays deterministic.
* ``deep`` — thousands of examples and the ``target`` phase, so ``hypothesis.target(error / bound)`` in the
  properties steers the search toward the worst margins. In ``dev`` and ``ci`` the target phase is off (``target``
  calls are then inert).

Select with ``pytest --hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``. All profiles: ``deadline=None``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

__all__ = ["PROFILES", "register_profiles", "default_profile_name", "load_default_profile"]

PROFILES = ("dev", "ci", "deep")
_NO_TARGET = tuple(p for p in Phase if p is not Phase.target)
_registered = False


def _in_ci() -> bool:
    try:  # Hypothesis's own detection, so we agree with its auto-loading
        from hypothesis._settings import is_in_ci
        return bool(is_in_ci())
    except ImportError:  # pragma: no cover - older/newer Hypothesis
        return "CI" in os.environ


def register_profiles() -> None:
    """Register ``dev``, ``ci`` (parent: Hypothesis's built-in ``ci``) and ``deep``; idempotent."""
    global _registered
    if _registered:
        return
    builtin_ci = settings.get_profile("ci")
    settings.register_profile("dev", max_examples=20, deadline=None, phases=_NO_TARGET, print_blob=True)
    settings.register_profile("ci", parent=builtin_ci, max_examples=50, deadline=None, phases=_NO_TARGET,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("deep", max_examples=2000, deadline=None, phases=tuple(Phase), print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    _registered = True


def default_profile_name() -> str:
    """``$HYPOTHESIS_PROFILE`` if set, else ``ci`` on CI, else ``dev``."""
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci() else "dev")


def load_default_profile() -> str:
    register_profiles()
    name = default_profile_name()
    settings.load_profile(name)
    return name
