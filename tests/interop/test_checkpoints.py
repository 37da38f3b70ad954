"""Checkpoint reading (lora_theory.interop.checkpoints): exact save/load round trips, and every malformed file or state
dict raising a typed error that names the file and the key."""

from __future__ import annotations

import os
import re

import pytest
import torch

from lora_theory.errors import DepthError, DTypeError, FileFormatError, NonFiniteError, ShapeError, StateDictError
from lora_theory.interop.checkpoints import (
    fnn_from_state_dict,
    fnn_keys,
    fnn_state_dict,
    load_fnn,
    load_fnn_pair,
    load_state_dict,
    save_state_dict,
)
from lora_theory.testing.instances import build_fnn_instance

SUFFIXES = [".pt", pytest.param(".safetensors", id="safetensors")]


def _needs_safetensors(suffix: str) -> None:
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason='needs the optional extra: pip install "lora-theory[safetensors]"')


@pytest.fixture
def net():
    return build_fnn_instance(4, 3, 1, (2,), seed=5, final_relu=False).frozen


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_is_exact(net, tmp_path, suffix):
    _needs_safetensors(suffix)
    path = save_state_dict(fnn_state_dict(net), tmp_path / f"m{suffix}")
    back = load_fnn(path, final_relu=False)
    assert back.depth == net.depth and back.final_relu is False
    assert all(torch.equal(a, b) for a, b in zip(back.weights + back.biases, net.weights + net.biases))


def test_layout_is_the_sequential_state_dict(net):
    """The documented layout is what nn.Sequential(Linear, ReLU, …).state_dict() gives."""
    sd = net.to_sequential().state_dict()
    assert list(sd) == fnn_keys(net.depth) == list(fnn_state_dict(net))
    back = fnn_from_state_dict(sd, final_relu=False)
    assert all(torch.equal(a, b) for a, b in zip(back.weights, net.weights))


def _state(net):
    return {k: v.clone() for k, v in fnn_state_dict(net).items()}


def test_missing_key_is_named(net):
    sd = _state(net)
    del sd["2.bias"]
    with pytest.raises(StateDictError, match=r"frozen: missing keys \['2.bias'\]"):
        fnn_from_state_dict(sd, name="frozen")


def test_extra_keys_are_named(net):
    sd = _state(net)
    sd["1.weight"] = torch.zeros(4, 4, dtype=torch.float64)
    sd["classifier.weight"] = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(StateDictError, match=r"unexpected keys \['classifier.weight', '1.weight'\]"):
        fnn_from_state_dict(sd)


def test_gap_in_layers_is_a_missing_key(net):
    sd = _state(net)
    sd["8.weight"], sd["8.bias"] = sd["4.weight"], sd["4.bias"]
    with pytest.raises(StateDictError, match=r"missing keys \['6.weight', '6.bias'\]"):
        fnn_from_state_dict(sd)


def test_no_layer_keys(net):
    with pytest.raises(StateDictError, match="no FNN layer keys"):
        fnn_from_state_dict({"encoder.weight": torch.zeros(2, 2)})


@pytest.mark.parametrize("key,shape", [("2.weight", (4, 3)), ("0.bias", (3,)), ("4.bias", (4, 1))])
def test_wrong_shapes_are_named(net, key, shape):
    sd = _state(net)
    sd[key] = torch.zeros(shape, dtype=torch.float64)
    with pytest.raises(ShapeError, match=re.escape(f"'{key}' has shape {tuple(shape)!r}")):
        fnn_from_state_dict(sd)


def test_non_square_first_layer(net):
    sd = _state(net)
    sd["0.weight"] = torch.zeros(4, 5, dtype=torch.float64)
    with pytest.raises(ShapeError, match=r"'0.weight' must be a square"):
        fnn_from_state_dict(sd)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.float16, torch.bfloat16, torch.complex128])
def test_non_float_dtypes_are_named(net, dtype):
    sd = _state(net)
    sd["2.weight"] = sd["2.weight"].to(dtype)
    with pytest.raises(DTypeError, match=r"'2.weight' has dtype"):
        fnn_from_state_dict(sd)


def test_mixed_dtypes_are_named(net):
    sd = _state(net)
    sd["2.bias"] = sd["2.bias"].float()
    with pytest.raises(DTypeError, match=r"'2.bias' has dtype torch.float32 but '0.weight' has torch.float64"):
        fnn_from_state_dict(sd)


def test_nan_is_named(net):
    sd = _state(net)
    sd["4.weight"][1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match=r"'4.weight'"):
        fnn_from_state_dict(sd)


def test_float32_checkpoints_are_read_as_float32(net, tmp_path):
    path = save_state_dict({k: v.float() for k, v in fnn_state_dict(net).items()}, tmp_path / "m.pt")
    assert load_fnn(path).dtype == torch.float32


# ------------------------------------------------------------------------------------------- files


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match=r"--frozen .*nope.pt: no such file"):
        load_state_dict(tmp_path / "nope.pt", argument="--frozen")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(FileFormatError, match="not a regular file"):
        load_state_dict(tmp_path)


