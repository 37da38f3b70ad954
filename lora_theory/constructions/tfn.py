"""Theorem 7 construction (claim ``theorem7``, arXiv 2310.17513v3, Theorem 7, p. 8): rank-R adapters on W_Q, W_K, W_V,
W_O of every head and block, on W_2 of the last block and on W_o, plus bias updates, make a frozen TFN equal a
same-size target TFN for **every** input X ∈ R^{D×N}, once R ≥ max_i ⌈G_i/2⌉ (≤ ⌈D/2⌉).

Recipe (the proof of Theorem 7, arXiv 2310.17513v3, pp. 38–39, with the calibration made explicit). A calibration
C_i maps adapted hidden states to target ones, Z̄_{i−1} = C_i Z_{i−1}, C_1 = I. For block i and head h:

1. **Scores.** The two-factor chain (first W_Q, second W_Kᵀ) gets the Lemma 1 construction (L = 2) towards
   C_iᵀ W̄_Kᵀ W̄_Q C_i; the adapter of the second factor, (B, A), becomes ΔW_K = (Aᵀ, Bᵀ). Then
   (W̃_K Z)ᵀ(W̃_Q Z) = Z̄ᵀ W̄_Kᵀ W̄_Q Z̄: the score matrices, hence the softmax matrices, coincide.
2. **Values/outputs.** The chain (first W_V, second W_O) towards W_1⁻¹ W̄_1 W̄_O W̄_V C_i (a solve with the unadapted
   W_1, which absorbs it): W_1 W̃_O W̃_V Z = W̄_1 W̄_O W̄_V Z̄.
3. **Biases.** b̂_1 = b̄_1, so H_i = H̄_i exactly.
4. **Carry.** For i < L: b̂_2 = W_2 W̄_2⁻¹ b̄_2 and C_{i+1} = W̄_2 W_2⁻¹ (solves).

Output: the chain (first W_2L, second W_o) towards W̄_o W̄_2L, then b̂_2L = W̃_o⁻¹ W̄_o b̄_2L. Each two-factor chain is
exact iff 2R ≥ rank of its discrepancy, whose ranks are the gaps G_i (:func:`tfn_gaps`). Nothing is linearised, so no
domain is needed. Every matrix solved with is certified first; a failure raises SingularityError naming block, head
and matrix. W_1 (all blocks) and W_2 (blocks < L) are never adapted.

The constructions match the **logits** W̃_o Z_L = W̄_o Z̄_L; the paper's output layer softmax(W_o Z_L) (App. F.2,
p. 37), the default of :class:`lora_theory.models.TFN`, is a fixed map applied to equal matrices, so the outputs
agree too. :meth:`TFNConstruction.tolerance` carries the rounding through that softmax (``output="linear"`` gives
the logits' tolerance).

**Single-head TFN** (claim ``theorem8``, arXiv 2310.17513v3, Theorem 8, App. F.1, p. 34;
:func:`construct_tfn_single_head`). The block is W_V Z softmax((W_K Z)ᵀ(W_Q Z)), with no W_O, and the adapters sit
on W_K, W_Q, W_V and **W_1 of every block**, W_2 of the last block and W_o. Step 2 becomes the chain (first W_V,
second W_1) towards W̄_1 W̄_V C_i directly (no solve with W_1): W̃_1 W̃_V Z = W̄_1 W̄_V Z̄. Everything else is as
above; the gaps are those of eq. (23) without W_O (:func:`tfn_gaps` on single-head models).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.linear import LinearConstruction, checked_solve, construct_linear
from lora_theory.errors import AssumptionViolated, DomainError, NonFiniteError, SingularityError
from lora_theory.models import (
    HEAD_MATRICES,
    TFN,
    TFN_OUTPUTS,
    TFNBlock,
    check_sequence_input,
    check_tfn_pair,
    column_softmax,
)
from lora_theory.numerics import discrepancy_rank_floor, singular_values, spectral_norm, unit_roundoff
from lora_theory.tolerance import (
    LAPACK_TOLMUL,
    TFNBlockTerms,
    TFNHeadTerms,
    Tolerance,
    _tfn_tolerance_normwise,
    gamma,
    softmax_rounding,
    tfn_chain_tolerance,
    tfn_tolerance,
)
from lora_theory.validation import check_rank

__all__ = ["TFNConstruction", "construct_tfn", "construct_tfn_single_head", "tfn_gaps"]


def _product_with_error(factors: list[torch.Tensor]) -> tuple[torch.Tensor, float]:
    """F_k⋯F_1 (``factors`` applied right to left, i.e. the usual matrix product of the list) and a bound on its
    rounding: (k − 1)·γ_D·‖|F_1|⋯|F_k|‖₂ (entrywise product bound, first order)."""
    prod, bound = factors[0], factors[0].abs()
    for F_ in factors[1:]:
        prod, bound = prod @ F_, bound @ F_.abs()
    D = factors[0].shape[0]
    return prod, (len(factors) - 1) * gamma(D, unit_roundoff(prod.dtype)) * spectral_norm(bound)


def _gap_rank(target_factors: list[torch.Tensor], frozen_factors: list[torch.Tensor]) -> int:
    """rank(∏ target factors − ∏ frozen factors) against the rounding floor both computed products carry — the same
    rule as the constructions' (:func:`lora_theory.numerics.discrepancy_rank_floor`), never a fixed τ."""
    T, t_err = _product_with_error(target_factors)
    P, p_err = _product_with_error(frozen_factors)
    s = singular_values(T - P)
    floor = discrepancy_rank_floor(dtype=T.dtype, width=T.shape[0],
                                   weight_norms=[spectral_norm(f) for f in frozen_factors],
                                   target_norm=spectral_norm(T), product_norm=spectral_norm(P),
                                   discrepancy_norm=float(s[0])) + t_err + p_err
    return int((s > floor).sum())


