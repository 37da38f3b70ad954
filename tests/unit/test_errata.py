"""lora_theory.analysis.errata: the records, and the numbers of each instance against independent closed forms or
independent computations (never the module's own output).

Floats are compared as the pages render them (:func:`fmt`, four significant digits), against closed forms
evaluated here; inequalities between the computed sides are checked with the construction's own tolerance model
inside the module (``printed_holds``/``corrected_holds``) and re-derived here where cheap.
"""

from __future__ import annotations

import json
import math

import pytest
import sympy as sp
import torch

from lora_theory import formulas as F
from lora_theory.analysis import errata as E
from lora_theory.errors import DomainError, UnknownClaimError

PAGES = {  # the paper's table of slips (arXiv 2310.17513v3), transcribed independently of the module
    "c1_frobenius_trace": "p. 19", "lemma2_bound": "p. 5", "theorem5_beta": "p. 6", "theorem6_beta": "p. 7",
    "appendix_h_floor": "p. 46", "assumption2_product": "p. 31", "theorem3_proof_index": "p. 28",
    "corollary4_ceiling": "p. 6", "lemma12_hypothesis": "p. 32", "lemma4_region_step": "p. 33",
    "theorem8_typography": "p. 34", "tfn_output_softmax": "pp. 36–37",
}


@pytest.fixture(scope="module")
def results():
    return {e.id: (e, r) for e, r in E.run_errata()}


def test_records_are_complete():
    ids = [e.id for e in E.errata()]
    assert ids == list(PAGES)
    for e in E.errata():
        assert PAGES[e.id] in e.pages, (e.id, e.pages)
        assert isinstance(e.printed, sp.Basic) and isinstance(e.corrected, sp.Basic), e.id
        assert e.printed != e.corrected, e.id
        assert e.consequence in E.CONSEQUENCES
        assert e.refutes and e.does_not_refute and e.explanation, e.id
        assert (e.instance is None) == (e.id in ("tfn_output_softmax", "theorem8_typography")), e.id
    numerical = {e.id for e in E.errata() if e.consequence == "numerical"}
    assert numerical == {"c1_frobenius_trace", "lemma2_bound", "theorem5_beta", "theorem6_beta", "appendix_h_floor",
                         "lemma12_hypothesis", "lemma4_region_step"}


def test_get_erratum_and_bad_consequence():
    assert E.get_erratum("lemma2_bound").pages.startswith("p. 5")
    with pytest.raises(UnknownClaimError, match="known: c1_frobenius_trace"):
        E.get_erratum("lemma3_bound")
    rec = E.get_erratum("corollary4_ceiling")
    with pytest.raises(DomainError, match="consequence"):
        E.Erratum(**{**{f: getattr(rec, f) for f in rec.__dataclass_fields__}, "consequence": "typo"})


@pytest.mark.parametrize("D", [2, 3, 4, 9])
def test_c1_identity_fails_for_identity_covariance(D):
    """Σ = I_D: ‖Σ‖_F = √D and tr Σ = D (sympy, exact), so ‖Σ‖_F = tr Σ only for D = 1."""
    S = sp.eye(D)
    assert sp.sqrt(sum(v ** 2 for v in S)) == sp.sqrt(D)
    assert S.trace() == D
    assert F.C1_EXPECTED_NORM_PRINTED.subs({F.Enorm_x: sp.sqrt(D), F.Sigma_F: sp.sqrt(D)}) == sp.false
    assert F.C1_EXPECTED_NORM_CORRECTED.subs({F.Enorm_x: sp.sqrt(D), F.tr_Sigma: D}) == sp.true


def test_c1_instance(results):
    _, r = results["c1_frobenius_trace"]
    assert r.printed.value == sp.root(4, 4) == sp.sqrt(2)  # √‖I_4‖_F = 4^{1/4}
    assert r.corrected.value == 2 and r.achieved.value == 2  # √tr I_4 = E‖x‖₂ = 2
    assert (r.printed_holds, r.corrected_holds) == (False, True)


def test_lemma2_instance_against_closed_forms(results):
    _, r = results["lemma2_bound"]
    D, RL = 6, 2
    assert E.fmt(r.printed.value) == E.fmt(math.sqrt(D))  # ‖I_6‖_F·1²
    assert E.fmt(r.corrected.value) == E.fmt(float(D))  # tr I_6·1²
    assert E.fmt(r.achieved.value) == E.fmt(float(D - RL))  # Σ_{i>2} σ_i² = 4·1²
    assert (r.printed_holds, r.corrected_holds) == (False, True)


def test_lemma2_instance_inputs_have_identity_second_moment():
    _, _, domain, X = E.lemma2_instance(0)
    S = X.T @ X / X.shape[0]
    assert torch.equal(S.round(decimals=12), torch.eye(6, dtype=torch.float64))
    assert bool(domain.contains(X).all())


