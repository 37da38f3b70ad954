"""One command, one table: ``python benchmarks/run_all.py`` (add ``--quick`` for small sizes).

Prints, from a single run on this machine:

* the construction cost ratios of the three benchmark scripts (Lemma 1, Theorem 3, Theorem 7) at growing D —
  each a ratio to the dense linear algebra the construction needs, measured in the same run;
* the PEFT export time (``bench_peft.py``: ``to_peft`` + round-trip check), when the ``peft`` extra is installed;
* examples per second per claim in the default (``dev``) profile, from the claims JSON of a ``pytest`` run of
  ``lora_theory/properties/`` (examples / summed test time);
* the wall time of ``pytest -n auto`` on the default profile (the whole gate's test half).

Benchmarks, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_json(script: str, args: list[str], out: Path) -> list[dict]:
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out)], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)
    data = json.loads(out.read_text())
    return data["rows"] if isinstance(data, dict) else data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a couple of minutes in total)")
    args = ap.parse_args()
    sizes = {"linear": "64,256" if args.quick else "64,256,1024",
             "fnn": "64,256" if args.quick else "256,1024,2048",
             "tfn": "16,64" if args.quick else "64,256,1024"}
    env = dict(os.environ)
    env.pop("CI", None)
    env["HYPOTHESIS_PROFILE"] = "dev"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("construction cost ratios (lower is better; target ≤ 2)")
        print(f"{'claim':<10} {'D':>6} {'ratio':>7}  what the ratio divides by")
        for name, script, extra, what in (
                ("lemma1", "bench_linear.py", ["--repeats", "3"], "L × one D×D SVD (L = 8, R = D/8)"),
                ("theorem3", "bench_fnn.py", ["--repeats", "1"], "L × one D×D SVD, incl. verification (L=8, L̄=2)"),
                ("theorem7", "bench_tfn.py", ["--repeats", "1"], "17 SVD + 11 solves (H = 4, L = 2)")):
            model = {"lemma1": "linear", "theorem3": "fnn", "theorem7": "tfn"}[name]
            for row in _run_json(script, ["--sizes", sizes[model], *extra], tmp / f"{name}.json"):
                ratio = row.get("ratio")
                print(f"{name:<10} {row['D']:>6} {ratio:>7.2f}  {what}")
        import importlib.util
        if importlib.util.find_spec("peft") is None:
            print("\nPEFT export: skipped (pip install 'lora-theory[peft]')")
        else:
            print("\nPEFT export: to_peft + round-trip check (seconds; target ≤ 2 s at D = 1024, L = 8)")
            for row in _run_json("bench_peft.py", ["--sizes", "256" if args.quick else "256,1024", "--repeats",
                                                   "1"], tmp / "peft.json"):
                print(f"{'export':<10} {row['D']:>6} {row['export_s']:>7.2f}  s (import of peft not counted)")
        claims_json = tmp / "claims.json"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "lora_theory/properties", "-q", "-p", "no:cacheprovider",
                        "--claims-json", str(claims_json), "--no-claims-table"], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, check=True)
        props_s = time.perf_counter() - t
        print(f"\nexamples per second per claim (dev profile, one process; properties/ took {props_s:.1f} s)")
        for row in json.loads(claims_json.read_text())["claims"]:
            rate = row["examples"] / row["seconds"] if row["seconds"] else float("nan")
            print(f"{row['claim']:<20} {row['examples']:>6} examples  {row['seconds']:>6.2f} s  {rate:>8.1f} /s")
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                       env=env, stdout=subprocess.DEVNULL, check=True)
        print(f"\nwall time of `pytest -n auto` (dev profile): {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
