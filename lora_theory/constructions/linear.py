"""Lemma 1 construction (claim ``lemma1``, arXiv 2310.17513v3, Lemma 1) and per-layer ranks (``lemma8``).

Given a frozen chain W_1..W_L, a target W̄ and ranks R_l, layer l takes the singular directions
J_l = {Σ_{j<l}R_j + 1, …, Σ_{j≤l}R_j} of E = W̄ − W_L⋯W_1 (as in the proof of Lemma 7, the detailed Lemma 1,
arXiv 2310.17513v3, App. D)::

    B_l = Suf_l⁻¹ · E V_J        (solve with Suf_l = W_L ⋯ W_{l+1})
    A_l = V_Jᵀ · Pre_l⁻¹         (solve with Pre_l = W̃_{l-1} ⋯ W̃_1, the adapted prefix)

so that T_l := Suf_l W̃_l Pre_l = T_{l-1} + E V_J V_Jᵀ and finally ∏W̃ = ∏W + LR_k(E) with k = min(ΣR_l, rank E).
The error is then σ_{k+1}(E) in the spectral norm and the tail energy in the Frobenius norm, which is optimal
(claim ``lemma1``; the lower bound holds for *any* adapters, see :func:`lora_theory.formulas`).

**Numerical rank.** Only directions with σ_i(E) above the rounding floor E carries are used
(:func:`lora_theory.numerics.discrepancy_rank_floor`: the error model of the tolerance applied to the operands that
formed E, ≈ u·D²·(L·∏‖W_l‖₂ + ‖W̄‖₂) — not a fixed relative τ); layers past them get the zero adapter. Every σ_i(E)
that is not fitted is accounted for: above the floor it is the predicted error (and the construction is not exact),
at or below it it cannot be told from rounding and is added to :meth:`LinearConstruction.tolerance`. So a
construction never reports exact while its residual exceeds its tolerance.

**Certification.** Every matrix solved with is checked first: if σ_min/σ_max < ``singular_threshold`` the
construction raises :class:`~lora_theory.errors.SingularityError` naming the layer and the matrix. Whether σ_min
is also above the rounding the computed matrix carries — so that the exact-arithmetic matrix of the hypothesis is
certified non-singular — is recorded (``SolveRecord.hypothesis_certified``: for a suffix of frozen layers its
formation floor :func:`lora_theory.tolerance.singularity_floor`; for an adapted prefix an a-posteriori bound on
‖Pre − Suf⁻¹(∏W + LR_r(E))‖₂ from the computed residual of that identity and its componentwise rounding) but is not
a reason to refuse: what is returned is certified *a posteriori*. The residual ∏W̃ − W̄ is computed, its own
rounding (:func:`lora_theory.tolerance.residual_rounding`) added, and it must lie within the tolerance of the
predicted error; if it does not, the solves are redone with one step of iterative refinement, and if it still does
not, the construction refuses with a SingularityError naming the solve of largest amplification — it never returns
adapters it cannot vouch for. The tolerance keeps every solve's amplification (n+1)·‖M⁻¹‖₂·∏‖F_j‖₂, so a hard chain
gets an honest, wide tolerance rather than a refusal (the a-priori σ_min tests refused about half of the N(0, 1/D)
chains at D = 16, L = 4 that float64 solves; see docs/numerics.md, "Off the generators"). Nothing is inverted
explicitly and ΔW is never formed densely.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair, adapted_product
from lora_theory.errors import DTypeError, ShapeError, SingularityError
from lora_theory.models import LinearChain
from lora_theory.numerics import (
    SINGULARITY_THRESHOLD,
    chain_product,
    discrepancy_rank_floor,
    sigma,
    singular_values,
    spectral_norm,
    suffix_products,
    unit_roundoff,
)
from lora_theory.tolerance import LAPACK_TOLMUL, Tolerance, chain_tolerance, gamma, residual_rounding, singularity_floor
from lora_theory.validation import as_matrix, as_square_stack, check_layer_ranks, check_positive_float, check_same_dtype

__all__ = ["SolveRecord", "LinearConstruction", "construct_linear", "checked_solve"]


@dataclass(frozen=True)
class SolveRecord:
    """One matrix the construction solved with: where it is, σ_min/σ_max, and its error amplification.

    ``ratio`` is exact when ``ratio_is_bound`` is False; otherwise it is a guaranteed *lower* bound (and
    ``amplification`` a guaranteed upper bound), obtained without a decomposition of the matrix (see
    :func:`construct_linear`).
    """

    where: str
    ratio: float
    amplification: float
    ratio_is_bound: bool = False
    #: σ_min is above the rounding the computed matrix carries, so the exact-arithmetic matrix of the hypothesis is
    #: certified non-singular. When False the construction did not refuse: its *result* was certified a posteriori
    #: instead (the residual within a tolerance that carries this solve's amplification).
    hypothesis_certified: bool = True
    #: the rounding floor of σ_min relative to σ_max (0 when bounds certified the matrix without a decomposition)
    floor_ratio: float = 0.0
    needed_for: str = ""  # what the solve produces, e.g. "layer 2's factor A_2"


@dataclass(frozen=True, eq=False)
class LinearConstruction:
    """The adapters of the Lemma 1 construction and everything needed to check them."""

    frozen: LinearChain
    target: torch.Tensor
    ranks: tuple[int, ...]
    adapters: tuple[LoRAPair, ...]
    discrepancy_singular_values: torch.Tensor
    discrepancy_rank: int
    operand_scale: float
    solves: tuple[SolveRecord, ...]
    weight_norms: tuple[float, ...]  # ‖W_l‖₂
    target_norm: float  # ‖W̄‖₂
    rank_floor: float = 0.0  # the rounding floor of E (absolute): σ_i(E) at or below it cannot be told from 0
    certified_residual: float | None = None  # ‖fl(∏W̃ − W̄)‖₂ + its rounding, checked a posteriori
    refined: bool = False  # the solves needed a step of iterative refinement to certify

    @property
    def total_rank(self) -> int:
        """k = Σ_l R_l, the rank budget."""
        return sum(self.ranks)

    def adapted_product(self) -> torch.Tensor:
        """W̃_L ⋯ W̃_1."""
        return adapted_product(self.frozen.weights, self.adapters)

    def residual(self) -> torch.Tensor:
        """∏W̃ − W̄."""
        return self.adapted_product() - self.target

    @property
    def fitted_rank(self) -> int:
        """min(k, rank E): the number of directions of E the adapters reproduce."""
        return min(self.total_rank, self.discrepancy_rank)

    @property
    def dropped_sigma(self) -> float:
        """σ_{fitted+1}(E): the largest singular value of E that the adapters do not reproduce (0 if none)."""
        return sigma(self.discrepancy_singular_values, self.fitted_rank + 1)

    @property
    def dropped_noise(self) -> float:
        """The dropped σ when it is at or below the rounding floor of E (it cannot be told from rounding, so it is
        counted in the tolerance, not predicted); 0 otherwise."""
        d = self.dropped_sigma
        return d if d <= self.rank_floor else 0.0

    def _unfitted(self) -> torch.Tensor:
        """σ_i(E) for i > fitted that are above the rounding floor (the error the construction predicts)."""
        s = self.discrepancy_singular_values[self.fitted_rank:]
        return s[s > self.rank_floor]

    def predicted_error(self) -> float:
        """The largest dropped σ_i(E) above the rounding floor: σ_{k+1}(E), the optimal spectral error, below the
        threshold; 0 once every σ_i(E) above the floor is fitted. A direction dropped although it is above the floor
        (e.g. by an explicit ``tau``) is counted here, never silently."""
        s = self._unfitted()
        return float(s[0]) if s.numel() else 0.0

    def predicted_frobenius_error(self) -> float:
        """(Σ σ_i(E)² over the dropped σ_i above the floor)^{1/2}, the optimal Frobenius error (0 when exact)."""
        s = self._unfitted()
        return float(torch.linalg.vector_norm(s)) if s.numel() else 0.0

    def is_exact_in_theory(self) -> bool:
        """Every σ_i(E) above the rounding floor is fitted (k ≥ rank E with the default threshold)."""
        return self.predicted_error() == 0.0

    def tolerance(self) -> Tolerance:
        """Tolerance for residual checks of this construction (see :mod:`lora_theory.tolerance`)."""
        frozen_prod = math.prod(self.weight_norms)
        adapted_prod = math.prod(n + p.norm_bound() for n, p in zip(self.weight_norms, self.adapters))
        return chain_tolerance(
            unit_roundoff=unit_roundoff(self.target.dtype),
            width=self.frozen.width,
            depth=self.frozen.depth,
            product_scale=max(frozen_prod, adapted_prod, self.target_norm),
            discrepancy_norm=float(self.discrepancy_singular_values[0]),
            amplifications=tuple(s.amplification for s in self.solves),
            dropped=self.dropped_noise,
        )


def _checked(M: torch.Tensor, where: str, needed_for: str, factor_norms: float, n_factors: int,
             threshold: float, floor: float, context: str, smin_lower: float | None = None,
             smax_upper: float | None = None, s: torch.Tensor | None = None,
             claim: str = "Lemma 1", refuse_floor: bool = True) -> SolveRecord:
    """Certify that M is far enough from singular to solve with, and record its amplification.

    With ``refuse_floor`` (strict, a priori) M is refused when σ_min/σ_max < ``threshold`` or when σ_min ≤ ``floor``,
    the rounding error M carries (a computed M that is singular in exact arithmetic can show σ_min/σ_max well above
    1e-13). Without it (the Lemma 1 construction, which certifies its result a posteriori) M is still refused
    when σ_min/σ_max < ``threshold`` (below it the solve amplification makes any tolerance meaningless), but σ_min
    within ``floor`` is only recorded with ``hypothesis_certified=False`` and the a-posteriori certificate decides.
    When guaranteed bounds σ_min ≥ ``smin_lower`` and σ_max ≤ ``smax_upper`` already certify both, no decomposition is
    needed.
    """
    if (smin_lower is not None and smax_upper is not None and smin_lower > floor
            and smin_lower / smax_upper >= threshold):
        return SolveRecord(where=where, ratio=smin_lower / smax_upper,
                           amplification=(n_factors + 1) * factor_norms / smin_lower, ratio_is_bound=True,
                           needed_for=needed_for)
    s = singular_values(M) if s is None else s
    smax, smin = float(s[0]), float(s[-1])
    ratio = smin / smax if smax > 0 else 0.0
    if not refuse_floor and ratio >= threshold and not smin > floor:
        return SolveRecord(where=where, ratio=ratio, amplification=(n_factors + 1) * factor_norms / smin,
                           hypothesis_certified=False, floor_ratio=max(threshold, floor / smax),
                           needed_for=needed_for)
    if not ratio >= threshold:
        raise SingularityError(
            f"{where} (needed for {needed_for}) is numerically singular: σ_min/σ_max = {ratio:.3e} < {threshold:.0e} "
            f"(σ_min={smin:.3e}, σ_max={smax:.3e}); the non-singularity hypothesis of {claim} fails ({context})",
            where=where, ratio=ratio, threshold=threshold)
    if not smin > floor:
        raise SingularityError(
            f"{where} (needed for {needed_for}) is numerically singular: σ_min = {smin:.3e} is within the rounding "
            f"error {floor:.3e} it carries (σ_min/σ_max = {ratio:.3e}, σ_max={smax:.3e}); the non-singularity "
            f"hypothesis of {claim} cannot be certified ({context})",
            where=where, ratio=ratio, threshold=floor / smax if smax > 0 else threshold)
    return SolveRecord(where=where, ratio=ratio, amplification=(n_factors + 1) * factor_norms / smin,
                       floor_ratio=floor / smax if smax > 0 else 0.0, needed_for=needed_for)


def _layer_name(l: int) -> str:
    return f"W_{l + 1}"


def construct_linear(weights: Sequence[torch.Tensor] | LinearChain, target: torch.Tensor,
                     rank: int | Sequence[int], *, tau: float | None = None,
                     singular_threshold: float = SINGULARITY_THRESHOLD,
                     require_hypothesis: bool = False, target_error: float = 0.0) -> LinearConstruction:
    """Build the Lemma 1 adapters for ``weights`` (W_1 first) → ``target`` with uniform ``rank`` R or per-layer
    ranks ``[R_1, …, R_L]`` (claims ``lemma1``, ``lemma8``).

    Shapes: every weight and the target are (D, D); adapter l is ``B: (D, r_l)``, ``A: (r_l, D)`` with
    r_l ≤ R_l the number of directions actually used.

    ``tau``: count rank E as #{σ_i > τ·max(‖W̄‖₂, ‖∏W‖₂)} instead of against the rounding floor of E (the default,
    :func:`lora_theory.numerics.discrepancy_rank_floor`). Directions it drops above the floor are still counted in
    :meth:`LinearConstruction.predicted_error` (the construction is then not exact).

    ``target_error``: a bound on the error the *computed* target already carries when it was itself formed by
    products or solves (e.g. a transformer chain's target, :func:`lora_theory.constructions.tfn.construct_tfn`); it is
    added to the rounding floor of E, so directions that the target's own rounding may have created are not counted
    as rank (they are counted in the tolerance as dropped rounding, never silently). Default 0: the target is exact
    data.

    ``require_hypothesis``: also refuse when a matrix solved with is not certified non-singular *in exact
    arithmetic* (σ_min within the rounding it carries, ``SolveRecord.hypothesis_certified`` False) even though the
    result itself certifies — the strict reading of Lemma 1's hypothesis. Default False: the result is what is
    certified (module docstring).

    Cost: one SVD of E, the singular values of each W_l, of W̄ and of ∏W, O(L) products and LU solves, and one
    a-posteriori residual. Each matrix solved with is certified by guaranteed bounds first and decomposed only when
    they do not suffice:

    * a suffix W_L⋯W_{l+1} has σ_min ≥ ∏σ_min(W_j) and σ_max ≤ ∏σ_max(W_j);
    * the adapted prefix satisfies Suf·Pre = ∏W + LR_r(E), so (Weyl) σ_min(Pre) ≥ (σ_min(∏W) − σ_1(E))/‖Suf‖,
      useful when E is small, and σ_max(Pre) ≤ ∏‖W̃_j‖.

    Raises ``ShapeError``/``DTypeError``/``NonFiniteError``/``DepthError``/``RankError`` for bad input and
    ``SingularityError`` when a matrix that must be solved with is numerically singular or the result cannot be
    certified (see the module docstring).
    """
    chain = weights if isinstance(weights, LinearChain) else LinearChain(as_square_stack(weights, "weights"))
    Ws = chain.weights
    L, D = chain.depth, chain.width
    target = as_matrix(target, "target")
    if target.shape[0] != D:
        raise ShapeError(f"target has shape {tuple(target.shape)} but the frozen chain has width D={D} "
                         f"(weights[0] has shape {tuple(Ws[0].shape)})")
    check_same_dtype([("weights[0]", Ws[0]), ("target", target)])
    ranks = check_layer_ranks(rank, depth=L, width=D)
    tau = None if tau is None else check_positive_float(tau, "tau")
    target_error = 0.0 if target_error == 0 else check_positive_float(target_error, "target_error")
    singular_threshold = check_positive_float(singular_threshold, "singular_threshold")
    context = f"D={D} L={L} ranks={list(ranks)}"

    P = chain_product(Ws)
    E = target - P
    U, s, Vh = torch.linalg.svd(E)
    s_target, s_P = singular_values(target), singular_values(P)
    target_norm = float(s_target[0])
    operand_scale = max(target_norm, float(s_P[0]))
    weight_sv = [singular_values(w) for w in Ws]
    w_max = [float(v[0]) for v in weight_sv]
    w_min = [float(v[-1]) for v in weight_sv]
    floor = discrepancy_rank_floor(dtype=target.dtype, width=D, weight_norms=w_max, target_norm=target_norm,
                                   product_norm=float(s_P[0]), discrepancy_norm=float(s[0])) + target_error
    threshold = floor if tau is None else tau * operand_scale
    rank_E = int((s > threshold).sum())
    if not isinstance(require_hypothesis, bool):
        raise DTypeError(f"require_hypothesis must be a bool; got {type(require_hypothesis).__name__}")
    parts = dict(chain=chain, target=target, P=P, ranks=ranks, U=U, s=s, Vh=Vh, s_P=s_P, w_max=w_max, w_min=w_min,
                 rank_E=rank_E, singular_threshold=singular_threshold, context=context)
    adapters, solves = _build(**parts, refine=False)
    if require_hypothesis:
        for rec in solves:
            if not rec.hypothesis_certified:
                raise SingularityError(
                    f"{rec.where} (needed for {rec.needed_for}) is numerically singular: σ_min is within the "
                    f"rounding error it carries "
                    f"(σ_min/σ_max = {rec.ratio:.3e} ≤ {rec.floor_ratio:.3e}); the non-singularity hypothesis of "
                    f"Lemma 1 cannot be certified in exact arithmetic ({context})",
                    where=rec.where, ratio=rec.ratio, threshold=rec.floor_ratio)
    c = LinearConstruction(
        frozen=chain, target=target, ranks=ranks, adapters=adapters, discrepancy_singular_values=s,
        discrepancy_rank=rank_E, operand_scale=operand_scale, solves=solves, weight_norms=tuple(w_max),
        target_norm=target_norm, rank_floor=floor)
    ok, certified = _certify(c)
    if not ok and solves:  # one step of iterative refinement per solve, then certify again
        adapters, solves = _build(**parts, refine=True)
        c = dataclasses.replace(c, adapters=adapters, solves=solves, refined=True)
        ok, certified = _certify(c)
    if not ok:
        worst = max(solves, key=lambda r: r.amplification) if solves else None
        tol = c.tolerance()
        where = worst.where if worst is not None else "the discrepancy W̄ − ∏W"
        needed = f" (needed for {worst.needed_for}, σ_min/σ_max = {worst.ratio:.3e})" if worst is not None else ""
        raise SingularityError(
            f"{where}{needed} cannot be certified: the computed residual ‖∏W̃ − W̄‖₂ plus its rounding, "
            f"{certified:.3e}, is not within the tolerance {tol.value:.3e} of the predicted error "
            f"{c.predicted_error():.3e} even after iterative refinement (largest solve amplification "
            f"{worst.amplification if worst is not None else 0.0:.3e}); the non-singularity hypothesis of Lemma 1 "
            f"cannot be certified in {target.dtype} ({context})",
            where=where, ratio=worst.ratio if worst is not None else None, threshold=singular_threshold)
    return dataclasses.replace(c, certified_residual=certified)


def _certify(c: LinearConstruction) -> tuple[bool, float]:
    """A-posteriori certificate: |‖fl(∏W̃ − W̄)‖₂ − predicted| + rounding(residual) ≤ tolerance. Returns (ok, the
    computed residual norm plus its rounding). NaN fails."""
    res = spectral_norm(c.residual())
    adapted_prod = math.prod(n + p.norm_bound() for n, p in zip(c.weight_norms, c.adapters))
    rr = residual_rounding(unit_roundoff=unit_roundoff(c.target.dtype), width=c.frozen.width, depth=c.frozen.depth,
                           product_scale=max(adapted_prod, c.target_norm))
    gap = abs(res - c.predicted_error()) + rr
    return bool(gap <= c.tolerance().value), res + rr


def _prefix_deviation(Ws: Sequence[torch.Tensor], layer: int, pre: torch.Tensor, *, P: torch.Tensor,
                      U: torch.Tensor, s: torch.Tensor, Vh: torch.Tensor, fitted: int, u: float) -> float:
    """An upper bound on ‖Pre − Suf⁻¹T‖₂ for the computed prefix Pre of 0-based ``layer`` l (Suf = W_L⋯W_{l+1} in
    1-based terms, T = ∏W + U_r·diag(s_r)·V_rᵀ with the computed SVD factors of E, r = ``fitted``): the computed
    residual ‖fl(Suf·Pre − T)‖₂ plus its rounding, divided by σ_min(Suf) less Suf's own rounding.

    The rounding is bounded *componentwise* on the actual operands (Higham, Thm 3.5 and §3.5): a product of n
    matrices is off by ≤ γ_{(n−1)D}·|F_n|⋯|F_1| entrywise, so fl(Suf)·Pre by ≤ γ_{(L−l)D}·|W_L|⋯|W_{l+1}|·|Pre|,
    ∏W by ≤ γ_{(L−1)D}·|W_L|⋯|W_1|, the rank-r term by ≤ γ_{r+1}·|U_r|·diag(s_r)·|V_r|ᵀ, the two differences by
    ≤ γ_2·(|Suf·Pre| + |T|); the spectral norm of the bound matrix is at most its Frobenius norm; the SVD's backward
    error on E is added normwise (T must be the prefix of the exact E). This is much
    tighter than the normwise u·D²·∏‖F_j‖ model when the factors are far from aligned, and rigorous to first order."""
    D, L = pre.shape[0], len(Ws)
    suf = chain_product(list(Ws[layer:])) if layer < L else torch.eye(D, dtype=pre.dtype, device=pre.device)
    abs_suf = chain_product([w.abs() for w in Ws[layer:]])
    low = (U[:, :fitted] * s[:fitted]) @ Vh[:fitted]
    T = P + low
    SP = suf @ pre
    r = spectral_norm(SP - T)
    bound = (gamma((L - layer) * D, u) * (abs_suf @ pre.abs())
             + gamma(max(L - 1, 1) * D, u) * chain_product([w.abs() for w in Ws])
             + gamma(fitted + 1, u) * ((U[:, :fitted].abs() * s[:fitted]) @ Vh[:fitted].abs())
             + gamma(2, u) * (SP.abs() + T.abs()))
    # plus the SVD's backward error on E (T is built from computed singular triplets; module docstring of
    # lora_theory.tolerance): 2(D² + 2·TOLMUL)·u·‖E‖
    rounding = (float(torch.linalg.matrix_norm(bound, ord="fro"))
                + 2.0 * (D * D + 2.0 * LAPACK_TOLMUL) * u * float(s[0]))
    sv_suf = singular_values(suf)
    n_suf = L - layer
    suf_floor = gamma(max(n_suf - 1, 0) * D, u) * float(torch.linalg.matrix_norm(abs_suf, ord="fro"))
    suf_min = float(sv_suf[-1]) - suf_floor - u * (D * D + 2.0 * LAPACK_TOLMUL) * float(sv_suf[0])
    return (r + rounding) / suf_min if suf_min > 0 else math.inf


def _solve(M: torch.Tensor, rhs: torch.Tensor, refine: bool) -> torch.Tensor:
    """M⁻¹·rhs by LU; with ``refine`` one step of iterative refinement x ← x + M⁻¹(rhs − Mx)."""
    x = torch.linalg.solve(M, rhs)
    if refine:
        x = x + torch.linalg.solve(M, rhs - M @ x)
    return x


def _build(*, chain: LinearChain, target: torch.Tensor, P: torch.Tensor, ranks: tuple[int, ...], U: torch.Tensor,
           s: torch.Tensor, Vh: torch.Tensor, s_P: torch.Tensor, w_max: list[float], w_min: list[float], rank_E: int,
           singular_threshold: float, context: str,
           refine: bool) -> tuple[tuple[LoRAPair, ...], tuple[SolveRecord, ...]]:
    """The adapters and the solve records (the a-priori checks of each matrix solved with)."""
    Ws = chain.weights
    L, D = chain.depth, chain.width
    u = unit_roundoff(target.dtype)
    dtype, device = target.dtype, target.device
    # Weyl: σ_min(∏W + LR_r(E)) ≥ σ_min(∏W) − σ_1(E), a certificate for every prefix when E is small
    prefix_floor = float(s_P[-1]) - float(s[0])
    suffix: list[torch.Tensor] | None = None
    pre = torch.eye(D, dtype=dtype, device=device)
    pre_norms = 1.0  # ∏_{j<l} ‖W̃_j‖₂ (upper bound)
    adapters: list[LoRAPair] = []
    solves: list[SolveRecord] = []
    offset = 0
    for l in range(L):
        lo, hi = offset, min(offset + ranks[l], rank_E)
        offset += ranks[l]
        if lo >= hi:
            adapters.append(LoRAPair.zeros(D, D, dtype=dtype, device=device))
            if offset < rank_E:  # a later layer still needs the prefix
                pre = Ws[l] @ pre
                pre_norms *= w_max[l]
            continue
        if suffix is None:
            suffix = suffix_products(Ws)
        J = slice(lo, hi)
        EV = U[:, J] * s[J]  # E V_J, (D, |J|)
        suf_norms = math.prod(w_max[l + 1:])
        if l < L - 1:
            suf_name = "·".join(_layer_name(j) for j in range(L - 1, l, -1))
            floor = singularity_floor(unit_roundoff=u, width=D, n_factors=L - 1 - l, factor_norms=suf_norms,
                                      sigma_max=suf_norms)
            solves.append(_checked(suffix[l], f"suffix product {suf_name}", f"layer {l + 1}'s factor B_{l + 1}",
                                   suf_norms, L - 1 - l, singular_threshold, floor, context,
                                   smin_lower=math.prod(w_min[l + 1:]), smax_upper=suf_norms, refuse_floor=False))
            B = _solve(suffix[l], EV, refine)
        else:
            B = EV
        if l > 0:
            pre_name = "·".join(f"W̃_{j + 1}" for j in range(l - 1, -1, -1))
            # Certified a posteriori: the computed Pre is compared with the exact prefix of the hypothesis,
            # Pre* = Suf⁻¹·T with Suf = W_L⋯W_l and T = ∏W + LR_lo(E): ‖Pre − Pre*‖₂ ≤ (‖fl(Suf·Pre − T)‖₂ + its
            # rounding)/σ_min(Suf). σ_min(Pre) above that (plus the SVD's own error) proves Pre* non-singular
            # (Weyl); at or below it the hypothesis cannot be certified. (An a-priori bound through ∏‖W̃_j‖ and
            # 1/∏σ_min(W_j) refused half of the Gaussian chains that float64 solves.)
            smin_lower = prefix_floor / (w_max[l] * suf_norms)
            pre_sv = None if smin_lower > 0 else singular_values(pre)
            floor = 0.0
            if pre_sv is not None:
                floor = _prefix_deviation(Ws, l, pre, P=P, U=U, s=s, Vh=Vh, fitted=lo, u=u)
                floor += u * (D * D + 2.0 * LAPACK_TOLMUL) * float(pre_sv[0])
            solves.append(_checked(pre, f"adapted prefix {pre_name} (Suf·{pre_name} = ∏W + LR_{lo}(E))",
                                   f"layer {l + 1}'s factor A_{l + 1}", pre_norms, l, singular_threshold, floor,
                                   context, smin_lower=smin_lower, smax_upper=pre_norms, s=pre_sv,
                                   refuse_floor=False))
            A = _solve(pre.T, Vh[J, :].T, refine).T
        else:
            A = Vh[J, :].clone()
        pair = LoRAPair(B, A)
        adapters.append(pair)
        if offset < rank_E:
            pre = Ws[l] @ pre + B @ (A @ pre)
            pre_norms *= w_max[l] + pair.norm_bound()
    return tuple(adapters), tuple(solves)


def checked_solve(M: torch.Tensor, rhs: torch.Tensor, where: str, needed_for: str,
                  threshold: float = SINGULARITY_THRESHOLD, claim: str = "Lemma 1") -> tuple[torch.Tensor, SolveRecord]:
    """M⁻¹·rhs by an LU solve, after certifying M (σ_min/σ_max ≥ threshold and σ_min above its rounding floor);
    raises SingularityError naming ``where`` otherwise. Returns the solution and the record (with κ(M))."""
    u = unit_roundoff(M.dtype)
    sv = singular_values(M)
    smax = float(sv[0])
    floor = singularity_floor(unit_roundoff=u, width=M.shape[0], n_factors=1, factor_norms=smax, sigma_max=smax)
    rec = _checked(M, where, needed_for, smax, 1, threshold, floor, context=f"D={M.shape[0]}", s=sv, claim=claim)
    return torch.linalg.solve(M, rhs), rec
