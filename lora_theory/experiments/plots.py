"""PNG plots of sweep rows (matplotlib, Agg backend; an optional dependency imported only when plotting).

One figure per (model, L, L̄, frozen kind): error vs rank, one line per method (median over seeds), the theory
curve (:mod:`.theory`; for the FNN it is a bound on E‖f − f̄‖₂, labelled as such, not an MSE) and a vertical line at
the exactness threshold. Presets ``fig6a`` and ``fig6b`` (Figure 6) plot error vs number of trainable parameters
(plot convention of the authors' Figure 6 code: LoRA 2RDL, final layers tuning kD², biases not counted; the
``params`` column counts them) instead. Rows carrying a ``train_curve`` (preset ``fig7``, Figure 7) also get one
figure of the training MSE vs Adam step per (model, L, L̄, frozen kind), one line per rank (median over seeds).
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
PARAM_AXIS_PRESETS = {"fig6a", "fig6b"}
LABELS = {"construction": "construction (proof)", "gradient": "gradient LoRA (Adam)",
          "fixed-bias": "gradient LoRA, biases fixed (Adam)",
          "final-layers": "final layers tuning: last k layers (Adam)"}
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


def _plot_curves(plt, out: Path, key: tuple, grp: list[dict]) -> Path:
    """Training MSE vs step, one line per rank (median over seeds at every step), log-scale y axis."""
    preset, model, L, Lbar, kind = key
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    by_rank: dict[int, list[list[float]]] = defaultdict(list)
    for r in grp:
        if r.get("train_curve"):
            by_rank[r["rank"]].append(r["train_curve"])
    for rank, curves in sorted(by_rank.items()):
        n = min(len(c) for c in curves)
        ys = [_median([c[i] for c in curves]) for i in range(n)]
        ax.plot(range(1, n + 1), [y if y > 0 else math.nan for y in ys], linewidth=0.8, label=f"R={rank}")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training MSE (fresh batch at every step)")
    ax.set_title(f"{preset or model}: training curves of gradient LoRA, {model}, L={L}, L̄={Lbar}, {kind} frozen model")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    name = f"{preset or model}_curves_{model}_L{L}_Lbar{Lbar}_{kind}.png"
    try:
        return atomic_write_with(out / name, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    finally:
        plt.close(fig)


def plot_rows(rows: list[dict], out_dir, *, log_scale: bool = False) -> list[Path]:
    """Write one PNG per (model, depth, target depth, frozen kind) present in ``rows``; return the paths."""
    if not rows:
        raise DomainError("plot_rows: no rows to plot")
    plt = require_matplotlib()
    out = Path(out_dir)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r.get("preset") or "", r["model"], r["depth"], r["target_depth"], r["frozen"])].append(r)
    paths = [p for key, grp in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
             if any(r.get("train_curve") for r in grp) for p in [_plot_curves(plt, out, key, grp)]]
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
