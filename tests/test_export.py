"""``export``: lwtnn documents as ONNX models, run by onnxruntime against lwtnn's numbers."""
from __future__ import annotations

import json
from typing import Mapping, Optional

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnx2lwtnn.cli import main
from onnx2lwtnn.exporter import ExportError, export
from onnx2lwtnn.lwtnn import EvaluationError, load_network

from .lwtnn.conformance_data import batch, load_events, network_params

Inputs = Mapping[str, np.ndarray]


def onnx_outputs(model: onnx.ModelProto, net, vectors: Inputs,
                 sequences: Optional[Mapping[str, list]] = None) -> dict[str, np.ndarray]:
    """The exported model's outputs, events grouped by sequence length (one ONNX batch
    holds one length); inputs named as the exporter names them."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    dtype = np.float32 if model.graph.input[0].type.tensor_type.elem_type == 1 else np.float64
    names = {i.name for i in session.get_inputs()}
    sequences = sequences or {}

    def onnx_name(kind: str, node: str) -> str:
        return node if node in names else f"{kind}/{node}"

    n_events = len(next(iter([*vectors.values(), *sequences.values()])))
    lengths = (np.array([len(s) for s in next(iter(sequences.values()))]) if sequences
               else np.zeros(n_events, int))
    outputs = {o.name: np.zeros((n_events, o.shape[1])) for o in session.get_outputs()}
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        feed = {onnx_name("inputs", k): np.asarray(v)[rows].astype(dtype)
                for k, v in vectors.items()}
        for k, v in sequences.items():
            feed[onnx_name("input_sequences", k)] = np.stack([v[i] for i in rows]).astype(dtype)
        for name, values in zip(outputs, session.run(None, feed)):
            outputs[name][rows] = values
    return {name.removeprefix("inputs/"): values for name, values in outputs.items()}


def assert_within(ours: np.ndarray, expected: np.ndarray, rtol: float, where: str) -> None:
    bound = rtol * np.maximum(1.0, np.abs(expected))
    assert (np.abs(ours - expected) <= bound).all(), \
        f"{where}: worst {np.max(np.abs(ours - expected) / bound) * rtol:.3g} > {rtol}"


@pytest.mark.parametrize("float32, rtol", [(False, 1e-9), (True, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("network", network_params())
def test_conformance_networks_in_onnxruntime(network, float32, rtol):
    """What lwtnn 2.14.1's C++ computed, from the exported model in onnxruntime; events
    lwtnn refuses give NaN."""
    model = export(network, float32=float32)
    onnx.checker.check_model(model, full_check=True)
    net = load_network(network)
    events = load_events(network)
    outputs = onnx_outputs(model, net, *batch(events, net))
    compared = 0
    for i, event in enumerate(events):
        expected = event["expected_outputs"]
        if "error" in expected:
            assert all(np.isnan(v[i]).all() for v in outputs.values()), f"event {i}"
            continue
        for name, labels in expected.items():
            row = dict(zip(net.output_labels[name], outputs[name][i]))
            for label, value in labels.items():
                assert_within(np.array(row[label]), np.array(value), rtol, f"{i} {label}")
                compared += 1
    assert compared


def test_float64_and_float32_types_and_metadata():
    doc = dict(SEQUENTIAL)
    for float32, elem in ((False, onnx.TensorProto.DOUBLE), (True, onnx.TensorProto.FLOAT)):
        model = export(doc, float32=float32)
        assert model.graph.input[0].type.tensor_type.elem_type == elem
        assert all(t.data_type == elem for t in model.graph.initializer
                   if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta["lwtnn.inputs"] == {"inputs": [{"name": "a", "default": 3.0}, {"name": "b"}]}
    assert meta["lwtnn.outputs"] == {"outputs": ["y0", "y1"]}
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 21


SEQUENTIAL = {
    "inputs": [{"name": "a", "offset": 1.0, "scale": 0.5, "default": 3.0},
               {"name": "b", "offset": -2.0, "scale": 3.0}],
    "layers": [
        {"architecture": "maxout", "activation": "linear", "sublayers": [
            {"weights": [1.0, -2.0, 0.5, 0.25, 3.0, -1.0], "bias": [0.1, 0.2, 0.3]},
            {"weights": [-1.0, 2.0, 1.5, -0.25, 0.0, 1.0], "bias": [0.0, -0.2, 0.3]}]},
        {"architecture": "highway", "activation": {"function": "swish", "alpha": 1.5},
         "components": {"t": {"weights": [0.1] * 9, "bias": [0.0, 1.0, -1.0]},
                        "carry": {"weights": [0.2, -0.1, 0.3] * 3, "bias": [40.0, -40.0, 0.0]}}},
        {"architecture": "dense", "weights": [1.0, 2.0, 3.0, -1.0, -2.0, 20.0],
         "bias": [0.5, -0.5], "activation": "sigmoid_legacy"},
    ],
    "outputs": ["y0", "y1"],
}


def test_sequential_format_with_maxout_highway_and_clamped_sigmoid():
    """The gate biases of +-40 and the large weights reach lwtnn's sigmoid clamp."""
    net = load_network(SEQUENTIAL)
    x = np.random.default_rng(0).normal(size=(500, 2)) * 10
    expected = net.evaluate({"": x})["outputs"]
    ours = onnx_outputs(export(SEQUENTIAL), net, {"inputs": x})["outputs"]
    assert_within(ours, expected, 1e-12, "sequential")
    assert (expected == 1.0).any() or (expected == 0.0).any()


