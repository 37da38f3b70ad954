"""The synthetic experiments of arXiv 2310.17513v3 (Sec. 5, p. 9, and App. G, pp. 39–44; one preset per figure,
see :mod:`.presets` and docs/experiments.md): setups, methods, sweeps, CSV/JSON writers and plots behind
``lora-theory sweep``. Plotting needs the optional ``matplotlib`` extra and imports it lazily (see :mod:`.plots`).

Modules: :mod:`.data` (independent input streams), :mod:`.setups` (frozen/target pairs), :mod:`.nets` (tensor-dict
views of the models and differentiable forwards), :mod:`.methods` (construction / gradient / fixed-bias / final
layers tuning), :mod:`.theory` (theory curves and thresholds), :mod:`.sweep` (config, grid, writers),
:mod:`.presets`, :mod:`.plots`. The command line is :mod:`lora_theory.cli.sweep`.
"""
