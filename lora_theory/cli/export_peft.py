"""``lora-theory export-peft``: the Theorem 3 adapters (arXiv 2310.17513v3, Theorem 3, p. 6; below the threshold
the Theorem 5 approximation, p. 6) for a real FNN checkpoint pair, saved as a PEFT adapter folder.

1. Both checkpoints are read weights-only (:func:`lora_theory.interop.checkpoints.load_fnn_pair`).
2. ``--rank`` defaults to the advised rank: the Theorem 3 threshold of the uniform partition, from
   :func:`lora_theory.analysis.rank_advice.rank_thresholds` (the numbers ``lora-theory rank`` prints).
3. :func:`lora_theory.constructions.fnn.construct_fnn` builds rank-≤R adapters and new biases on the ball
   ‖x‖₂ ≤ ρ; :func:`lora_theory.interop.peft.to_peft` loads them into a ``PeftModel`` over ``nn.Sequential``, and
   :func:`lora_theory.interop.peft.check_round_trip` checks PEFT output vs target, ``merge_and_unload``,
   ``disable_adapter`` and save/load on N points uniform in the ball plus its adversarial points.
4. Only if every check passes is the adapter published to ``--out``, as a whole: it is filled in a temporary folder
   beside ``--out`` and renamed (:func:`lora_theory.files.atomic_directory`), so ``--out`` either holds the complete
   adapter (``adapter_config.json``, ``adapter_model.safetensors``, PEFT's README, ``lora_theory_export.json``) or
   does not exist. ``--out`` must not exist or be an empty folder: another run's output is never written over.

Exit codes: 0 — saved; 1 — a round-trip check failed (nothing saved); 2 — bad input, one line naming the flag, file
or key. See docs/real-models.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lora_theory.cli._common import check_output_path
from lora_theory.errors import FileFormatError

NAME = "export-peft"
HELP = "build the Theorem 3 adapters for an FNN checkpoint pair and save them as a PEFT adapter folder"
DESCRIPTION = """\
Build the Theorem 3 LoRA adapters and biases (arXiv 2310.17513v3) that turn the frozen FNN checkpoint into the
target on the ball ||x|| <= radius, check them through PEFT (output, merge_and_unload, disable_adapter, save/load),
and only then publish them as one PEFT adapter folder (written whole or not at all). --rank defaults to the advised
rank (the Theorem 3 threshold that 'lora-theory rank' prints); below it the adapter is the Theorem 5 approximation.
Load it with PeftModel.from_pretrained(frozen_sequential, DIR). See docs/real-models.md.

