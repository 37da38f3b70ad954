"""Export the constructions' adapters as a PEFT ``PeftModel`` (optional extra ``peft``).

The Theorem 3 construction (claim ``theorem3``; arXiv 2310.17513v3, Theorem 3, p. 6) and the Theorem 7 construction
(claim ``theorem7``; Theorem 7, p. 8) produce LoRA factors (B, A) and new biases that make a frozen model compute a
target *exactly*.
:func:`to_peft` puts them where practitioners work: a ``peft.PeftModel`` around a deep copy of the frozen
``nn.Module`` (``get_peft_model`` edits its argument in place; the caller's module is never touched), with

* ``lora_A.weight = A`` (r × d_in) and ``lora_B.weight = B`` (d_out × r) per adapted ``nn.Linear``, r = that
  adapter's own rank (``rank_pattern``) and ``lora_alpha = r`` (``alpha_pattern``), so PEFT's scaling α/r is
  exactly 1 — checked after creation, never assumed;
* the bias updates b̂ − b as ``lora_B.bias`` (``lora_bias=True``): PEFT adds them in the forward pass, removes them
  under ``disable_adapter()`` and folds them into the base bias in ``merge_and_unload()``;
* a layer whose adapter has rank 0 but whose bias changes gets r = 1 with zero factors (PEFT needs r ≥ 1).

**FNNs** (``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, e.g. ``ReLUFNN.to_sequential()``): every layer has a bias,
so one adapter, named ``"default"``, holds everything.

**TFNs** (:class:`lora_theory.interop.tfn_module.TFNModule`, separate ``q_proj``/``k_proj``/``v_proj``/``o_proj``
per head): the weight updates sit on bias-free projections and ``Wo`` while the bias updates sit on ``W1``/``W2``.
PEFT's ``lora_bias`` is one flag per adapter, and on a bias-free layer it makes ``merge_and_unload()`` fail
("Impossible to merge LoRA with `lora_bias=True` because the base layer has no bias"). So the export uses two
adapters that are active together: ``"default"`` (``lora_bias=False``) with the rank-≤R factors of Theorem 7 on
the allowed set, and ``"biases"`` (``lora_bias=True``, r = 1, zero factors) carrying the bias updates.
``save_pretrained`` writes the first to the folder and the second to its ``biases/`` subfolder; :func:`load_peft`
loads and activates both (a bare ``PeftModel.from_pretrained`` loads only ``"default"``, which is *not* the target).

**Round trip** (:func:`check_round_trip`): the PEFT forward pass equals the target within the construction's
tolerance (:mod:`lora_theory.tolerance`; PEFT computes W x + B(A x) + δ instead of (W + BA) x + b̂, a rounding
difference of the same first order); ``merge_and_unload()`` gives plain ``nn.Linear`` modules with the same output;
``disable_adapter()`` gives the frozen output *bit for bit*; ``save_pretrained`` + :func:`load_peft` (which calls
``PeftModel.from_pretrained``) reproduce the PEFT output bit for bit. The frozen reference runs with its parameters
frozen (``requires_grad=False``), as PEFT freezes them: ``F.linear`` on a batched, non-contiguous input takes a
different, equally valid kernel path depending on ``requires_grad`` (≈1e-15 apart in float64), which is not an
adapter effect.

**Offline.** Everything here reads and writes local folders only; ``HF_HUB_OFFLINE=1`` is set (unless already set)
before PEFT is imported, so no call can reach a hub.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.fnn import FNNConstruction
from lora_theory.constructions.tfn import TFNConstruction
from lora_theory.errors import DTypeError, FileFormatError, ModelMismatchError, OptionalDependencyError, ShapeError
from lora_theory.files import atomic_directory
from lora_theory.models import HEAD_MATRICES, ReLUFNN
from lora_theory.tolerance import Tolerance

__all__ = ["require_peft", "ADAPTER", "BIAS_ADAPTER", "LayerUpdate", "fnn_updates", "tfn_updates", "to_peft",
           "load_peft", "save_peft", "RoundTripReport", "check_round_trip", "lora_modules"]

#: the adapter holding the LoRA factors (PEFT's default name)
ADAPTER = "default"
#: the second adapter holding bias updates when some adapted layer has no bias (TFN export)
BIAS_ADAPTER = "biases"
#: PEFT's save-time check flags every 1-D ``lora_B.bias`` as a possibly unsharded tensor (it is meant for
#: DeepSpeed/FSDP shards); a bias *is* 1-D, so for lora_bias adapters the warning is a false positive
_SHAPE_WARNING = r"Adapter '.*': \d+ LoRA tensor\(s\) have invalid shape"


def require_peft():
    """Import PEFT (with ``HF_HUB_OFFLINE=1`` unless set) and return the module, or raise
    OptionalDependencyError naming the extra to install: call it first to fail before any work."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import peft
    except ImportError:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError('PEFT export needs the optional extra: pip install "lora-theory[peft]" '
                                      "(or pip install peft)") from None
    return peft


