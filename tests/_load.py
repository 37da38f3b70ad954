"""Helpers for the meta-tests: load a property module of ``lora_theory/properties/`` by path (that folder is not a
package) under a private name, fetch a helper it defines, and run a property quickly (no shrinking, no database)
when only its verdict matters."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROPERTIES = Path(__file__).resolve().parents[1] / "lora_theory" / "properties"
#: prefix under which property-module copies are registered in sys.modules
PROPERTY_PREFIX = "_meta_properties_"


def load_property_module(claim_id: str) -> ModuleType:
    """A fresh copy of ``properties/test_<claim_id>.py``, registered as ``_meta_properties_<claim_id>`` (replacing
    an earlier copy)."""
    path = PROPERTIES / f"test_{claim_id}.py"
    name = f"{PROPERTY_PREFIX}{claim_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses with postponed annotations look their module up here
    spec.loader.exec_module(module)
    return module


def property_helper(claim_id: str, name: str):
    """A module-level helper of a property module (e.g. a deliberately wrong scheme a mutant reuses), taken from the
    copy already loaded — the one a mutant hunt is running — or from a fresh copy."""
    module = sys.modules.get(f"{PROPERTY_PREFIX}{claim_id}") or load_property_module(claim_id)
    return getattr(module, name)


def quick(prop):
    """The property with the current profile's example count but no shrinking and no database (only the verdict
    matters when a mutant is being hunted)."""
    from hypothesis import Phase, settings
    return settings(settings.default, phases=(Phase.explicit, Phase.reuse, Phase.generate), database=None)(prop)
