"""Packaging promises: a light core import."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    """`import lora_theory` must not import matplotlib or peft (heavy extras are lazy)."""
    code = ("import sys, lora_theory, lora_theory.claims; lora_theory.claims.all_claims(); "
            "print(sorted(m for m in ('matplotlib', 'peft', 'pytest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
