"""The Assumption 4 checker of the multi-head transformer network (claim ``assumption4``; arXiv 2310.17513v3,
Assumption 4, App. F.2, p. 37; used by Theorem 7, p. 8, Lemma 14, p. 37, and Corollary 10, p. 39).

For a LoRA rank R ∈ [D], Assumption 4 asks that every weight matrix of the frozen and of the target TFN, and the
following matrices for every r ∈ [R] = {1, …, R}, be non-singular (C_l := W̄_{2,l−1} W_{2,l−1}⁻¹ for l > 1):

=================  ========================================================================================
family             matrix (head h of block l)
=================  ========================================================================================
``score (l = 1)``  W_KᵀW_Q + LR_r(W̄_KᵀW̄_Q − W_KᵀW_Q)
``score (l > 1)``  W_KᵀW_Q + LR_r(W_{2,l−1}⁻ᵀ W̄_{2,l−1}ᵀ W̄_KᵀW̄_Q W̄_{2,l−1} W_{2,l−1}⁻¹ − W_KᵀW_Q)
                   = W_KᵀW_Q + LR_r(C_lᵀ W̄_KᵀW̄_Q C_l − W_KᵀW_Q)
``value (l = 1)``  W_OW_V + LR_r(W_1⁻¹ W̄_1 W̄_O W̄_V − W_OW_V)
``value (l > 1)``  W_OW_V + LR_r(W_1⁻¹ W̄_1 W̄_O W̄_V W̄_{2,l−1} W_{2,l−1}⁻¹ − W_OW_V)
``output``         W_oW_2L + LR_r(W̄_oW̄_2L − W_oW_2L)
=================  ========================================================================================

:func:`assumption4_report` lists σ_min/σ_max of each of them, every entry named by (model or family, block, head, r),
and a verdict against the project's singularity threshold (σ_min/σ_max ≥ :data:`~lora_theory.numerics.SINGULARITY_
THRESHOLD` = 1e-13, as :func:`lora_theory.analysis.fnn.assumption1_report` decides; a non-finite value never passes).
LR_r is taken from the SVD of the computed discrepancy, formed exactly as the Theorem 7 construction forms its chain
targets; with tied singular values LR_r is not unique (the paper's "the best rank-r approximation"), and the SVD's
choice is the one reported. Inverses are never formed: C_l is a solve with W_{2,l−1}ᵀ and W_1⁻¹(·) a solve with W_1.
Those two are the only matrices the list inverts, so when a frozen W_1 or a frozen W_2 of a block < L is itself
numerically singular, the value/score families are undefined and the checker refuses with a
:class:`~lora_theory.errors.SingularityError` naming it (Assumption 4 fails then anyway: it lists every weight).
Weights stored in float32 are analysed in float64 (exactly the stored numbers).

**What the construction actually solves with** (:func:`lora_theory.constructions.tfn.construct_tfn` at rank R),
compared with the list (``Assumption4Entry.construction_solves``):

* frozen W_1 of every block (the value targets), frozen W_2 and target W̄_2 of every block < L (the calibration
  W̄_2W_2⁻¹ and the carried bias W_2W̄_2⁻¹b̄_2);
* frozen W_K, W_O (every head and block) and W_o — the *second* factor of each two-factor chain (W_Q, W_Kᵀ),
  (W_V, W_O), (W_2L, W_o) — whenever that chain's discrepancy is non-zero (Lemma 1's first adapter B = F_2⁻¹EV);
* of each family only the entry r = R: the adapted first factor W̃_Q (W̃_V, W̃_2L) it solves with satisfies
  W_Kᵀ·W̃_Q = W_KᵀW_Q + LR_R(·) (likewise W_O·W̃_V, W_o·W̃_2L), and it is needed only when the chain's discrepancy
  rank exceeds R. The entries r < R are listed by the paper but never used;
* one matrix the list does not name: W̃_o = W_o + ΔW_o for the last bias, with W̃_oW̃_2L = W_oW_2L +
  LR_{min(2R, G_{L+1})}(W̄_oW̄_2L − W_oW_2L). At or above the threshold that is W̄_oW̄_2L (non-singular with the
  target's weights); below it, it is the output family at r = 2R, outside the listed range r ∈ [R].

The other weights (frozen W_Q, W_V, W_2L; target W̄_Q, W̄_K, W̄_V, W̄_O, W̄_1, W̄_2L, W̄_o) are never solved with.

**Single-head TFNs** (claim ``assumption3``; arXiv 2310.17513v3, Assumption 3, App. F.1, p. 34):
:func:`assumption3_report` lists the single-head counterpart — the weights W_Q, W_K, W_V, W_1, W_2, W_o (no W_O),
value families W_1W_V + LR_r(W̄_1W̄_V(·) − W_1W_V) (no W_1⁻¹), for every r ∈ [D] as printed — in the same
:class:`Assumption4Report`/:class:`Assumption4Entry` (``assumption="Assumption 3"``, ``head=None``); the printed
l > 1 score entries W_KlW_Ql are read as the meant W_KlᵀW_Ql (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from lora_theory.errors import DomainError, SingularityError
from lora_theory.models import TFN, check_tfn_pair
from lora_theory.numerics import SINGULARITY_THRESHOLD
from lora_theory.validation import check_positive_float, check_rank

__all__ = ["FAMILIES", "WEIGHT", "Assumption4Entry", "Assumption4Report", "assumption4_report",
           "ASSUMPTION3_FAMILIES", "assumption3_report"]

#: the five families of Assumption 4, in the paper's order (p. 37)
FAMILIES = ("score (l = 1)", "score (l > 1)", "value (l = 1)", "value (l > 1)", "output")
#: the family name of a plain weight matrix entry
WEIGHT = "weight"

_HEAD_WEIGHTS = (("WQ", "W_Q"), ("WK", "W_K"), ("WV", "W_V"), ("WO", "W_O"))
#: frozen weights the construction solves with (a second chain factor or a solve; see the module doc)
_SOLVED_FROZEN_HEAD = frozenset({"W_K", "W_O"})


@dataclass(frozen=True)
class Assumption4Entry:
    """One matrix Assumption 4 lists.

    * ``family``: :data:`WEIGHT` or one of :data:`FAMILIES`;
    * ``matrix``: the weight's symbol (``W_Q``, ``W_1``, ``W_o``, …), or the family matrix's formula with its r and
      block numbers;
    * ``model``: ``"frozen"``/``"target"`` for a weight, else ``None``;
    * ``block``/``head``: 1-based (``None`` where the matrix has none: W_1, W_2, W_o, the output family);
    * ``r``: the rank of LR_r (``None`` for a weight);
    * ``ratio`` = σ_min/σ_max (NaN when the matrix could not be formed in floating point — it then fails);
      ``passed``: ratio ≥ the threshold;
    * ``construction_solves``: the Theorem 7 construction at this R solves with this matrix, or with one equivalent
      to it (module doc).
    """

    name: str
    family: str
    matrix: str
    model: str | None
    block: int | None
    head: int | None
    r: int | None
    sigma_min: float
    sigma_max: float
    ratio: float
    passed: bool
    construction_solves: bool


@dataclass(frozen=True)
class Assumption4Report:
    """Every entry of Assumption 4 for one rank R, and the verdict against ``threshold``."""

    entries: tuple[Assumption4Entry, ...]
    rank: int
    threshold: float
    #: which list this is: ``"Assumption 4"`` (multi-head, r ∈ [R]) or ``"Assumption 3"`` (single head, r ∈ [D])
    assumption: str = "Assumption 4"

    def __iter__(self) -> Iterator[Assumption4Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def holds(self) -> bool:
        """Every listed matrix is numerically non-singular (σ_min/σ_max ≥ threshold, finite)."""
        return all(e.passed for e in self.entries)

    def failing(self) -> tuple[Assumption4Entry, ...]:
        return tuple(e for e in self.entries if not e.passed)

    def worst(self) -> Assumption4Entry:
        """The entry of smallest σ_min/σ_max (a NaN ratio counts as the worst)."""
        return min(self.entries, key=lambda e: e.ratio if math.isfinite(e.ratio) else -math.inf)

    def entry(self, name: str) -> Assumption4Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def verdict(self) -> str:
        n = len(self.entries)
        # Assumption 3 lists r ∈ [D] whatever R is; R only marks what the construction solves with
        scope = f"for R={self.rank}" if self.assumption != "Assumption 3" else f"(r ∈ [D]; R={self.rank})"
        if self.holds:
            w = self.worst()
            return (f"{self.assumption} holds {scope}: all {n} listed matrices have σ_min/σ_max ≥ "
                    f"{self.threshold:.0e} (worst {w.ratio:.3e}: {w.name})")
        bad = self.failing()
        shown = "; ".join(f"{e.name} (σ_min/σ_max = {e.ratio:.3e})" for e in bad[:5])
        more = f"; … and {len(bad) - 5} more" if len(bad) > 5 else ""
        return (f"{self.assumption} fails {scope}: {len(bad)} of {n} listed matrices have σ_min/σ_max < "
                f"{self.threshold:.0e}: {shown}{more}")


def _sv_ratio(M: torch.Tensor) -> tuple[float, float, float]:
    """(σ_min, σ_max, σ_min/σ_max); NaNs when M is not finite (an overflowed product), 0 for the zero matrix."""
    if not bool(torch.isfinite(M).all()):
        return math.nan, math.nan, math.nan
    s = torch.linalg.svdvals(M)
    smin, smax = float(s[-1]), float(s[0])
    return smin, smax, (smin / smax if smax > 0 else 0.0)


def _entry(M: torch.Tensor, threshold: float, **kw) -> Assumption4Entry:
    smin, smax, ratio = _sv_ratio(M)
    return Assumption4Entry(sigma_min=smin, sigma_max=smax, ratio=ratio,
                            passed=bool(math.isfinite(ratio) and ratio >= threshold), **kw)


def _weights(net: TFN, model: str, L: int) -> list[tuple[str, str, int | None, int | None, torch.Tensor, bool]]:
    """(name, symbol, block, head, matrix, construction_solves) of every weight matrix of ``net``."""
    out = []
    for l, blk in enumerate(net.blocks):
        for h in range(net.heads):
            for attr, sym in _HEAD_WEIGHTS:
                out.append((f"{model} {sym} (block {l + 1}, head {h + 1})", sym, l + 1, h + 1, getattr(blk, attr)[h],
                            model == "frozen" and sym in _SOLVED_FROZEN_HEAD))
        out.append((f"{model} W_1 (block {l + 1})", "W_1", l + 1, None, blk.W1, model == "frozen"))
        out.append((f"{model} W_2 (block {l + 1})", "W_2", l + 1, None, blk.W2, l < L - 1))
    out.append((f"{model} W_o", "W_o", None, None, net.Wo, model == "frozen"))
    return out


def _refuse_if_singular(M: torch.Tensor, where: str, needed_for: str, threshold: float,
                        assumption: str = "Assumption 4") -> None:
    smin, smax, ratio = _sv_ratio(M)
    if not (math.isfinite(ratio) and ratio >= threshold):
        raise SingularityError(
            f"{where} is numerically singular: σ_min/σ_max = {ratio:.3e} < {threshold:.0e} (σ_min={smin:.3e}, "
            f"σ_max={smax:.3e}). {assumption} fails (it lists every weight matrix), and {needed_for} needs its "
            f"inverse, so those matrices are undefined and no report is given",
            where=where, ratio=ratio, threshold=threshold)


def _calibration(W2: torch.Tensor, W2bar: torch.Tensor) -> torch.Tensor:
    """C = W̄_2 W_2⁻¹ as the transpose of a solve with W_2ᵀ (never an explicit inverse)."""
    return torch.linalg.solve(W2.T, W2bar.T).T


def _lr_prefixes(P: torch.Tensor, T: torch.Tensor, R: int) -> list[torch.Tensor]:
    """[P + LR_r(T − P) for r = 1..R], LR_r from the SVD of the computed discrepancy; NaN matrices when it is not
    finite (the entries then fail)."""
    E = T - P
    if not bool(torch.isfinite(E).all()):
        return [torch.full_like(P, math.nan) for _ in range(R)]
    U, s, Vh = torch.linalg.svd(E)
    return [P + (U[:, :r] * s[:r]) @ Vh[:r] for r in range(1, R + 1)]


def _family_targets(frozen: TFN, target: TFN, family: str) -> list[tuple[int | None, int | None, str, torch.Tensor,
                                                                        torch.Tensor]]:
    """(block, head, formula with the block's numbers, frozen product P, computed target T) of every matrix of
    ``family`` — formed as :func:`lora_theory.constructions.tfn.construct_tfn` forms its chain targets."""
    L, H, D = frozen.depth, frozen.heads, frozen.width
    if family == "output":
        return [(None, None, "W_oW_2L + LR_{r}(W̄_oW̄_2L − W_oW_2L)", frozen.Wo @ frozen.blocks[-1].W2,
                 target.Wo @ target.blocks[-1].W2)]
    kind, first = family.split(" ", 1)
    blocks = [0] if first == "(l = 1)" else list(range(1, L))
    out = []
    for l in blocks:
        blk, tb = frozen.blocks[l], target.blocks[l]
        C = (torch.eye(D, dtype=blk.W1.dtype, device=blk.W1.device) if l == 0
             else _calibration(frozen.blocks[l - 1].W2, target.blocks[l - 1].W2))
        p = f"{l}"  # the previous block, 1-based
        if kind == "score":
            for h in range(H):
                formula = ("W_KᵀW_Q + LR_{r}(W̄_KᵀW̄_Q − W_KᵀW_Q)" if l == 0 else
                           f"W_KᵀW_Q + LR_{{r}}(W_{{2,{p}}}⁻ᵀW̄_{{2,{p}}}ᵀW̄_KᵀW̄_QW̄_{{2,{p}}}W_{{2,{p}}}⁻¹ − W_KᵀW_Q)")
                out.append((l + 1, h + 1, formula, blk.WK[h].T @ blk.WQ[h], C.T @ (tb.WK[h].T @ tb.WQ[h]) @ C))
        else:
            rhs = torch.cat([tb.W1 @ tb.WO[h] @ tb.WV[h] @ C for h in range(H)], dim=1)
            ovts = torch.linalg.solve(blk.W1, rhs)
            for h in range(H):
                formula = ("W_OW_V + LR_{r}(W_1⁻¹W̄_1W̄_OW̄_V − W_OW_V)" if l == 0 else
                           f"W_OW_V + LR_{{r}}(W_1⁻¹W̄_1W̄_OW̄_VW̄_{{2,{p}}}W_{{2,{p}}}⁻¹ − W_OW_V)")
                out.append((l + 1, h + 1, formula, blk.WO[h] @ blk.WV[h], ovts[:, h * D:(h + 1) * D]))
    return out


def assumption4_report(frozen: TFN, target: TFN, rank: int, *,
                       threshold: float = SINGULARITY_THRESHOLD) -> Assumption4Report:
    """σ_min/σ_max of every matrix Assumption 4 lists for LoRA rank R = ``rank`` (module doc), with a pass flag
    (ratio ≥ ``threshold``) and the verdict.

    Order: the frozen model's weights, the target's, then the families in the paper's order (:data:`FAMILIES`),
    each by block, head and r = 1..R. There are 2(L(4H + 2) + 1) weights and R(2HL + 1) family matrices.

    Raises ShapeError/DTypeError for a pair that is not two same-size TFNs of one dtype, RankError for a rank
    outside 1..D, DomainError for single-head models (App. F.1, not covered by this list) or for a threshold that is
    not a finite number > 0, and SingularityError naming the matrix when a frozen W_1, or a frozen W_2 of a block
    < L, is itself numerically singular (module doc)."""
    D, L, H = check_tfn_pair(frozen, target)
    if getattr(frozen, "single_head", False) or getattr(target, "single_head", False):
        raise DomainError("frozen/target are single-head TFNs (single_head=True, App. F.1): Assumption 4 lists the "
                          "multi-head matrices of App. F.2 (with W_O); the single-head model has its own Assumption 3")
    R = check_rank(rank, "rank", width=D)
    threshold = check_positive_float(threshold, "threshold")
    if frozen.dtype != torch.float64:
        frozen, target = _as_float64(frozen), _as_float64(target)
    entries = []
    for model, net in (("frozen", frozen), ("target", target)):
        for name, sym, block, head, M, solves in _weights(net, model, L):
            entries.append(_entry(M, threshold, name=name, family=WEIGHT, matrix=sym, model=model, block=block,
                                  head=head, r=None, construction_solves=solves))
    for l, blk in enumerate(frozen.blocks):
        _refuse_if_singular(blk.W1, f"frozen W_1 (block {l + 1})", f"the value families of block {l + 1}",
                            threshold)
        if l < L - 1:
            _refuse_if_singular(blk.W2, f"frozen W_2 (block {l + 1})", f"the score and value families of block "
                                f"{l + 2} (through W_{{2,{l + 1}}}⁻¹)", threshold)
    for family in FAMILIES:
        for block, head, formula, P, T in _family_targets(frozen, target, family):
            where = ", ".join(x for x in (f"block {block}" if block else "", f"head {head}" if head else "") if x)
            for r, M in enumerate(_lr_prefixes(P, T, R), start=1):
                matrix = formula.replace("{r}", str(r))
                name = f"{where + ', ' if where else ''}{family}, r = {r}: {matrix}"
                entries.append(_entry(M, threshold, name=name, family=family, matrix=matrix, model=None, block=block,
                                      head=head, r=r, construction_solves=(r == R)))
    return Assumption4Report(tuple(entries), R, threshold)


def _as_float64(net: TFN) -> TFN:
    """The same TFN in float64 (the stored numbers, exactly)."""
    from dataclasses import replace

    def up(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.float64)

    blocks = tuple(replace(b, WQ=tuple(map(up, b.WQ)), WK=tuple(map(up, b.WK)), WV=tuple(map(up, b.WV)),
                           WO=tuple(map(up, b.WO)), W1=up(b.W1), b1=up(b.b1), W2=up(b.W2), b2=up(b.b2))
                   for b in net.blocks)
    return replace(net, blocks=blocks, Wo=up(net.Wo))


# --- Assumption 3: the single-head TFN (claim assumption3; arXiv 2310.17513v3, App. F.1, p. 34) ----------------------

#: the five families of Assumption 3, in the paper's order (p. 34); the names are those of :data:`FAMILIES`, the
#: value families are the single-head ones (W_1W_V, no W_O and no W_1⁻¹)
ASSUMPTION3_FAMILIES = ("score (l = 1)", "score (l > 1)", "value (l = 1)", "value (l > 1)", "output")

_SINGLE_HEAD_WEIGHTS = (("WQ", "W_Q"), ("WK", "W_K"), ("WV", "W_V"))


def _single_head_weights(net: TFN, model: str, L: int) -> list[tuple[str, str, int | None, torch.Tensor, bool]]:
    """(name, symbol, block, matrix, construction_solves) of every weight matrix of the single-head ``net``: W_Q,
    W_K, W_V, W_1, W_2 per block and W_o (the fixed identity W_O is not a weight of the single-head block)."""
    out = []
    for l, blk in enumerate(net.blocks):
        for attr, sym in _SINGLE_HEAD_WEIGHTS:
            out.append((f"{model} {sym} (block {l + 1})", sym, l + 1, getattr(blk, attr)[0],
                        model == "frozen" and sym == "W_K"))
        out.append((f"{model} W_1 (block {l + 1})", "W_1", l + 1, blk.W1, model == "frozen"))
        out.append((f"{model} W_2 (block {l + 1})", "W_2", l + 1, blk.W2, l < L - 1))
    out.append((f"{model} W_o", "W_o", None, net.Wo, model == "frozen"))
    return out


def _single_head_family_targets(frozen: TFN, target: TFN, family: str) -> list[tuple[int | None, str, torch.Tensor,
                                                                                     torch.Tensor]]:
    """(block, formula with the block's numbers, frozen product P, computed target T) of every matrix of the
    single-head ``family`` — formed as :func:`lora_theory.constructions.tfn.construct_tfn_single_head` forms its
    chain targets (scores CᵀW̄_KᵀW̄_Q C, values W̄_1W̄_V C, output W̄_oW̄_2L)."""
    L, D = frozen.depth, frozen.width
    if family == "output":
        return [(None, "W_oW_2L + LR_{r}(W̄_oW̄_2L − W_oW_2L)", frozen.Wo @ frozen.blocks[-1].W2,
                 target.Wo @ target.blocks[-1].W2)]
    kind, first = family.split(" ", 1)
    out = []
    for l in ([0] if first == "(l = 1)" else list(range(1, L))):
        blk, tb = frozen.blocks[l], target.blocks[l]
        C = (torch.eye(D, dtype=blk.W1.dtype, device=blk.W1.device) if l == 0
             else _calibration(frozen.blocks[l - 1].W2, target.blocks[l - 1].W2))
        p = f"{l}"  # the previous block, 1-based
        if kind == "score":
            formula = ("W_KᵀW_Q + LR_{r}(W̄_KᵀW̄_Q − W_KᵀW_Q)" if l == 0 else
                       f"W_KᵀW_Q + LR_{{r}}(W_{{2,{p}}}⁻ᵀW̄_{{2,{p}}}ᵀW̄_KᵀW̄_QW̄_{{2,{p}}}W_{{2,{p}}}⁻¹ − W_KᵀW_Q)")
            out.append((l + 1, formula, blk.WK[0].T @ blk.WQ[0], C.T @ (tb.WK[0].T @ tb.WQ[0]) @ C))
        else:
            formula = ("W_1W_V + LR_{r}(W̄_1W̄_V − W_1W_V)" if l == 0 else
                       f"W_1W_V + LR_{{r}}(W̄_1W̄_VW̄_{{2,{p}}}W_{{2,{p}}}⁻¹ − W_1W_V)")
            out.append((l + 1, formula, blk.W1 @ blk.WV[0], (tb.W1 @ tb.WV[0]) @ C))
    return out


def assumption3_report(frozen: TFN, target: TFN, rank: int, *,
                       threshold: float = SINGULARITY_THRESHOLD) -> Assumption4Report:
    """σ_min/σ_max of every matrix Assumption 3 lists (arXiv 2310.17513v3, Assumption 3, App. F.1, p. 34; the
    hypothesis of Theorem 8, p. 34) for a pair of **single-head** TFNs (``single_head=True``), with a pass flag
    (ratio ≥ ``threshold``, finite) and the verdict; ``rank`` is the LoRA rank R of Theorem 8 and only decides
    which entries the construction solves with. The list (C_l := W̄_{2,l−1}W_{2,l−1}⁻¹ for l > 1):

    * every weight matrix of the frozen and of the target model: W_Q, W_K, W_V, W_1, W_2 of every block and W_o
      (the single-head block has no W_O; the model's fixed identity is not listed);
    * for **every r ∈ [D]** (so printed, p. 34: unlike Assumption 4's r ∈ [R] the list does not depend on R):
      ``score (l = 1)`` W_KᵀW_Q + LR_r(W̄_KᵀW̄_Q − W_KᵀW_Q); ``score (l > 1)`` W_KᵀW_Q + LR_r(C_lᵀW̄_KᵀW̄_QC_l −
      W_KᵀW_Q); ``value (l = 1)`` W_1W_V + LR_r(W̄_1W̄_V − W_1W_V); ``value (l > 1)`` W_1W_V + LR_r(W̄_1W̄_VC_l −
      W_1W_V); ``output`` W_oW_2L + LR_r(W̄_oW̄_2L − W_oW_2L).

    **Erratum implemented.** As printed, the score entries for l > 1 read W_KlW_Ql + LR_r(W_{2,l−1}⁻ᵀW̄_{2,l−1}ᵀ
    W̄_KlᵀW̄_QlW̄_{2,l−1}W_{2,l−1}⁻¹ − W_KlW_Ql) — without the transpose on W_Kl; the checker lists the meant
    W_KlᵀW_Ql (the l = 1 entry, Theorem 8's G_i, its proof's score condition on p. 36, and Assumption 4 all have
    it; the construction's score chain is W_KᵀW_Q).

    Entries are named by block, family and r (``"block 2, score (l > 1), r = 1: …"``; weights ``"frozen W_Q (block
    1)"``, ``"target W_o"``) with ``head = None``; order: the frozen model's weights, the target's, then the families
    in the paper's order (:data:`ASSUMPTION3_FAMILIES`), by block and r = 1..D. There are 2(5L + 1) weights and
    D(2L + 1) family matrices. LR_r, float32 and non-finite values are handled as in :func:`assumption4_report`.

    **What the construction solves with** (:func:`lora_theory.constructions.tfn.construct_tfn_single_head` at rank
    R; ``construction_solves``): frozen W_K, frozen W_1 (every block) and frozen W_o — the second factors of the
    chains (W_Q, W_Kᵀ), (W_V, W_1), (W_2L, W_o), whenever a chain's discrepancy is non-zero; frozen W_2 and target
    W̄_2 of every block < L (the calibration and the carried bias); of each family only the entry r = R (the adapted
    first factor, needed when the chain's discrepancy rank exceeds R) — the entries r ≠ R are listed but never
    used; and, not in the list, W̃_o = W_o + ΔW_o for the last bias (as in Theorem 7).

    The list inverts only the frozen W_2 of blocks < L (C_l; a solve, never an explicit inverse); when one of those
    is numerically singular the families of the next block are undefined and a SingularityError names it. (A
    singular frozen W_1 — inverted by Assumption 4's list — is simply a failing entry here.)

    Raises ShapeError/DTypeError for a pair that is not two same-size TFNs of one dtype, DomainError for multi-head
    models (Assumption 4, :func:`assumption4_report`) or a threshold that is not a finite number > 0, RankError for
    a rank outside 1..D, and SingularityError as above."""
    D, L, _ = check_tfn_pair(frozen, target)
    if not frozen.single_head:
        raise DomainError("frozen/target are multi-head TFNs (single_head=False): Assumption 3 (App. F.1) lists the "
                          "single-head matrices; the multi-head model has its own Assumption 4 (assumption4_report)")
    R = check_rank(rank, "rank", width=D)
    threshold = check_positive_float(threshold, "threshold")
    if frozen.dtype != torch.float64:
        frozen, target = _as_float64(frozen), _as_float64(target)
    entries = []
    for model, net in (("frozen", frozen), ("target", target)):
        for name, sym, block, M, solves in _single_head_weights(net, model, L):
            entries.append(_entry(M, threshold, name=name, family=WEIGHT, matrix=sym, model=model, block=block,
                                  head=None, r=None, construction_solves=solves))
    for l, blk in enumerate(frozen.blocks[:-1]):
        _refuse_if_singular(blk.W2, f"frozen W_2 (block {l + 1})", f"the score and value families of block "
                            f"{l + 2} (through W_{{2,{l + 1}}}⁻¹)", threshold, assumption="Assumption 3")
    for family in ASSUMPTION3_FAMILIES:
        for block, formula, P, T in _single_head_family_targets(frozen, target, family):
            for r, M in enumerate(_lr_prefixes(P, T, D), start=1):
                matrix = formula.replace("{r}", str(r))
                name = f"{f'block {block}, ' if block else ''}{family}, r = {r}: {matrix}"
                entries.append(_entry(M, threshold, name=name, family=family, matrix=matrix, model=None, block=block,
                                      head=None, r=r, construction_solves=(r == R)))
    return Assumption4Report(tuple(entries), R, threshold, "Assumption 3")
