"""Claim ``lemma14`` — arXiv 2310.17513v3, Lemma 14, p. 37 (App. F.2).

Frozen and target TFN weights with independent continuous random entries satisfy Assumption 4 with probability 1.
As in the lemma, R is the one of Assumption 4, so it is checked for every R ∈ [D] at once (the list for R = D
contains the lists of all smaller R). "With probability 1" says nothing about conditioning: the property checks the
singularity threshold on small, well-scaled draws and only *reports* the conditioning (events; ``target`` in the
deep profile)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given, target
from hypothesis import strategies as st

from lora_theory.analysis.tfn import assumption4_report
from lora_theory.random_matrices import generator
from lora_theory.testing.assertions import Example, assert_equal, assert_true, regime
from lora_theory.testing.instances import build_offgen_tfn_instance, build_tfn_instance
from lora_theory.testing.strategies import offgen_tfn_instances, seeds, tfn_instances

pytestmark = pytest.mark.lemma14
CLAIM = "lemma14"


def _decade_event(ratio: float) -> None:
    decade = math.floor(math.log10(ratio)) if ratio > 0 else -99
    regime(f"worst σ_min/σ_max ≥ 1e{max(decade, -12)}" if decade >= -3 else "worst σ_min/σ_max < 1e-3")
    target(-math.log10(max(ratio, 1e-300)), label="-log10 worst σ_min/σ_max")


def _check_every_rank(ex: Example, frozen, target_net) -> None:
    """The report at R = D holds, and the report at every R ∈ [D] is its sub-list (same names, same ratios)."""
    D = frozen.width
    full = assumption4_report(frozen, target_net, D)
    worst = full.worst()
    assert_true(ex, full.holds, name="random_nonsingular",
                what=f"every matrix Assumption 4 lists for R = D = {D} (hence for every R ∈ [D]) is non-singular",
                seen=f"{len(full.failing())} failing; worst {worst.name}: σ_min/σ_max = {worst.ratio:.3e}")
    ratios = {e.name: e.ratio for e in full}
    for R in range(1, D):
        sub = assumption4_report(frozen, target_net, R)
        assert_true(ex, all(ratios.get(e.name) == e.ratio for e in sub), name="every_rank",
                    what=f"the list for R = {R} is a sub-list of the one for R = D (same matrices, same ratios)",
                    seen=[e.name for e in sub if ratios.get(e.name) != e.ratio][:3])
    _decade_event(worst.ratio)


@given(inst=tfn_instances(low_gap=False, max_width=5, max_depth=3, max_heads=2))
@example(inst=build_tfn_instance(5, 3, 2, seed=0)).via("three blocks, two heads, D = 5")
def test_lemma14_random_nonsingular(inst):
    """Independent random pairs (continuous singular values, Haar factors): Assumption 4 holds for every R ∈ [D]."""
    _check_every_rank(Example(CLAIM, inst.repro()), inst.frozen, inst.target)


@given(inst=offgen_tfn_instances(populations=("gaussian", "xavier"), max_width=5))
@example(inst=build_offgen_tfn_instance("gaussian", 5, 2, 2, seed=0)).via("N(0, 1/D) weights")
@example(inst=build_offgen_tfn_instance("xavier", 4, 2, 1, seed=1)).via("Xavier-uniform weights")
def test_lemma14_offgen_random_weights(inst):
    """The lemma's setting as users draw it — every weight N(0, 1/D) or Xavier-uniform, independent, unconditioned:
    Assumption 4 holds numerically for every R ∈ [D]."""
    kind = inst.args.split(",", 1)[0].strip("'")
    _check_every_rank(Example(CLAIM, inst.repro(), population=kind), inst.frozen, inst.target)
    regime(f"population: {kind}")


@given(D=st.integers(2, 5), L=st.integers(1, 2), H=st.integers(1, 2), seed=seeds(),
       which=st.sampled_from(("frozen W_Q", "target W_V", "target W_o")),
       noise=st.sampled_from((1e-6, 1e-3)))
@example(D=3, L=2, H=2, seed=0, which="frozen W_Q", noise=1e-6).via("singular frozen W_Q, noise 1e-6")
def test_lemma14_exceptions_are_not_stable(D, L, H, seed, which, noise):
    """The exceptions have measure zero: a weight made exactly singular (not a continuous draw) fails Assumption 4,
    and an independent continuous perturbation of relative size ``noise`` — the lemma's hypothesis for that weight —
    makes it hold again (the singular set has no interior)."""
    inst = build_tfn_instance(D, L, H, seed=seed)
    g = generator(seed + 1)
    model, kind = which.split(" ")
    net = inst.frozen if model == "frozen" else inst.target
    W = {"W_Q": net.blocks[0].WQ[0], "W_V": net.blocks[0].WV[0], "W_o": net.Wo}[kind]
    v = torch.randn(D, generator=g, dtype=torch.float64)
    v = v / torch.linalg.vector_norm(v)
    singular = W - torch.outer(W @ v, v)
    scale = float(torch.linalg.matrix_norm(W, ord=2))
    noisy = singular + noise * scale * torch.randn(D, D, generator=g, dtype=torch.float64) / D ** 0.5

    def with_weight(M):
        import dataclasses

        if kind == "W_o":
            return dataclasses.replace(net, Wo=M)
        b = net.blocks[0]
        attr = {"W_Q": "WQ", "W_V": "WV"}[kind]
        mats = (M,) + tuple(getattr(b, attr)[1:])
        return dataclasses.replace(net, blocks=(dataclasses.replace(b, **{attr: mats}),) + net.blocks[1:])

    pair = ((lambda M: (with_weight(M), inst.target)) if model == "frozen"
            else (lambda M: (inst.frozen, with_weight(M))))
    name = f"{model} {kind}" + ("" if kind == "W_o" else f" (block 1{', head 1' if kind != 'W_1' else ''})")
    ex = Example(CLAIM, f"build_tfn_instance({D}, {L}, {H}, seed={seed}) with {name} made singular, then "
                        f"+ {noise:g}·‖W‖·N(0, 1/D) noise (generator({seed + 1}))")
    bad = assumption4_report(*pair(singular), D)
    assert_equal(ex, bad.entry(name).passed, expected=False, name="exception",
                 what=f"{name} made singular fails the threshold")
    _check_every_rank(ex, *pair(noisy))
    regime(f"{which} singular, then noise {noise:g}: Assumption 4 holds again")
