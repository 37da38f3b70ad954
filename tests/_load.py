"""Helpers for the meta-tests: load a property module from ``properties/`` by path (it is not a package) under a
private name, and run a property without shrinking to see whether it fails."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROPERTIES = Path(__file__).resolve().parents[1] / "lora_theory" / "properties"


def load_property_module(claim_id: str) -> ModuleType:
    path = PROPERTIES / f"test_{claim_id}.py"
    name = f"_meta_properties_{claim_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses with postponed annotations look their module up here
    spec.loader.exec_module(module)
    return module


def quick(prop):
    """The property with the current profile's example count but no shrinking and no database (only the verdict
    matters when a mutant is being hunted)."""
    from hypothesis import Phase, settings
    return settings(settings.default, phases=(Phase.explicit, Phase.reuse, Phase.generate), database=None)(prop)


def failure_messages(exc: BaseException) -> list[str]:
    """The messages of an exception, flattening Hypothesis's ExceptionGroup of distinct failures."""
    subs = getattr(exc, "exceptions", None)
    return [m for e in subs for m in failure_messages(e)] if subs else [str(exc)]


def fails(prop) -> str:
    """Run ``prop`` quickly; it must raise (AssertionError or a group of them). Returns the joined messages."""
    import pytest
    with pytest.raises(Exception) as info:
        quick(prop)()
    return "\n".join(failure_messages(info.value))
