"""``lora-theory verify`` end to end, on small property folders written here (``--properties DIR``).

What is checked: the rows shown (the claims asked for, all otherwise), the exit code for passed / FAILED /
skipped / not-run claims, the JSON, that pytest runs in the user's folder and writes nothing into the properties
folder (no ``__pycache__``, no cache), and that the pytest command needs no configuration file.

The no-write check runs on a copy of one of the package's property files rather than on ``lora_theory/properties``
itself: other test processes (xdist workers, tests/_load.py) may import the package's property files at the same
time, and their bytecode would make a before/after listing of that folder flaky.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import lora_theory
from lora_theory.cli import main
from lora_theory.cli.verify import PROPERTIES, pytest_command

PASSING = '''
import pytest

pytestmark = pytest.mark.lemma3


def test_sum_of_ranks():
    assert 1 + 2 == 3
'''

SKIPPED = '''
import pytest

pytestmark = pytest.mark.lemma1


def test_needs_a_gpu():
    pytest.skip("no GPU here")
'''

FAILING = '''
import pytest

pytestmark = pytest.mark.eym


def test_wrong():
    assert 1 + 1 == 3, "1 + 1 is not 3"
'''


def listing(folder: Path) -> list[tuple[str, int]]:
    """Every file and folder under ``folder`` (``__pycache__`` included) with its size."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))


