"""Claim ``appendix_h`` — arXiv 2310.17513v3, Appendix H (pp. 45–46): different widths, D̄ ≤ D.

A width-D̄ target and a width-D frozen model; inputs [x; 0], the first D̄ outputs compared. Linear: the expanded
target W̃ (top-left block W̄, every other entry that of ∏W; :func:`lora_theory.constructions.widths.pad_linear_target`)
has rank(E) ≤ D̄, and the Lemma 1 construction on it is exact iff R ≥ ⌈rank(E)/L⌉, so R ≥ ⌈D̄/L⌉ always suffices —
the printed ⌊D̄/L⌋ (p. 46) does not (D̄ = 5, L = 2, D = 6). FNN: the padded target of
:func:`lora_theory.constructions.widths.pad_fnn_target` computes [f̄(x); 0] on [x; 0] with rank(E_i) ≤ D̄, and the
Theorem 3 construction on it matches f̄ on a ball once R ≥ ⌈D̄/⌊L/L̄⌋⌉.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from lora_theory import formulas as F
from lora_theory.claims import get_claim
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.constructions.linear import construct_linear
from lora_theory.constructions.widths import block_products, pad_fnn_target, pad_input, pad_linear_target
from lora_theory.domains import Ball
from lora_theory.models import LinearChain, ReLUFNN
from lora_theory.numerics import chain_product, spectral_norm
from lora_theory.random_matrices import generator, low_rank_matrix, matrix_with_singular_values
from lora_theory.testing.assertions import (
    Example,
    assert_at_most,
    assert_close,
    assert_exact,
    assert_not_exact,
    assert_true,
    no_refusal,
    refusal_allowed,
    regime,
)
from lora_theory.testing.strategies import seeds

pytestmark = pytest.mark.appendix_h
CLAIM = "appendix_h"
DT = torch.float64


# --- instances --------------------------------------------------------------------------------------------------------

def _layers(D: int, L: int, gen: torch.Generator) -> list[torch.Tensor]:
    """L frozen D×D layers with singular values in [0.8, 1.25] (so σ_min(∏W) ≥ 0.8^L)."""
    out = []
    for _ in range(L):
        sv = torch.sort(0.8 + 0.45 * torch.rand(D, generator=gen, dtype=DT), descending=True).values
        out.append(matrix_with_singular_values(sv, gen, dtype=DT))
    return out


def linear_width_instance(D: int, Dbar: int, L: int, k: int | None,
                          seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(weights, W̄): W̄ = [∏W]_{D̄} + C with C a D̄×D̄ change of rank k (None: generic full rank D̄) and
    ‖C‖₂ ≤ 0.5·0.8^L ≤ σ_min(∏W)/2, so ∏W + LR_r(E) stays non-singular (Weyl) and rank(E) = rank(C)."""
    gen = generator(seed)
    Ws = _layers(D, L, gen)
    scale = 0.5 * 0.8 ** L
    rank = Dbar if k is None else k
    s = scale * torch.linspace(1.0, 0.4, rank, dtype=DT) if rank else torch.zeros(0, dtype=DT)
    C = low_rank_matrix(Dbar, s, gen, dtype=DT)
    return Ws, chain_product(Ws)[:Dbar, :Dbar] + C


