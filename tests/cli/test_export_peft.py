"""``lora-theory export-peft``: a real checkpoint pair in, a PEFT adapter folder out that plain PEFT loads and that
computes the target; bad input exits with code 2 and one line naming the flag, file or key."""

from __future__ import annotations

import json

import pytest

peft = pytest.importorskip(
    "peft", exc_type=ImportError, reason="export-peft needs the optional extra: pip install 'lora-theory[peft]'")

import torch  # noqa: E402

from lora_theory.cli import main  # noqa: E402
from lora_theory.constructions.fnn import construct_fnn  # noqa: E402
from lora_theory.domains import Ball  # noqa: E402
from lora_theory.interop.checkpoints import fnn_state_dict, save_state_dict  # noqa: E402
from lora_theory.random_matrices import generator  # noqa: E402
from lora_theory.testing.instances import build_fnn_instance  # noqa: E402


@pytest.fixture
def pair(tmp_path):
    """D = 6, L = 4 → L̄ = 2 with designed block ranks (3, 2): threshold ⌈3/2⌉ = 2."""
    inst = build_fnn_instance(6, 4, 2, (3, 2), seed=11)
    a = save_state_dict(fnn_state_dict(inst.frozen), tmp_path / "A.safetensors")
    b = save_state_dict(fnn_state_dict(inst.target), tmp_path / "B.pt")
    return inst, str(a), str(b)


