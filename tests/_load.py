"""Load a property module from ``properties/`` by file path (it is not a package) under a private name."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

PROPERTIES = Path(__file__).resolve().parents[1] / "properties"


def load_property_module(claim_id: str) -> ModuleType:
    path = PROPERTIES / f"test_{claim_id}.py"
    spec = importlib.util.spec_from_file_location(f"_meta_properties_{claim_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
