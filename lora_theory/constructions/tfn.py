"""Theorem 7 construction (claim ``theorem7``, arXiv 2310.17513 v3, Theorem 7): rank-R adapters on W_Q, W_K, W_V,
W_O of every head and block, on W_2 of the last block and on W_o, plus bias updates, make a frozen TFN equal a
same-size target TFN for **every** input X ∈ R^{D×N}, once R ≥ max_i ⌈G_i/2⌉ (≤ ⌈D/2⌉).

Recipe (SPEC §6.12). A calibration C_i maps adapted hidden states to target ones, Z̄_{i−1} = C_i Z_{i−1}, C_1 = I.
For block i and head h:

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

import math
from dataclasses import dataclass

import torch

from lora_theory.adapters import LoRAPair
from lora_theory.constructions.linear import LinearConstruction, checked_solve, construct_linear
from lora_theory.errors import AssumptionViolated, ShapeError, SingularityError
from lora_theory.models import HEAD_MATRICES, TFN, TFNBlock, column_softmax
from lora_theory.numerics import numerical_rank, singular_values, spectral_norm, unit_roundoff
from lora_theory.tolerance import LAPACK_TOLMUL, Tolerance
from lora_theory.validation import check_rank, check_same_dtype

__all__ = ["TFNConstruction", "construct_tfn", "tfn_gaps"]


def _gap_rank(target_m: torch.Tensor, frozen_m: torch.Tensor) -> int:
    scale = max(spectral_norm(target_m), spectral_norm(frozen_m))
    return numerical_rank(s=singular_values(target_m - frozen_m), scale=scale)


def tfn_gaps(frozen: TFN, target: TFN) -> tuple[int, ...]:
    """G_1..G_L, G_{L+1} (claim ``tfn_gap``, SPEC §6.11), with W_{2,0} = W̄_{2,0} = I::

        G_i = max_h rank(W̄_1i W̄_O W̄_V W̄_{2,i−1} − W_1i W_O W_V W_{2,i−1})
              ∨ max_h rank(W̄_{2,i−1}ᵀ W̄_Kᵀ W̄_Q W̄_{2,i−1} − W_{2,i−1}ᵀ W_Kᵀ W_Q W_{2,i−1}),
        G_{L+1} = rank(W̄_o W̄_2L − W_o W_2L).

    The i = 1 case with W_11, W̄_11 is not yet confirmed against the paper's PDF (SPEC §6.11)."""
    _check_pair(frozen, target)
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


