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
        return TFN((dataclasses.replace(b0, W1=b0.W1 + 1e-3 * torch.outer(ones, ones)),) + net.blocks[1:], net.Wo,
                   net.output, net.single_head)

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
                        lambda self, X, output=None: tfn_mod._tfn_tolerance_normwise_gather(self, X))


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


# --- issue 13 (FNN part): per-layer ranks — theorem6, lemma10, assumption2 ------------------------------------------

def _apply_fnn_first_layer_rank_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """construct_fnn hands each block's chain only its first layer's rank (the others 0): the per-layer ranks of the
    rest of the block are ignored, so a block spends R_{min P_i} instead of Σ_{l∈P_i} R_l."""
    real = fnn_mod.construct_linear

    def construct(weights, target, rank, **kw):
        ranks = [rank] * len(weights) if isinstance(rank, int) else list(rank)
        return real(weights, target, ranks[:1] + [0] * (len(ranks) - 1), **kw)

    monkeypatch.setattr(fnn_mod, "construct_linear", construct)


def _construct_fnn_uniform_max_rank(frozen, target, rank, domain, **kw):
    """construct_fnn with per-layer ranks replaced by the uniform rank max_l R_l (at least 1)."""
    if not isinstance(rank, int):
        rank = max(max(rank), 1)
    return fnn_mod.construct_fnn(frozen, target, rank, domain, **kw)


def _apply_split_budget_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget search splits a block's rank k as ⌊k/m⌋ on every layer (Σ R_l < k unless m divides k)."""
    from lora_theory import partition as partition_mod

    def floor_split(budget, size):
        return (budget // size,) * size

    _replace_everywhere(monkeypatch, partition_mod.split_budget, floor_split, scopes=("lora_theory",))


def _assumption2_reading_ignored(frozen, target, rank, partition=None, *, reading="needed", **kw):
    """assumption2_report that always uses the needed reading (the ``reading`` argument ignored)."""
    from lora_theory.analysis import fnn as analysis_fnn_mod
    return analysis_fnn_mod.assumption2_report(frozen, target, rank, partition, reading="needed", **kw)


def _apply_assumption2_reading_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from lora_theory.analysis import fnn as analysis_fnn_mod
    _in_property_modules(analysis_fnn_mod.assumption2_report, _assumption2_reading_ignored)(monkeypatch)


# --- helpers of the lemma2 / lemma4 / lemma6 / lemma12 / appendix_h mutants ----------------------------------------

def _apply_lemma12_trusting_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """final_layers_certificate trusts its float search: the step to x′ ignores the Lipschitz bound (every ‖W_j‖₂
    read as 1e-3, so x′ lands far from x) and its exact checks of z_l(x) = z_l(x′) and x, x′ ∈ I_l are forced to
    pass — only the property's own exact re-check can notice."""
    real = tfl_mod._check_certificate

    def check(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), hidden_equal=True, in_region=(True, True))

    monkeypatch.setattr(tfl_mod, "spectral_norm", lambda W: 1e-3)
    monkeypatch.setattr(tfl_mod, "_check_certificate", check)


def _apply_region_never_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    """first_region_inside_target always answers False (I_1 ⊆ Ī_1 never detected)."""
    _replace_everywhere(monkeypatch, tfl_mod.first_region_inside_target, lambda frozen, target: False)


def _apply_copied_fnn_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    """pad_fnn_target copies every entry outside the top-left block from the block product (the linear recipe):
    the padded hidden coordinates leak into the first D̄ for L̄ ≥ 2."""
    from lora_theory.constructions import widths as widths_mod

    real = widths_mod.pad_fnn_target
    _replace_everywhere(monkeypatch, real, lambda frozen, target, mode="copy": real(frozen, target, mode="copy"))


# --- issue 13 (TFN part B): the Assumption 4 checker and corollary10 ------------------------------------------------

