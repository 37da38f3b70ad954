"""lora-theory: executable theorems for the expressive power of LoRA (Zeng & Lee, ICLR 2024, arXiv 2310.17513v3).

The curated public API is listed in ``__all__``. Importing the package is cheap: the error classes are imported
eagerly (:mod:`lora_theory.errors` imports nothing), everything else (models, constructions, domains, which need
torch and sympy) is imported on first use through a module-level ``__getattr__`` (PEP 562). Plotting and PEFT
interop stay optional extras, imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from lora_theory.errors import (
    AssumptionViolated,
    DepthError,
    DomainError,
    DTypeError,
    FileFormatError,
    LoRATheoryError,
    ModelMismatchError,
    NonFiniteError,
    OptionalDependencyError,
    PartitionError,
    RankError,
    ShapeError,
    SingularityError,
    StateDictError,
    UnknownClaimError,
)

try:
    __version__: str = _distribution_version("lora-theory")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

#: public name → the module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "LoRAPair": "lora_theory.adapters",
    "LinearChain": "lora_theory.models",
    "ReLUFNN": "lora_theory.models",
    "TFN": "lora_theory.models",
    "TFNBlock": "lora_theory.models",
    "Ball": "lora_theory.domains",
    "Box": "lora_theory.domains",
    "LinearConstruction": "lora_theory.constructions.linear",
    "construct_linear": "lora_theory.constructions.linear",
    "FNNConstruction": "lora_theory.constructions.fnn",
    "construct_fnn": "lora_theory.constructions.fnn",
    "TFNConstruction": "lora_theory.constructions.tfn",
    "construct_tfn": "lora_theory.constructions.tfn",
    "construct_tfn_single_head": "lora_theory.constructions.tfn",
    "tfn_gaps": "lora_theory.constructions.tfn",
}

__all__ = [
    "LoRAPair", "LinearChain", "LinearConstruction", "construct_linear",
    "ReLUFNN", "Ball", "Box", "FNNConstruction", "construct_fnn",
    "TFN", "TFNBlock", "TFNConstruction", "construct_tfn", "construct_tfn_single_head",
    "tfn_gaps",
    "LoRATheoryError", "ShapeError", "DTypeError", "NonFiniteError", "RankError", "DepthError", "PartitionError",
    "DomainError", "FileFormatError", "StateDictError", "ModelMismatchError", "OptionalDependencyError",
    "UnknownClaimError", "AssumptionViolated", "SingularityError",
    "__version__",
]


def __getattr__(name: str) -> object:
    """Resolve a lazy public name (or a subpackage such as ``lora_theory.claims``) on first access."""
    module_name = _LAZY.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value  # later accesses skip this hook
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
