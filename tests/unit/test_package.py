"""Packaging promises: a light core import, a fast ``--help``, and a curated, lazily resolved public API."""

from __future__ import annotations

import inspect
import subprocess
import sys
from importlib.metadata import version

import pytest

import lora_theory
import lora_theory.errors


def imported_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter and return which of ``modules`` it imported."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # a printed list of str


def test_import_is_light():
    """`import lora_theory` (and the CLI, the checkpoint reader, the rank command and the interop package) must not
    import matplotlib or peft (heavy extras are lazy)."""
    code = ("import lora_theory, lora_theory.claims; lora_theory.claims.all_claims()\n"
            "import lora_theory.cli, lora_theory.interop.checkpoints, lora_theory.cli.rank\n"
            "import lora_theory.cli.export_peft, lora_theory.interop\n"
            "lora_theory.cli._build_parser()")
    assert imported_after(code, ("matplotlib", "peft", "pytest")) == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_do_not_import_torch_or_sympy(argv):
    code = (f"import contextlib, io, lora_theory.cli\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert lora_theory.cli.main({argv!r}) == 0")
    assert imported_after(code, ("torch", "sympy", "numpy", "hypothesis", "matplotlib", "peft")) == []


def test_bare_import_does_not_import_torch():
    assert imported_after("import lora_theory", ("torch", "sympy")) == []


def test_inert_pytest_plugin_import_is_light():
    """The plugin is an installed pytest11 entry point: every pytest run in an environment with lora-theory imports
    it, enabled or not, so importing it must not pull in torch or sympy (the claims registry does)."""
    assert imported_after("import lora_theory.testing.plugin", ("torch", "sympy", "lora_theory.claims")) == []


def test_version_comes_from_the_package_metadata():
    assert lora_theory.__version__ == version("lora-theory")


def test_every_error_class_is_exported():
    classes = {name for name, obj in vars(lora_theory.errors).items()
               if inspect.isclass(obj) and issubclass(obj, lora_theory.errors.LoRATheoryError)}
    assert classes == set(lora_theory.errors.__all__)
    missing = classes - set(lora_theory.__all__)
    assert not missing, f"lora_theory.__all__ lacks {sorted(missing)}"
    for name in classes:
        assert getattr(lora_theory, name) is getattr(lora_theory.errors, name)


def test_public_names_resolve_lazily():
    for name in lora_theory.__all__:
        assert getattr(lora_theory, name) is not None, name
    assert set(lora_theory.__all__) <= set(dir(lora_theory))
    from lora_theory.constructions.linear import construct_linear
    assert lora_theory.construct_linear is construct_linear
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        lora_theory.no_such_name  # noqa: B018