def tfn_gaps(frozen: TFN, target: TFN) -> tuple[int, ...]:
    """G_1..G_L, G_{L+1} (claim ``theorem7_gap``; arXiv 2310.17513v3, Theorem 7, eq. (23), p. 37), with
    W_{2,0} = W̄_{2,0} = I::

        G_i = max_h rank(W̄_1i W̄_O W̄_V W̄_{2,i−1} − W_1i W_O W_V W_{2,i−1})
              ∨ max_h rank(W̄_{2,i−1}ᵀ W̄_Kᵀ W̄_Q W̄_{2,i−1} − W_{2,i−1}ᵀ W_Kᵀ W_Q W_{2,i−1}),
        G_{L+1} = rank(W̄_o W̄_2L − W_o W_2L).

    For i = 1 the value term contains W_11 and W̄_11, as in the paper's eq. (23); the score term for i = 1 has no
    W_2 factor. For single-head models (``single_head=True``) the value term is W̄_1i W̄_Vi W̄_{2,i−1} −
    W_1i W_Vi W_{2,i−1}, without W_O (claim ``theorem8``; Theorem 8, App. F.1, p. 34)."""
    check_tfn_pair(frozen, target)
    single = frozen.single_head
    D = frozen.width
    eye = torch.eye(D, dtype=frozen.dtype, device=frozen.Wo.device)
    gaps = []
    for i, (b, bb) in enumerate(zip(frozen.blocks, target.blocks)):
        P = eye if i == 0 else frozen.blocks[i - 1].W2
        Pb = eye if i == 0 else target.blocks[i - 1].W2
        g = 0
        for h in range(frozen.heads):
            if single:
                ov = _gap_rank([bb.W1, bb.WV[h], Pb], [b.W1, b.WV[h], P])
            else:
                ov = _gap_rank([bb.W1, bb.WO[h], bb.WV[h], Pb], [b.W1, b.WO[h], b.WV[h], P])
            qk = _gap_rank([Pb.T, bb.WK[h].T, bb.WQ[h], Pb], [P.T, b.WK[h].T, b.WQ[h], P])
            g = max(g, ov, qk)
        gaps.append(g)
    gaps.append(_gap_rank([target.Wo, target.blocks[-1].W2], [frozen.Wo, frozen.blocks[-1].W2]))
    return tuple(gaps)


@dataclass(frozen=True, eq=False)
class TFNConstruction:
    """Adapters (keyed ``(block, matrix, head)`` for W_Q/W_K/W_V/W_O; ``"W2_last"``, ``"Wo"``; for a single-head
    model, ``w1`` keyed by block), new biases, the two-factor chains (keys ``(block, "QK", head)``, ``(block, "OV",
    head)`` — ``(block, "V1", 0)`` for the single-head value chain (W_V, W_1) — and ``("out",)``), and the
    calibrations C_i."""

    frozen: TFN
    target: TFN
    rank: int
    head_adapters: dict[tuple[int, str, int], LoRAPair]
    w2_last: LoRAPair
    wo: LoRAPair
    b1: tuple[torch.Tensor, ...]
    b2: tuple[torch.Tensor, ...]
    chains: dict[tuple, LinearConstruction]
    calibrations: tuple[torch.Tensor, ...]
    solve_kappas: dict[str, float]
    w1: dict[int, LoRAPair] = field(default_factory=dict)

    @property
    def value_kind(self) -> str:
        """The value chain's key kind: ``"V1"`` (W_V, W_1) for single-head models, ``"OV"`` (W_V, W_O) otherwise."""
        return "V1" if self.frozen.single_head else "OV"

    def adapters(self) -> dict[str, LoRAPair]:
        """Every adapter of the allowed set, by name (e.g. ``blocks[0].WQ[1]``, ``blocks[0].W1``, ``blocks[1].W2``,
        ``Wo``)."""
        out = {f"blocks[{l}].{name}[{h}]": p for (l, name, h), p in sorted(self.head_adapters.items())}
        out |= {f"blocks[{l}].W1": p for l, p in sorted(self.w1.items())}
        out[f"blocks[{self.frozen.depth - 1}].W2"] = self.w2_last
        out["Wo"] = self.wo
        return out

    def adapted(self) -> TFN:
        L = self.frozen.depth
        blocks = []
        for l, blk in enumerate(self.frozen.blocks):
            mats = {name: tuple(self.head_adapters[(l, name, h)].merge(W) if (l, name, h) in self.head_adapters
                                else W for h, W in enumerate(getattr(blk, name)))
                    for name in HEAD_MATRICES}
            W2 = self.w2_last.merge(blk.W2) if l == L - 1 else blk.W2
            W1 = self.w1[l].merge(blk.W1) if l in self.w1 else blk.W1
            blocks.append(TFNBlock(mats["WQ"], mats["WK"], mats["WV"], mats["WO"], W1, self.b1[l], W2,
                                   self.b2[l]))
        return TFN(tuple(blocks), self.wo.merge(self.frozen.Wo), self.frozen.output, self.frozen.single_head)

    def chain_gaps(self) -> tuple[int, ...]:
        """The ranks of the discrepancies the construction factorises, per block (max over heads and over the
        score/value chains) and for the output chain — what ``tfn_gaps`` must equal."""
        L = self.frozen.depth
        per_block = [max(self.chains[(l, kind, h)].discrepancy_rank for kind in ("QK", self.value_kind)
                         for h in range(self.frozen.heads)) for l in range(L)]
        return tuple(per_block) + (self.chains[("out",)].discrepancy_rank,)

    def chain_tolerance(self, key: tuple) -> Tolerance:
        """Tolerance for chain ``key``'s residual: the Lemma 1 chain tolerance plus the rounding carried by its
        computed target (:func:`lora_theory.tolerance.tfn_chain_tolerance`; this method only gathers the norms)."""
        chain = self.chains[key]
        common = {"unit_roundoff": unit_roundoff(self.frozen.dtype), "width": self.frozen.width}
        if key == ("out",):
            return tfn_chain_tolerance(chain.tolerance(), kind="out", **common,
                                       target_norms=(spectral_norm(self.target.Wo),
                                                     spectral_norm(self.target.blocks[-1].W2)))
        l, kind, h = key
        tb = self.target.blocks[l]
        calib = {"calibration_norm": spectral_norm(self.calibrations[l]),
                 "calibration_kappa": self.solve_kappas[f"W2[{l - 1}]"] if l > 0 else None}
        if kind == "QK":
            return tfn_chain_tolerance(chain.tolerance(), kind="QK", **common, **calib,
                                       target_norms=(spectral_norm(tb.WK[h]), spectral_norm(tb.WQ[h])))
        if kind == "V1":
            return tfn_chain_tolerance(chain.tolerance(), kind="V1", **common, **calib,
                                       target_norms=(spectral_norm(tb.W1), spectral_norm(tb.WV[h])))
        return tfn_chain_tolerance(
            chain.tolerance(), kind="OV", **common, **calib,
            target_norms=(spectral_norm(tb.W1), spectral_norm(tb.WO[h]), spectral_norm(tb.WV[h])),
            w1_kappa=self.solve_kappas[f"W1[{l}]"], w1_norm=spectral_norm(self.frozen.blocks[l].W1),
            chain_target_norm=spectral_norm(chain.target))

    def is_exact_in_theory(self) -> bool:
        return all(c.is_exact_in_theory() for c in self.chains.values())

    def tolerance(self, X: torch.Tensor, output: str | None = None) -> Tolerance:
        """Tolerance on max over tokens of ‖f(X)_{:,j} − f̄(X)_{:,j}‖₂ for this input: first-order propagation of
        every rounding and every construction defect along both networks' computed activations for X
        (:func:`lora_theory.tolerance.tfn_tolerance` derives it; :func:`_tfn_tolerance` gathers it).

        ``output``: the output layer the outputs were computed with — ``"softmax"`` (softmax(W_o Z_L)) or
        ``"linear"`` (the logits W_o Z_L, :meth:`lora_theory.models.TFN.logits`); default: the frozen model's."""
        output = self.frozen.output if output is None else output
        if output not in TFN_OUTPUTS:
            raise DomainError(f"output must be one of {TFN_OUTPUTS}; got {output!r}")
        return _tfn_tolerance(self, X, output)


