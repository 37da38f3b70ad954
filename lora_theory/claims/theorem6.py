"""Claim ``theorem6`` — arXiv 2310.17513v3, Theorem 6 (general partition, per-layer ranks; p. 7, restated in
App. E.3, p. 32), with its uniform-rank case and this package's partition and per-layer budget searches."""

from __future__ import annotations

from lora_theory import formulas as F
from lora_theory.claims import Claim, register

GENERAL_PARTITION = register(Claim(
    id="theorem6",
    reference="arXiv 2310.17513v3, Theorem 6 (p. 7; restated in App. E.3, p. 32)",
    statement="any consecutive partition P and per-layer ranks R_l (Assumption 2): if Σ_{l∈P_i} R_l ≥ "
              "rank(W̄_i − ∏_{l∈P_i}W_l) for every i, adapters with rank(ΔW_l) ≤ R_l and updated biases make f = f̄ "
              "on the domain; otherwise block i realises ∏_{P_i}W + LR_{Σ_{P_i}R_l ∧ rank E_i}(E_i) and the mean "
              "error is ≤ β·Σ_i max_k(‖W̄_k‖_F + ε_k)^{L̄−i}·ε_i with ε_i = σ_{Σ_{l∈P_i}R_l+1}(E_i), in its "
              "provable form (√tr Σ in β, inner upper index i; the printed √‖Σ‖_F form is the entry "
              "theorem6_printed). Uniform case R_l = R: R ≥ max_i ⌈rank(E_i)/|P_i|⌉; the best partition (dynamic "
              "programming) is never worse than the uniform one, and the cheapest exact per-layer ranks "
              "(Σ_l R_l = min_P Σ_i rank(E_i(P))) never cost more adapter parameters than the best uniform R",
    number="Theorem 6",
    pages="p. 7 (restated App. E.3, p. 32)",
    status="statement confirmed (v3 p. 7, restated p. 32): per-layer ranks, exact when every block's budget "
           "Σ_{l∈P_i}R_l reaches rank(E_i), ε_i = σ_{Σ_{P_i}R_l+1}(E_i); construction checked numerically (float64, "
           "tolerance model) for random partitions and per-layer rank vectors, both regimes (exact, and a block "
           "short of its budget missing W̄_i by σ_{budget+1}(E_i)); the bound checked in its provable √tr Σ form on "
           "the empirical measure; the optimal-partition and per-layer budget searches are this package's "
           "additions, checked against brute force and by building their constructions",
    formulas={"threshold": F.GENERAL_THRESHOLD,
              "block_budget": F.THEOREM6_BLOCK_BUDGET,
              "block_exact": F.THEOREM6_BLOCK_EXACT,
              "epsilon": F.THEOREM6_EPSILON_DEF,
              "bound_provable_Lbar2": F.theorem5_bound("variant", 2),
              "parameters": F.PER_LAYER_PARAMETER_COUNT},
    notes="Block budgets are evaluated from 'block_budget' over each block's slice of the per-layer ranks "
          "(formulas.block_budgets_of). The printed and provable bounds for a construction and a sample: "
          "lora_theory.analysis.bounds.theorem6_bounds.",
))
