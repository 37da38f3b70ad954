"""``lora-theory certify`` (lora_theory.cli.certify), called through ``run`` on a Namespace parsed by a parser set
up here with ``add_arguments`` (tests/cli/test_cli.py checks the wiring into ``lora_theory.cli.main``).

Contract: exit 0 when the exact verdict is what the theory says (equal iff R ≥ threshold, so also *below* the
threshold), 1 when it is not, 2 with one line on stderr for an exactly singular matrix; bad arguments raise
lora_theory errors with a one-line message naming the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

import lora_theory.exact.linear as exact
from lora_theory.cli.certify import MAX_DEPTH, MAX_HEADS, MAX_WIDTH, add_arguments, run
from lora_theory.errors import DepthError, DomainError, LoRATheoryError, RankError


class _RaisingParser(argparse.ArgumentParser):
    """Like the CLI's parser: a parse error raises instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = _RaisingParser(prog="lora-theory certify")
    add_arguments(p)
    return p


def certify(parser, argv: str, capsys) -> tuple[int, list[str], str]:
    rc = run(parser.parse_args(argv.split()))
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def field(lines: list[str], name: str) -> str:
    """The value of ``name=…`` on the sizes line."""
    sizes = next(line for line in lines if line.startswith("sizes: "))
    return sizes.split(f" {name}=", 1)[1].split(" ")[0]


# ----------------------------------------------------------------------------------------- at / below the threshold

# (argv, threshold): full-rank discrepancies, so the threshold is ≥ 2 and R = 1 lies below it
CASES = {
    "linear": ("--model linear --width 4 --depth 2", 2),
    "fnn": ("--model fnn --width 4 --depth 2 --target-depth 1", 2),
    "tfn": ("--model tfn --width 4 --depth 1 --heads 2", 2),
}


@pytest.mark.parametrize("model", list(CASES))
def test_at_threshold_equal(parser, capsys, model):
    argv, threshold = CASES[model]
    rc, lines, err = certify(parser, argv, capsys)
    assert rc == 0, "\n".join(lines) + err
    assert err == ""
    assert lines[0] == "verdict: equal"
    assert field(lines, "threshold") == str(threshold)
    assert field(lines, "R") == str(threshold)  # --rank omitted: R = the exact threshold
    assert field(lines, "model") == model
    assert any(line.startswith("theory: ") and "the certificate agrees" in line for line in lines)
    summary = next(line for line in lines if line.startswith("certificate: "))
    assert "(equal)" in summary
    assert len(lines) == 4


@pytest.mark.parametrize("model", list(CASES))
def test_below_threshold_not_equal_is_still_exit_0(parser, capsys, model):
    argv, threshold = CASES[model]
    rc, lines, err = certify(parser, argv + " --rank 1", capsys)
    assert rc == 0, "\n".join(lines) + err  # not equal below the threshold is what the theory says
    assert err == ""
    assert lines[0] == "verdict: not equal"
    assert field(lines, "R") == "1" and field(lines, "threshold") == str(threshold)
    assert "R=1 < 2 ⇒ not equal" in lines[2] and "the certificate agrees" in lines[2]
    assert "(not equal)" in lines[3]


def test_linear_sizes_show_ranks_and_exact_discrepancy_rank(parser, capsys):
    rc, lines, _ = certify(parser, "--model linear --width 3 --depth 3 --discrepancy-rank 2 --seed 1", capsys)
    assert rc == 0 and lines[0] == "verdict: equal"
    assert field(lines, "K") == "2" and field(lines, "L") == "3"
    assert field(lines, "rank(E)") == "2" and field(lines, "threshold") == "1"
    assert "ranks=[1, 1, 1]" in lines[1]


def test_fnn_per_block_ranks(parser, capsys):
    rc, lines, _ = certify(parser, "--model fnn --width 3 --depth 4 --target-depth 2 --discrepancy-rank 3,1",
                           capsys)
    assert rc == 0 and lines[0] == "verdict: equal"
    assert "K=[3, 1]" in lines[1] and "rank(E_i)=[3, 1]" in lines[1] and "M=2" in lines[1]
    assert field(lines, "threshold") == "2"


def test_fnn_above_threshold_and_zero_discrepancy(parser, capsys):
    rc, lines, _ = certify(parser, "--model fnn --width 2 --depth 2 --target-depth 2 --discrepancy-rank 0", capsys)
    assert rc == 0 and lines[0] == "verdict: equal"
    assert field(lines, "threshold") == "0" and field(lines, "R") == "1"  # R = max(1, threshold)
    rc, lines, _ = certify(parser, "--model fnn --width 3 --depth 2 --discrepancy-rank 2 --rank 3", capsys)
    assert rc == 0 and lines[0] == "verdict: equal" and field(lines, "R") == "3"


def test_tfn_low_gap_target(parser, capsys):
    rc, lines, _ = certify(parser, "--model tfn --width 4 --depth 1 --discrepancy-rank 1", capsys)
    assert rc == 0 and lines[0] == "verdict: equal"
    assert field(lines, "target") == "low-gap" and field(lines, "H") == "1"  # --heads defaults to 1
    assert field(lines, "threshold") == "1"


def test_json_has_the_verdict_and_the_sizes(parser, capsys, tmp_path):
    path = tmp_path / "certify.json"
    rc, lines, _ = certify(parser, f"--model fnn --width 3 --depth 4 --target-depth 2 --discrepancy-rank 3,1 "
                                   f"--rank 1 --json {path}", capsys)
    assert rc == 0 and lines[0] == "verdict: not equal"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["verdict"] == "not equal" and doc["expected"] == "not equal" and doc["agrees"] is True
    assert doc["rank"] == 1 and doc["rank_given"] is True and doc["threshold"] == 2 and doc["exit_code"] == 0
    assert doc["sizes"] == {"model": "fnn", "width": 3, "depth": 4, "target_depth": 2, "M": 2, "partition": [2, 2],
                            "discrepancy_ranks": [3, 1], "rank_E_i": [3, 1], "box": "[-1, 1]^3"}
    assert doc["certificate"] == lines[3].removeprefix("certificate: ")