@dataclass(frozen=True, eq=False)
class LayerUpdate:
    """What one ``nn.Linear`` of the frozen module receives: a LoRA pair (or None) and a bias change (or None)."""

    pair: LoRAPair | None = None
    bias_delta: torch.Tensor | None = None

    @property
    def has_weight_update(self) -> bool:
        return self.pair is not None and self.pair.rank > 0

    @property
    def has_bias_update(self) -> bool:
        return self.bias_delta is not None and bool((self.bias_delta != 0).any())


def _same(name: str, got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    if got.shape != want.shape:
        raise ShapeError(f"frozen_module {name} has shape {tuple(got.shape)} but the construction's frozen model has "
                         f"{tuple(want.shape)} ({what})")
    if got.dtype != want.dtype:
        raise DTypeError(f"frozen_module {name} has dtype {got.dtype} but the construction's frozen model has "
                         f"{want.dtype} ({what})")
    if got.device != want.device or not torch.equal(got, want):
        diff = float((got.to(want.device) - want).abs().max())
        raise ModelMismatchError(f"frozen_module {name} differs from the construction's frozen {what} "
                                 f"(max |Δ| = {diff:.3g}): export the adapters onto the model they were built for")


def _linears(module: nn.Module) -> dict[str, nn.Linear]:
    return {n: m for n, m in module.named_modules() if isinstance(m, nn.Linear)}


def fnn_updates(construction: FNNConstruction, frozen_module: nn.Module) -> dict[str, LayerUpdate]:
    """Per-``nn.Linear`` updates of a Theorem 3 construction, keyed by module name in ``frozen_module`` (an
    ``nn.Sequential`` with the layout of ``ReLUFNN.to_sequential``), after checking that the module *is* the
    construction's frozen model (same tensors, same final-ReLU convention): ModelMismatchError otherwise."""
    if not isinstance(frozen_module, nn.Sequential):
        raise DTypeError(f"frozen_module for an FNN construction must be an nn.Sequential (ReLUFNN.to_sequential()); "
                         f"got {type(frozen_module).__name__}")
    net = ReLUFNN.from_sequential(frozen_module)
    fz = construction.frozen
    if net.depth != fz.depth:
        raise ShapeError(f"frozen_module has {net.depth} linear layers but the construction's frozen model has "
                         f"depth L={fz.depth}")
    if net.final_relu != fz.final_relu:
        raise ModelMismatchError(f"frozen_module {'ends' if net.final_relu else 'does not end'} with nn.ReLU but the "
                                 f"construction's frozen model has final_relu={fz.final_relu}")
    names = [n for n, m in frozen_module.named_children() if isinstance(m, nn.Linear)]
    out = {}
    for l, name in enumerate(names):
        _same(f"layer {name!r} weight", net.weights[l], fz.weights[l], f"W_{l + 1}")
        _same(f"layer {name!r} bias", net.biases[l], fz.biases[l], f"b_{l + 1}")
        out[name] = LayerUpdate(construction.adapters[l], construction.biases[l] - fz.biases[l])
    return out


def tfn_updates(construction: TFNConstruction, frozen_module: nn.Module) -> dict[str, LayerUpdate]:
    """Per-``nn.Linear`` updates of a Theorem 7 construction, keyed by module name in a
    :class:`~lora_theory.interop.tfn_module.TFNModule` (``blocks.{l}.heads.{h}.q_proj`` …, ``blocks.{l}.W1``/``W2``,
    ``Wo``), after checking that the module is the construction's frozen model."""
    from lora_theory.interop.tfn_module import from_module

    net = from_module(frozen_module)
    fz = construction.frozen
    if (net.depth, net.heads, net.width) != (fz.depth, fz.heads, fz.width):
        raise ShapeError(f"frozen_module has (L, H, D) = {(net.depth, net.heads, net.width)} but the construction's "
                         f"frozen model has {(fz.depth, fz.heads, fz.width)}")
    proj = dict(zip(HEAD_MATRICES, ("q_proj", "k_proj", "v_proj", "o_proj")))
    out: dict[str, LayerUpdate] = {}
    L = fz.depth
    for l, (blk, fblk) in enumerate(zip(net.blocks, fz.blocks)):
        for mat, pname in proj.items():
            for h, (W, Wf) in enumerate(zip(getattr(blk, mat), getattr(fblk, mat))):
                name = f"blocks.{l}.heads.{h}.{pname}"
                _same(name, W, Wf, f"{mat}[{h}] of block {l + 1}")
                out[name] = LayerUpdate(construction.head_adapters[(l, mat, h)], None)
        _same(f"blocks.{l}.W1 weight", blk.W1, fblk.W1, f"W_1 of block {l + 1}")
        _same(f"blocks.{l}.W1 bias", blk.b1, fblk.b1, f"b_1 of block {l + 1}")
        _same(f"blocks.{l}.W2 weight", blk.W2, fblk.W2, f"W_2 of block {l + 1}")
        _same(f"blocks.{l}.W2 bias", blk.b2, fblk.b2, f"b_2 of block {l + 1}")
        out[f"blocks.{l}.W1"] = LayerUpdate(None, construction.b1[l] - fblk.b1)
        out[f"blocks.{l}.W2"] = LayerUpdate(construction.w2_last if l == L - 1 else None,
                                            construction.b2[l] - fblk.b2)
    _same("Wo weight", net.Wo, fz.Wo, "W_o")
    out["Wo"] = LayerUpdate(construction.wo, None)
    return out


def _updates(frozen_module: nn.Module, adaptation) -> dict[str, LayerUpdate]:
    if isinstance(adaptation, FNNConstruction):
        return fnn_updates(adaptation, frozen_module)
    if isinstance(adaptation, TFNConstruction):
        return tfn_updates(adaptation, frozen_module)
    if isinstance(adaptation, Mapping):
        lin = _linears(frozen_module)
        out = {}
        for name, upd in adaptation.items():
            if not isinstance(upd, LayerUpdate):
                raise DTypeError(f"adaptation[{name!r}] must be a LayerUpdate; got {type(upd).__name__}")
            if name not in lin:
                raise ShapeError(f"adaptation[{name!r}]: frozen_module has no nn.Linear of that name (it has "
                                 f"{sorted(lin)[:8]})")
            m = lin[name]
            if upd.pair is not None and upd.pair.shape != tuple(m.weight.shape):
                raise ShapeError(f"adaptation[{name!r}].pair has shape {upd.pair.shape} but {name}.weight has "
                                 f"{tuple(m.weight.shape)}")
            if upd.bias_delta is not None and tuple(upd.bias_delta.shape) != (m.out_features,):
                raise ShapeError(f"adaptation[{name!r}].bias_delta has shape {tuple(upd.bias_delta.shape)}; "
                                 f"expected ({m.out_features},)")
            if upd.has_bias_update and m.bias is None:
                raise ShapeError(f"adaptation[{name!r}] changes a bias but {name} has none (bias=False)")
            out[name] = upd
        return out
    raise DTypeError(f"adaptation must be an FNNConstruction, a TFNConstruction or a mapping of module names to "
                     f"LayerUpdate; got {type(adaptation).__name__}")


def _config(peft, names: list[str], ranks: dict[str, int], lora_bias: bool):
    pattern = {re.escape(n): ranks[n] for n in names}
    return peft.LoraConfig(r=1, lora_alpha=1, target_modules=list(names), rank_pattern=dict(pattern),
                           alpha_pattern=dict(pattern), lora_dropout=0.0, lora_bias=lora_bias,
                           init_lora_weights=True, bias="none")


def _fill(peft_model, adapter: str, name: str, pair: LoRAPair | None, bias_delta: torch.Tensor | None) -> None:
    layer = peft_model.base_model.model.get_submodule(name)
    A_mod, B_mod = layer.lora_A[adapter], layer.lora_B[adapter]
    r = A_mod.weight.shape[0]
    scaling = layer.scaling[adapter]
    if scaling != 1.0:
        raise ModelMismatchError(f"PEFT set scaling {scaling} != 1 on {name} (r={r}); the export needs α/r = 1")
    w = A_mod.weight
    with torch.no_grad():
        if pair is not None and pair.rank > 0:
            padded = pair.pad_to(r)
            A_mod.weight.copy_(padded.A.to(dtype=w.dtype, device=w.device))
            B_mod.weight.copy_(padded.B.to(dtype=w.dtype, device=w.device))
        else:
            A_mod.weight.zero_()
            B_mod.weight.zero_()
        if B_mod.bias is not None:
            if bias_delta is not None:
                B_mod.bias.copy_(bias_delta.to(dtype=w.dtype, device=w.device))
            else:
                B_mod.bias.zero_()


def to_peft(frozen_module: nn.Module, adaptation):
    """A ``peft.PeftModel`` around a deep copy of ``frozen_module`` whose adapters realise ``adaptation``.

    ``adaptation``: an :class:`~lora_theory.constructions.fnn.FNNConstruction` (module: ``nn.Sequential``), a
    :class:`~lora_theory.constructions.tfn.TFNConstruction` (module:
    :class:`~lora_theory.interop.tfn_module.TFNModule`), or a mapping ``{module name: LayerUpdate}``. See the module
    docstring for the layout. Raises OptionalDependencyError without PEFT, ModelMismatchError/ShapeError/DTypeError
    when the module is not the model the construction was built for.
    """
    peft = require_peft()
    if not isinstance(frozen_module, nn.Module):
        raise DTypeError(f"frozen_module must be a torch.nn.Module; got {type(frozen_module).__name__}")
    updates = _updates(frozen_module, adaptation)
    lin = _linears(frozen_module)
    if not lin:
        raise ShapeError(f"frozen_module ({type(frozen_module).__name__}) has no nn.Linear layer to adapt")
    weight_names = [n for n, u in updates.items() if u.has_weight_update]
    bias_names = [n for n, u in updates.items() if u.has_bias_update]
    if not weight_names and not bias_names:  # target == frozen: still a valid (zero) adapter on one layer
        weight_names = [next(iter(updates))] if updates else [next(iter(lin))]
    ranks = {n: (updates[n].pair.rank if n in updates and updates[n].has_weight_update else 1) for n in lin}
    union = [n for n in lin if n in weight_names or n in bias_names]
    split = bool(bias_names) and any(lin[n].bias is None for n in union)
    model = copy.deepcopy(frozen_module)
    if not split:
        pm = peft.get_peft_model(model, _config(peft, union, ranks, lora_bias=bool(bias_names)))
        for n in union:
            _fill(pm, ADAPTER, n, updates[n].pair if n in updates else None,
                  updates[n].bias_delta if n in updates else None)
    else:
        if not weight_names:
            raise ShapeError("a bias update on a layer without bias cannot be exported")  # pragma: no cover
        pm = peft.get_peft_model(model, _config(peft, weight_names, ranks, lora_bias=False))
        bias_ranks = {n: 1 for n in bias_names}
        pm.add_adapter(BIAS_ADAPTER, _config(peft, bias_names, bias_ranks, lora_bias=True))
        pm.base_model.set_adapter([ADAPTER, BIAS_ADAPTER])
        for n in weight_names:
            _fill(pm, ADAPTER, n, updates[n].pair, None)
        for n in bias_names:
            _fill(pm, BIAS_ADAPTER, n, None, updates[n].bias_delta)
    pm.eval()
    return pm


def lora_modules(peft_model) -> dict[str, tuple[int, ...]]:
    """``{module name: (r for each adapter on it)}`` — what the export put where (for reports and tests)."""
    out = {}
    for name, m in peft_model.base_model.model.named_modules():
        r = getattr(m, "r", None)
        if isinstance(r, dict) and r and hasattr(m, "lora_A"):
            out[name] = tuple(r[a] for a in sorted(r))
    return out


def save_peft(peft_model, directory: str | os.PathLike) -> Path:
    """``peft_model.save_pretrained`` (every adapter) into ``directory``, published atomically: PEFT writes into a
    temporary folder beside it, which is then renamed (:func:`lora_theory.files.atomic_directory`), so the folder
    holds a complete adapter or does not exist. ``directory`` must not exist or be empty (FileFormatError
    otherwise: an adapter is never written over another). PEFT's false-positive shape warning for 1-D
    ``lora_B.bias`` tensors is silenced (see :data:`_SHAPE_WARNING`)."""
    require_peft()
    d = Path(directory)
    if d.exists() and (not d.is_dir() or any(d.iterdir())):
        raise FileFormatError(f"{d} exists and is not an empty folder: save_peft never writes over another adapter")
    if not d.parent.is_dir():
        raise FileFormatError(f"{d}: the parent folder {d.parent} does not exist")
    with atomic_directory(d) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SHAPE_WARNING)
        peft_model.save_pretrained(str(tmp))
    return d