@pytest.mark.parametrize("entry", ["theorem5_beta", "theorem6_beta"])
def test_beta_instances_against_an_independent_evaluation(results, entry):
    """The printed bound recomputed here from Σ̂ and the block SVDs (not from the module): for zero biases and
    ‖W̄_j‖_F < 1, β = √‖Σ̂‖_F (printed) or √tr Σ̂ (provable)."""
    _, r = results[entry]
    if entry == "theorem5_beta":
        frozen, tgt, _, X = E.theorem5_instance(0)
        blocks, budgets = [(-torch.eye(64, dtype=torch.float64), tgt.weights[0])], [1]
    else:
        frozen, tgt, _, X, _ = E.theorem6_instance(0)
        c = E.THEOREM6_SCALE
        eye = torch.eye(64, dtype=torch.float64)
        blocks, budgets = [(-c * eye, tgt.weights[0]), (c * eye, tgt.weights[1])], [2, 1]
    S = X.T @ X / X.shape[0]
    sf, tr = float(torch.linalg.matrix_norm(S)), float(torch.trace(S))
    eps = [float(torch.linalg.svdvals(Wb - P)[k]) for (P, Wb), k in zip(blocks, budgets)]
    fro = [float(torch.linalg.matrix_norm(Wb)) for _, Wb in blocks]
    assert max(fro) < 1
    if len(eps) == 1:
        shape = eps[0]
    else:
        shape = max(fro[0] + eps[0], fro[1] + eps[1]) * eps[0] + eps[1]
    assert E.fmt(r.printed.value) == E.fmt(math.sqrt(sf) * shape)
    assert E.fmt(r.corrected.value) == E.fmt(math.sqrt(tr) * shape)
    assert r.printed.value < r.achieved.value < r.corrected.value
    assert (r.printed_holds, r.corrected_holds) == (False, True)


def test_appendix_h_instance(results):
    _, r = results["appendix_h_floor"]
    assert (r.printed.value, r.corrected.value) == (5 // 2, -(-5 // 2)) == (2, 3)
    Ws, Wbar, Wtilde = E.appendix_h_instance(0)
    Err = Wtilde - Ws[1] @ Ws[0]
    assert torch.count_nonzero(Err[5:, :]) == 0 and torch.count_nonzero(Err[:, 5:]) == 0
    s = torch.linalg.svdvals(Wbar - (Ws[1] @ Ws[0])[:5, :5])  # the discrepancy, computed here
    assert E.fmt(r.achieved.value) == E.fmt(float(s[4])) and float(s[4]) > 0.01
    assert (r.printed_holds, r.corrected_holds) == (False, True)


def test_assumption2_instance_exact():
    """By hand: W_2W_1 = I; printed matrices I and I + LR_1(diag(−2, −½)) = diag(−1, 1); needed I and
    I + LR_1(diag(−1, 3/2 − 1)) = diag(0, 1)."""
    r = E.get_erratum("assumption2_product").instance()
    assert r.printed.value == (1, -1) and r.corrected.value == (1, 0)
    assert (r.printed_holds, r.corrected_holds) == (True, False)
    assert str(r.achieved.value).startswith("yes")
    W1, W2, Wbar = E.assumption2_instance()
    D1, D2 = sp.diag(-2, 0), sp.diag(0, sp.Rational(1, 4))  # rank-1 adapters reaching W̄ (the existential claim)
    assert (W2 + D2) * (W1 + D1) == Wbar


def test_theorem3_index_and_corollary4(results):
    _, r = results["theorem3_proof_index"]
    assert r.printed.value == (4, 4) and r.corrected.value == (2, 2) and r.achieved.value == (2, 2)
    _, r = results["corollary4_ceiling"]
    assert r.printed.value == 0 and r.achieved.value == 0
    assert r.corrected.value == sum(d for d in range(1, 33)) * 8


def test_rendering_is_deterministic_and_json_serialisable(results):
    pairs = list(results.values())
    again = E.run_errata()
    assert E.render_markdown(pairs) == E.render_markdown(again)
    assert E.render_text(pairs) == E.render_text(again)
    doc = json.loads(json.dumps(E.as_json(pairs), ensure_ascii=False))
    assert [d["id"] for d in doc["errata"]] == list(PAGES)
    assert doc["errata"][1]["printed"]["text"] == "Esq_err <= Sigma_F*sigma(L*R + 1)**2"
    assert "\\leq" in doc["errata"][1]["corrected"]["latex"]


def test_fmt():
    assert E.fmt(2) == "2" and E.fmt(0.0) == "0" and E.fmt(True) == "yes"
    assert E.fmt(math.sqrt(6)) == "2.449" and E.fmt(sp.sqrt(2)) == "sqrt(2)"


def test_lemma12_counterexample_by_hand(results):
    """x = (1, −1): W_1x + b_1 = (1, −1) + (−2, 0) = (−1, −1) ≤ 0 (x ∈ I_1); the target's pre-activations at x are
    (1, −1) and W̄_2·ReLU((1, −1)) = (−1, −2)·… — layer 1 has a positive unit, so x ∉ Ī_1; and f̄ vanishes at every
    point because W̄_2 ≤ 0 entrywise and ReLU outputs are ≥ 0."""
    import torch

    from lora_theory.analysis import tfl

    frozen, target, x, tuned = tfl.lemma12_counterexample()
    assert (frozen.weights[0] @ x + frozen.biases[0]).tolist() == [-1.0, -1.0]
    assert (target.weights[0] @ x + target.biases[0]).tolist() == [1.0, -1.0]
    assert bool((target.weights[1] <= 0).all())
    pts = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 10
    assert float(target(pts).abs().max()) == 0.0 and float(tuned(pts).abs().max()) == 0.0
    e, r = results["lemma12_hypothesis"]
    assert r.printed_holds is False and r.achieved.value is True
    e, r = results["lemma4_region_step"]
    assert r.printed_holds is False and r.achieved.value is True
