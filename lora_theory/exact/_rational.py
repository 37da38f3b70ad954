"""Rational arithmetic shared by the exact certificates (:mod:`lora_theory.exact.linear`, ``.fnn`` and ``.tfn``).

Reading entries, vectors and square matrices as sympy ``Rational`` (floats and booleans are refused: a certificate
must stay exact), the product of rational matrices in the paper's order (W_n ⋯ W_1), unimodular integer layers for
instances that are invertible by construction, and the exact non-singularity check (determinant 0, never a ratio).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction

import sympy as sp

from lora_theory.errors import DTypeError, ShapeError, SingularityError

__all__ = ["exact_rational", "as_rational_vector", "as_rational_matrix", "as_immutable_matrix", "rational_product",
           "unimodular", "integer_matrix", "require_nonsingular", "exactly_equal"]


def _flatten(x: object) -> list:
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    return [x]


def exact_rational(v: object, name: str) -> sp.Rational:
    """One entry as a sympy Rational; booleans and floats are DTypeErrors naming ``name`` (floats are not exact)."""
    if isinstance(v, bool):
        raise DTypeError(f"{name} has the boolean entry {v!r}: exact certificates need integer or rational entries")
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    try:
        v = sp.sympify(v)
    except sp.SympifyError:
        raise DTypeError(f"{name} has the entry {v!r}: exact certificates need integer or rational entries") from None
    if not getattr(v, "is_Rational", False):
        raise DTypeError(f"{name} has the entry {v!r}: exact certificates need integer or rational entries "
                         "(floats are not exact)")
    return v


def _read_matrix(x: object, name: str, what: str) -> sp.Matrix:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # sympy deprecation warnings on ragged/nested input mean "not a matrix"
            return sp.Matrix(x)
    except Exception as exc:  # sympy raises many types for unreadable input; report one typed error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeError(f"{name} cannot be read as {what}: {first}") from None


def as_rational_vector(x: object, name: str, width: int) -> sp.Matrix:
    """A (D, 1) sympy column of Rationals from a flat sequence or a (D, 1)/(1, D) sympy Matrix."""
    if isinstance(x, (str, bytes)):
        raise ShapeError(f"{name} must be a vector of D={width} integers/rationals; got a string")
    if isinstance(x, Sequence) and not any(isinstance(e, (Sequence, sp.MatrixBase)) for e in x):
        # a flat list/tuple: check the entries first (sympy would turn a bool into a deprecation error)
        if len(x) != width:
            raise ShapeError(f"{name} must be a vector of D={width} entries; got {len(x)}")
        return sp.Matrix(width, 1, [exact_rational(e, name) for e in x])
    v = _read_matrix(x, name, f"a vector of D={width} integers/rationals")
    if v.shape not in ((width, 1), (1, width)):
        raise ShapeError(f"{name} must be a vector of D={width} entries; got shape {v.shape}")
    return sp.Matrix(width, 1, [exact_rational(e, name) for e in v])


def as_rational_matrix(x: object, name: str) -> sp.Matrix:
    """A square sympy Matrix of Rationals from nested lists / a sympy Matrix of ints, Fractions or Rationals."""
    if any(isinstance(v, bool) for v in _flatten(x)):
        raise DTypeError(f"{name} has a boolean entry: exact certificates need integer or rational entries")
    M = _read_matrix(x, name, "a (D, D) matrix of integers/rationals")
    if M.rows != M.cols or M.rows == 0:
        raise ShapeError(f"{name} must be a non-empty square (D, D) matrix; got shape {M.shape}")
    return M.applyfunc(lambda v: exact_rational(v, name))


def as_immutable_matrix(x: object, name: str) -> sp.ImmutableMatrix:
    """:func:`as_rational_matrix` as an ImmutableMatrix (for frozen dataclasses); a string is a ShapeError."""
    if isinstance(x, (str, bytes)):
        raise ShapeError(f"{name} must be a (D, D) matrix of integers/rationals; got a string")
    return sp.ImmutableMatrix(as_rational_matrix(x, name))


def rational_product(mats: Sequence[sp.MatrixBase], width: int) -> sp.Matrix:
    """M_n ⋯ M_1 for ``mats = [M_1, …, M_n]`` (the identity of size ``width`` for an empty sequence)."""
    out = sp.eye(width)
    for M in mats:
        out = M * out
    return out


def integer_matrix(rows: int, cols: int, draw: Callable[[], int]) -> sp.Matrix:
    """A rows×cols matrix of ``draw()`` entries, drawn row by row."""
    return sp.Matrix(rows, cols, lambda r, c: draw())


def unimodular(width: int, draw: Callable[[], int]) -> sp.Matrix:
    """Unit lower × unit upper triangular integer matrix: det = 1, so invertible with an integer inverse. The
    off-diagonal entries come from ``draw()``, the lower factor's first (row by row), then the upper factor's."""
    D = width
    Lo = sp.Matrix(D, D, lambda r, c: 1 if r == c else (draw() if r > c else 0))
    Up = sp.Matrix(D, D, lambda r, c: 1 if r == c else (draw() if r < c else 0))
    return Lo * Up


def require_nonsingular(M: sp.MatrixBase, what: str, needed_for: str, *, claim: str, where: str | None = None) -> None:
    """Raise SingularityError (ratio 0) naming ``what`` if det(M) = 0 exactly: ``needed_for`` says which step solves
    with M, ``claim`` whose non-singularity hypothesis fails, ``where`` the short location for ``exc.where``
    (default ``what``)."""
    if M.det() == 0:
        raise SingularityError(f"{what} is exactly singular (det = 0); needed for {needed_for}: the non-singularity "
                               f"hypothesis of {claim} fails", where=what if where is None else where, ratio=0.0)


def exactly_equal(A: sp.MatrixBase, B: sp.MatrixBase) -> bool:
    """A == B entry by entry in rational arithmetic: every entry of A − B is exactly 0 (a residual of 1/10**15 is
    *not* equality). The one equality test of the certificates (:mod:`lora_theory.exact.linear`, ``.fnn``)."""
    return A.shape == B.shape and all(v == 0 for v in (A - B))
