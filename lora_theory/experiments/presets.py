"""Named presets reproducing the synthetic experiments of arXiv 2310.17513v3 (Sec. 5, p. 9, and App. G,
pp. 39–44), one per figure. Each builder takes ``quick`` and returns the list of :class:`~.sweep.SweepConfig` it
runs (one per panel or setting; the rows of all of them are written together). A figure with panels runs every
panel; ``fig1a``/``fig1b`` and ``fig6a``/``fig6b`` run one panel. ``config.preset`` is the panel's name, so the
plots are named after it.

Full mode is the paper's protocol (App. G.1–G.3, p. 40): D = 16; "random" frozen models with Xavier-uniform
weights, "pretrained" ones trained with Adam until their training MSE is a third of the initial one
(:mod:`.setups`); Adam with lr ∈ {1e-2, 1e-3, 1e-4} × weight decay ∈ {0, 1e-2, 1e-3, 1e-4} chosen on 256
validation inputs, 5000 steps of 256 fresh N(0, I) inputs, the parameters after the last step
(:mod:`.methods`); seeds 0–4 (medians are plotted); ranks 1..16; test MSE on 5000 fresh inputs (the authors'
``n_test``; the paper gives no number).

Quick mode (``quick=True``) cuts, for each preset to finish in well under a minute on 2 CPU cores: 1 seed, the
ranks listed below, lr ∈ {1e-2, 1e-3} × wd ∈ {0}, 1000 test inputs, the Adam steps listed below, at most 100
pretraining steps. :data:`QUICK_CUTS` says it per preset (the command line prints it).

=======  =================================  ======================================================================
preset   paper                              setting
=======  =================================  ======================================================================
fig1     Figure 1a, 1b (Sec. 5, p. 9)       a: linear, L̄=1, L=2; b: FNN, L̄=2, L=4; random and pretrained;
                                            construction + gradient; R = 1..16
fig3     Figure 3a, 3b (App. G.3.1, p. 40)  FNN, (L̄, L) ∈ {(1, 2), (2, 4)}; random and pretrained; construction +
                                            gradient; R = 1..16; linear y axis
fig4     Figure 4 (App. G.3.1, p. 41)       as fig3, random frozen model only, log-scale y axis
fig5     Figure 5a, 5b (App. G.3.2, p. 41)  TFN, D=16, H=2, N=10, L = L̄ ∈ {1, 2}; random and pretrained;
                                            construction + gradient; R = 1..16
fig6     Figure 6a, 6b (App. G.4–5, p. 42)  a: FNN, L̄=1, L=8: gradient LoRA R = 1..8 vs final layers tuning
                                            k = 1..7 (error vs number of tuned parameters); b: FNN, L̄=1, L=2:
                                            LoRA with updatable vs fixed biases, R = 1..8; random and pretrained
fig7     Figure 7 (App. G.6, p. 43)         training curves: FNN, L̄=2, L=4, random; gradient LoRA at
                                            R ∈ {1, 4, 8, 13, 16}; every step's training MSE (``curves.csv``)
=======  =================================  ======================================================================

Not implemented (:data:`NOT_IMPLEMENTED`): Figure 2 (p. 33) is an illustration of the sets I_1, Ī_1 for D = 2,
not an experiment; Figure 8 (generalisation, App. G.7, p. 43) and Figure 9 (classification, App. G.8,
pp. 43–44) need a fixed finite training set and a cross-entropy/accuracy pipeline; Tables 2–3 (App. G.9) need
RoBERTa weights, GLUE data and a GPU.

Old names (:data:`ALIASES`) still work and print a one-line deprecation note: ``fig2`` → ``fig1b`` (it ran the FNN
of Figure 1b), ``fnn-appendix`` → ``fig3``, ``tfn-appendix`` → ``fig5``, ``tfl`` → ``fig6a``, ``bias`` → ``fig6b``.
"""

from __future__ import annotations

from dataclasses import replace

from lora_theory.errors import DomainError
from lora_theory.experiments.sweep import SweepConfig

__all__ = ["PRESETS", "ALIASES", "NOT_IMPLEMENTED", "FIGURES", "QUICK_CUTS", "LOG_SCALE", "resolve_preset",
           "preset_configs"]

