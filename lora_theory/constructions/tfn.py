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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.linear import LinearConstruction, checked_solve, construct_linear
from lora_theory.errors import AssumptionViolated, SingularityError
from lora_theory.models import HEAD_MATRICES, TFN, TFNBlock, check_tfn_pair, column_softmax
from lora_theory.numerics import numerical_rank, singular_values, spectral_norm, unit_roundoff
from lora_theory.tolerance import TFNBlockTerms, TFNHeadTerms, Tolerance, tfn_chain_tolerance, tfn_tolerance
from lora_theory.validation import check_rank

__all__ = ["TFNConstruction", "construct_tfn", "tfn_gaps"]


def _gap_rank(target_m: torch.Tensor, frozen_m: torch.Tensor) -> int:
    scale = max(spectral_norm(target_m), spectral_norm(frozen_m))
    return numerical_rank(s=singular_values(target_m - frozen_m), scale=scale)


def tfn_gaps(frozen: TFN, target: TFN) -> tuple[int, ...]:
    """G_1..G_L, G_{L+1} (claim ``tfn_gap``; arXiv 2310.17513v3, Theorem 7, eq. (23), p. 37), with
    W_{2,0} = W̄_{2,0} = I::

        G_i = max_h rank(W̄_1i W̄_O W̄_V W̄_{2,i−1} − W_1i W_O W_V W_{2,i−1})
              ∨ max_h rank(W̄_{2,i−1}ᵀ W̄_Kᵀ W̄_Q W̄_{2,i−1} − W_{2,i−1}ᵀ W_Kᵀ W_Q W_{2,i−1}),
        G_{L+1} = rank(W̄_o W̄_2L − W_o W_2L).

    For i = 1 the value term contains W_11 and W̄_11, as in the paper's eq. (23); the score term for i = 1 has no
    W_2 factor."""
    check_tfn_pair(frozen, target)
    D = frozen.width
    eye = torch.eye(D, dtype=frozen.dtype, device=frozen.Wo.device)
    gaps = []
    for i, (b, bb) in enumerate(zip(frozen.blocks, target.blocks)):
        P = eye if i == 0 else frozen.blocks[i - 1].W2
        Pb = eye if i == 0 else target.blocks[i - 1].W2
        g = 0
        for h in range(frozen.heads):
            ov = _gap_rank(bb.W1 @ bb.WO[h] @ bb.WV[h] @ Pb, b.W1 @ b.WO[h] @ b.WV[h] @ P)
            qk = _gap_rank(Pb.T @ bb.WK[h].T @ bb.WQ[h] @ Pb, P.T @ b.WK[h].T @ b.WQ[h] @ P)
            g = max(g, ov, qk)
        gaps.append(g)
    gaps.append(_gap_rank(target.Wo @ target.blocks[-1].W2, frozen.Wo @ frozen.blocks[-1].W2))
    return tuple(gaps)


