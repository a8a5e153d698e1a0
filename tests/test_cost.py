"""The cost model: lwtnn's uncached evaluation counted on documents whose cost is known."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from onnx2lwtnn.api import conversion
from onnx2lwtnn.cli import main
from onnx2lwtnn.cost import (WEIGHTS, Cost, cost_line, layer_cost, layer_multiply_adds,
                             network_cost, node_costs)
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


READ_3 = Cost(0, 1, variables_read=3, lookup_steps=3 * 2.0, values=3)  # 3 inputs: log2(4)


def test_every_output_is_computed_by_its_own_call():
    document = residual_document(2)
    document["outputs"]["first"] = {"node_index": 2, "labels": ["a", "b", "c"]}
    cost = network_cost(document)
    # add, dense, input twice; its call and its 3 labels
    assert cost.outputs["first"] == Cost(9, 2, values=6, calls=1, labels=3) + READ_3 + READ_3
    assert cost.total == cost.outputs["first"] + cost.outputs["y"]
    assert cost.total.calls == 2


def test_sources_may_name_later_nodes():
    document = residual_document(1)
    document["nodes"] = [document["nodes"][i] for i in (2, 1, 0)]
    document["nodes"][0]["sources"] = [1, 2]
    document["nodes"][1]["sources"] = [2]
    document["outputs"]["y"]["node_index"] = 0
    assert node_costs(document) == [Cost(9, 2, values=6) + READ_3 + READ_3,
                                    Cost(9, 1, values=3) + READ_3, READ_3]


def test_every_read_of_an_input_looks_its_variables_up_again():
    nodes = [{"type": "input", "sources": [0], "size": 3},
             *[{"type": "feed_forward", "sources": [0], "layer_index": 0}] * 4,
             {"type": "concatenate", "sources": [1, 2, 3, 4]}]
    document = {**residual_document(1), "nodes": nodes, "layers": [dense(1, 3, "linear")]}
    document["outputs"]["y"] = {"node_index": 5, "labels": ["a", "b", "c", "d"]}
    cost = network_cost(document).total
    assert (cost.variables_read, cost.lookup_steps, cost.node_evaluations) == (12, 24.0, 9)
    assert cost.values == 4 * 3 + 4 + 4  # the reads, the four layers, their concatenation
    assert cost.estimate == pytest.approx(
        12 + 9 * WEIGHTS["node_evaluations"] + 24 * WEIGHTS["lookup_steps"]
        + 20 * WEIGHTS["values"] + WEIGHTS["calls"] + 4 * WEIGHTS["labels"])


def test_sequential_documents_are_one_chain_reading_the_inputs_once():
    document = {"inputs": [{"name": "a", "offset": 0, "scale": 1}] * 3,
                "layers": [dense(4, 3), dense(1, 4, "sigmoid")], "outputs": ["o"]}
    assert network_cost(document).total == Cost(
        16, 2, variables_read=3, lookup_steps=6.0, values=3 + 5, transcendentals=1, calls=1,
        labels=1)


@pytest.mark.parametrize("layer, n_in, expected", [
    (dense(3, 4, "tanh"), 4, (Cost(12, 1, values=3, transcendentals=3), 3)),
    (dense(3, 4, "rectified"), 4, (Cost(12, 1, values=3), 3)),
    ({"architecture": "dense", "weights": [], "bias": [], "activation": "sigmoid"}, 5,
     (Cost(0, 1, values=5, transcendentals=5), 5)),
    ({"architecture": "highway", "activation": "rectified", "components": {
        "t": {"weights": [0.0] * 4, "bias": [0.0] * 2},
        "carry": {"weights": [0.0] * 4, "bias": [50.0] * 2}}}, 2,
     (Cost(8, 1, values=2, transcendentals=2), 2)),  # the gates' sigmoid
])
def test_a_layer_costs_its_matrices_values_and_activations(layer, n_in, expected):
    assert layer_cost(layer, n_in) == expected


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


def _about(estimate: float) -> str:
    return f"{float(f'{estimate:.2g}'):,.0f}"


def test_cost_line():
    cost = network_cost(residual_document(1))
    assert cost_line(cost, 9) == (
        f"lwtnn cost per event: about {_about(cost.total.estimate)} dense-equivalent "
        "multiply-adds (9 multiply-adds, 4 node evaluations, 6 input variables read), "
        "1.0x the ONNX model's multiply-adds")
    assert cost_line(cost, 0).endswith("the ONNX model has no multiply-adds")
    assert cost.to_json(3)["ratio"] == 3.0
    assert cost.to_json()["estimate"] == round(cost.total.estimate)


def test_cost_line_of_several_outputs_names_each_call():
    document = residual_document(1)
    document["outputs"]["first"] = {"node_index": 1, "labels": ["a", "b", "c"]}
    cost = network_cost(document)
    line = cost_line(cost, merged=network_cost(residual_document(1)))
    each = ", ".join(f"{name} about {_about(c.estimate)}" for name, c in cost.outputs.items())
    assert (f"; 2 compute calls, one per output: {each}; with --merge-outputs one call: "
            f"about {_about(network_cost(residual_document(1)).total.estimate)})") in line


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
    merged = conversion(model, merge_outputs="all").cost
    assert lines == [cost_line(network_cost(document), 80, merged)]
    assert "2 compute calls, one per output: score about" in lines[0]


def test_check_json_reports_the_cost(tmp_path, capsys):
    model, network = FIXTURES / "mlp_opset13.onnx", tmp_path / "net.json"
    assert main([str(model), "-o", str(network)]) == 0
    capsys.readouterr()
    assert main(["check", str(model), str(network), "--json", "--events", "10"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert cost["multiply_adds"] == cost["onnx_multiply_adds"] == 48 + 64 + 16
    assert cost["ratio"] == 1.0 and cost["outputs"]["y"]["node_evaluations"] == 4
