"""PEFT export (lora_theory.interop.peft): round-trip properties over random FNN and TFN architectures, broken
variants that the checks must catch, and bad inputs.

Skipped, with the reason, when PEFT is not installed; ``.ci/run`` installs the ``peft`` extra, so CI runs them."""

from __future__ import annotations

import copy

import pytest

peft = pytest.importorskip(
    "peft", exc_type=ImportError, reason="PEFT interop needs the optional extra: pip install 'lora-theory[peft]'")

import torch  # noqa: E402
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lora_theory import formulas as F  # noqa: E402
from lora_theory.adapters import LoRAPair  # noqa: E402
from lora_theory.analysis.fnn import block_discrepancies  # noqa: E402
from lora_theory.constructions.fnn import construct_fnn  # noqa: E402
from lora_theory.constructions.tfn import construct_tfn, tfn_gaps  # noqa: E402
from lora_theory.errors import DTypeError, FileFormatError, ModelMismatchError, ShapeError, SingularityError  # noqa: E402
from lora_theory.interop.peft import (  # noqa: E402
    ADAPTER,
    BIAS_ADAPTER,
    LayerUpdate,
    check_round_trip,
    load_peft,
    lora_modules,
    save_peft,
    to_peft,
)
from lora_theory.interop.tfn_module import to_module  # noqa: E402
from lora_theory.random_matrices import generator  # noqa: E402
from lora_theory.testing.assertions import Example, assert_exact, regime  # noqa: E402
from lora_theory.testing.fnn import domain_points  # noqa: E402
from lora_theory.testing.instances import build_fnn_instance, build_tfn_instance  # noqa
from lora_theory.testing.strategies import fnn_instances, seeds, tfn_instances  # noqa

