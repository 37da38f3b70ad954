"""Off the generators: refusal rate and wrong answers of the linear and FNN constructions on the weights users and the
paper's experiments actually use — N(0, 1/D) Gaussian and Xavier-uniform layers — against an exact reference.

For each family, D ∈ {8, 16, 64}, L ∈ {2, 4, 8} and a few dozen seeded draws:

* **chains**: ``construct_linear(W_1..W_L, W̄, R)`` with a random target W̄ of the same family, R alternately the
  Lemma 1 threshold ⌈D/L⌉ (exact regime) and one below it (error σ_{RL+1}(E));
* **FNN blocks**: ``construct_fnn`` on a frozen FNN of depth L and a target of depth L̄ = 1 (L = 2) or 2, on the unit
  ball, R alternately the Theorem 3 threshold ⌈D/M⌉ and one below; every block's weight chain is checked.

**Reference.** The returned adapters are floating-point numbers, i.e. exact dyadic rationals: the residual
∏(W_l + B_l A_l) − W̄ is formed *exactly* in integer arithmetic (no rounding at all), rounded once to float64
(relative error ≤ u per entry) and its spectral norm taken — ρ, the reference residual, good to a few u relative.

**Wrong answer**: a returned construction whose claim disagrees with the reference: ``is_exact_in_theory()`` but
ρ > ``tolerance()``, or |ρ − ``predicted_error()``| > ``tolerance()``. **Refused**: a typed ``SingularityError``.

Run: ``python benchmarks/offgen_refusals.py [--draws 30] [--big-draws 10] [--json out.json]`` (≈ 1–3 minutes on two
cores); the table it prints is the one in docs/numerics.md ("Off the generators").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter

import numpy as np
import torch

from lora_theory import Ball, construct_fnn, construct_linear
from lora_theory.errors import SingularityError
from lora_theory.models import ReLUFNN

FAMILIES = ("gaussian", "xavier")
WIDTHS = (8, 16, 64)
DEPTHS = (2, 4, 8)


def draw(family: str, D: int, g: torch.Generator) -> torch.Tensor:
    """One D×D layer: N(0, 1/D) entries, or Xavier-uniform U(−a, a) with a = √(6/(D + D))."""
    if family == "gaussian":
        return torch.randn(D, D, generator=g, dtype=torch.float64) / math.sqrt(D)
    a = math.sqrt(6.0 / (2 * D))
    return (torch.rand(D, D, generator=g, dtype=torch.float64) * 2 - 1) * a


# --- exact arithmetic on float64 matrices (dyadic rationals as integer matrices with one common exponent) ----------


def _exact(M: torch.Tensor) -> tuple[np.ndarray, int]:
    """M = X·2^e exactly, X an object array of Python ints."""
    A = M.detach().cpu().numpy()
    mant, exp = np.frexp(A)
    ints = (mant * 2.0 ** 53).astype(np.int64)  # exact: |mant| < 1 has 53 significant bits
    exps = exp.astype(np.int64) - 53
    nz = ints != 0
    emin = int(exps[nz].min()) if nz.any() else 0
    out = np.zeros(A.shape, dtype=object)
    for idx in zip(*np.nonzero(nz)):
        out[idx] = int(ints[idx]) << int(exps[idx] - emin)
    return out, emin


def _align(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray, int]:
    (X, ex), (Y, ey) = a, b
    e = min(ex, ey)
    return X * (1 << (ex - e)), Y * (1 << (ey - e)), e


def _add(a, b):
    X, Y, e = _align(a, b)
    return X + Y, e


def _sub(a, b):
    X, Y, e = _align(a, b)
    return X - Y, e


def _mul(a, b):
    return a[0].dot(b[0]), a[1] + b[1]


def _to_float(a: tuple[np.ndarray, int]) -> np.ndarray:
    """Round an exact matrix to float64 (relative error ≤ u per entry)."""
    X, e = a
    out = np.empty(X.shape)
    for idx, v in np.ndenumerate(X):
        v = int(v)
        shift = max(v.bit_length() - 60, 0)
        out[idx] = math.ldexp(float(v >> shift) if v >= 0 else -float((-v) >> shift), e + shift)
    return out


def reference_residual(weights, adapters, target) -> float:
    """‖∏(W_l + B_l A_l) − W̄‖₂ with the product formed exactly (see the module docstring)."""
    prod = None
    for W, p in zip(weights, adapters):
        Wt = _exact(W)
        if p.rank:
            Wt = _add(Wt, _mul(_exact(p.B), _exact(p.A)))
        prod = Wt if prod is None else _mul(Wt, prod)
    R = _to_float(_sub(prod, _exact(target)))
    return float(np.linalg.norm(R, 2))


def judge(c) -> str | None:
    """'wrong: …' when a LinearConstruction's claim disagrees with the exact reference, else None."""
    rho = reference_residual(c.frozen.weights, c.adapters, c.target)
    tol, pred = c.tolerance().value, c.predicted_error()
    if c.is_exact_in_theory() and not rho <= tol:
        return f"claimed exact, reference residual {rho:.3e} > tolerance {tol:.3e}"
    if not abs(rho - pred) <= tol:
        return f"predicted {pred:.3e}, reference {rho:.3e}, tolerance {tol:.3e}"
    return None


