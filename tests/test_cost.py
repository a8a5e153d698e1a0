"""The cost model: lwtnn's uncached evaluation counted on documents whose cost is known."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from onnx2lwtnn.cli import main
from onnx2lwtnn.cost import Cost, cost_line, layer_multiply_adds, network_cost, node_costs
from onnx2lwtnn.model_cost import onnx_multiply_adds

from .support import FIXTURES, REPO


def dense(n_out: int, n_in: int, activation: str = "rectified") -> dict:
    return {"architecture": "dense", "weights": [0.5] * (n_out * n_in),
            "bias": [0.0] * n_out, "activation": activation}


def residual_document(blocks: int, width: int = 3) -> dict:
    """x -> (h -> h + relu(W h)) repeated: every stream node is read twice."""
    nodes = [{"type": "input", "sources": [0], "size": width}]
    stream = 0
    for _ in range(blocks):
        nodes.append({"type": "feed_forward", "sources": [stream], "layer_index": 0})
        nodes.append({"type": "add", "sources": [len(nodes) - 1, stream]})
        stream = len(nodes) - 1
    return {"inputs": [{"name": "x", "variables": [
                {"name": f"x_{i}", "offset": 0, "scale": 1} for i in range(width)]}],
            "input_sequences": [], "nodes": nodes, "layers": [dense(width, width)],
            "outputs": {"y": {"node_index": stream,
                              "labels": [f"y_{i}" for i in range(width)]}}}


@pytest.mark.parametrize("blocks", [1, 2, 5, 10])
def test_a_node_read_twice_is_computed_twice_with_everything_under_it(blocks):
    cost = network_cost(residual_document(blocks)).outputs["y"]
    # each block doubles what is under it: 2^blocks - 1 layer evaluations in all
    assert cost.multiply_adds == 9 * (2 ** blocks - 1)
    assert cost.node_evaluations == 3 * 2 ** blocks - 2


def test_every_output_is_computed_by_its_own_call():
    document = residual_document(2)
    document["outputs"]["first"] = {"node_index": 2, "labels": ["a", "b", "c"]}
    cost = network_cost(document)
    assert cost.outputs["first"] == Cost(9, 4)  # add, dense, input twice
    assert cost.total == cost.outputs["first"] + cost.outputs["y"]


def test_sources_may_name_later_nodes():
    document = residual_document(1)
    document["nodes"] = [document["nodes"][i] for i in (2, 1, 0)]
    document["nodes"][0]["sources"] = [1, 2]
    document["nodes"][1]["sources"] = [2]
    document["outputs"]["y"]["node_index"] = 0
    assert node_costs(document) == [Cost(9, 4), Cost(9, 2), Cost(0, 1)]


def test_sequential_documents_are_one_chain():
    document = {"inputs": [{"name": "a", "offset": 0, "scale": 1}] * 2,
                "layers": [dense(4, 2), dense(1, 4, "sigmoid")], "outputs": ["o"]}
    assert network_cost(document).total == Cost(12, 2)


@pytest.mark.parametrize("layer, expected", [
    (dense(3, 4), 12),
    ({"architecture": "dense", "weights": [], "bias": [], "activation": "tanh"}, 0),
    ({"architecture": "normalization", "weights": [1.0] * 5, "bias": [0.0] * 5}, 5),
    ({"architecture": "highway", "activation": "tanh", "components": {
        "t": {"weights": [0.0] * 9, "bias": [0.0] * 3},
        "carry": {"weights": [0.0] * 9, "bias": [50.0] * 3}}}, 18),
    ({"architecture": "gru", "activation": "tanh", "inner_activation": "sigmoid",
      "components": {g: {"weights": [0.0] * 8, "U": [0.0] * 4, "bias": [0.0] * 2}
                     for g in "zrh"}}, 36),
    ({"architecture": "maxout", "sublayers": [{"weights": [0.0] * 6, "bias": [0.0] * 2}] * 3},
     18),
    ({"architecture": "embedding", "sublayers": [{"weights": [0.0] * 6, "index": 0,
                                                  "n_out": 2}]}, 0),
])
def test_layer_multiply_adds_are_its_weight_matrices(layer, expected):
    assert layer_multiply_adds(layer) == expected


def test_cost_line():
    cost = network_cost(residual_document(1))
    assert cost_line(cost, 9) == ("lwtnn cost per event: 9 multiply-adds in 4 node "
                                  "evaluations, 1.0x the ONNX model")
    assert cost_line(cost, 0).endswith("the ONNX model has no multiply-adds")
    assert cost.to_json(3)["ratio"] == 3.0


def test_onnx_model_counts_each_node_once():
    model = onnx.load(FIXTURES / "mlp_opset13.onnx")
    weights = sum(init.dims[0] * init.dims[1] for init in model.graph.initializer
                  if len(init.dims) == 2)
    assert onnx_multiply_adds(model) == {"y": weights, None: weights}


def test_onnx_model_outputs_count_what_they_depend_on():
    counts = onnx_multiply_adds(onnx.load(FIXTURES / "multi_two_outputs.onnx"))
    total = counts.pop(None)
    assert len(counts) == 2 and all(0 < c < total for c in counts.values())
    assert sum(counts.values()) > total  # they share a trunk, counted once in the model


def test_the_document_cost_needs_no_onnx():
    code = "import sys, onnx2lwtnn.cost; assert 'onnx' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_every_conversion_prints_its_cost_on_stderr(tmp_path, capsys):
    model = FIXTURES / "multi_two_outputs.onnx"
    assert main([str(model), "-o", str(tmp_path / "net.json")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "cost" in line]
    document = json.loads((tmp_path / "net.json").read_text())
    total = network_cost(document).total
    assert lines == [f"lwtnn cost per event: {total.multiply_adds:,} multiply-adds in "
                     f"{total.node_evaluations:,} node evaluations, "
                     f"{total.multiply_adds / 80:.1f}x the ONNX model"]


def test_check_json_reports_the_cost(tmp_path, capsys):
    model, network = FIXTURES / "mlp_opset13.onnx", tmp_path / "net.json"
    assert main([str(model), "-o", str(network)]) == 0
    capsys.readouterr()
    assert main(["check", str(model), str(network), "--json", "--events", "10"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert cost["multiply_adds"] == cost["onnx_multiply_adds"] == 48 + 64 + 16
    assert cost["ratio"] == 1.0 and cost["outputs"]["y"]["node_evaluations"] == 4
