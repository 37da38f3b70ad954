"""``lora-theory threshold``: the LoRA rank a claim says is enough, with the formula it used and why.

The answer comes from the claims registry: every claim with a threshold (``linear`` → Lemma 1, ``fnn`` → Theorem 3,
``tfn`` → Theorem 7) names a sympy formula and a binder from the flags to the formula's symbols. A flag is required
only when the model's formula uses its symbol (``--depth`` for L, ``--target-depth`` for L̄); the others are refused
or ignored by the binder with a one-line reason.

A threshold of 0 (a discrepancy of rank 0) means that no LoRA adapter is needed: the output says so, and says that
the constructions themselves take R ≥ 1 (any R ≥ 1 then works).
"""

from __future__ import annotations

import argparse

from lora_theory.cli._common import add_json_argument, check_output_path, write_json
from lora_theory.errors import DomainError

__all__ = ["NAME", "HELP", "DESCRIPTION", "add_arguments", "run"]

NAME = "threshold"
HELP = "the LoRA rank a claim says is enough for a model family, with the formula it used"
DESCRIPTION = """\
Print the smallest LoRA rank R for which the paper's construction makes the frozen model equal the target:
linear (Lemma 1: R >= ceil(rank(E)/L)), fnn (Theorem 3: R >= ceil(max_i rank(E_i)/floor(L/Lbar))) or tfn
(Theorem 7: R >= max_i ceil(G_i/2)). Without --discrepancy-rank the worst case (full rank D) is assumed.
The output names the formula, every value substituted into it, and the claim (reference and status).
--depth is needed by linear and fnn (their formulas use L), --target-depth by fnn; tfn needs neither.

example:
  lora-theory threshold --model fnn --width 16 --depth 4 --target-depth 2"""

#: the claim symbol each optional flag supplies (a flag is required when the model's formula uses its symbol)
_FLAG_SYMBOLS = (("--depth", "depth", "L"), ("--target-depth", "target_depth", "Lbar"), ("--heads", "heads", "H"))
_DISPLAY = {"L": "L", "Lbar": "L̄", "H": "H"}


class _RegistryModels:
    """The ``--model`` choices, read from the claims registry only when they are needed (parsing or ``--help``
    of this subcommand), so ``lora-theory --help`` does not import sympy."""

    def _names(self) -> tuple[str, ...]:
        from lora_theory.claims import threshold_models

        return tuple(threshold_models())

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __len__(self) -> int:
        return len(self._names())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=_RegistryModels(), metavar="MODEL",
                        help="model family: %(choices)s (see 'lora-theory claims')")
    parser.add_argument("--width", type=int, required=True, metavar="D", help="width D (>= 1)")
    parser.add_argument("--depth", type=int, default=None, metavar="L",
                        help="frozen depth L (>= 1); required by linear and fnn, unused by tfn")
    parser.add_argument("--target-depth", type=int, default=None, metavar="L̄",
                        help="target depth L̄, 1 <= L̄ <= L (fnn: required; tfn: must equal L if given)")
    parser.add_argument("--heads", type=int, default=None, metavar="H",
                        help="attention heads H (tfn only; the threshold does not depend on it)")
    parser.add_argument("--discrepancy-rank", type=int, default=None, metavar="K",
                        help="rank of the discrepancy, 0..D (linear: rank(E); fnn: max_i rank(E_i); tfn: the "
                             "largest gap G_max); default D, the worst case")
    parser.add_argument("--latex", action="store_true", help="print the formula in LaTeX")
    add_json_argument(parser, "the value, the formula (text and LaTeX), the substitutions and the claim")


def _check_flags(args: argparse.Namespace) -> dict[str, int | None]:
    from lora_theory.validation import check_int

    values: dict[str, int | None] = {"width": check_int(args.width, "--width", minimum=1)}
    for flag, dest, minimum in (("--depth", "depth", 1), ("--target-depth", "target_depth", 1), ("--heads", "heads", 1),
                                ("--discrepancy-rank", "discrepancy_rank", 0)):
        value = getattr(args, dest, None)
        values[dest] = None if value is None else check_int(value, flag, minimum=minimum)
    return values


def run(args: argparse.Namespace) -> int:
    """Print the threshold for parsed ``args`` and return 0; bad flags raise a one-line LoRATheoryError."""
    import sympy as sp

    from lora_theory.claims import ThresholdArgs, threshold_models

    json_path = check_output_path(getattr(args, "json_path", None))
    models = threshold_models()
    if args.model not in models:  # argparse checks the choices; this guards a hand-built Namespace
        raise DomainError(f"--model must be one of {', '.join(models)}; got {args.model!r}")
    claim = models[args.model]
    spec = claim.threshold
    values = _check_flags(args)
    used = {str(s) for s in spec.formula.free_symbols}
    for flag, dest, symbol in _FLAG_SYMBOLS:
        if values[dest] is None and symbol in used:
            raise DomainError(f"--model {args.model} needs {flag}: its threshold {sp.sstr(spec.formula)} uses "
                              f"{symbol}")

    substitutions, why = spec.bind(ThresholdArgs(width=values["width"], depth=values["depth"],
                                                 target_depth=values["target_depth"], heads=values["heads"],
                                                 discrepancy_rank=values["discrepancy_rank"]))
    value = spec.formula.subs(substitutions)
    if not value.is_Integer:
        raise DomainError(f"the threshold of {claim.id} did not evaluate to an integer: {value}")
    value = int(value)
    text, latex = sp.sstr(spec.formula), sp.latex(spec.formula)

    zero_note = None
    if value == 0:
        zero_note = ("the discrepancy has rank 0, so no LoRA adapter is needed (the frozen weight products already "
                     "equal the target's; the fnn/tfn constructions may still update biases); the constructions "
                     "themselves take R >= 1, and any R >= 1 works")
    print(f"required LoRA rank: {value}" + (" (no adapter needed)" if value == 0 else ""))
    print(f"formula: R ≥ {latex if args.latex else text}")
    for line in why:
        print(f"  {line}")
    if zero_note:
        print(f"note: {zero_note}")
    print(f"claim: {claim.id} ({claim.reference}; {claim.status})")

    write_json(json_path, {
        "model": args.model,
        "value": value,
        "adapter_needed": value > 0,
        "minimum_construction_rank": 1,
        "formula": {"text": text, "latex": latex},
        "substitutions": {str(symbol): int(v) for symbol, v in substitutions.items()},
        "inputs": {k: v for k, v in values.items() if v is not None},
        "explanation": why + ([zero_note] if zero_note else []),
        "claim": {"id": claim.id, "reference": claim.reference, "status": claim.status},
    })
    return 0
