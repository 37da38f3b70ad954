"""The registry, properties/ and the pytest markers agree: one claim = one registry entry + one property file."""

from __future__ import annotations

import ast
from pathlib import Path

import sympy as sp

from lora_theory.claims import all_claims, threshold_models

PROPERTIES = Path(__file__).resolve().parents[2] / "lora_theory" / "properties"


def _marker_of(path: Path) -> str | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return ast.unparse(node.value).removeprefix("pytest.mark.")
    return None


def test_every_claim_has_a_property_file():
    missing = [c.id for c in all_claims() if not (PROPERTIES / c.property_file).is_file()]
    assert not missing, f"registry entries without properties/test_<id>.py: {missing}"


def test_every_property_file_has_a_claim_and_its_marker():
    ids = {c.id for c in all_claims()}
    for path in sorted(PROPERTIES.glob("test_*.py")):
        claim_id = path.stem.removeprefix("test_")
        assert claim_id in ids, f"{path.name} has no registry entry '{claim_id}'"
        assert _marker_of(path) == claim_id, f"{path.name} must set pytestmark = pytest.mark.{claim_id}"


def test_every_property_module_cites_the_paper():
    for path in sorted(PROPERTIES.glob("test_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert "arXiv 2310.17513 v3" in doc and path.stem.removeprefix("test_") in doc, path.name


def test_claims_are_complete_and_formulas_are_sympy():
    for c in all_claims():
        assert c.reference and c.statement and c.status, c.id
        assert c.formulas, f"{c.id} has no formula"
        for name, expr in c.formulas.items():
            assert isinstance(expr, sp.Basic), f"{c.id}.{name} is {type(expr).__name__}, not a sympy expression"


def test_status_is_honest_about_the_pdf():
    """Claims whose wording SPEC marks unconfirmed say so (SPEC §11)."""
    for cid in ("lemma1", "assumption_linear"):
        claim = next(c for c in all_claims() if c.id == cid)
        assert "not yet confirmed against the paper's PDF" in claim.status


def test_threshold_models_come_from_the_registry():
    models = threshold_models()
    assert models["linear"].id == "lemma1"
    assert isinstance(models["linear"].threshold.formula, sp.Basic)


def test_readme_lists_every_claim_and_its_add_a_claim_example_is_the_real_file():
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    for c in all_claims():
        assert f"| `{c.id}` |" in readme, f"README claims table lacks {c.id}"
    for rel in ("lora_theory/claims/eym.py", "lora_theory/properties/test_eym.py"):
        body = (root / rel).read_text(encoding="utf-8")
        assert f"```python\n# {rel}\n{body}```" in readme, f"README's example of {rel} differs from the file"
