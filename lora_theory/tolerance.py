"""The one tolerance model of the suite.

The theorems are exact; floating-point results are not. Every check compares a residual with a tolerance built
here, from the quantities that bound the forward error of what was computed, and every failure message prints the
tolerance *and the terms it was built from* (:class:`Tolerance.__str__`).

Derivation (first order in the unit roundoff u; standard normwise bounds, e.g. Higham, *Accuracy and Stability of
Numerical Algorithms*, §3.5 and §9). One matrix product of D×D matrices has error ‖fl(AB) − AB‖_F ≤
γ_D‖A‖_F‖B‖_F ≤ D·u · D·‖A‖₂‖B‖₂, so every elementary step below costs a factor **u·D²** (the second D converts
Frobenius to spectral norms); backward-stable LU solves and SVDs have backward errors of the same form.

* **Products.** Forming a product of ``n`` D×D matrices has error ≲ (n-1)·u·D²·∏‖M_j‖₂. A linear-chain check forms
  ∏W (L factors), ∏W̃ (L factors), the differences with W̄, and the singular values of the result. Together::

      products = (2L + 1) · max(∏‖W_l‖₂, ∏‖W̃_l‖₂, ‖W̄‖₂)

* **SVD of the discrepancy.** The computed singular triplets of E are exact for E + δE with
  ‖δE‖₂ ≲ u·(D² + 2·TOLMUL)·‖E‖₂: the reduction to bidiagonal form costs u·D², and LAPACK's bidiagonal QR
  (``dbdsqr``, behind ``torch.linalg.svd``/``svdvals`` on CPU) declares convergence at a relative tolerance
  TOLMUL·eps = 2·TOLMUL·u with TOLMUL = max(10, min(100, eps^(−1/8))) ≈ 90.5 — which dominates for small D (a 3×3
  SVD is off by up to ~90u, measured). So the realised LR_r(E) is off by at most that much (ties included: only
  errors are compared, never vectors); the factorisation of E and the singular values of the result give::

      svd = 2 · (D² + 2·TOLMUL) · ‖E‖₂

* **Solves.** Each adapter factor is obtained by solving with a matrix M = F_n ⋯ F_1 (a suffix of frozen layers
  for B, the adapted prefix for A; never an explicit inverse). LU with partial pivoting is backward stable,
  ‖δM‖ ≲ u·D²·‖M‖ (growth factor taken as O(1)), and M itself carries the rounding of its n-factor product,
  ≲ n·u·D²·∏‖F_j‖. The part of E that the adapter reproduces, ‖E V_J‖ ≤ ‖E‖, is then off by at most u·D²·‖E‖
  times the *amplification*
  ``(n + 1) · ‖M⁻¹‖₂ · ∏‖F_j‖₂`` (≥ κ(M)). The solves contribute ::

      solves = ‖E‖₂ · Σ_solves amplification

So ``tolerance = u · (D² · (products + solves) + svd)``. The model contains no tuned constant: if a check fails, the
error is larger than first-order rounding explains (wrong formula, wrong construction, or an ill-conditioned
instance whose amplification was not recorded) and must be explained, never absorbed by widening this.

Frobenius-norm checks use ``√D · tolerance`` (‖X‖_F ≤ √D‖X‖₂ for a D×D error X).

The FNN (:func:`fnn_tolerance`), transformer chain (:func:`tfn_chain_tolerance`) and final-layers-tuning
(:func:`tfl_certificate_tolerance`, :func:`tfl_local_match_tolerance`) models below are built from the same
elementary cost u·D² per product or backward-stable solve; each function's docstring derives its form. The
constructions only gather the terms (norms, depths, sizes, condition numbers) and call these functions.

The transformer *output* tolerance (:func:`tfn_tolerance`) is finer, because a normwise bound through attention
(products of norms, worst-case softmax sensitivity) was too loose to tell R = ⌈D/2⌉ − 1 from ⌈D/2⌉ on outputs: it
uses the componentwise product bound |fl(AB) − AB| ≤ γ_n|A||B| (:func:`gamma`) and the softmax rounding
(:func:`softmax_rounding`) at every operation of both networks, carries each to the output by the exact first-order
sensitivity at the computed activations of the input, and bounds the construction's identity defects a posteriori
where theory makes them pure rounding (its docstring derives it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from lora_theory.errors import DomainError

#: relative threshold for the rank of a matrix measured against its *own* σ_1 (adapters ΔW = BA, certificates).
#: The rank of a discrepancy E = W̄ − ∏W is not counted with it but against the rounding floor E carries
#: (:func:`discrepancy_floor`), which is ~1e-13 relative in float64, not 1e-9.
RANK_TAU = 1e-9
#: σ_min/σ_max below which a matrix the construction must solve with is declared singular (a fixed ratio, ≈ 900·u in
#: float64; the rounding floor of :func:`singularity_floor` is checked as well)
SINGULARITY_THRESHOLD = 1e-13

__all__ = ["RANK_TAU", "SINGULARITY_THRESHOLD",
           "Tolerance", "chain_tolerance", "singularity_floor", "discrepancy_floor", "residual_rounding",
           "BlockErrorTerms", "fnn_tolerance", "LAPACK_TOLMUL",
           "tfn_chain_tolerance", "TFNHeadTerms", "TFNBlockTerms", "gamma", "softmax_rounding", "tfn_tolerance",
           "tfl_certificate_tolerance",
           "tfl_local_match_tolerance"]

#: LAPACK dbdsqr's convergence multiplier max(10, min(100, eps^(-1/8))) for float64
LAPACK_TOLMUL = max(10.0, min(100.0, (2.0 ** -52) ** (-1.0 / 8.0)))


@dataclass(frozen=True)
class Tolerance:
    """An absolute tolerance, the scale it is relative to, and the named terms it was built from."""

    value: float
    scale: float
    formula: str
    terms: Mapping[str, float] = field(default_factory=dict)

    @property
    def relative(self) -> float:
        """value / scale (the number compared across instances, e.g. for the separation ratio)."""
        return self.value / self.scale if self.scale > 0 else self.value

    def scaled(self, factor: float, why: str) -> "Tolerance":
        """The same tolerance times a documented factor (e.g. √D for a Frobenius-norm check)."""
        return Tolerance(self.value * factor, self.scale, f"{factor:.3g}·[{self.formula}] ({why})",
                         dict(self.terms))

    def __str__(self) -> str:
        terms = ", ".join(f"{k}={v:.3g}" for k, v in self.terms.items())
        return f"{self.value:.3e} = {self.formula}" + (f" with {terms}" if terms else "")


def chain_tolerance(*, unit_roundoff: float, width: int, depth: int, product_scale: float,
                    discrepancy_norm: float, amplifications: tuple[float, ...] = (), dropped: float = 0.0) -> Tolerance:
    """Tolerance for a residual of a linear chain adapted by LoRA (see the module docstring for the derivation).

    ``product_scale`` = max(∏‖W_l‖₂, ∏‖W̃_l‖₂, ‖W̄‖₂); ``amplifications`` = one ``(n+1)·‖M⁻¹‖₂·∏‖F_j‖₂`` per solve;
    ``dropped`` = the largest σ_i(E) the construction did not fit and did not predict either, because it is at or below
    the rounding floor of E (:func:`discrepancy_floor`): it is in the residual, so it is added to the tolerance.
    """
    u, D, L = unit_roundoff, width, depth
    products = (2 * L + 1) * product_scale
    svd = 2.0 * (D * D + 2.0 * LAPACK_TOLMUL) * discrepancy_norm
    solves = discrepancy_norm * float(sum(amplifications))
    value = u * (D * D * (products + solves) + svd) + dropped
    return Tolerance(
        value=value,
        scale=max(product_scale, discrepancy_norm),
        formula="u·(D²·((2L+1)·scale_prod + ‖E‖·Σamp) + 2(D² + 2·TOLMUL)·‖E‖) + σ_dropped",
        terms={"u": u, "D": D, "L": L, "scale_prod": product_scale, "‖E‖": discrepancy_norm,
               "Σamp": float(sum(amplifications)), "solves": len(amplifications), "TOLMUL": LAPACK_TOLMUL,
               "σ_dropped": dropped},
    )


def singularity_floor(*, unit_roundoff: float, width: int, n_factors: int, factor_norms: float,
                      sigma_max: float) -> float:
    """The largest σ_min that rounding alone can produce for an exactly singular M = F_n ⋯ F_1.

    Forming M costs ≲ n·u·D²·∏‖F_j‖₂ and computing its singular values ≲ u·(D² + 2·TOLMUL)·‖M‖₂ (see the module
    docstring), and singular values move by at most the perturbation (Weyl). A computed σ_min at or below this floor
    cannot certify that M is non-singular, whatever σ_min/σ_max says.
    """
    u, D = unit_roundoff, width
    return u * (D * D * max(n_factors, 1) * factor_norms + (D * D + 2.0 * LAPACK_TOLMUL) * sigma_max)


def discrepancy_floor(*, unit_roundoff: float, width: int, depth: int, factor_norms: float, target_norm: float,
                      product_norm: float, discrepancy_norm: float, storage_tau: float = 0.0) -> float:
    """The largest singular value that rounding alone can give the computed discrepancy Ê = fl(W̄ − fl(W_L⋯W_1)) in a
    direction where the exact E is zero: the numerical-rank threshold of E (σ_i(Ê) above it is rank).

    Same elementary cost u·D² per product as the tolerance: forming ∏W (L − 1 products, ≲ (L−1)·u·D²·∏‖W_l‖₂), the
    difference with W̄ (≲ u·D²·(‖W̄‖₂ + ‖∏W‖₂)), and the singular values of the result (≲ u·(D² + 2·TOLMUL)·‖Ê‖₂,
    module docstring); by Weyl's inequality a singular value moves by at most the perturbation::

        floor = u·(D²·((L−1)·∏‖W_l‖₂ + ‖W̄‖₂ + ‖∏W‖₂) + (D² + 2·TOLMUL)·‖Ê‖₂) + storage_tau·max(‖W̄‖₂, ∏‖W_l‖₂)

    ``storage_tau`` is the relative storage rounding of weights kept in a lower precision than float64
    (:func:`lora_theory.numerics.storage_rank_tau`; 0 for float64). A σ_i(Ê) at or below the floor cannot be told
    from rounding; a construction that does not fit it must still count it (in its tolerance), never call it zero
    silently.
    """
    u, D, L = unit_roundoff, width, depth
    computed = u * (D * D * (max(L - 1, 0) * factor_norms + target_norm + product_norm)
                    + (D * D + 2.0 * LAPACK_TOLMUL) * discrepancy_norm)
    return computed + storage_tau * max(target_norm, factor_norms)


def residual_rounding(*, unit_roundoff: float, width: int, depth: int, product_scale: float) -> float:
    """What rounding can make of the *computed* residual fl(∏W̃ − W̄) of a chain: L − 1 products and one difference,
    ≲ u·D²·(L + 1)·max(∏‖W̃_l‖₂, ‖W̄‖₂) (the a-posteriori certificate of :func:`lora_theory.constructions.linear.
    construct_linear` adds it to the computed residual before comparing with the tolerance)."""
    return unit_roundoff * width * width * (depth + 1) * product_scale


@dataclass(frozen=True)
class BlockErrorTerms:
    """What bounds the rounding of one FNN block emulating one target layer (see :func:`fnn_tolerance`)."""

    chain: Tolerance  # tolerance of the block's weight product ∏W̃ vs W̄_i (spectral norm)
    input_bound: float  # B_in: bound on ‖z‖₂ entering the block
    layer_bounds: tuple[float, ...]  # B_k: bound on the k-th pre-activation vector of the block (incl. offsets)
    layer_norms: tuple[float, ...]  # ‖W̃_{p_k}‖₂ (upper bounds)
    cancel_scale: float  # S_i = Σ_k c_k √D ‖W̃_{p_m}⋯W̃_{p_{k+1}}‖: the offsets that must cancel in the last bias
    target_norm: float  # ‖W̄_i‖₂
    target_bias_norm: float  # ‖b̄_i‖₂


def fnn_tolerance(*, unit_roundoff: float, width: int, blocks: tuple[BlockErrorTerms, ...]) -> Tolerance:
    """Tolerance on ‖f(x) − f̄(x)‖₂ for every x of the domain, for an FNN adapted block by block (Theorem 3).

    Per block i (m layers): the weight mismatch ‖∏W̃ − W̄_i‖ ≤ chain tolerance, times the input bound; the rounding
    of each layer's pre-activation, u·D²·B_k, carried through the remaining layers of the block by ∏_{j>k}‖W̃_{p_j}‖
    (inside a block the large linearising offsets c_k are still present, which is why the bound is the offset-laden
    B_k, not the target's activations); the last-bias correction, u·D²·m·S_i, since the offsets S_i cancel only in
    exact arithmetic; and the evaluation of the target layer, u·D²·(‖W̄_i‖B_in + ‖b̄_i‖)::

        δ_i = chain_i·B_in + u·D²·(Σ_k B_k ∏_{j>k}‖W̃_{p_j}‖ + m·S_i + ‖W̄_i‖·B_in + ‖b̄_i‖)

    Errors leaving block i pass through the later blocks, each 1-Lipschitz-ReLU composition of its layers, so they
    grow by at most Lip_{>i} = ∏_{later blocks j} max(∏_{l∈P_j}‖W̃_l‖₂, ‖W̄_j‖₂). Total: Σ_i Lip_{>i}·δ_i.
    Scale (for relative numbers): the largest pre-activation of any block, offsets included.
    """
    u, D = unit_roundoff, width
    deltas, scales = [], []
    for b in blocks:
        m = len(b.layer_norms)
        carried = 0.0
        for k in range(m):
            carried += b.layer_bounds[k] * math.prod(b.layer_norms[k + 1:])
        eval_terms = carried + m * b.cancel_scale + b.target_norm * b.input_bound + b.target_bias_norm
        deltas.append(b.chain.value * b.input_bound + u * D * D * eval_terms)
        scales.append(max(b.layer_bounds + (b.cancel_scale + b.target_norm * b.input_bound + b.target_bias_norm,)))
    value = 0.0
    for i, delta in enumerate(deltas):
        lip = math.prod(max(math.prod(b.layer_norms), b.target_norm) for b in blocks[i + 1:])
        value += lip * delta
    return Tolerance(
        value=value,
        scale=max(scales),
        formula="Σ_i Lip_{>i}·(chain_i·B_in + u·D²·(Σ_k B_k∏‖W̃‖ + m·S_i + ‖W̄_i‖B_in + ‖b̄_i‖))",
        terms={"u": u, "D": D, "blocks": len(blocks), "max δ_i": max(deltas),
               "max S_i": max(b.cancel_scale for b in blocks), "max B_in": max(b.input_bound for b in blocks)},
    )


# --- transformer networks (Theorem 7) -------------------------------------------------------------------------------


def tfn_chain_tolerance(chain: Tolerance, *, unit_roundoff: float, width: int, kind: str,
                        target_norms: tuple[float, ...],
                        calibration_norm: float = 1.0, calibration_kappa: float | None = None,
                        w1_kappa: float | None = None, w1_norm: float | None = None,
                        chain_target_norm: float | None = None) -> Tolerance:
    """Tolerance for the residual of one two-factor chain of the Theorem 7 construction (arXiv 2310.17513v3,
    Theorem 7, pp. 8 and 37–39): the Lemma 1 ``chain`` tolerance plus the rounding its *computed target* carries,
    which the chain cannot remove when the discrepancy is numerically zero.

    ``kind`` is ``"out"`` (target W̄_o W̄_2L), ``"QK"`` (score chain, target Cᵀ W̄_Kᵀ W̄_Q C) or ``"OV"`` (value chain,
    target W_1⁻¹ W̄_1 W̄_O W̄_V C); ``target_norms`` are the spectral norms of the target's factors
    ((‖W̄_o‖, ‖W̄_2L‖), (‖W̄_K‖, ‖W̄_Q‖) or (‖W̄_1‖, ‖W̄_O‖, ‖W̄_V‖)); ``calibration_norm`` = ‖C‖ and
    ``calibration_kappa`` = κ of the frozen W_2 solved with to form C (``None`` in block 1, where C = I exactly);
    for ``"OV"``, ``w1_kappa`` = κ(W_1), ``w1_norm`` = ‖W_1‖₂ and ``chain_target_norm`` = ‖W_1⁻¹W̄_1W̄_OW̄_V C‖₂
    as computed.

    With uD² = u·D² (one product or one backward-stable solve, module docstring):

    * the calibration C = W̄_2 W_2⁻¹ is off by δC ≲ uD²·κ(W_2)·‖C‖ (a solve);
    * output: forming W̄_o W̄_2L costs uD²·‖W̄_o‖‖W̄_2L‖;
    * scores: three products with ‖C‖‖C‖‖W̄_K‖‖W̄_Q‖, and δC entering on either side::

          uD²·3·‖C‖²·‖W̄_K‖‖W̄_Q‖ + 2·δC·‖C‖·‖W̄_K‖‖W̄_Q‖

    * values: three products and δC, all seen through the solve with W_1 (‖W_1⁻¹‖ = κ(W_1)/‖W_1‖), plus the solve's
      own backward error on the result::

          ‖W_1⁻¹‖·(uD²·3·‖W̄_1‖‖W̄_O‖‖W̄_V‖·‖C‖ + ‖W̄_1‖‖W̄_O‖‖W̄_V‖·δC) + uD²·κ(W_1)·‖chain target‖

    * single-head values (``"V1"``, Theorem 8, App. F.1, p. 34; ``target_norms`` = (‖W̄_1‖, ‖W̄_V‖)): the chain
      (W_V, W_1) aims at W̄_1 W̄_V C directly, two products and δC, no solve::

          uD²·2·‖W̄_1‖‖W̄_V‖·‖C‖ + ‖W̄_1‖‖W̄_V‖·δC
    """
    u, D = unit_roundoff, width
    uD2 = u * D ** 2
    Cn = calibration_norm
    if kind == "out":
        form = math.prod((uD2,) + tuple(target_norms))
    else:
        c_err = uD2 * calibration_kappa * Cn if calibration_kappa is not None else 0.0  # δC
        M = math.prod(target_norms)
        if kind == "QK":
            form = uD2 * 3 * Cn * Cn * M + 2 * c_err * Cn * M
        elif kind == "V1":
            form = uD2 * 2 * M * Cn + M * c_err
        elif kind == "OV":
            inv = w1_kappa / w1_norm  # ‖W_1⁻¹‖
            form = inv * (uD2 * 3 * M * Cn + M * c_err) + uD2 * w1_kappa * chain_target_norm
        else:
            raise DomainError(f"kind must be 'out', 'QK', 'OV' or 'V1'; got {kind!r}")
    return Tolerance(chain.value + form, chain.scale, chain.formula + " + target formation",
                     dict(chain.terms) | {"target formation": form})


@dataclass(frozen=True)
class TFNHeadTerms:
    """What bounds the rounding of one attention head along one network's computed activations (:func:`tfn_tolerance`).

    Token norms are the largest column norm over the N tokens; matrix norms are spectral. ``max_prob_floor`` is the
    smallest, over query columns, of the largest softmax probability of the column; ``keys`` the number of keys N.
    For the adapted network, ``score_chain``/``value_chain`` are the chains' tolerances and ``w1_kappa`` = κ(W_1)
    (``None`` for the target network)."""

    token_norm: float  # a = |Z|
    key_norm: float  # |W_K Z|
    query_norm: float  # |W_Q Z|
    value_norm: float  # |W_V Z|
    WK_norm: float
    WQ_norm: float
    WV_norm: float
    WO_norm: float
    score_form_norm: float  # ‖W_Kᵀ W_Q‖
    w1o_norm: float  # ‖W_1 W_O‖
    ov_norm: float  # ‖W_1 W_O W_V‖
    max_prob_floor: float
    keys: int
    score_chain: float | None = None
    value_chain: float | None = None
    w1_kappa: float | None = None


@dataclass(frozen=True)
class TFNBlockTerms:
    """What bounds the rounding of one transformer block along one network's computed activations.

    ``carry_kappa`` = κ(W_2)·κ(W̄_2) of the carried-bias solves of the adapted network (blocks < L), else ``None``."""

    heads: tuple[TFNHeadTerms, ...]
    token_norm: float  # a: largest token norm entering the block
    attention_norm: float  # |Attn(Z)|
    hidden_norm: float  # |ReLU(W_1 Attn(Z) + b_1)|
    W1_norm: float
    W2_norm: float
    b1_norm: float
    b2_norm: float
    carry_kappa: float | None = None


def _softmax_sensitivity(head: TFNHeadTerms, u: float) -> float:
    """s = ‖diag(p) − ppᵀ‖_{∞→1} ≤ min(2, 4(1 − max_i p_i)) per column, never below rounding (4·u·N)."""
    sat = min(2.0, 4.0 * (1.0 - head.max_prob_floor))
    return max(sat, 4.0 * u * head.keys)


def _tfn_block_injection(blk: TFNBlockTerms, uD2: float, u: float) -> tuple[float, float]:
    """(error injected by the block, its Lipschitz factor λ) for one network (see :func:`tfn_tolerance`)."""
    a, w1, w2 = blk.token_norm, blk.W1_norm, blk.W2_norm
    term, lam = 0.0, 0.0
    for hd in blk.heads:
        sat = _softmax_sensitivity(hd, u)
        kz, qz, vz, ov = hd.key_norm, hd.query_norm, hd.value_norm, hd.ov_norm
        score_err = uD2 * (hd.WK_norm * a * qz + hd.WQ_norm * a * kz + kz * qz)
        value_err = uD2 * (hd.w1o_norm * hd.WV_norm * a + w1 * hd.WO_norm * vz)
        term += sat * score_err * ov * a + value_err
        lam += ov * (1 + sat * 2 * hd.score_form_norm * a * a)
        if hd.score_chain is not None:
            term += sat * hd.score_chain * a * a * ov * a + w1 * hd.value_chain * a
            term += uD2 * hd.w1_kappa * ov * a
    term += uD2 * (w1 * blk.attention_norm + blk.b1_norm + w2 * blk.hidden_norm + blk.b2_norm)
    if blk.carry_kappa is not None:
        term += uD2 * blk.carry_kappa * (w2 * blk.hidden_norm + blk.b2_norm)
    return term, w2 * lam


def _tfn_tolerance_normwise(*, unit_roundoff: float, width: int, adapted: tuple[TFNBlockTerms, ...],
                            target: tuple[TFNBlockTerms, ...], output_norm: float, output_chain: Tolerance,
                            last_hidden_norm: float, output_bias_norm: float, output_kappa: float,
                            output_scale: float, tokens: int) -> Tolerance:
    """SUPERSEDED (kept only as the mutant "the old TFN tolerance" of the mutation registry; see :func:`tfn_tolerance`
    for the model in use). Worst-case products of norms; it did not separate R = ⌈D/2⌉ − 1 from ⌈D/2⌉.

    First-order bound on max over tokens of ‖f(X)_{:,j} − f̄(X)_{:,j}‖₂ for one input X (Theorem 7 construction,
    arXiv 2310.17513v3, Theorem 7, p. 8), evaluated along both networks' computed activations.

    * **Injected at block i** (each network; a = the largest token norm entering the block, |·| = largest token
      norm): the scores (W_K Z)ᵀ(W_Q Z) carry u·D²·(‖W_K‖a·|W_Q Z| + ‖W_Q‖a·|W_K Z| + |W_K Z|·|W_Q Z|); column-wise
      softmax maps a score perturbation δ (max-norm) to at most s·δ in the 1-norm of each attention column, with
      s = ‖diag(p) − ppᵀ‖_{∞→1} ≤ min(2, 4(1 − max_i p_i)) read off the computed probabilities p (a saturated column
      is insensitive), so the attention output moves by ≤ s·δ·‖W_1W_OW_V‖·a; the value path adds
      u·D²·(‖W_1W_O‖‖W_V‖a + ‖W_1‖‖W_O‖·|W_V Z|), the FFN and biases
      u·D²·(‖W_1‖·|Attn| + ‖b_1‖ + ‖W_2‖·|H| + ‖b_2‖). For the adapted network the chains' own tolerances enter the
      same way (score chain: δ = tol·a², value chain: ‖W_1‖·tol·a), and each solve with W_1, W_2, W̄_2 or W̃_o adds
      u·D²·κ·(the magnitude it feeds).
    * **Carried through block j > i** by λ_j = ‖W_2‖Σ_h‖W_1W_OW_V‖(1 + 2s‖W_KᵀW_Q‖a_j²) (a perturbation δ of the
      tokens moves the scores by ≤ 2‖W_KᵀW_Q‖aδ), the larger of the adapted and target values; then by ‖W_o‖
      (``output_norm``, the larger of the two networks').
    * **Output layer**: the output chain's tolerance times the last hidden norm, and the solve for the last bias,
      u·D²·(κ(W̃_o) + 2·TOLMUL)·‖W̄_o b̄_2L‖.

    Total: ‖W_o‖·Σ_i ∏_{j>i}λ_j·inject_i + out_chain·|H_L| + u·D²·(κ(W̃_o) + 2·TOLMUL)·‖W̄_o b̄_2L‖. ``output_scale``
    (the largest output token norm) is the scale of the relative number.
    """
    u, D = unit_roundoff, width
    uD2 = u * D * D
    depth = len(adapted)
    inject = [0.0] * depth
    lam = [0.0] * depth
    for blocks in (adapted, target):
        for l, blk in enumerate(blocks):
            term, lam_l = _tfn_block_injection(blk, uD2, u)
            inject[l] += term
            lam[l] = max(lam[l], lam_l)
    total = 0.0
    for i, r in enumerate(inject):
        total += math.prod(lam[i + 1:]) * r
    value = (output_norm * total + output_chain.value * last_hidden_norm
             + uD2 * (output_kappa + 2 * LAPACK_TOLMUL) * output_bias_norm)
    return Tolerance(value=value, scale=output_scale,
                     formula="‖W_o‖·Σ_i ∏_{j>i}λ_j·inject_i + out_chain·h_L + u·D²·(κ(W̃_o) + 2·TOLMUL)·‖W̄_o b̄_2L‖",
                     terms={"u": u, "D": D, "L": depth, "max inject": max(inject), "max λ": max(lam),
                            "‖W_o‖": output_norm, "out_chain": output_chain.value, "N": tokens})


def gamma(n: int, unit_roundoff: float) -> float:
    """γ_n = n·u/(1 − n·u): the componentwise error factor of an n-term inner product (Higham, §3.1); ∞ once
    n·u ≥ 1, where no such bound exists (a check against it then fails as non-finite, never passes)."""
    nu = n * unit_roundoff
    return nu / (1.0 - nu) if nu < 1 else math.inf


def softmax_rounding(keys: int, unit_roundoff: float, tiny: float) -> tuple[float, float, float]:
    """(α, β, η) with |fl(softmax(s))_i − softmax(s)_i| ≤ p_i·(α·(|s_i − m| + Σ_k p_k|s_k − m|) + β) + η,
    m = max s, for one column of ``keys`` scores (first order in u; ``tiny`` = the smallest normal number).

    The column softmax is evaluated as exp(s_i − m)/Σ_k exp(s_k − m). The subtraction is off by u·|s_i − m|, which
    exp turns into the same relative error of e_i; exp itself adds ≤ 1 ulp = 2u. The denominator inherits the
    p-weighted mean of these relative errors plus γ_{N−1} for the sum, and the division adds u: α = u and
    β = 5u + γ_{N−1}. Probabilities below the normal range (exp underflows) are off by at most η = ``tiny``.
    """
    u = unit_roundoff
    return u, 5.0 * u + gamma(max(keys - 1, 0), u), tiny


def tfn_tolerance(*, unit_roundoff: float, width: int, tokens: int, token_bounds: tuple[float, ...],
                  parts: Mapping[str, float], output_scale: float, output: str = "linear") -> Tolerance:
    """First-order bound on max over tokens of ‖f(X)_{:,j} − f̄(X)_{:,j}‖₂ for one input X (Theorem 7 construction,
    arXiv 2310.17513v3, Theorem 7, p. 8), propagated along both networks' **computed activations** for this X.
    ``token_bounds`` holds one bound per output token (gathered by
    :func:`lora_theory.constructions.tfn._tfn_tolerance`); ``parts`` the largest token norm of each contribution.

    **Where the error comes from.** f(X) − f̄(X) = (computed f − exact f) − (computed f̄ − exact f̄) + (exact f −
    exact f̄), where "exact" evaluates the *float* weights in real arithmetic. Each term is a sum of local defects
    δ_s injected at sites s of one network (an intermediate activation: K Z, scores, softmax output, heads,
    pre-activations, block outputs, output), each carried to the output by the first-order sensitivity of that
    network's output to the site, J_s = ∂f/∂(site) at the computed activations (reverse mode, exact derivatives of
    the functions evaluated: matrix products, column softmax with its actual probabilities, ReLU with its actual
    pattern). For an output entry (d, j): |Σ_s J_s δ_s| ≤ Σ_s |J_s|·b_s when |δ_s| ≤ b_s entrywise, or
    Σ_s Σ_t ‖J_s[:, t]‖₂·b_s(t) when δ_s is bounded per token column t. The per-entry bounds of one token are then
    combined in the 2-norm. No norm of a product is replaced by a product of norms, so saturated softmax columns,
    small attention weights and cancellations inside a block cost what they cost on this X.

    * **Products** (every activation A·B with inner size n, in both networks): |fl(AB) − AB| ≤ γ_n·|A||B|
      entrywise, with |A|, |B| the computed operands (Higham, §3.5) — the scores (W_K Z)ᵀ(W_Q Z) (n = D), the
      projections W_K Z, W_Q Z, W_V Z, W_O(W_V Z), W_1·Attn, W_2·H, W_o Z_L (n = D), the head outputs
      (W_O W_V Z)·P (n = N); each sum of heads and each bias addition adds u·|result|.
    * **Softmax** (:func:`softmax_rounding`): p_i·(u·(|s_i − m| + Σ_k p_k|s_k − m|) + β) + η per entry. Its
      *sensitivity* to the score errors above is the exact Jacobian diag(p) − ppᵀ of each column at its computed p:
      a saturated column passes almost nothing, a flat one up to twice the score error.
    * **The construction's identities** (adapted vs target, in the target's coordinates Z̄_i = C_i Z_i of
      :mod:`lora_theory.constructions.tfn`; injected in the target network, carried by its sensitivities). Scores of
      head h of block i: Zᵀ(W̃_KᵀW̃_Q − CᵀW̄_KᵀW̄_Q C)Z, entry (k, j) ≤ δ_QK·‖z_k‖‖z_j‖. Values, at the
      pre-activation: Σ_h (W_1W̃_OW̃_V − W̄_1W̄_OW̄_V C)Z p_j ≤ Σ_h δ_OV·‖Z p_j‖₂ per token. Carry (blocks < L):
      Z̄' − C'Z' = (W̄_2 − C'W_2)H + (b̄_2 − C'b̂_2) ≤ ‖W̄_2 − C'W_2‖₂‖h_j‖ + ‖b̄_2 − C'b̂_2‖₂ per token. Output,
      added to the token's bound: (W̄_oW̄_2L − W̃_oW̃_2L)h_j + (W̄_ob̄_2L − W̃_ob̂_2L) ≤ δ_out‖h_j‖ + ‖W̄_ob̄_2L −
      W̃_ob̂_2L‖₂. The residuals of the solves for C', b̂_2 and b̂_2L do not depend on R: they are computed *a
      posteriori*, plus the rounding of computing them (γ_n·|A||B| + u·|result| entrywise, whose non-negative matrix
      bounds the error in spectral norm) — this is where the solves' amplification κ(W_2), κ(W̃_o) shows, as it
      actually is on this instance. The chain defects δ (the adapted weights' rounding fl(W + BA), the SVD and the
      solves of the Lemma 1 construction, and the formation of the chain's target, including the solve with W_1):
      for a chain that is **exact in theory**, its residual ∏W̃ − T̂ is rounding only, so its computed norm plus
      the rounding of computing it (products and merges) bounds it a posteriori, and the formation of T̂ is bounded
      the same way (for values the residual W_1T̂ − W̄_1W̄_OW̄_V C of the solve is computed); for a chain that
      **misses directions by design** (below its threshold) only rounding may enter a tolerance, so the a-priori
      chain tolerance :func:`tfn_chain_tolerance` (times ‖W_1‖₂ for values) bounds its rounding.

    * **The output softmax** (``output="softmax"``: the paper's output layer softmax(W_o Z_L), App. F.2, p. 37, over
      the D logits of each token). It is one more operation of both traced networks: its rounding is
      :func:`softmax_rounding` with D entries, and every site above reaches the output through its exact Jacobian
      diag(p) − ppᵀ at the computed probabilities. The output defect (added per token) is multiplied by
      ‖diag(p̄_j) − p̄_j p̄_jᵀ‖₂ of the target's column j. That norm is ≤ 1/2 for every p (for a unit vector x,
      xᵀ(diag(p) − ppᵀ)x is the variance of x under p, at most (max x − min x)²/4 ≤ 1/2), so the softmax is
      1/2-Lipschitz in the 2-norm per column: a logit bound τ_j gives ≤ τ_j/2 + the rounding of the two computed
      softmaxes after it. Using the Jacobian at the computed p (first order, like everything here) is tighter where
      the output saturates. ``output="linear"`` stops at the logits W_o Z_L.

    So at the threshold the bound is what rounding made of this construction on this X, and one rank below it stays
    at the rounding level (the missed singular values never enter it), while the error of the construction — a
    missed σ of a chain carried to the output — exceeds it by many orders. First order in u: terms of order u² and
    ReLU patterns that rounding could flip (pre-activations within rounding of 0) are neglected. No tuned constant.
    """
    if output not in ("linear", "softmax"):
        raise DomainError(f"output must be 'linear' or 'softmax'; got {output!r}")
    value = max(token_bounds) if token_bounds else 0.0
    out_defect = "out-defect_j" if output == "linear" else "‖J_softmax(p̄_j)‖₂·out-defect_j"
    return Tolerance(
        value=value, scale=output_scale,
        formula=f"max_j ‖Σ_s |∂f/∂s|·b_s (adapted + target rounding, identity defects)‖₂ + {out_defect}"
                + (" (through the output softmax)" if output == "softmax" else ""),
        terms={"u": unit_roundoff, "D": width, "N": tokens} | dict(parts))


# --- tuning final layers (Lemma 4) ----------------------------------------------------------------------------------


def tfl_certificate_tolerance(*, unit_roundoff: float, width: int, w1_norm: float, b1_norm: float, x_norm: float,
                              x_prime_norm: float) -> Tolerance:
    """τ = u·D²·(‖W_1‖₂(‖x‖₂ + ‖x'‖₂) + 2‖b_1‖₂): what rounding can make of ‖h(x) − h(x')‖₂ for the
    final-layers-tuning certificate (arXiv 2310.17513v3, Lemma 4, p. 7; :mod:`lora_theory.analysis.tfl`).

    The certificate solves W_1 x = u − b_1 and W_1 x' = u' − b_1 where u, u' differ in one negative entry, so
    h(x) = ReLU(u) = ReLU(u') = h(x') in exact arithmetic. The computed points x̂, x̂' are exact real numbers, and
    the backward stability of the LU solve gives ‖W_1x̂ + b_1 − u‖₂ ≲ u·D²·(‖W_1‖₂‖x̂‖₂ + ‖b_1‖₂) (forming u − b_1
    and evaluating W_1x̂ + b_1 add terms of the same form, absorbed by the D² factor). ReLU is 1-Lipschitz and
    ReLU(u) = ReLU(u') exactly (u'_k = fl(u_k − t) is still negative; the other entries are the same floats); adding
    the two points' bounds gives τ.
    """
    u, D = unit_roundoff, width
    scale = w1_norm * (x_norm + x_prime_norm) + 2 * b1_norm
    return Tolerance(value=u * D * D * scale, scale=scale, formula="u·D²·(‖W_1‖(‖x‖ + ‖x′‖) + 2‖b_1‖)",
                     terms={"u": u, "D": D, "‖W_1‖": w1_norm, "‖x‖": x_norm, "‖x′‖": x_prime_norm, "‖b_1‖": b1_norm})


def tfl_local_match_tolerance(*, unit_roundoff: float, width: int, kappa_W1: float, M_norm: float, radius: float,
                              w1_norm: float, b1_norm: float, target_norm: float, target_bias_norm: float) -> Tolerance:
    """Bound on ‖f_TFL(x) − f̄(x)‖₂ for ‖x‖₂ ≤ ρ = ``radius`` inside the positive region, for the closed-form
    final-layers-tuning network M = W̄W_1⁻¹ (:class:`lora_theory.analysis.tfl.TFLLocalMatch`), first order in u::

        u·D²·((κ(W_1) + 3)·‖M‖·(‖W_1‖ρ + ‖b_1‖) + 2(‖W̄‖ρ + ‖b̄‖))

    — the solve for M (backward stable, amplified by κ(W_1)), the rounding of h, of the new bias and of the last
    layer (three products of size ‖M‖(‖W_1‖ρ + ‖b_1‖)), and the evaluation of the target (two terms of size
    ‖W̄‖ρ + ‖b̄‖). The identity layers are exact in floating point.
    """
    u, D, rho = unit_roundoff, width, radius
    first = M_norm * (w1_norm * rho + b1_norm)
    tgt = target_norm * rho + target_bias_norm
    value = u * D * D * ((kappa_W1 + 3.0) * first + 2.0 * tgt)
    return Tolerance(value=value, scale=max(first, tgt),
                     formula="u·D²·((κ(W_1)+3)·‖M‖(‖W_1‖ρ + ‖b_1‖) + 2(‖W̄‖ρ + ‖b̄‖))",
                     terms={"u": u, "D": D, "κ(W_1)": kappa_W1, "‖M‖": M_norm, "ρ": rho,
                            "‖W_1‖": w1_norm, "‖b_1‖": b1_norm, "‖W̄‖": target_norm, "‖b̄‖": target_bias_norm})