def run_cell(kind: str, family: str, D: int, L: int, draws: int) -> dict:
    counts: Counter = Counter()
    notes: list[str] = []
    for k in range(draws):
        g = torch.Generator().manual_seed(1000003 * D + 1009 * L + 17 * k + (0 if family == "gaussian" else 7))
        if kind == "chain":
            top = math.ceil(D / L)
            R = top if k % 2 == 0 or top == 1 else top - 1
            Ws = [draw(family, D, g) for _ in range(L)]
            T = draw(family, D, g)
            try:
                chains = [construct_linear(Ws, T, R)]
            except SingularityError as exc:
                counts["refused"] += 1
                notes.append(f"refused: {exc.where}")
                continue
        else:
            Lbar = 1 if L == 2 else 2
            M = L // Lbar
            top = math.ceil(D / M)
            R = top if k % 2 == 0 or top == 1 else top - 1
            frozen = ReLUFNN(tuple(draw(family, D, g) for _ in range(L)),
                             tuple(torch.randn(D, generator=g, dtype=torch.float64) * 0.1 for _ in range(L)))
            target = ReLUFNN(tuple(draw(family, D, g) for _ in range(Lbar)),
                             tuple(torch.randn(D, generator=g, dtype=torch.float64) * 0.1 for _ in range(Lbar)))
            try:
                c = construct_fnn(frozen, target, R, Ball(D, 1.0))
            except SingularityError as exc:
                counts["refused"] += 1
                notes.append(f"refused: {exc.where}")
                continue
            chains = [b.linear for b in c.blocks]
        counts["certified"] += 1
        counts["exact"] += all(ch.is_exact_in_theory() for ch in chains)
        for ch in chains:
            why = judge(ch)
            if why is not None:
                counts["wrong"] += 1
                notes.append(f"wrong (seed draw {k}): {why}")
                break
    return {"kind": kind, "family": family, "D": D, "L": L, "tried": draws, "certified": counts["certified"],
            "exact_claimed": counts["exact"], "refused": counts["refused"], "wrong": counts["wrong"],
            "notes": notes[:3]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=30, help="draws per cell for D = 8 and 16 (default 30)")
    ap.add_argument("--big-draws", type=int, default=10, help="draws per cell for D = 64 (default 10)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    print("| kind | family | D | L | tried | certified | exact claimed | refused | wrong |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in ("chain", "fnn"):
        for family in FAMILIES:
            for D in WIDTHS:
                for L in DEPTHS:
                    r = run_cell(kind, family, D, L, args.big_draws if D >= 64 else args.draws)
                    rows.append(r)
                    print(f"| {kind} | {family} | {D} | {L} | {r['tried']} | {r['certified']} | "
                          f"{r['exact_claimed']} | {r['refused']} | {r['wrong']} |", flush=True)
    tried = sum(r["tried"] for r in rows)
    refused = sum(r["refused"] for r in rows)
    wrong = sum(r["wrong"] for r in rows)
    print(f"\ntotal: {tried} tried, {tried - refused} certified, {refused} refused, {wrong} wrong "
          f"({time.perf_counter() - t0:.0f} s)")
    for r in rows:
        for n in r["notes"]:
            print(f"  {r['kind']} {r['family']} D={r['D']} L={r['L']}: {n}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