@st.composite
def linear_cases(draw: st.DrawFn) -> tuple[int, int, int, int | None, int, int]:
    """(D, D̄, L, rank(C) or None, R, seed): D ∈ 2..6, D̄ ∈ 1..D, L ∈ 1..4, R ∈ 1..D."""
    D = draw(st.integers(2, 6), label="frozen width D")
    Dbar = draw(st.integers(1, D), label="target width D̄")
    L = draw(st.integers(1, 4), label="depth L")
    k = draw(st.one_of(st.none(), st.integers(0, Dbar)), label="rank of the change (None: generic, = D̄)")
    low = max(1, -(-Dbar // L))  # ⌈D̄/L⌉: half the draws at or below it, where the threshold bites
    R = draw(st.one_of(st.integers(1, low), st.integers(1, D)), label="LoRA rank R")
    return D, Dbar, L, k, R, draw(seeds(), label="seed")


def _repro(D: int, Dbar: int, L: int, k: int | None, R: int, seed: int) -> str:
    return (f"Ws, Wbar = linear_width_instance({D}, {Dbar}, {L}, {k!r}, seed={seed}); "
            f"construct_linear(Ws, pad_linear_target(Ws, Wbar), {R})")


# --- linear -----------------------------------------------------------------------------------------------------------

@given(case=linear_cases())
@example(case=(6, 5, 2, None, 3, 0)).via("D̄ = 5, L = 2: the ceiling ⌈5/2⌉ = 3 is exact")
@example(case=(6, 5, 2, None, 2, 0)).via("D̄ = 5, L = 2: the printed floor ⌊5/2⌋ = 2 is not")
@example(case=(4, 4, 3, None, 2, 1)).via("D̄ = D: Lemma 1 itself")
@example(case=(5, 3, 2, 1, 1, 2)).via("rank(E) = 1 < D̄: R = ⌈1/2⌉ = 1 exact")
def test_appendix_h_linear(case):
    """W̃ agrees with W̄ on the top-left block and with ∏W elsewhere (bit for bit), so E = W̃ − ∏W is zero outside
    the block and rank(E) ≤ D̄. The Lemma 1 construction on W̃ gives [∏(W_l + ΔW_l)]_{D̄} = W̄ — the first D̄ outputs
    on [x; 0] equal W̄x — within its tolerance iff R ≥ ⌈rank(E)/L⌉; below, it misses by σ_{RL+1}(E). Whenever R is
    at least the registry's threshold ⌈D̄/L⌉ the result must be exact."""
    D, Dbar, L, k, R, seed = case
    Ws, Wbar = linear_width_instance(D, Dbar, L, k, seed)
    ex = Example(CLAIM, _repro(*case), {"D": D, "D̄": Dbar, "L": L, "R": R})
    Wt = pad_linear_target(Ws, Wbar)
    P = chain_product(Ws)
    outside = torch.ones(D, D, dtype=torch.bool)
    outside[:Dbar, :Dbar] = False
    assert_true(ex, torch.equal(Wt[:Dbar, :Dbar], Wbar) and torch.equal(Wt[outside], P[outside]), name="padding",
                what="[W̃]_{D̄} = W̄ and W̃ = ∏W outside the block (bit for bit)")
    E = Wt - P
    assert_true(ex, not bool(E[outside].any()), name="padding", what="E is zero outside the top-left block")
    s = torch.linalg.svdvals(E)
    RE = k if k is not None else Dbar  # rank by construction
    assert_at_most(ex, RE, bound=Dbar, name="padding", what="rank(E) ≤ D̄")
    claim = get_claim(CLAIM)
    exact_at = F.evaluate_integer(claim.formulas["exact_threshold"], {F.R_E: RE, F.L: L})
    suffices = F.evaluate_integer(claim.formulas["threshold"], {F.Dbar: Dbar, F.L: L})
    with no_refusal(ex, name="linear", what="construct_linear on the padded target (non-singular by construction)"):
        c = construct_linear(Ws, Wt, R)
    adapted = c.adapted_product()
    block = spectral_norm(adapted[:Dbar, :Dbar] - Wbar)
    X = 2 * torch.rand(32, Dbar, generator=generator(seed), dtype=DT) - 1
    out = LinearChain(tuple(p.merge(W) for p, W in zip(c.adapters, Ws)))(pad_input(X, D))[:, :Dbar]
    xmax = float(torch.linalg.vector_norm(X, dim=1).max())
    out_err = float(torch.linalg.vector_norm(out - X @ Wbar.T, dim=1).max())
    tol = c.tolerance()
    if R >= exact_at:
        regime("R ≥ ⌈rank(E)/L⌉: exact")
        assert_exact(ex, block, tol=tol, name="linear", what="‖[∏W̃_l]_{D̄} − W̄‖₂")
        assert_exact(ex, out_err, tol=tol.scaled(2 * xmax, "2·max‖x‖: the evaluation of the chain on [x; 0]"),
                     name="linear", what="max_x ‖[f([x; 0])]_{1..D̄} − W̄x‖₂")
    else:
        regime("R < ⌈rank(E)/L⌉: not exact")
        sig = float(s[R * L])
        assert_close(ex, block, expected=sig, tol=tol, name="linear", what="‖[∏W̃_l]_{D̄} − W̄‖₂ vs σ_{RL+1}(E)")
        assert_not_exact(ex, block, tol=tol, name="linear", what=f"[∏W̃_l]_{{D̄}} at R = {R}")
    if R >= suffices:
        regime("R ≥ ⌈D̄/L⌉")
        assert_exact(ex, block, tol=tol, name="threshold", what=f"‖[∏W̃_l]_{{D̄}} − W̄‖₂ at R = {R} ≥ ⌈D̄/L⌉")


def test_appendix_h_printed_floor():
    """The printed rank ⌊D̄/L⌋ (p. 46) is too small: D̄ = 5, L = 2, D = 6, a generic W̄: ⌊5/2⌋ = 2 gives RL = 4 < 5
    = rank(E), and the construction misses W̄ by σ_5(E) > 0; the registry's threshold ⌈5/2⌉ = 3 is exact."""
    D, Dbar, L, seed = 6, 5, 2, 0
    claim = get_claim(CLAIM)
    floor = F.evaluate_integer(claim.formulas["threshold_printed"], {F.Dbar: Dbar, F.L: L})
    ceil = F.evaluate_integer(claim.formulas["threshold"], {F.Dbar: Dbar, F.L: L})
    Ws, Wbar = linear_width_instance(D, Dbar, L, None, seed)
    Wt = pad_linear_target(Ws, Wbar)
    s = torch.linalg.svdvals(Wt - chain_product(Ws))
    for R in (floor, ceil):
        ex = Example(CLAIM, _repro(D, Dbar, L, None, R, seed), {"R": R, "σ_5(E)": float(s[4])})
        c = construct_linear(Ws, Wt, R)
        block = spectral_norm(c.adapted_product()[:Dbar, :Dbar] - Wbar)
        if R == floor:
            assert_true(ex, R * L < Dbar, name="printed_floor", what=f"⌊D̄/L⌋·L = {R * L} < D̄ = {Dbar}")
            assert_close(ex, block, expected=float(s[R * L]), tol=c.tolerance(), name="printed_floor",
                         what="‖[∏W̃_l]_{D̄} − W̄‖₂ at the printed R = ⌊D̄/L⌋ vs σ_5(E)")
            assert_not_exact(ex, block, tol=c.tolerance(), name="printed_floor",
                             what="the construction at the printed R = ⌊D̄/L⌋")
        else:
            assert_exact(ex, block, tol=c.tolerance(), name="printed_floor",
                         what="‖[∏W̃_l]_{D̄} − W̄‖₂ at the registry's R = ⌈D̄/L⌉")


# --- FNN --------------------------------------------------------------------------------------------------------------

def _exact_forward(model: ReLUFNN, x: list[Fraction]) -> list[Fraction]:
    """The network at x in exact rational arithmetic (every float64 entry is a rational)."""
    z = x
    for k, (W, b) in enumerate(zip(model.weights, model.biases)):
        Wf = [[Fraction(float(v)) for v in row] for row in W]
        pre = [sum((w * v for w, v in zip(row, z)), Fraction(0)) + Fraction(float(bi)) for row, bi in zip(Wf, b)]
        z = [max(v, Fraction(0)) for v in pre] if (k < model.depth - 1 or model.final_relu) else pre
    return z


def fnn_width_instance(D: int, Dbar: int, L: int, Lbar: int, final_relu: bool,
                       seed: int) -> tuple[ReLUFNN, ReLUFNN]:
    """(frozen of width D and depth L, target of width D̄ and depth L̄): frozen layers with singular values in
    [0.8, 1.25], target layers in [0.5, 2] (non-singular), biases U(±0.5)."""
    gen = generator(seed)

    def bias(n: int) -> torch.Tensor:
        return torch.rand(n, generator=gen, dtype=DT) - 0.5

    frozen = ReLUFNN(tuple(_layers(D, L, gen)), tuple(bias(D) for _ in range(L)), final_relu)
    tw = []
    for _ in range(Lbar):
        sv = torch.sort(0.5 + 1.5 * torch.rand(Dbar, generator=gen, dtype=DT), descending=True).values
        tw.append(matrix_with_singular_values(sv, gen, dtype=DT))
    return frozen, ReLUFNN(tuple(tw), tuple(bias(Dbar) for _ in range(Lbar)), final_relu)


@st.composite
def fnn_cases(draw: st.DrawFn) -> tuple[int, int, int, int, bool, int]:
    """(D, D̄, L, L̄, final_relu, seed): D̄ ∈ 1..4, D ∈ D̄..5, L ∈ 1..4, L̄ ∈ 1..L."""
    Dbar = draw(st.integers(1, 4), label="target width D̄")
    D = draw(st.integers(Dbar, 5), label="frozen width D")
    L = draw(st.integers(1, 4), label="frozen depth L")
    Lbar = draw(st.integers(1, L), label="target depth L̄")
    return D, Dbar, L, Lbar, draw(st.booleans(), label="ReLU after the last layer"), draw(seeds(), label="seed")


@given(case=fnn_cases())
@example(case=(5, 3, 2, 2, True, 0)).via("L̄ = 2: the copied-padding variant leaks")
@example(case=(4, 2, 4, 2, False, 1)).via("M = 2, no final ReLU")
@example(case=(3, 3, 2, 1, True, 2)).via("D̄ = D")
def test_appendix_h_fnn(case):
    """The padded target (W̃_i = [[W̄_i, Π₁₂], [0, Π₂₂]], b̃_i = [b̄_i; 0]) has rank(E_i) ≤ D̄ (zero last D − D̄
    columns) and computes exactly [f̄(x); 0] on [x; 0] (exact rationals at 4 points). The Theorem 3 construction on
    it, with R = ⌈D̄/⌊L/L̄⌋⌉ (the registry's), is exact on the ball: the first D̄ outputs of f([x; 0]) equal f̄(x)
    within its tolerance on samples and the sphere of the width-D̄ ball."""
    D, Dbar, L, Lbar, final_relu, seed = case
    frozen, target = fnn_width_instance(D, Dbar, L, Lbar, final_relu, seed)
    padded = pad_fnn_target(frozen, target)
    R = F.evaluate_integer(get_claim(CLAIM).formulas["fnn_threshold"], {F.Dbar: Dbar, F.L: L, F.Lbar: Lbar})
    R = min(R, D)
    ex = Example(CLAIM, f"frozen, target = fnn_width_instance({D}, {Dbar}, {L}, {Lbar}, {final_relu}, seed={seed}); "
                 f"construct_fnn(frozen, pad_fnn_target(frozen, target), {R}, Ball({D}, 1.0))", {"R": R})
    for i, (Wt, prod) in enumerate(zip(padded.weights, block_products(frozen, Lbar))):
        E = Wt - prod
        assert_true(ex, not bool(E[:, Dbar:].any()), name="fnn_padding",
                    what=f"E_{i + 1} has zero last D − D̄ columns (so rank(E_{i + 1}) ≤ D̄)")
    gen = generator(seed)
    X = torch.cat([torch.zeros(1, Dbar, dtype=DT), 2 * torch.rand(3, Dbar, generator=gen, dtype=DT) - 1])
    for x in X:
        xf = [Fraction(float(v)) for v in x]
        got = _exact_forward(padded, xf + [Fraction(0)] * (D - Dbar))
        want = _exact_forward(target, xf) + [Fraction(0)] * (D - Dbar)
        assert_true(ex, got == want, name="fnn_padding", what="f̃([x; 0]) = [f̄(x); 0] in exact arithmetic",
                    seen=f"{[float(v) for v in got]} vs {[float(v) for v in want]}")
    if Lbar >= 2 and D > Dbar:
        leaky = pad_fnn_target(frozen, target, mode="copy")
        leaks = any(_exact_forward(leaky, [Fraction(float(v)) for v in x] + [Fraction(0)] * (D - Dbar))[:Dbar]
                    != _exact_forward(target, [Fraction(float(v)) for v in x]) for x in X)
        regime("copied padding leaks (L̄ ≥ 2)" if leaks else "copied padding happens not to leak here")
    dom = Ball(D, 1.0)
    with refusal_allowed(ex, name="fnn", what="construct_fnn on the padded target") as outcome:
        c = construct_fnn(frozen, padded, R, dom)
    if outcome.refused:
        return
    small = Ball(Dbar, 1.0)
    pts = small.evaluation_points(64, generator(seed + 1), adversarial=32)
    out = c.adapted()(pad_input(pts, D))[:, :Dbar]
    err = float(torch.linalg.vector_norm(out - target(pts), dim=1).max())
    assert_true(ex, c.is_exact_in_theory(), name="fnn", what=f"R = {R} ≥ ⌈D̄/M⌉ spends enough rank in every block")
    assert_exact(ex, err, tol=c.tolerance(), name="fnn", what="max_x ‖[f([x; 0])]_{1..D̄} − f̄(x)‖₂ on the ball")
    regime("D̄ < D" if Dbar < D else "D̄ = D")