def test_json_of_a_singular_instance(parser, capsys, tmp_path):
    path = tmp_path / "certify.json"
    rc, _, _ = certify(parser, f"--model linear --width 2 --depth 2 --rank 1 --seed 0 --json {path}", capsys)
    assert rc == 2
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["verdict"] == "singular" and "exactly singular" in doc["error"] and doc["exit_code"] == 2


# ---------------------------------------------------------------------------------------------- exit codes 1 and 2


def test_singular_prefix_exits_2_with_one_line(parser, capsys):
    # seed 0: the adapted prefix W_1 + B_1 A_1 is exactly singular (found by search; the hypothesis fails)
    rc, lines, err = certify(parser, "--model linear --width 2 --depth 2 --rank 1 --seed 0", capsys)
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("lora-theory certify: SingularityError: ") and "exactly singular" in err
    assert "--seed 0" in err
    assert not any(line.startswith("verdict:") for line in lines)  # no verdict when the hypothesis fails


def test_disagreement_exits_1(parser, capsys, monkeypatch):
    real = exact.certify_linear

    def never_equal(*a, **k):
        return dataclasses.replace(real(*a, **k), equal=False)

    monkeypatch.setattr(exact, "certify_linear", never_equal)
    rc, lines, _ = certify(parser, CASES["linear"][0], capsys)
    assert rc == 1
    assert lines[0] == "verdict: not equal" and "DISAGREES" in lines[2]


# ---------------------------------------------------------------------------------------------------- bad arguments

BAD = [
    ("--model linear --width 0 --depth 2", DomainError, "--width"),
    (f"--model linear --width {MAX_WIDTH + 1} --depth 2", DomainError, "--width"),
    (f"--model fnn --width {MAX_WIDTH + 1} --depth 2", DomainError, "--width"),
    ("--model linear --width 2 --depth 0", DepthError, "--depth"),
    (f"--model tfn --width 2 --depth {MAX_DEPTH + 1}", DepthError, "--depth"),
    ("--model fnn --width 2 --depth 2 --target-depth 3", DepthError, "--target-depth"),
    ("--model fnn --width 2 --depth 2 --target-depth 0", DepthError, "--target-depth"),
    ("--model tfn --width 2 --depth 2 --target-depth 1", DepthError, "--target-depth"),
    ("--model linear --width 2 --depth 2 --target-depth 1", DomainError, "--target-depth"),
    ("--model cnn --width 2 --depth 2", DomainError, "--model"),
    ("--model linear --width 2 --depth 2 --heads 2", DomainError, "--heads"),
    ("--model fnn --width 2 --depth 2 --heads 1", DomainError, "--heads"),
    ("--model tfn --width 2 --depth 1 --heads 0", DomainError, "--heads"),
    (f"--model tfn --width 2 --depth 1 --heads {MAX_HEADS + 1}", DomainError, "--heads"),
    ("--model linear --width 2 --depth 2 --rank 0", RankError, "--rank"),
    ("--model tfn --width 2 --depth 1 --rank 3", RankError, "--rank"),
    ("--model linear --width 2 --depth 2 --discrepancy-rank 3", RankError, "--discrepancy-rank"),
    ("--model fnn --width 2 --depth 2 --discrepancy-rank -1", RankError, "--discrepancy-rank"),
    ("--model fnn --width 2 --depth 3 --target-depth 2 --discrepancy-rank 1,1,1", RankError, "--discrepancy-rank"),
    ("--model linear --width 2 --depth 2 --discrepancy-rank 1,1", RankError, "--discrepancy-rank"),
]


@pytest.mark.parametrize(("argv", "error", "flag"), BAD, ids=[a for a, _, _ in BAD])
def test_bad_arguments_raise_typed_one_line_errors(parser, capsys, argv, error, flag):
    args = parser.parse_args(argv.split())  # the parser accepts them; run refuses
    with pytest.raises(error) as info:
        run(args)
    assert isinstance(info.value, LoRATheoryError)  # cli.main turns these into exit code 2
    message = str(info.value)
    assert flag in message and "\n" not in message, message
    assert capsys.readouterr().out == ""  # nothing printed before the refusal


def test_unknown_model_names_the_choices(parser):
    with pytest.raises(DomainError, match=r"--model must be one of linear, fnn, tfn; got 'cnn'"):
        run(parser.parse_args("--model cnn --width 2 --depth 2".split()))


def test_parser_rejects_non_integers_and_missing_flags(parser):
    with pytest.raises(ValueError, match="--width"):
        parser.parse_args("--model linear --width two --depth 2".split())
    with pytest.raises(ValueError, match="--discrepancy-rank"):
        parser.parse_args("--model fnn --width 2 --depth 2 --discrepancy-rank 1;2".split())
    with pytest.raises(ValueError, match="--model"):
        parser.parse_args("--width 2 --depth 2".split())


def test_hand_built_namespace_with_wrong_types():
    args = argparse.Namespace(model="linear", width="4", depth=2, target_depth=None, heads=None, rank=None,
                              discrepancy_rank=None, seed=0)
    with pytest.raises(DomainError, match="--width must be an integer"):
        run(args)
    args = argparse.Namespace(model="linear", width=4, depth=2, rank=True)
    with pytest.raises(RankError, match="--rank"):
        run(args)
