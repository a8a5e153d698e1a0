"""onnx2lwtnn.lwtnn, where its mutation campaign found the suite silent: an add of one
node and a maxout of one sublayer, the embedding lwtnn mis-copies, how recurrent scans
band sequences of different lengths, the names evaluate reports, a graph's sequential
form, and sequence steps given as text. Expected values are lwtnn's formulas, written
out here."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import (SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, EvaluationError,
                              load_network)
from onnx2lwtnn.lwtnn.layers import _bands
from onnx2lwtnn.lwtnn.sequential import sequential_form

rng = np.random.default_rng(26)
OFFSETS, SCALES = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.5, -2.0])


def _variables(prefix: str) -> list[dict]:
    return [{"name": f"{prefix}{i}", "offset": float(o), "scale": float(s)}
            for i, (o, s) in enumerate(zip(OFFSETS, SCALES))]


def _dense(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)


def _vector_graph(nodes: list[dict], layers: list[dict], labels: list[str]) -> dict:
    """Input x (3 variables) as node 0, then ``nodes``; the output reads the last."""
    return {"inputs": [{"name": "x", "variables": _variables("v")}], "input_sequences": [],
            "nodes": [{"type": "input", "sources": [0], "size": 3}, *nodes],
            "layers": layers,
            "outputs": {"y": {"node_index": len(nodes), "labels": labels}}}


def test_an_add_of_one_node_and_a_maxout_of_one_sublayer_pass_that_value_on():
    """lwtnn's add sums its sources and its maxout takes the maximum over its sublayers:
    of one source, of one sublayer, that is the one value, W x + b."""
    w, b = _dense(2, 3)
    maxout = {"architecture": "maxout",
              "sublayers": [{"weights": w.ravel().tolist(), "bias": b.tolist()}]}
    doc = _vector_graph([{"type": "feed_forward", "sources": [0], "layer_index": 0},
                         {"type": "add", "sources": [1]}], [maxout], ["a", "b"])
    x = rng.normal(size=(5, 3))
    out = load_network(doc).evaluate({"x": x})["y"]
    np.testing.assert_allclose(out, ((x + OFFSETS) * SCALES) @ w.T + b, rtol=1e-13)


def _embedding_graph(index: int) -> tuple[dict, np.ndarray]:
    """A 3-variable sequence whose variable ``index`` is embedded in 2 values (a table of
    4 categories), summed over the steps."""
    table = rng.normal(size=(2, 4))
    layer = {"architecture": "embedding",
             "sublayers": [{"index": index, "n_out": 2, "weights": table.ravel().tolist()}]}
    variables = [{"name": f"s{i}", "offset": 0.0, "scale": 1.0} for i in range(3)]
    doc = {"inputs": [], "input_sequences": [{"name": "trk", "variables": variables}],
           "nodes": [{"type": "input_sequence", "sources": [0], "size": 3},
                     {"type": "sequence", "sources": [0], "layer_index": 0},
                     {"type": "sum", "sources": [1]}],
           "layers": [layer],
           "outputs": {"sum": {"node_index": 2, "labels": ["e0", "e1", "e2", "e3"]}}}
    return doc, table


def test_an_embedding_before_the_last_variable_is_refused_unless_steps_equal_variables():
    """lwtnn 2.14's EmbeddingLayer copies the variables after ``index`` with
    ``bottomRows(cols - 1 - index)`` over time steps: right only for the last variable
    or a sequence with as many steps as variables. Embedding the middle one of three
    variables, a 2-step sequence is refused and a 3-step one computed."""
    doc, table = _embedding_graph(index=1)
    steps = np.column_stack([rng.normal(size=3), [2, 0, 3], rng.normal(size=3)])
    with pytest.raises(EvaluationError) as refused:
        load_network(doc).evaluate({}, {"trk": [steps, steps[:2]]})
    assert refused.value.events == [1]
    assert "mis-copies" in refused.value.reasons[1]
    expected = sum(np.concatenate([s[:1], table[:, int(s[1])], s[2:]]) for s in steps)
    np.testing.assert_allclose(refused.value.outputs["sum"][0], expected, rtol=1e-13)


@pytest.mark.parametrize("groups", [[(1, 10), (10, 6), (10, 2)],
                                    [(3, 9), (1, 8), (50, 3), (5, 1), (2, 0)],
                                    [(1, 30), (1, 29), (100, 15), (100, 14), (7, 7)]])
def test_a_recurrent_band_at_most_doubles_its_groups_when_padded(groups):
    """Groups of (events, steps), longest first, go into consecutive bands each padded to
    its first group's steps; padding may at most double a band (plus one step per
    event, for empty sequences), so one long event never pads the rest."""
    bands = _bands(groups)
    assert [k for band in bands for k in band] == list(range(len(groups)))
    for band in bands:
        events = sum(groups[k][0] for k in band)
        content = sum(groups[k][0] * groups[k][1] for k in band)
        assert events * groups[band[0]][1] <= 2 * content + events


def test_an_unknown_input_is_reported_as_one_of_the_inputs():
    doc = _vector_graph([{"type": "feed_forward", "sources": [0], "layer_index": 0}],
                        [{"architecture": "normalization", "weights": [1.0] * 3,
                          "bias": [0.0] * 3}], ["a", "b", "c"])
    with pytest.raises(ValueError) as refused:
        load_network(doc).evaluate({"x": np.zeros((1, 3)), "pt": np.zeros((1, 1))})
    assert str(refused.value).startswith("inputs: unknown ['pt'], missing []")
    assert "the network's inputs are ['x']" in str(refused.value)


def _chain_graph() -> tuple[dict, tuple[np.ndarray, ...]]:
    """x -> dense (tanh) -> dense (linear) -> y."""
    (w1, b1), (w2, b2) = _dense(4, 3), _dense(2, 4)
    layers = [{"architecture": "dense", "activation": act, "weights": w.ravel().tolist(),
               "bias": b.tolist()} for act, w, b in (("tanh", w1, b1), ("linear", w2, b2))]
    nodes = [{"type": "feed_forward", "sources": [0], "layer_index": 0},
             {"type": "feed_forward", "sources": [1], "layer_index": 1}]
    return _vector_graph(nodes, layers, ["p", "q"]), (w1, b1, w2, b2)


def test_a_chain_graph_has_a_sequential_form_computing_the_same():
    graph, (w1, b1, w2, b2) = _chain_graph()
    form = sequential_form(graph)
    assert form is not None and form["outputs"] == ["p", "q"]
    x = rng.normal(size=(6, 3))
    out = load_network(form).evaluate({SEQUENTIAL_INPUT: x})[SEQUENTIAL_OUTPUT]
    expected = np.tanh(((x + OFFSETS) * SCALES) @ w1.T + b1) @ w2.T + b2
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_a_graph_with_an_input_sequence_has_no_sequential_form():
    """lwtnn's LightweightNeuralNetwork takes one vector input and no sequences: a graph
    declaring a sequence input is not one, even if its chain never reads it."""
    graph, _ = _chain_graph()
    graph["input_sequences"] = [{"name": "trk", "variables": _variables("s")}]
    assert sequential_form(graph) is None


def test_sequence_steps_given_as_numeric_text_are_read_as_numbers():
    """As a vector input's values are: text such as a CSV cell holds becomes its float."""
    doc = {"inputs": [], "input_sequences": [{"name": "trk", "variables": _variables("s")}],
           "nodes": [{"type": "input_sequence", "sources": [0], "size": 3},
                     {"type": "sum", "sources": [0]}],
           "layers": [], "outputs": {"sum": {"node_index": 1, "labels": ["a", "b", "c"]}}}
    steps = [np.array([["0.5", "1", "-2.25"], ["3", "0", "1e-3"]]), np.array([["7", "8", "9"]])]
    out = load_network(doc).evaluate({}, {"trk": steps})["sum"]
    expected = [((s.astype(float) + OFFSETS) * SCALES).sum(axis=0) for s in steps]
    np.testing.assert_allclose(out, expected, rtol=1e-14)
