"""Exact arithmetic for folded constants: arrays of rationals, rounded once when written.

Passes compose the affine maps a graph applies with constants (Sub, Add, Mul, Div,
BatchNormalization, Scaler, a variable spec, TMVA's transformations, ``--fix``) into
lwtnn's offsets, scales, weights and biases. Each float read from a file is an exact
rational; composed in float64, every step rounds, and where steps cancel the errors are
multiplied up: ``(x - 8000) / 1e-8`` folded as ``x * 1e8 - 8e11`` gives lwtnn's offset
``-8e11 / 1e8 = -7999.999999999999``, which is off by 9e-5 after the scale. Composed
here, the offset is -8000 exactly.

An ``Exact`` holds integer numerators and positive denominators (numpy object arrays of
Python ints; the denominators broadcast against the numerators, so a per-column or
per-row scale costs one integer per column or row). ``rounded`` gives each value's
nearest double (Python's int / int is correctly rounded): the one rounding.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Union

import numpy as np

ArrayLike = Union["Exact", np.ndarray, float, int, Fraction, list]
MANTISSA_BITS = 53


class ExactRangeError(ArithmeticError):
    """A value that cannot be held or written: not finite, or beyond a double's range."""


class Exact:
    """An array of exact rationals ``num / den``."""

    __slots__ = ("num", "den")
    __array_ufunc__ = None  # ndarray (op) Exact defers to Exact's reflected operators

    def __init__(self, num: Any, den: Any):
        # numpy gives a Python int, not a 0-d array, for arithmetic on 0-d object arrays
        self.num = np.asarray(num, dtype=object)
        self.den = np.asarray(den, dtype=object)

    # -- making ------------------------------------------------------------------------
    @classmethod
    def of(cls, value: ArrayLike) -> "Exact":
        """The exact value of floats (each double is a rational), ints or Fractions."""
        if isinstance(value, Exact):
            return value
        array = np.asarray(value)
        if array.dtype == object:
            fractions = [_fraction(v) for v in array.reshape(-1)]
            return cls(_objects([f.numerator for f in fractions], array.shape),
                       _objects([f.denominator for f in fractions], array.shape))
        if array.dtype.kind in "iub":
            return cls(array.astype(object), _ones(array.ndim))
        return cls._of_floats(np.asarray(array, dtype=np.float64))

    @classmethod
    def _of_floats(cls, values: np.ndarray) -> "Exact":
        """m * 2**e with an integer m of 53 bits, brought over one power-of-two denominator."""
        if not np.all(np.isfinite(values)):
            raise ExactRangeError("a constant is NaN or infinite")
        mantissa, exponent = np.frexp(values)
        integers = (mantissa * 2.0 ** MANTISSA_BITS).astype(np.int64).astype(object)
        exponent = exponent.astype(np.int64) - MANTISSA_BITS
        lowest = int(exponent[mantissa != 0].min(initial=0))
        num = integers * 2 ** np.maximum(exponent - lowest, 0).astype(object)
        if lowest >= 0:
            return cls(np.asarray(num * 2 ** lowest, dtype=object), _ones(values.ndim))
        return cls(np.asarray(num, dtype=object), _full(values.ndim, 2 ** -lowest))

    @classmethod
    def zeros(cls, shape: tuple) -> "Exact":
        return cls(np.zeros(shape, dtype=np.int64).astype(object), _ones(len(shape)))

    @classmethod
    def diagonal(cls, vector: ArrayLike) -> "Exact":
        """The square matrix with ``vector`` on its diagonal and exact zeros elsewhere."""
        vector = cls.of(vector)
        n = len(vector)
        num = np.zeros((n, n), dtype=np.int64).astype(object)
        den = np.ones((n, n), dtype=np.int64).astype(object)
        num[np.arange(n), np.arange(n)] = vector.num
        den[np.arange(n), np.arange(n)] = vector.full_den()
        return cls(num, den)

    # -- shape ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.num.shape

    @property
    def size(self) -> int:
        return self.num.size

    @property
    def ndim(self) -> int:
        return self.num.ndim

    def __len__(self) -> int:
        return len(self.num)

    def full_den(self) -> np.ndarray:
        return np.broadcast_to(self.den, self.shape)

    def __getitem__(self, index: Any) -> "Exact":
        num = self.num[index]
        den = self.full_den()[index]
        if not isinstance(num, np.ndarray):  # one element
            return Exact(np.asarray(num, dtype=object), np.asarray(den, dtype=object))
        return Exact(num, np.asarray(den))

    def take(self, indices: Any, axis: int) -> "Exact":
        return Exact(np.take(self.num, indices, axis=axis),
                     np.take(self.full_den(), indices, axis=axis))

    def delete(self, indices: Any, axis: int) -> "Exact":
        return Exact(np.delete(self.num, indices, axis=axis),
                     np.delete(self.full_den(), indices, axis=axis))

    def transpose(self) -> "Exact":
        return Exact(self.num.T, np.asarray(self.den).T)

    @property
    def T(self) -> "Exact":
        return self.transpose()

    def broadcast_to(self, shape: tuple) -> "Exact":
        return Exact(np.broadcast_to(self.num, shape).copy(),
                     np.broadcast_to(self.den, shape).copy())

    def reshape(self, *shape: Any) -> "Exact":
        return Exact(self.num.reshape(*shape), self.full_den().reshape(*shape))

    @staticmethod
    def concatenate(parts: list[ArrayLike], axis: int = 0) -> "Exact":
        parts = [Exact.of(p) for p in parts]
        return Exact(np.concatenate([p.num for p in parts], axis=axis),
                     np.concatenate([p.full_den() for p in parts], axis=axis))

    @staticmethod
    def stack(parts: list[ArrayLike], axis: int = 0) -> "Exact":
        parts = [Exact.of(p) for p in parts]
        return Exact(np.stack([p.num for p in parts], axis=axis),
                     np.stack([p.full_den() for p in parts], axis=axis))

    # -- arithmetic ----------------------------------------------------------------------
    def __neg__(self) -> "Exact":
        return Exact(-self.num, self.den)

    def __add__(self, other: ArrayLike) -> "Exact":
        other = Exact.of(other)
        if self.den.size == 1 and other.den.size == 1:  # one denominator each: their lcm
            mine, theirs = self.den.flat[0], other.den.flat[0]
            common = math.lcm(mine, theirs)
            den = _full(max(self.den.ndim, other.den.ndim), common)
            return Exact(self.num * (common // mine) + other.num * (common // theirs), den)
        return Exact(self.num * other.den + other.num * self.den, self.den * other.den)

    __radd__ = __add__

    def __sub__(self, other: ArrayLike) -> "Exact":
        return self + -Exact.of(other)

    def __rsub__(self, other: ArrayLike) -> "Exact":
        return Exact.of(other) + -self

    def __mul__(self, other: ArrayLike) -> "Exact":
        other = Exact.of(other)
        return Exact(self.num * other.num, self.den * other.den)

    __rmul__ = __mul__

    def reciprocal(self) -> "Exact":
        """1 / self; ZeroDivisionError where a value is zero."""
        if np.any(self.num == 0):
            raise ZeroDivisionError("an exact constant is zero")
        sign = np.where(self.num < 0, -1, 1).astype(object)
        return Exact(sign * np.broadcast_to(self.den, self.shape), sign * self.num)

    def __truediv__(self, other: ArrayLike) -> "Exact":
        return self * Exact.of(other).reciprocal()

    def __rtruediv__(self, other: ArrayLike) -> "Exact":
        return Exact.of(other) * self.reciprocal()

    def __matmul__(self, other: ArrayLike) -> "Exact":
        return matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> "Exact":
        return matmul(other, self)

    # -- questions -----------------------------------------------------------------------
    def is_zero(self) -> np.ndarray:
        return np.asarray(self.num == 0, dtype=bool)

    def equals(self, other: ArrayLike) -> bool:
        """Whether every value equals ``other``'s (broadcast), exactly."""
        other = Exact.of(other)
        return bool(np.all(self.num * other.den == other.num * self.den))

    def fraction(self, index: Any = ()) -> Fraction:
        return Fraction(int(self.num[index]), int(self.full_den()[index]))

    def rounded(self) -> np.ndarray:
        """Each value as the nearest double (ties to even): the one rounding."""
        try:
            values = np.true_divide(self.num, self.den)
        except OverflowError:
            raise ExactRangeError("a folded constant is beyond the range of a double") from None
        return np.asarray(values, dtype=np.float64).reshape(self.shape)

    def __repr__(self) -> str:
        return f"Exact({self.rounded()!r})"


def as_floats(values: ArrayLike) -> np.ndarray:
    """A float64 array of ``values``, rounding an ``Exact`` once."""
    return values.rounded() if isinstance(values, Exact) else np.asarray(values, np.float64)


def matmul(a: ArrayLike, b: ArrayLike) -> Exact:
    """The exact product of a matrix and a vector or matrix: each sum over a common
    denominator, so nothing rounds."""
    a, b = Exact.of(a), Exact.of(b)
    if b.ndim == 1:
        return _matrix_vector(a, b)
    columns = [_matrix_vector(a, b[:, j]) for j in range(b.shape[1])]
    return Exact.stack(columns, axis=1) if columns else Exact.zeros((a.shape[0], 0))


def _matrix_vector(a: Exact, b: Exact) -> Exact:
    """Row sums of a * b over one common denominator per row (one for all rows where a's
    denominators do not vary by row, as for weights read from a file)."""
    rows, width = a.shape
    if width == 0:
        return Exact.zeros((rows,))
    den = np.broadcast_to(a.den, (np.shape(a.den)[0] if np.ndim(a.den) == 2 else 1, width))
    den = den * np.broadcast_to(b.den, (width,))[None, :]
    common = [math.lcm(*set(row)) for row in den]
    factors = np.array([[c // d for d in row] for c, row in zip(common, den)], dtype=object)
    weighted = np.broadcast_to(b.num, (width,))[None, :] * factors
    if len(common) == 1:
        num = a.num.dot(weighted[0])
    else:
        num = np.array([a.num[i].dot(weighted[i]) for i in range(rows)], dtype=object)
    return Exact(np.asarray(num, dtype=object).reshape(rows), np.array(common, dtype=object))


def _objects(values: list, shape: tuple) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _full(ndim: int, value: int) -> np.ndarray:
    array = np.empty((1,) * ndim, dtype=object)
    array.fill(value)
    return array


def _ones(ndim: int) -> np.ndarray:
    return _full(ndim, 1)


def _fraction(value: Any) -> Fraction:
    return value if isinstance(value, (Fraction, int)) else Fraction(float(value))
