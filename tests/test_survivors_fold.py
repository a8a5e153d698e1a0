"""onnx2lwtnn.passes.fold_*, where its mutation campaign found the suite silent: a column
selection folded into a dense layer whose weights are already exact rationals, and
Constant nodes folded without onnx's reference evaluator.

The oracle is the ONNX model evaluated in float64 (tests/support.py)."""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.lwtnn import load_network

from .support import assert_exact

FLOAT = TensorProto.FLOAT


def _model(nodes: list, constants: dict, width: int, outputs: int) -> onnx.ModelProto:
    """x [N, width] -> nodes -> y [N, outputs], with float32 initializers."""
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", outputs])],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _events(width: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(5).normal(size=(50, width)) * 3.0}


def standardised_selection() -> onnx.ModelProto:
    """x[:, [2, 0, 3]], standardised, into a dense layer: the standardisation folds into
    the layer first (its weights become exact rationals), then the selection does."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Gather", ["x", "columns"], ["picked"], axis=1),
             helper.make_node("Sub", ["picked", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "std"], ["scaled"]),
             helper.make_node("MatMul", ["scaled", "w"], ["h"]),
             helper.make_node("Add", ["h", "b"], ["y"])]
    return _model(nodes, {"columns": np.array([2, 0, 3], np.int64),
                          "mean": np.float32([1.5, -4.0, 30.0]),
                          "std": np.float32([0.3, 7.0, 3.0]),
                          "w": rng.normal(size=(3, 2)).astype(np.float32),
                          "b": np.float32([0.25, -1.0])}, width=5, outputs=2)


def test_a_selection_folds_into_a_dense_layer_whose_weights_are_exact():
    model = standardised_selection()
    document = convert(model, verify=False)
    assert [layer["architecture"] for layer in document["layers"]] == ["dense"]
    assert len(document["inputs"][0]["variables"]) == 5  # the selection costs no layer
    events = _events(5)
    assert_exact(load_network(document).evaluate(events), model, events)


def constant_node_dense() -> onnx.ModelProto:
    """A dense layer whose weight and bias are Constant nodes (as torch.onnx writes some)."""
    weights = np.float32([[0.5, -1.25], [2.0, 0.75], [-3.0, 1.5]])
    nodes = [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(weights)),
             helper.make_node("Constant", [], ["b"],
                              value=numpy_helper.from_array(np.float32([0.125, -2.0]))),
             helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Add", ["h", "b"], ["y"])]
    return _model(nodes, {}, width=3, outputs=2)


def test_constant_nodes_fold_without_loading_onnx_reference_evaluator(monkeypatch):
    """Constant nodes are read as they are: the reference evaluator (0.2 s of imports) is
    for nodes that compute something, so here it may as well be missing."""
    monkeypatch.setitem(sys.modules, "onnx.reference", None)  # importing it fails
    model = constant_node_dense()
    document = convert(model, verify=False)
    events = _events(3)
    monkeypatch.undo()  # the float64 oracle may use it
    assert_exact(load_network(document).evaluate(events), model, events)
