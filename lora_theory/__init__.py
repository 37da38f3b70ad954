"""lora-theory: executable theorems for the expressive power of LoRA (Zeng & Lee, ICLR 2024, arXiv 2310.17513 v3).

Light core: importing the package imports torch, sympy and numpy only; plotting and PEFT interop are lazy extras.
"""

from .adapters import LoRAPair
from .constructions.linear import LinearConstruction, construct_linear
from .errors import (AssumptionViolated, DepthError, DomainError, DTypeError, FileFormatError, LoRATheoryError,
                     NonFiniteError, PartitionError, RankError, ShapeError, SingularityError, UnknownClaimError)
from .models import LinearChain

__version__ = "0.1.0"

__all__ = [
    "LoRAPair", "LinearChain", "LinearConstruction", "construct_linear",
    "LoRATheoryError", "ShapeError", "DTypeError", "NonFiniteError", "RankError", "DepthError", "PartitionError",
    "DomainError", "FileFormatError", "UnknownClaimError", "AssumptionViolated", "SingularityError",
    "__version__",
]
