"""Claim ``one_layer_fnn`` — arXiv 2310.17513v3, Lemma 2, p. 5 (detailed version: Lemma 9, p. 25).

For a one-layer target (L̄ = 1), LoRA adapters and biases make the frozen FNN compute
ReLU((∏W + LR_{min(RL, R_E)}(E))x + b̄) on a bounded domain for every R; exact iff R ≥ ⌈R_E/L⌉."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.claims import get_claim
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.numerics import spectral_norm
from lora_theory.testing.assertions import Example, assert_close, assert_exact, assert_not_exact, regime
from lora_theory.testing.fnn import domain_points
from lora_theory.testing.instances import build_fnn_instance
from lora_theory.testing.strategies import fnn_instances

pytestmark = pytest.mark.one_layer_fnn
CLAIM = "one_layer_fnn"


@given(inst=fnn_instances(target_depth=1), data=st.data())
@example(inst=build_fnn_instance(8, 2, 1, seed=0), data=None).via("(L̄, L) = (1, 2), R = 2")
def test_one_layer_fnn_formula(inst, data):
    """For every R the adapted output equals ReLU((∏W + LR_{min(RL,R_E)}(E))x + b̄) (σ applied per final_relu)."""
    D, L = inst.frozen.width, inst.frozen.depth
    R = 2 if data is None else data.draw(st.integers(1, D), label="LoRA rank R")
    blk = block_discrepancies(inst.frozen, inst.target)[0]
    claim = get_claim(CLAIM)
    k = int(claim.formulas["realised_rank"].subs({F.R: R, F.L: L, F.R_E: blk.rank}))
    U, s, Vh = torch.linalg.svd(blk.discrepancy)
    realised = blk.product + (U[:, :k] * s[:k]) @ Vh[:k]
    c = construct_fnn(inst.frozen, inst.target, R, inst.domain)
    X = domain_points(inst.domain, inst.seed)
    h = X @ realised.T + inst.target.biases[0]
    expected = torch.relu(h) if inst.frozen.final_relu else h
    err = float(torch.linalg.vector_norm(c.adapted()(X) - expected, dim=1).max())
    ex = Example(CLAIM, f"{inst.repro()}, R={R}", {"rank(E)": blk.rank})
    assert_exact(ex, err, tol=c.tolerance(), name="formula", what="‖f(x) − ReLU((∏W + LR_k(E))x + b̄)‖₂")
    threshold = F.evaluate_integer(claim.formulas["threshold"], {F.R_E: blk.rank, F.L: L})
    to_target = spectral_norm(realised - inst.target.weights[0])
    if R >= threshold:
        regime("at or above ⌈R_E/L⌉")
        assert_exact(ex, to_target, tol=c.blocks[0].linear.tolerance(), name="formula", what="‖∏W + LR_k(E) − W̄‖₂")
    else:
        regime("below ⌈R_E/L⌉")
        assert_close(ex, to_target, expected=float(s[k]), tol=c.blocks[0].linear.tolerance(), name="formula",
                     what="‖∏W + LR_k(E) − W̄‖₂ vs σ_{k+1}(E)")
        assert_not_exact(ex, to_target, tol=c.blocks[0].linear.tolerance(), name="formula", what=f"weights at R = {R}")
