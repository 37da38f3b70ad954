"""The numerical rank of a discrepancy E = W̄ − ∏W is counted against the rounding floor E carries
(numerics.discrepancy_rank_floor), not a fixed τ, and a construction never reports exact while its residual exceeds
its tolerance: every σ_i(E) it does not fit is in predicted_error() (above the floor) or in tolerance() (at or
below it). One rule for construct_linear, construct_fnn's blocks and the FNN rank advice (docs/numerics.md)."""

from __future__ import annotations

import pytest
import torch

from lora_theory import Ball, construct_fnn, construct_linear
from lora_theory.analysis.fnn import block_discrepancies
from lora_theory.analysis.rank_advice import rank_thresholds
from lora_theory.models import ReLUFNN
from lora_theory.numerics import spectral_norm

f64 = torch.float64


def _residual(c) -> float:
    return spectral_norm(c.residual())


def _invariant(c) -> None:
    """Never exact while the residual exceeds the tolerance; the residual is the predicted error ± tolerance."""
    res, tol = _residual(c), c.tolerance().value
    if c.is_exact_in_theory():
        assert c.predicted_error() == 0.0
        assert res <= tol, (res, str(c.tolerance()))
    assert abs(res - c.predicted_error()) <= tol, (res, c.predicted_error(), str(c.tolerance()))


def _diag_example(delta: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    W = torch.diag(torch.tensor([1e4, 1.0, 1.0, 1.0], dtype=f64))
    T = W.clone()
    T[3, 3] = 1.0 + delta
    return W, T


def test_issue_diag_example_is_fitted_by_one_rank1_adapter():
    """W = diag(1e4, 1, 1, 1), W̄[3,3] = 1 + 1e-6, L = R = 1: σ_1(E) = 1e-6 is far above the rounding floor
    (≈ 4e-11), so one rank-1 adapter is used and the construction is exact, with the residual within tolerance."""
    W, T = _diag_example()
    c = construct_linear([W], T, 1)
    assert c.discrepancy_rank == 1 and c.adapters[0].rank == 1
    assert c.rank_floor < 1e-9
    assert c.is_exact_in_theory() and c.predicted_error() == 0.0
    _invariant(c)


def test_a_threshold_that_drops_it_says_so():
    """With an explicit τ = 1e-9 the direction is dropped (1e-6 < 1e-9·1e4): then predicted_error ≈ 1e-6 and the
    construction is not exact — never a silent 'exact'."""
    W, T = _diag_example()
    c = construct_linear([W], T, 1, tau=1e-9)
    assert c.discrepancy_rank == 0 and c.adapters[0].rank == 0
    assert c.predicted_error() == pytest.approx(1e-6, rel=1e-6, abs=0)
    assert not c.is_exact_in_theory()
    _invariant(c)


def test_zero_discrepancy_is_exact_with_zero_adapters():
    g = torch.Generator().manual_seed(0)
    Ws = [torch.randn(5, 5, generator=g, dtype=f64) for _ in range(3)]
    c = construct_linear(Ws, Ws[2] @ Ws[1] @ Ws[0], 1)
    assert c.discrepancy_rank == 0 and all(p.rank == 0 for p in c.adapters)
    assert c.is_exact_in_theory() and c.predicted_error() == 0.0
    _invariant(c)
    c0 = construct_linear([torch.eye(4, dtype=f64)], torch.eye(4, dtype=f64), 1)
    assert c0.discrepancy_rank == 0 and c0.is_exact_in_theory() and _residual(c0) == 0.0


@pytest.mark.parametrize("rel", [1e-12, 1e-10, 1e-8, 1e-6, 1e-4])
def test_tiny_discrepancy_on_large_weights(rel):
    """A rank-1 change of relative size ``rel`` on weights of norm 1e4: fitted whenever it is above the floor, and
    the invariant holds either way."""
    g = torch.Generator().manual_seed(int(-torch.log10(torch.tensor(rel))))
    D = 6
    W = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=f64))[0] * 1e4
    x, y = torch.randn(D, generator=g, dtype=f64), torch.randn(D, generator=g, dtype=f64)
    E = torch.outer(x / x.norm(), y / y.norm()) * (rel * 1e4)
    c = construct_linear([W], W + E, 1)
    sigma = float(torch.linalg.matrix_norm(E, ord=2))
    if sigma > c.rank_floor:
        assert c.discrepancy_rank == 1 and c.is_exact_in_theory()
    _invariant(c)
    assert rel < 1e-11 or c.discrepancy_rank == 1  # 1e-10 relative (1e-6 absolute) is far above the floor (~1e-11)


@pytest.mark.parametrize("L", [1, 2])
def test_dynamic_range_1e8_diagonals(L):
    """Diagonal weights with entries spanning 1e-4..1e4 and a target differing on the small entries."""
    d = torch.logspace(-4, 4, 6, dtype=f64)
    Ws = [torch.diag(d)] + [torch.diag(d.flip(0))] * (L - 1)
    P = Ws[0] if L == 1 else Ws[1] @ Ws[0]
    T = P.clone()
    T[0, 0] += 1e-7 * float(P[0, 0]) + 1e-9  # a change on a small entry, 1e-9 absolute at least
    T[5, 5] *= 1 + 1e-10
    c = construct_linear(Ws, T, 2)
    _invariant(c)
    s = c.discrepancy_singular_values
    assert c.discrepancy_rank == int((s > c.rank_floor).sum())


def test_fnn_blocks_and_rank_advice_share_the_rule():
    """The FNN construction's blocks and the rank advice count rank(E_i) with the same floor; the diag example inside
    an FNN block is fitted, not dropped."""
    W, T = _diag_example()
    b = torch.zeros(4, dtype=f64)
    frozen = ReLUFNN((W,), (b,), final_relu=False)
    target = ReLUFNN((T,), (b,), final_relu=False)
    ranks = [d.rank for d in block_discrepancies(frozen, target)]
    c = construct_fnn(frozen, target, 1, Ball(4, 1.0))
    assert ranks == [1] == [blk.discrepancy_rank for blk in c.blocks]
    assert c.is_exact_in_theory()
    assert rank_thresholds(frozen, target).uniform.value == 1
    x = Ball(4, 1.0).sample(32, torch.Generator().manual_seed(0), dtype=f64)
    assert float(c.output_error(x).max()) <= c.tolerance().value


def test_dropped_rounding_level_direction_is_in_the_tolerance():
    """A σ(E) at or below the floor is not fitted and not predicted: it is counted in the tolerance instead."""
    W, T = _diag_example(delta=1e-12)  # 1e-12 absolute next to 1e4: below the floor (≈ 4e-11)
    c = construct_linear([W], T, 1)
    assert c.discrepancy_rank == 0 and c.is_exact_in_theory()
    assert c.dropped_noise == pytest.approx(1e-12, rel=1e-3, abs=0)
    assert c.tolerance().terms["σ_dropped"] == c.dropped_noise
    _invariant(c)