def _chain_error(exc: AssumptionViolated, where: str) -> SingularityError:
    return SingularityError(f"{where}: {exc}", where=f"{where}: {exc.where}", ratio=exc.ratio,
                            threshold=exc.threshold)


def _calibration(W2: torch.Tensor, W2bar: torch.Tensor, l: int):
    """C_{l+2} = W̄_2 W_2⁻¹ (as the transpose of a solve with W_2ᵀ), mapping block l+1's adapted output to the
    target's: Z̄ = C Z."""
    Ct, rec = checked_solve(W2.T, W2bar.T, f"block {l + 1}: frozen W_2", "the calibration W̄_2 W_2⁻¹",
                            claim="Theorem 7")
    return Ct.T, rec


def construct_tfn(frozen: TFN, target: TFN, rank: int) -> TFNConstruction:
    """Theorem 7 adapters of rank ≤ R and biases making ``frozen`` equal ``target`` on every input (see module doc).
    Raises ShapeError for size mismatches, RankError, and SingularityError naming block, head and matrix; a
    single-head model (no W_O to adapt) raises DomainError — use :func:`construct_tfn_single_head`."""
    check_tfn_pair(frozen, target)
    if frozen.single_head:
        raise DomainError("frozen is a single-head TFN (single_head=True): it has no W_O to adapt, so the Theorem 7 "
                          "construction does not apply; use construct_tfn_single_head (Theorem 8)")
    D, L, H = frozen.width, frozen.depth, frozen.heads
    R = check_rank(rank, "rank", width=D)
    C = torch.eye(D, dtype=frozen.dtype, device=frozen.Wo.device)
    head_adapters: dict[tuple[int, str, int], LoRAPair] = {}
    chains: dict[tuple, LinearConstruction] = {}
    calibrations = [C]
    b1, b2 = [], []
    kappas: dict[str, float] = {}
    u = unit_roundoff(frozen.dtype)
    solve_err = (D + LAPACK_TOLMUL) * gamma(D, u)  # relative backward error of one LU solve (the tolerance model's)
    cal_err = 0.0  # ‖Ĉ − C‖₂ of the current calibration (C_1 = I is exact)
    for l, (blk, tb) in enumerate(zip(frozen.blocks, target.blocks)):
        # W_1 is certified and factorised once per block; each head's value target is then one LU solve
        rhs = torch.cat([tb.W1 @ tb.WO[h] @ tb.WV[h] @ C for h in range(H)], dim=1)
        ovts, rec = checked_solve(blk.W1, rhs, f"block {l + 1}: W_1", "the value/output targets W_1⁻¹W̄_1W̄_OW̄_V C",
                                  claim="Theorem 7")
        kappas[f"W1[{l}]"] = 1.0 / rec.ratio
        gD, C_abs, C_norm, w1_norm = gamma(D, u), C.abs(), spectral_norm(C), spectral_norm(blk.W1)
        for h in range(H):
            where = f"block {l + 1}, head {h + 1}"
            # the chain targets are computed (products, the calibration Ĉ, the W_1 solve): their own error is
            # passed on, so rounding they carry is not counted as rank (construct_linear's target_error)
            kq = tb.WK[h].T @ tb.WQ[h]
            qk_err = (3 * gD * spectral_norm(C_abs.T @ tb.WK[h].abs().T @ tb.WQ[h].abs() @ C_abs)
                      + 2 * cal_err * spectral_norm(kq) * C_norm)
            try:
                qk = construct_linear([blk.WQ[h], blk.WK[h].T], C.T @ kq @ C, R, target_error=qk_err)
            except AssumptionViolated as exc:
                raise _chain_error(exc, f"{where}, score chain (W_Q, W_Kᵀ)") from None
            ovt = ovts[:, h * D:(h + 1) * D]
            rhs_err = (3 * gD * spectral_norm(tb.W1.abs() @ tb.WO[h].abs() @ tb.WV[h].abs() @ C_abs)
                       + cal_err * spectral_norm(tb.W1 @ tb.WO[h] @ tb.WV[h]))
            # forward error of the solve W_1·x = rhs: κ(W_1)·backward error·‖x‖ + ‖W_1⁻¹‖·(error of the rhs)
            ov_err = (solve_err * spectral_norm(ovt) + rhs_err / w1_norm) / rec.ratio
            try:
                ov = construct_linear([blk.WV[h], blk.WO[h]], ovt, R, target_error=ov_err)
            except AssumptionViolated as exc:
                raise _chain_error(exc, f"{where}, value/output chain (W_V, W_O)") from None
            chains[(l, "QK", h)], chains[(l, "OV", h)] = qk, ov
            head_adapters[(l, "WQ", h)] = qk.adapters[0]
            head_adapters[(l, "WK", h)] = LoRAPair(qk.adapters[1].A.T.contiguous(), qk.adapters[1].B.T.contiguous())
            head_adapters[(l, "WV", h)] = ov.adapters[0]
            head_adapters[(l, "WO", h)] = ov.adapters[1]
        b1.append(tb.b1.clone())
        if l < L - 1:
            y, rec_t = checked_solve(tb.W2, tb.b2, f"block {l + 1}: target W̄_2", "the carried bias W_2 W̄_2⁻¹ b̄_2",
                                     claim="Theorem 7")
            b2.append(blk.W2 @ y)
            C, rec_f = _calibration(blk.W2, tb.W2, l)
            cal_err = solve_err * spectral_norm(C) / rec_f.ratio  # forward error of the calibration solve
            calibrations.append(C)
            kappas[f"W2bar[{l}]"], kappas[f"W2[{l}]"] = 1.0 / rec_t.ratio, 1.0 / rec_f.ratio
    last, tlast = frozen.blocks[-1], target.blocks[-1]
    try:
        out = construct_linear([last.W2, frozen.Wo], target.Wo @ tlast.W2, R,
                               target_error=gamma(D, u) * spectral_norm(target.Wo.abs() @ tlast.W2.abs()))
    except AssumptionViolated as exc:
        raise _chain_error(exc, "output chain (W_2 of the last block, W_o)") from None
    chains[("out",)] = out
    wo = out.adapters[1]
    y, rec = checked_solve(wo.merge(frozen.Wo), target.Wo @ tlast.b2, "output layer W̃_o = W_o + ΔW_o",
                           "the last bias W̃_o⁻¹ W̄_o b̄_2L", claim="Theorem 7")
    kappas["Wo_tilde"] = 1.0 / rec.ratio
    b2.append(y)
    return TFNConstruction(frozen, target, R, head_adapters, out.adapters[0], wo, tuple(b1), tuple(b2), chains,
                           tuple(calibrations), kappas)


