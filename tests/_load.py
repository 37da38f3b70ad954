"""Load a property module from ``properties/`` by file path (it is not a package) under a private name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROPERTIES = Path(__file__).resolve().parents[1] / "properties"


def load_property_module(claim_id: str) -> ModuleType:
    path = PROPERTIES / f"test_{claim_id}.py"
    name = f"_meta_properties_{claim_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses with postponed annotations look their module up here
    spec.loader.exec_module(module)
    return module