def load_peft(frozen_module: nn.Module, directory: str | os.PathLike):
    """``PeftModel.from_pretrained`` on a deep copy of ``frozen_module`` from a local folder written by
    :func:`save_peft`, plus the ``biases/`` adapter when present (activated together with ``default``)."""
    peft = require_peft()
    d = Path(directory)
    if not (d / "adapter_config.json").is_file():
        raise FileFormatError(f"{d} is not a PEFT adapter folder (no adapter_config.json)")
    if not isinstance(frozen_module, nn.Module):
        raise DTypeError(f"frozen_module must be a torch.nn.Module; got {type(frozen_module).__name__}")
    pm = peft.PeftModel.from_pretrained(copy.deepcopy(frozen_module), str(d))
    if (d / BIAS_ADAPTER / "adapter_config.json").is_file():
        pm.load_adapter(str(d / BIAS_ADAPTER), adapter_name=BIAS_ADAPTER)
        pm.base_model.set_adapter([ADAPTER, BIAS_ADAPTER])
    pm.eval()
    return pm


@dataclass(frozen=True)
class RoundTripReport:
    """The four round-trip checks of the module docstring. Errors are max over inputs of the output difference's
    2-norm (per row for FNNs, per token column for TFNs)."""

    adapted_error: float  # ‖PEFT(x) − target(x)‖
    merged_error: float  # ‖merge_and_unload()(x) − target(x)‖
    merged_vs_peft: float  # ‖merge_and_unload()(x) − PEFT(x)‖
    disabled_exact: bool  # disable_adapter() output == frozen output, bit for bit
    disabled_error: float
    reload_exact: bool  # save + load_peft output == PEFT output, bit for bit
    reload_error: float
    merged_plain: bool  # no LoRA layer is left after merge_and_unload()
    tolerance: Tolerance
    exact_in_theory: bool
    files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Every check passed (the error checks only when the construction is exact in theory)."""
        close = (not self.exact_in_theory) or (
            self.adapted_error <= self.tolerance.value and self.merged_error <= self.tolerance.value)
        return close and self.merged_vs_peft <= self.tolerance.value and self.disabled_exact and \
            self.reload_exact and self.merged_plain

    def __str__(self) -> str:
        return (f"PEFT vs target {self.adapted_error:.3e}, merged vs target {self.merged_error:.3e}, merged vs PEFT "
                f"{self.merged_vs_peft:.3e} (tolerance {self.tolerance.value:.3e}); disable_adapter exact: "
                f"{self.disabled_exact} ({self.disabled_error:.1e}); save/load exact: {self.reload_exact} "
                f"({self.reload_error:.1e}); merged model plain: {self.merged_plain}")


def _rows_error(a: torch.Tensor, b: torch.Tensor, token_columns: bool) -> float:
    d = (a - b).detach()
    if d.numel() == 0:
        return 0.0
    return float(torch.linalg.vector_norm(d, dim=-2 if token_columns else -1).max())


def check_round_trip(construction, frozen_module: nn.Module, peft_model, inputs: torch.Tensor, *,
                     workdir: str | os.PathLike | None = None) -> RoundTripReport:
    """Run the four checks of the module docstring on ``inputs`` (rows x of shape (n, D) for an FNN, X of shape
    (..., D, N) for a TFN) and return the errors. ``peft_model`` is not modified (merging runs on a deep copy).
    Saves into ``workdir`` (a fresh temporary folder when None)."""
    require_peft()
    if isinstance(construction, FNNConstruction):
        tol = construction.tolerance()
        target_out = construction.target(inputs)
        token_columns = False
    elif isinstance(construction, TFNConstruction):
        tol = construction.tolerance(inputs)
        target_out = construction.target(inputs)
        token_columns = True
    else:
        raise DTypeError(f"construction must be an FNNConstruction or a TFNConstruction; got "
                         f"{type(construction).__name__}")
    reference = copy.deepcopy(frozen_module).requires_grad_(False)
    with torch.no_grad():
        out = peft_model(inputs)
        with peft_model.disable_adapter():
            disabled = peft_model(inputs)
        frozen_out = reference(inputs)
        merged = copy.deepcopy(peft_model).merge_and_unload()
        merged_out = merged(inputs)
    plain = not any(hasattr(m, "lora_A") for m in merged.modules())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp) / "adapter"
        save_peft(peft_model, folder)
        files = tuple(sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))
        reloaded = load_peft(frozen_module, folder)
        with torch.no_grad():
            reload_out = reloaded(inputs)
    return RoundTripReport(
        adapted_error=_rows_error(out, target_out, token_columns),
        merged_error=_rows_error(merged_out, target_out, token_columns),
        merged_vs_peft=_rows_error(merged_out, out, token_columns),
        disabled_exact=bool(torch.equal(disabled, frozen_out)),
        disabled_error=_rows_error(disabled, frozen_out, token_columns),
        reload_exact=bool(torch.equal(reload_out, out)),
        reload_error=_rows_error(reload_out, out, token_columns),
        merged_plain=plain, tolerance=tol, exact_in_theory=construction.is_exact_in_theory(), files=files)