NAME = "peft_export"
#: each example builds a PeftModel, merges a deep copy and saves/loads an adapter folder (~0.1–0.2 s): the round-trip
#: properties run half the loaded profile's examples (dev 10, ci 25, deep 1000) to keep the gate's wall time
ROUND_TRIP_SETTINGS = settings(max_examples=max(10, settings().max_examples // 2))


def fnn_threshold(inst) -> int:
    ranks = [b.rank for b in block_discrepancies(inst.frozen, inst.target)]
    values = {F.R_max: max(ranks), F.L: inst.frozen.depth, F.Lbar: inst.target.depth}
    return max(F.evaluate_integer(F.THEOREM3_THRESHOLD, values), 1)


def tfn_threshold(inst) -> int:
    return max(F.evaluate_integer(F.THEOREM7_THRESHOLD, {F.G_max: max(tfn_gaps(inst.frozen, inst.target))}), 1)


def fnn_case(inst, R):
    c = construct_fnn(inst.frozen, inst.target, R, inst.domain)
    module = inst.frozen.to_sequential()
    return c, module, to_peft(module, c), domain_points(inst.domain, inst.seed)


def tfn_inputs(D: int, seed: int, n_seq: int = 4) -> torch.Tensor:
    return torch.randn(3, D, n_seq, generator=generator(seed), dtype=torch.float64)


def assert_round_trip(ex, report, exact: bool) -> None:
    """The four round-trip checks, each able to fail on its own."""
    if exact:
        assert_exact(ex, report.adapted_error, tol=report.tolerance, name="peft", what="max ‖PEFT(x) − f̄(x)‖₂")
        assert_exact(ex, report.merged_error, tol=report.tolerance, name="merged",
                     what="max ‖merge_and_unload()(x) − f̄(x)‖₂")
    assert_exact(ex, report.merged_vs_peft, tol=report.tolerance, name="merged_vs_peft",
                 what="max ‖merged(x) − PEFT(x)‖₂")
    assert report.disabled_exact, f"{NAME}: disable_adapter() output is not the frozen output bit for bit " \
                                  f"(max error {report.disabled_error:.3e}); {ex.where()}"
    assert report.reload_exact, f"{NAME}: save_pretrained + load_peft changed the output " \
                                f"(max error {report.reload_error:.3e}); {ex.where()}"
    assert report.merged_plain, f"{NAME}: merge_and_unload() left LoRA layers behind; {ex.where()}"


# ------------------------------------------------------------------------------------------------ properties: FNN


@ROUND_TRIP_SETTINGS
@given(inst=fnn_instances(low_rank=True, max_width=6, max_depth=4), extra=st.integers(0, 2))
@example(inst=build_fnn_instance(6, 4, 2, (2, 1), seed=1), extra=0).via("a layer with a rank-0 adapter: r = 1 zeros")
@example(inst=build_fnn_instance(1, 1, 1, (1,), seed=0), extra=0).via("D = 1, L = 1")
def test_fnn_round_trip_exact(inst, extra, tmp_path_factory):
    """At R ≥ the Theorem 3 threshold the PEFT model, its merge and its reload all compute the target; disabling
    the adapter gives the frozen output bit for bit; every layer's PEFT scaling is 1."""
    R = min(fnn_threshold(inst) + extra, inst.frozen.width)
    c, module, pm, x = fnn_case(inst, R)
    ex = Example(NAME, f"{inst.repro()}, R={R}")
    report = check_round_trip(c, module, pm, x, workdir=tmp_path_factory.mktemp("adapter"))
    assert_round_trip(ex, report, exact=True)
    for name, rs in lora_modules(pm).items():
        layer = pm.base_model.model.get_submodule(name)
        assert layer.scaling[ADAPTER] == 1.0, f"{NAME}: scaling {layer.scaling} on {name}; {ex.where()}"
        assert rs[0] <= R, f"{NAME}: PEFT rank {rs} on {name} exceeds R = {R}; {ex.where()}"
    assert set(pm.peft_config) == {ADAPTER}, f"{NAME}: an FNN export needs one adapter; got {set(pm.peft_config)}"
    regime(f"final_relu={inst.frozen.final_relu}")


@ROUND_TRIP_SETTINGS
@given(inst=fnn_instances(low_rank=True, max_width=6, max_depth=4))
@example(inst=build_fnn_instance(8, 4, 2, (8, 2), seed=3)).via("threshold 4, one block full rank")
def test_fnn_round_trip_below_threshold(inst, tmp_path_factory):
    """Below the threshold the PEFT model is the construction's adapted network (Theorem 5's approximation), not
    the target: PEFT(x) equals FNN(x; W + BA, b̂) within tolerance, and the round trip is still faithful."""
    R = fnn_threshold(inst)
    if R < 2:
        regime("threshold 1: nothing below")
        return
    c, module, pm, x = fnn_case(inst, R - 1)
    ex = Example(NAME, f"{inst.repro()}, R={R - 1}")
    with torch.no_grad():
        err = float(torch.linalg.vector_norm(pm(x) - c.adapted()(x), dim=1).max())
    assert_exact(ex, err, tol=c.tolerance(), name="below.adapted",
                 what="max ‖PEFT(x) − f_construction(x)‖₂ below the threshold")
    report = check_round_trip(c, module, pm, x, workdir=tmp_path_factory.mktemp("adapter"))
    assert_round_trip(ex, report, exact=False)
    regime("below threshold")


# ------------------------------------------------------------------------------------------------ properties: TFN


@ROUND_TRIP_SETTINGS
@given(inst=tfn_instances(max_width=4, max_depth=2, max_heads=2), x_seed=seeds())
@example(inst=build_tfn_instance(4, 2, 2, 1, seed=0), x_seed=0).via("low gap: rank-0 K/O adapters are skipped")
def test_tfn_round_trip_exact(inst, x_seed, tmp_path_factory):
    """Theorem 7 export: two adapters (weights on the allowed set, bias updates on W1/W2), active together; the
    PEFT model, its merge and its reload compute the target; disabling gives the frozen output bit for bit."""
    R = tfn_threshold(inst)
    try:
        c = construct_tfn(inst.frozen, inst.target, R)
    except SingularityError:
        regime("non-singularity fails numerically (hypothesis not met)")
        return
    module = to_module(inst.frozen)
    pm = to_peft(module, c)
    ex = Example(NAME, f"{inst.repro()}, R={R}, inputs seed={x_seed}")
    report = check_round_trip(c, module, pm, tfn_inputs(inst.frozen.width, x_seed),
                              workdir=tmp_path_factory.mktemp("adapter"))
    assert_round_trip(ex, report, exact=True)
    weights_on_bias_free = any(n.endswith(("_proj", "Wo")) for n in lora_modules(pm))
    want = {ADAPTER, BIAS_ADAPTER} if weights_on_bias_free else {ADAPTER}
    assert set(pm.active_adapters) == want, f"{NAME}: active {pm.active_adapters}, expected {want}; {ex.where()}"
    allowed = ("q_proj", "k_proj", "v_proj", "o_proj", f"blocks.{inst.frozen.depth - 1}.W2", "Wo")
    for name in lora_modules(pm):
        layer = pm.base_model.model.get_submodule(name)
        for a in layer.r:
            assert layer.scaling[a] == 1.0, f"{NAME}: scaling {layer.scaling} on {name}; {ex.where()}"
            delta = layer.lora_B[a].weight @ layer.lora_A[a].weight
            if not name.endswith(allowed):  # only bias updates may sit outside Theorem 7's set
                assert not bool(delta.any()), f"{NAME}: a weight update on {name}, outside Theorem 7's set"
            assert layer.r[a] <= R, f"{NAME}: PEFT rank {layer.r} on {name} exceeds R = {R}; {ex.where()}"
    regime("low-gap target" if inst.gap_rank is not None else "random target")


# ------------------------------------------------------------------------------------- the checks can fail


def _small_fnn():
    inst = build_fnn_instance(5, 4, 2, (2, 3), seed=7)
    c, module, pm, x = fnn_case(inst, fnn_threshold(inst))
    return inst, c, module, pm, x


def test_broken_scaling_is_caught():
    """α ≠ r (PEFT's default scaling) must show as a target mismatch."""
    inst, c, module, pm, x = _small_fnn()
    for name in lora_modules(pm):
        pm.base_model.model.get_submodule(name).scaling[ADAPTER] = 2.0
    report = check_round_trip(c, module, pm, x)
    assert not report.ok and report.adapted_error > 1e6 * report.tolerance.value, str(report)


def test_dropped_bias_update_is_caught():
    """Exporting the weights without the bias updates (lora_bias=False) must fail the target check."""
    inst, c, module, pm, x = _small_fnn()
    with torch.no_grad():
        for name in lora_modules(pm):
            pm.base_model.model.get_submodule(name).lora_B[ADAPTER].bias.zero_()
    report = check_round_trip(c, module, pm, x)
    assert not report.ok and report.adapted_error > 1e6 * report.tolerance.value, str(report)


def test_swapped_factors_are_caught():
    """Loading Aᵀ/Bᵀ the wrong way round (a transposed update) must fail."""
    inst, c, module, pm, x = _small_fnn()
    with torch.no_grad():
        name = next(n for n, r in lora_modules(pm).items())
        layer = pm.base_model.model.get_submodule(name)
        A, B = layer.lora_A[ADAPTER].weight.clone(), layer.lora_B[ADAPTER].weight.clone()
        layer.lora_A[ADAPTER].weight.copy_(B.T)
        layer.lora_B[ADAPTER].weight.copy_(A.T)
    report = check_round_trip(c, module, pm, x)
    assert report.adapted_error > 1e6 * report.tolerance.value, str(report)


def test_touched_base_weight_is_caught():
    """disable_adapter() must give the frozen output bit for bit: a one-ulp change of a base weight is seen."""
    inst, c, module, pm, x = _small_fnn()
    with torch.no_grad():
        w = pm.base_model.model.get_submodule("0").base_layer.weight
        w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(float("inf"), dtype=w.dtype))
    report = check_round_trip(c, module, pm, x)
    assert not report.disabled_exact and not report.ok, str(report)


def test_tfn_single_adapter_with_lora_bias_cannot_merge():
    """Why the TFN export uses two adapters: PEFT refuses to merge lora_bias on the bias-free projections."""
    inst = build_tfn_instance(3, 1, 1, 1, seed=0)
    module = to_module(inst.frozen)
    names = [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
    with pytest.warns(UserWarning, match="has no bias"):
        pm = peft.get_peft_model(copy.deepcopy(module), peft.LoraConfig(r=1, lora_alpha=1, target_modules=names,
                                                                         lora_bias=True))
    with pytest.raises(RuntimeError, match="no bias"):
        pm.merge_and_unload()


def test_input_module_is_not_modified():
    inst = build_fnn_instance(4, 2, 1, (2,), seed=2)
    module = inst.frozen.to_sequential()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    c = construct_fnn(inst.frozen, inst.target, 1, inst.domain)
    to_peft(module, c)
    assert all(type(m) in (torch.nn.Sequential, torch.nn.Linear, torch.nn.ReLU) for m in module.modules())
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert all(p.requires_grad for p in module.parameters())


# ------------------------------------------------------------------------------------------------ bad inputs


def test_mismatched_module_is_refused():
    inst = build_fnn_instance(4, 2, 1, (2,), seed=2)
    c = construct_fnn(inst.frozen, inst.target, 2, inst.domain)
    other = build_fnn_instance(4, 2, 1, (2,), seed=3).frozen.to_sequential()
    with pytest.raises(ModelMismatchError, match=r"layer '0' weight differs"):
        to_peft(other, c)
    with pytest.raises(ShapeError, match="linear layers"):
        to_peft(build_fnn_instance(4, 3, 1, (2,), seed=2).frozen.to_sequential(), c)
    with pytest.raises(DTypeError, match="float32"):
        to_peft(inst.frozen.to_sequential().to(torch.float32), c)
    with pytest.raises(DTypeError, match="nn.Sequential"):
        to_peft(to_module(build_tfn_instance(4, 1, 1, seed=0).frozen), c)
    with pytest.raises(DTypeError, match="adaptation must be"):
        to_peft(inst.frozen.to_sequential(), "not a construction")
    with pytest.raises(DTypeError, match="torch.nn.Module"):
        to_peft(inst.frozen, c)
    wrong_relu = type(inst.frozen)(inst.frozen.weights, inst.frozen.biases, not inst.frozen.final_relu)
    with pytest.raises(ModelMismatchError, match="final_relu"):
        to_peft(wrong_relu.to_sequential(), c)


def test_mapping_updates_are_validated():
    inst = build_fnn_instance(3, 1, 1, (1,), seed=0)
    module = inst.frozen.to_sequential()
    good = LoRAPair(torch.ones(3, 1, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"adaptation\['9'\]"):
        to_peft(module, {"9": LayerUpdate(good)})
    with pytest.raises(ShapeError, match=r"bias_delta has shape \(2,\)"):
        to_peft(module, {"0": LayerUpdate(good, torch.zeros(2, dtype=torch.float64))})
    with pytest.raises(DTypeError, match="LayerUpdate"):
        to_peft(module, {"0": good})
    with pytest.raises(ShapeError, match="no nn.Linear layer"):
        to_peft(torch.nn.Sequential(torch.nn.ReLU()), {})
    pm = to_peft(module, {"0": LayerUpdate(good, torch.full((3,), 0.5, dtype=torch.float64))})
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator(0))
    with torch.no_grad():
        want = torch.relu(x @ (inst.frozen.weights[0] + good.delta()).T + inst.frozen.biases[0] + 0.5)
        assert torch.allclose(pm(x), want, rtol=0, atol=1e-14)


def test_load_peft_refuses_a_folder_without_adapter(tmp_path):
    with pytest.raises(FileFormatError, match="adapter_config.json"):
        load_peft(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path)


def test_saved_folder_loads_with_plain_peft(tmp_path):
    """An FNN adapter saved by save_peft loads with nothing but PEFT's own from_pretrained."""
    inst, c, module, pm, x = _small_fnn()
    save_peft(pm, tmp_path / "a")
    plain = peft.PeftModel.from_pretrained(inst.frozen.to_sequential(), str(tmp_path / "a"))
    with torch.no_grad():
        err = float(torch.linalg.vector_norm(plain(x) - inst.target(x), dim=1).max())
    assert_exact(Example(NAME, "build_fnn_instance(5, 4, 2, (2, 3), seed=7)"), err, tol=c.tolerance(),
                 name="plain_load", what="PeftModel.from_pretrained output vs target")


def test_save_peft_is_atomic_and_never_writes_over_an_adapter(tmp_path, monkeypatch):
    """save_peft publishes the folder whole (a failure inside save_pretrained leaves neither the folder nor a
    temporary one) and refuses a folder that already holds files."""
    inst, c, module, pm, x = _small_fnn()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("another run")
    with pytest.raises(FileFormatError, match="not an empty folder"):
        save_peft(pm, tmp_path / "taken")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    work = tmp_path / "work"
    work.mkdir()
    real = type(pm).save_pretrained

    def half_then_crash(self, directory, *args, **kwargs):
        real(self, directory, *args, **kwargs)
        raise OSError("simulated: disk full after the weights")

    monkeypatch.setattr(type(pm), "save_pretrained", half_then_crash)
    with pytest.raises(OSError, match="simulated"):
        save_peft(pm, work / "a")
    assert list(work.iterdir()) == [], f"left behind: {sorted(p.name for p in work.iterdir())}"


def test_plain_save_pretrained_passes_the_suite_warning_filter(tmp_path):
    """pyproject's filterwarnings ignores exactly PEFT's false-positive 1-D lora_B.bias shape warning (this suite
    turns warnings into errors), so calling save_pretrained directly works in tests — and the warning is real."""
    inst, c, module, pm, x = _small_fnn()
    pm.save_pretrained(str(tmp_path / "plain"))
    import warnings
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pm.save_pretrained(str(tmp_path / "again"))
    assert any("LoRA tensor(s) have invalid shape" in str(w.message) for w in seen), \
        "PEFT no longer emits the lora_B.bias shape warning: drop the filter from pyproject.toml"
