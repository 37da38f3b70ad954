"""Claim ``theorem8`` — arXiv 2310.17513v3, Theorem 8 (single-head transformer networks, same-size target; App. F.1,
p. 34)."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

THEOREM8 = register(Claim(
    id="theorem8",
    reference="arXiv 2310.17513v3, Theorem 8 (App. F.1, p. 34; proof pp. 35–36)",
    statement="same-size single-head TFN (Attn(Z) = W_V Z softmax((W_K Z)ᵀ W_Q Z), no W_O; output softmax(W_o Z_L)): "
              "rank-R adapters on W_K, W_Q, W_V and W_1 of every block, W_2 of the last block and W_o, with updated "
              "biases, make f(X) = f̄(X) for every X ∈ R^{D×N} and every N iff-for-the-construction "
              "R ≥ max_i ⌈G_i/2⌉, with G_i the ranks of W̄_{2,i−1}ᵀW̄_KᵀW̄_QW̄_{2,i−1} − W_{2,i−1}ᵀW_KᵀW_QW_{2,i−1} "
              "and W̄_1W̄_VW̄_{2,i−1} − W_1W_VW_{2,i−1} (W_{2,0} = I) and G_{L+1} = rank(W̄_oW̄_2L − W_oW_2L); every "
              "other matrix stays exactly frozen",
    number="Theorem 8",
    pages="p. 34",
    status="statement confirmed (v3 p. 34; the single-head setting and Assumption 3 on pp. 33–34, the proof on "
           "pp. 35–36: ΔW_2l = O for l < L, b̂_2 = W_2 W̄_2⁻¹ b̄_2, Lemma 7 on each two-factor chain); construction "
           "(scores (W_Q, W_Kᵀ), values (W_V, W_1), output (W_2L, W_o)) checked numerically in float64 against the "
           "tolerance model, at the softmax output and at the logits, and one rank below the threshold; and by an "
           "exact rational certificate on small integer single-head models (identities on the logits, which fix "
           "the softmax output)",
    notes="as printed, G_i keeps the multi-head 'max_h' and superscripts h (one head here); Assumption 3's entries "
          "for l > 1 print W_Kl W_Ql where W_Klᵀ W_Ql is meant; and the theorem ends 'with probability 1' although "
          "its hypothesis, Assumption 3, is deterministic (the probability belongs to Lemma 13 / Corollary 9)",
    formulas={"threshold": F.THEOREM8_THRESHOLD, "threshold_by_block": F.THEOREM8_THRESHOLD_DISPLAY,
              "adapted_matrices": F.THEOREM8_ADAPTED_MATRICES, "parameter_count": F.THEOREM8_PARAMETER_COUNT},
))
