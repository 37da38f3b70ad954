"""The built-in claims, their modules, properties/ and docs/claims.md agree: one claim = one module of
``lora_theory.claims`` + one ``properties/test_<id>.py`` + one row of the claims table in the docs.

Only the built-in claims are compared (:func:`lora_theory.claims.builtin_claims`): claims that installed packages
or a conftest register are not this repository's and never enter these checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sympy as sp

from lora_theory.claims import all_claims, builtin_claims, get_claim, register, threshold_models
from lora_theory.errors import DomainError, UnknownClaimError

ROOT = Path(__file__).resolve().parents[2]
PROPERTIES = ROOT / "lora_theory" / "properties"
CLAIMS = ROOT / "lora_theory" / "claims"


def _marker_of(path: Path) -> str | None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return ast.unparse(node.value).removeprefix("pytest.mark.")
    return None


def _ids_defined_in(path: Path) -> list[str]:
    """The literal ``id=`` of every ``Claim(...)`` call in a module."""
    return [kw.value.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Claim"
            for kw in node.keywords if kw.arg == "id" and isinstance(kw.value, ast.Constant)]


def _builtin_ids() -> list[str]:
    return [c.id for c in builtin_claims()]


def test_each_claim_module_defines_the_claim_of_its_name():
    modules = sorted(p.stem for p in CLAIMS.glob("*.py") if p.stem not in ("__init__", "report"))
    assert modules == _builtin_ids()
    for name in modules:
        assert _ids_defined_in(CLAIMS / f"{name}.py") == [name], f"claims/{name}.py must define Claim(id={name!r})"


def test_builtin_claims_come_first_in_the_registry():
    ids = [c.id for c in all_claims()]
    assert ids[:len(_builtin_ids())] == _builtin_ids()


def test_every_claim_has_a_property_file():
    missing = [c.id for c in builtin_claims() if not (PROPERTIES / c.property_file).is_file()]
    assert not missing, f"registry entries without properties/test_<id>.py: {missing}"


def test_every_property_file_has_a_claim_and_its_marker():
    ids = set(_builtin_ids())
    for path in sorted(PROPERTIES.glob("test_*.py")):
        claim_id = path.stem.removeprefix("test_")
        assert claim_id in ids, f"{path.name} has no built-in claim '{claim_id}'"
        assert _marker_of(path) == claim_id, f"{path.name} must set pytestmark = pytest.mark.{claim_id}"


def test_every_property_module_cites_the_paper():
    for path in sorted(PROPERTIES.glob("test_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert "arXiv 2310.17513v3" in doc and path.stem.removeprefix("test_") in doc, path.name


def test_claims_are_complete_and_formulas_are_sympy():
    for c in builtin_claims():
        assert c.reference and c.statement and c.status, c.id
        assert c.formulas, f"{c.id} has no formula"
        for name, expr in c.formulas.items():
            assert isinstance(expr, sp.Basic), f"{c.id}.{name} is {type(expr).__name__}, not a sympy expression"


def test_status_is_honest_about_the_pdf():
    """Claims whose wording is not yet confirmed against the paper's PDF say so (docs/claims.md)."""
    for cid in ("lemma1", "assumption_linear"):
        assert "not yet confirmed against the paper's PDF" in get_claim(cid).status


def test_threshold_models_come_from_the_registry():
    models = threshold_models()
    assert models["linear"].id == "lemma1"
    assert isinstance(models["linear"].threshold.formula, sp.Basic)


def test_docs_claims_table_lists_exactly_the_builtin_claims():
    text = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")]
    assert sorted(rows) == sorted(_builtin_ids()), "docs/claims.md's table and the built-in claims differ"


def test_register_refuses_a_clash_with_a_builtin_id_and_bad_input():
    eym = get_claim("eym")
    assert register(eym) is eym  # the identical object again: a no-op
    clash = type(eym)(id="eym", reference="elsewhere", statement="s", status="s")
    with pytest.raises(DomainError, match="'eym' is already registered"):
        register(clash)
    with pytest.raises(DomainError, match="Python identifier"):
        register(type(eym)(id="not an id", reference="r", statement="s", status="s"))
    with pytest.raises(DomainError, match="takes a Claim"):
        register("eym")
    with pytest.raises(UnknownClaimError, match="unknown claim id 'nope'; known: abstract_threshold, "):
        get_claim("nope")
