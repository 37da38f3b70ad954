"""The ``lora-theory export-peft`` subcommand: Theorem 3 adapters for a real FNN checkpoint pair, saved as a PEFT
adapter folder (claim ``theorem3``, arXiv 2310.17513 v3, §3; below the threshold the Theorem 5 approximation,
claim ``theorem5``).

::

    lora-theory export-peft --frozen A.safetensors --target B.safetensors --rank R --out DIR
                            [--radius ρ] [--final-relu | --no-final-relu] [--samples N] [--seed S]

1. Both checkpoints are read weights-only in the layout of :mod:`lora_theory.interop.checkpoints` (the state dict of an
   ``nn.Sequential(Linear, ReLU, …)``: keys ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, …).
2. :func:`lora_theory.constructions.fnn.construct_fnn` builds rank-≤R adapters and new biases on the ball
   ‖x‖₂ ≤ ρ (default ρ = 1): exactness is claimed there, at every point of it, not on a sample.
3. :func:`lora_theory.interop.peft.to_peft` loads them into a PEFT ``PeftModel`` over ``nn.Sequential`` (scaling 1,
   bias updates as ``lora_B.bias``), and :func:`lora_theory.interop.peft.check_round_trip` checks, on N points
   uniform in the ball plus its adversarial points, PEFT output vs target, ``merge_and_unload``, ``disable_adapter``
   and save/load.
4. Only if every check passes is the adapter saved to DIR (``adapter_config.json``, ``adapter_model.safetensors``,
   PEFT's README) with ``lora_theory_export.json`` (what was run and measured). DIR must not exist or be empty.

Exit codes: 0 — saved (the summary says whether R reaches the threshold: exact, or the Theorem 5 approximation
with the predicted per-block spectral errors); 1 — a round-trip check failed (nothing saved); 2 — bad input, one line
on stderr naming the flag, file or key (including SingularityError when Assumption 1 fails for this pair).

Load the result with ``PeftModel.from_pretrained(frozen_sequential, DIR)`` — or
:func:`lora_theory.interop.peft.load_peft` — where ``frozen_sequential`` is the frozen model as an ``nn.Sequential``
(e.g. ``lora_theory.interop.checkpoints.load_fnn(A).to_sequential()``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from lora_theory.errors import FileFormatError
from lora_theory.validation import check_positive_float, check_rank, check_size

__all__ = ["add_export_arguments", "run_export"]


def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--frozen", required=True, metavar="A", help="frozen FNN state dict (.safetensors or torch)")
    parser.add_argument("--target", required=True, metavar="B", help="target FNN state dict (depth ≤ frozen depth)")
    parser.add_argument("--rank", required=True, type=int, metavar="R", help="LoRA rank R (1..D)")
    parser.add_argument("--out", required=True, metavar="DIR", help="adapter folder to create (must be new or empty)")
    parser.add_argument("--radius", type=float, default=1.0, metavar="ρ",
                        help="exactness domain: the ball ‖x‖₂ ≤ ρ (default 1.0)")
    parser.add_argument("--final-relu", action=argparse.BooleanOptionalAction, default=True,
                        help="whether a ReLU follows the last layer (not recorded in a state dict; default: yes)")
    parser.add_argument("--samples", type=int, default=256, metavar="N",
                        help="round-trip check inputs drawn uniformly from the ball (default 256)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the check inputs (default 0)")
    return parser


def _out_dir(value: str) -> Path:
    p = Path(value)
    if p.exists() and not p.is_dir():
        raise FileFormatError(f"--out {p} exists and is not a directory")
    if p.is_dir() and any(p.iterdir()):
        raise FileFormatError(f"--out {p} is not empty: choose a new folder (an adapter is never written over "
                              "another one)")
    parent = p.parent if str(p.parent) else Path(".")
    if not p.exists() and not parent.is_dir():
        raise FileFormatError(f"--out {p}: the parent folder {parent} does not exist")
    return p


def run_export(args: argparse.Namespace) -> int:
    from lora_theory.constructions.fnn import construct_fnn
    from lora_theory.domains import Ball
    from lora_theory.interop.checkpoints import load_fnn_pair
    from lora_theory.interop.peft import _peft, check_round_trip, lora_modules, save_peft, to_peft
    from lora_theory.partition import uniform_partition

    radius = check_positive_float(args.radius, "--radius")
    samples = check_size(args.samples, "--samples")
    out = _out_dir(args.out)
    _peft()  # fail early (OptionalDependencyError) before any work
    frozen, target = load_fnn_pair(args.frozen, args.target, final_relu=args.final_relu)
    R = check_rank(args.rank, "--rank", width=frozen.width)
    domain = Ball(frozen.width, radius)
    construction = construct_fnn(frozen, target, R, domain)
    module = frozen.to_sequential()
    peft_model = to_peft(module, construction)
    gen = torch.Generator().manual_seed(int(args.seed))
    x = torch.cat([domain.sample(samples, gen, dtype=frozen.dtype),
                   domain.adversarial_points(gen, dtype=frozen.dtype)])
    report = check_round_trip(construction, module, peft_model, x)
    exact = construction.is_exact_in_theory()
    M = frozen.depth // target.depth
    sizes = uniform_partition(frozen.depth, target.depth)
    print(f"frozen {args.frozen}: L={frozen.depth}, D={frozen.width}, {frozen.dtype}; target {args.target}: "
          f"L̄={target.depth}; rank R={R}; domain ‖x‖₂ ≤ {radius:g}; partition {sizes}")
    for b in construction.blocks:
        print(f"  block {b.index + 1} (frozen layers {b.layers.start + 1}..{b.layers.stop}): rank(E)="
              f"{b.discrepancy_rank}, rank budget R·M={R * M}, spectral error ε={b.epsilon:.3e}")
    print("  PEFT modules (r per adapter): " + ", ".join(f"{n}:{r}" for n, r in lora_modules(peft_model).items()))
    print(f"round trip on {x.shape[0]} inputs: {report}")
    if not report.ok:
        print("lora-theory export-peft: round-trip check FAILED; nothing saved")
        return 1
    save_peft(peft_model, out)
    meta = {
        "frozen": str(args.frozen), "target": str(args.target), "rank": R, "radius": radius,
        "final_relu": bool(args.final_relu), "width": frozen.width, "depth": frozen.depth,
        "target_depth": target.depth, "dtype": str(frozen.dtype).replace("torch.", ""),
        "exact_in_theory": exact,
        "block_discrepancy_ranks": [b.discrepancy_rank for b in construction.blocks],
        "block_spectral_errors": [b.epsilon for b in construction.blocks],
        "round_trip": {"inputs": int(x.shape[0]), "peft_vs_target": report.adapted_error,
                       "merged_vs_target": report.merged_error, "merged_vs_peft": report.merged_vs_peft,
                       "tolerance": report.tolerance.value, "disable_adapter_exact": report.disabled_exact,
                       "save_load_exact": report.reload_exact},
        "peft_modules": {n: list(r) for n, r in lora_modules(peft_model).items()},
    }
    (out / "lora_theory_export.json").write_text(json.dumps(meta, indent=2) + os.linesep, encoding="utf-8")
    verdict = ("exact on the domain (R reaches the Theorem 3 threshold)" if exact else
               "approximate: R is below the Theorem 3 threshold; the per-block spectral errors ε above are the "
               "Theorem 5 error terms")
    print(f"saved PEFT adapter to {out} — {verdict}")
    return 0
