"""The built-in claims, their modules, properties/ and docs/claims.md agree: one claim = one module of
``lora_theory.claims`` + one ``properties/test_<id>.py`` + one row of the claims table in the docs.

Only the built-in claims are compared (:func:`lora_theory.claims.builtin_claims`): claims that installed packages
or a conftest register are not this repository's and never enter these checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sympy as sp

from lora_theory.claims import (
    RENAMED,
    all_claims,
    builtin_claims,
    get_claim,
    register,
    renamed_notice,
    threshold_models,
)
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
    assert modules == sorted(_builtin_ids())
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


#: built-in claims that are not a result of the paper (no number, no page)
OUTSIDE_THE_PAPER = {"eym"}


def test_every_status_says_what_was_checked_against_which_page():
    """The v3 PDF is transcribed (the paper's statements with pages): no status may defer to it any more, and every
    claim of the paper names its number and page, which its reference repeats."""
    for c in builtin_claims():
        assert "not yet confirmed" not in c.status, f"{c.id}: {c.status}"
        if c.id in OUTSIDE_THE_PAPER:
            assert not c.number and not c.pages, c.id
            continue
        assert c.number and c.pages, f"{c.id} has no paper number/page"
        assert re.search(r"\bpp?\. \d", c.pages), f"{c.id}: pages {c.pages!r}"
        assert re.search(r"\b(v3|p\.|pp\.)", c.status), f"{c.id}: the status names no page: {c.status}"
        first = c.number.split(" (")[0].split(";")[0]
        assert first.lower() in c.reference.lower(), f"{c.id}: reference {c.reference!r} lacks {first!r}"


def test_builtin_claims_follow_the_paper_and_old_ids_resolve():
    pages = [c.pages for c in builtin_claims()]
    firsts = [int(re.search(r"\d+", p).group()) if p else 10**6 for p in pages]
    assert firsts == sorted(firsts)
    for old, new in RENAMED.items():
        with pytest.warns(DeprecationWarning, match=f"renamed '{new}'"):
            assert get_claim(old).id == new
    assert get_claim("lemma2").number == "Lemma 2" and get_claim("lemma3").number == "Lemma 3"
    assert "now names the paper's Lemma 2" in renamed_notice("lemma2")


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


#: every formal result of arXiv 2310.17513v3 that the package checks, by the paper's own number (transcribed from
#: the PDF: Sec. 2–4 and App. C–H). Lemma 7 and Lemma 9 are the detailed versions of Lemma 1 and Lemma 2 and are
#: checked under those claims; Lemma 5 is a cited measure-theory fact (Caron & Traynor 2005); Theorems 1 and 2 are
#: the informal statements of the introduction.
PAPER_RESULTS = (
    "Lemma 1", "Lemma 2", "Assumption 1", "Lemma 3", "Theorem 3", "Corollary 4", "Theorem 5", "Theorem 6",
    "Lemma 4", "Lemma 6", "Lemma 8", "Lemma 10", "Lemma 11", "Lemma 12", "Assumption 2", "Assumption 4", "Lemma 14",
    "Assumption 3", "Lemma 13",
    "Theorem 7", "Theorem 8", "Corollary 9", "Corollary 10", "Appendix H",
)


def test_every_numbered_result_of_the_paper_has_a_claim():
    numbers = {c.number for c in builtin_claims()}
    missing = [n for n in PAPER_RESULTS if n not in numbers]
    assert not missing, f"no claim carries the paper's number {missing}"
    assert "Lemma 7" in get_claim("lemma1").pages and "Lemma 9" in get_claim("lemma2").pages
