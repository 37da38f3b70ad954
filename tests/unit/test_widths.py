"""Unit tests of :mod:`lora_theory.constructions.widths` (claim ``appendix_h``): the expanded linear target, input
padding, the FNN padding and their typed refusals."""

from __future__ import annotations

import pytest
import torch

from lora_theory.analysis.tfl import exact_output
from lora_theory.constructions.widths import block_products, pad_fnn_target, pad_input, pad_linear_target
from lora_theory.errors import DepthError, DomainError, DTypeError, NonFiniteError, ShapeError
from lora_theory.models import LinearChain, ReLUFNN
from lora_theory.numerics import chain_product
from lora_theory.random_matrices import generator

DT = torch.float64


def _mats(n: int, D: int, seed: int = 0) -> list[torch.Tensor]:
    g = generator(seed)
    return [torch.randn(D, D, generator=g, dtype=DT) for _ in range(n)]


def test_pad_linear_target_layout_and_rank():
    Ws = _mats(3, 5)
    Wbar = _mats(1, 3, seed=1)[0]
    Wt = pad_linear_target(Ws, Wbar)
    P = chain_product(Ws)
    assert Wt.shape == (5, 5) and Wt.dtype == DT
    assert torch.equal(Wt[:3, :3], Wbar)
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[:3, :3] = False
    assert torch.equal(Wt[mask], P[mask])
    E = Wt - P
    assert not bool(E[mask].any())
    assert int(torch.linalg.matrix_rank(E)) == 3
    assert torch.equal(pad_linear_target(LinearChain(tuple(Ws)), Wbar), Wt)  # a LinearChain works too
    assert torch.equal(pad_linear_target(Ws, P), P)  # D̄ = D: the target itself


def test_pad_linear_target_leaves_its_arguments_alone():
    Ws = _mats(2, 4)
    copies = [w.clone() for w in Ws]
    Wbar = torch.eye(2, dtype=DT)
    pad_linear_target(Ws, Wbar)
    assert all(torch.equal(a, b) for a, b in zip(Ws, copies)) and torch.equal(Wbar, torch.eye(2, dtype=DT))


def test_pad_linear_target_refusals():
    Ws = _mats(2, 3)
    with pytest.raises(ShapeError, match=r"target width D̄=4 exceeds frozen width D=3"):
        pad_linear_target(Ws, torch.eye(4, dtype=DT))
    with pytest.raises(ShapeError, match=r"target must be square"):
        pad_linear_target(Ws, torch.ones(2, 3, dtype=DT))
    with pytest.raises(DTypeError, match=r"target"):
        pad_linear_target(Ws, torch.eye(2, dtype=torch.float32))
    with pytest.raises(DTypeError, match=r"target must be a torch.Tensor"):
        pad_linear_target(Ws, [[1.0]])
    with pytest.raises(DTypeError, match=r"target"):
        pad_linear_target(Ws, torch.eye(2, dtype=torch.int64))
    with pytest.raises(NonFiniteError, match=r"target"):
        pad_linear_target(Ws, torch.full((2, 2), float("nan"), dtype=DT))
    with pytest.raises(ShapeError, match=r"weights"):
        pad_linear_target([torch.ones(3, 2, dtype=DT)], torch.eye(2, dtype=DT))


def test_pad_input():
    x = torch.tensor([[1.0, 2.0]], dtype=DT)
    assert torch.equal(pad_input(x, 4), torch.tensor([[1.0, 2.0, 0.0, 0.0]], dtype=DT))
    assert torch.equal(pad_input(x[0], 2), x[0])
    with pytest.raises(ShapeError, match=r"width=1"):
        pad_input(x, 1)
    with pytest.raises(DTypeError, match=r"x must be a torch.Tensor"):
        pad_input([1.0], 3)


def _fnn(D: int, L: int, seed: int, final_relu: bool = True) -> ReLUFNN:
    g = generator(seed)
    return ReLUFNN(tuple(torch.randn(D, D, generator=g, dtype=DT) for _ in range(L)),
                   tuple(torch.randn(D, generator=g, dtype=DT) for _ in range(L)), final_relu)


@pytest.mark.parametrize("final_relu", [True, False])
def test_pad_fnn_target_layout_and_no_leak(final_relu):
    frozen, target = _fnn(5, 4, 0, final_relu), _fnn(2, 2, 1, final_relu)
    padded = pad_fnn_target(frozen, target)
    assert padded.width == 5 and padded.depth == 2 and padded.final_relu == final_relu
    for Wt, bt, Wb, bb, P in zip(padded.weights, padded.biases, target.weights, target.biases,
                                 block_products(frozen, 2)):
        assert torch.equal(Wt[:2, :2], Wb) and torch.equal(Wt[:2, 2:], P[:2, 2:])
        assert torch.equal(Wt[2:, 2:], P[2:, 2:]) and not bool(Wt[2:, :2].any())
        assert torch.equal(bt[:2], bb) and not bool(bt[2:].any())
        assert int(torch.linalg.matrix_rank(Wt - P)) <= 2
    X = torch.randn(64, 2, generator=generator(3), dtype=DT)
    out = padded(pad_input(X, 5))
    assert not bool(out[:, 2:].any())  # the padded coordinates stay exactly 0
    for x in X[:4]:  # the first D̄ outputs: the target's, in exact rational arithmetic
        assert exact_output(padded, pad_input(x, 5)) == exact_output(target, x) + [0, 0, 0]


def test_copied_padding_leaks_for_two_layer_targets():
    """mode="copy" (the linear recipe) lets the padded coordinates of layer 1 reach the first D̄ of layer 2."""
    frozen, target = _fnn(5, 2, 0), _fnn(2, 2, 1)
    leaky = pad_fnn_target(frozen, target, mode="copy")
    X = torch.randn(64, 2, generator=generator(3), dtype=DT)
    assert float((leaky(pad_input(X, 5))[:, :2] - target(X)).abs().max()) > 1e-3


def test_block_products_follow_the_uniform_partition():
    frozen = _fnn(3, 5, 0)
    prods = block_products(frozen, 2)  # M = 2: blocks {1, 2}, {3, 4, 5}
    assert torch.equal(prods[0], chain_product(frozen.weights[:2]))
    assert torch.equal(prods[1], chain_product(frozen.weights[2:]))


def test_pad_fnn_target_refusals():
    frozen = _fnn(3, 2, 0)
    with pytest.raises(ShapeError, match=r"target width D̄=4 exceeds frozen width D=3"):
        pad_fnn_target(frozen, _fnn(4, 1, 1))
    with pytest.raises(DepthError, match=r"target depth L̄=3 exceeds frozen depth L=2"):
        pad_fnn_target(frozen, _fnn(2, 3, 1))
    with pytest.raises(ShapeError, match=r"ReLUFNN"):
        pad_fnn_target(frozen, torch.eye(2, dtype=DT))
    with pytest.raises(DomainError, match=r"mode"):
        pad_fnn_target(frozen, _fnn(2, 1, 1), mode="rows")
