"""Tests written for the survivors of the mutation campaign (benchmarks/mutation.py,
issue 26): each pins a behaviour that a small change to the code left unnoticed.
Conversions skip the built-in verification, so that the test is the oracle."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import UsageError, convert
from onnx2lwtnn.lwtnn import load_network

from .support import assert_exact

FLOAT = TensorProto.FLOAT


def _model(nodes, initializers: dict, inputs: dict, outputs: dict) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info(n, FLOAT, ["N", w]) for n, w in inputs.items()],
        [helper.make_tensor_value_info(n, FLOAT, ["N", w]) for n, w in outputs.items()],
        [numpy_helper.from_array(np.asarray(v, np.float32), n) for n, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


# -- fix: a parameter in the middle of the input ------------------------------------------

def standardised_mlp(also_relu: bool = False) -> onnx.ModelProto:
    """(x - mean) / std -> dense 3, relu -> dense 1; optionally the raw input is also an
    output through a Relu (read by something that is not a dense layer)."""
    rng = np.random.default_rng(13)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["c"]),
             helper.make_node("Div", ["c", "std"], ["s"]),
             helper.make_node("Gemm", ["s", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    outputs = {"y": 1}
    if also_relu:
        nodes.append(helper.make_node("Relu", ["s"], ["z"]))
        outputs["z"] = 4
    return _model(nodes, {"mean": [10.0, -3.0, 250.0, 0.5], "std": [2.0, 0.25, 40.0, 3.0],
                          "w1": rng.normal(size=(3, 4)), "b1": rng.normal(size=3),
                          "w2": rng.normal(size=(1, 3)), "b2": [0.5]}, {"x": 4}, outputs)


@pytest.mark.parametrize("names", [None, ["pt", "mGluino", "eta", "phi"]])
def test_fixing_a_parameter_in_the_middle_keeps_the_other_columns_preprocessing(names):
    model = standardised_mlp()
    fixed = "x_1" if names is None else "mGluino"
    variables = None if names is None else {"inputs": [
        {"name": "x", "variables": [{"name": n, "offset": 0, "scale": 1} for n in names]}]}
    document = convert(model, variables=variables, fix={fixed: 2.5}, verify=False)
    written = document["inputs"][0]["variables"]
    assert [v["name"] for v in written] == (["x_0", "x_2", "x_3"] if names is None
                                            else ["pt", "eta", "phi"])
    assert [v["offset"] for v in written] == [-10.0, -250.0, -0.5]
    assert [v["scale"] for v in written] == [0.5, 1 / 40.0, 1 / 3.0]
    raw = np.random.default_rng(2).normal(size=(300, 3)) * 20 + [10.0, 250.0, 0.5]
    full = np.insert(raw, 1, 2.5, axis=1)
    assert_exact(load_network(document).evaluate({"x": raw}), model, {"x": full})


def test_a_parameter_read_other_than_by_dense_layers_cannot_be_fixed():
    with pytest.raises(UsageError, match="cannot freeze input 'x'.*'x_1'|cannot freeze "
                                         "input 'x'"):
        convert(standardised_mlp(also_relu=True), fix={"x_1": 2.5}, verify=False)
