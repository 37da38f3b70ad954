"""The TFN as an nn.Module with separate q/k/v/o projections per head (lora_theory.interop.tfn_module)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lora_theory.constructions.tfn import construct_tfn, construct_tfn_single_head
from lora_theory.errors import DTypeError, ShapeError
from lora_theory.interop.tfn_module import TFNModule, from_module, to_module
from lora_theory.models import TFN
from lora_theory.testing.instances import build_tfn_instance

RTOL = 1e-12


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.detach(), b.detach()  # module outputs carry grad (the projections are trainable parameters)
    if torch.equal(a, b):
        return True
    return a.shape == b.shape and float((a - b).abs().max()) <= RTOL * max(float(b.abs().max()), 1e-300)


CASES = [(1, 1, 1), (3, 1, 2), (4, 2, 1), (5, 2, 3), (6, 3, 2)]


@pytest.mark.parametrize("output", ["softmax", "linear"])
@pytest.mark.parametrize(("D", "L", "H"), CASES, ids=[f"D{D}-L{L}-H{H}" for D, L, H in CASES])
def test_module_matches_tfn_and_round_trips(D, L, H, output):
    tfn = build_tfn_instance(D, L, H, None, seed=D + 10 * L + 100 * H, output=output).frozen
    module = to_module(tfn)
    assert isinstance(module, TFNModule) and module.output == output
    back = from_module(module)
    assert back.output == output and not back.single_head
    gen = torch.Generator().manual_seed(7)
    for shape in [(D, 4), (D, 1), (3, D, 5), (2, 3, D, 1), (1, D, 2)]:
        X = torch.randn(*shape, generator=gen, dtype=torch.float64)
        ref = tfn(X)
        out = module(X)
        assert out.dtype == torch.float64 and out.shape == ref.shape == shape
        assert _close(out, ref), (shape, float((out - ref).detach().abs().max()))
        assert torch.equal(back(X), ref)  # same tensors, same TFN code path
    for name in ("WQ", "WK", "WV", "WO"):
        for l in range(L):
            for h in range(H):
                assert torch.equal(getattr(back.blocks[l], name)[h], getattr(tfn.blocks[l], name)[h])
    for l in range(L):
        for name in ("W1", "b1", "W2", "b2"):
            assert torch.equal(getattr(back.blocks[l], name), getattr(tfn.blocks[l], name))
    assert torch.equal(back.Wo, tfn.Wo)


def test_batch_rows_are_independent():
    tfn = build_tfn_instance(4, 2, 2, None, seed=3).frozen
    module = to_module(tfn)
    X = torch.randn(5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batched = module(X)
    for i in range(5):
        assert _close(batched[i], module(X[i]))


def test_layout_four_separate_projections_per_head():
    D, L, H = 3, 2, 2
    module = to_module(build_tfn_instance(D, L, H, None, seed=0).frozen)
    assert isinstance(module.blocks, nn.ModuleList) and len(module.blocks) == L
    seen = set()
    for blk in module.blocks:
        assert isinstance(blk.heads, nn.ModuleList) and len(blk.heads) == H
        for head in blk.heads:
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                lin = getattr(head, name)
                assert type(lin) is nn.Linear and lin.bias is None
                assert lin.in_features == lin.out_features == D and lin.weight.dtype == torch.float64
                assert id(lin.weight) not in seen
                seen.add(id(lin.weight))
        for name in ("W1", "W2"):
            lin = getattr(blk, name)
            assert type(lin) is nn.Linear and lin.bias is not None
    assert type(module.Wo) is nn.Linear and module.Wo.bias is None
    names = {n for n, _ in module.named_modules()}
    assert "blocks.0.heads.1.k_proj" in names and f"blocks.{L - 1}.W2" in names and "Wo" in names
    # 4 per head and block, 2 FFN per block, 1 output
    assert sum(isinstance(m, nn.Linear) for m in module.modules()) == 4 * H * L + 2 * L + 1


def test_no_scaling_no_residual_column_softmax():
    # D=1, one head: scores s_ij = (k x_i)(q x_j), softmax over i; check against a hand computation
    t = torch.tensor
    from lora_theory.models import TFNBlock

    f64 = torch.float64
    blk = TFNBlock((t([[2.0]], dtype=f64),), (t([[3.0]], dtype=f64),), (t([[0.5]], dtype=f64),),
                   (t([[4.0]], dtype=f64),), t([[1.0]], dtype=f64), t([0.25], dtype=f64), t([[2.0]], dtype=f64),
                   t([-1.0], dtype=f64))
    tfn = TFN((blk,), t([[3.0]], dtype=f64), output="linear")
    x = t([[0.1, -0.2, 0.3]], dtype=f64)
    S = (3 * x).T @ (2 * x)
    P = torch.exp(S) / torch.exp(S).sum(dim=0, keepdim=True)
    expected = 3 * (2 * torch.relu(4 * 0.5 * x @ P + 0.25) - 1)
    out = to_module(tfn)(x)
    assert _close(out, expected) and _close(tfn(x), expected)
    # the paper's softmax output over D = 1 logits is 1 for every token
    soft = TFN((blk,), t([[3.0]], dtype=f64))
    assert torch.equal(to_module(soft)(x).detach(), torch.ones_like(x)) and torch.equal(soft(x), torch.ones_like(x))


def test_softmax_output_layer_over_the_logits_of_each_token():
    """softmax(W_o Z_L) normalises over the D logits of each token column (App. F.2, p. 37), by hand."""
    tfn = build_tfn_instance(3, 1, 2, None, seed=8).frozen
    X = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    A = tfn.logits(X)
    expected = torch.exp(A) / torch.exp(A).sum(dim=-2, keepdim=True)
    assert _close(tfn(X), expected) and _close(to_module(tfn)(X), expected)
    assert torch.equal(tfn.with_output("linear")(X), A)


def test_per_projection_adapters_reach_the_theorem7_target():
    """Put the Theorem 7 adapters into the module as wrappers around each nn.Linear (as a LoRA library would): the
    forward pass calls every projection module, so the wrapped module computes the target."""

    class LoRAWrapped(nn.Module):
        def __init__(self, base: nn.Linear, B: torch.Tensor, A: torch.Tensor) -> None:
            super().__init__()
            self.base, self.B, self.A = base, B, A

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.A.T) @ self.B.T

    inst = build_tfn_instance(4, 2, 2, None, seed=5)
    c = construct_tfn(inst.frozen, inst.target, 2)
    module = to_module(inst.frozen)
    names = {"WQ": "q_proj", "WK": "k_proj", "WV": "v_proj", "WO": "o_proj"}
    for (l, name, h), pair in c.head_adapters.items():
        head = module.blocks[l].heads[h]
        setattr(head, names[name], LoRAWrapped(getattr(head, names[name]), pair.B, pair.A))
    last = module.blocks[-1]
    last.W2 = LoRAWrapped(last.W2, c.w2_last.B, c.w2_last.A)
    module.Wo = LoRAWrapped(module.Wo, c.wo.B, c.wo.A)
    with torch.no_grad():
        for l, blk in enumerate(module.blocks):
            blk.W1.bias.copy_(c.b1[l])
            (blk.W2.base if isinstance(blk.W2, LoRAWrapped) else blk.W2).bias.copy_(c.b2[l])
    X = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = module(X)
    ref, frozen = inst.target(X), inst.frozen(X)  # the default output layer: softmax(W_o Z_L)
    scale = float(ref.abs().max())
    assert float((out - ref).abs().max()) <= 1e-9 * scale
    assert float((frozen - ref).abs().max()) > 1e-3 * scale
    module.output = "linear"
    with torch.no_grad():
        logits = module(X)
    assert float((logits - inst.target.logits(X)).abs().max()) <= 1e-9 * float(inst.target.logits(X).abs().max())
    with pytest.raises(ShapeError, match="merge LoRA adapters"):
        from_module(module)  # a wrapped projection is refused rather than silently dropped


def test_bad_inputs():
    tfn = build_tfn_instance(3, 1, 1, None, seed=0).frozen
    module = to_module(tfn)
    with pytest.raises(DTypeError):
        to_module("not a TFN")
    with pytest.raises(DTypeError):
        module([[1.0, 2.0, 3.0]])
    with pytest.raises(ShapeError):
        module(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ShapeError):
        module(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ShapeError):
        module(torch.zeros(3, 0, dtype=torch.float64))
    with pytest.raises(DTypeError):
        module(torch.zeros(3, 2, dtype=torch.float32))
    with pytest.raises(DTypeError):
        from_module("not a module")
    with pytest.raises(ShapeError):
        from_module(nn.Linear(3, 3))
    broken = to_module(tfn)
    broken.blocks[0].heads[0].q_proj = nn.Linear(3, 3, bias=True, dtype=torch.float64)
    with pytest.raises(ShapeError, match="without bias"):
        from_module(broken)
    broken = to_module(tfn)
    broken.blocks[0].W1 = nn.Linear(3, 3, bias=False, dtype=torch.float64)
    with pytest.raises(ShapeError, match="with bias"):
        from_module(broken)


def test_single_head_module_has_no_o_proj_and_round_trips():
    """A single-head TFN (App. F.1, p. 33) becomes heads without o_proj; W_1 is its own nn.Linear, so the Theorem 8
    adapters (W_K, W_Q, W_V, W_1 of every block, W_2 of the last, W_o) each have a module to wrap."""
    inst = build_tfn_instance(4, 2, 1, None, seed=6, single_head=True)
    module = to_module(inst.frozen)
    assert module.single_head and all(h.o_proj is None for blk in module.blocks for h in blk.heads)
    X = torch.randn(3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert _close(module(X), inst.frozen(X))
    back = from_module(module)
    assert back.single_head and torch.equal(back(X), inst.frozen(X))
    c = construct_tfn_single_head(inst.frozen, inst.target, 2)
    adapted = c.adapted()
    assert _close(to_module(adapted)(X), adapted(X))


def test_gradients_reach_every_projection():
    module = to_module(build_tfn_instance(3, 2, 2, None, seed=4).frozen)
    X = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    module(X).pow(2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    assert all(float(h.q_proj.weight.grad.abs().sum()) > 0 for blk in module.blocks for h in blk.heads)