def _embedding_network(index: int) -> dict:
    return {
        "inputs": [], "input_sequences": [{"name": "trk", "variables": [
            {"name": "x", "offset": 0, "scale": 1}, {"name": "kind", "offset": 0, "scale": 1}]}],
        "nodes": [{"type": "input_sequence", "sources": [0], "size": 2},
                  {"type": "sequence", "sources": [0], "layer_index": 0},
                  {"type": "sequence", "sources": [1], "layer_index": 1},
                  {"type": "sum", "sources": [1]},
                  {"type": "concatenate", "sources": [2, 3]}],
        "layers": [{"architecture": "embedding", "sublayers": [
            {"index": index, "n_out": 2, "weights": [0.5, -1.0, 2.0, 0.25, 1.5, -0.75]}]},
            {"architecture": "gru", "activation": "tanh", "inner_activation": "hard_sigmoid",
             "components": {g: {"weights": list(np.linspace(-1, 1, 6)), "bias": [0.1, -0.1],
                                "U": [0.3, -0.2, 0.1, 0.4]} for g in ("z", "r", "h")}}],
        "outputs": {"out": {"node_index": 4, "labels": ["g0", "g1", "s0", "s1", "s2"]}},
    }


def test_embedding_gru_sum_and_refused_events():
    doc = _embedding_network(1)
    net = load_network(doc)
    rng = np.random.default_rng(1)
    sequences = [np.stack([rng.normal(size=n), rng.integers(0, 3, size=n)], axis=1)
                 for n in rng.integers(0, 6, size=40)]
    sequences[3][0, 1] = 2.5  # not an integer: lwtnn refuses the event
    sequences[7][-1, 1] = 3.0  # out of range
    with pytest.raises(EvaluationError) as info:
        net.evaluate({}, {"trk": sequences})
    expected = info.value.outputs["out"]
    ours = onnx_outputs(export(doc), net, {}, {"trk": sequences})["out"]
    assert np.isnan(ours[3]).all() and np.isnan(ours[7]).all()
    kept = [i for i in range(40) if i not in info.value.events]
    assert info.value.events == [3, 7]
    assert_within(ours[kept], expected[kept], 1e-12, "embedding")


def test_what_onnx_cannot_express_is_refused_naming_the_layer(tmp_path, capsys):
    network = tmp_path / "net.json"
    network.write_text(json.dumps(_embedding_network(0)))
    with pytest.raises(ExportError, match=r"node 1 \(layer 0, embedding\): embeds variable 0"):
        export(network)
    output = tmp_path / "net.onnx"
    assert main(["export", str(network), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "cannot export to ONNX" in err and "node 1 (layer 0, embedding)" in err
    assert not output.exists()


def test_cli_export_writes_float64_and_float32(tmp_path):
    network = tmp_path / "net.json"
    network.write_text(json.dumps(SEQUENTIAL))
    for flag, elem in (([], onnx.TensorProto.DOUBLE), (["--float32"], onnx.TensorProto.FLOAT)):
        output = tmp_path / "net.onnx"
        assert main(["export", str(network), "-o", str(output), *flag]) == 0
        model = onnx.load(str(output))
        assert model.graph.output[0].type.tensor_type.elem_type == elem
    assert main(["export", str(network), "-o", str(network)]) == 2
    assert main(["export", str(tmp_path / "absent.json"), "-o", str(output)]) == 1


def test_a_5000_node_chain_exports_without_recursion():
    depth = 5000
    doc = {"inputs": [{"name": "in", "variables": [{"name": "a", "offset": 0, "scale": 1}]}],
           "input_sequences": [],
           "nodes": [{"type": "input", "sources": [0], "size": 1}]
           + [{"type": "feed_forward", "sources": [i], "layer_index": 0} for i in range(depth)],
           "layers": [{"architecture": "dense", "weights": [], "bias": [1.0],
                       "activation": "linear"}],
           "outputs": {"out": {"node_index": depth, "labels": ["y"]}}}
    model = export(doc)
    assert len(model.graph.node) > depth
