"""The cost line against counts written by hand (issue 26), not recomputed with the
function that prints it.

lwtnn evaluates a graph recursively and caches nothing: every output is its own call, a
node read twice is computed twice with everything under it, and an input node is a node
evaluation at every read. A dense layer's multiply-adds are its weights' entries.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn.cli import main


def _model(nodes, weights: dict, outputs: dict[str, int]) -> onnx.ModelProto:
    rng = np.random.default_rng(23)
    initializers = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
                    for name, shape in weights.items()]
    graph = helper.make_graph(
        nodes, "costed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])
         for name, width in outputs.items()], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _gemm(source, weights, output):
    return helper.make_node("Gemm", [source, weights, weights + "_b"], [output], transB=1)


def chain():
    """x(4) -> dense 3, relu -> dense 2: 12 + 6 multiply-adds, 3 node evaluations (the
    input and two dense nodes), as in the ONNX model."""
    return _model([_gemm("x", "w1", "h"), helper.make_node("Relu", ["h"], ["r"]),
                   _gemm("r", "w2", "y")],
                  {"w1": (3, 4), "w1_b": (3,), "w2": (2, 3), "w2_b": (2,)}, {"y": 2})


def two_heads():
    """A trunk x(4) -> dense 3, relu read by two outputs, y (dense 2) and z (dense 1).
    Each output is its own call, so the trunk is computed twice: y costs 12 + 6 and z
    12 + 3 multiply-adds, 3 node evaluations each: 33 and 6, against the ONNX model's
    12 + 6 + 3 = 21 (1.6x)."""
    return _model([_gemm("x", "w1", "h"), helper.make_node("Relu", ["h"], ["r"]),
                   _gemm("r", "w2", "y"), _gemm("r", "w3", "z")],
                  {"w1": (3, 4), "w1_b": (3,), "w2": (2, 3), "w2_b": (2,), "w3": (1, 3),
                   "w3_b": (1,)}, {"y": 2, "z": 1})


def residual():
    """y = dense(relu(dense(x))) + x, 4 wide: 16 + 16 multiply-adds; the add node reads
    the second dense node (which reads the first, which reads the input) and the input:
    add, dense, dense, input, input = 5 node evaluations."""
    return _model([_gemm("x", "w1", "h"), helper.make_node("Relu", ["h"], ["r"]),
                   _gemm("r", "w2", "d"), helper.make_node("Add", ["d", "x"], ["y"])],
                  {"w1": (4, 4), "w1_b": (4,), "w2": (4, 4), "w2_b": (4,)}, {"y": 4})


HAND_COUNTED = {  # model, (multiply-adds, node evaluations, x the ONNX model)
    "chain": (chain, (18, 3, "1.0")),
    "two_heads": (two_heads, (33, 6, "1.6")),
    "residual": (residual, (32, 5, "1.0")),
}


def _numbers(line: str) -> tuple[int, int, str]:
    """(multiply-adds, node evaluations, ratio) as the cost line states them."""
    multiply_adds = re.search(r"\b([\d,]+) multiply-adds", line).group(1)
    evaluations = re.search(r"\b([\d,]+) node evaluations", line).group(1)
    factor = re.search(r"([\d.]+)x the ONNX model", line).group(1)
    return int(multiply_adds.replace(",", "")), int(evaluations.replace(",", "")), factor


@pytest.mark.parametrize("name", HAND_COUNTED)
def test_the_cost_line_states_the_counts_written_by_hand(name, tmp_path, capsys):
    build, expected = HAND_COUNTED[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(build(), str(path))
    assert main([str(path), "-o", str(tmp_path / "net.json"), "--layout", "literal"]) == 0
    (line,) = [line for line in capsys.readouterr().err.splitlines()
               if line.startswith("lwtnn cost per event:")]
    assert _numbers(line) == expected, line
