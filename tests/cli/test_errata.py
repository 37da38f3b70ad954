"""``lora-theory errata`` (called in-process through ``lora_theory.cli.main``), and docs/errata.md, which is its
``--markdown`` output and must not drift from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lora_theory.cli import main

ROOT = Path(__file__).resolve().parents[2]
IDS = ("c1_frobenius_trace", "lemma2_bound", "theorem5_beta", "theorem6_beta", "appendix_h_floor",
       "assumption2_product", "theorem3_proof_index", "corollary4_ceiling", "lemma12_hypothesis",
       "lemma4_region_step", "theorem8_typography", "tfn_output_softmax")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def markdown() -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["errata", "--markdown"]) == 0
    return buf.getvalue()


def test_errata_lists_every_slip_with_pages_and_both_numbers(capsys):
    rc, out, err = run(["errata"], capsys)
    assert rc == 0 and err == ""
    for erratum_id in IDS:
        assert f"\n{erratum_id} — " in "\n" + out, erratum_id
    assert "App. C.1, p. 19" in out and "Appendix H, p. 46" in out
    # Lemma 2: printed √6 ≈ 2.449 vs provable 6, achieved 4 (closed forms, written here)
    assert "printed bound ‖Σ‖_F·σ²_{RL+1}(E) = 2.449" in out
    assert "provable bound tr Σ·σ²_{RL+1}(E) = 6" in out
    assert "construction's E‖f(x) − f̄(x)‖₂² = 4" in out
    assert out.count("does not refute:") == len(IDS)


def test_errata_one_id_and_latex(capsys):
    rc, out, err = run(["errata", "--id", "appendix_h_floor", "--latex"], capsys)
    assert rc == 0 and err == ""
    assert out.startswith("appendix_h_floor — ") and "lemma2_bound" not in out
    assert r"R \geq \left\lfloor{\frac{\bar{D}}{L}}\right\rfloor" in out
    assert r"R \geq \left\lceil{\frac{\bar{D}}{L}}\right\rceil" in out
    rc, out, _ = run(["errata", "--id", "corollary4_ceiling"], capsys)
    assert rc == 0 and "R >= D/floor(L/Lbar)" in out and "R >= ceiling(D/floor(L/Lbar))" in out


def test_errata_json(tmp_path, capsys):
    path = tmp_path / "errata.json"
    rc, out, err = run(["errata", "--id", "lemma2_bound", "--json", str(path)], capsys)
    assert rc == 0 and err == "" and out
    doc = json.loads(path.read_text(encoding="utf-8"))
    (entry,) = doc["errata"]
    assert entry["id"] == "lemma2_bound" and entry["pages"].startswith("p. 5")
    assert entry["printed"]["text"] == "Esq_err <= Sigma_F*sigma(L*R + 1)**2"
    inst = entry["instance"]
    assert inst["printed_holds"] is False and inst["corrected_holds"] is True
    assert abs(inst["achieved"]["value"] - 4.0) < 1e-9 * 4  # Σ_{i>RL}σ_i² = 4: rounding only
    assert [q["text"] for q in (inst["printed"], inst["corrected"])] == ["2.449", "6"]


@pytest.mark.parametrize("argv, needle", [
    (["errata", "--id", "lemma3_bound"], "unknown erratum 'lemma3_bound'"),
    (["errata", "--id", ""], "--id"),
    (["errata", "--latex", "--markdown"], "not allowed with"),
    (["errata", "--bogus"], "unrecognized arguments"),
])
def test_errata_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2 and out == ""
    assert needle in one_line(err)


def test_errata_json_into_a_folder_is_refused_before_any_work(tmp_path, capsys):
    rc, out, err = run(["errata", "--json", str(tmp_path)], capsys)
    assert rc == 2 and out == ""
    assert "--json" in one_line(err)


def test_docs_errata_is_the_generated_page(markdown):
    committed = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")
    assert committed == markdown, ("docs/errata.md differs from `lora-theory errata --markdown`; regenerate it with "
                                   "`lora-theory errata --markdown > docs/errata.md`")


def test_markdown_page_structure(markdown):
    assert markdown.startswith("# Errata: where arXiv 2310.17513v3 slips\n")
    for erratum_id in IDS:
        assert f"| `{erratum_id}` |" in markdown and f"\n## {erratum_id}: " in markdown
