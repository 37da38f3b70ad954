"""The one registry of mutants: deliberately broken variants of ``lora_theory`` that the properties must reject.

Each :class:`Mutant` is

* ``name`` — a short identifier (the pytest id of its test);
* ``description`` — what is broken, in words;
* ``apply(monkeypatch)`` — injects the broken variant with ``monkeypatch`` (no file is ever edited; everything is
  restored when the monkeypatch is undone);
* ``killers`` — the property functions expected to kill it, each a :class:`Prop` (claim id of
  ``lora_theory/properties/test_<claim>.py``, function name, call arguments for a plain parametrised function, and
  optionally the ``expect``-ed check: a substring the killing message must contain, e.g. ``"theorem3.exact"``, so
  that a kill by an unrelated check does not count);
* ``require_all`` — whether *every* listed property must kill it (default: any one suffices);
* ``blind`` — properties documented as unable to kill it (checked: they must pass on the mutant, so the reason given
  in the description stays true);
* ``gap`` — ``None``, or the documented reason why no listed property can kill it (a known gap of the gate: its
  test is marked ``xfail(strict=True)`` so the gap stays visible and is noticed the day a property starts killing it).

:func:`hunt` loads a *fresh* copy of every property module a mutant names (``tests/_load.py: load_property_module``,
which registers it in ``sys.modules`` under ``_meta_properties_<claim>``), then calls ``apply`` — so a mutant may
patch names the property modules imported — and runs each listed property quickly: phases explicit + reuse +
generate, ``database=None``, no shrinking, the current Hypothesis profile's example count. A property *kills* the
mutant when it fails with an ``AssertionError`` (a check rejected the variant) carrying the expected check's name;
any other exception is recorded as a crash and does not count, so a broken injection cannot masquerade as a kill.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import pytest
import sympy as sp
import torch

from lora_theory import adapters as adapters_mod
from lora_theory import formulas as F
from lora_theory import numerics as numerics_mod
from lora_theory.adapters import LoRAPair
from lora_theory.analysis import bounds as bounds_mod
from lora_theory.analysis import tfl as tfl_mod
from lora_theory.claims import get_claim
from lora_theory.constructions import fnn as fnn_mod
from lora_theory.constructions import linear as linear_mod
from lora_theory.constructions import tfn as tfn_mod
from lora_theory.domains import Ball, Domain
from lora_theory.exact import _rational as rational_mod
from lora_theory.models import TFN
from lora_theory.numerics import sigma
from lora_theory.random_matrices import generator
from lora_theory.testing import assertions as assertions_mod

from .._load import PROPERTY_PREFIX, load_property_module, property_helper, quick

__all__ = ["Prop", "Mutant", "Attempt", "Verdict", "MUTANTS", "hunt", "run_property", "format_table"]


# --- registry types ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prop:
    """A property function ``lora_theory/properties/test_<claim>.py::<function>``, called with ``args`` (for a plain
    parametrised test), and the check expected to fire on a mutant (a substring of its failure message)."""

    claim: str
    function: str
    args: tuple = ()
    expect: str | None = None

    @property
    def label(self) -> str:
        return f"{self.claim}::{self.function}" + (f"[{', '.join(map(repr, self.args))}]" if self.args else "")


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    apply: Callable[[pytest.MonkeyPatch], None]
    killers: tuple[Prop, ...]
    require_all: bool = False
    blind: tuple[Prop, ...] = ()
    gap: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One property run against one mutant: ``killed``, ``survived``, ``crashed`` (non-assertion error) or
    ``killed by another check`` (an AssertionError without the expected check's name)."""

    prop: Prop
    outcome: str
    message: str = ""


@dataclass
class Verdict:
    mutant: Mutant
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def killed(self) -> bool:
        kills = [a.outcome == "killed" for a in self.attempts]
        return bool(kills) and (all(kills) if self.mutant.require_all else any(kills))

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
        need = "every listed property" if self.mutant.require_all else "one listed property"
        lines = [f"mutant {self.mutant.name!r} ({self.mutant.description}); {need} must kill it"]
        for a in self.attempts:
            msg = a.message.strip().splitlines()[0][:200] if a.message.strip() else ""
            expect = f" [expected check: {a.prop.expect}]" if a.prop.expect else ""
            lines.append(f"  {a.prop.label}: {a.outcome}{expect}{' — ' + msg if msg else ''}")
        return "\n".join(lines)