def _run(capsys, *argv):
    code = main(["export-peft", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _ball_inputs(D: int, radius: float) -> torch.Tensor:
    dom = Ball(D, radius)
    g = generator(42)
    return dom.evaluation_points(200, g)


def test_export_at_threshold_loads_with_plain_peft(pair, tmp_path, capsys):
    inst, a, b = pair
    out_dir = tmp_path / "adapter"
    code, out, err = _run(capsys, "--frozen", a, "--target", b, "--rank", 2, "--out", out_dir, "--radius", 2.0)
    assert code == 0, err
    assert "exact on the domain" in out and "disable_adapter exact: True" in out
    assert {"adapter_config.json", "adapter_model.safetensors", "lora_theory_export.json"} <= \
        {p.name for p in out_dir.iterdir()}
    meta = json.loads((out_dir / "lora_theory_export.json").read_text())
    assert meta["block_discrepancy_ranks"] == [3, 2] and meta["exact_in_theory"] is True and meta["rank"] == 2
    config = json.loads((out_dir / "adapter_config.json").read_text())
    assert config["lora_bias"] is True and all(config["alpha_pattern"][k] == r for k, r in
                                              config["rank_pattern"].items())
    model = peft.PeftModel.from_pretrained(inst.frozen.to_sequential(), str(out_dir))
    x = _ball_inputs(6, 2.0)
    tol = construct_fnn(inst.frozen, inst.target, 2, Ball(6, 2.0)).tolerance()
    with torch.no_grad():
        err = float(torch.linalg.vector_norm(model(x) - inst.target(x), dim=1).max())
    assert err <= tol.value, f"loaded adapter misses the target by {err:.3e} > {tol}"


def test_export_below_threshold_says_approximate(pair, tmp_path, capsys):
    inst, a, b = pair
    (tmp_path / "o").mkdir()  # an existing empty folder is allowed (and replaced by the published one)
    code, out, err = _run(capsys, "--frozen", a, "--target", b, "--rank", 1, "--out", tmp_path / "o")
    assert code == 0, err
    assert "approximate: R is below the Theorem 3 threshold" in out
    meta = json.loads((tmp_path / "o" / "lora_theory_export.json").read_text())
    assert meta["exact_in_theory"] is False and meta["block_spectral_errors"][0] > 0


def test_default_rank_is_the_advised_threshold(pair, tmp_path, capsys):
    """Without --rank the export uses the Theorem 3 threshold (designed block ranks (3, 2), M = 2: ⌈3/2⌉ = 2), says
    so, and records it; --json writes the same summary as the folder's lora_theory_export.json."""
    inst, a, b = pair
    js = tmp_path / "summary.json"
    code, out, err = _run(capsys, "--frozen", a, "--target", b, "--out", tmp_path / "o", "--json", js)
    assert code == 0, err
    assert "rank R=2: the advised rank, the Theorem 3 threshold (--rank overrides)" in out
    assert "exact on the domain" in out and f"wrote {js}" in out
    meta = json.loads((tmp_path / "o" / "lora_theory_export.json").read_text())
    assert (meta["rank"], meta["rank_source"], meta["advised_rank"], meta["theorem3_threshold"]) == (2, "advised", 2, 2)
    assert json.loads(js.read_text()) == meta
    code, out, err = _run(capsys, "--frozen", a, "--target", b, "--out", tmp_path / "o1", "--rank", 1)
    assert code == 0 and "rank R=1 (--rank; the Theorem 3 threshold is 2)" in out


@pytest.mark.parametrize("failure", [OSError("simulated: disk full"), RuntimeError("simulated crash")])
def test_failure_mid_write_leaves_no_folder(pair, tmp_path, capsys, monkeypatch, failure):
    """The adapter folder is published whole or not at all: when writing lora_theory_export.json fails (after PEFT
    wrote its files into the temporary folder), neither --out nor a temporary folder is left behind."""
    import lora_theory.files

    inst, a, b = pair

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(lora_theory.files, "atomic_write_json", broken)
    work = tmp_path / "work"
    work.mkdir()
    argv = ["export-peft", "--frozen", a, "--target", b, "--rank", 2, "--out", work / "adapter"]
    if isinstance(failure, OSError):
        code, out, err = _run(capsys, *argv[1:])
        assert code == 2 and "--out" in err and "nothing was saved" in err, err
        assert "saved PEFT adapter" not in out
    else:
        with pytest.raises(RuntimeError, match="simulated crash"):
            main([str(v) for v in argv])
    assert list(work.iterdir()) == [], f"left behind: {sorted(p.name for p in work.iterdir())}"


def _one_line_error(capsys, argv, pattern):
    code, out, err = _run(capsys, *argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert pattern in lines[0], lines[0]
    return lines[0]


def test_bad_flags(pair, tmp_path, capsys):
    inst, a, b = pair
    base = ["--frozen", a, "--target", b, "--out", tmp_path / "o"]
    _one_line_error(capsys, base + ["--rank", 0], "--rank must be in 1..6")
    _one_line_error(capsys, base + ["--rank", 7], "--rank must be in 1..6")
    _one_line_error(capsys, base + ["--rank", 1, "--radius", -1], "radius")
    _one_line_error(capsys, ["--frozen", a, "--target", b, "--rank", 1], "--out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    _one_line_error(capsys, ["--frozen", a, "--target", b, "--rank", 1, "--out", tmp_path / "full"], "is not empty")
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_bad_checkpoints(pair, tmp_path, capsys):
    inst, a, b = pair
    out = ["--rank", 1, "--out", tmp_path / "o"]
    _one_line_error(capsys, ["--frozen", b, "--target", a] + out, "DepthError: --target")  # swapped: deeper target
    sd = fnn_state_dict(inst.frozen)
    del sd["4.weight"]
    missing = save_state_dict(sd, tmp_path / "missing.pt")
    _one_line_error(capsys, ["--frozen", missing, "--target", b] + out, "missing keys ['4.weight']")
    sd = fnn_state_dict(inst.frozen) | {"head.weight": torch.zeros(2, 6, dtype=torch.float64)}
    extra = save_state_dict(sd, tmp_path / "extra.pt")
    _one_line_error(capsys, ["--frozen", extra, "--target", b] + out, "unexpected keys ['head.weight']")
    sd = fnn_state_dict(inst.frozen) | {"2.bias": torch.zeros(5, dtype=torch.float64)}
    shape = save_state_dict(sd, tmp_path / "shape.pt")
    _one_line_error(capsys, ["--frozen", shape, "--target", b] + out, "'2.bias' has shape (5,)")
    sd = {k: (v * 100).to(torch.int32) for k, v in fnn_state_dict(inst.frozen).items()}
    ints = save_state_dict(sd, tmp_path / "ints.pt")
    _one_line_error(capsys, ["--frozen", ints, "--target", b] + out, "'0.weight' has dtype torch.int32")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((tmp_path / "A.safetensors").read_bytes()[:100])
    _one_line_error(capsys, ["--frozen", broken, "--target", b] + out, "not a valid safetensors file")
    _one_line_error(capsys, ["--frozen", tmp_path / "none.pt", "--target", b] + out, "no such file")
    assert not (tmp_path / "o").exists(), "a failed export must not leave a folder behind"


def test_float32_checkpoints_export_exactly(tmp_path, capsys):
    """Most real checkpoints are float32: the export runs in float32, reports the designed ranks (storage rounding
    is not rank), is exact within the float32 tolerance, and saves float32 adapter tensors."""
    inst = build_fnn_instance(6, 4, 2, (3, 2), seed=11)
    a = save_state_dict({k: v.float() for k, v in fnn_state_dict(inst.frozen).items()}, tmp_path / "A.safetensors")
    b = save_state_dict({k: v.float() for k, v in fnn_state_dict(inst.target).items()}, tmp_path / "B.safetensors")
    code, out, err = _run(capsys, "--frozen", a, "--target", b, "--rank", 2, "--out", tmp_path / "o")
    assert code == 0, err
    assert "exact on the domain" in out
    meta = json.loads((tmp_path / "o" / "lora_theory_export.json").read_text())
    assert meta["dtype"] == "float32" and meta["block_discrepancy_ranks"] == [3, 2]
    assert meta["round_trip"]["peft_vs_target"] <= meta["round_trip"]["tolerance"]
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "o" / "adapter_model.safetensors"))
    assert tensors and all(t.dtype == torch.float32 for t in tensors.values())
