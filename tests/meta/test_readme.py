"""The README's Python examples run as printed (the front door stays true)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_the_python_examples():
    blocks = python_blocks()
    assert len(blocks) >= 2 and "construct_linear" in blocks[0] and "to_peft" in blocks[1]


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    """Both blocks in one namespace (the second continues the first); the PEFT one needs the extra."""
    pytest.importorskip(
        "peft", exc_type=ImportError, reason="the README's PEFT example needs the optional extra lora-theory[peft]")
    monkeypatch.chdir(tmp_path)  # the example saves an adapter folder
    namespace: dict = {}
    for i, block in enumerate(python_blocks()[:2]):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "disable_adapter exact: True" in out and "save/load exact: True" in out
    assert (tmp_path / "tfn_adapter" / "biases" / "adapter_config.json").is_file()


def test_ci_runs_the_readme_commands():
    """CI (.ci/run → ci/gate) and the adopters' workflow use the README's install and test commands verbatim."""
    root = README.parent
    readme = README.read_text(encoding="utf-8")
    install = re.search(r"^(pip install -e \"[^\"]+\")", readme, re.M).group(1)
    assert install == 'pip install -e ".[test,peft]"'
    assert f"python -m {install}" in (root / ".ci" / "run").read_text(encoding="utf-8")
    assert install in (root / "ci" / "github-workflow.yml").read_text(encoding="utf-8")
    gate = (root / "ci" / "gate").read_text(encoding="utf-8")
    assert "lora-theory verify" in gate and "pytest -n auto" in gate
    assert "bash ci/gate" in (root / ".ci" / "run").read_text(encoding="utf-8")
