"""The bad-input contract (see tests/test_contract.py) for the real-model entry points: ``fnn_from_state_dict``
(checkpoints), ``to_peft`` (PEFT export) and the ``rank`` / ``export-peft`` commands. Same rules: a malformed call
raises a LoRATheoryError naming the argument or key, never another exception and never silent acceptance; the CLI
exits 2 with one stderr line naming the flag, file or key."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st

from lora_theory.interop.checkpoints import fnn_from_state_dict, fnn_state_dict, save_state_dict
from lora_theory.models import ReLUFNN

from .test_contract import (
    F64,
    Rec,
    bad_matrix,
    bad_vector,
    check_cli,
    dims,
    fault_or_valid,
    relu_fnn,
    run_cli,
    run_counted,
)

# ---------------------------------------------------------------------------------------------------------------
# fnn_from_state_dict(state, final_relu=, name=)
# ---------------------------------------------------------------------------------------------------------------


@st.composite
def state_dict_cases(draw):
    rec = Rec(draw)
    D, L, seed, dtype = dims(rec)
    good = fnn_state_dict(relu_fnn(D, L, seed, dtype))
    state: object = dict(good)
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("weight", "bias", "missing", "extra", "container", "key_type"))
    if fault in ("weight", "bias"):
        l = rec("layer", st.integers(0, L - 1))
        key = f"{2 * l}.{fault}"
        state[key] = (bad_matrix if fault == "weight" else bad_vector)(rec, key, good[key])
        names = (rf"'{2 * l}\.{fault}'", r"'0\.weight'")  # a fault in layer 1 may surface through '0.weight'
    elif fault == "missing":
        key = rec("missing_key", st.sampled_from(sorted(good)))
        del state[key]
        names = (rf"missing keys \[.*'{key}'", r"no FNN layer keys", r"unexpected keys")
    elif fault == "extra":
        key = rec("extra_key", st.sampled_from(("1.weight", "head.weight", f"{2 * L + 1}.bias", "0.running_mean",
                                                 "0.weight.orig")))
        state[key] = torch.zeros(D, dtype=dtype)
        names = (rf"unexpected keys \[.*'{key}'",)
    elif fault == "container":
        state = rec("container", st.sampled_from((None, [], "0.weight", 3)))
        names = (r"state dict must be a mapping",)
    elif fault == "key_type":
        state[rec("key", st.sampled_from((0, None, ("0", "weight"))))] = torch.zeros(D, dtype=dtype)
        names = (r"unexpected keys",)

    def check(net):
        assert isinstance(net, ReLUFNN) and net.depth == L and net.width == D and net.dtype == dtype

    return rec.case("fnn_from_state_dict", fault, lambda: fnn_from_state_dict(state, name="ckpt"), names, check)


def test_fnn_from_state_dict_contract():
    run_counted(state_dict_cases())


# ---------------------------------------------------------------------------------------------------------------
# to_peft(frozen_module, adaptation)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def peft_mod():
    return pytest.importorskip(
        "peft", exc_type=ImportError, reason="PEFT export needs the optional extra: pip install 'lora-theory[peft]'")


@st.composite
def to_peft_cases(draw):
    from lora_theory import Ball, construct_fnn
    from lora_theory.interop.peft import LayerUpdate, to_peft

    rec = Rec(draw)
    D, L, seed, dtype = dims(rec, max_D=3, max_L=2)
    frozen = relu_fnn(D, L, seed, dtype)
    target = relu_fnn(D, 1, seed + 7, dtype)
    c = construct_fnn(frozen, target, D, Ball(D, 1.0))
    module: object = frozen.to_sequential()
    adaptation: object = c
    names: tuple[str, ...] = ()
    fault = fault_or_valid(rec, ("other_weights", "module_type", "dtype", "adaptation", "mapping"))
    if fault == "other_weights":
        module = relu_fnn(D, L, seed + 1, dtype).to_sequential()
        names = (r"frozen_module layer '0' weight differs",)
    elif fault == "module_type":
        module = rec("module", st.sampled_from(("tensor", "relufnn", "linear", "none")))
        module = {"tensor": torch.eye(D, dtype=F64), "relufnn": frozen, "none": None,
                  "linear": torch.nn.Linear(D, D, dtype=dtype)}[module]
        names = (r"frozen_module",)
    elif fault == "dtype":
        module = frozen.to_sequential().to(torch.float32 if dtype == F64 else F64)
        names = (r"frozen_module layer '0' weight has dtype",)
    elif fault == "adaptation":
        adaptation = rec("adaptation", st.sampled_from((None, "c", 3, [c])))
        names = (r"adaptation must be",)
    elif fault == "mapping":
        kind = rec("mapping", st.sampled_from(("name", "value", "bias_shape")))
        zero = torch.zeros(D + 1, dtype=dtype)
        adaptation = {"name": {"nope": LayerUpdate()}, "value": {"0": "not an update"},
                      "bias_shape": {"0": LayerUpdate(None, zero)}}[kind]
        names = (r"adaptation\[",)

    def check(pm):
        assert type(pm).__name__ == "PeftModel" and tuple(pm.active_adapters) == ("default",)

    return rec.case("to_peft", fault, lambda: to_peft(module, adaptation), names, check)


def test_to_peft_contract(peft_mod):
    run_counted(to_peft_cases())


# ---------------------------------------------------------------------------------------------------------------
# lora-theory rank / export-peft on malformed checkpoint files
# ---------------------------------------------------------------------------------------------------------------

FILE_FAULTS = ("missing_key", "extra_key", "shape", "int_dtype", "half_dtype", "nan", "truncated", "garbage",
               "not_a_dict", "deeper_target", "width", "no_file")


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract_files")
    frozen, target = relu_fnn(3, 2, 11), relu_fnn(3, 1, 12)
    a = save_state_dict(fnn_state_dict(frozen), folder / "A.pt")
    b = save_state_dict(fnn_state_dict(target), folder / "B.pt")
    bad = {}
    for fault in FILE_FAULTS:
        sd = fnn_state_dict(frozen)
        path = folder / f"{fault}.pt"
        if fault == "missing_key":
            del sd["2.bias"]
        elif fault == "extra_key":
            sd["classifier.weight"] = torch.zeros(2, 3, dtype=F64)
        elif fault == "shape":
            sd["2.weight"] = torch.zeros(3, 2, dtype=F64)
        elif fault == "int_dtype":
            sd["0.bias"] = sd["0.bias"].to(torch.int64)
        elif fault == "half_dtype":
            sd = {k: v.half() for k, v in sd.items()}
        elif fault == "nan":
            sd["2.weight"][0, 1] = float("nan")
        elif fault == "deeper_target":
            sd = fnn_state_dict(relu_fnn(3, 3, 13))
        elif fault == "width":
            sd = fnn_state_dict(relu_fnn(2, 2, 13))
        if fault == "truncated":
            path.write_bytes(a.read_bytes()[:150])
        elif fault == "garbage":
            path.write_bytes(b"\x80\x04garbage" * 8)
        elif fault == "not_a_dict":
            torch.save([torch.eye(3)], path)
        elif fault != "no_file":
            save_state_dict(sd, path)
        bad[fault] = path
    return a, b, bad, folder


NAMES = {"missing_key": r"missing keys \['2\.bias'\]", "extra_key": r"unexpected keys \['classifier\.weight'\]",
         "shape": r"'2\.weight' has shape \(3, 2\)", "int_dtype": r"'0\.bias' has dtype torch\.int64",
         "half_dtype": r"'0\.weight' has dtype torch\.float16", "nan": r"'2\.weight' .*NaN",
         "truncated": r"truncated\.pt: not a readable", "garbage": r"garbage\.pt: (not a readable|refused)",
         "not_a_dict": r"not_a_dict\.pt: holds a list", "deeper_target": r"DepthError: --target",
         "width": r"ShapeError: --target", "no_file": r"no_file\.pt: no such file"}


@st.composite
def file_cases(draw, files):
    a, b, bad, folder = files
    rec = Rec(draw)
    command = rec("command", st.sampled_from(("rank", "export-peft")))
    fault = fault_or_valid(rec, FILE_FAULTS)
    frozen, target = str(a), str(b)
    if fault in ("deeper_target", "width"):
        target = str(bad[fault])
    elif fault != "valid":
        which = rec("which", st.sampled_from(("--frozen", "--target")))
        if fault in ("missing_key", "extra_key", "shape", "int_dtype", "half_dtype", "nan") and which == "--target":
            which = "--frozen"  # a depth-2 file as --target of a depth-2 frozen model is fine apart from the fault
        frozen, target = (str(bad[fault]), target) if which == "--frozen" else (frozen, str(bad[fault]))
    argv = [command, "--frozen", frozen, "--target", target]
    if command == "rank":
        argv += ["--max-rank", "1", "--samples", "4"]
    else:
        out = Path(tempfile.mkdtemp(dir=folder)) / "adapter"  # a fresh folder each call (never drawn: not data)
        argv += ["--rank", "1", "--out", str(out), "--samples", "4"]
    return rec.case(command, fault, lambda: run_cli(argv), (NAMES.get(fault, ""),))


def test_commands_on_malformed_files_contract(pair_files, peft_mod):
    run_counted(file_cases(pair_files), checker=check_cli)
