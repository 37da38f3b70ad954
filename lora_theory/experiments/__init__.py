"""The experiments of arXiv 2310.17513v3, App. G, pp. 39–45 (E1–E6, see :mod:`.presets`): setups, methods,
sweeps, CSV/JSON writers and plots behind ``lora-theory sweep``. Plotting needs the optional ``matplotlib`` extra
and imports it lazily (see :mod:`.plots`).

Modules: :mod:`.data` (independent input streams), :mod:`.setups` (frozen/target pairs), :mod:`.nets` (tensor-dict
views of the models and differentiable forwards), :mod:`.methods` (construction / gradient / fixed-bias / tfl),
:mod:`.theory` (theory curves and thresholds), :mod:`.sweep` (config, grid, writers), :mod:`.presets`,
:mod:`.plots`. The command line is :mod:`lora_theory.cli.sweep`.
"""
