"""onnx2lwtnn.exact: rationals composed exactly, and rounded once to the nearest double.

The oracle is Python's fractions.Fraction, which shares nothing with the vectorised
integer arithmetic under test."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onnx2lwtnn.exact import Exact, ExactRangeError, as_floats, matmul

BOUNDED = dict(derandomize=True, database=None, deadline=None, max_examples=150)
doubles = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
nonzero = doubles.filter(lambda v: v != 0)


def fractions(exact: Exact) -> list:
    return [exact.fraction(index) for index in np.ndindex(exact.shape)]


@settings(**BOUNDED)
@given(st.lists(st.tuples(doubles, nonzero, doubles), min_size=1, max_size=6))
def test_affine_arithmetic_is_exact_and_rounds_once(triples):
    a, b, c = (np.array(column) for column in zip(*triples))
    result = (Exact.of(a) - Exact.of(c)) / Exact.of(b) * Exact.of(b) + Exact.of(c)
    assert fractions(result) == [Fraction(x) for x in a]  # ((a - c) / b) * b + c == a
    composed = Exact.of(a) * Exact.of(b) + Exact.of(c)
    expected = [Fraction(x) * Fraction(y) + Fraction(z) for x, y, z in triples]
    assert fractions(composed) == expected
    try:
        rounded = composed.rounded()
    except ExactRangeError:
        assert any(abs(e) > Fraction(np.finfo(float).max) for e in expected)
        return
    assert list(rounded) == [float(e) for e in expected]  # float(Fraction): nearest


@settings(**BOUNDED)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_matrix_vector_sums_are_exact_whatever_the_denominators(rows, width, data):
    weights = np.array(data.draw(st.lists(doubles, min_size=rows * width,
                                          max_size=rows * width))).reshape(rows, width)
    column_scale = np.array(data.draw(st.lists(nonzero, min_size=width, max_size=width)))
    row_scale = np.array(data.draw(st.lists(nonzero, min_size=rows, max_size=rows)))
    shift = np.array(data.draw(st.lists(doubles, min_size=width, max_size=width)))
    matrix = (Exact.of(weights) / Exact.of(column_scale).reshape(1, -1)
              * Exact.of(row_scale).reshape(-1, 1))
    got = matmul(matrix, Exact.of(shift) / Exact.of(column_scale))
    for i in range(rows):
        expected = sum(Fraction(weights[i, j]) / Fraction(column_scale[j]) * Fraction(row_scale[i])
                       * Fraction(shift[j]) / Fraction(column_scale[j]) for j in range(width))
        assert got.fraction(i) == expected


def test_the_constant_column_offset_is_the_mean():
    """The pattern that folding in float64 got wrong: (x - 8000) / 1e-8 as x * s + t,
    then lwtnn's offset t / s."""
    mean, std = np.float32(8000.0), np.float32(1e-8)
    scale = 1 / Exact.of(std)
    shift = -Exact.of(mean) * scale
    assert (shift / scale).rounded()[()] == -8000.0
    floats = 1 / float(std)
    assert (-float(mean) * floats) / floats != -8000.0  # what float64 folding gave


def test_matrices_of_many_values_mix_floats_and_exact_values():
    weights = np.arange(12.0).reshape(3, 4) - 5.5
    exact = Exact.of(weights)
    assert np.array_equal(as_floats(exact.T), weights.T)
    assert np.array_equal(as_floats(exact.delete([1], axis=1)), np.delete(weights, 1, axis=1))
    assert np.array_equal(as_floats(Exact.diagonal([2.0, 0.0, -1.5])), np.diag([2.0, 0.0, -1.5]))
    assert np.array_equal(as_floats(np.ones(4) * exact), weights)  # ndarray defers to Exact
    assert exact.equals(weights) and not exact.equals(weights + 1)


def test_values_that_are_not_finite_or_not_doubles_are_refused():
    with pytest.raises(ExactRangeError):
        Exact.of(np.array([1.0, np.nan]))
    with pytest.raises(ExactRangeError):
        (Exact.of(1e300) * Exact.of(1e300)).rounded()
    with pytest.raises(ZeroDivisionError):
        Exact.of([1.0, 0.0]).reciprocal()


def test_subnormal_results_round_to_the_nearest_double():
    tiny = Exact.of(5e-324)
    assert (tiny / 2).rounded()[()] == 0.0  # a tie, to even
    assert (tiny * 3 / 2).rounded()[()] == 1e-323  # 1.5 ulps: a tie, to even (2)
