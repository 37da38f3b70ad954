"""Bad-input contract of the FNN entry points: typed LoRATheoryError subclasses whose messages name the argument."""

from __future__ import annotations

import math

import pytest
import torch

from lora_theory.analysis.fnn import assumption1_report, best_partition
from lora_theory.constructions.fnn import construct_fnn
from lora_theory.domains import Ball, Box
from lora_theory.errors import (
    DepthError,
    DomainError,
    DTypeError,
    LoRATheoryError,
    PartitionError,
    RankError,
    ShapeError,
)
from lora_theory.models import ReLUFNN
from lora_theory.partition import uniform_partition, validate_partition
from lora_theory.testing.instances import build_fnn_instance

F64 = torch.float64


def fnn(D=3, L=2, final_relu=True, dtype=F64):
    return ReLUFNN(tuple(torch.eye(D, dtype=dtype) * (l + 1) for l in range(L)),
                   tuple(torch.zeros(D, dtype=dtype) for _ in range(L)), final_relu)


CASES = [
    (lambda: construct_fnn(fnn(3, 1), fnn(3, 2), 1, Ball(3, 1.0)),
     DepthError, r"target depth L̄=2 exceeds frozen depth L=1"),
    (lambda: construct_fnn(fnn(3, 3), fnn(3, 2), 1, Ball(3, 1.0), partition=(1, 1)),
     PartitionError, r"sum to 2, not to the frozen depth L=3"),
    (lambda: construct_fnn(fnn(3, 3), fnn(3, 2), 1, Ball(3, 1.0), partition=(3, 0)),
     PartitionError, r"block 1 size must be an integer >= 1; got 0"),
    (lambda: construct_fnn(fnn(3, 3), fnn(3, 2), 1, Ball(3, 1.0), partition=(1, 1, 1)),
     PartitionError, r"3 blocks but the target has depth L̄=2"),
    (lambda: construct_fnn(fnn(3, 3), fnn(3, 2), 1, Ball(3, 1.0), partition="21"),
     PartitionError, r"sequence of block sizes"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1), 0, Ball(3, 1.0)), RankError, r"rank must be in 1\.\.3"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1), 4, Ball(3, 1.0)), RankError, r"rank must be in 1\.\.3 \(D=3\); got 4"),
    (lambda: construct_fnn(fnn(3, 2), fnn(4, 1), 1, Ball(3, 1.0)),
     ShapeError, r"target width D̄=4 differs from frozen width D=3"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1), 1, Ball(4, 1.0)),
     DomainError, r"domain must be a Ball or Box of width D=3"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1), 1, 1.0), DomainError, r"domain must be a Ball or Box"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1, final_relu=False), 1, Ball(3, 1.0)), DomainError, r"final_relu"),
    (lambda: construct_fnn(fnn(3, 2), fnn(3, 1, dtype=torch.float32), 1, Ball(3, 1.0)),
     DTypeError, r"target\.weights\[0\] has dtype torch\.float32"),
    (lambda: construct_fnn("net", fnn(3, 1), 1, Ball(3, 1.0)), ShapeError, r"ReLUFNN models; got str"),
    (lambda: Ball(3, 0.0), DomainError, r"radius must be a finite number > 0; got 0\.0"),
    (lambda: Ball(3, -1.0), DomainError, r"radius must be a finite number > 0"),
    (lambda: Ball(3, math.inf), DomainError, r"radius must be a finite number > 0; got inf"),
    (lambda: Ball(3, math.nan), DomainError, r"radius"),
    (lambda: Ball(0, 1.0), DomainError, r"domain width must be an integer >= 1; got 0"),
    (lambda: Box(2, 1.0, -1.0), DomainError, r"box low\[0\]=1\.0 exceeds high\[0\]=-1\.0"),
    (lambda: Box(2, (0.0,), 1.0), ShapeError, r"box low must be a number or have D=2 entries; got 1"),
    (lambda: Box(2, 0.0, math.inf), DomainError, r"box high\[0\] must be a finite number; got inf"),
    (lambda: ReLUFNN((torch.eye(3, dtype=F64),), (torch.zeros(2, dtype=F64),)),
     ShapeError, r"biases\[0\] must have shape \(3,\).*got \(2,\)"),
    (lambda: ReLUFNN((torch.eye(3, dtype=F64),) * 2, (torch.zeros(3, dtype=F64),)),
     ShapeError, r"one \(D,\) vector per layer \(L=2\); got 1"),
    (lambda: ReLUFNN((torch.eye(3, dtype=F64),), ([0.0, 0.0, 0.0],)),
     DTypeError, r"biases\[0\] must be a torch\.Tensor; got list"),
    (lambda: ReLUFNN((torch.eye(3, dtype=F64),), (torch.tensor([0.0, math.nan, 0.0], dtype=F64),)),
     LoRATheoryError, r"biases\[0\] contains NaN"),
    (lambda: ReLUFNN((torch.eye(3, dtype=F64),), (torch.zeros(3, dtype=torch.float32),)),
     DTypeError, r"biases\[0\] has dtype torch\.float32"),
    (lambda: ReLUFNN((), ()), DepthError, r"weights is empty"),
    (lambda: fnn()(torch.ones(2, 4, dtype=F64)), ShapeError, r"input x must have shape .*D=3; got \(2, 4\)"),
    (lambda: ReLUFNN.from_sequential(torch.nn.Sequential(torch.nn.ReLU())),
     ShapeError, r"module 0 of the Sequential must be an nn\.Linear"),
    (lambda: ReLUFNN.from_sequential(torch.nn.Sequential()), DepthError, r"holds no nn\.Linear"),
    (lambda: uniform_partition(2, 3), DepthError, r"target depth L̄=3 exceeds frozen depth L=2"),
    (lambda: uniform_partition(0, 1), DepthError, r"frozen depth L must be an integer >= 1; got 0"),
    (lambda: validate_partition((2, 2.5), 4), PartitionError, r"block 1 size must be an integer >= 1; got 2\.5"),
    (lambda: assumption1_report(fnn(3, 2), fnn(3, 1), 9), RankError, r"rank must be in 1\.\.3"),
    (lambda: best_partition(fnn(3, 1), fnn(3, 2)), DepthError, r"exceeds frozen depth"),
]


@pytest.mark.parametrize("fn, exc, pattern", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_fnn_bad_input(fn, exc, pattern):
    assert issubclass(exc, LoRATheoryError)
    with pytest.raises(exc, match=pattern):
        fn()


def test_inputs_outside_the_domain_are_refused_by_the_check():
    inst = build_fnn_instance(3, 2, 1, (1,), domain="box", radius=1.0, seed=0)
    c = construct_fnn(inst.frozen, inst.target, 1, inst.domain)
    with pytest.raises(DomainError, match=r"x\[1\] lies outside the declared domain Box"):
        c.output_error(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=F64))


def test_sequential_round_trip_preserves_the_function():
    inst = build_fnn_instance(4, 3, 1, seed=1, final_relu=False)
    back = ReLUFNN.from_sequential(inst.frozen.to_sequential())
    X = inst.domain.sample(16, torch.Generator().manual_seed(0))
    assert back.final_relu is False and torch.equal(back(X), inst.frozen(X))