def _check_pair(frozen: TFN, target: TFN) -> None:
    if not isinstance(frozen, TFN) or not isinstance(target, TFN):
        raise ShapeError(f"frozen and target must be TFN models; got {type(frozen).__name__} and "
                         f"{type(target).__name__}")
    for what, a, b in (("depth L", frozen.depth, target.depth), ("width D", frozen.width, target.width),
                       ("heads H", frozen.heads, target.heads)):
        if a != b:
            raise ShapeError(f"target {what}={b} differs from frozen {what}={a}: Theorem 7 needs a same-size target")
    check_same_dtype([("frozen.Wo", frozen.Wo), ("target.Wo", target.Wo)])


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
        computed target (products with the calibration C, the solve with W_1), which the chain cannot remove
        when the discrepancy is numerically zero."""
        chain = self.chains[key]
        base = chain.tolerance()
        u = unit_roundoff(self.frozen.dtype)
        uD2 = u * self.frozen.width ** 2
        if key == ("out",):
            form = uD2 * spectral_norm(self.target.Wo) * spectral_norm(self.target.blocks[-1].W2)
        else:
            l, kind, h = key
            tb = self.target.blocks[l]
            Cn = spectral_norm(self.calibrations[l])
            c_err = uD2 * self.solve_kappas.get(f"W2[{l - 1}]", 1.0) * Cn if l > 0 else 0.0  # δC
            if kind == "QK":
                M = spectral_norm(tb.WK[h]) * spectral_norm(tb.WQ[h])
                form = uD2 * 3 * Cn * Cn * M + 2 * c_err * Cn * M
            else:
                W1 = self.frozen.blocks[l].W1
                prod = spectral_norm(tb.W1) * spectral_norm(tb.WO[h]) * spectral_norm(tb.WV[h])
                inv = self.solve_kappas[f"W1[{l}]"] / spectral_norm(W1)  # ‖W_1⁻¹‖
                form = inv * (uD2 * 3 * prod * Cn + prod * c_err) + uD2 * self.solve_kappas[f"W1[{l}]"] * \
                    spectral_norm(chain.target)
        return Tolerance(base.value + form, base.scale, base.formula + " + target formation",
                         dict(base.terms) | {"target formation": form})

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
    _check_pair(frozen, target)
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


def _tfn_tolerance(c: TFNConstruction, X: torch.Tensor) -> Tolerance:
    """First-order bound on the per-token output error for input X (evaluated along the computed activations).

    * **Injected at block i** (each network, along its computed activations; a = max token norm entering the block):
      the scores (W_K Z)ᵀ(W_Q Z) carry u·D²·(‖W_K‖a·|W_Q Z| + ‖W_Q‖a·|W_K Z| + |W_K Z|·|W_Q Z|) (|·| = max token
      norm); column-wise softmax maps a score perturbation δ (max-norm) to at most s·δ in the 1-norm
      of each attention column, with s = ‖diag(p) − ppᵀ‖_{∞→1} ≤ min(2, 4(1 − max_i p_i)) read off the computed
      probabilities p (a saturated column is insensitive), so the attention output moves by ≤ s·δ·‖W_1W_OW_V‖·a; the value path adds
      u·D²·(‖W_1W_O‖‖W_V‖a + ‖W_1‖‖W_O‖·|W_V Z|), the FFN and biases u·D²·(‖W_1‖·attn + ‖b_1‖ + ‖W_2‖·h + ‖b_2‖). For the adapted network the
      chains' own tolerances enter the same way (score chain: δ = tol·a², value chain: ‖W_1‖·tol·a), and each solve
      with W_1, W_2, W̄_2 or W̃_o adds u·D²·κ·(the magnitude it feeds).
    * **Carried through block j > i** by λ_j = ‖W_2‖Σ_h‖W_1W_OW_V‖(1 + 2s‖W_KᵀW_Q‖a_j²) (a perturbation δ of the
      tokens moves the scores by ≤ 2‖W_KᵀW_Q‖aδ), the larger of the adapted and target values; then by ‖W_o‖.
    """
    u = unit_roundoff(c.frozen.dtype)
    D = c.frozen.width
    uD2 = u * D * D
    nets = {"adapted": c.adapted(), "target": c.target}
    inject = [0.0] * c.frozen.depth
    lam = [0.0] * c.frozen.depth
    scale = 0.0
    for key, net in nets.items():
        Zs = net.hidden_states(X)
        for l, blk in enumerate(net.blocks):
            a = _max_col(Zs[l])
            attn = _max_col(net.attention(l, Zs[l]))
            hid = _max_col(torch.relu(blk.W1 @ net.attention(l, Zs[l]) + blk.b1[:, None]))
            w1, w2 = spectral_norm(blk.W1), spectral_norm(blk.W2)
            term, lam_l = 0.0, 0.0
            Z = Zs[l]
            for h in range(net.heads):
                K, Q, V, O = blk.WK[h], blk.WQ[h], blk.WV[h], blk.WO[h]
                KZ, QZ, VZ = K @ Z, Q @ Z, V @ Z
                kz, qz, vz = _max_col(KZ), _max_col(QZ), _max_col(VZ)
                mk = spectral_norm(K.T @ Q)  # the bilinear form of the scores
                w1o = spectral_norm(blk.W1 @ O)
                ov = spectral_norm(blk.W1 @ O @ V)
                probs = column_softmax(KZ.transpose(-1, -2) @ QZ)
                sat = min(2.0, 4.0 * (1.0 - float(probs.max(dim=-2).values.min())))  # ‖J_softmax‖_{∞→1}, per column
                sat = max(sat, 4.0 * u * probs.shape[-2])  # never below rounding
                score_err = uD2 * (spectral_norm(K) * a * qz + spectral_norm(Q) * a * kz + kz * qz)
                value_err = uD2 * (w1o * spectral_norm(V) * a + w1 * spectral_norm(O) * vz)
                term += sat * score_err * ov * a + value_err
                lam_l += ov * (1 + sat * 2 * mk * a * a)
                if key == "adapted":
                    qk_tol, ov_tol = c.chains[(l, "QK", h)].tolerance(), c.chains[(l, "OV", h)].tolerance()
                    term += sat * qk_tol.value * a * a * ov * a + w1 * ov_tol.value * a
                    term += uD2 * c.solve_kappas[f"W1[{l}]"] * ov * a
            term += uD2 * (w1 * attn + float(torch.linalg.vector_norm(blk.b1)) + w2 * hid
                           + float(torch.linalg.vector_norm(blk.b2)))
            if key == "adapted" and l < c.frozen.depth - 1:
                kap = c.solve_kappas[f"W2[{l}]"] * c.solve_kappas[f"W2bar[{l}]"]
                term += uD2 * kap * (w2 * hid + float(torch.linalg.vector_norm(blk.b2)))
            inject[l] += term
            lam[l] = max(lam[l], w2 * lam_l)
            scale = max(scale, a, attn, hid)
    wo = max(spectral_norm(nets["adapted"].Wo), spectral_norm(c.target.Wo))
    total = 0.0
    for i, r in enumerate(inject):
        total += math.prod(lam[i + 1:]) * r
    out_chain = c.chains[("out",)].tolerance()
    hid_L = _max_col(torch.relu(c.target.blocks[-1].W1 @ c.target.attention(c.target.depth - 1,
                                                                               c.target.hidden_states(X)[-2])
                                + c.target.blocks[-1].b1[:, None]))
    b_out = float(torch.linalg.vector_norm(c.target.Wo @ c.target.blocks[-1].b2))
    value = wo * total + out_chain.value * hid_L + uD2 * (c.solve_kappas["Wo_tilde"] + 2 * LAPACK_TOLMUL) * b_out
    out_scale = max(_max_col(c.target(X)), wo * scale)
    return Tolerance(value=value, scale=out_scale,
                     formula="‖W_o‖·Σ_i ∏_{j>i}λ_j·inject_i + out_chain·h_L + u·D²·(κ(W̃_o) + 2·TOLMUL)·‖W̄_o b̄_2L‖",
                     terms={"u": u, "D": D, "L": c.frozen.depth, "max inject": max(inject), "max λ": max(lam),
                            "‖W_o‖": wo, "out_chain": out_chain.value, "N": X.shape[-1]})
