import sympy as sp

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

register(Claim(id="eym", reference="Eckart–Young–Mirsky (used in arXiv 2310.17513 v3, Lemma 1)",
               statement="best rank-r approximation error is σ_{r+1} (spectral)", status="textbook",
               formulas={"error": F.sigma(sp.Symbol("r", integer=True, nonnegative=True) + 1)}))
