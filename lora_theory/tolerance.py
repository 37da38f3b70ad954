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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Tolerance", "chain_tolerance", "singularity_floor", "BlockErrorTerms", "fnn_tolerance", "LAPACK_TOLMUL"]

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
        return f"{self.value:.3e} = {self.formula} with {terms}"


def chain_tolerance(*, unit_roundoff: float, width: int, depth: int, product_scale: float,
                    discrepancy_norm: float, amplifications: tuple[float, ...] = ()) -> Tolerance:
    """Tolerance for a residual of a linear chain adapted by LoRA (see the module docstring for the derivation).

    ``product_scale`` = max(∏‖W_l‖₂, ∏‖W̃_l‖₂, ‖W̄‖₂); ``amplifications`` = one ``(n+1)·‖M⁻¹‖₂·∏‖F_j‖₂`` per solve.
    """
    u, D, L = unit_roundoff, width, depth
    products = (2 * L + 1) * product_scale
    svd = 2.0 * (D * D + 2.0 * LAPACK_TOLMUL) * discrepancy_norm
    solves = discrepancy_norm * float(sum(amplifications))
    value = u * (D * D * (products + solves) + svd)
    return Tolerance(
        value=value,
        scale=max(product_scale, discrepancy_norm),
        formula="u·(D²·((2L+1)·scale_prod + ‖E‖·Σamp) + 2(D² + 2·TOLMUL)·‖E‖)",
        terms={"u": u, "D": D, "L": L, "scale_prod": product_scale, "‖E‖": discrepancy_norm,
               "Σamp": float(sum(amplifications)), "solves": len(amplifications), "TOLMUL": LAPACK_TOLMUL},
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
    grow by at most Lip_{>i} = ∏_{later blocks j} max(∏_{l∈P_j}‖W̃_l‖₂, ‖W̄_j‖₂). Total: Σ_i Lip_{>i}·δ_i. Scale (for relative
    numbers): the largest pre-activation of any block, offsets included.
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
