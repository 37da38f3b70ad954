"""``lora-theory sweep``: the paper's experiments (arXiv 2310.17513v3, App. G, pp. 39–45) as error-vs-rank sweeps.

This module only parses and dispatches: :mod:`lora_theory.experiments` holds the configs, the runner, the writers
and the plots. Typed ``lora_theory`` errors propagate (the CLI turns them into exit code 2 with one line on stderr);
malformed lists are argparse errors.
"""

from __future__ import annotations

import argparse

from lora_theory.errors import DomainError

NAME = "sweep"
HELP = ("reproduce the paper's experiments (Figures 1, 3–7): error vs rank for the construction, gradient LoRA and "
        "final layers tuning")
DESCRIPTION = """\
Run the synthetic experiments of arXiv 2310.17513v3 (Sec. 5 and App. G): for each seed, frozen kind, method and
LoRA rank, fit the frozen model to the target (the proof's construction, gradient LoRA with Adam, final layers
tuning) and record the test MSE, next to the theory curve and the exactness threshold. Writes results.csv
(byte-identical on a rerun), results.json, timings.json (curves.csv for fig7) and one PNG per setting to --out.
A --preset names the paper's figure (fig1, fig1a, fig1b, fig3, fig4, fig5, fig6, fig6a, fig6b, fig7; see
docs/experiments.md) and fixes the setting (model, sizes, ranks, methods, frozen kinds); with it only --seeds,
--steps, --quick, --out, --log-scale, --no-plots and --no-progress may be given. Without --quick a preset runs the
paper's full protocol (5 seeds, 12 Adam settings of 5000 steps each: hours on a CPU); --quick cuts it and says how.

example: lora-theory sweep --preset fig1 --quick --out results/fig1
example: lora-theory sweep --model fnn --depth 4 --target-depth 2 --ranks 1-8,12,16 --methods construction,gradient \
--frozen-kind random,pretrained --seeds 0-4 --out results/e2
"""

__all__ = ["NAME", "HELP", "DESCRIPTION", "PRESET_NAMES", "PRESET_ALIASES", "MODEL_NAMES", "METHOD_NAMES",
           "FROZEN_KIND_NAMES", "PRESET_FIXED", "parse_int_list", "add_arguments", "configs_from_args", "run"]

# the names the help lists (this module imports no torch; tests/experiments checks they match the experiments')
PRESET_NAMES = ("fig1", "fig1a", "fig1b", "fig3", "fig4", "fig5", "fig6", "fig6a", "fig6b", "fig7")
PRESET_ALIASES = ("fig2", "fnn-appendix", "tfn-appendix", "tfl", "bias")  # deprecated, still accepted
MODEL_NAMES = ("linear", "fnn", "tfn")
METHOD_NAMES = ("construction", "gradient", "fixed-bias", "final-layers")  # "tfl": deprecated final-layers
FROZEN_KIND_NAMES = ("random", "pretrained")

#: options a --preset fixes: (attribute, flag)
PRESET_FIXED = (("model", "--model"), ("width", "--width"), ("depth", "--depth"), ("target_depth", "--target-depth"),
                ("heads", "--heads"), ("seq_len", "--seq-len"), ("ranks", "--ranks"), ("tfl_layers", "--final-layers"),
                ("methods", "--methods"), ("frozen_kind", "--frozen-kind"))


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


