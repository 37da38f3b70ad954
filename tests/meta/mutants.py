"""A registry of mutants: deliberately broken variants of ``lora_theory`` that the properties must reject.

Each :class:`Mutant` is

* ``name`` — a short identifier (the pytest id of its test);
* ``description`` — what is broken, in words;
* ``apply(monkeypatch)`` — injects the broken variant with ``monkeypatch`` (no file is ever edited; everything is
  restored when the monkeypatch is undone);
* ``killers`` — the property functions expected to kill it, each a :class:`Prop` (claim id of
  ``properties/test_<claim>.py`` + function name);
* ``gap`` — ``None``, or the documented reason why no listed property can kill it (a known gap of the gate: its
  test is marked ``xfail(strict=True)`` so the gap stays visible and is noticed the day a property starts killing it).

:func:`hunt` loads a *fresh* copy of every property module a mutant names (``tests/_load.py: load_property_module``,
which also registers it in ``sys.modules`` under ``_meta_properties_<claim>``), then calls ``apply`` — so a mutant
may patch names the property modules imported — and runs each listed property the way the existing gate tests do:
phases explicit + reuse + generate, ``database=None``, no shrinking, the current Hypothesis profile's example count.
A property *kills* the mutant when it fails with an ``AssertionError`` (a check rejected the variant); any other
exception is recorded as a crash and does not count, so a broken injection cannot masquerade as a kill.

Helpers are imported from the existing gate tests (``tests/test_gate_can_fail*.py``, ``tests/test_bounds_fnn.py``)
rather than copied; only the TFN mutants, whose variants are local closures there, are restated here.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import sympy as sp
import torch

from lora_theory import adapters as adapters_mod
from lora_theory import formulas as F
from lora_theory import numerics as numerics_mod
from lora_theory.adapters import LoRAPair
from lora_theory.claims import get_claim
from lora_theory.constructions import fnn as fnn_mod
from lora_theory.constructions import linear as linear_mod
from lora_theory.constructions import tfn as tfn_mod
from lora_theory.models import TFN

from .._load import load_property_module, quick
from ..unit import test_bounds as _gate_t5
from . import test_gate_can_fail_fnn as _gate_fnn

__all__ = ["Prop", "Mutant", "Attempt", "Verdict", "MUTANTS", "hunt", "run_property", "format_table"]

#: prefix under which tests/_load.py registers the property-module copies in sys.modules
PROPERTY_PREFIX = "_meta_properties_"


# --- registry types ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prop:
    """A property function: ``properties/test_<claim>.py::<function>``."""

    claim: str
    function: str

    @property
    def label(self) -> str:
        return f"{self.claim}::{self.function}"


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    apply: Callable[[pytest.MonkeyPatch], None]
    killers: tuple[Prop, ...]
    gap: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One listed property run against one mutant: ``killed``, ``survived`` or ``crashed`` (non-assertion error)."""

    prop: Prop
    outcome: str
    message: str = ""


@dataclass
class Verdict:
    mutant: Mutant
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        return any(a.outcome == "killed" for a in self.attempts)

    @property
    def killers(self) -> list[str]:
        return [a.prop.label for a in self.attempts if a.outcome == "killed"]

    def excerpt(self, width: int = 110) -> str:
        for a in self.attempts:
            if a.outcome == "killed":
                first = a.message.strip().splitlines()[0] if a.message.strip() else ""
                return first if len(first) <= width else first[: width - 1] + "…"
        return "; ".join(f"{a.prop.function}: {a.outcome}" for a in self.attempts)

    def summary(self) -> str:
        lines = [f"mutant {self.mutant.name!r} ({self.mutant.description})"]
        for a in self.attempts:
            msg = a.message.strip().splitlines()[0][:200] if a.message.strip() else ""
            lines.append(f"  {a.prop.label}: {a.outcome}{' — ' + msg if msg else ''}")
        return "\n".join(lines)


# --- running properties --------------------------------------------------------------------------------------------

def _leaves(exc: BaseException) -> list[BaseException]:
    subs = getattr(exc, "exceptions", None)  # ExceptionGroup: Hypothesis found several distinct failures
    return [leaf for e in subs for leaf in _leaves(e)] if subs else [exc]