D = 16
ALL_RANKS = tuple(range(1, D + 1))
QUICK_SEEDS = (0,)
FULL_SEEDS = (0, 1, 2, 3, 4)
FIG7_RANKS = (1, 4, 8, 13, 16)

#: preset → (the paper's figure, its page)
FIGURES = {
    "fig1": ("Figure 1", "Sec. 5, p. 9"),
    "fig1a": ("Figure 1a", "Sec. 5, p. 9"),
    "fig1b": ("Figure 1b", "Sec. 5, p. 9"),
    "fig3": ("Figure 3", "App. G.3.1, p. 40"),
    "fig4": ("Figure 4", "App. G.3.1, p. 41"),
    "fig5": ("Figure 5", "App. G.3.2, p. 41"),
    "fig6": ("Figure 6", "App. G.4–G.5, p. 42"),
    "fig6a": ("Figure 6a", "App. G.4, p. 42"),
    "fig6b": ("Figure 6b", "App. G.5, p. 42"),
    "fig7": ("Figure 7", "App. G.6, p. 43"),
}

#: quick-mode cuts per preset (besides 1 seed, lr ∈ {1e-2, 1e-3} × wd ∈ {0}, 1000 test inputs, ≤ 100
#: pretraining steps)
_QUICK = {
    "fig1a": ((1, 2, 3, 4, 6, 8, 12, 16), 300),
    "fig1b": ((1, 2, 4, 8, 16), 100),
    "fig3": ((1, 4, 8, 16), 100),
    "fig4": ((1, 4, 8, 16), 100),
    "fig5": ((4, 8), 20),
    "fig6a": ((1, 2, 4), 60),
    "fig6b": ((1, 2, 4, 8), 100),
    "fig7": (FIG7_RANKS, 200),
}
_QUICK_K = (1, 3, 7)  # fig6a quick: final layers tuning k


def _cut(name: str) -> str:
    ranks, steps = _QUICK[name]
    k = f", k = {', '.join(map(str, _QUICK_K))}" if name == "fig6a" else ""
    return f"R = {', '.join(map(str, ranks))}{k}, {steps} Adam steps"


_COMMON_CUT = "1 seed, lr ∈ {1e-2, 1e-3} × weight decay ∈ {0}, 1000 test inputs, ≤ 100 pretraining steps"
QUICK_CUTS = {
    "fig1": f"quick mode: {_COMMON_CUT}; panel a: {_cut('fig1a')}; panel b: {_cut('fig1b')}",
    "fig6": f"quick mode: {_COMMON_CUT}; panel a: {_cut('fig6a')}; panel b: {_cut('fig6b')}",
    **{n: f"quick mode: {_COMMON_CUT}; {_cut(n)}" for n in _QUICK},
}

#: presets plotted with a log-scale y axis (their errors span many orders of magnitude)
LOG_SCALE = {"fig4", "fig5", "fig6", "fig6a", "fig6b", "fig7"}


def _c(quick: bool, name: str, **kw) -> SweepConfig:
    ranks, steps = _QUICK[name]
    kw.setdefault("seeds", QUICK_SEEDS if quick else FULL_SEEDS)
    kw.setdefault("width", D)
    kw.setdefault("ranks", ranks if quick else ALL_RANKS)
    kw.setdefault("log_scale", name in LOG_SCALE)
    return SweepConfig(quick=quick, preset=name, steps=steps if quick else None, **kw)


def _fig1a(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig1a", model="linear", depth=2, target_depth=1, methods=("construction", "gradient"),
               frozen_kind=("random", "pretrained"))]


def _fig1b(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig1b", model="fnn", depth=4, target_depth=2, methods=("construction", "gradient"),
               frozen_kind=("random", "pretrained"))]


def _fig1(quick: bool) -> list[SweepConfig]:
    return _fig1a(quick) + _fig1b(quick)


def _fig3(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig3", model="fnn", depth=L, target_depth=Lb, methods=("construction", "gradient"),
               frozen_kind=("random", "pretrained"))
            for Lb, L in ((1, 2), (2, 4))]


def _fig4(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig4", model="fnn", depth=L, target_depth=Lb, methods=("construction", "gradient"),
               frozen_kind=("random",))
            for Lb, L in ((1, 2), (2, 4))]