def _apply_assumption4_skip_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker forgets the family W_OW_V + LR_r(W_1⁻¹W̄_1W̄_OW̄_VW̄_{2,l−1}W_{2,l−1}⁻¹ − W_OW_V), l > 1."""
    from lora_theory.analysis import tfn as analysis_tfn

    monkeypatch.setattr(analysis_tfn, "FAMILIES", tuple(f for f in analysis_tfn.FAMILIES if f != "value (l > 1)"))


def _apply_assumption4_no_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's blocks l > 1 seen without W̄_{2,l−1}W_{2,l−1}⁻¹ (C = I)."""
    from lora_theory.analysis import tfn as analysis_tfn

    monkeypatch.setattr(analysis_tfn, "_calibration", lambda W2, W2bar: torch.eye(W2.shape[0], dtype=W2.dtype))


def _apply_assumption4_lr_index_minus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's entry r holds P + LR_{r−1}(T − P) (one singular direction too few)."""
    from lora_theory.analysis import tfn as analysis_tfn

    real = analysis_tfn._lr_prefixes
    monkeypatch.setattr(analysis_tfn, "_lr_prefixes", lambda P, T, R: [P] + real(P, T, R)[:R - 1])


def _apply_assumption4_nan_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's pass flag written 'not ratio < threshold': a NaN ratio (an overflowed product) passes."""
    from lora_theory.analysis import tfn as analysis_tfn

    real = analysis_tfn._entry

    def entry(M, threshold, **kw):
        e = real(M, threshold, **kw)
        return dataclasses.replace(e, passed=not (e.ratio < threshold))

    monkeypatch.setattr(analysis_tfn, "_entry", entry)


# --- issue 13 (TFN part A): theorem8 / corollary9, the single-head TFN -----------------------------------------------

def _apply_tfn_w1_left_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The single-head construction's W_1 adapters are dropped from the adapted network (W_1 left frozen, as in
    Theorem 7's placement): the value chains W_1·W_V miss their targets."""
    real = tfn_mod.TFNConstruction.adapted
    monkeypatch.setattr(tfn_mod.TFNConstruction, "adapted", lambda self: real(dataclasses.replace(self, w1={})))


def _apply_tfn_single_head_adapter_on_wo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The single-head adapted network gets a W_O (identity moved by 1e-3·11ᵀ in block 1), i.e. an adapter on the
    matrix Theorem 8's block does not have; the network is then a one-head multi-head TFN."""
    real = tfn_mod.TFNConstruction.adapted

    def with_wo(self):
        net = real(self)
        if not net.single_head:
            return net
        b0 = net.blocks[0]
        ones = torch.ones(net.width, dtype=net.dtype)
        moved = dataclasses.replace(b0, WO=(b0.WO[0] + 1e-3 * torch.outer(ones, ones),))
        return TFN((moved,) + net.blocks[1:], net.Wo, net.output, False)

    monkeypatch.setattr(tfn_mod.TFNConstruction, "adapted", with_wo)


# --- off-generator single-head TFN properties (theorem8, corollary9) -----------------------------------------------

def _apply_tfn_single_head_always_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single-head construction reports exact whatever its chains drop (a wrong "exact" below the threshold)."""
    real = tfn_mod.TFNConstruction.is_exact_in_theory
    monkeypatch.setattr(tfn_mod.TFNConstruction, "is_exact_in_theory",
                        lambda self: True if self.frozen.single_head else real(self))


def _apply_tfn_single_head_nan_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single-head construction's output tolerance tolerance(X) is NaN (as from an overflowed bound)."""
    real = tfn_mod.TFNConstruction.tolerance

    def nan_tol(self, X, output=None):
        tol = real(self, X, output)
        return dataclasses.replace(tol, value=float("nan")) if self.frozen.single_head else tol

    monkeypatch.setattr(tfn_mod.TFNConstruction, "tolerance", nan_tol)


# --- Assumption 3 checker (claim assumption3; single-head TFN, App. F.1, p. 34) -------------------------------------

def _apply_assumption3_skip_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """The single-head checker forgets the family W_KᵀW_Q + LR_r(C_lᵀW̄_KᵀW̄_QC_l − W_KᵀW_Q), l > 1."""
    from lora_theory.analysis import tfn as analysis_tfn

    monkeypatch.setattr(analysis_tfn, "ASSUMPTION3_FAMILIES",
                        tuple(f for f in analysis_tfn.ASSUMPTION3_FAMILIES if f != "score (l > 1)"))


