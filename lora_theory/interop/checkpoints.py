"""Reading and writing FNN checkpoints (state dicts) safely — the file side of ``lora-theory rank`` and
``lora-theory export-peft``.

**Layout (the state dict of an ``nn.Sequential(Linear, ReLU, Linear, ReLU, …)``).** A ReLU FNN of depth L and
width D is stored as 2L tensors::

    "0.weight" (D, D)   "0.bias" (D,)        layer 1
    "2.weight" (D, D)   "2.bias" (D,)        layer 2
    …
    "{2(L-1)}.weight"   "{2(L-1)}.bias"      layer L

— exactly what ``ReLUFNN.to_sequential().state_dict()`` (or any ``nn.Sequential`` of square ``nn.Linear`` layers with
an ``nn.ReLU`` between consecutive ones) gives: the ReLUs sit at the odd indices and hold no tensors. Whether a ReLU
follows the last layer is not recorded in a state dict; the commands take it as ``--final-relu/--no-final-relu``.

**Reading is weights-only.** ``.safetensors`` files are read with the ``safetensors`` package (no code runs by
construction; the small extra ``pip install "lora-theory[safetensors]"`` suffices, no PEFT or transformers); anything
else with ``torch.load(weights_only=True)``, which refuses pickles that need code execution (a class or function
reference in the pickle): such a file is refused with a :class:`FileFormatError` that says so — it is never retried
with ``weights_only=False``. Truncated or corrupted files, files that hold something other than a flat
``{name: tensor}`` mapping, missing or unexpected keys (:class:`StateDictError`), wrong shapes (:class:`ShapeError`),
non-float or half-precision dtypes (:class:`DTypeError`) and NaN/inf (:class:`NonFiniteError`)
raise typed errors naming the file and the key.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from lora_theory.errors import (
    DepthError,
    DTypeError,
    FileFormatError,
    NonFiniteError,
    OptionalDependencyError,
    ShapeError,
    StateDictError,
)
from lora_theory.files import atomic_write_with
from lora_theory.models import ReLUFNN
from lora_theory.validation import SUPPORTED_DTYPES

__all__ = ["load_state_dict", "save_state_dict", "fnn_state_dict", "fnn_from_state_dict", "load_fnn", "load_fnn_pair",
           "fnn_keys"]

_KEY = re.compile(r"^(\d+)\.(weight|bias)$")


def _safetensors():
    """``safetensors.torch`` — the only optional import of this module (never PEFT or transformers)."""
    try:
        import safetensors.torch as st
    except ImportError:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError('.safetensors files need the small optional extra: pip install '
                                      '"lora-theory[safetensors]" (or pip install safetensors), or save with '
                                      'torch.save as a .pt file') from None
    return st


def load_state_dict(path: str | os.PathLike, *, argument: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Read a flat ``{name: tensor}`` mapping from ``path`` without running code (see the module docstring).

    ``argument`` names the file in error messages (e.g. ``"--frozen"``). Tensors are loaded onto the CPU.
    """
    p = Path(path)
    where = f"{argument} {p}"
    if not p.exists():
        raise FileFormatError(f"{where}: no such file")
    if not p.is_file():
        raise FileFormatError(f"{where}: not a regular file")
    if p.suffix == ".safetensors":
        st = _safetensors()
        try:
            data = st.load_file(str(p), device="cpu")
        except OSError as exc:
            raise FileFormatError(f"{where}: cannot be read ({exc.strerror or exc})") from None
        except Exception as exc:  # safetensors raises its own SafetensorError for every malformed file
            raise FileFormatError(f"{where}: not a valid safetensors file ({_first_line(exc)})") from None
    else:
        try:
            with warnings.catch_warnings():
                # torch notes when a pickle uses a newer protocol than torch.save would; the weights-only
                # unpickler still vets every instruction, so the note is not a problem of the file
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                data = torch.load(p, map_location="cpu", weights_only=True)
        except OSError as exc:
            raise FileFormatError(f"{where}: cannot be read ({exc.strerror or exc})") from None
        except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, … — all mean "not loadable"
            text = str(exc)
            found = re.search(r"unsupported GLOBAL (\S+)", text) or re.search(r"GLOBAL (\S+)", text)
            if found:
                raise FileFormatError(
                    f"{where}: refused — unpickling it would need code execution (it references "
                    f"{found.group(1)}); lora-theory reads checkpoints with torch.load(weights_only=True) only. "
                    "Save a plain state dict (model.state_dict()) or a .safetensors file") from None
            raise FileFormatError(f"{where}: not a readable weights-only torch checkpoint (corrupted, truncated or "
                                  f"not written by torch.save): {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(data, Mapping):
        raise FileFormatError(f"{where}: holds a {type(data).__name__}, not a state dict (a mapping from names to "
                              "tensors); save model.state_dict()")
    out: dict[str, torch.Tensor] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise StateDictError(f"{where}: key {key!r} is not a string")
        if not isinstance(value, torch.Tensor):
            hint = " (a nested checkpoint? save the inner state dict)" if isinstance(value, Mapping) else ""
            raise StateDictError(f"{where}: key {key!r} holds a {type(value).__name__}, not a tensor{hint}")
        out[key] = value
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def fnn_keys(depth: int) -> list[str]:
    """The 2L keys of a depth-L FNN state dict, in layer order."""
    return [f"{2 * l}.{kind}" for l in range(depth) for kind in ("weight", "bias")]


def fnn_state_dict(model: ReLUFNN) -> dict[str, torch.Tensor]:
    """The state dict of ``model.to_sequential()`` (contiguous CPU copies), ready for :func:`save_state_dict`."""
    if not isinstance(model, ReLUFNN):
        raise DTypeError(f"fnn_state_dict needs a ReLUFNN; got {type(model).__name__}")
    out = {}
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        out[f"{2 * l}.weight"] = W.detach().to("cpu").contiguous().clone()
        out[f"{2 * l}.bias"] = b.detach().to("cpu").contiguous().clone()
    return out


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Write ``state`` as safetensors (``.safetensors`` suffix) or with ``torch.save`` (anything else), atomically
    (:func:`lora_theory.files.atomic_write_with`: the file appears whole or not at all)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        st = _safetensors()
        tensors = {k: v.contiguous() for k, v in state.items()}
        return atomic_write_with(p, lambda tmp: st.save_file(tensors, tmp))
    return atomic_write_with(p, lambda tmp: torch.save(dict(state), tmp))


def fnn_from_state_dict(state: Mapping[str, torch.Tensor], *, final_relu: bool = True,
                        name: str = "checkpoint") -> ReLUFNN:
    """Build a :class:`ReLUFNN` from the layout of the module docstring; ``name`` prefixes every error message.

    Raises StateDictError (missing/unexpected keys, named), ShapeError, DTypeError, NonFiniteError naming the key.
    """
    if not isinstance(state, Mapping):
        raise StateDictError(f"{name}: a state dict must be a mapping from names to tensors; got "
                             f"{type(state).__name__}")
    unexpected = sorted(k for k in state if not (isinstance(k, str) and _KEY.match(k)))
    indices = sorted({int(_KEY.match(k).group(1)) for k in state if isinstance(k, str) and _KEY.match(k)})
    if not indices:
        raise StateDictError(f"{name}: no FNN layer keys ('0.weight', '0.bias', '2.weight', …) among "
                             f"{_show(sorted(map(str, state)))}")
    depth = max(indices) // 2 + 1
    expected = fnn_keys(depth)
    missing = [k for k in expected if k not in state]
    unexpected += sorted((k for k in state if isinstance(k, str) and _KEY.match(k) and k not in expected),
                         key=lambda k: (int(k.split(".")[0]), k))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_show(unexpected)}")
        raise StateDictError(f"{name}: {' and '.join(parts)} (a depth-{depth} FNN needs exactly "
                             f"{_show(expected)}: layer l at index 2l, ReLUs at the odd indices)")
    for key in expected:
        if not isinstance(state[key], torch.Tensor):
            raise StateDictError(f"{name}: {key!r} holds a {type(state[key]).__name__}, not a tensor")
    first = state["0.weight"]
    for key in expected:
        t = state[key]
        if t.dtype not in SUPPORTED_DTYPES:
            hint = " (convert half precision to float32/float64 first)" if t.is_floating_point() else ""
            raise DTypeError(f"{name}: {key!r} has dtype {t.dtype}; FNN weights must be float64 or float32{hint}")
        if t.dtype != first.dtype:
            raise DTypeError(f"{name}: {key!r} has dtype {t.dtype} but '0.weight' has {first.dtype}")
    if first.ndim != 2 or first.shape[0] != first.shape[1] or first.numel() == 0:
        raise ShapeError(f"{name}: '0.weight' must be a square (D, D) matrix; got shape {tuple(first.shape)}")
    D = first.shape[0]
    for key in expected:
        t = state[key]
        want = (D, D) if key.endswith("weight") else (D,)
        if tuple(t.shape) != want:
            raise ShapeError(f"{name}: {key!r} has shape {tuple(t.shape)}; expected {want} (width D={D} from "
                             "'0.weight')")
        if not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"{name}: {key!r} (shape {tuple(t.shape)}) contains NaN or inf")
    weights = tuple(state[f"{2 * l}.weight"].detach().clone() for l in range(depth))
    biases = tuple(state[f"{2 * l}.bias"].detach().clone() for l in range(depth))
    return ReLUFNN(weights, biases, final_relu)