def construct_tfn_single_head(frozen: TFN, target: TFN, rank: int) -> TFNConstruction:
    """Theorem 8 adapters (claim ``theorem8``; arXiv 2310.17513v3, Theorem 8, App. F.1, p. 34) of rank ≤ R on W_K,
    W_Q, W_V and W_1 of every block, on W_2 of the last block and on W_o, and new biases, making a single-head
    ``frozen`` TFN equal the single-head ``target`` on every input once R ≥ max_i ⌈G_i/2⌉ (module doc).

    Per block i (calibration C_1 = I, C_{i+1} = W̄_2i W_2i⁻¹): the score chain (W_Q, W_Kᵀ) towards C_iᵀW̄_KᵀW̄_Q C_i as
    in Theorem 7; the value chain (first W_V, second W_1) towards W̄_1 W̄_V C_i; b̂_1 = b̄_1; for i < L,
    b̂_2 = W_2 W̄_2⁻¹ b̄_2. Output chain (W_2L, W_o) towards W̄_o W̄_2L and b̂_2L = W̃_o⁻¹W̄_o b̄_2L.

    Assumption 3 (App. F.1, p. 33) asks the matrices solved with to be non-singular; each is certified first, and
    a failure raises SingularityError naming block, chain and matrix. Raises ShapeError for size mismatches,
    RankError, and DomainError when the models are not single-head (``single_head=True``)."""
    check_tfn_pair(frozen, target)
    if not frozen.single_head:
        raise DomainError("frozen must be a single-head TFN (single_head=True, built with single_head_block): "
                          "Theorem 8 is the single-head theorem; use construct_tfn (Theorem 7) for multi-head models")
    D, L = frozen.width, frozen.depth
    R = check_rank(rank, "rank", width=D)
    C = torch.eye(D, dtype=frozen.dtype, device=frozen.Wo.device)
    head_adapters: dict[tuple[int, str, int], LoRAPair] = {}
    w1: dict[int, LoRAPair] = {}
    chains: dict[tuple, LinearConstruction] = {}
    calibrations = [C]
    b1, b2 = [], []
    kappas: dict[str, float] = {}
    u = unit_roundoff(frozen.dtype)
    gD = gamma(D, u)
    solve_err = (D + LAPACK_TOLMUL) * gD  # relative backward error of one LU solve (the tolerance model's)
    cal_err = 0.0  # ‖Ĉ − C‖₂ of the current calibration (C_1 = I is exact)
    for l, (blk, tb) in enumerate(zip(frozen.blocks, target.blocks)):
        where = f"block {l + 1}"
        C_abs, C_norm = C.abs(), spectral_norm(C)
        kq = tb.WK[0].T @ tb.WQ[0]
        qk_err = (3 * gD * spectral_norm(C_abs.T @ tb.WK[0].abs().T @ tb.WQ[0].abs() @ C_abs)
                  + 2 * cal_err * spectral_norm(kq) * C_norm)
        try:
            qk = construct_linear([blk.WQ[0], blk.WK[0].T], C.T @ kq @ C, R, target_error=qk_err)
        except AssumptionViolated as exc:
            raise _chain_error(exc, f"{where}, score chain (W_Q, W_Kᵀ)") from None
        v1 = tb.W1 @ tb.WV[0]
        v1_err = 2 * gD * spectral_norm(tb.W1.abs() @ tb.WV[0].abs() @ C_abs) + cal_err * spectral_norm(v1)
        try:
            vc = construct_linear([blk.WV[0], blk.W1], v1 @ C, R, target_error=v1_err)
        except AssumptionViolated as exc:
            raise _chain_error(exc, f"{where}, value chain (W_V, W_1)") from None
        chains[(l, "QK", 0)], chains[(l, "V1", 0)] = qk, vc
        head_adapters[(l, "WQ", 0)] = qk.adapters[0]
        head_adapters[(l, "WK", 0)] = LoRAPair(qk.adapters[1].A.T.contiguous(), qk.adapters[1].B.T.contiguous())
        head_adapters[(l, "WV", 0)] = vc.adapters[0]
        w1[l] = vc.adapters[1]
        b1.append(tb.b1.clone())
        if l < L - 1:
            y, rec_t = checked_solve(tb.W2, tb.b2, f"block {l + 1}: target W̄_2", "the carried bias W_2 W̄_2⁻¹ b̄_2",
                                     claim="Theorem 8")
            b2.append(blk.W2 @ y)
            Ct, rec_f = checked_solve(blk.W2.T, tb.W2.T, f"block {l + 1}: frozen W_2", "the calibration W̄_2 W_2⁻¹",
                                      claim="Theorem 8")
            C = Ct.T
            cal_err = solve_err * spectral_norm(C) / rec_f.ratio
            calibrations.append(C)
            kappas[f"W2bar[{l}]"], kappas[f"W2[{l}]"] = 1.0 / rec_t.ratio, 1.0 / rec_f.ratio
    last, tlast = frozen.blocks[-1], target.blocks[-1]
    try:
        out = construct_linear([last.W2, frozen.Wo], target.Wo @ tlast.W2, R,
                               target_error=gD * spectral_norm(target.Wo.abs() @ tlast.W2.abs()))
    except AssumptionViolated as exc:
        raise _chain_error(exc, "output chain (W_2 of the last block, W_o)") from None
    chains[("out",)] = out
    wo = out.adapters[1]
    y, rec = checked_solve(wo.merge(frozen.Wo), target.Wo @ tlast.b2, "output layer W̃_o = W_o + ΔW_o",
                           "the last bias W̃_o⁻¹ W̄_o b̄_2L", claim="Theorem 8")
    kappas["Wo_tilde"] = 1.0 / rec.ratio
    b2.append(y)
    return TFNConstruction(frozen, target, R, head_adapters, out.adapters[0], wo, tuple(b1), tuple(b2), chains,
                           tuple(calibrations), kappas, w1)


