"""The front door and the docs stay true: their examples run, their references exist, CI installs what they say.

* Every ```python block of README.md and of each docs/*.md page runs, in order, in one fresh namespace per file
  (blocks that are listings rather than examples are fenced ```py, ```text, ```bash, …).
* docs/claims.md has the registry's row (reference, statement, status) of every built-in claim;
  docs/contributing.md shows the real files of the worked example; docs/architecture.md lists every module of the
  package, and nothing that does not exist.
* `.ci/run` and the adopters' workflow run the README's install commands; relative links resolve; no user doc cites
  the private draft specification or carries acceptance history.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lora_theory.claims import builtin_claims

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOC_PAGES = sorted([README, *DOCS.glob("*.md")])
OPTIONAL_MODULES = ("peft", "matplotlib", "safetensors", "transformers")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def python_blocks(path: Path) -> list[str]:
    """The runnable examples of a page: the bodies of its ```python fences, in order."""
    return re.findall(r"^```python\n(.*?)^```", _read(path), re.S | re.M)


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def _imported_top_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            if node.module == "lora_theory.interop" or node.module.startswith("lora_theory.interop.peft"):
                names.add("peft")
    return names


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_readme_is_a_short_front_door():
    lines = _read(README).splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; reference material belongs in docs/"
    assert python_blocks(README), "README.md should show one short Python example"


@pytest.mark.parametrize("page", [p for p in DOC_PAGES if python_blocks(p)], ids=_rel)
def test_python_examples_run(page, tmp_path, monkeypatch, capsys):
    """All ```python blocks of one page, in order, in one fresh namespace (later blocks continue earlier ones)."""
    blocks = python_blocks(page)
    needed = set().union(*(_imported_top_modules(b) for b in blocks))
    for name in sorted(needed & set(OPTIONAL_MODULES)):
        pytest.importorskip(name, reason=f"{_rel(page)}'s examples need the optional extra providing {name}",
                            exc_type=ImportError)
    monkeypatch.chdir(tmp_path)  # examples may write files (adapters, checkpoints)
    namespace: dict = {"__name__": f"docs_example_{page.stem}"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"{_rel(page)} python block {i}", "exec"), namespace)
    capsys.readouterr()


def test_the_pages_with_examples_are_the_expected_ones():
    """A page's examples can silently stop running if their fence changes: these must keep some."""
    with_examples = {_rel(p) for p in DOC_PAGES if python_blocks(p)}
    assert {"README.md", "docs/numerics.md", "docs/gate.md"} <= with_examples, with_examples


def _claim_row(claim) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")
    paper = f"{claim.number}, {claim.pages}" if claim.number else "—"
    return f"| `{claim.id}` | {cell(paper)} | {cell(claim.statement)} | {cell(claim.status)} |"


def test_claims_page_has_the_registry_row_of_every_builtin_claim():
    page = _read(DOCS / "claims.md")
    missing = [c.id for c in builtin_claims() if f"\n| `{c.id}` |" not in page]
    assert not missing, f"docs/claims.md has no table row for {missing}"
    stale = [_claim_row(c) for c in builtin_claims() if f"\n{_claim_row(c)}\n" not in page]
    assert not stale, "docs/claims.md's rows differ from the registry; the registry's rows are:\n" + "\n".join(stale)
    listed = re.findall(r"^\| `(\w+)` \|", page, re.M)
    unknown = sorted(set(listed) - {c.id for c in builtin_claims()})
    assert not unknown, f"docs/claims.md lists claims that are not registered: {unknown}"


def test_contributing_shows_the_real_add_a_claim_files():
    page = _read(DOCS / "contributing.md")
    listings = _fenced(page, "py")
    for rel in ("lora_theory/claims/eym.py", "lora_theory/properties/test_eym.py"):
        body = _read(ROOT / rel)
        assert f"# {rel}\n{body}" in listings, f"docs/contributing.md's listing of {rel} differs from the file"


def test_contributing_shows_how_to_extend_from_another_repository():
    page = _read(DOCS / "contributing.md")
    toml = "\n".join(_fenced(page, "toml"))
    assert '[project.entry-points."lora_theory.claims"]' in toml
    assert "[tool.pytest.ini_options]\nlora_theory = true" in toml
    assert "--lora-theory" in page