def _apply_assumption3_nan_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's pass flag written 'not ratio < threshold': a NaN ratio (an overflowed product) passes."""
    from lora_theory.analysis import tfn as analysis_tfn

    real = analysis_tfn._entry

    def entry(M, threshold, **kw):
        e = real(M, threshold, **kw)
        return dataclasses.replace(e, passed=not (e.ratio < threshold))

    monkeypatch.setattr(analysis_tfn, "_entry", entry)


def _apply_assumption3_score_as_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The single-head score entries for l > 1 as printed (p. 34): W_KW_Q + LR_r(C_lᵀW̄_KᵀW̄_QC_l − W_KW_Q), no ᵀ."""
    from lora_theory.analysis import tfn as analysis_tfn

    real = analysis_tfn._single_head_family_targets

    def targets(frozen, target, family):
        out = real(frozen, target, family)
        if family != "score (l > 1)":
            return out
        return [(block, formula, frozen.blocks[block - 1].WK[0] @ frozen.blocks[block - 1].WQ[0], T)
                for block, formula, _, T in out]

    monkeypatch.setattr(analysis_tfn, "_single_head_family_targets", targets)


# --- the registry --------------------------------------------------------------------------------------------------

# --- errata (claims lemma2_printed, theorem6_printed) ---------------------------------------------------------------

def _apply_lemma2_printed_as_provable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lemma 2's printed bound encoded as the provable one (tr Σ instead of ‖Σ‖_F)."""
    monkeypatch.setattr(F, "LEMMA2_BOUND_PRINTED", F.LEMMA2_BOUND_PROVABLE)


def _apply_fnn_block_rank_minus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """construct_fnn's uniform-rank blocks spend one rank less: the first non-zero layer rank of each block − 1."""
    real = fnn_mod.block_ranks

    def fewer(rank, m, used):
        ranks = list(real(rank, m, used))
        for k, r in enumerate(ranks):
            if r > 0:
                ranks[k] = r - 1
                break
        return ranks
    monkeypatch.setattr(fnn_mod, "block_ranks", fewer)


def _p(claim: str, *functions: str, expect: str | None = None, args: tuple = ()) -> tuple[Prop, ...]:
    return tuple(Prop(claim, f, args, expect) for f in functions)



# --- helpers of the off-generator mutants (lemma10, appendix_h, assumption2, lemma12) ------------------------------

def _apply_linear_always_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """LinearConstruction.is_exact_in_theory always True: a construction short of rank reports "exact"."""
    monkeypatch.setattr(linear_mod.LinearConstruction, "is_exact_in_theory", lambda self: True)


def _assumption2_all_pass(frozen, target, rank, partition=None, **kw):
    """assumption2_report whose entries all pass (a blind checker: a singular matrix is never flagged)."""
    from lora_theory.analysis import fnn as analysis_fnn_mod
    return [dataclasses.replace(e, passed=True)
            for e in analysis_fnn_mod.assumption2_report(frozen, target, rank, partition, **kw)]


