"""Oracles that did not write the conversion (issue 26): a variable spec's preprocessing
computed here from the spec file, and the emitter's shared layers against the float64
ONNX model, each at the bound the docs promise (1e-9 relative).

Conversions here skip the built-in verification (``verify=False``): the verification
uses the package's own reading of the spec, so it would agree with a wrong reading; the
test is the oracle.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.errors import ConversionWarning
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_exact, manifest

# -- a variable spec, read by the test ------------------------------------------------------
#
# lwtnn's forms (keras2json's {"inputs": [{name, offset, scale}]}, kerasfunc2json's
# {"inputs": [{name, variables: [...]}]}) and {"variables", "offset", "scale"} with the
# "lwtnn" convention mean (x + offset) * scale; "subtract-divide" means (x - offset) /
# scale; mean/std files (x - mean) / std, umami's {"shift", "scale"} (x - shift) / scale.


def _lwtnn(offsets, scales):
    return lambda x: (x + np.asarray(offsets, float)) * np.asarray(scales, float)


def _standardise(means, spreads):
    return lambda x: (x - np.asarray(means, float)) / np.asarray(spreads, float)


def spec_preprocessing(spec: dict, convention, inputs: list[str]) -> dict:
    """ONNX input name -> the function the analysis applies to raw values."""
    if "inputs" in spec and all("variables" in node for node in spec["inputs"]):
        return {node["name"]: _lwtnn([v["offset"] for v in node["variables"]],
                                     [v["scale"] for v in node["variables"]])
                for node in spec["inputs"]}
    (name,) = inputs
    if "inputs" in spec:  # keras2json
        return {name: _lwtnn([v["offset"] for v in spec["inputs"]],
                             [v["scale"] for v in spec["inputs"]])}
    if "offset" in spec:
        form = _lwtnn if convention == "lwtnn" else _standardise
        assert convention in ("lwtnn", "subtract-divide")
        return {name: form(spec["offset"], spec["scale"])}
    numbers = spec.get("normalization", spec)
    if "mean" in numbers:
        return {name: _standardise(numbers["mean"], numbers.get("std", numbers.get("stddev")))}
    per_variable = [v for v in numbers.values() if isinstance(v, dict)]
    if per_variable:
        means = [v.get("mean", v.get("shift")) for v in per_variable]
        spreads = [v.get("std", v.get("stddev", v.get("scale"))) for v in per_variable]
        return {name: _standardise(means, spreads)}
    return {name: lambda x: x}  # names only


def _output_names(spec: dict) -> dict[str, str]:
    """lwtnn output name -> the ONNX output it computes (a graph spec may rename)."""
    return {o["name"]: o.get("onnx_output", o["name"]) for o in spec.get("outputs", [])}


SPEC_ENTRIES = [e for e in manifest() if e["expect"] == "convert"
                and "variables" in e["convert_args"]
                and "parameters" not in json.loads(
                    (FIXTURES / e["convert_args"]["variables"]).read_text())]


def test_every_spec_form_has_a_fixture_here():
    names = {e["name"] for e in SPEC_ENTRIES}
    assert {"varspec_keras2json", "check_spec_keras2json", "varspec_graph", "check_spec_graph",
            "check_spec_arrays_lwtnn", "check_spec_arrays_subtract_divide", "prep_mean_std",
            "prep_keyed_mean_std", "prep_normalization_stddev", "prep_shift_scale",
            "prep_names_only"} <= names


@pytest.mark.parametrize("entry", SPEC_ENTRIES, ids=[e["name"] for e in SPEC_ENTRIES])
def test_a_spec_means_what_its_file_says(entry):
    """lwtnn on raw values equals the float64 ONNX model on the values the spec file
    says the analysis feeds it."""
    path = FIXTURES / entry["file"]
    spec_path = FIXTURES / entry["convert_args"]["variables"]
    convention = entry["convert_args"].get("variables_convention")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert(path, variables=spec_path, variables_convention=convention,
                           verify=False)
    model = onnx.load(str(path))
    constants = {i.name for i in model.graph.initializer}
    widths = {i.name: i.type.tensor_type.shape.dim[-1].dim_value for i in model.graph.input
              if i.name not in constants}
    preprocessing = spec_preprocessing(json.loads(spec_path.read_text()), convention,
                                       list(widths))
    rng = np.random.default_rng(26)
    raw = {name: rng.normal(size=(300, width)) * 40.0 for name, width in widths.items()}
    ours = load_network(document).evaluate(raw)
    renamed = _output_names(json.loads(spec_path.read_text()))
    ours = {renamed.get(name, name): values for name, values in ours.items()}
    assert_exact(ours, model, {name: preprocessing[name](x) for name, x in raw.items()})


def test_a_keras2json_spec_is_written_as_its_numbers():
    """keras2json's offset and scale are lwtnn's own: written as they are, not negated or
    inverted (nothing in this graph folds into the inputs)."""
    spec = json.loads((FIXTURES / "varspec_keras2json.variables.json").read_text())
    document = convert(FIXTURES / "varspec_keras2json.onnx",
                       variables=FIXTURES / "varspec_keras2json.variables.json", verify=False)
    written = document["inputs"][0]["variables"]
    assert [(v["name"], v["offset"], v["scale"]) for v in written] == [
        (v["name"], v["offset"], v["scale"]) for v in spec["inputs"]]


# -- layers sharing weights ----------------------------------------------------------------

def two_gemms(same_bias: bool) -> onnx.ModelProto:
    """y = (a W^T + b1) + relu(b W^T + b2): one weight matrix, two biases (or one), on
    inputs a and b."""
    rng = np.random.default_rng(19)
    weights = rng.normal(size=(3, 4)).astype(np.float32)
    b1 = rng.normal(size=3).astype(np.float32)
    b2 = b1 if same_bias else rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["a", "w", "b1"], ["h1"], transB=1),
         helper.make_node("Gemm", ["b", "w", "b2"], ["h2"], transB=1),
         helper.make_node("Relu", ["h1"], ["r1"]),
         helper.make_node("Relu", ["h2"], ["r2"]),
         helper.make_node("Add", ["r1", "r2"], ["y"])], "shared",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 4]) for name in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(b2, "b2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _events() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {name: rng.normal(size=(200, 4)) * 3 for name in "ab"}


@pytest.mark.parametrize("layout", ["literal", "cheapest"])
def test_layers_sharing_weights_but_not_biases_stay_two_layers(layout):
    model = two_gemms(same_bias=False)
    document = convert(model, layout=layout, verify=False)
    events = _events()
    assert_exact(load_network(document).evaluate(events), model, events)
    biases = {tuple(layer["bias"]) for layer in document["layers"] if len(layer["bias"]) == 3}
    assert len(biases) >= 2


def two_dense(differing: str) -> onnx.ModelProto:
    """y = act1(a W1^T + b1) + act2(b W2^T + b2), one layer in all but ``differing``
    (``weights``, ``bias``, ``activation``; ``width``: activation-only layers, relu(a)
    and relu(c) on inputs 4 and 3 wide, concatenated)."""
    rng = np.random.default_rng(29)
    if differing == "width":
        nodes = [helper.make_node("Relu", ["a"], ["r1"]), helper.make_node("Relu", ["c"], ["r2"]),
                 helper.make_node("Concat", ["r1", "r2"], ["y"], axis=1)]
        inputs, initializers, width = {"a": 4, "c": 3}, [], 7
    else:
        w1 = rng.normal(size=(3, 4)).astype(np.float32)
        w2 = rng.normal(size=(3, 4)).astype(np.float32) if differing == "weights" else w1
        b1 = np.zeros(3, np.float32)
        b2 = rng.normal(size=3).astype(np.float32) if differing == "bias" else b1
        second = "Tanh" if differing == "activation" else "Relu"
        nodes = [helper.make_node("Gemm", ["a", "w1", "b1"], ["h1"], transB=1),
                 helper.make_node("Gemm", ["b", "w2", "b2"], ["h2"], transB=1),
                 helper.make_node("Relu", ["h1"], ["r1"]), helper.make_node(second, ["h2"], ["r2"]),
                 helper.make_node("Add", ["r1", "r2"], ["y"])]
        inputs, width = {"a": 4, "b": 4}, 3
        initializers = [numpy_helper.from_array(v, n)
                        for n, v in (("w1", w1), ("w2", w2), ("b1", b1), ("b2", b2))]
    graph = helper.make_graph(
        nodes, "two_dense",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", w]) for n, w in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("differing", ["weights", "bias", "activation", "width"])
def test_layers_that_differ_in_anything_lwtnn_reads_stay_two_layers(differing):
    """The emitter writes equal layers once: whatever lwtnn builds a layer from (its
    weights, bias, activation and the width it reads) must tell two layers apart."""
    model = two_dense(differing)
    document = convert(model, layout="literal", verify=False)
    assert len(document["layers"]) == 2
    rng = np.random.default_rng(2)
    events = {i.name: rng.normal(size=(200, i.type.tensor_type.shape.dim[1].dim_value)) * 3
              for i in model.graph.input}
    assert_exact(load_network(document).evaluate(events), model, events)


def two_lstms() -> onnx.ModelProto:
    """Two sequence inputs s and t of 5 features, each read by its own LSTM(4) (its own
    weights): y = the sum of their last states."""
    rng = np.random.default_rng(26)
    nodes, initializers = [], []
    for name in "st":
        weights = {f"{name}_w": (1, 16, 5), f"{name}_r": (1, 16, 4), f"{name}_b": (1, 32)}
        initializers += [numpy_helper.from_array((rng.normal(size=shape) * 0.4).astype(
            np.float32), key) for key, shape in weights.items()]
        initializers.append(numpy_helper.from_array(np.array([0], np.int64), f"{name}_axis"))
        nodes += [helper.make_node("Transpose", [name], [f"{name}_tnf"], perm=[1, 0, 2]),
                  helper.make_node("LSTM", [f"{name}_tnf", *weights], ["", f"{name}_h"],
                                   hidden_size=4),
                  helper.make_node("Squeeze", [f"{name}_h", f"{name}_axis"], [f"{name}_last"])]
    nodes.append(helper.make_node("Add", ["s_last", "t_last"], ["y"]))
    graph = helper.make_graph(
        nodes, "two_lstms",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", "T", 5]) for n in "st"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_recurrent_layers_of_one_width_but_their_own_weights_stay_two_layers():
    model = two_lstms()
    document = convert(model, verify=False)
    assert [layer["architecture"] for layer in document["layers"]] == ["lstm", "lstm"]
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 8, size=30)  # one time axis T: each event's s and t alike
    sequences = {name: [rng.normal(size=(int(n), 5)) for n in lengths] for name in "st"}
    assert_exact(load_network(document).evaluate({}, sequences), model, {}, sequences)


def two_convolutions(differing: str) -> onnx.ModelProto:
    """One kernel (4 -> 3 channels, width 3) used by two 1-D convolutions of a sequence
    input, with dilations 1 and 2 (``dilation``) or 'same' and 'causal' padding
    (``padding``): y = the sum over time of both, added."""
    rng = np.random.default_rng(31)
    shapes = {"dilation": ((1, [1, 1]), (2, [2, 2])), "padding": ((1, [1, 1]), (1, [2, 0]))}
    nodes = [helper.make_node("Transpose", ["x"], ["c"], perm=[0, 2, 1])]
    for k, (dilation, pads) in enumerate(shapes[differing]):
        nodes += [helper.make_node("Conv", ["c", "w", "b"], [f"conv{k}"], kernel_shape=[3],
                                   dilations=[dilation], pads=pads),
                  helper.make_node("Transpose", [f"conv{k}"], [f"t{k}"], perm=[0, 2, 1]),
                  helper.make_node("ReduceSum", [f"t{k}", "time"], [f"s{k}"], keepdims=0)]
    nodes.append(helper.make_node("Add", ["s0", "s1"], ["y"]))
    graph = helper.make_graph(
        nodes, "two_convolutions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array((rng.normal(size=(3, 4, 3)) * 0.5).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(size=3).astype(np.float32), "b"),
         numpy_helper.from_array(np.array([1], np.int64), "time")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("differing", ["dilation", "padding"])
def test_convolutions_of_one_kernel_but_their_own_reach_stay_two_layers(differing):
    model = two_convolutions(differing)
    document = convert(model, verify=False)
    assert [layer["architecture"] for layer in document["layers"]] == ["conv1d", "conv1d"]
    rng = np.random.default_rng(4)
    sequences = {"x": [rng.normal(size=(int(n), 4)) for n in rng.integers(1, 8, size=30)]}
    assert_exact(load_network(document).evaluate({}, sequences), model, {}, sequences)


def test_layers_sharing_weights_and_biases_are_written_once():
    model = two_gemms(same_bias=True)
    document = convert(model, layout="literal", verify=False)
    events = _events()
    assert_exact(load_network(document).evaluate(events), model, events)
    dense = [i for i, layer in enumerate(document["layers"]) if len(layer["weights"]) == 12]
    users = [n for n in document["nodes"] if n.get("layer_index") in dense]
    assert len(dense) == 1 and len(users) == 2