def _architecture_tree() -> set[str]:
    """The module paths the package tree of docs/architecture.md lists (two spaces of indent per level)."""
    block = next(b for b in _fenced(_read(DOCS / "architecture.md"), "text") if b.startswith("lora_theory/"))
    stack: list[str] = []
    paths = set()
    for line in block.splitlines():
        name = line.strip().split(" ", 1)[0]
        depth = (len(line) - len(line.lstrip(" "))) // 2
        if not name or (depth == 0 and name != "lora_theory/"):
            if depth == 0:
                break
            continue
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        elif name.endswith(".py") and "<" not in name:
            paths.add("/".join([*stack, name]))
    return paths


def test_architecture_lists_every_module():
    real = {_rel(p) for p in (ROOT / "lora_theory").rglob("*.py")}
    claim_ids = {c.id for c in builtin_claims()}
    real = {p for p in real  # a package's __init__.py needs a line only when it holds more than a docstring
            if not p.startswith("lora_theory/properties/")
            and not (p.startswith("lora_theory/claims/") and Path(p).stem in claim_ids)
            and not (p.endswith("/__init__.py") and not ast.parse(_read(ROOT / p)).body[1:])}
    listed = _architecture_tree()
    assert not real - listed, f"docs/architecture.md's tree lacks {sorted(real - listed)}"
    assert not listed - real, f"docs/architecture.md's tree lists modules that do not exist: {sorted(listed - real)}"


def _install_commands(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for block in _fenced(text, "bash") for line in block.splitlines()
            if line.strip().startswith("pip install")]


def test_ci_follows_the_readme_install():
    readme = _read(README)
    install = _install_commands(readme)
    torch_cmd = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    assert install == [torch_cmd, 'pip install -e ".[test]"'], install
    assert 'git clone <repo-url> lora-theory && cd lora-theory' in readme
    assert '".[test,peft]"' in readme, "the README should say which extras CI installs"

    ci_run = _read(ROOT / ".ci" / "run")
    assert f"python -m {torch_cmd}" in ci_run
    assert 'python -m pip install -e ".[test,peft]"' in ci_run
    assert ci_run.index("ruff check .") < ci_run.index("bash ci/gate"), "the linter runs before the gate"

    workflow = _read(ROOT / "ci" / "github-workflow.yml")
    assert torch_cmd in workflow and 'pip install -e ".[test,peft]"' in workflow
    assert "ruff check ." in workflow and "bash ci/gate" in workflow

    gate = _read(ROOT / "ci" / "gate")
    assert "lora-theory verify" in gate and "pytest -n auto" in gate
    two_commands = _fenced(readme, "bash")[1]
    assert "lora-theory verify" in two_commands and "pytest -n auto" in two_commands


def test_relative_links_resolve():
    broken = []
    for page in DOC_PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _read(page)):
            if re.match(r"[a-z]+:", target):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{_rel(page)} → {target}")
    assert not broken, f"links to missing files: {broken}"


def test_user_docs_cite_the_paper_not_the_draft_and_carry_no_acceptance_history():
    files = [*DOC_PAGES, DOCS / "make_gallery.py", ROOT / ".ci" / "run", *sorted((ROOT / "ci").iterdir()),
             *sorted((ROOT / "benchmarks").glob("*.py")), *sorted((ROOT / "lora_theory").rglob("*.py")),
             *sorted((ROOT / "tests").rglob("*.py")), ROOT / "pyproject.toml", ROOT / "conftest.py"]
    # the private draft's name, spelled so that this file does not cite it either (a repository-wide grep stays empty)
    cites = [_rel(p) for p in files if re.search(r"\bS[P]EC\b", _read(p))]
    assert not cites, f"cite the paper by its own numbering and page (or a docs/ page), not the private draft: {cites}"
    history = [(_rel(p), m) for p in DOC_PAGES for m in re.findall(r"not met|issue's|target ≤", _read(p))]
    assert not history, f"user docs state measured facts, not acceptance history: {history}"