def _apply_assumption2_all_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from lora_theory.analysis import fnn as analysis_fnn_mod
    _in_property_modules(analysis_fnn_mod.assumption2_report, _assumption2_all_pass)(monkeypatch)

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
    # --- issue 13 (FNN part): theorem6 per-layer ranks, lemma10, assumption2
    Mutant("theorem6_block_budget_max_layer_rank",
           "theorem6 registry block budget max_{l∈P_i} R_l instead of Σ_{l∈P_i} R_l (per-layer instead of total)",
           _set_formula("theorem6", "block_budget", _MAX_LAYER_RANK),
           _p("theorem6", "test_theorem6_per_layer_exact_iff_budget", expect="theorem6.layer_ranks")),
    Mutant("theorem6_per_layer_ranks_ignored",
           "construct_fnn called with per-layer ranks builds the uniform rank max_l R_l instead",
           _in_property_modules(fnn_mod.construct_fnn, _construct_fnn_uniform_max_rank),
           _p("theorem6", "test_theorem6_per_layer_exact_iff_budget", expect="theorem6.adapter_rank")
           + _p("lemma10", "test_lemma10_exact_iff_total_budget", expect="lemma10.adapter_rank"),
           require_all=True),
    Mutant("fnn_block_spends_first_layer_rank_only",
           "construct_fnn gives each block's chain only its first layer's rank (others 0): block budget R_{min P_i}",
           _apply_fnn_first_layer_rank_only,
           _p("theorem6", "test_theorem6_per_layer_exact_iff_budget", expect="theorem6.layer_ranks")
           + _p("lemma10", "test_lemma10_exact_iff_total_budget", expect="lemma10.formula"),
           require_all=True),
    Mutant("theorem6_budget_split_floor",
           "per-layer budget search splits rank(E_i) as ⌊k/m⌋ on every layer of the block (budget short of k)",
           _apply_split_budget_floor,
           _p("theorem6", "test_theorem6_budget_search", expect="theorem6.budget_search")),
    Mutant("lemma10_exact_iff_max_layer_rank",
           "lemma10 registry rule 'exact iff max_l R_l ≥ R_E' (per-layer instead of total budget)",
           _set_formula("lemma10", "exact_iff", sp.GreaterThan(_MAX_LAYER_RANK, F.R_E)),
           _p("lemma10", "test_lemma10_exact_iff_total_budget", expect="lemma10.exact")),
    Mutant("lemma10_realised_rank_max_layer_rank",
           "lemma10 registry realised rank max_l R_l ∧ R_E instead of Σ_l R_l ∧ R_E",
           _set_formula("lemma10", "realised_rank", sp.Min(_MAX_LAYER_RANK, F.R_E)),
           _p("lemma10", "test_lemma10_exact_iff_total_budget", expect="lemma10.formula")),
    Mutant("theorem6_epsilon_sigma_budget_plus_2",
           "ε_i = σ_{Σ_{P_i}R_l+2}(E_i) instead of σ_{Σ_{P_i}R_l+1}(E_i) in the bound inputs (per-layer budgets)",
           _apply_epsilon_at(2),
           _p("theorem6", "test_theorem6_per_layer_bound", expect="theorem6.bound")),
    Mutant("assumption2_reading_ignored",
           "assumption2_report ignores reading='printed' (always ∏_(P_i)W inside LR_r)",
           _apply_assumption2_reading_ignored,
           _p("assumption2", "test_assumption2_planted_printed", expect="assumption2.readings")),
    # --- errata: lemma2_printed, theorem6_printed
    Mutant("lemma2_printed_as_provable",
           "Lemma 2's printed bound ‖Σ‖_F·σ²_{RL+1}(E) encoded as the provable tr Σ·σ²_{RL+1}(E)",
           _apply_lemma2_printed_as_provable,
           _p("lemma2_printed", "test_lemma2_printed_tied_tail", args=(0,), expect="lemma2_printed.tied_tail")),
    Mutant("lemma2_printed_construction_rank_minus_one",
           "construct_fnn spends one rank less per block (uniform ranks): on the tied-tail instance the error "
           "E‖f − f̄‖² becomes σ_2² + 4 = 8, off the closed form 4 and above the provable 6",
           _apply_fnn_block_rank_minus_one,
           _p("lemma2_printed", "test_lemma2_printed_tied_tail", args=(0,), expect="lemma2_printed.tied_tail")),
    Mutant("theorem6_printed_as_variant",
           "bound (a) encoded as the provable variant (b): Theorem 6's adversarial 'construction > printed' fails",
           _set_bound_form("printed", F.theorem5_bound_variant),
           _p("theorem6_printed", "test_theorem6_printed_adversarial", args=(0,),
              expect="theorem6_printed.adversarial")),
    # --- lemma2 (bound), lemma4 / lemma12 (final-layers tuning), lemma6, appendix_h (different widths)
    Mutant("lemma2_bound_frobenius",
           "lemma2 registry bound with ‖Σ‖_F in place of tr Σ (the printed form): the tied-tail construction "
           "exceeds it",
           _set_formula("lemma2", "bound_provable", F.LEMMA2_BOUND_PRINTED),
           _p("lemma2", "test_lemma2_bound_adversarial", expect="lemma2.adversarial")),
    Mutant("lemma12_trusting_float_search",
           "final_layers_certificate steps to x′ without the Lipschitz bound and skips the exact check that the frozen "
           "prefix maps x and x′ to the same hidden value, nor that both lie in I_l",
           _apply_lemma12_trusting_search,
           _p("lemma12", "test_lemma12_certificate", expect="lemma12.hypothesis")),
    Mutant("lemma4_region_never_inside",
           "first_region_inside_target always False: the instances with I_1 ⊆ Ī_1 are sent to Lemma 12, which has no "
           "certificate there",
           _apply_region_never_inside,
           _p("lemma4", "test_lemma4_via_lemma12", expect="lemma4.via_lemma12")),
    Mutant("lemma6_threshold_too_high",
           "lemma6 registry singularity threshold 0.5 instead of 1e-13: well-posed random draws count as singular",
           _set_formula("lemma6", "singularity_threshold", sp.Float(0.5)),
           _p("lemma6", "test_lemma6_continuous_nonsingular", expect="lemma6.nonsingular")),
    Mutant("appendix_h_threshold_floor",
           "appendix_h registry threshold ⌊D̄/L⌋ (as printed, p. 46) instead of ⌈D̄/L⌉: D̄ = 5, L = 2, R = 2 is not exact",
           _set_formula("appendix_h", "threshold", F.APPENDIX_H_THRESHOLD_PRINTED),
           _p("appendix_h", "test_appendix_h_linear", expect="appendix_h.threshold")),
    Mutant("appendix_h_copied_fnn_padding",
           "pad_fnn_target copies the off-diagonal blocks from the frozen product: padded hidden units leak for L̄ ≥ 2",
           _apply_copied_fnn_padding,
           _p("appendix_h", "test_appendix_h_fnn", expect="appendix_h.fnn_padding")),
    # --- issue 13 (TFN part B): assumption4 checker, corollary10
    Mutant("corollary10_threshold_minus_one",
           "corollary10 registry threshold ⌈D/2⌉ − 1 (floored at 1): claims exactness one rank too early for D ≥ 3",
           _set_formula("corollary10", "threshold", sp.Max(F.COROLLARY10_THRESHOLD - 1, 1)),
           _p("corollary10", "test_corollary10_exact_from_ceil_half_D", expect="corollary10.chains")),
    Mutant("assumption4_skip_family",
           "the Assumption 4 checker skips the value family of blocks l > 1",
           _apply_assumption4_skip_family,
           _p("assumption4", "test_assumption4_lists_every_matrix", expect="assumption4.lists_every_matrix")
           + _p("assumption4", "test_assumption4_planted_family_is_named", expect="assumption4.planted_named"),
           require_all=True),
    Mutant("assumption4_no_calibration",
           "the Assumption 4 checker sees blocks l > 1 without W̄_{2,l−1}W_{2,l−1}⁻¹ (C = I)",
           _apply_assumption4_no_calibration,
           _p("assumption4", "test_assumption4_planted_family_is_named", expect="assumption4.planted_named")),
    Mutant("assumption4_lr_index_minus_one",
           "the Assumption 4 checker's entry r is P + LR_{r−1}(T − P)",
           _apply_assumption4_lr_index_minus_one,
           _p("assumption4", "test_assumption4_planted_family_is_named", expect="assumption4.planted_named")),
    Mutant("assumption4_nan_passes",
           "the Assumption 4 checker's pass flag 'not ratio < threshold': NaN entries of overflowed products pass",
           _apply_assumption4_nan_passes,
           _p("assumption4", "test_assumption4_user_inputs_report", expect="assumption4.user_inputs")),
    # --- issue 13 (TFN part A): theorem8 / corollary9, single-head TFNs
    Mutant("theorem8_w1_left_frozen",
           "single-head construction with its W_1 adapters dropped (W_1 left frozen, Theorem 7's placement)",
           _apply_tfn_w1_left_frozen,
           _p("theorem8", "test_theorem8_exact_iff_threshold", expect="theorem8.exact")),
    Mutant("theorem8_adapter_on_wo",
           "single-head adapted network given a W_O (identity + 1e-3·11ᵀ in block 1): an adapter outside the set",
           _apply_tfn_single_head_adapter_on_wo,
           _p("theorem8", "test_theorem8_adapted_set", expect="theorem8.support")
           + _p("theorem8", "test_theorem8_exact_iff_threshold", expect="theorem8.exact"),
           require_all=True),
    Mutant("theorem8_threshold_minus_one",
           "theorem8 registry threshold ⌈G_max/2⌉ − 1 (floored at 1): claims exactness one rank too early",
           _set_formula("theorem8", "threshold", sp.Max(F.THEOREM8_THRESHOLD - 1, 1)),
           _p("theorem8", "test_theorem8_exact_iff_threshold", expect="theorem8.chains")),
    Mutant("corollary9_threshold_minus_one",
           "corollary9 registry threshold ⌈D/2⌉ − 1 (floored at 1): claims exactness one rank too early for D ≥ 3",
           _set_formula("corollary9", "threshold", sp.Max(F.COROLLARY9_THRESHOLD - 1, 1)),
           _p("corollary9", "test_corollary9_exact_at_half_width", expect="corollary9.exact")),
    Mutant("corollary9_floor_half_width",
           "corollary9 registry threshold ⌊D/2⌋ (floored at 1) instead of ⌈D/2⌉: wrong for odd D",
           _set_formula("corollary9", "threshold", sp.Max(sp.floor(F.D / 2), 1)),
           _p("corollary9", "test_corollary9_exact_at_half_width", expect="corollary9.exact")),
    # --- off-generator single-head TFN properties (theorem8, corollary9)
    Mutant("theorem8_offgen_always_exact",
           "single-head construction always reports exact (is_exact_in_theory() True below the threshold)",
           _apply_tfn_single_head_always_exact,
           _p("theorem8", "test_theorem8_offgen_certified_or_refused", expect="theorem8.offgen_threshold")),
    Mutant("corollary9_offgen_nan_output_tolerance",
           "single-head construction's output tolerance tolerance(X) is NaN (a non-finite tolerance must not pass)",
           _apply_tfn_single_head_nan_tolerance,
           _p("corollary9", "test_corollary9_offgen_certified_or_refused", expect="corollary9.offgen_invariant")),
    # --- Assumption 3 checker (single-head TFN)
    Mutant("assumption3_skip_family",
           "the Assumption 3 checker skips the score family of blocks l > 1",
           _apply_assumption3_skip_family,
           _p("assumption3", "test_assumption3_lists_every_matrix", expect="assumption3.lists_every_matrix")
           + _p("assumption3", "test_assumption3_planted_family_is_named", expect="assumption3.planted_named"),
           require_all=True),
    Mutant("assumption3_nan_passes",
           "the Assumption 3 checker's pass flag 'not ratio < threshold': NaN entries of overflowed products pass",
           _apply_assumption3_nan_passes,
           _p("assumption3", "test_assumption3_user_inputs_report", expect="assumption3.user_inputs")),
    Mutant("assumption3_score_as_printed",
           "the Assumption 3 checker's score entries for l > 1 as printed, W_KW_Q (no transpose) for W_KᵀW_Q",
           _apply_assumption3_score_as_printed,
           _p("assumption3", "test_assumption3_planted_family_is_named", expect="assumption3.planted_named")),
    # --- off-generator properties: lemma10, appendix_h, assumption2, lemma12
    Mutant("offgen_linear_always_exact",
           "LinearConstruction.is_exact_in_theory always True: constructions short of rank report exact",
           _apply_linear_always_exact,
           _p("lemma10", "test_lemma10_offgen_certified_or_refused", expect="lemma10.offgen")
           + _p("appendix_h", "test_appendix_h_offgen_certified_or_refused", expect="appendix_h.offgen")
           + _p("appendix_h", "test_appendix_h_fnn_offgen_certified_or_refused", expect="appendix_h.offgen"),
           require_all=True),
    Mutant("offgen_assumption2_blind_checker",
           "assumption2_report marks every entry as passing (a singular W_1 or a NaN ratio would pass)",
           _apply_assumption2_all_pass,
           _p("assumption2", "test_assumption2_offgen_report_agrees", expect="assumption2.offgen")),
    Mutant("offgen_lemma12_trusting_float_search",
           "final_layers_certificate trusts its float search (as lemma12_trusting_float_search), on off-generator "
           "pairs",
           _apply_lemma12_trusting_search,
           _p("lemma12", "test_lemma12_offgen_certificate_valid_or_none", expect="lemma12.offgen")),
)

assert len({m.name for m in MUTANTS}) == len(MUTANTS), "mutant names must be unique"