def _name_list(known: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in text.split(",") if v.strip())
    parse.__name__ = "list of " + "/".join(known)
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` flags. (Abbreviations are off for every command: ``--frozen`` must not silently mean
    ``--frozen-kind``; in ``rank`` and ``export-peft``, ``--frozen`` is a checkpoint file.)"""
    g = parser.add_argument_group("setting (fixed by --preset)")
    g.add_argument("--preset", metavar="NAME",
                   help=f"the paper's figure to reproduce: {', '.join(PRESET_NAMES)} (old names "
                        f"{', '.join(PRESET_ALIASES)} still work)")
    g.add_argument("--model", metavar="MODEL", help=f"{' | '.join(MODEL_NAMES)} (default linear)")
    g.add_argument("--width", type=int, help="D (default 16)")
    g.add_argument("--depth", type=int, help="frozen depth L (default 2)")
    g.add_argument("--target-depth", type=int, help="target depth L̄ (default 1)")
    g.add_argument("--heads", type=int, help="TFN heads H (default 2)")
    g.add_argument("--seq-len", type=int, help="TFN sequence length N (default 10)")
    g.add_argument("--ranks", type=parse_int_list, help="ranks, e.g. 1-16 or 1,2,4-8 (default 1-16)")
    g.add_argument("--final-layers", "--tfl-layers", dest="tfl_layers", metavar="K", type=parse_int_list,
                   help="k values (number of final layers tuned) of method final-layers (default 1..L-1); "
                        "--tfl-layers is the old name")
    g.add_argument("--methods", type=_name_list(METHOD_NAMES),
                   help=f"comma-separated subset of {','.join(METHOD_NAMES)} (default construction,gradient; "
                        "final-layers = final layers tuning, old name tfl)")
    g.add_argument("--frozen-kind", type=_name_list(FROZEN_KIND_NAMES),
                   help=f"comma-separated subset of {','.join(FROZEN_KIND_NAMES)}: how the frozen model is made "
                        "(default random)")
    r = parser.add_argument_group("run and output")
    r.add_argument("--seeds", type=parse_int_list, help="seeds, e.g. 0-4 (default 0)")
    r.add_argument("--steps", type=int, help="Adam steps per grid point (default 5000; 100 with --quick)")
    r.add_argument("--quick", action="store_true",
                   help="cut seeds/ranks/grid/steps/test set (printed): a preset runs in under a minute")
    r.add_argument("--out", help="output directory (results.csv, results.json, timings.json, PNGs)")
    r.add_argument("--log-scale", action="store_true", help="log-scale y axis in the plots")
    r.add_argument("--no-plots", action="store_true", help="write CSV/JSON only")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def configs_from_args(args: argparse.Namespace) -> list:
    """The :class:`~lora_theory.experiments.sweep.SweepConfig` list of ``args``; DomainError for a --preset given
    with an option it fixes."""
    from lora_theory.experiments.presets import preset_configs
    from lora_theory.experiments.sweep import SweepConfig

    common = {k: getattr(args, k) for k in ("seeds", "steps", "out") if getattr(args, k, None) is not None}
    if getattr(args, "preset", None):
        configs = preset_configs(args.preset, quick=bool(args.quick), **common)  # an unknown name fails first
        given = [flag for attr, flag in PRESET_FIXED if getattr(args, attr, None) is not None]
        if given:
            raise DomainError(f"--preset {args.preset} fixes {', '.join(given)}: drop "
                              f"{'it' if len(given) == 1 else 'them'} or drop --preset (with a preset only --seeds, "
                              "--steps, --quick, --out, --log-scale, --no-plots and --no-progress may be given)")
        return configs
    kw = {attr: getattr(args, attr) for attr, _ in PRESET_FIXED if getattr(args, attr, None) is not None}
    return [SweepConfig(quick=bool(args.quick), log_scale=bool(args.log_scale), **kw, **common)]


def run(args: argparse.Namespace) -> int:
    """Validate everything (config and --out) before running, run, then write CSV/JSON/plots; print where."""
    import sys

    from lora_theory.experiments.presets import LOG_SCALE, QUICK_CUTS, resolve_preset
    from lora_theory.experiments.sweep import check_out_dir, run_sweep, write_results

    configs = configs_from_args(args)
    out = check_out_dir(getattr(args, "out", None))
    preset = None
    if getattr(args, "preset", None):
        preset, note = resolve_preset(args.preset)
        if note:
            print(f"lora-theory: note: {note}", file=sys.stderr)
        if args.quick:
            print(f"lora-theory: {preset}: {QUICK_CUTS[preset]}", file=sys.stderr)
    rows: list[dict] = []
    for c in configs:
        rows.extend(run_sweep(c, progress=not args.no_progress))
    paths = write_results(rows, out, configs[0] if len(configs) == 1 else None)
    print(f"wrote {paths['csv']}, {paths['json']} and {paths['timings']}")
    if "curves" in paths:
        print(f"wrote {paths['curves']}")
    if not args.no_plots:
        from lora_theory.experiments.plots import plot_rows
        log = bool(args.log_scale) or (preset in LOG_SCALE) or any(c.log_scale for c in configs)
        for p in plot_rows(rows, out, log_scale=log):
            print(f"wrote {p}")
    return 0
