"""The claims registry is light: loading it imports the core and :mod:`lora_theory.formulas` only (issue: every sympy
expression a claim shows lives in ``formulas``; claim modules never import construction, analysis or certificate
code, and no torch: `lora-theory threshold`/`claims` and their help are symbolic)."""

from __future__ import annotations

import ast
import subprocess
import sys

HEAVY = ("constructions", "analysis", "exact", "testing", "interop", "experiments", "cli", "properties")


def test_claims_registry_imports_only_the_core():
    code = ("import sys, lora_theory.claims as c; c.all_claims(); "
            "assert 'torch' not in sys.modules, 'the registry imported torch'; "
            "print(sorted(m for m in sys.modules if m.startswith('lora_theory.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    bad = [m for m in loaded if m.split(".")[1] in HEAVY]
    assert not bad, f"loading the claims registry imported {bad}"
    assert "lora_theory.formulas" in loaded and any(m.startswith("lora_theory.claims.") for m in loaded), loaded
