"""Benchmark of the Theorem 7 construction (``construct_tfn``) against its dense-algebra floor.

Run ``python benchmarks/bench_tfn.py`` (defaults: D ∈ {64, 256, 1024}, H = 4, L = 2, R = ⌈D/2⌉). This is a
benchmark script, not a test: it prints a table and never fails on a slow machine.

Instance: ``build_tfn_instance(D, 2, 4, gap_rank=D // 2, seed=0)`` (float64): a low-gap target, every W_Q, W_K,
W_V, W_O and W_o moved by a rank-⌊D/2⌋ perturbation, so G = (2⌊D/2⌋, …, ⌊D/2⌋) and R = ⌈D/2⌉ is exact, while the
two-factor chains stay well conditioned by construction (an independent random target at D = 1024 would not be).

The **dense-algebra floor** is what the construction (the proof of arXiv 2310.17513v3, Theorem 7, pp. 38–39) cannot
avoid:

* one D×D SVD per two-factor chain: 2·H·L (score and value/output chains of every head and block) + 1 (output);
* one D×D LU solve per solve of the recipe: H·L with W_1 (value/output targets), 2·(L − 1) with W_2/W̄_2 (carried
  bias and calibration), 1 with W̃_o (last bias);

timed as ``chains · svd_s + solves · solve_s`` with ``svd_s`` one ``torch.linalg.svd`` and ``solve_s`` one
``torch.linalg.solve`` of a D×D float64 matrix with a D×D right-hand side. Columns:

* ``construct_s``  median wall time of ``construct_tfn(frozen, target, R)``;
* ``svd_s``, ``solve_s``  median wall time of one D×D SVD / LU solve;
* ``floor_s``      chains · svd_s + solves · solve_s;
* ``ratio``        construct_s / floor_s. Target: ≤ 2;
* ``max_rel_err``  max over tokens of ‖f(X) − f̄(X)‖₂ / max‖f̄(X)‖₂ on one N = 8 input (a sanity check, untimed).

Each size is warmed up once; the timings of one repeat (SVD, solve, construction) are taken back to back so that
background load hits all three alike, and the median over the repeats is reported.

Flags: ``--sizes 64,256,1024``, ``--repeats N`` (default: 7/5/3 for D ≤ 64/≤ 256/larger), ``--json PATH``
(also write the rows as JSON), ``--threads N`` (``torch.set_num_threads``), ``--profile PATH`` (also write a
cProfile of one construction at the largest size to PATH and print its top entries).
Smoke test: ``python benchmarks/bench_tfn.py --sizes 16 --repeats 1`` takes a few seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import statistics
import sys
import time

import torch
from _common import load_average, timed
from _common import parse_sizes as _parse_sizes

from lora_theory.constructions.tfn import construct_tfn, tfn_gaps
from lora_theory.testing.instances import build_tfn_instance

DEPTH = 2
HEADS = 4
SEED = 0
N_TOKENS = 8
TARGET_RATIO = 2.0


def default_repeats(D: int) -> int:
    if D <= 64:
        return 7
    if D <= 256:
        return 5
    return 3


def parse_sizes(text: str) -> list[int]:
    return _parse_sizes(text, lambda D: None if D >= 2 else
                        f"size {D} must be >= 2 (the target has gap rank ⌊D/2⌋ >= 1)")


def floor_counts(L: int, H: int) -> tuple[int, int]:
    """(number of two-factor chains, number of LU solves) of the Theorem 7 recipe."""
    chains = 2 * H * L + 1
    solves = H * L + 2 * (L - 1) + 1
    return chains, solves


def max_relative_error(construction, target, D: int) -> float:
    X = torch.randn(D, N_TOKENS, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = target(X)
    got = construction.adapted()(X)
    err = float(torch.linalg.vector_norm(got - want, dim=-2).max())
    return err / float(torch.linalg.vector_norm(want, dim=-2).max())


def bench_size(D: int, repeats: int) -> dict:
    L, H = DEPTH, HEADS
    R = math.ceil(D / 2)
    k = D // 2
    t_build, inst = timed(lambda: build_tfn_instance(D, L, H, gap_rank=k, seed=SEED))
    frozen, target = inst.frozen, inst.target
    chains, solves = floor_counts(L, H)
    gen = torch.Generator().manual_seed(SEED)
    M = torch.randn(D, D, generator=gen, dtype=torch.float64) + D ** 0.5 * torch.eye(D, dtype=torch.float64)
    rhs = torch.randn(D, D, generator=gen, dtype=torch.float64)

    # warm-up (allocator, LAPACK workspaces, thread pool)
    torch.linalg.svd(M)
    torch.linalg.solve(M, rhs)
    construction = construct_tfn(frozen, target, R)
    if not construction.is_exact_in_theory():
        raise RuntimeError(f"D={D}: expected an exact instance at R={R}; chain gaps {construction.chain_gaps()}")

    svd_times, solve_times, construct_times = [], [], []
    for _ in range(repeats):
        t, _ = timed(lambda: torch.linalg.svd(M))
        svd_times.append(t)
        t, _ = timed(lambda: torch.linalg.solve(M, rhs))
        solve_times.append(t)
        t, construction = timed(lambda: construct_tfn(frozen, target, R))
        construct_times.append(t)

    svd_s = statistics.median(svd_times)
    solve_s = statistics.median(solve_times)
    construct_s = statistics.median(construct_times)
    floor_s = chains * svd_s + solves * solve_s
    return {
        "D": D, "L": L, "H": H, "R": R, "gap_rank": k, "repeats": repeats,
        "construct_s": construct_s, "svd_s": svd_s, "solve_s": solve_s,
        "chains": chains, "solves": solves, "floor_s": floor_s, "ratio": construct_s / floor_s,
        "gaps": list(tfn_gaps(frozen, target)) if D <= 256 else list(construction.chain_gaps()),
        "max_rel_err": max_relative_error(construction, target, D),
        "build_instance_s": t_build,
        "construct_all_s": construct_times, "svd_all_s": svd_times, "solve_all_s": solve_times,
        "loadavg_after": load_average(),
    }


HEADER = ("{D:>6} {H:>2} {L:>2} {R:>5} {construct:>12} {svd:>10} {solve:>10} {cnt:>7} {floor:>10} {ratio:>7} "
          "{err:>11} {rep:>4} {load:>16}")


def format_row(r: dict) -> str:
    return HEADER.format(D=r["D"], H=r["H"], L=r["L"], R=r["R"], construct=f"{r['construct_s']:.3e}",
                         svd=f"{r['svd_s']:.3e}", solve=f"{r['solve_s']:.3e}", cnt=f"{r['chains']}+{r['solves']}",
                         floor=f"{r['floor_s']:.3e}", ratio=f"{r['ratio']:.2f}", err=f"{r['max_rel_err']:.1e}",
                         rep=r["repeats"], load=r["loadavg_after"])


def profile_once(D: int, path: str, top: int = 25) -> str:
    inst = build_tfn_instance(D, DEPTH, HEADS, gap_rank=D // 2, seed=SEED)
    R = math.ceil(D / 2)
    construct_tfn(inst.frozen, inst.target, R)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    construct_tfn(inst.frozen, inst.target, R)
    prof.disable()
    prof.dump_stats(path)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("tottime")
    stats.print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("64,256,1024"),
                        help="comma-separated widths D (>= 2); default 64,256,1024")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per size (median reported); default 7/5/3 for D ≤ 64/≤ 256/larger")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the rows as JSON to PATH")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N) before timing")
    parser.add_argument("--profile", metavar="PATH", default=None,
                        help="also cProfile one construction at the largest size, dump to PATH, print the top")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    chains, solves = floor_counts(DEPTH, HEADS)
    print("Theorem 7 construction benchmark (construct_tfn, float64, CPU)")
    print(f"torch {torch.__version__} | torch.get_num_threads() = {torch.get_num_threads()} | "
          f"python {platform.python_version()} | os.cpu_count() = {os.cpu_count()} | load avg {load_average()}")
    print(f"instance: build_tfn_instance(D, {DEPTH}, {HEADS}, gap_rank=D // 2, seed={SEED}); R = ⌈D/2⌉")
    print(f"floor_s = chains·svd_s + solves·solve_s with chains = 2·H·L + 1 = {chains}, "
          f"solves = H·L + 2·(L−1) + 1 = {solves} (one D×D float64 SVD / LU solve with a D×D right-hand side)")
    print(f"ratio = construct_s / floor_s; target ≤ {TARGET_RATIO:g}. max_rel_err: untimed check on N = {N_TOKENS}")
    print("times are medians (seconds) of the timed repeats after one warm-up; load = 1/5/15-min load average")
    print()
    print(HEADER.format(D="D", H="H", L="L", R="R", construct="construct_s", svd="svd_s", solve="solve_s",
                        cnt="ch+sol", floor="floor_s", ratio="ratio", err="max_rel_err", rep="rep", load="load"))
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
    worst = max(rows, key=lambda r: r["ratio"])
    verdict = "met" if worst["ratio"] <= TARGET_RATIO else "NOT met"
    print(f"target ratio ≤ {TARGET_RATIO:g}: {verdict} (worst {worst['ratio']:.2f} at D = {worst['D']})")

    if args.profile:
        D = max(args.sizes)
        print()
        print(f"cProfile of one construct_tfn at D = {D} (written to {args.profile}), by own time:")
        print(profile_once(D, args.profile))

    if args.json:
        payload = {
            "torch_version": torch.__version__, "num_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "instance": {"depth": DEPTH, "heads": HEADS, "gap_rank": "D // 2", "seed": SEED, "dtype": "float64"},
            "floor": {"chains": chains, "solves": solves},
            "target": {"max_ratio": TARGET_RATIO}, "total_s": total, "rows": rows,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
