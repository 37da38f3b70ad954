"""Benchmark of the Lemma 1 construction (``construct_linear``) against the cost of one dense SVD.

Run ``python benchmarks/bench_linear.py`` (defaults: D ∈ {64, 256, 1024}, L = 8, R = D/8). This is a benchmark
script, not a test: it prints a table and never fails on a slow machine.

For every width D the instance is ``build_linear_instance(D, 8, D, kappa=100.0, ratio=0.5, seed=0)`` (float64,
full-rank discrepancy E, conditioned by construction), so with R = D/8 all L = 8 layers receive directions and
every solve of the construction runs. Columns:

* ``construct_s``   median wall time of ``construct_linear(weights, target, R)``;
* ``svd_s``         median wall time of one ``torch.linalg.svd`` of the D×D float64 discrepancy E = W̄ − ∏W;
* ``ratio``         construct_s / (L · svd_s): the construction's cost in units of "one dense SVD per layer";
* ``tolerance_s``   median wall time of ``construction.tolerance()`` (the residual check's own overhead);
* ``ratio+tol``     (construct_s + tolerance_s) / (L · svd_s).

Target: ratio ≤ 2 at D = 1024. Each size is warmed up once; the timings of one repeat (SVD, construction,
tolerance) are taken back to back so that background load hits all three alike, and the median over the repeats
is reported. The load average is printed because on a shared 2-core machine it dominates the noise.

Flags: ``--sizes 64,256,1024``, ``--repeats N`` (default: 11/7/5 for D ≤ 64/≤ 256/larger),
``--json PATH`` (also write the rows as JSON), ``--threads N`` (``torch.set_num_threads``; default: leave as is).
Smoke test: ``python benchmarks/bench_linear.py --sizes 16,32 --repeats 1`` takes a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
from _common import load_average, timed
from _common import parse_sizes as _parse_sizes

from lora_theory.constructions.linear import construct_linear
from lora_theory.numerics import chain_product
from lora_theory.testing.instances import build_linear_instance

DEPTH = 8
KAPPA = 100.0
RATIO = 0.5
SEED = 0
TARGET_RATIO = 2.0
TARGET_WIDTH = 1024


def default_repeats(D: int) -> int:
    """Repeats per size when ``--repeats`` is not given (the whole default run stays well under ~3 min)."""
    if D <= 64:
        return 11
    if D <= 256:
        return 7
    return 5


def parse_sizes(text: str) -> list[int]:
    return _parse_sizes(text, lambda D: None if D >= DEPTH and D % DEPTH == 0 else
                        f"size {D} must be a positive multiple of L={DEPTH} (R = D/{DEPTH})")


def bench_size(D: int, repeats: int) -> dict:
    L, R = DEPTH, D // DEPTH
    t_build, inst = timed(lambda: build_linear_instance(D, L, D, kappa=KAPPA, ratio=RATIO, seed=SEED))
    weights, target = inst.weights, inst.target
    E = target - chain_product(weights)  # the matrix the construction decomposes

    # warm-up (allocator, MKL/LAPACK workspaces, thread pool)
    torch.linalg.svd(E)
    construction = construct_linear(weights, target, R)
    construction.tolerance()
    if not construction.is_exact_in_theory():
        raise RuntimeError(f"D={D}: expected an exact instance (L·R = D ≥ rank E), got rank E = "
                           f"{construction.discrepancy_rank}")

    svd_times, construct_times, tol_times = [], [], []
    for _ in range(repeats):
        t, _ = timed(lambda: torch.linalg.svd(E))
        svd_times.append(t)
        t, construction = timed(lambda: construct_linear(weights, target, R))
        construct_times.append(t)
        t, _ = timed(construction.tolerance)
        tol_times.append(t)

    svd_s = statistics.median(svd_times)
    construct_s = statistics.median(construct_times)
    tol_s = statistics.median(tol_times)
    return {
        "D": D, "L": L, "R": R, "repeats": repeats,
        "construct_s": construct_s,
        "svd_s": svd_s,
        "ratio": construct_s / (L * svd_s),
        "tolerance_s": tol_s,
        "ratio_with_tolerance": (construct_s + tol_s) / (L * svd_s),
        "build_instance_s": t_build,
        "construct_all_s": construct_times,
        "svd_all_s": svd_times,
        "tolerance_all_s": tol_times,
        "discrepancy_rank": construction.discrepancy_rank,
        "solves": len(construction.solves),
        "loadavg_after": load_average(),
    }


HEADER = ("{D:>6} {L:>3} {R:>5} {construct:>13} {svd:>11} {ratio:>8} {tol:>13} {ratio_tol:>10} {rep:>4} {load:>16}")


def format_row(r: dict) -> str:
    return HEADER.format(D=r["D"], L=r["L"], R=r["R"], construct=f"{r['construct_s']:.3e}", svd=f"{r['svd_s']:.3e}",
                         ratio=f"{r['ratio']:.2f}", tol=f"{r['tolerance_s']:.3e}",
                         ratio_tol=f"{r['ratio_with_tolerance']:.2f}", rep=r["repeats"], load=r["loadavg_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("64,256,1024"),
                        help="comma-separated widths D (multiples of 8); default 64,256,1024")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per size (median reported); default 11/7/5 for D ≤ 64/≤ 256/larger")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the rows as JSON to PATH")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N) before timing")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print("Lemma 1 construction benchmark (construct_linear, float64, CPU)")
    print(f"torch {torch.__version__} | torch.get_num_threads() = {torch.get_num_threads()} | "
          f"python {platform.python_version()} | os.cpu_count() = {os.cpu_count()} | load avg {load_average()}")
    print(f"instance: build_linear_instance(D, {DEPTH}, D, kappa={KAPPA}, ratio={RATIO}, seed={SEED}); "
          f"R = D/{DEPTH}, so L·R = D = rank E")
    print("ratio     = construct_s / (L · svd_s): construction time in units of one D×D float64 SVD per layer")
    print("ratio+tol = (construct_s + tolerance_s) / (L · svd_s): the same, including construction.tolerance()")
    print(f"target: ratio ≤ {TARGET_RATIO:g} at D = {TARGET_WIDTH}")
    print("times are medians (seconds) of the timed repeats after one warm-up; load = 1/5/15-min load average")
    print()
    print(HEADER.format(D="D", L="L", R="R", construct="construct_s", svd="svd_s", ratio="ratio", tol="tolerance_s",
                        ratio_tol="ratio+tol", rep="rep", load="load"))
    rows = []
    t_start = time.perf_counter()
    for D in args.sizes:
        repeats = args.repeats if args.repeats is not None else default_repeats(D)
        row = bench_size(D, repeats)
        rows.append(row)
        print(format_row(row), flush=True)
    total = time.perf_counter() - t_start
    print()
    print(f"total wall time {total:.2f} s")
    for row in rows:
        if row["D"] == TARGET_WIDTH:
            verdict = "met" if row["ratio"] <= TARGET_RATIO else "NOT met"
            print(f"target ratio ≤ {TARGET_RATIO:g} at D = {TARGET_WIDTH}: {verdict} (ratio = {row['ratio']:.2f}, "
                  f"with tolerance() = {row['ratio_with_tolerance']:.2f})")

    if args.json:
        payload = {
            "torch_version": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "instance": {"depth": DEPTH, "kappa": KAPPA, "ratio": RATIO, "seed": SEED, "dtype": "float64"},
            "target": {"width": TARGET_WIDTH, "max_ratio": TARGET_RATIO},
            "total_s": total,
            "rows": rows,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