# --- running properties --------------------------------------------------------------------------------------------

def _leaves(exc: BaseException) -> list[BaseException]:
    subs = getattr(exc, "exceptions", None)  # ExceptionGroup: Hypothesis found several distinct failures
    return [leaf for e in subs for leaf in _leaves(e)] if subs else [exc]


def run_property(fn: Callable[..., None], args: tuple = ()) -> tuple[str, str]:
    """Run one property (Hypothesis-decorated: with quick settings; plain: called with ``args``) and return
    (outcome, message): ``killed`` (AssertionError), ``crashed`` (anything else) or ``survived``."""
    runner = quick(fn) if hasattr(fn, "hypothesis") else fn
    try:
        runner(*args)
    except Exception as exc:  # noqa: BLE001 - classified below
        leaves = _leaves(exc)
        failed = [e for e in leaves if isinstance(e, AssertionError)]
        if failed:
            return "killed", "\n".join(str(e) for e in failed)
        return "crashed", "\n".join(f"{type(e).__name__}: {e}" for e in leaves)
    return "survived", ""


def killer_module(claim: str):
    """A fresh copy of ``lora_theory/properties/test_<claim>.py``, or — for a formula-level mutant that only a unit
    test can see — the test module named by its dotted path (``tests.unit.test_rank_floor``)."""
    if claim.startswith("tests."):
        import importlib

        return importlib.import_module(claim)
    return load_property_module(claim)


def hunt(mutant: Mutant, monkeypatch: pytest.MonkeyPatch, props: tuple[Prop, ...] | None = None) -> Verdict:
    """Load fresh property modules, inject the mutant, and run ``props`` (default: its killers) against it."""
    props = mutant.killers if props is None else props
    modules = {claim: killer_module(claim) for claim in dict.fromkeys(p.claim for p in props)}
    mutant.apply(monkeypatch)
    verdict = Verdict(mutant)
    for prop in props:
        outcome, message = run_property(getattr(modules[prop.claim], prop.function), prop.args)
        if outcome == "killed" and prop.expect is not None and prop.expect not in message:
            outcome = "killed by another check"
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


def _in_property_modules(original: object, replacement: object) -> Callable[[pytest.MonkeyPatch], None]:
    """Replace a library function in the property modules only (the replacement calls the real one through its
    module, which stays untouched)."""
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        _replace_everywhere(monkeypatch, original, replacement, scopes=(PROPERTY_PREFIX,))
    return apply


def _set_formula(claim_id: str, key: str, expr: sp.Basic) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(get_claim(claim_id).formulas, key, expr)
    return apply


def _loosen(cls: type, factor: float = 1e6) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        real = cls.tolerance
        monkeypatch.setattr(cls, "tolerance", lambda self: real(self).scaled(factor, "mutant: loosened"))
    return apply


def _set_bound_form(form: str, builder: Callable[[int], sp.Expr]) -> Callable[[pytest.MonkeyPatch], None]:
    """Encode Theorem 5 bound ``form`` by ``builder``. The compiled bounds are cached: the mutant gets a cache of its
    own, so neither the real compilations leak into it nor the mutated ones out of it."""
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(F.THEOREM5_BOUND_BUILDERS, form, builder)
        monkeypatch.setattr(bounds_mod, "_compiled", lru_cache(maxsize=None)(bounds_mod._compiled.__wrapped__))
    return apply


# --- the mutants' broken variants: linear chains -------------------------------------------------------------------

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


def _construct_linear_rank_minus_one(weights, target, rank, **kw):
    """The linear construction spending only R_l − 1 directions per layer."""
    ranks = [rank] * len(weights) if isinstance(rank, int) else list(rank)
    return linear_mod.construct_linear(weights, target, [max(r - 1, 0) for r in ranks], **kw)


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


# --- FNN -------------------------------------------------------------------------------------------------------------

def _rebias(c, new_biases):
    return dataclasses.replace(c, biases=tuple(new_biases))


