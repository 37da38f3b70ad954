"""Experiments of SPEC §9 (figures E1–E6): setups, methods, sweeps, CSV/JSON writers, plots and the ``sweep``
command. Plotting needs the optional ``matplotlib`` extra and imports it lazily (see :mod:`.plots`).

Modules: :mod:`.data` (independent input streams), :mod:`.setups` (frozen/target pairs), :mod:`.nets` (tensor-dict
views of the models and differentiable forwards), :mod:`.methods` (construction / gradient / fixed-bias / tfl),
:mod:`.theory` (theory curves and thresholds), :mod:`.sweep` (config, grid, writers), :mod:`.presets`,
:mod:`.plots`, :mod:`.command` (argparse front end).
"""
