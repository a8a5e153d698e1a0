"""lwtnn's activation functions against their formulas, including the edge cases."""
from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from onnx2lwtnn.lwtnn import activations as act

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
vectors = arrays(np.float64, st.integers(1, 12), elements=finite)


def py_sigmoid(x: float) -> float:
    if x < -30:
        return 0.0
    if x > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-x))


def test_registry_matches_schema_enum():
    schema = json.loads((resources.files("onnx2lwtnn.lwtnn") / "schema" /
                         "graph.schema.json").read_text())
    assert set(act.ACTIVATIONS) == set(schema["$defs"]["activation"]["then"]["enum"])


@pytest.mark.parametrize("x, expected", [
    (-30.0, 1 / (1 + math.exp(30))), (-30.000001, 0.0), (-1000.0, 0.0),
    (30.0, 1 / (1 + math.exp(-30))), (30.000001, 1.0), (1e300, 1.0), (0.0, 0.5),
])
def test_sigmoid_clamps_beyond_30(x, expected):
    assert act.sigmoid(np.array([x]))[0] == expected


def test_sigmoid_has_no_overflow_warning():
    with np.errstate(all="raise"):
        out = act.sigmoid(np.array([-1e308, -800.0, 800.0, 1e308]))
    assert out.tolist() == [0.0, 0.0, 1.0, 1.0]


@given(finite)
def test_sigmoid_formula(x):
    assert act.sigmoid(np.array([x]))[0] == pytest.approx(py_sigmoid(x), rel=1e-15, abs=0)


@given(finite)
def test_elementwise_formulas(x):
    a = np.array([x])
    assert act.linear(a)[0] == x
    assert act.rectified(a)[0] == max(0.0, x)
    assert act.rectified_legacy(a)[0] == (x if x > 0 else 0.0)
    assert act.hard_sigmoid(a)[0] == min(1.0, max(0.0, 0.2 * x + 0.5))
    assert act.tanh(a)[0] == pytest.approx(math.tanh(x), rel=1e-15)
    assert act.absolute(a)[0] == abs(x)
    # numpy's exp may differ from libm's (lwtnn's) by an ulp
    assert act.elu(a, alpha=0.7)[0] == pytest.approx(
        x if x >= 0 else 0.7 * (math.exp(x) - 1), rel=1e-14, abs=1e-16)
    assert act.leakyrelu(a, alpha=0.1)[0] == (x if x > 0 else 0.1 * x)
    assert act.swish(a, alpha=1.5)[0] == pytest.approx(x * py_sigmoid(1.5 * x), rel=1e-15)


def test_nan_passes_through_elementwise_functions():
    nan = np.array([np.nan])
    for name in ("rectified", "rectified_legacy", "sigmoid", "hard_sigmoid", "tanh",
                 "elu", "leakyrelu", "abs"):
        assert np.isnan(act.ACTIVATIONS[name](nan, alpha=1.0)[0]), name


def test_softmax_of_large_values():
    out = act.softmax(np.array([[1000.0, 1001.0, 1002.0], [-1e308, 0.0, 1e308]]))
    e = np.exp([-2.0, -1.0, 0.0])
    np.testing.assert_allclose(out[0], e / e.sum(), rtol=1e-15)
    assert out[1].tolist() == [0.0, 0.0, 1.0]


@given(vectors)
def test_softmax_is_a_distribution(x):
    out = act.softmax(x)
    assert np.all(out >= 0)
    assert out.sum() == pytest.approx(1.0, rel=1e-12)
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)  # monotonic in x


def test_softmax_acts_on_last_axis_and_accepts_empty():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(act.softmax(x), np.vstack([act.softmax(r) for r in x]))
    assert act.softmax(np.zeros((4, 0))).shape == (4, 0)


def test_activation_specs():
    assert act.parse_activation("tanh")[0] == "tanh"
    assert act.parse_activation("elu") == ("elu", 1.0)
    assert math.isnan(act.parse_activation("leakyrelu")[1])
    assert math.isnan(act.parse_activation("swish")[1])
    assert act.parse_activation({"function": "swish", "alpha": 2}) == ("swish", 2.0)
    f = act.get_activation({"function": "leakyrelu", "alpha": 0.25})
    assert f(np.array([-4.0, 4.0])).tolist() == [-1.0, 4.0]
    assert act.get_activation("elu")(np.array([-1.0]))[0] == math.exp(-1) - 1
    assert np.isnan(act.get_activation("leakyrelu")(np.array([-1.0]))[0])
