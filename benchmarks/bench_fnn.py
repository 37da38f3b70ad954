"""Benchmark of the Theorem 3 construction plus its verification against the cost of dense SVDs.

``python benchmarks/bench_fnn.py`` (defaults: D ∈ {256, 1024, 2048}, L = 8, L̄ = 2, R = ⌈D/M⌉ = D/4) prints, in one
run, the median wall time of

* ``construct_s`` — ``construct_fnn(frozen, target, R, Ball(D, 3))`` (two blocks of four layers);
* ``verify_s``   — ``construction.tolerance()`` plus the output error on 256 domain points (the check itself);
* ``svd_s``      — one ``torch.linalg.svd`` of a D×D float64 matrix;

and the ratio (construct_s + verify_s) / (L · svd_s). Target: ≤ 2. Instances: ``build_fnn_instance(D, 8, 2,
(D, D), seed=0)``: full-rank block discrepancies small enough that Assumption 1 holds by construction (independent
random targets at this depth are numerically near-singular — products of random matrices are ill-conditioned, see
docs/numerics.md — and their tolerance would be vacuous). A benchmark, not a test: it never fails on a slow machine.
Flags: ``--sizes``, ``--repeats``, ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from _common import timed

from lora_theory.constructions.fnn import construct_fnn
from lora_theory.testing.fnn import domain_points
from lora_theory.testing.instances import build_fnn_instance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,1024,2048")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    L, Lbar = 8, 2
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64; L = {L}, L̄ = {Lbar}")
    print("ratio = (construct_s + verify_s) / (L · svd_s); target ≤ 2")
    print(f"{'D':>6} {'R':>5} {'construct_s':>12} {'verify_s':>10} {'svd_s':>10} {'ratio':>7} {'max err':>9} "
          f"{'tolerance':>10}")
    rows = []
    for D in (int(s) for s in args.sizes.split(",")):
        inst = build_fnn_instance(D, L, Lbar, (D,) * Lbar, seed=0)  # full-rank E_i, Assumption 1 by construction
        R = -(-D // (L // Lbar))
        X = domain_points(inst.domain, 0, n=256 - 2 * D if 2 * D < 256 else 0)[:256]
        M = torch.randn(D, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        construct_fnn(inst.frozen, inst.target, R, inst.domain)  # warm-up
        t_c, t_v, t_s = [], [], []
        for _ in range(args.repeats):
            ts, _ = timed(lambda: torch.linalg.svd(M))
            tc, c = timed(lambda: construct_fnn(inst.frozen, inst.target, R, inst.domain))
            tv, (tol, err) = timed(lambda: (c.tolerance(), float(c.output_error(X).max())))
            t_c.append(tc), t_v.append(tv), t_s.append(ts)
        row = {"D": D, "L": L, "Lbar": Lbar, "R": R, "construct_s": statistics.median(t_c),
               "verify_s": statistics.median(t_v), "svd_s": statistics.median(t_s), "max_error": err,
               "tolerance": tol.value}
        row["ratio"] = (row["construct_s"] + row["verify_s"]) / (L * row["svd_s"])
        rows.append(row)
        print(f"{D:>6} {R:>5} {row['construct_s']:>12.3e} {row['verify_s']:>10.3e} {row['svd_s']:>10.3e} "
              f"{row['ratio']:>7.2f} {err:>9.1e} {tol.value:>10.1e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
