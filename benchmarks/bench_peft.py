"""Benchmark of the PEFT export: ``to_peft`` plus the full round-trip check at D = 1024, L = 8 (issue target: ≤ 2 s
on CPU, excluding the import of peft).

``python benchmarks/bench_peft.py`` (defaults: D ∈ {256, 1024}, L = 8, L̄ = 2, block discrepancy ranks (D/8, D/8),
R = the Theorem 3 threshold ⌈(D/8)/4⌉) prints, in one run, the median wall time of

* ``import_s``     — ``import peft`` (once, in this process; reported, not counted);
* ``construct_s``  — ``construct_fnn`` (the Theorem 3 adapters; benchmarked on its own in bench_fnn.py);
* ``to_peft_s``    — ``to_peft(frozen.to_sequential(), construction)``: deep copy, ``get_peft_model``, factor loading;
* ``round_trip_s`` — ``check_round_trip`` on 256 domain points: PEFT forward vs target (with the tolerance),
  ``disable_adapter``, ``merge_and_unload`` on a deep copy, ``save_pretrained`` + ``PeftModel.from_pretrained``;
* ``forward_s``    — one forward pass of the frozen ``nn.Sequential`` on the same points (the unit of model work);

and ``export_s = to_peft_s + round_trip_s`` against the 2 s target. A benchmark, not a test: it never fails on a slow
machine. Flags: ``--sizes``, ``--repeats``, ``--json PATH``.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _common import load_average, parse_sizes, timed

from lora_theory.constructions.fnn import construct_fnn
from lora_theory.files import atomic_write_json
from lora_theory.testing.instances import build_fnn_instance

TARGET_S = 2.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=lambda t: parse_sizes(t, lambda D: None if D >= 8 else "D must be >= 8"),
                    default=[256, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    t_import, _ = timed(lambda: __import__("peft"))
    from lora_theory.interop.peft import check_round_trip, to_peft

    L, Lbar = 8, 2
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64; L = {L}, L̄ = {Lbar}; "
          f"load {load_average()}; import peft {t_import:.2f} s (not counted)")
    print(f"export_s = to_peft_s + round_trip_s; target ≤ {TARGET_S:g} s at D = 1024")
    print(f"{'D':>6} {'R':>4} {'construct_s':>12} {'to_peft_s':>10} {'round_trip_s':>13} {'export_s':>9} "
          f"{'forward_s':>10} {'max err':>9} {'tolerance':>10}")
    rows = []
    for D in args.sizes:
        k = D // 8
        inst = build_fnn_instance(D, L, Lbar, (k, k), seed=0)
        R = -(-k // (L // Lbar))
        gen = torch.Generator().manual_seed(0)
        X = inst.domain.sample(256, gen)
        t_c, t_p, t_r, t_f = [], [], [], []
        report = None
        for _ in range(args.repeats):
            tc, c = timed(lambda: construct_fnn(inst.frozen, inst.target, R, inst.domain))
            module = inst.frozen.to_sequential()
            tp, pm = timed(lambda: to_peft(module, c))
            tr, report = timed(lambda: check_round_trip(c, module, pm, X))
            with torch.no_grad():
                tf, _ = timed(lambda: module(X))
            t_c.append(tc), t_p.append(tp), t_r.append(tr), t_f.append(tf)
            assert report.ok, str(report)
        row = {"D": D, "L": L, "Lbar": Lbar, "R": R, "construct_s": statistics.median(t_c),
               "to_peft_s": statistics.median(t_p), "round_trip_s": statistics.median(t_r),
               "forward_s": statistics.median(t_f), "max_error": report.adapted_error,
               "tolerance": report.tolerance.value, "import_peft_s": t_import}
        row["export_s"] = row["to_peft_s"] + row["round_trip_s"]
        rows.append(row)
        print(f"{D:>6} {R:>4} {row['construct_s']:>12.3f} {row['to_peft_s']:>10.3f} {row['round_trip_s']:>13.3f} "
              f"{row['export_s']:>9.3f} {row['forward_s']:>10.4f} {row['max_error']:>9.2e} {row['tolerance']:>10.2e}")
    if args.json:
        atomic_write_json(args.json, {"target_s": TARGET_S, "rows": rows})


if __name__ == "__main__":
    main()