def _construct_fnn_sample_calibrated(frozen, target, rank, domain, **kw):
    """Offsets = 2 × the most negative pre-activation over 64 points drawn from N(0, I/D) (the reference code's
    scheme, ``sample_calibrated_biases`` of properties/test_theorem3.py): exact near the sample, not on the
    domain's boundary."""
    c = fnn_mod.construct_fnn(frozen, target, rank, domain, **kw)
    z = torch.randn(64, frozen.width, generator=generator(0), dtype=torch.float64) / frozen.width ** 0.5
    return _rebias(c, property_helper("theorem3", "sample_calibrated_biases")(c, z))


def _construct_fnn_without_last_bias_correction(frozen, target, rank, domain, **kw):
    c = fnn_mod.construct_fnn(frozen, target, rank, domain, **kw)
    biases = list(c.biases)
    for b in c.blocks:
        biases[b.layers[-1]] = target.biases[b.index].clone()
    return _rebias(c, biases)


def _apply_offsets_too_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every domain reports an input norm bound 10× too small (as with a wrong norm): the offsets that linearise the
    inner layers of a block no longer cover the domain."""
    for cls in Domain.__subclasses__():  # Ball, Box: the construction reads domain.norm_bound()
        real = cls.norm_bound
        monkeypatch.setattr(cls, "norm_bound", (lambda orig: (lambda self: 0.1 * orig(self)))(real))


def _apply_epsilon_at(offset: int) -> Callable[[pytest.MonkeyPatch], None]:
    """ε_i = σ_{k+offset}(E_i) with k the rank budget of block i (the true index is k + 1)."""
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(fnn_mod.FNNBlock, "epsilon", property(
            lambda self: sigma(self.linear.discrepancy_singular_values, self.linear.total_rank + offset)))
    return apply


def _tight_with_frobenius_root(target_depth: int) -> sp.Expr:
    """Bound (c) with m_0 = √‖Σ‖_F instead of √tr Σ (the printed form's unproved step E‖x‖ ≤ √‖Σ‖_F)."""
    return F.theorem5_bound_tight(target_depth).subs(F.tr_Sigma, F.Sigma_F)


# --- final-layers tuning (Lemma 4) ----------------------------------------------------------------------------------

def _apply_tfl_no_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate's second point gets no shift (u′ = u), so x′ = x and the target gap is 0."""
    monkeypatch.setattr(tfl_mod, "_shift", lambda U, units, t: U.clone())


# --- TFN -------------------------------------------------------------------------------------------------------------

def _apply_tfn_adapter_on_w1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block 1's W_1 moved by 1e-3·11ᵀ."""
    real = tfn_mod.TFNConstruction.adapted

    def with_w1_adapter(self):
        net = real(self)
        b0 = net.blocks[0]
        ones = torch.ones(net.width, dtype=net.dtype)
        return TFN((dataclasses.replace(b0, W1=b0.W1 + 1e-3 * torch.outer(ones, ones)),) + net.blocks[1:], net.Wo)

    monkeypatch.setattr(tfn_mod.TFNConstruction, "adapted", with_w1_adapter)


def _apply_tfn_missing_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """C_{i+1} = I instead of W̄_2 W_2⁻¹."""
    real = tfn_mod._calibration

    def identity(W2, W2bar, l):
        _, rec = real(W2, W2bar, l)
        return torch.eye(W2.shape[0], dtype=W2.dtype), rec

    monkeypatch.setattr(tfn_mod, "_calibration", identity)


def _apply_tfn_old_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    """TFN output tolerance back to the superseded normwise model (worst-case products of norms)."""
    monkeypatch.setattr(tfn_mod.TFNConstruction, "tolerance",
                        lambda self, X: tfn_mod._tfn_tolerance_normwise_gather(self, X))


def _construct_tfn_perturbed_bias(frozen, target, rank):
    """Theorem 7 construction whose first block's b̂_2 is off by 1e-6 (relative): the calibration and every chain
    identity still hold, only the output is wrong. The output tolerance takes the construction's own bias residual
    ‖b̄_2 − C·b̂_2‖ a posteriori but capped at rounding size (``tfn._capped``): uncapped, it would absorb this defect
    and certify itself."""
    c = tfn_mod.construct_tfn(frozen, target, rank)
    b2 = list(c.b2)
    b2[0] = b2[0] + 1e-6 * (1.0 + float(torch.linalg.vector_norm(b2[0])))
    return dataclasses.replace(c, b2=tuple(b2))


def _apply_fixed_rank_tau(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rank of a discrepancy counted against a fixed τ = 1e-9 of the operands again, not its rounding floor."""
    from lora_theory.analysis import fnn as analysis_fnn

    def fixed(*, dtype, width, weight_norms, target_norm, product_norm, discrepancy_norm):
        return 1e-9 * max(target_norm, product_norm)

    for module in (linear_mod, analysis_fnn, tfn_mod):
        monkeypatch.setattr(module, "discrepancy_rank_floor", fixed)


def _apply_dropped_directions_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A σ_i(E) dropped at the rounding floor is left out of the tolerance."""
    monkeypatch.setattr(linear_mod.LinearConstruction, "dropped_noise", property(lambda self: 0.0))


def _apply_chain_tolerance_without_amplification(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain tolerance without its solve-amplification term (Σ (n+1)·‖M⁻¹‖·∏‖F‖ per solve)."""
    from lora_theory import tolerance as tolerance_mod

    real = tolerance_mod.chain_tolerance

    def no_amplification(**kw):
        kw["amplifications"] = ()
        return real(**kw)

    monkeypatch.setattr(tolerance_mod, "chain_tolerance", no_amplification)
    monkeypatch.setattr(linear_mod, "chain_tolerance", no_amplification)


# --- issue 12: check helpers, exact certificates, domain sampling, bound propagation ----------------------------------

def _lax_assert_exact(ex, residual, *, tol, name, what):
    """``assert_exact`` written ``if residual > tol: fail``, without the finiteness guard: NaN passes as exact."""
    if residual > tol.value:
        raise AssertionError(f"{ex.claim}.{name}: {what} — should be exact (lax mutant)")


def _apply_nan_passing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _replace_everywhere(monkeypatch, assertions_mod.assert_exact, _lax_assert_exact, scopes=(PROPERTY_PREFIX,))


def _apply_tolerant_rational_equality(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact certificates' equality test accepts every entry |A − B| < 1/10**12 as equal."""
    from fractions import Fraction

    def nearly_equal(A, B):
        return A.shape == B.shape and all(abs(v) < sp.Rational(Fraction(1, 10**12)) for v in (A - B))

    _replace_everywhere(monkeypatch, rational_mod.exactly_equal, nearly_equal, scopes=("lora_theory",))


def _apply_ball_radius_uniform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ball.sample draws the radius U(0, 1)·ρ instead of U^{1/D}·ρ (samples crowd the centre)."""
    def sample(self, n, gen, dtype=torch.float64):
        g = torch.randn(n, self.width, generator=gen, dtype=dtype)
        g = g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
        return g * torch.rand(n, 1, generator=gen, dtype=dtype) * self.radius

    monkeypatch.setattr(Ball, "sample", sample)


def _apply_bound_without_block_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """construct_fnn propagates the next block's input bound without the block's own error ε_i: the linear
    constructions it builds report ``predicted_error() == 0`` to it (the bound (‖W̄_i‖ + ε_i)·B_i + ‖b̄_i‖ loses ε_i)."""
    real = fnn_mod.construct_linear

    def construct(*args, **kwargs):
        lin = real(*args, **kwargs)
        object.__setattr__(lin, "predicted_error", lambda: 0.0)  # this instance only
        return lin

    monkeypatch.setattr(fnn_mod, "construct_linear", construct)


#: max_l R_l over the L layers, as a sympy expression of L and R_l (the property generators use L ≤ 6): the terms
#: of layers past L are 0 once L is substituted, so no R_l is left unevaluated
_MAX_LAYER_RANK = sp.Max(*[sp.Piecewise((F.R_l[j], j <= F.L), (0, True)) for j in range(1, 7)])


# --- the registry --------------------------------------------------------------------------------------------------

def _p(claim: str, *functions: str, expect: str | None = None, args: tuple = ()) -> tuple[Prop, ...]:
    return tuple(Prop(claim, f, args, expect) for f in functions)


MUTANTS: tuple[Mutant, ...] = (
    # --- lemma1 / lemma8: linear chains
    Mutant("lemma1_threshold_minus_one",
           "lemma1 registry threshold ⌈R_E/L⌉ − 1 (floored at 1): claims exactness one rank too early",
           _set_formula("lemma1", "threshold", sp.Max(F.LEMMA1_THRESHOLD - 1, 1)),
           _p("lemma1", "test_lemma1_threshold", expect="lemma1.threshold")
           + _p("lemma1", "test_lemma1_value", "test_lemma1_exact_certificate")),
    Mutant("lemma1_sigma_RL",
           "lemma1 spectral error σ_{RL}(E) instead of σ_{RL+1}(E) (wrong singular index)",
           _set_formula("lemma1", "spectral_error", F.sigma(F.R * F.L)),
           _p("lemma1", "test_lemma1_value", expect="lemma1.value") + _p("lemma1", "test_lemma1_threshold")),
    Mutant("lemma1_frobenius_tail_from_RL_plus_2",
           "lemma1 Frobenius error summed from σ_{RL+2} instead of σ_{RL+1}",
           _set_formula("lemma1", "frobenius_error",
                        sp.sqrt(sp.Sum(F.sigma(F.i) ** 2, (F.i, F.R * F.L + 2, F.D)))),
           _p("lemma1", "test_lemma1_value", expect="lemma1.frobenius")),
    Mutant("lemma1_adapter_rank_plus_one",
           "construct_linear wrapped: one layer's adapter gets an extra rank-1 direction (B one more column, A one "
           "more row, entries 1e-3/√D), i.e. inner dimension R + 1",
           _apply_adapter_rank_plus_one,
           _p("lemma1", "test_lemma1_adapter_rank", "test_lemma1_value")),
    Mutant("lemma1_construction_rank_minus_one",
           "construct_linear wrapped to spend only R − 1 directions per layer: misses σ_{RL+1}(E)",
           _in_property_modules(linear_mod.construct_linear, _construct_linear_rank_minus_one),
           _p("lemma1", "test_lemma1_value", expect="lemma1.value")),
    Mutant("lemma1_loosened_tolerance",
           "LinearConstruction.tolerance() × 1e6: can no longer tell a 1e-8 relative miss from rounding",
           _loosen(linear_mod.LinearConstruction),
           _p("lemma1", "test_lemma1_resolution", expect="lemma1.resolution")),
    Mutant("nan_passing_exactness_check",
           "assert_exact written 'if residual > tol: fail' without the finiteness guard: a NaN residual (or a NaN/inf "
           "tolerance) passes as exact",
           _apply_nan_passing_check,
           _p("lemma1", "test_lemma1_checks_reject_nonfinite", expect="lemma1.nonfinite_guard")),
    Mutant("exact_certificate_tolerant_equality",
           "the exact certificates' equality test accepts |residual entry| < 1/10**12 as equal: a target off by "
           "1/10**15 is certified equal without adapters",
           _apply_tolerant_rational_equality,
           _p("lemma1", "test_lemma1_exact_certificate_tiny_residual", expect="lemma1.exact_certificate")),
    Mutant("swapped_chain_product",
           "numerics.chain_product (and every module that imported it) computes W_1⋯W_L instead of W_L⋯W_1",
           _apply_swapped_chain_product,
           _p("lemma1", "test_lemma1_value", "test_lemma1_threshold")),
    Mutant("swapped_adapted_product",
           "adapters.adapted_product (and every module that imported it) computes W̃_1⋯W̃_L instead of W̃_L⋯W̃_1",
           _apply_swapped_adapted_product,
           _p("lemma1", "test_lemma1_value", "test_lemma1_threshold")),
    Mutant("fixed_rank_tau",
           "numerical rank of E against a fixed τ = 1e-9·max(‖W̄‖, ‖∏W‖) instead of the rounding floor E carries",
           _apply_fixed_rank_tau,
           _p("tests.unit.test_rank_floor", "test_issue_diag_example_is_fitted_by_one_rank1_adapter",
              "test_fnn_blocks_and_rank_advice_share_the_rule")),
    Mutant("tolerance_ignores_dropped_directions",
           "a σ_i(E) dropped at the rounding floor is not added to the tolerance",
           _apply_dropped_directions_ignored,
           _p("tests.unit.test_rank_floor", "test_dropped_rounding_level_direction_is_in_the_tolerance")),
    Mutant("chain_tolerance_without_amplification",
           "chain tolerance without its solve-amplification term (never mattered on the conditioned generators)",
           _apply_chain_tolerance_without_amplification,
           _p("tests.unit.test_certification", "test_chain_tolerance_keeps_the_solve_amplification")),
    Mutant("hetero_ranks_exact_iff_max_layer_rank",
           "lemma8 registry rule 'exact iff max_l R_l ≥ rank E' (per-layer instead of total budget)",
           _set_formula("lemma8", "exact_iff", sp.GreaterThan(_MAX_LAYER_RANK, F.R_E)),
           _p("lemma8", "test_lemma8_compositions", expect="lemma8.value")),
    # --- theorem3: ReLU FNNs
    Mutant("theorem3_threshold_minus_one",
           "theorem3 registry threshold ⌈max_i rank(E_i)/M⌉ − 1 (floored at 1)",
           _set_formula("theorem3", "threshold", sp.Max(F.THEOREM3_THRESHOLD - 1, 1)),
           _p("theorem3", "test_theorem3_exact", expect="theorem3.exact")),
    Mutant("theorem3_dropped_last_bias_correction",
           "FNN construction with the last bias of each block left at b̄_i (offset correction −W̃·a_{m−1} dropped)",
           _in_property_modules(fnn_mod.construct_fnn, _construct_fnn_without_last_bias_correction),
           _p("theorem3", "test_theorem3_exact", expect="theorem3.exact")),
    Mutant("theorem3_sample_calibrated_biases",
           "FNN offsets = 2 × the most negative pre-activation over 64 sampled inputs instead of domain norm bounds",
           _in_property_modules(fnn_mod.construct_fnn, _construct_fnn_sample_calibrated),
           _p("theorem3", "test_theorem3_exact", expect="theorem3.exact")),
    Mutant("theorem3_offsets_too_small",
           "every domain's norm bound 10× too small (e.g. a wrong norm): offsets clip pre-activations on the domain",
           _apply_offsets_too_small,
           _p("theorem3", "test_theorem3_biases_safe", expect="theorem3.biases_safe")
           + _p("theorem3", "test_theorem3_exact", expect="theorem3.exact"),
           require_all=True),
    Mutant("theorem3_input_bound_without_block_error",
           "below the threshold, the next block's input bound computed without the block's own error ε_i: the "
           "offsets rest on an invalid bound and a linearised ReLU clips on the domain",
           _apply_bound_without_block_error,
           _p("theorem3", "test_theorem3_biases_safe", expect="theorem3.biases_safe")),
    Mutant("domain_ball_radius_uniform",
           "Ball.sample draws the radius ρ·U(0, 1) instead of ρ·U^{1/D}: not uniform on the ball (the boundary, where "
           "pre-activations are most negative, is under-sampled)",
           _apply_ball_radius_uniform,
           _p("theorem3", "test_theorem3_domain_sampling_uniform", expect="theorem3.domain_sampling")),
    Mutant("theorem3_loosened_tolerance",
           "FNNConstruction.tolerance() × 1e6",
           _loosen(fnn_mod.FNNConstruction),
           _p("theorem3", "test_theorem3_resolution", "test_theorem3_exact")),
    # Before test_theorem3_resolution existed only the fixed-seed sample-bias test caught a loosened FNN tolerance,
    # and only from ≈ ×7.7e5 on; the resolution property (1e-10 relative misses are rejected) now kills ×1e5 too.
    Mutant("theorem3_loosened_tolerance_x1e5",
           "FNNConstruction.tolerance() × 1e5",
           _loosen(fnn_mod.FNNConstruction, 1e5),
           _p("theorem3", "test_theorem3_resolution", expect="theorem3.resolution")),
    # --- theorem5 / theorem5_printed: bounds below the threshold
    Mutant("theorem5_epsilon_sigma_RM",
           "Theorem 5 ε_i = σ_{RM}(E_i) instead of σ_{RM+1}(E_i) (one index too low): at the threshold the bounds "
           "do not vanish. 'tight' is blind to it: σ_{RM} ≥ σ_{RM+1} and every bound is nondecreasing in ε_i, so "
           "the mutant only loosens an upper bound",
           _apply_epsilon_at(0),
           _p("theorem5", "test_theorem5_monotone", expect="theorem5.monotone"),
           blind=_p("theorem5", "test_theorem5_tight")),
    Mutant("theorem5_epsilon_sigma_RM_plus_2",
           "Theorem 5 ε_i = σ_{RM+2}(E_i) instead of σ_{RM+1}(E_i) (one index too high): understates the realised "
           "‖W̃^{(i)} − W̄_i‖₂; one direction short of the threshold the bound is 0 while the error is not",
           _apply_epsilon_at(2),
           _p("theorem5", "test_theorem5_tight", expect="theorem5.tight") + _p("theorem5", "test_theorem5_monotone")),
    Mutant("theorem5_tight_with_frobenius_root",
           "bound (c) with m_0 = √‖Σ‖_F instead of √tr Σ (the printed form's unproved step E‖x‖ ≤ √‖Σ‖_F)",
           _set_bound_form("tight", _tight_with_frobenius_root),
           _p("theorem5", "test_theorem5_tight", expect="theorem5.tight")),
    Mutant("theorem5_variant_as_printed",
           "bound (b) encoded as the printed form (inner index i − 1, final √‖Σ‖_F)",
           _set_bound_form("variant", F.theorem5_bound_printed),
           _p("theorem5", "test_theorem5_variant", expect="theorem5.variant")),
    Mutant("theorem5_printed_as_variant",
           "bound (a) encoded as the provable variant (b): the adversarial instance's 'construction > (a)' fails",
           _set_bound_form("printed", F.theorem5_bound_variant),
           _p("theorem5_printed", "test_theorem5_printed_adversarial", args=(0,),
              expect="theorem5_printed.adversarial")),
    # --- lemma4: final-layers tuning
    Mutant("lemma6_tfl_no_shift",
           "tfl_certificate's probe x′ built without shifting the clipped unit (u′ = u): x′ = x, no certificate",
           _apply_tfl_no_shift,
           _p("lemma4", "test_lemma4_certificate", expect="lemma4.certificate")),
    # --- theorem7 / theorem7_scope: transformers
    Mutant("theorem7_adapter_on_w1",
           "TFN construction also moves W_1 of block 1 (by 1e-3·11ᵀ), which Theorem 7 leaves frozen",
           _apply_tfn_adapter_on_w1,
           _p("theorem7_scope", "test_theorem7_scope_support_and_ranks", expect="theorem7_scope.support")
           + _p("theorem7", "test_theorem7_exact_random", expect="theorem7.exact"),
           require_all=True),
    Mutant("theorem7_missing_calibration",
           "TFN calibration C_{i+1} = I instead of W̄_2 W_2⁻¹ (next block built for the wrong hidden coordinates)",
           _apply_tfn_missing_calibration,
           _p("theorem7", "test_theorem7_exact_random", expect="theorem7.calibration")),
    Mutant("theorem7_old_tfn_tolerance",
           "TFN output tolerance back to the normwise model (worst-case products of norms; it let R = ⌈D/2⌉ − 1 pass)",
           _apply_tfn_old_tolerance,
           _p("theorem7", "test_theorem7_output_separation", expect="theorem7.output")),
    Mutant("theorem7_perturbed_bias",
           "TFN construction with block 1's b̂_2 off by 1e-6 (caught only by the output check, whose a-posteriori "
           "residual terms are capped at rounding size)",
           _in_property_modules(tfn_mod.construct_tfn, _construct_tfn_perturbed_bias),
           _p("theorem7", "test_theorem7_exact_random", expect="theorem7.exact")),
    Mutant("theorem7_threshold_minus_one",
           "theorem7 registry threshold ⌈G_max/2⌉ − 1 (floored at 1), e.g. ⌊D/2⌋ − 1 claimed sufficient for odd D",
           _set_formula("theorem7", "threshold", sp.Max(F.THEOREM7_THRESHOLD - 1, 1)),
           _p("theorem7", "test_theorem7_threshold_lowgap", "test_theorem7_exact_random", expect="theorem7.chains"),
           require_all=True),
)

assert len({m.name for m in MUTANTS}) == len(MUTANTS), "mutant names must be unique"