def properties(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "props"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"test_{name}.py").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    """The user's current folder (not the repository, not the properties folder)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def verify(argv: list[str], capfd) -> tuple[int, list[str]]:
    rc = main(["verify", "--profile", "dev", *argv])
    out, err = capfd.readouterr()
    return rc, out.splitlines()


def final_line(lines: list[str]) -> str:
    return [line for line in lines if line.strip()][-1]


def test_default_properties_are_the_package_folder():
    assert PROPERTIES == Path(lora_theory.__file__).resolve().parent / "properties"
    assert (PROPERTIES / "test_lemma1.py").is_file()


def test_pytest_command_is_explicit():
    """Every option is on the command line, so no pyproject.toml has to be found and nothing is cached."""
    cmd = pytest_command(Path("props"), Path("out.json"), claims=["lemma1", "eym"], workers="2")
    for option in (["-p", "no:cacheprovider"], ["-p", "lora_theory.testing.plugin"], ["--lora-theory"],
                   ["--claims-json", "out.json"], ["--no-claims-table"], ["-o", "lora_theory_torch_threads=1"],
                   ["-o", "addopts="], ["--strict-markers"], ["-ra"], ["-n", "2"], ["-m", "lemma1 or eym"]):
        assert any(cmd[i:i + len(option)] == option for i in range(len(cmd))), (option, cmd)


def test_copied_property_file_writes_nothing_into_its_folder(tmp_path, user_dir, capfd):
    """A real property file (assumption_linear, quick) in a folder of its own: after verify, the folder's listing
    (``__pycache__`` included) is unchanged; the JSON is the shown row; the example database is in the user's
    folder."""
    props = tmp_path / "props"
    props.mkdir()
    shutil.copy(PROPERTIES / "test_assumption_linear.py", props)
    before = listing(props)
    report = user_dir / "verify.json"
    rc, lines = verify(["--properties", str(props), "--claim", "assumption_linear", "--json", str(report)], capfd)
    assert rc == 0, "\n".join(lines)
    assert listing(props) == before, "verify wrote into the properties folder"
    assert final_line(lines) == "lora-theory verify: 1 claim, all passed (Hypothesis profile dev)"
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert [r["claim"] for r in doc["claims"]] == ["assumption_linear"]
    assert doc["claims"][0]["result"] == "passed" and doc["exit_code"] == 0 and doc["profile"] == "dev"
    assert not (user_dir / ".pytest_cache").exists() and not (user_dir / ".benchmarks").exists()
    assert (user_dir / ".hypothesis").is_dir()  # Hypothesis's database goes to the user's folder, as under pytest


def test_full_run_lists_unchecked_claims_without_failing(tmp_path, user_dir, capfd):
    """No --claim: every registered claim is shown; those without a test here are listed as not checked (their
    properties may live elsewhere) and do not fail the run, since a claim did pass."""
    from lora_theory.claims import all_claims

    props = properties(tmp_path, lemma3=PASSING, lemma1=SKIPPED)
    report = user_dir / "all.json"
    rc, lines = verify(["--properties", str(props), "--json", str(report)], capfd)
    assert rc == 0, "\n".join(lines)
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert [r["claim"] for r in doc["claims"]] == [c.id for c in all_claims()]
    assert doc["claims_asked"] is None and "lemma1" in doc["not_checked"] and "lemma3" not in doc["not_checked"]
    assert any(line.startswith("not checked") and "do not fail a full run" in line for line in lines), lines


def test_asked_claims_only_and_not_checked_fails(tmp_path, user_dir, capfd):
    """--claim: only the claims asked for are shown; one that was not checked (all skipped, or no test) fails."""
    props = properties(tmp_path, lemma3=PASSING, lemma1=SKIPPED)
    rc, lines = verify(["--properties", str(props), "--claim", "lemma1", "--claim", "theorem3", "--claim", "lemma3"],
                       capfd)
    assert rc == 1, "\n".join(lines)  # never reported as verified
    rows = [line for line in lines if line[:1].isalpha() and line.split()[0] in {"lemma1", "lemma3", "theorem3"}]
    assert [row.split()[:2] for row in rows] == [["lemma1", "skipped"], ["lemma3", "passed"]], lines
    assert "not run (1 of the 3 claims listed): theorem3" in lines  # the table's line for claims with no test
    note = next(line for line in lines if line.startswith("not checked"))
    assert "lemma1 (skipped)" in note and "theorem3 (not run)" in note and "verify fails" in note
    assert final_line(lines) == ("lora-theory verify: 3 claims, 1 passed, 2 not checked (lemma1, theorem3) "
                                 "(Hypothesis profile dev)")


def test_failed_claim_exits_1(tmp_path, user_dir, capfd):
    props = properties(tmp_path, eym=FAILING)
    rc, lines = verify(["--properties", str(props), "--claim", "eym"], capfd)
    assert rc == 1
    assert any(line.startswith("eym") and " FAILED " in line for line in lines), lines
    assert final_line(lines).startswith("lora-theory verify: 1 claim, 0 passed, 1 FAILED (eym)")


def test_empty_folder_verifies_nothing(tmp_path, user_dir, capfd):
    props = properties(tmp_path)
    rc, lines = verify(["--properties", str(props)], capfd)
    assert rc == 1
    assert "no claim was checked by this run: nothing is verified" in lines


OLD_MARKER = '''
import pytest

pytestmark = pytest.mark.hetero_ranks


def test_still_marked_with_the_old_id():
    assert 2 + 2 == 4
'''


def test_a_renamed_id_runs_the_new_claim_with_a_notice(tmp_path, user_dir, capfd):
    """``--claim hetero_ranks`` (renamed ``lemma8``): one notice on stderr, the row is ``lemma8``, and a property
    file still marked with the old id is selected and counted."""
    props = properties(tmp_path, lemma8=OLD_MARKER)
    rc = main(["verify", "--profile", "dev", "--properties", str(props), "--claim", "hetero_ranks"])
    out, err = capfd.readouterr()
    assert rc == 0, out + err
    assert err.count("deprecated") == 1 and "renamed 'lemma8'" in err
    rows = [line.split()[:3] for line in out.splitlines() if line.startswith("lemma8 ")]
    assert rows == [["lemma8", "passed", "1"]], out


def test_the_reused_id_lemma2_says_what_it_names_now(tmp_path, user_dir, capfd):
    props = properties(tmp_path, lemma3=PASSING)
    rc = main(["verify", "--profile", "dev", "--properties", str(props), "--claim", "lemma2"])
    err = capfd.readouterr().err
    assert rc == 1  # the paper's Lemma 2 has no test in this folder: not checked
    assert "now names the paper's Lemma 2" in err and "'lemma3'" in err
