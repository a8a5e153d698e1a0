"""onnx2lwtnn.exact, where its mutation campaign found the suite silent: integers beyond
int64, denominators given per column or once, half-precision and 64-bit integer
constants, the default axes of stack and concatenate, and the sign of a folded zero.

The oracle is Python's fractions.Fraction, as in test_exact.py."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from onnx2lwtnn.exact import Exact, matmul

from .test_exact import fractions

BIG = 2 ** 40 + 1    # numerators and denominators that fit int64 ...
FACTOR = 2 ** 30 + 3  # ... but whose products (2**70) do not


def objects(values: list) -> np.ndarray:
    """Python ints (or Fractions) as an object array, as numpy would not keep them."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def test_products_of_integers_that_fit_int64_stay_exact_beyond_it():
    """Numerators and denominators given as plain ints (numpy would hold them as int64):
    their products must not wrap around 2**63."""
    a = Exact([3, -5], [BIG, BIG + 2])
    b = Exact([7, 11], [FACTOR, FACTOR + 2])
    a_values = [Fraction(3, BIG), Fraction(-5, BIG + 2)]
    b_values = [Fraction(7, FACTOR), Fraction(11, FACTOR + 2)]
    assert fractions(a * b) == [x * y for x, y in zip(a_values, b_values)]
    assert fractions(a + b) == [x + y for x, y in zip(a_values, b_values)]
    assert fractions(a / b) == [x / y for x, y in zip(a_values, b_values)]
    assert (a * b).rounded().tolist() == [float(x * y) for x, y in zip(a_values, b_values)]


def test_matrix_vector_products_with_denominators_per_column_or_once():
    """The class's denominators broadcast against the numerators: one per column (a 1-D
    den under a 2-D matrix) or one for all (0-d), with more rows than columns."""
    num = np.array([[1, -2], [3, 4], [-5, 6]], dtype=object)
    vector = Exact.of([Fraction(1, 7), Fraction(-3, 11)])
    per_column = Exact(num, objects([3, 5]))
    once = Exact(num, 9)
    for matrix, dens in ((per_column, (3, 5)), (once, (9, 9))):
        expected = [sum(Fraction(num[i, j], dens[j]) * vector.fraction(j) for j in range(2))
                    for i in range(3)]
        assert fractions(matmul(matrix, vector)) == expected


def test_row_sums_beyond_int64_of_both_signs_stay_exact():
    """Rows over different denominators give one sum per row; a sum in [2**63, 2**64)
    next to a negative one has no common numpy integer type (numpy would make floats)."""
    top = 2 ** 63 + 5
    matrix = Exact.of(np.array([[Fraction(top, 3), Fraction(0)],
                                [Fraction(-7, 5), Fraction(2, 5)]], dtype=object))
    got = matmul(matrix, Exact.of([1, 1]))
    assert fractions(got) == [Fraction(top, 3), Fraction(-1, 1)]


def test_64_bit_integers_beyond_2_53_are_read_exactly():
    """int64 and uint64 constants are integers, not doubles: 2**62 + 1 stays odd."""
    signed = np.array([2 ** 62 + 1, -(2 ** 62) - 1, 3], dtype=np.int64)
    unsigned = np.array([2 ** 64 - 1], dtype=np.uint64)
    assert fractions(Exact.of(signed)) == [Fraction(2 ** 62 + 1), Fraction(-(2 ** 62) - 1), 3]
    assert fractions(Exact.of(unsigned)) == [Fraction(2 ** 64 - 1)]


def test_half_and_single_precision_constants_are_read_exactly():
    """Each float16 or float32 value is a rational, the same as its float64 widening."""
    for dtype in (np.float16, np.float32):
        values = np.array([0.1, -3.5, 65504.0, 6e-5, 0.0], dtype=dtype)
        assert fractions(Exact.of(values)) == [Fraction(float(v)) for v in values]


def test_stack_and_concatenate_join_along_the_first_axis_by_default():
    """As numpy's: single values stack into a vector, vectors into rows, and vectors
    concatenate end to end."""
    third, half = Fraction(1, 3), Fraction(-1, 2)
    assert fractions(Exact.stack([Exact.of(third), Exact.of(2), Exact.of(half)])) == \
        [third, 2, half]
    rows = Exact.stack([Exact.of([third, half]), Exact.of([1.5, 7])])
    assert rows.shape == (2, 2)
    assert fractions(rows) == [third, half, Fraction(3, 2), 7]
    joined = Exact.concatenate([Exact.of([third, half]), Exact.of([0.25])])
    assert fractions(joined) == [third, half, Fraction(1, 4)]


def test_take_along_columns_keeps_each_value_with_its_denominator():
    values = [[Fraction(1, 3), Fraction(2, 5), Fraction(-3, 7)],
              [Fraction(4, 11), Fraction(5, 13), Fraction(6, 17)]]
    taken = Exact.of(np.array(values, dtype=object)).take([2, 0], axis=1)
    assert fractions(taken) == [values[0][2], values[0][0], values[1][2], values[1][0]]


def test_an_exact_zero_rounds_to_positive_zero_whatever_it_was_divided_by():
    """The rational 0 is one number: its double is +0.0 (float(Fraction(0))), also when
    it comes of dividing by negative constants (lwtnn's JSON would otherwise say -0.0)."""
    negatives = Exact.of([-2.0, -0.375, Fraction(-5, 3)])
    for zero in (0 / negatives, negatives.reciprocal() * 0, 0 * (1 / negatives) + 0):
        rounded = zero.rounded()
        assert [math.copysign(1.0, v) for v in rounded] == [1.0, 1.0, 1.0]
        assert rounded.tolist() == [float(Fraction(0))] * 3