def _max_col(Z: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(Z, dim=-2).max()) if Z.numel() else 0.0


def _block_terms(c: TFNConstruction, net: TFN, X: torch.Tensor, adapted: bool) -> tuple[TFNBlockTerms, ...]:
    """The norms :func:`lora_theory.tolerance.tfn_tolerance` needs, along ``net``'s computed activations for X."""
    blocks = []
    for l, (blk, Z) in enumerate(zip(net.blocks, net.hidden_states(X))):
        attn = net.attention(l, Z)
        heads = []
        for h in range(net.heads):
            K, Q, V, O = blk.WK[h], blk.WQ[h], blk.WV[h], blk.WO[h]
            KZ, QZ, VZ = K @ Z, Q @ Z, V @ Z
            probs = column_softmax(KZ.transpose(-1, -2) @ QZ)
            heads.append(TFNHeadTerms(
                token_norm=_max_col(Z), key_norm=_max_col(KZ), query_norm=_max_col(QZ), value_norm=_max_col(VZ),
                WK_norm=spectral_norm(K), WQ_norm=spectral_norm(Q), WV_norm=spectral_norm(V), WO_norm=spectral_norm(O),
                score_form_norm=spectral_norm(K.T @ Q), w1o_norm=spectral_norm(blk.W1 @ O),
                ov_norm=spectral_norm(blk.W1 @ O @ V), max_prob_floor=float(probs.max(dim=-2).values.min()),
                keys=probs.shape[-2],
                score_chain=c.chains[(l, "QK", h)].tolerance().value if adapted else None,
                value_chain=c.chains[(l, "OV", h)].tolerance().value if adapted else None,
                w1_kappa=c.solve_kappas[f"W1[{l}]"] if adapted else None))
        carry = (c.solve_kappas[f"W2[{l}]"] * c.solve_kappas[f"W2bar[{l}]"]
                 if adapted and l < c.frozen.depth - 1 else None)
        blocks.append(TFNBlockTerms(
            heads=tuple(heads), token_norm=_max_col(Z), attention_norm=_max_col(attn),
            hidden_norm=_max_col(torch.relu(blk.W1 @ attn + blk.b1[:, None])), W1_norm=spectral_norm(blk.W1),
            W2_norm=spectral_norm(blk.W2), b1_norm=float(torch.linalg.vector_norm(blk.b1)),
            b2_norm=float(torch.linalg.vector_norm(blk.b2)), carry_kappa=carry))
    return tuple(blocks)


