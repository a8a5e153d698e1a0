"""The sequential format against a plain per-event computation written out here."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import (SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, EvaluationError,
                              LwtnnFormatError, SequentialNetwork, load_network)

rng = np.random.default_rng(7)
N_IN = 4


def flat(shape):
    return rng.normal(size=shape).ravel().tolist()


def make_doc():
    return {
        "inputs": [{"name": f"v{i}", "offset": float(i) - 1.5, "scale": 0.5 + i}
                   for i in range(N_IN)],
        "layers": [
            {"architecture": "dense", "weights": flat((5, N_IN)), "bias": flat(5),
             "activation": "rectified"},
            {"architecture": "normalization", "weights": flat(5), "bias": flat(5)},
            {"architecture": "maxout", "sublayers": [
                {"weights": flat((3, 5)), "bias": flat(3)} for _ in range(4)]},
            {"architecture": "highway", "activation": "tanh", "components": {
                "t": {"weights": flat((3, 3)), "bias": flat(3)},
                "carry": {"weights": flat((3, 3)), "bias": flat(3)}}},
            {"architecture": "dense", "weights": [], "bias": flat(3),
             "activation": {"function": "elu", "alpha": 0.5}},
            {"architecture": "dense", "weights": flat((2, 3)), "bias": flat(2),
             "activation": "softmax"},
        ],
        "outputs": ["a", "b"],
        "defaults": {"v1": 10.0},
    }


def sigmoid(x):
    return 0.0 if x < -30 else 1.0 if x > 30 else 1.0 / (1.0 + math.exp(-x))


def matvec(w, n_in, x):
    rows = len(w) // n_in
    return [sum(w[r * n_in + c] * x[c] for c in range(n_in)) for r in range(rows)]


def reference(doc, values):
    """One event, step by step, straight from the format description."""
    x = [(v + i["offset"]) * i["scale"] for v, i in zip(values, doc["inputs"])]
    l0, l1, l2, l3, l4, l5 = doc["layers"]
    x = [max(0.0, a + b) for a, b in zip(matvec(l0["weights"], len(x), x), l0["bias"])]
    x = [(a + b) * w for a, b, w in zip(x, l1["bias"], l1["weights"])]
    units = [[a + b for a, b in zip(matvec(s["weights"], len(x), x), s["bias"])]
             for s in l2["sublayers"]]
    x = [max(col) for col in zip(*units)]
    t, c = l3["components"]["t"], l3["components"]["carry"]
    tt = [math.tanh(a + b) for a, b in zip(matvec(t["weights"], 3, x), t["bias"])]
    cc = [sigmoid(a + b) for a, b in zip(matvec(c["weights"], 3, x), c["bias"])]
    x = [g * a + (1 - g) * v for g, a, v in zip(cc, tt, x)]
    x = [a + b for a, b in zip(x, l4["bias"])]
    x = [a if a >= 0 else 0.5 * (math.exp(a) - 1) for a in x]
    z = [a + b for a, b in zip(matvec(l5["weights"], 3, x), l5["bias"])]
    e = [math.exp(a - max(z)) for a in z]
    return [a / sum(e) for a in e]


def test_interface():
    net = load_network(make_doc())
    assert isinstance(net, SequentialNetwork)
    assert net.input_names == [SEQUENTIAL_INPUT]
    assert net.input_variables == {SEQUENTIAL_INPUT: ["v0", "v1", "v2", "v3"]}
    assert net.sequence_names == [] and net.sequence_variables == {}
    assert net.output_labels == {SEQUENTIAL_OUTPUT: ["a", "b"]}


def test_batch_matches_per_event_reference():
    doc = make_doc()
    net = load_network(doc)
    x = rng.normal(scale=3, size=(50, N_IN))
    out = net.evaluate({SEQUENTIAL_INPUT: x})[SEQUENTIAL_OUTPUT]
    assert out.shape == (50, 2)
    for row, values in zip(out, x):
        np.testing.assert_allclose(row, reference(doc, values), rtol=1e-12, atol=1e-14)


def test_event_form():
    doc = make_doc()
    net = load_network(doc)
    values = [0.3, -1.2, 2.5, 0.0]
    out = net.evaluate_event({SEQUENTIAL_INPUT: {f"v{i}": v for i, v in enumerate(values)}})
    assert list(out) == [SEQUENTIAL_OUTPUT]
    np.testing.assert_allclose([out[SEQUENTIAL_OUTPUT]["a"], out[SEQUENTIAL_OUTPUT]["b"]],
                               reference(doc, values), rtol=1e-12)


def test_defaults_only_replace_nan_on_request():
    doc = make_doc()
    net = load_network(doc)
    event = {"v0": 0.1, "v1": float("nan"), "v2": 0.2, "v3": 0.3}
    assert np.isnan(net.evaluate_event({"": event})["outputs"]["a"])
    filled = net.evaluate_event({"": event}, replace_nan=True)["outputs"]["a"]
    assert filled == pytest.approx(reference(doc, [0.1, 10.0, 0.2, 0.3])[0], rel=1e-12)
    with pytest.raises(EvaluationError, match="can't find input 'v1'"):
        net.evaluate_event({"": {"v0": 0.1, "v2": 0.2, "v3": 0.3}}, replace_nan=True)


def test_per_variable_defaults_are_used_without_a_defaults_map():
    doc = make_doc()
    del doc["defaults"]
    doc["inputs"][2]["default"] = -3.0
    x = np.array([[0.1, 0.2, np.nan, 0.3]])
    out = load_network(doc).evaluate({"": x}, replace_nan=True)["outputs"][0]
    np.testing.assert_allclose(out, reference(doc, [0.1, 0.2, -3.0, 0.3]), rtol=1e-12)


def test_a_defaults_map_overrides_per_variable_defaults():
    doc = make_doc()
    doc["inputs"][2]["default"] = -3.0  # ignored: the document has a "defaults" map
    x = np.array([[0.1, 0.2, np.nan, 0.3]])
    assert np.isnan(load_network(doc).evaluate({"": x}, replace_nan=True)["outputs"]).all()


def test_wrong_arguments_are_value_errors():
    net = load_network(make_doc())
    with pytest.raises(ValueError, match="expected \\(n_events, 4\\)"):
        net.evaluate({"": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="unknown \\['x'\\]"):
        net.evaluate({"": np.zeros((3, 4)), "x": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="missing \\[''\\]"):
        net.evaluate({})


def test_invalid_sequential_documents():
    doc = make_doc()
    doc["outputs"] = ["a"]
    doc["layers"][0]["weights"].pop()
    doc["layers"].append({"architecture": "lstm", "activation": "tanh",
                          "inner_activation": "sigmoid", "components": {}})
    with pytest.raises(LwtnnFormatError) as info:
        load_network(doc)
    paths = [p for p, _ in info.value.problems]
    assert "$.layers[0].weights" in paths
    assert any(p == "$.layers[6].architecture" and "graph format" in m
               for p, m in info.value.problems)


def test_output_count_must_match_last_layer():
    doc = make_doc()
    doc["outputs"] = ["a", "b", "c"]
    with pytest.raises(LwtnnFormatError, match=r"\$\.outputs: has 3 labels but the last layer "
                                               r"gives 2 outputs"):
        load_network(doc)


def test_document_is_not_modified():
    doc = make_doc()
    before = copy.deepcopy(doc)
    load_network(doc).evaluate({"": np.ones((2, 4))})
    assert doc == before
