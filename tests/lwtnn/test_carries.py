"""The lwtnn arithmetic that exact carries rely on, in the numpy runtime (whose highway,
sigmoid clamp and relu match the C++ conformance set, see test_conformance.py):

- a highway layer with zero gate weights and gate biases beyond the sigmoid clamp (+-30)
  applies its activation to the gated-open elements and passes the others bit for bit;
- relu(x) - relu(-x) is x exactly, and a dense layer reading the pair with [W, -W]
  gives W x up to float64 rounding.
"""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import load_network

rng = np.random.default_rng(9)
N = 5
GATE = 50.0


def _graph(layers: list[dict], n_in: int, n_out: int) -> dict:
    nodes = [{"type": "input", "sources": [0], "size": n_in}]
    for k in range(len(layers)):
        nodes.append({"type": "feed_forward", "sources": [k], "layer_index": k})
    return {"inputs": [{"name": "x", "variables": [
                {"name": f"x_{i}", "offset": 0, "scale": 1} for i in range(n_in)]}],
            "input_sequences": [], "nodes": nodes, "layers": layers,
            "outputs": {"y": {"node_index": len(layers),
                              "labels": [f"y_{i}" for i in range(n_out)]}}}


def _run(document: dict, x: np.ndarray) -> np.ndarray:
    return load_network(document).evaluate({"x": x})["y"]


def _events(n_events: int = 2000) -> np.ndarray:
    """Ordinary values, huge ones, tiny ones and signed zeros."""
    x = rng.normal(size=(n_events, N)) * np.exp(rng.uniform(-30, 30, size=(n_events, N)))
    x[:5] = [[0.0, -0.0, 1e300, -1e300, 5e-324]] * 5
    return x


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "rectified", "hard_sigmoid", "abs",
                                        {"function": "elu", "alpha": 0.7},
                                        {"function": "leakyrelu", "alpha": 0.1},
                                        {"function": "swish", "alpha": 1.5}])
def test_saturated_gates_pass_elements_unchanged_and_activate_the_rest(activation):
    gate = np.array([GATE, -GATE, GATE, -GATE, -GATE])
    highway = {"architecture": "highway", "activation": activation, "components": {
        "t": {"weights": np.eye(N).ravel().tolist(), "bias": [0.0] * N},
        "carry": {"weights": [0.0] * N * N, "bias": gate.tolist()}}}
    plain = {"architecture": "dense", "weights": [], "bias": [], "activation": activation}
    x = _events()
    x[:, 0] = np.clip(x[:, 0], -1e100, 1e100)  # activated elements: finite results
    x[:, 2] = np.clip(x[:, 2], -1e100, 1e100)
    y = _run(_graph([highway], N, N), x)
    activated = _run(_graph([plain], N, N), x)
    open_ = gate > 0
    np.testing.assert_array_equal(y[:, ~open_], x[:, ~open_])  # bit for bit
    np.testing.assert_array_equal(y[:, open_], activated[:, open_])


def test_a_gate_bias_inside_the_clamp_would_not_be_exact():
    """The reason the gate bias lies beyond 30: at 20 the gate leaks."""
    highway = {"architecture": "highway", "activation": "tanh", "components": {
        "t": {"weights": np.eye(1).ravel().tolist(), "bias": [0.0]},
        "carry": {"weights": [0.0], "bias": [-20.0]}}}
    x = np.array([[3.0]])
    assert _run(_graph([highway], 1, 1), x)[0, 0] != 3.0


def test_relu_pairs_give_back_every_value_exactly():
    pair = {"architecture": "dense", "activation": "rectified", "bias": [0.0] * 2 * N,
            "weights": np.vstack([np.eye(N), -np.eye(N)]).ravel().tolist()}
    back = {"architecture": "dense", "activation": "linear", "bias": [0.0] * N,
            "weights": np.hstack([np.eye(N), -np.eye(N)]).ravel().tolist()}
    x = _events()
    np.testing.assert_array_equal(_run(_graph([pair, back], N, N), x), x)


def test_reading_a_relu_pair_with_w_and_minus_w_is_w_x_up_to_rounding():
    w = rng.normal(size=(3, N)).astype(np.float32).astype(np.float64)
    b = rng.normal(size=3)
    pair = {"architecture": "dense", "activation": "rectified", "bias": [0.0] * 2 * N,
            "weights": np.vstack([np.eye(N), -np.eye(N)]).ravel().tolist()}
    read = {"architecture": "dense", "activation": "linear", "bias": b.tolist(),
            "weights": np.hstack([w, -w]).ravel().tolist()}
    direct = {"architecture": "dense", "activation": "linear", "bias": b.tolist(),
              "weights": w.ravel().tolist()}
    x = rng.normal(size=(2000, N)) * 10
    carried = _run(_graph([pair, read], N, 3), x)
    expected = _run(_graph([direct], N, 3), x)
    np.testing.assert_allclose(carried, expected, rtol=0, atol=1e-12 * np.abs(x).max())
