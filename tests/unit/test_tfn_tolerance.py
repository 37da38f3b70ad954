"""The Theorem 7 output tolerance (:meth:`TFNConstruction.tolerance`, :func:`lora_theory.tolerance.tfn_tolerance`):
the reproductions of issue 12 — one rank below the threshold must fail it, at the threshold pass it, also at input
scale ×1e3 — and the elementary rounding rules it is built from."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

from lora_theory.constructions.tfn import _tfn_tolerance_normwise_gather, construct_tfn, tfn_gaps
from lora_theory.models import column_softmax
from lora_theory.random_matrices import generator
from lora_theory.testing.instances import build_tfn_instance
from lora_theory.tolerance import gamma, softmax_rounding

F64 = torch.float64


def _inputs(D: int, seed: int, n_seq: int, scale: float) -> torch.Tensor:
    return scale * torch.randn(3, D, n_seq, generator=generator(seed), dtype=F64)


def _err(c, X) -> float:
    return float(torch.linalg.vector_norm(c.adapted()(X) - c.target(X), dim=-2).max())


@pytest.mark.parametrize("H", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_issue12_threshold_separates_on_outputs(H, seed):
    """D = 15, L = 3: R = ⌈D/2⌉ = 8 passes, R = 7 (errors of a few % of the output) fails, on every input tried —
    the old normwise tolerance let R = 7 pass on about half of them."""
    inst = build_tfn_instance(15, 3, H, seed=seed)
    assert tfn_gaps(inst.frozen, inst.target) == (15,) * 4
    at, below = construct_tfn(inst.frozen, inst.target, 8), construct_tfn(inst.frozen, inst.target, 7)
    for x_seed in range(2):
        for scale in (1.0, 30.0):
            X = _inputs(15, x_seed, 5, scale)
            err_at, tol_at = _err(at, X), at.tolerance(X)
            assert err_at <= tol_at.value, (err_at, str(tol_at))
            err_below, tol_below = _err(below, X), below.tolerance(X)
            assert err_below > tol_below.value, (err_below, str(tol_below))
            assert err_below > 1e5 * tol_below.value  # far above rounding, not a near miss


@pytest.mark.parametrize("H", [1, 3])
def test_issue12_input_scale_1e3(H):
    """At input scale ×1e3 the old tolerance at the threshold exceeded 1e7·‖f̄(X)‖; now it is a tiny fraction of the
    output, still above the observed error, and the construction one rank below fails it."""
    inst = build_tfn_instance(15, 3, H, seed=0)
    X = _inputs(15, 0, 5, 1e3)
    at, below = construct_tfn(inst.frozen, inst.target, 8), construct_tfn(inst.frozen, inst.target, 7)
    out = float(torch.linalg.vector_norm(inst.target(X), dim=-2).max())
    tol = at.tolerance(X)
    assert _err(at, X) <= tol.value < 1e-8 * out, (str(tol), out)
    assert tol.scale == pytest.approx(out)
    assert _err(below, X) > below.tolerance(X).value


def test_old_normwise_tolerance_did_not_separate():
    """The superseded model (kept for the mutation registry) lets R = 7 pass on this input: the mutant the output
    property must kill."""
    inst = build_tfn_instance(15, 3, 1, seed=0)
    below = construct_tfn(inst.frozen, inst.target, 7)
    X = _inputs(15, 0, 5, 30.0)
    assert _err(below, X) <= _tfn_tolerance_normwise_gather(below, X).value
    assert _err(below, X) > below.tolerance(X).value


def test_tolerance_terms_unbatched_and_single_token():
    """One sequence (D, N) and N = 1 are accepted; the tolerance names its parts."""
    inst = build_tfn_instance(5, 2, 2, seed=3)
    c = construct_tfn(inst.frozen, inst.target, 3)
    for N in (1, 4):
        X = torch.randn(5, N, generator=generator(N), dtype=F64)
        tol = c.tolerance(X)
        assert _err(c, X) <= tol.value
        for part in ("adapted rounding", "target rounding", "identity defects", "output defect"):
            assert part in tol.terms and tol.terms[part] >= 0
        assert "identity defects" in str(tol)


def test_gamma():
    u = 2.0 ** -53
    assert gamma(0, u) == 0.0
    assert gamma(10, u) == pytest.approx(10 * u, rel=1e-12) and gamma(10, u) > 10 * u


@pytest.mark.parametrize("spread", [1.0, 30.0, 1e3, 1e6])
def test_softmax_rounding_bound_holds(spread):
    """|fl(softmax(s)) − softmax(s)| ≤ p·(α(|s − m| + Σ p|s − m|) + β) + η entrywise, against a 50-digit reference,
    for the scores exactly as stored (so only the softmax's own rounding is measured)."""
    S = spread * torch.randn(7, 5, generator=generator(int(math.log10(spread) * 10)), dtype=F64)
    P = column_softmax(S)
    alpha, beta, tiny = softmax_rounding(7, 2.0 ** -53, torch.finfo(F64).tiny)
    gap = (S - S.max(dim=0, keepdim=True).values).abs()
    bound = P * (alpha * (gap + (P * gap).sum(dim=0, keepdim=True)) + beta) + tiny
    with mpmath.workdps(50):
        for j in range(S.shape[1]):
            col = [mpmath.mpf(float(v)) for v in S[:, j]]
            m = max(col)
            ex = [mpmath.exp(v - m) for v in col]
            tot = mpmath.fsum(ex)
            for i in range(S.shape[0]):
                assert abs(mpmath.mpf(float(P[i, j])) - ex[i] / tot) <= mpmath.mpf(float(bound[i, j]))


# --- the output layer softmax(W_o Z_L) (App. F.2, p. 37) and the single-head block (App. F.1, p. 33) ---------------


def test_softmax_jacobian_norm_is_at_most_half_and_lipschitz():
    """‖diag(p) − ppᵀ‖₂ ≤ 1/2 for every probability vector (= 1/2 at two equal probabilities), and the column softmax
    is 1/2-Lipschitz in the 2-norm: the facts the softmax-output tolerance is derived from."""
    from lora_theory.constructions.tfn import _softmax_jacobian_norms

    gen = torch.Generator().manual_seed(0)
    A = 3.0 * torch.randn(200, 6, 5, generator=gen, dtype=F64)
    P = column_softmax(A)
    norms = _softmax_jacobian_norms(P)
    assert norms.shape == (200, 5) and float(norms.max()) <= 0.5 and float(norms.min()) >= 0.0
    two = _softmax_jacobian_norms(column_softmax(torch.zeros(1, 2, 1, dtype=F64)))
    assert abs(float(two) - 0.5) <= 1e-15
    B = A + 0.1 * torch.randn(200, 6, 5, generator=gen, dtype=F64)
    lhs = torch.linalg.vector_norm(column_softmax(A) - column_softmax(B), dim=-2)
    rhs = 0.5 * torch.linalg.vector_norm(A - B, dim=-2)
    assert bool((lhs <= rhs * (1 + 1e-12)).all())


@pytest.mark.parametrize("single_head", [False, True])
def test_tolerance_follows_the_output_layer(single_head):
    """tolerance(X) is the model's output layer's; softmax outputs agree within it, logits within tolerance(X,
    "linear"); both separate R = ⌈D/2⌉ − 1 (on this unsaturated instance)."""
    from lora_theory.constructions.tfn import construct_tfn_single_head

    D, H = 5, 1 if single_head else 2
    build = construct_tfn_single_head if single_head else construct_tfn
    soft = build_tfn_instance(D, 2, H, seed=4, single_head=single_head)
    lin = build_tfn_instance(D, 2, H, seed=4, single_head=single_head, output="linear")
    X = _inputs(D, 1, 4, 1.0)
    cs, cl = build(soft.frozen, soft.target, 3), build(lin.frozen, lin.target, 3)
    ts, tl = cs.tolerance(X), cl.tolerance(X)
    assert ts.terms == cs.tolerance(X, "softmax").terms and tl.value == cs.tolerance(X, "linear").value
    assert "softmax" in ts.formula and "softmax" not in tl.formula
    assert _err(cs, X) <= ts.value and _err(cl, X) <= tl.value
    assert float(torch.linalg.vector_norm(cs.adapted().logits(X) - soft.target.logits(X), dim=-2).max()) <= tl.value
    assert ts.value < tl.value  # the softmax passes at most half of a logit error
    below = build(soft.frozen, soft.target, 2)
    assert _err(below, X) > 1e6 * below.tolerance(X).value


def test_single_head_attention_is_the_papers_formula():
    """Attn(Z) = W_V Z softmax((W_K Z)ᵀ W_Q Z), by hand; and the single-head model equals a one-head multi-head model
    with W_O = I bit for bit (a product with the identity is exact)."""
    from lora_theory.models import TFN

    inst = build_tfn_instance(4, 2, 1, seed=3, single_head=True)
    net = inst.frozen
    Z = _inputs(4, 2, 5, 1.0)
    blk = net.blocks[0]
    S = (blk.WK[0] @ Z).transpose(-1, -2) @ (blk.WQ[0] @ Z)
    expected = (blk.WV[0] @ Z) @ (torch.exp(S) / torch.exp(S).sum(dim=-2, keepdim=True))
    assert torch.allclose(net.attention(0, Z), expected, rtol=1e-13, atol=0.0)
    multi = TFN(net.blocks, net.Wo, net.output, False)
    assert torch.equal(multi(Z), net(Z))


def test_v1_chain_tolerance_formula():
    """tfn_chain_tolerance(kind="V1"): uD²·2·‖W̄_1‖‖W̄_V‖·‖C‖ + ‖W̄_1‖‖W̄_V‖·δC with δC = uD²·κ(W_2)·‖C‖."""
    from lora_theory.tolerance import Tolerance, tfn_chain_tolerance

    u, D = 2.0 ** -53, 4
    base = Tolerance(1e-15, 1.0, "chain")
    t = tfn_chain_tolerance(base, unit_roundoff=u, width=D, kind="V1", target_norms=(2.0, 3.0), calibration_norm=1.5,
                            calibration_kappa=10.0)
    dC = u * D ** 2 * 10.0 * 1.5
    assert math.isclose(t.value, 1e-15 + u * D ** 2 * 2 * 6.0 * 1.5 + 6.0 * dC, rel_tol=1e-14)
    t1 = tfn_chain_tolerance(base, unit_roundoff=u, width=D, kind="V1", target_norms=(2.0, 3.0))
    assert math.isclose(t1.value, 1e-15 + u * D ** 2 * 2 * 6.0, rel_tol=1e-14)
