"""Packaging promises: a light core import."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    """`import lora_theory` (and the CLI, the checkpoint reader, the rank command and the interop package) must not
    import matplotlib or peft (heavy extras are lazy)."""
    code = ("import sys, lora_theory, lora_theory.claims; lora_theory.claims.all_claims(); "
            "import lora_theory.cli, lora_theory.interop.checkpoints, lora_theory.cli.rank, lora_theory.cli.export_peft, "
            "lora_theory.interop; lora_theory.cli._build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'peft', 'pytest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