def run_property(fn: Callable[[], None]) -> tuple[str, str]:
    """Run one property (Hypothesis-decorated: with the gate tests' quick settings; plain: called as is) and return
    (outcome, message)."""
    runner = quick(fn) if hasattr(fn, "hypothesis") else fn
    try:
        runner()
    except Exception as exc:  # noqa: BLE001 - classified below
        leaves = _leaves(exc)
        failed = [e for e in leaves if isinstance(e, AssertionError)]
        if failed:
            return "killed", "\n".join(str(e) for e in failed)
        return "crashed", "\n".join(f"{type(e).__name__}: {e}" for e in leaves)
    return "survived", ""


def hunt(mutant: Mutant, monkeypatch: pytest.MonkeyPatch) -> Verdict:
    """Load fresh property modules, inject the mutant, and run every listed property against it."""
    modules = {claim: load_property_module(claim) for claim in dict.fromkeys(p.claim for p in mutant.killers)}
    mutant.apply(monkeypatch)
    verdict = Verdict(mutant)
    for prop in mutant.killers:
        outcome, message = run_property(getattr(modules[prop.claim], prop.function))
        verdict.attempts.append(Attempt(prop, outcome, message))
    return verdict


def format_table(verdicts: list[Verdict]) -> str:
    """A plain-text table: mutant, verdict, killing properties, excerpt of the first killing message."""
    rows = [("mutant", "verdict", "killed by", "message excerpt")]
    for v in verdicts:
        verdict = "killed" if v.killed else ("SURVIVED (known gap)" if v.mutant.gap else "SURVIVED")
        rows.append((v.mutant.name, verdict, ", ".join(v.killers) or "—", v.excerpt()))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = ["  ".join(r[k].ljust(widths[k]) for k in range(3)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    killed = sum(v.killed for v in verdicts)
    gaps = [v.mutant for v in verdicts if not v.killed]
    lines.append("")
    lines.append(f"kill rate: {killed}/{len(verdicts)} = {100.0 * killed / max(len(verdicts), 1):.1f} %")
    for m in gaps:
        lines.append(f"survivor {m.name}: {m.description}" + (f" — gap: {m.gap}" if m.gap else ""))
    return "\n".join(lines)


# --- injection helpers ---------------------------------------------------------------------------------------------

def _replace_everywhere(monkeypatch: pytest.MonkeyPatch, original: object, replacement: object,
                        scopes: tuple[str, ...] = ("lora_theory", PROPERTY_PREFIX)) -> None:
    """Rebind every module-level name bound to ``original`` (in modules whose name starts with one of ``scopes``)
    to ``replacement``: the defining module and everything that did ``from … import`` it."""
    hits = []
    for modname, module in list(sys.modules.items()):
        if module is None or not modname.startswith(scopes):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attr, replacement)
                hits.append(f"{modname}.{attr}")
    assert hits, f"mutant injection found no binding of {original!r} in modules {scopes}"


def _property_modules_only(monkeypatch, original, replacement) -> None:
    """For wrappers that call the library function through its module at call time (the FNN gate helpers)."""
    _replace_everywhere(monkeypatch, original, replacement, scopes=(PROPERTY_PREFIX,))


def _set_formula(claim_id: str, key: str, expr: sp.Basic) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(get_claim(claim_id).formulas, key, expr)
    return apply


def _loosen(cls: type, factor: float = 1e6) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        real = cls.tolerance
        monkeypatch.setattr(cls, "tolerance", lambda self: real(self).scaled(factor, "mutant: loosened"))
    return apply


# --- the mutants' broken variants ----------------------------------------------------------------------------------

def _apply_adapter_rank_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """One layer's adapter gets an extra rank-1 direction: B one more column, A one more row (1e-3/√D entries, so
    ΔW moves by 1e-6·11ᵀ/D). The layer is the first one with the largest inner dimension (R + 1 > R if any layer
    is full); when no layer has an adapter (rank E = 0) it is layer 1, past ⌈rank(E)/R⌉ = 0."""
    real = linear_mod.construct_linear

    def construct(weights, target, rank, **kw):
        c = real(weights, target, rank, **kw)
        pairs = list(c.adapters)
        l = max(range(len(pairs)), key=lambda j: (pairs[j].rank, -j))
        p = pairs[l]
        d_out, d_in = p.shape
        b = torch.full((d_out, 1), 1e-3 / d_out ** 0.5, dtype=p.B.dtype, device=p.B.device)
        a = torch.full((1, d_in), 1e-3 / d_in ** 0.5, dtype=p.A.dtype, device=p.A.device)
        pairs[l] = LoRAPair(torch.cat([p.B, b], dim=1), torch.cat([p.A, a], dim=0))
        return dataclasses.replace(c, adapters=tuple(pairs))

    _replace_everywhere(monkeypatch, real, construct, scopes=(PROPERTY_PREFIX,))


def _reversed_chain_product(weights):
    """W_1 ⋯ W_L (the wrong order) for ``weights = [W_1, …, W_L]``."""
    out = weights[0]
    for w in weights[1:]:
        out = out @ w
    return out


def _apply_swapped_chain_product(monkeypatch: pytest.MonkeyPatch) -> None:
    _replace_everywhere(monkeypatch, numerics_mod.chain_product, _reversed_chain_product)


def _apply_swapped_adapted_product(monkeypatch: pytest.MonkeyPatch) -> None:
    def reversed_adapted(weights, pairs):
        return _reversed_chain_product(adapters_mod.adapted_weights(weights, pairs))
    _replace_everywhere(monkeypatch, adapters_mod.adapted_product, reversed_adapted)


def _apply_fnn_construct(variant) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        _property_modules_only(monkeypatch, fnn_mod.construct_fnn, variant)
    return apply


def _apply_tfn_adapter_on_w1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block 1's W_1 moved by 1e-3·11ᵀ (as in tests/test_gate_can_fail_tfn.py, where it is a local closure)."""
    real = tfn_mod.TFNConstruction.adapted

    def with_w1_adapter(self):
        net = real(self)
        b0 = net.blocks[0]
        ones = torch.ones(net.width, dtype=net.dtype)
        return TFN((dataclasses.replace(b0, W1=b0.W1 + 1e-3 * torch.outer(ones, ones)),) + net.blocks[1:], net.Wo)

    monkeypatch.setattr(tfn_mod.TFNConstruction, "adapted", with_w1_adapter)


def _apply_tfn_missing_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """C_{i+1} = I instead of W̄_2 W_2⁻¹ (as in tests/test_gate_can_fail_tfn.py)."""
    real = tfn_mod._calibration

    def identity(W2, W2bar, l):
        _, rec = real(W2, W2bar, l)
        return torch.eye(W2.shape[0], dtype=W2.dtype), rec

    monkeypatch.setattr(tfn_mod, "_calibration", identity)


def _apply_epsilon_at(offset: int) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(fnn_mod.FNNBlock, "epsilon", _gate_t5._epsilon_at(offset))
    return apply


# --- the registry --------------------------------------------------------------------------------------------------

def _p(claim: str, *functions: str) -> tuple[Prop, ...]:
    return tuple(Prop(claim, f) for f in functions)


MUTANTS: tuple[Mutant, ...] = (
    Mutant("lemma1_threshold_minus_one",
           "lemma1 registry threshold ⌈R_E/L⌉ − 1 (floored at 1): claims exactness one rank too early",
           _set_formula("lemma1", "threshold", sp.Max(F.LEMMA1_THRESHOLD - 1, 1)),
           _p("lemma1", "test_lemma1_threshold", "test_lemma1_value", "test_lemma1_exact_certificate")),
    Mutant("theorem3_threshold_minus_one",
           "theorem3 registry threshold ⌈max_i rank(E_i)/M⌉ − 1 (floored at 1)",
           _set_formula("theorem3", "threshold", sp.Max(F.THEOREM3_THRESHOLD - 1, 1)),
           _p("theorem3", "test_theorem3_exact")),
    Mutant("lemma1_sigma_RL",
           "lemma1 spectral error σ_{RL}(E) instead of σ_{RL+1}(E) (wrong singular index)",
           _set_formula("lemma1", "spectral_error", F.sigma(F.R * F.L)),
           _p("lemma1", "test_lemma1_value", "test_lemma1_threshold")),
    Mutant("lemma1_frobenius_tail_from_RL_plus_2",
           "lemma1 Frobenius error summed from σ_{RL+2} instead of σ_{RL+1}",
           _set_formula("lemma1", "frobenius_error",
                        sp.sqrt(sp.Sum(F.sigma(F.i) ** 2, (F.i, F.R * F.L + 2, F.D)))),
           _p("lemma1", "test_lemma1_value")),
    Mutant("lemma1_adapter_rank_plus_one",
           "construct_linear wrapped: one layer's adapter gets an extra rank-1 direction (B one more column, A one "
           "more row, entries 1e-3/√D), i.e. inner dimension R + 1",
           _apply_adapter_rank_plus_one,
           _p("lemma1", "test_lemma1_adapter_rank", "test_lemma1_value")),
    Mutant("theorem3_dropped_last_bias_correction",
           "FNN construction with the last bias of each block left at b̄_i (offset correction −W̃·a_{m−1} dropped)",
           _apply_fnn_construct(_gate_fnn._no_last_bias_correction),
           _p("theorem3", "test_theorem3_exact")),
    Mutant("theorem3_sample_calibrated_biases",
           "FNN offsets = 2 × the most negative pre-activation over 64 sampled inputs instead of domain norm bounds",
           _apply_fnn_construct(_gate_fnn._sample_calibrated),
           _p("theorem3", "test_theorem3_exact")),
    Mutant("lemma1_loosened_tolerance",
           "LinearConstruction.tolerance() × 1e6",
           _loosen(linear_mod.LinearConstruction),
           _p("lemma1", "test_lemma1_resolution")),
    Mutant("theorem3_loosened_tolerance",
           "FNNConstruction.tolerance() × 1e6",
           _loosen(fnn_mod.FNNConstruction),
           _p("theorem3", "test_theorem3_resolution", "test_theorem3_exact")),
    # Before test_theorem3_resolution existed only the fixed-seed sample-bias test caught a loosened FNN tolerance,
    # and only from ≈ ×7.7e5 on; the resolution property (1e-10 relative misses are rejected) now kills ×1e5 too.
    Mutant("theorem3_loosened_tolerance_x1e5",
           "FNNConstruction.tolerance() × 1e5",
           _loosen(fnn_mod.FNNConstruction, 1e5),
           _p("theorem3", "test_theorem3_resolution")),
    Mutant("swapped_chain_product",
           "numerics.chain_product (and every module that imported it) computes W_1⋯W_L instead of W_L⋯W_1",
           _apply_swapped_chain_product,
           _p("lemma1", "test_lemma1_value", "test_lemma1_threshold")),
    Mutant("swapped_adapted_product",
           "adapters.adapted_product (and every module that imported it) computes W̃_1⋯W̃_L instead of W̃_L⋯W̃_1",
           _apply_swapped_adapted_product,
           _p("lemma1", "test_lemma1_value", "test_lemma1_threshold")),
    Mutant("theorem7_adapter_on_w1",
           "TFN construction also moves W_1 of block 1 (by 1e-3·11ᵀ), which Theorem 7 leaves frozen",
           _apply_tfn_adapter_on_w1,
           _p("theorem7_scope", "test_theorem7_scope_support_and_ranks")
           + _p("theorem7", "test_theorem7_exact_random")),
    Mutant("theorem7_missing_calibration",
           "TFN calibration C_{i+1} = I instead of W̄_2 W_2⁻¹ (next block built for the wrong hidden coordinates)",
           _apply_tfn_missing_calibration,
           _p("theorem7", "test_theorem7_exact_random")),
    Mutant("theorem7_threshold_minus_one",
           "theorem7 registry threshold ⌈G_max/2⌉ − 1 (floored at 1)",
           _set_formula("theorem7", "threshold", sp.Max(F.THEOREM7_THRESHOLD - 1, 1)),
           _p("theorem7", "test_theorem7_threshold_lowgap", "test_theorem7_exact_random")),
    Mutant("theorem5_epsilon_sigma_RM",
           "Theorem 5 ε_i = σ_{RM}(E_i) instead of σ_{RM+1}(E_i) (wrong singular index, one too low)",
           _apply_epsilon_at(0),
           _p("theorem5", "test_theorem5_monotone", "test_theorem5_tight")),
    Mutant("theorem5_epsilon_sigma_RM_plus_2",
           "Theorem 5 ε_i = σ_{RM+2}(E_i) instead of σ_{RM+1}(E_i) (wrong singular index, one too high)",
           _apply_epsilon_at(2),
           _p("theorem5", "test_theorem5_tight", "test_theorem5_monotone")),
)

assert len({m.name for m in MUTANTS}) == len(MUTANTS), "mutant names must be unique"