def load_fnn(path: str | os.PathLike, *, final_relu: bool = True, argument: str = "checkpoint") -> ReLUFNN:
    """:func:`load_state_dict` then :func:`fnn_from_state_dict`, errors naming ``argument`` and the file."""
    state = load_state_dict(path, argument=argument)
    return fnn_from_state_dict(state, final_relu=final_relu, name=f"{argument} {Path(path)}")


def _show(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"[{shown}{', …' if len(keys) > limit else ''}] ({len(keys)})" if len(keys) > limit else f"[{shown}]"


def load_fnn_pair(frozen_path: str | os.PathLike, target_path: str | os.PathLike, *, final_relu: bool = True,
                  frozen_flag: str = "--frozen", target_flag: str = "--target") -> tuple[ReLUFNN, ReLUFNN]:
    """Load a frozen and a target FNN checkpoint and check they form a pair the theorems apply to: same width D,
    same dtype, target depth L̄ ≤ frozen depth L (DepthError/ShapeError/DTypeError naming both files)."""
    frozen = load_fnn(frozen_path, final_relu=final_relu, argument=frozen_flag)
    target = load_fnn(target_path, final_relu=final_relu, argument=target_flag)
    f, t = f"{frozen_flag} {Path(frozen_path)}", f"{target_flag} {Path(target_path)}"
    if target.width != frozen.width:
        raise ShapeError(f"{t} has width D={target.width} but {f} has D={frozen.width}: LoRA adapts a frozen model "
                         "into a target of the same width")
    if target.dtype != frozen.dtype:
        raise DTypeError(f"{t} has dtype {target.dtype} but {f} has {frozen.dtype}; convert one of them")
    if target.depth > frozen.depth:
        raise DepthError(f"{t} has depth L̄={target.depth}, deeper than {f} (L={frozen.depth}): the theorems need "
                         "L̄ ≤ L (each target layer is emulated by at least one frozen layer)")
    return frozen, target