def _tfn_tolerance_normwise_gather(c: TFNConstruction, X: torch.Tensor) -> Tolerance:
    """The superseded normwise model (worst-case products of norms; it did not separate R = ⌈D/2⌉ − 1 from ⌈D/2⌉).
    Kept only as the mutant "the old TFN tolerance" of the mutation registry; never used by the suite."""
    adapted_net = c.adapted()
    adapted = _block_terms(c, adapted_net, X, adapted=True)
    target = _block_terms(c, c.target, X, adapted=False)
    wo = max(spectral_norm(adapted_net.Wo), spectral_norm(c.target.Wo))
    tlast = c.target.blocks[-1]
    hid_L = _max_col(torch.relu(tlast.W1 @ c.target.attention(c.target.depth - 1, c.target.hidden_states(X)[-2])
                                + tlast.b1[:, None]))
    scale = max(max(b.token_norm, b.attention_norm, b.hidden_norm) for b in adapted + target)
    return _tfn_tolerance_normwise(
        unit_roundoff=unit_roundoff(c.frozen.dtype), width=c.frozen.width, adapted=adapted, target=target,
        output_norm=wo, output_chain=c.chains[("out",)].tolerance(), last_hidden_norm=hid_L,
        output_bias_norm=float(torch.linalg.vector_norm(c.target.Wo @ tlast.b2)),
        output_kappa=c.solve_kappas["Wo_tilde"], output_scale=max(_max_col(c.target(X)), wo * scale),
        tokens=X.shape[-1])


# --- the output tolerance: first-order propagation along the computed activations --------------------------------


class _Sites:
    """Perturbation sites of one traced forward pass: a zero tensor added to an activation (so that the output's
    derivative with respect to it is the first-order sensitivity to an error there) and the bound on that error —
    entrywise (same shape) or per token column (shape (B, N))."""

    def __init__(self) -> None:
        self.eps: list[torch.Tensor] = []
        self.bounds: list[torch.Tensor] = []
        self.per_column: list[bool] = []
        self.group: list[str] = []

    def add(self, value: torch.Tensor, bound: torch.Tensor, group: str, *, per_column: bool = False) -> torch.Tensor:
        e = torch.zeros_like(value, requires_grad=True)
        self.eps.append(e)
        self.bounds.append(bound.detach())
        self.per_column.append(per_column)
        self.group.append(group)
        return value + e


