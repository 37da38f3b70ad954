"""The ``sweep`` command: argparse arguments and the runner (to be wired as ``lora-theory sweep``).

Example: ``lora-theory sweep --preset fig1 --quick --out results/fig1`` or
``lora-theory sweep --model fnn --depth 4 --target-depth 2 --ranks 1-8,12,16 --methods construction,gradient
--frozen random --seeds 0-4 --out results/e2``. Typed ``lora_theory`` errors propagate (the CLI turns them into
exit code 2 with one line on stderr); malformed lists are argparse errors.
"""

from __future__ import annotations

import argparse

from lora_theory.experiments.methods import METHODS
from lora_theory.experiments.presets import LOG_SCALE, PRESETS, preset_configs
from lora_theory.experiments.setups import FROZEN_KINDS, MODELS
from lora_theory.experiments.sweep import SweepConfig, check_out_dir, run_sweep, write_results

__all__ = ["parse_int_list", "add_sweep_arguments", "configs_from_args", "run_sweep_command"]


def parse_int_list(text: str) -> tuple[int, ...]:
    """``"1,2,4-8"`` → (1, 2, 4, 5, 6, 7, 8); ranges are inclusive."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise argparse.ArgumentTypeError(f"empty item in list {text!r}")
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise argparse.ArgumentTypeError(f"range {part!r} is decreasing; write {hi}-{lo}")
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not an integer or a range like 4-8 (in {text!r})") from None
    return tuple(out)


def _name_list(known):
    def parse(text: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in text.split(",") if v.strip())
    parse.__name__ = "list of " + "/".join(known)
    return parse


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    g = parser.add_argument_group("sweep")
    g.add_argument("--preset", choices=sorted(PRESETS), help="a named experiment of SPEC §9.2 (other options then "
                   "only override --seeds, --steps, --out, --log-scale)")
    g.add_argument("--model", choices=MODELS, help="linear | fnn | tfn (default linear)")
    g.add_argument("--width", type=int, help="D (default 16)")
    g.add_argument("--depth", type=int, help="frozen depth L (default 2)")
    g.add_argument("--target-depth", type=int, help="target depth L̄ (default 1)")
    g.add_argument("--heads", type=int, help="TFN heads H (default 2)")
    g.add_argument("--seq-len", type=int, help="TFN sequence length N (default 10)")
    g.add_argument("--ranks", type=parse_int_list, help="ranks, e.g. 1-16 or 1,2,4-8 (default 1-16)")
    g.add_argument("--tfl-layers", type=parse_int_list, help="k values of method tfl (default 1..L-1)")
    g.add_argument("--methods", type=_name_list(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)} (default construction,gradient)")
    g.add_argument("--frozen", type=_name_list(FROZEN_KINDS), help="random,pretrained (default random)")
    g.add_argument("--seeds", type=parse_int_list, help="seeds, e.g. 0-4 (default 0)")
    g.add_argument("--steps", type=int, help="Adam steps per grid point (default 5000; 100 with --quick)")
    g.add_argument("--quick", action="store_true", help="small grid/steps/seeds: a preset runs in under a minute")
    g.add_argument("--out", help="output directory (results.csv, results.json, timings.json, PNGs)")
    g.add_argument("--log-scale", action="store_true", help="log-scale y axis in the plots")
    g.add_argument("--no-plots", action="store_true", help="write CSV/JSON only")
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def configs_from_args(args: argparse.Namespace) -> list[SweepConfig]:
    common = {k: getattr(args, a) for k, a in (("seeds", "seeds"), ("steps", "steps"), ("out", "out"))
              if getattr(args, a, None) is not None}
    if getattr(args, "preset", None):
        return preset_configs(args.preset, quick=bool(args.quick), **common)
    kw = {k: getattr(args, a) for k, a in (("model", "model"), ("width", "width"), ("depth", "depth"),
                                           ("target_depth", "target_depth"), ("heads", "heads"),
                                           ("seq_len", "seq_len"), ("ranks", "ranks"), ("methods", "methods"),
                                           ("frozen", "frozen"), ("tfl_layers", "tfl_layers"))
          if getattr(args, a, None) is not None}
    return [SweepConfig(quick=bool(args.quick), log_scale=bool(args.log_scale), **kw, **common)]


def run_sweep_command(args: argparse.Namespace) -> int:
    """Validate everything (config and --out) before running, run, then write CSV/JSON/plots; print where."""
    configs = configs_from_args(args)
    out = check_out_dir(getattr(args, "out", None))
    rows: list[dict] = []
    for c in configs:
        rows.extend(run_sweep(c, progress=not getattr(args, "no_progress", False)))
    paths = write_results(rows, out, configs[0] if len(configs) == 1 else None)
    print(f"wrote {paths['csv']}, {paths['json']} and {paths['timings']}")
    if not getattr(args, "no_plots", False):
        from lora_theory.experiments.plots import plot_rows
        log = bool(args.log_scale) or (bool(getattr(args, "preset", None)) and args.preset in LOG_SCALE) or \
            any(c.log_scale for c in configs)
        for p in plot_rows(rows, out, log_scale=log):
            print(f"wrote {p}")
    return 0