example: lora-theory export-peft --frozen frozen.safetensors --target target.safetensors --out adapter
"""

__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run", "check_out_dir"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export-peft`` flags."""
    parser.add_argument("--frozen", required=True, metavar="PATH",
                        help="frozen FNN state dict (.safetensors, or a torch.save file read weights-only)")
    parser.add_argument("--target", required=True, metavar="PATH", help="target FNN state dict (depth L̄ ≤ L)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="adapter folder to create (must not exist, or be empty)")
    parser.add_argument("--rank", type=int, default=None, metavar="R",
                        help="LoRA rank R in 1..D (default: the advised rank, the Theorem 3 threshold)")
    parser.add_argument("--radius", type=float, default=1.0, metavar="ρ",
                        help="exactness domain: the ball ‖x‖₂ ≤ ρ (default 1.0)")
    parser.add_argument("--final-relu", action=argparse.BooleanOptionalAction, default=True,
                        help="whether a ReLU follows the last layer (not recorded in a state dict; default: yes)")
    parser.add_argument("--samples", type=int, default=256, metavar="N",
                        help="round-trip check inputs drawn uniformly from the ball (default 256)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the check inputs (default 0)")
    parser.add_argument("--json", dest="json_path", default=None, metavar="PATH.json",
                        help="also write the summary (lora_theory_export.json) to this file")


def check_out_dir(value: str) -> Path:
    """``--out`` as a path that does not exist or is an empty folder, in an existing parent folder."""
    p = Path(value)
    if str(value) == "":
        raise FileFormatError("--out is empty: give the adapter folder to create")
    if p.exists() and not p.is_dir():
        raise FileFormatError(f"--out {p} exists and is not a directory")
    if p.is_dir() and any(p.iterdir()):
        raise FileFormatError(f"--out {p} is not empty: choose a new folder (an adapter is never written over "
                              "another one)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FileFormatError(f"--out {p}: the parent folder {parent} does not exist")
    return p


def run(args: argparse.Namespace) -> int:
    """Validate, build, check, publish; return 0 (saved) or 1 (a round-trip check failed, nothing saved)."""
    import torch

    from lora_theory.analysis.rank_advice import MAX_SEED, rank_thresholds
    from lora_theory.constructions.fnn import construct_fnn
    from lora_theory.domains import Ball
    from lora_theory.files import atomic_directory, atomic_write_json
    from lora_theory.interop.checkpoints import load_fnn_pair
    from lora_theory.interop.peft import check_round_trip, lora_modules, require_peft, save_peft, to_peft
    from lora_theory.validation import check_int, check_positive_float, check_rank

    radius = check_positive_float(args.radius, "--radius")
    samples = check_int(args.samples, "--samples", minimum=1)
    seed = check_int(args.seed, "--seed", minimum=0, maximum=MAX_SEED)
    out = check_out_dir(args.out)
    json_path = check_output_path(args.json_path, "--json")
    require_peft()  # fail early (OptionalDependencyError) before any work
    frozen, target = load_fnn_pair(args.frozen, args.target, final_relu=bool(args.final_relu))
    thresholds = rank_thresholds(frozen, target)
    if args.rank is None:
        R = thresholds.advised_rank
        rank_note = f"rank R={R}: the advised rank, the Theorem 3 threshold (--rank overrides)"
    else:
        R = check_rank(args.rank, "--rank", width=frozen.width)
        rank_note = f"rank R={R} (--rank; the Theorem 3 threshold is {thresholds.uniform.value})"
    domain = Ball(frozen.width, radius)
    construction = construct_fnn(frozen, target, R, domain)
    module = frozen.to_sequential()
    peft_model = to_peft(module, construction)
    gen = torch.Generator().manual_seed(seed)
    x = domain.evaluation_points(samples, gen, dtype=frozen.dtype)
    report = check_round_trip(construction, module, peft_model, x)
    exact = construction.is_exact_in_theory()
    M = frozen.depth // target.depth
    print(f"frozen {args.frozen}: L={frozen.depth}, D={frozen.width}, {str(frozen.dtype).removeprefix('torch.')}; "
          f"target {args.target}: L̄={target.depth}; domain ‖x‖₂ ≤ {radius:g}; partition "
          f"{list(thresholds.uniform.partition)}")
    print(rank_note)
    for b in construction.blocks:
        print(f"  block {b.index + 1} (frozen layers {b.layers.start + 1}..{b.layers.stop}): rank(E)="
              f"{b.discrepancy_rank}, rank budget R·M={R * M}, spectral error ε={b.epsilon:.3e}")
    modules = lora_modules(peft_model)
    print("  PEFT modules (r per adapter): " + ", ".join(f"{n}:{r}" for n, r in modules.items()))
    print(f"round trip on {x.shape[0]} inputs: {report}")
    if not report.ok:
        print("lora-theory export-peft: round-trip check FAILED; nothing saved")
        return 1
    meta = {
        "command": "export-peft", "frozen": str(args.frozen), "target": str(args.target), "rank": R,
        "rank_source": "advised" if args.rank is None else "--rank", "advised_rank": thresholds.advised_rank,
        "theorem3_threshold": thresholds.uniform.value, "radius": radius, "final_relu": bool(args.final_relu),
        "width": frozen.width, "depth": frozen.depth, "target_depth": target.depth,
        "dtype": str(frozen.dtype).removeprefix("torch."), "exact_in_theory": exact,
        "block_discrepancy_ranks": [b.discrepancy_rank for b in construction.blocks],
        "block_spectral_errors": [b.epsilon for b in construction.blocks],
        "round_trip": {"inputs": int(x.shape[0]), "seed": seed, "peft_vs_target": report.adapted_error,
                       "merged_vs_target": report.merged_error, "merged_vs_peft": report.merged_vs_peft,
                       "tolerance": report.tolerance.value, "disable_adapter_exact": report.disabled_exact,
                       "save_load_exact": report.reload_exact},
        "peft_modules": {n: list(r) for n, r in modules.items()},
    }
    try:
        with atomic_directory(out) as tmp:
            save_peft(peft_model, tmp)  # itself atomic: it replaces the empty temporary folder with a full one
            atomic_write_json(tmp / "lora_theory_export.json", meta)
    except OSError as exc:
        raise FileFormatError(f"--out {out}: the adapter folder could not be published "
                              f"({exc.strerror or exc}); nothing was saved") from None
    if json_path is not None:
        print(f"wrote {atomic_write_json(json_path, meta)}")
    verdict = ("exact on the domain (R reaches the Theorem 3 threshold)" if exact else
               "approximate: R is below the Theorem 3 threshold; the per-block spectral errors ε above are the "
               "Theorem 5 error terms")
    print(f"saved PEFT adapter to {out} — {verdict}")
    return 0
