"""inspect: what a model or an lwtnn file holds, and what each ONNX node becomes."""
from __future__ import annotations

import json
from collections import Counter

import onnx
import pytest
from onnx import numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.cost import network_cost
from onnx2lwtnn.errors import ModelLoadError
from onnx2lwtnn.inspect import inspect, inspect_network, render
from onnx2lwtnn.load import load_model

from .support import FIXTURES, require_shared

REFINE = FIXTURES / "published_pytorch_refine.onnx"
REFUSED = FIXTURES / "refuse_prelu.onnx"


def test_onnx_model_header_counts_and_interface():
    report = inspect(REFINE)
    model = onnx.load(str(REFINE))
    assert report["kind"] == "onnx" and report["converts"]
    assert report["producer"] == f"{model.producer_name} {model.producer_version}"
    assert report["opsets"] == {"ai.onnx": 9}
    assert report["inputs"] == [{"name": "input", "type": "float", "shape": [1, 65]}]
    assert report["parameters"] == sum(numpy_helper.to_array(i).size
                                       for i in model.graph.initializer)
    assert report["operators"] == dict(Counter(n.op_type for n in model.graph.node))
    (node,) = report["interface"]["inputs"]
    assert node["variables"] == [f"input_{i}" for i in range(65)]
    document = convert(REFINE)
    assert report["cost"]["multiply_adds"] == network_cost(document).total.multiply_adds
    assert report["cost"]["line"].startswith("lwtnn cost per event: ")
    assert report["cost"]["line"] in render(report)
    assert report["interface"]["outputs"] == [
        {"name": name, "labels": out["labels"]} for name, out in document["outputs"].items()]


def test_every_onnx_node_says_what_it_becomes():
    report = inspect(REFINE)
    fates = {f["node"]: f for f in report["nodes"]}
    model = onnx.load(str(REFINE))
    assert len(fates) == len(model.graph.node)
    assert fates["Gemm_3"]["becomes"] == "dense layer"  # (carrying values on: its chain
    assert fates["Gemm_3"]["passes"] == ["lower_dense.lower_gemm",  # node is not named)
                                         "carry.carry_shared_values"]
    # a Relu after a Gemm ends as that dense layer's activation
    assert fates["Relu_4"]["becomes"] == "part of dense layer 'Gemm_3'"
    assert fates["Relu_4"]["passes"] == ["lower_activations.lower_direct",
                                         "fuse_activation.fuse_activation"]
    # the default layout writes the refinement blocks as one chain: their merges have no
    # node of their own (issue 22)
    assert fates["Concat_8"]["becomes"].startswith("folded into the weights of the chain")
    assert fates["Add_12"]["becomes"].startswith("folded into the weights of the chain")
    assert not any("refused" in f for f in report["nodes"])
    literal = {f["node"]: f for f in inspect(REFINE, layout="literal")["nodes"]}
    assert literal["Concat_8"]["becomes"] == "concatenate node"
    assert literal["Add_12"]["becomes"] == "add node"


def test_refused_node_is_named_with_its_reason_and_the_rest_still_described():
    report = inspect(REFUSED)
    assert not report["converts"]
    fates = {f["node"]: f for f in report["nodes"]}
    assert "operator not supported by lwtnn" in fates["dense0/PRelu"]["refused"]
    assert fates["dense0/Gemm"]["becomes"] == "dense layer"
    assert report["refusals"] and "dense0/PRelu" in report["refusals"][0]
    assert "it does not convert" in report["cost"]["line"]
    # the names a conversion would give, from the declared shapes
    assert report["interface"]["inputs"] == [{"name": "x",
                                              "variables": [f"x_{i}" for i in range(6)]}]
    text = render(report)
    assert "REFUSED: operator not supported by lwtnn" in text
    assert "it does not convert" in text


def test_inspect_accepts_a_model_proto_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = inspect(load_model(REFINE))
    assert report["converts"] and report["file"] == "<in-memory model>"
    assert list(tmp_path.iterdir()) == []


def test_masking_warning_is_part_of_the_report():
    report = inspect(FIXTURES / "published_tf2onnx_masked_nospec.onnx")
    assert any("Masking" in w for w in report["warnings"])


def test_lwtnn_json_written_by_lwtnns_own_converter():
    folder = require_shared("lwtnn-conformance")
    path = folder / "lstm_functional.network.json"
    report = inspect(path)
    document = json.loads(path.read_text())
    assert report["kind"] == "lwtnn graph"
    (sequence,) = report["interface"]["input_sequences"]
    assert sequence["variables"] == [v["name"] for v in document["input_sequences"][0]["variables"]]
    assert [layer["architecture"] for layer in report["layers"]] == ["lstm", "lstm", "dense"]
    dense = document["layers"][2]
    assert report["layers"][2]["parameters"] == len(dense["weights"]) + len(dense["bias"])
    assert report["node_types"] == dict(Counter(n["type"] for n in document["nodes"]))
    assert report["cost"]["multiply_adds"] == network_cost(document).total.multiply_adds
    text = render(report)
    assert "input sequence 'node_0': 8 variables" in text and "lstm" in text


def test_sequential_network_has_one_unnamed_input():
    document = convert(FIXTURES / "mlp_opset13.onnx", format="sequential")
    report = inspect_network(document)
    assert report["kind"] == "lwtnn sequential"
    (node,) = report["interface"]["inputs"]
    assert node["name"] == "" and node["variables"] == [v["name"] for v in document["inputs"]]
    assert "input '': " in render(report)


def test_a_file_that_is_neither_is_an_error(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ModelLoadError, match="a JSON file, not an ONNX model"):
        inspect(path)


def test_cli_inspect_prints_the_interface_and_the_json_form(capsys):
    from onnx2lwtnn.cli import main
    assert main(["inspect", str(REFINE)]) == 0
    text = capsys.readouterr().out
    assert "input 'input': 65 variables: input_0 input_1 input_2 ... input_64" in text
    assert "Relu      Relu_4      -> part of dense layer 'Gemm_3'" in text
    assert main(["inspect", str(REFINE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(inspect(REFINE)))


def test_cli_inspect_of_a_refused_model_names_the_node(capsys):
    from onnx2lwtnn.cli import main
    assert main(["inspect", str(REFUSED)]) == 0
    out = capsys.readouterr().out
    assert "dense0/PRelu  REFUSED: operator not supported by lwtnn" in out
    assert "converts: no, 1 problem(s)" in out


def test_cli_inspect_of_a_missing_file_is_a_short_error(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    assert main(["inspect", str(tmp_path / "nope.onnx")]) == 1
    assert capsys.readouterr().err.strip().endswith("nope.onnx: no such file")
