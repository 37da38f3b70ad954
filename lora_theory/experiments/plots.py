"""PNG plots of sweep rows (matplotlib, Agg backend; an optional dependency imported only when plotting).

One figure per (model, L, L̄, frozen kind): error vs rank, one line per method (median over seeds), the theory
curve (:mod:`.theory`; for the FNN it is a bound on E‖f − f̄‖₂, labelled as such, not an MSE) and a vertical line at
the exactness threshold. Presets ``tfl`` and ``bias`` plot error vs number of trainable parameters (plot
convention: LoRA 2RDL (+DL with tuned biases), TFL kD², as in arXiv 2310.17513v3, Lemma 4, p. 7, and Fig. 6)
instead.
Every figure is ``FIGSIZE`` inches at ``DPI``, i.e. 800 × 500 pixels.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

from lora_theory.errors import DomainError, OptionalDependencyError
from lora_theory.files import atomic_write_with

__all__ = ["FIGSIZE", "DPI", "PIXELS", "plot_rows", "require_matplotlib"]

FIGSIZE = (8.0, 5.0)
DPI = 100
PIXELS = (800, 500)  # width, height
PARAM_AXIS_PRESETS = {"tfl", "bias"}
LABELS = {"construction": "construction (proof)", "gradient": "gradient LoRA (Adam)",
          "fixed-bias": "gradient LoRA, biases fixed (Adam)", "tfl": "TFL: last k layers (Adam)"}
THEORY_LABELS = {"expected_mse": "theory: Σ_{i>RL} σ_i(E)²/D (exact expected MSE)",
                 "thm5_tight_bound_mean_l2": "Thm 5 (c) bound on E‖f−f̄‖₂ (mean norm, not MSE)"}


def require_matplotlib():
    """Import matplotlib with the Agg backend, or raise a clear error naming the extra."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError('plotting needs matplotlib, an optional dependency: pip install '
                                      '"lora-theory[plot]" (or pip install matplotlib)') from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _median(values):
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def plot_rows(rows: list[dict], out_dir, *, log_scale: bool = False) -> list[Path]:
    """Write one PNG per (model, depth, target depth, frozen kind) present in ``rows``; return the paths."""
    if not rows:
        raise DomainError("plot_rows: no rows to plot")
    plt = require_matplotlib()
    out = Path(out_dir)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r.get("preset") or "", r["model"], r["depth"], r["target_depth"], r["frozen"])].append(r)
    paths = []
    for (preset, model, L, Lbar, kind), grp in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        by_params = preset in PARAM_AXIS_PRESETS
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        series: dict[str, dict] = defaultdict(lambda: defaultdict(list))
        for r in grp:
            if r.get("status") not in ("ok", None) and r["method"] != "theory":
                continue
            x = r["params_plot"] if by_params and r["method"] != "theory" else r["rank"]
            series[r["method"]][x].append(r["value"])
        for method, pts in series.items():
            if method == "theory":
                continue
            xs = sorted(pts)
            ys = [_median(pts[x]) for x in xs]
            if log_scale:
                ys = [y if y > 0 else math.nan for y in ys]
            ax.plot(xs, ys, marker="o", label=f"{LABELS.get(method, method)}, median")
        if "theory" in series and not by_params:
            xs = sorted(series["theory"])
            ys = [_median(series["theory"][x]) for x in xs]
            if log_scale:
                ys = [y if y > 0 else math.nan for y in ys]
            metric = next(r["metric"] for r in grp if r["method"] == "theory")
            ax.plot(xs, ys, linestyle="--", color="black", label=THEORY_LABELS.get(metric, metric))
        thr = _median([r["threshold"] for r in grp if r.get("threshold") is not None])
        if not math.isnan(thr):
            D = grp[0]["width"]
            if by_params:
                xv = 2 * thr * D * L
                ax.axvline(xv, color="gray", linestyle=":", label=f"LoRA exact threshold R={thr:g} ({xv:g} params)")
            else:
                ax.axvline(thr, color="gray", linestyle=":", label=f"exactness threshold R={thr:g}")
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("number of trainable parameters (plot convention)" if by_params else "LoRA rank R")
        ax.set_ylabel("test MSE (mean over output coordinates)")
        ax.set_title(f"{preset or model}: {model}, L={L}, L̄={Lbar}, {kind} frozen model")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        name = f"{preset or model}_{model}_L{L}_Lbar{Lbar}_{kind}.png"
        try:  # atomically: never a half-written PNG under the final name
            paths.append(atomic_write_with(out / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=DPI, format="png")))
        finally:
            plt.close(fig)
    return paths
