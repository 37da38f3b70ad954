"""lora-theory: executable theorems for the expressive power of LoRA (Zeng & Lee, ICLR 2024, arXiv 2310.17513 v3).

Light core: importing the package imports torch, sympy and numpy only; plotting and PEFT interop are lazy extras.
"""

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.fnn import FNNConstruction, construct_fnn
from lora_theory.constructions.linear import LinearConstruction, construct_linear
from lora_theory.constructions.tfn import TFNConstruction, construct_tfn, tfn_gaps
from lora_theory.domains import Ball, Box
from lora_theory.errors import (
                     AssumptionViolated,
                     DepthError,
                     DomainError,
                     DTypeError,
                     FileFormatError,
                     LoRATheoryError,
                     NonFiniteError,
                     PartitionError,
                     RankError,
                     ShapeError,
                     SingularityError,
                     UnknownClaimError,
)
from lora_theory.models import TFN, LinearChain, ReLUFNN, TFNBlock

__version__ = "0.1.0"

__all__ = [
    "LoRAPair", "LinearChain", "LinearConstruction", "construct_linear",
    "ReLUFNN", "Ball", "Box", "FNNConstruction", "construct_fnn",
    "TFN", "TFNBlock", "TFNConstruction", "construct_tfn", "tfn_gaps",
    "LoRATheoryError", "ShapeError", "DTypeError", "NonFiniteError", "RankError", "DepthError", "PartitionError",
    "DomainError", "FileFormatError", "UnknownClaimError", "AssumptionViolated", "SingularityError",
    "__version__",
]