def _fig5(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig5", model="tfn", depth=L, target_depth=L, heads=2, seq_len=10, attention_std="1",
               methods=("construction", "gradient"), frozen_kind=("random", "pretrained"))
            for L in (1, 2)]


def _fig6a(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig6a", model="fnn", depth=8, target_depth=1,
               ranks=_QUICK["fig6a"][0] if quick else tuple(range(1, 9)),
               tfl_layers=_QUICK_K if quick else tuple(range(1, 8)),
               methods=("gradient", "final-layers"), frozen_kind=("random", "pretrained"))]


def _fig6b(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig6b", model="fnn", depth=2, target_depth=1,
               ranks=_QUICK["fig6b"][0] if quick else tuple(range(1, 9)),
               methods=("gradient", "fixed-bias"), frozen_kind=("random", "pretrained"))]


def _fig6(quick: bool) -> list[SweepConfig]:
    return _fig6a(quick) + _fig6b(quick)


def _fig7(quick: bool) -> list[SweepConfig]:
    return [_c(quick, "fig7", model="fnn", depth=4, target_depth=2, ranks=FIG7_RANKS, methods=("gradient",),
               frozen_kind=("random",), record_curves=True)]


PRESETS = {"fig1": _fig1, "fig1a": _fig1a, "fig1b": _fig1b, "fig3": _fig3, "fig4": _fig4, "fig5": _fig5,
           "fig6": _fig6, "fig6a": _fig6a, "fig6b": _fig6b, "fig7": _fig7}

#: old preset name → (current name, one-line deprecation note)
ALIASES = {
    "fig2": ("fig1b", "preset fig2 is deprecated: the paper's Figure 2 (p. 33) is an illustration, not an "
                      "experiment; the old fig2 ran the FNN of Figure 1b: use --preset fig1b"),
    "fnn-appendix": ("fig3", "preset fnn-appendix is deprecated: use --preset fig3 (Figure 3; fig4 for the "
                             "log-scale Figure 4)"),
    "tfn-appendix": ("fig5", "preset tfn-appendix is deprecated: use --preset fig5 (Figure 5)"),
    "tfl": ("fig6a", "preset tfl is deprecated: use --preset fig6a (Figure 6a, final layers tuning)"),
    "bias": ("fig6b", "preset bias is deprecated: use --preset fig6b (Figure 6b, fixed vs updatable biases)"),
}

#: the paper's other experiments and why no preset runs them
NOT_IMPLEMENTED = {
    "fig2": "Figure 2 (App. E, p. 33) illustrates the sets I_1 and Ī_1 for D = 2; it is not an experiment",
    "fig8": "Figure 8 (generalisation, App. G.7, p. 43: 400 training samples for (L̄, L) = (1, 2), 800 for (2, 4), "
            "train vs test MSE) needs a fixed finite training set; not implemented",
    "fig9": "Figure 9 (classification, App. G.8, pp. 43–44: 16 classes and a binary task, cross-entropy, test "
            "accuracy) needs a classification pipeline; not implemented",
    "table2": "Tables 2–3 (App. G.9, pp. 44–45: RoBERTa on GLUE) need model weights, data and a GPU; not implemented",
}


def resolve_preset(name: str) -> tuple[str, str | None]:
    """(current preset name, deprecation note or None); DomainError naming --preset for an unknown name."""
    if name in PRESETS:
        return name, None
    if name in ALIASES:
        return ALIASES[name]
    if name in NOT_IMPLEMENTED:
        raise DomainError(f"--preset {name}: {NOT_IMPLEMENTED[name]} (presets: {', '.join(PRESETS)})")
    known = ", ".join(PRESETS)
    raise DomainError(f"--preset: unknown preset {name!r}; expected one of {known} (old names: "
                      f"{', '.join(ALIASES)})")


def preset_configs(name: str, quick: bool = False, **overrides) -> list[SweepConfig]:
    """The configs of preset ``name`` (an old name in :data:`ALIASES` resolves to its current one);
    ``overrides`` (e.g. ``seeds``, ``steps``, ``out``) replace fields."""
    name, _ = resolve_preset(name)
    configs = PRESETS[name](quick)
    return [replace(c, **overrides) for c in configs] if overrides else configs