class _RunsCode:
    """A pickle that would run code on load (writes a marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_needing_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"0.weight": torch.eye(2), "payload": _RunsCode(str(marker))}, path)
    refused = r"refused — unpickling it would need code execution \(it references io.open\)"
    with pytest.raises(FileFormatError, match=refused):
        load_state_dict(path, argument="--target")
    assert not marker.exists(), "the checkpoint's code ran"


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 10, b"PK\x03\x04 truncated zip"], ids=["empty", "garbage",
                                                                                                  "bad-zip"])
def test_corrupted_torch_files(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=r"bad.pt: (not a readable weights-only|refused)"):
        load_state_dict(path)


def test_truncated_torch_checkpoint(net, tmp_path):
    path = save_state_dict(fnn_state_dict(net), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="not a readable weights-only torch checkpoint"):
        load_state_dict(path)


@pytest.mark.parametrize("cut", [5, 200])
def test_corrupted_safetensors(net, tmp_path, cut):
    _needs_safetensors(".safetensors")
    path = save_state_dict(fnn_state_dict(net), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.raises(FileFormatError, match="not a valid safetensors file"):
        load_state_dict(path)


def test_a_bare_tensor_is_not_a_state_dict(tmp_path):
    torch.save(torch.eye(3), tmp_path / "t.pt")
    with pytest.raises(FileFormatError, match="holds a Tensor, not a state dict"):
        load_state_dict(tmp_path / "t.pt")


def test_nested_checkpoint_gets_a_hint(net, tmp_path):
    torch.save({"state_dict": fnn_state_dict(net), "epoch": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(StateDictError, match=r"key 'state_dict' holds a dict, not a tensor \(a nested checkpoint"):
        load_state_dict(tmp_path / "ckpt.pt")


# ------------------------------------------------------------------------------------------- pairs


def _pair(tmp_path, frozen, target):
    a = save_state_dict(fnn_state_dict(frozen), tmp_path / "A.pt")
    b = save_state_dict(fnn_state_dict(target), tmp_path / "B.pt")
    return a, b


def test_pair_loads(tmp_path):
    inst = build_fnn_instance(4, 4, 2, (1, 2), seed=1)
    f, t = load_fnn_pair(*_pair(tmp_path, inst.frozen, inst.target))
    assert (f.depth, t.depth, f.width) == (4, 2, 4)


def test_deeper_target_is_refused(tmp_path):
    inst = build_fnn_instance(4, 4, 2, (1, 2), seed=1)
    a, b = _pair(tmp_path, inst.target, inst.frozen)
    with pytest.raises(DepthError, match=r"--target .*B.pt has depth L̄=4, deeper than --frozen .*A.pt \(L=2\)"):
        load_fnn_pair(a, b)


def test_width_mismatch_is_refused(tmp_path):
    a, b = _pair(tmp_path, build_fnn_instance(4, 2, 1, seed=1).frozen, build_fnn_instance(3, 1, 1, seed=1).frozen)
    with pytest.raises(ShapeError, match=r"B.pt has width D=3 but --frozen .*A.pt has D=4"):
        load_fnn_pair(a, b)


def test_dtype_mismatch_is_refused(tmp_path):
    inst = build_fnn_instance(3, 2, 1, seed=1)
    a = save_state_dict(fnn_state_dict(inst.frozen), tmp_path / "A.pt")
    b = save_state_dict({k: v.float() for k, v in fnn_state_dict(inst.target).items()}, tmp_path / "B.pt")
    with pytest.raises(DTypeError, match="float32 but --frozen"):
        load_fnn_pair(a, b)
    assert os.path.exists(a)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_is_atomic(net, tmp_path, monkeypatch, suffix):
    """save_state_dict writes through lora_theory.files: a crash at the final rename leaves neither the checkpoint
    nor a temporary file, and an existing checkpoint of that name is left as it was."""
    import lora_theory.files

    _needs_safetensors(suffix)
    path = tmp_path / f"net{suffix}"
    save_state_dict(fnn_state_dict(net), path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated: crash at the rename")

    monkeypatch.setattr(lora_theory.files.os, "replace", crash)
    other = build_fnn_instance(3, 2, 1, seed=9).frozen
    with pytest.raises(OSError, match="simulated"):
        save_state_dict(fnn_state_dict(other), path)
    with pytest.raises(OSError, match="simulated"):
        save_state_dict(fnn_state_dict(other), tmp_path / f"new{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name] and path.read_bytes() == before


def test_reading_safetensors_needs_only_the_safetensors_extra(net, tmp_path):
    """Reading a .safetensors checkpoint imports safetensors, never PEFT or transformers (the small extra
    ``lora-theory[safetensors]`` suffices)."""
    import subprocess
    import sys

    _needs_safetensors(".safetensors")
    path = save_state_dict(fnn_state_dict(net), tmp_path / "m.safetensors")
    code = ("import sys; from lora_theory.interop.checkpoints import load_fnn; "
            f"net = load_fnn({str(path)!r}, final_relu=False); assert net.depth == {net.depth}; "
            "print(sorted(m for m in ('peft', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"reading a .safetensors file imported {out.strip()}"