@dataclass(frozen=True, eq=False)
class TFNConstruction:
    """Adapters (keyed ``(block, matrix, head)`` for W_Q/W_K/W_V/W_O; ``"W2_last"``, ``"Wo"``), new biases, the
    two-factor chains, and the calibrations C_i."""

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

    def adapters(self) -> dict[str, LoRAPair]:
        """Every adapter of the allowed set, by name (e.g. ``blocks[0].WQ[1]``, ``blocks[1].W2``, ``Wo``)."""
        out = {f"blocks[{l}].{name}[{h}]": p for (l, name, h), p in sorted(self.head_adapters.items())}
        out[f"blocks[{self.frozen.depth - 1}].W2"] = self.w2_last
        out["Wo"] = self.wo
        return out

    def adapted(self) -> TFN:
        L = self.frozen.depth
        blocks = []
        for l, blk in enumerate(self.frozen.blocks):
            mats = {name: tuple(self.head_adapters[(l, name, h)].merge(W) for h, W in enumerate(getattr(blk, name)))
                    for name in HEAD_MATRICES}
            W2 = self.w2_last.merge(blk.W2) if l == L - 1 else blk.W2
            blocks.append(TFNBlock(mats["WQ"], mats["WK"], mats["WV"], mats["WO"], blk.W1, self.b1[l], W2,
                                   self.b2[l]))
        return TFN(tuple(blocks), self.wo.merge(self.frozen.Wo))

    def chain_gaps(self) -> tuple[int, ...]:
        """The ranks of the discrepancies the construction factorises, per block (max over heads and over the
        score/value chains) and for the output chain — what ``tfn_gaps`` must equal."""
        L = self.frozen.depth
        per_block = [max(self.chains[(l, kind, h)].discrepancy_rank for kind in ("QK", "OV")
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
        return tfn_chain_tolerance(
            chain.tolerance(), kind="OV", **common, **calib,
            target_norms=(spectral_norm(tb.W1), spectral_norm(tb.WO[h]), spectral_norm(tb.WV[h])),
            w1_kappa=self.solve_kappas[f"W1[{l}]"], w1_norm=spectral_norm(self.frozen.blocks[l].W1),
            chain_target_norm=spectral_norm(chain.target))

    def is_exact_in_theory(self) -> bool:
        return all(c.is_exact_in_theory() for c in self.chains.values())

    def tolerance(self, X: torch.Tensor) -> Tolerance:
        """Tolerance on max over tokens of ‖f(X)_{:,j} − f̄(X)_{:,j}‖₂ for this input (see :func:`_tfn_tolerance`)."""
        return _tfn_tolerance(self, X)


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
    Raises ShapeError for size mismatches, RankError, and SingularityError naming block, head and matrix."""
    check_tfn_pair(frozen, target)
    D, L, H = frozen.width, frozen.depth, frozen.heads
    R = check_rank(rank, "rank", width=D)
    C = torch.eye(D, dtype=frozen.dtype, device=frozen.Wo.device)
    head_adapters: dict[tuple[int, str, int], LoRAPair] = {}
    chains: dict[tuple, LinearConstruction] = {}
    calibrations = [C]
    b1, b2 = [], []
    kappas: dict[str, float] = {}
    for l, (blk, tb) in enumerate(zip(frozen.blocks, target.blocks)):
        # W_1 is certified and factorised once per block; each head's value target is then one LU solve
        rhs = torch.cat([tb.W1 @ tb.WO[h] @ tb.WV[h] @ C for h in range(H)], dim=1)
        ovts, rec = checked_solve(blk.W1, rhs, f"block {l + 1}: W_1", "the value/output targets W_1⁻¹W̄_1W̄_OW̄_V C",
                                  claim="Theorem 7")
        kappas[f"W1[{l}]"] = 1.0 / rec.ratio
        for h in range(H):
            where = f"block {l + 1}, head {h + 1}"
            try:
                qk = construct_linear([blk.WQ[h], blk.WK[h].T], C.T @ tb.WK[h].T @ tb.WQ[h] @ C, R)
            except AssumptionViolated as exc:
                raise _chain_error(exc, f"{where}, score chain (W_Q, W_Kᵀ)") from None
            ovt = ovts[:, h * D:(h + 1) * D]
            try:
                ov = construct_linear([blk.WV[h], blk.WO[h]], ovt, R)
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
            calibrations.append(C)
            kappas[f"W2bar[{l}]"], kappas[f"W2[{l}]"] = 1.0 / rec_t.ratio, 1.0 / rec_f.ratio
    last, tlast = frozen.blocks[-1], target.blocks[-1]
    try:
        out = construct_linear([last.W2, frozen.Wo], target.Wo @ tlast.W2, R)
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


def _tfn_tolerance(c: TFNConstruction, X: torch.Tensor) -> Tolerance:
    """Gather the norms along both networks' computed activations for X and evaluate the transformer tolerance model
    (:func:`lora_theory.tolerance.tfn_tolerance`, where the bound is derived)."""
    adapted_net = c.adapted()
    adapted = _block_terms(c, adapted_net, X, adapted=True)
    target = _block_terms(c, c.target, X, adapted=False)
    wo = max(spectral_norm(adapted_net.Wo), spectral_norm(c.target.Wo))
    tlast = c.target.blocks[-1]
    hid_L = _max_col(torch.relu(tlast.W1 @ c.target.attention(c.target.depth - 1, c.target.hidden_states(X)[-2])
                                + tlast.b1[:, None]))
    scale = max(max(b.token_norm, b.attention_norm, b.hidden_norm) for b in adapted + target)
    return tfn_tolerance(
        unit_roundoff=unit_roundoff(c.frozen.dtype), width=c.frozen.width, adapted=adapted, target=target,
        output_norm=wo, output_chain=c.chains[("out",)].tolerance(), last_hidden_norm=hid_L,
        output_bias_norm=float(torch.linalg.vector_norm(c.target.Wo @ tlast.b2)),
        output_kappa=c.solve_kappas["Wo_tilde"], output_scale=max(_max_col(c.target(X)), wo * scale),
        tokens=X.shape[-1])