def _col_norms(Z: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(Z.detach(), dim=-2)


def _softmax_site(S: torch.Tensor, sites: _Sites, group: str, alpha: float, beta: float, tiny: float) -> torch.Tensor:
    """column_softmax(S) with its rounding site (:func:`lora_theory.tolerance.softmax_rounding`, per entry)."""
    P = column_softmax(S)
    Pd, Sd = P.detach(), S.detach()
    gap = (Sd - Sd.max(dim=-2, keepdim=True).values).abs()
    spread = (Pd * gap).sum(dim=-2, keepdim=True)
    return sites.add(P, Pd * (alpha * (gap + spread) + beta) + tiny, group)


def _traced(net: TFN, X: torch.Tensor, sites: _Sites, group: str, defects=None,
            output: str = "linear") -> tuple[torch.Tensor, list]:
    """The forward pass of :class:`lora_theory.models.TFN` (same operations, same order) with a site after every
    rounded operation, bounded as in :func:`lora_theory.tolerance.tfn_tolerance`. ``defects`` (target network only)
    adds the construction's identity defects at the scores, pre-activations and block outputs. ``output="softmax"``
    appends the output softmax over the D logits of each token (with its rounding site). Returns the output
    and, per block, (input tokens, softmax matrices per head, hidden H) for the defect bounds."""
    u = unit_roundoff(net.dtype)
    D, N = net.width, X.shape[-1]
    gD, gN = gamma(D, u), gamma(N, u)
    alpha, beta, tiny = softmax_rounding(N, u, torch.finfo(net.dtype).tiny)
    Z = X
    record = []
    for l, blk in enumerate(net.blocks):
        aZ = Z.detach().abs()
        attn = None
        probs = []
        for h in range(net.heads):
            K, Q, V, O = blk.WK[h], blk.WQ[h], blk.WV[h], blk.WO[h]
            KZ = sites.add(K @ Z, gD * (K.abs() @ aZ), group)
            QZ = sites.add(Q @ Z, gD * (Q.abs() @ aZ), group)
            S = KZ.transpose(-1, -2) @ QZ
            S = sites.add(S, gD * (KZ.detach().abs().transpose(-1, -2) @ QZ.detach().abs()), group)
            if defects is not None:
                S = sites.add(S, defects["score"][(l, h)], "defects")
            P = _softmax_site(S, sites, group, alpha, beta, tiny)
            Pd = P.detach()
            probs.append(Pd)
            VZ = sites.add(V @ Z, gD * (V.abs() @ aZ), group)
            if net.single_head:  # no W_O in the single-head block (App. F.1, p. 33)
                OVZ = VZ
            else:
                OVZ = sites.add(O @ VZ, gD * (O.abs() @ VZ.detach().abs()), group)
            head = sites.add(OVZ @ P, gN * (OVZ.detach().abs() @ Pd), group)
            if attn is None:
                attn = head
            else:
                attn = attn + head
                attn = sites.add(attn, u * attn.detach().abs(), group)
        pre = sites.add(blk.W1 @ attn, gD * (blk.W1.abs() @ attn.detach().abs()), group)
        if defects is not None:
            pre = sites.add(pre, defects["pre"][l], "defects", per_column=True)
        pre = pre + blk.b1[:, None]
        pre = sites.add(pre, u * pre.detach().abs(), group)
        Hh = torch.relu(pre)
        record.append((Z.detach(), probs, Hh.detach()))
        Z = sites.add(blk.W2 @ Hh, gD * (blk.W2.abs() @ Hh.detach().abs()), group)
        Z = Z + blk.b2[:, None]
        Z = sites.add(Z, u * Z.detach().abs(), group)
        if defects is not None and l < net.depth - 1:
            Z = sites.add(Z, defects["carry"][l], "defects", per_column=True)
    out = sites.add(net.Wo @ Z, gD * (net.Wo.abs() @ Z.detach().abs()), group)
    if output == "softmax":
        out = _softmax_site(out, sites, group, *softmax_rounding(D, u, torch.finfo(net.dtype).tiny))
    return out, record


def _propagate(out: torch.Tensor, sites: _Sites, groups: tuple[str, ...], chunk: int = 256) -> dict[str, torch.Tensor]:
    """Σ_s |∂out/∂s|·b_s per output entry (B, D, N), one tensor per site group: reverse mode, one pass per output
    entry (batched), the batch elements being independent sequences."""
    B, D, N = out.shape
    acc = {g: torch.zeros_like(out.detach()) for g in groups}
    eye = torch.eye(D * N, dtype=out.dtype, device=out.device).reshape(D * N, 1, D, N)
    for start in range(0, D * N, chunk):
        basis = eye[start:start + chunk].expand(-1, B, D, N)
        grads = torch.autograd.grad(out, sites.eps, grad_outputs=basis, is_grads_batched=True, retain_graph=True,
                                    allow_unused=True)
        for g, b, per_col, grp in zip(grads, sites.bounds, sites.per_column, sites.group):
            if g is None:
                continue
            if per_col:
                contrib = (torch.linalg.vector_norm(g, dim=-2) * b).sum(dim=-1)
            else:
                contrib = (g.abs() * b).flatten(2).sum(dim=-1)
            acc[grp].view(B, D * N)[:, start:start + chunk] += contrib.transpose(0, 1)
    return acc


def _capped(residual: float, cap: float) -> float:
    """A computed residual enters a tolerance only up to what rounding can explain (``cap``, an a-priori bound).

    The a-posteriori terms below use the *computed* residual of an identity the construction establishes; if that
    identity is broken (a bug, a mutant), its residual is a defect, not rounding, and must not widen the tolerance
    that judges the output — so the tolerance never exceeds the a-priori model, it only gets tighter."""
    return min(residual, cap)


def _residual_bound(target_m: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> float:
    """‖target − left·right‖₂ in real arithmetic, from its computed value plus the rounding of computing it
    (γ_n·|left||right| + u·|result| entrywise; a non-negative bound matrix bounds the error in spectral norm).
    ``left`` comes from a backward-stable solve, so the computed residual is capped (:func:`_capped`) at the
    a-priori solve residual (D + TOLMUL)·γ_n·‖|left||right|‖₂."""
    u = unit_roundoff(target_m.dtype)
    n = left.shape[-1]
    r = target_m - left @ right
    prod = left.abs() @ right.abs()
    bound = gamma(n, u) * prod + u * r.abs()
    mat = (lambda t: t) if r.dim() == 2 else (lambda t: t[:, None])
    cap = (n + LAPACK_TOLMUL) * gamma(n, u) * spectral_norm(mat(prod))
    return _capped(spectral_norm(mat(r)) * (1 + 2 * LAPACK_TOLMUL * u), cap) + spectral_norm(mat(bound))


def _abs_norm(M: torch.Tensor) -> float:
    """Spectral norm of a non-negative bound matrix (it bounds the spectral norm of any matrix it dominates)."""
    return spectral_norm(M)


def _chain_defect(c: TFNConstruction, key: tuple) -> float:
    """Bound on the identity defect of chain ``key`` in the units it enters the network: ‖W̃_KᵀW̃_Q − CᵀW̄_KᵀW̄_Q C‖₂
    (scores), ‖W_1W̃_OW̃_V − W̄_1W̄_OW̄_V C‖₂ (values; ‖W̃_1W̃_V − W̄_1W̄_V C‖₂ for a single head),
    ‖W̃_oW̃_2L − W̄_oW̄_2L‖₂ (output).

    A chain that is exact in theory has a residual ∏W̃ − T̂ that is rounding only: its computed norm plus the rounding
    of computing it (and of the merges W + BA) bounds it *a posteriori*; the formation of its computed target T̂
    (products, and for values the solve with W_1, whose residual is computed) is bounded in the same way. Neither
    depends on R. A chain that is not exact in theory misses directions by design; only rounding may enter a
    tolerance, so its a-priori chain tolerance (:meth:`TFNConstruction.chain_tolerance`) is used."""
    chain = c.chains[key]
    u = unit_roundoff(c.frozen.dtype)
    D = c.frozen.width
    gD = gamma(D, u)
    w1 = spectral_norm(c.frozen.blocks[key[0]].W1) if key != ("out",) else 1.0
    if not chain.is_exact_in_theory():
        return (w1 if key[1:2] == ("OV",) else 1.0) * c.chain_tolerance(key).value
    F1, F2 = chain.frozen.weights
    p1, p2 = chain.adapters
    G1, G2 = p1.merge(F1), p2.merge(F2)
    r = G2 @ G1 - chain.target

    def merge_err(p, G):
        return 2 * (gamma(max(p.rank, 1), u) * (p.B.abs() @ p.A.abs()) + u * G.abs())

    bound = gD * (G2.abs() @ G1.abs()) + u * r.abs() + merge_err(p2, G2) @ G1.abs() + G2.abs() @ merge_err(p1, G1)
    # capped at the a-priori chain tolerance: a broken chain identity must not certify itself
    rho = _capped(spectral_norm(r) * (1 + 2 * LAPACK_TOLMUL * u), c.chain_tolerance(key).value) + _abs_norm(bound)
    if key == ("out",):
        t = c.target
        return rho + gD * _abs_norm(t.Wo.abs() @ t.blocks[-1].W2.abs())
    l, kind, h = key
    tb, Cm = c.target.blocks[l], c.calibrations[l]
    if kind == "QK":
        return rho + 3 * gD * _abs_norm(Cm.abs().T @ tb.WK[h].abs().T @ tb.WQ[h].abs() @ Cm.abs())
    if kind == "V1":  # single head: the chain is W̃_1W̃_V itself, its target W̄_1W̄_V C two products
        return rho + 2 * gD * _abs_norm(tb.W1.abs() @ tb.WV[h].abs() @ Cm.abs())
    W1 = c.frozen.blocks[l].W1
    rhs = tb.W1 @ tb.WO[h] @ tb.WV[h] @ Cm
    res = W1 @ chain.target - rhs
    form = (gD * (W1.abs() @ chain.target.abs()) + 3 * gD * (tb.W1.abs() @ tb.WO[h].abs() @ tb.WV[h].abs() @ Cm.abs())
            + u * res.abs())
    solve_cap = (D + LAPACK_TOLMUL) * gD * _abs_norm(W1.abs() @ chain.target.abs())  # a-priori solve residual
    return w1 * rho + _capped(spectral_norm(res) * (1 + 2 * LAPACK_TOLMUL * u), solve_cap) + _abs_norm(form)


def _softmax_jacobian_norms(P: torch.Tensor) -> torch.Tensor:
    """‖diag(p) − ppᵀ‖₂ for every column p of P (shape (B, D, N) → (B, N)); each is ≤ 1/2."""
    p = P.detach().transpose(-1, -2)  # (B, N, D)
    J = torch.diag_embed(p) - p[..., :, None] * p[..., None, :]
    return torch.linalg.eigvalsh(J)[..., -1].clamp(min=0.0)


def _tfn_tolerance(c: TFNConstruction, X: torch.Tensor, output: str = "linear") -> Tolerance:
    """Gather the first-order bound of :func:`lora_theory.tolerance.tfn_tolerance` (derived there) for input X, at
    the logits (``output="linear"``) or after the output softmax (``"softmax"``)."""
    X = check_sequence_input(X, c.frozen.width, ("Wo", c.frozen.Wo))
    finite = torch.isfinite(X)
    if not bool(finite.all()):
        bad = tuple((~finite).nonzero()[0].tolist())
        raise NonFiniteError(f"input X contains NaN or inf (first at index {bad}; shape {tuple(X.shape)})")
    D, N, L, H = c.frozen.width, X.shape[-1], c.frozen.depth, c.frozen.heads
    Xb = X.reshape(-1, D, N).detach()
    anet, tnet = c.adapted(), c.target
    with torch.enable_grad():
        sites = _Sites()
        out_a, rec = _traced(anet, Xb, sites, "adapted", output=output)
        acc_a = _propagate(out_a, sites, ("adapted",))["adapted"]
        defects: dict[str, dict] = {"score": {}, "pre": {}, "carry": {}}
        for l, (Z, probs, Hh) in enumerate(rec):
            zn = _col_norms(Z)
            pre = torch.zeros_like(zn)
            for h in range(H):
                defects["score"][(l, h)] = _chain_defect(c, (l, "QK", h)) * zn[..., :, None] * zn[..., None, :]
                pre = pre + _chain_defect(c, (l, c.value_kind, h)) * _col_norms(Z @ probs[h])
            defects["pre"][l] = pre
            if l < L - 1:
                Cn = c.calibrations[l + 1]
                carry = _residual_bound(tnet.blocks[l].W2, Cn, c.frozen.blocks[l].W2) * _col_norms(Hh)
                defects["carry"][l] = carry + _residual_bound(tnet.blocks[l].b2, Cn, c.b2[l])
        sites_t = _Sites()
        out_t, _ = _traced(tnet, Xb, sites_t, "target", defects, output=output)
        acc_t = _propagate(out_t, sites_t, ("target", "defects"))
    h_last = _col_norms(rec[-1][2])
    out_defect = (_chain_defect(c, ("out",)) * h_last
                  + _residual_bound(tnet.Wo @ tnet.blocks[-1].b2, anet.Wo, c.b2[-1])
                  + gamma(D, unit_roundoff(X.dtype)) * _abs_norm((tnet.Wo.abs() @ tnet.blocks[-1].b2.abs())[:, None]))
    if output == "softmax":  # the logit defect seen through the output softmax: its Jacobian at the target's p (≤ 1/2)
        out_defect = out_defect * _softmax_jacobian_norms(out_t)
    per_token = torch.linalg.vector_norm(acc_a + acc_t["target"] + acc_t["defects"], dim=-2) + out_defect
    parts = {"adapted rounding": float(_col_norms(acc_a).max()),
             "target rounding": float(_col_norms(acc_t["target"]).max()),
             "identity defects": float(_col_norms(acc_t["defects"]).max()), "output defect": float(out_defect.max())}
    return tfn_tolerance(unit_roundoff=unit_roundoff(X.dtype), width=D, tokens=N,
                         token_bounds=tuple(per_token.flatten().tolist()), parts=parts,
                         output_scale=float(_col_norms(out_t).max()), output=output)
