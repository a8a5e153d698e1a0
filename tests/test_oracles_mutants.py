"""Tests written for the survivors of the mutation campaign (benchmarks/mutation.py,
issue 26): each pins a behaviour that a small change to the code left unnoticed.
Conversions skip the built-in verification, so that the test is the oracle."""
from __future__ import annotations

import io
import json
from fractions import Fraction
from typing import Optional

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import UsageError, convert, correctionset
from onnx2lwtnn.api import conversion
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError
from onnx2lwtnn.exact import Exact, ExactRangeError, as_floats
from onnx2lwtnn.ir import IRGraph, Port
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.passes import fold_constants, fold_shapes
from onnx2lwtnn.rounding import round_constants
from onnx2lwtnn.specs.lwtnn_forms import template

from .support import FIXTURES, assert_exact

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


# -- specs: what each form carries besides numbers, and which file a complaint names ------

VARIABLES5 = ["jet_pt", "jet_eta", "met", "ht", "n_jets"]
FIVE = FIXTURES / "prep_mean_std.onnx"  # x [N, 5] -> y


def _entries(**changed) -> dict:
    entries = {name: {"mean": 1.0, "std": 2.0} for name in VARIABLES5}
    entries.update(changed)
    return entries


BAD_SPECS = [  # spec, convention, what the message says after "<file>: "
    ({"variables": VARIABLES5, "mean": [0, 0, "x", 0, 0], "std": [1] * 5}, None,
     "variable 'met': 'mean' is not a number ('x')"),
    ({"variables": VARIABLES5, "mean": [0] * 5, "std": [1, 1, 1, None, 1]}, None,
     "variable 'ht': 'std' is not a number (None)"),
    ({"variables": VARIABLES5, "mean": [0] * 5, "stddev": [1, 1, 0, 1, 1]}, None,
     "variable 'met' has stddev 0.0; (x - mean) / stddev needs a positive finite stddev"),
    ({"variables": VARIABLES5, "mean": [0] * 4, "std": [1] * 5}, None,
     "'mean' has 4 values for 5 variables"),
    ({"mean": [0] * 5, "std": [1] * 5}, None,
     "'mean' and 'std' lists need the variable names under 'variables' or 'branches'"),
    ({"variables": VARIABLES5, "mean": [0] * 5, "stdev": [1] * 5}, None,
     "unknown key(s) 'mean', 'stdev'; a mean/std spec has variables or branches names and "
     "mean/std, mean/stddev, shift/scale numbers"),
    ({"variables": VARIABLES5, "extra": {"a": 1}}, None, "unknown key(s) 'extra'"),
    (_entries(met={"mean": "a", "std": 1.0}), None, "variable 'met': 'mean' is not a number"),
    (_entries(ht={"mean": 0.0, "std": "b"}), None, "variable 'ht': 'std' is not a number"),
    (_entries(ht={"mean": 0.0, "std": -1.0}), None,
     "variable 'ht' has std -1.0; (x - mean) / std needs a positive finite std"),
    ({"normalization": _entries(n_jets={"shift": 0.0, "scale": 1.0, "default": "z"})}, None,
     "variable 'n_jets': 'default' is not a number ('z')"),
    ({"variables": VARIABLES5, "normalization": {"jet_pt": {"mean": 0.0, "std": 1.0}}}, None,
     "no mean/std entry for variable(s) jet_eta, met, ht, n_jets"),
    ({"variables": VARIABLES5, "parameters": [{"m": 1}, {"n": 2}]}, None,
     "every parameter point must name the same parameters (m) in the same order"),
    ({"variables": VARIABLES5, "parameters": {"m": 1}}, None,
     "'parameters' must be a list of {name: value} points"),
    ({"variables": VARIABLES5, "mean": [0] * 5, "std": [1] * 5}, "lwtnn",
     "a mean/std spec means (x - mean) / std"),
    ({"variables": VARIABLES5, "offset": [0] * 5, "scale": [1] * 5}, None,
     "a {variables, offset, scale} spec needs variables_convention="),
    ({"variables": VARIABLES5, "offset": [0] * 5, "scale": [1] * 4}, "lwtnn",
     "'variables', 'offset' and 'scale' must be lists of one length"),
    ({"variables": VARIABLES5, "offset": 0.5, "scale": [1] * 5}, "lwtnn",
     "'variables', 'offset' and 'scale' must be lists of one length"),
    ({"inputs": [{"name": n, "offset": 0, "scale": 1} for n in VARIABLES5]},
     "subtract-divide", "an lwtnn variable spec always means (x + offset) * scale"),
    ({"inputs": [{"name": n, "offset": 0, "scale": 1} for n in VARIABLES5[:4]]}, None,
     "the spec has 4 variables for input 'x', but the ONNX input has 5 features"),
    ({"inputs": [{"name": "x", "variables": [{"name": n, "offset": 0, "scale": 1}
                                             for n in VARIABLES5]}],
      "input_sequences": [{"name": "x", "variables": [{"name": n, "offset": 0, "scale": 1}
                                                      for n in VARIABLES5]}]}, None,
     "input 'x' belongs under 'inputs'"),
    ({"inputs": [{"name": "x", "variables": [{"name": n, "offset": [0], "scale": 1}
                                             for n in VARIABLES5]}]}, None,
     "each variable needs a name and numeric offset and scale"),
    ({"inputs": [{"name": n, "offset": True, "scale": 1} for n in VARIABLES5]}, None,
     'each variable needs a name and numeric offset and scale; got {"name": "jet_pt", '
     '"offset": true'),
    ({"inputs": [], "outputs": [{"name": "y", "labels": ["a", "a"]}]}, None,
     "output 'y' has the label 'a' twice"),
    ({"inputs": [], "outputs": [{"name": "y"}]}, None,
     "not a variable spec this tool can read (no 'labels' entry)"),
    ({"inputs": [], "outputs": [{"name": "y", "labels": 5}]}, None,
     "not a variable spec this tool can read (an entry of the wrong type)"),
    ({"variables": VARIABLES5, "offset": [0] * 5, "scale": [1, 1, 0, 1, 1]},
     "subtract-divide",
     "variable 'met' has scale 0.0; (x - mean) / scale needs a positive finite scale"),
    ({"variables": VARIABLES5, "offset": [0, "a", 0, 0, 0], "scale": [1] * 5}, "lwtnn",
     'each variable needs a name and numeric offset and scale; got {"name": "jet_eta"'),
    ({"variables": VARIABLES5[:4], "offset": [0] * 4, "scale": [1] * 4}, "lwtnn",
     "the spec has 4 variables for input 'x', but the ONNX input has 5 features"),
    ({"variables": VARIABLES5[:4]}, None,
     "the spec has 4 variables for input 'x', but the ONNX input has 5 features"),
    ({"normalization": _entries(ht={"shift": 0.0, "scale": 0.0})}, None,
     "variable 'ht' has scale 0.0; (x - mean) / scale needs a positive finite scale"),
    ({"variables": VARIABLES5, "normalization": {"mean": [0] * 5, "std": [1] * 5,
                                                 "median": [0] * 5}}, None,
     "unknown key(s) 'median'"),
    ({"variables": VARIABLES5, "parameters": []}, None,
     "'parameters' must be a list of {name: value} points"),
    ({"variables": VARIABLES5, "parameters": [1]}, None,
     "'parameters' must be a list of {name: value} points"),
    ({"inputs": [{"name": "jets", "variables": []}]}, None, "unknown input 'jets'"),
    ({"inputs": [{"name": n, "offset": "no", "scale": 1} for n in VARIABLES5]}, None,
     "each variable needs a name and numeric offset and scale"),
    ({"inputs": [{"name": "pt", "offset": 0, "scale": 1} for _ in VARIABLES5]}, None,
     "input 'x' has the variable 'pt' twice"),
    ({"inputs": [{"name": n, "offset": 0, "scale": 1} for n in VARIABLES5],
      "class_labels": ["a", "a"]}, None, "the output has the label 'a' twice"),
    ({"inputs": "x"}, None, "not a variable spec ('inputs' is not a list)"),
    ({"labels": []}, None, "not a variable spec: no 'inputs' list"),
]


@pytest.mark.parametrize("spec, convention, message", BAD_SPECS,
                         ids=[m[:40] for _, _, m in BAD_SPECS])
def test_a_spec_that_cannot_be_read_is_named_with_the_reason(spec, convention, message,
                                                             tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(UsageError) as caught:
        convert(FIVE, variables=path, variables_convention=convention, verify=False)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


ONE_INPUT_FORMS = [  # spec, convention: each describes the model's only input
    ({"inputs": [{"name": f"v{i}", "offset": 0, "scale": 1} for i in range(4)]}, None),
    ({"variables": [f"v{i}" for i in range(4)], "offset": [0] * 4, "scale": [1] * 4}, "lwtnn"),
    ({"variables": [f"v{i}" for i in range(4)], "mean": [0] * 4, "std": [1] * 4}, None),
]


@pytest.mark.parametrize("spec, convention", ONE_INPUT_FORMS)
def test_a_one_input_spec_for_a_model_of_two_inputs_is_named(spec, convention, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(UsageError) as caught:
        convert(FIXTURES / "multi_concat_inputs.onnx", variables=path,
                variables_convention=convention, verify=False)
    assert str(caught.value) == (f"{path}: this spec form describes one input, but the "
                                 "model has 2; use lwtnn's graph spec form")


def test_a_spec_given_as_a_dict_is_named_as_the_variable_spec():
    with pytest.raises(UsageError, match="^variable spec: not a variable spec"):
        convert(FIVE, variables={"inputs": "x"}, verify=False)


def test_a_spec_read_from_stdin(tmp_path, monkeypatch, capsys):
    spec = {"variables": VARIABLES5, "mean": [1.0] * 5, "std": [2.0] * 5}
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(spec).encode())))
    output = tmp_path / "net.json"
    assert main([str(FIVE), "-o", str(output), "--variables", "-"]) == 0, \
        capsys.readouterr().err
    written = json.loads(output.read_text())["inputs"][0]["variables"]
    assert [(v["name"], v["offset"], v["scale"]) for v in written] == [
        (name, -1.0, 0.5) for name in VARIABLES5]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"{")))
    assert main([str(FIVE), "-o", str(output), "--variables", "-"]) != 0
    assert "-: the variable spec is not valid JSON" in capsys.readouterr().err


def test_a_file_that_is_not_json_is_named_as_the_variable_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"inputs": [')
    with pytest.raises(Exception, match=f"^{path}: the variable spec is not valid JSON"):
        convert(FIVE, variables=path, verify=False)


@pytest.mark.parametrize("spec", [
    {"inputs": [{"name": f"trk_{i}", "offset": i, "scale": 2.0} for i in range(6)]},
    {"variables": [f"trk_{i}" for i in range(6)], "mean": [-i for i in range(6)],
     "std": [0.5] * 6}])
def test_a_one_input_spec_names_a_sequence_input(spec):
    """rnnip_lstm's only input is a sequence: the spec's variables are its per-step ones."""
    document = convert(FIXTURES / "rnnip_lstm.onnx", variables=spec, verify=False)
    assert document["inputs"] == []
    (node,) = document["input_sequences"]
    assert [(v["name"], v["offset"], v["scale"]) for v in node["variables"]] == [
        (f"trk_{i}", float(i), 2.0) for i in range(6)]


def test_a_graph_spec_of_outputs_alone_labels_them():
    document = convert(FIVE, variables={"inputs": [], "outputs": [
        {"name": "y", "labels": ["signal"]}]}, verify=False)
    assert document["outputs"]["y"]["labels"] == ["signal"]
    assert [v["name"] for v in document["inputs"][0]["variables"]] == [
        f"x_{i}" for i in range(5)]


@pytest.mark.parametrize("spec, written", [
    # the arrays cover the variables only: the parameter is read as it is
    ({"variables": VARIABLES5[:4], "mean": [1, 2, 3, 4], "std": [2] * 4,
      "parameters": [{"m": 100}, {"m": 200}]},
     [(n, -c, 0.5) for n, c in zip(VARIABLES5[:4], (1, 2, 3, 4))] + [("m", 0.0, 1.0)]),
    # the names list one parameter, the arrays cover both
    ({"variables": ["a", "b", "c", "m"], "mean": [1, 2, 3, 4, 5], "std": [2] * 5,
      "parameters": [{"m": 1, "n": 2}]},
     [(n, -c, 0.5) for n, c in zip("abcmn", (1, 2, 3, 4, 5))]),
    # names only
    ({"variables": VARIABLES5[:4], "parameters": [{"m": 1}]},
     [(n, 0.0, 1.0) for n in VARIABLES5[:4] + ["m"]]),
])
def test_the_parameters_of_a_parametrised_config_follow_its_variables(spec, written):
    document = convert(FIVE, variables=spec, verify=False)
    assert [(v["name"], v["offset"], v["scale"])
            for v in document["inputs"][0]["variables"]] == written


def test_a_keras2json_spec_gives_the_class_labels_and_miscellaneous():
    spec = json.loads((FIXTURES / "varspec_keras2json.variables.json").read_text())
    path = FIXTURES / "varspec_keras2json.onnx"
    variables = FIXTURES / "varspec_keras2json.variables.json"
    sequential = convert(path, variables=variables, format="sequential", verify=False)
    assert sequential["outputs"] == spec["class_labels"]
    assert sequential["miscellaneous"] == spec["miscellaneous"]
    assert sequential["defaults"] == {"ntrk": 0.0}
    graph = convert(path, variables=variables, verify=False)
    (output,) = graph["outputs"].values()
    assert output["labels"] == spec["class_labels"]


def test_a_graph_spec_renames_an_output_and_keeps_the_others():
    spec = json.loads((FIXTURES / "varspec_graph.variables.json").read_text())
    outputs = spec["outputs"]
    renamed = dict(outputs[0], name="flavour", onnx_output=outputs[0]["name"])
    spec["outputs"] = [renamed] + outputs[1:]
    document = convert(FIXTURES / "varspec_graph.onnx", variables=spec, verify=False)
    assert set(document["outputs"]) == {"flavour"} | {o["name"] for o in outputs[1:]}
    assert document["outputs"]["flavour"]["labels"] == renamed["labels"]


def test_a_spec_of_sequences_alone_is_a_graph_spec():
    """No vector inputs and no outputs: 'input_sequences' alone makes it lwtnn's graph
    form (the sequential form has no sequences)."""
    document = convert(FIXTURES / "rnnip_lstm.onnx", verify=False)
    (node,) = document["input_sequences"]
    spec = {"inputs": [], "input_sequences": [
        {"name": node["name"], "variables": [{"name": f"trk_{i}", "offset": i, "scale": 2.0}
                                            for i in range(len(node["variables"]))]}]}
    converted = convert(FIXTURES / "rnnip_lstm.onnx", variables=spec, verify=False)
    assert converted["input_sequences"][0]["variables"][1] == {"name": "trk_1", "offset": 1.0,
                                                               "scale": 2.0}


def test_a_template_lists_every_node_variable_and_label_with_neutral_numbers():
    document = {"inputs": [{"name": "jet", "variables": [{"name": "pt", "offset": 3.0,
                                                          "scale": 2.0}]}],
                "input_sequences": [{"name": "trk", "variables": [{"name": "d0", "offset": 1.0,
                                                                   "scale": 5.0}]}],
                "outputs": {"y": {"labels": ["b", "c"], "node_index": 0}}}
    assert template(document) == {
        "inputs": [{"name": "jet", "variables": [{"name": "pt", "offset": 0.0, "scale": 1.0}]}],
        "input_sequences": [{"name": "trk", "variables": [{"name": "d0", "offset": 0.0,
                                                           "scale": 1.0}]}],
        "outputs": [{"name": "y", "labels": ["b", "c"]}]}
    del document["input_sequences"]
    assert template(document)["input_sequences"] == []


def _summed_sequence_and_vector() -> onnx.ModelProto:
    """y = dense(v) + dense(sum over time of s): a sequence input before a vector one."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("ReduceSum", ["s", "axes"], ["r"], keepdims=0),
             helper.make_node("Gemm", ["v", "w", "b"], ["h"], transB=1),
             helper.make_node("Gemm", ["r", "w2", "b"], ["h2"], transB=1),
             helper.make_node("Add", ["h", "h2"], ["y"])]
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("s", FLOAT, ["N", "T", 3]),
                     helper.make_tensor_value_info("v", FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 2])],
        [numpy_helper.from_array(np.array([1], np.int64), "axes"),
         numpy_helper.from_array(rng.normal(size=(2, 2)).astype(np.float32), "w"),
         numpy_helper.from_array(rng.normal(size=(2, 3)).astype(np.float32), "w2"),
         numpy_helper.from_array(np.float32([0.1, 0.2]), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_a_vector_input_after_a_sequence_input_can_be_fixed():
    model = _summed_sequence_and_vector()
    document = convert(model, fix={"v_1": 2.0}, verify=False)
    assert [v["name"] for v in document["inputs"][0]["variables"]] == ["v_0"]
    rng = np.random.default_rng(6)
    raw = rng.normal(size=(40, 1))
    sequences = [rng.normal(size=(int(n), 3)) for n in rng.integers(1, 6, size=40)]
    ours = load_network(document).evaluate({"v": raw}, {"s": sequences})
    assert_exact(ours, model, {"v": np.hstack([raw, np.full((40, 1), 2.0)])}, {"s": sequences})


def test_every_vector_input_can_have_a_parameter_fixed():
    """Two inputs a and b: a parameter of the first is found too."""
    rng = np.random.default_rng(8)
    model = _model([helper.make_node("Gemm", ["a", "wa", "bias"], ["ha"], transB=1),
                    helper.make_node("Gemm", ["b", "wb", "bias"], ["hb"], transB=1),
                    helper.make_node("Add", ["ha", "hb"], ["y"])],
                   {"wa": rng.normal(size=(2, 3)), "wb": rng.normal(size=(2, 2)),
                    "bias": [0.5, -0.5]}, {"a": 3, "b": 2}, {"y": 2})
    document = convert(model, fix={"a_1": -1.5, "b_0": 4.0}, verify=False)
    assert [[v["name"] for v in n["variables"]] for n in document["inputs"]] == [
        ["a_0", "a_2"], ["b_1"]]
    a, b = rng.normal(size=(50, 2)), rng.normal(size=(50, 1))
    assert_exact(load_network(document).evaluate({"a": a, "b": b}), model,
                 {"a": np.insert(a, 1, -1.5, axis=1), "b": np.insert(b, 0, 4.0, axis=1)})


@pytest.mark.parametrize("width, more", [(2, False), (12, False), (13, True)])
def test_an_unknown_parameter_lists_the_first_twelve_variables(width, more):
    rng = np.random.default_rng(9)
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
                   {"w": rng.normal(size=(1, width)), "b": [0.0]}, {"x": width}, {"y": 1})
    with pytest.raises(UsageError) as caught:
        convert(model, fix={"mass": 1.0}, verify=False)
    listed = ", ".join(f"x_{i}" for i in range(min(width, 12)))
    assert str(caught.value).endswith(f"the inputs' variables are {listed}"
                                      + (", ..." if more else ""))


def test_a_sequence_variable_is_not_a_parameter():
    """Only vector inputs have parameters: a sequence's variable is an unknown name."""
    with pytest.raises(UsageError, match="unknown parameter.*'s_0'; the inputs' variables "
                                         "are v_0, v_1$"):
        convert(_summed_sequence_and_vector(), fix={"s_0": 1.0}, verify=False)


def _log_of_the_last_feature() -> onnx.ModelProto:
    """y = dense([x_0, x_1, log(x_2)]): an input transform after two raw features."""
    nodes = [helper.make_node("Slice", ["x", "zero", "two", "one"], ["raw"]),
             helper.make_node("Slice", ["x", "two", "three", "one"], ["last"]),
             helper.make_node("Log", ["last"], ["logged"]),
             helper.make_node("Concat", ["raw", "logged"], ["joined"], axis=1),
             helper.make_node("Gemm", ["joined", "w", "b"], ["y"], transB=1)]
    model = _model(nodes, {"w": [[0.5, -1.25, 2.0]], "b": [0.25]}, {"x": 3}, {"y": 1})
    for name, value in (("zero", 0), ("one", 1), ("two", 2), ("three", 3)):
        model.graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64),
                                                               name))
    return model


def test_a_parameter_before_a_transformed_feature_leaves_the_transform_on_its_feature():
    """--format correctionlib: x_0 fixed, the log stays on x_2 (now the second input);
    correctionlib's own evaluation of the written set against the float64 ONNX model."""
    correctionlib = pytest.importorskip("correctionlib")
    model = _log_of_the_last_feature()
    document = conversion(model, format="correctionlib", fix={"x_0": 1.5},
                          verify=False).document
    (correction,) = correctionset.read(document)
    assert correction.branches[0].transforms == {"x_2": "log(x)"}
    corrections = correctionlib.CorrectionSet.from_string(json.dumps(document))
    (name,) = corrections
    evaluator = corrections[name]
    assert [v.name for v in evaluator.inputs] == ["x_1", "x_2"]
    rng = np.random.default_rng(10)
    x1, x2 = rng.normal(size=50) * 3, rng.uniform(0.01, 20.0, size=50)
    ours = np.array([evaluator.evaluate(a, b) for a, b in zip(x1, x2)])
    full = np.column_stack([np.full(50, 1.5), x1, x2])
    assert_exact({"y": ours[:, None]}, model, {"x": full})
    with pytest.raises(UsageError, match="cannot freeze x_2: the graph applies a function"):
        conversion(model, format="correctionlib", fix={"x_2": 1.0}, verify=False)


# -- emit: why a graph is not one chain for the sequential format ------------------------

def _residual() -> onnx.ModelProto:
    """y = relu(x W^T + b) + x: a merge of two branches that both read x."""
    rng = np.random.default_rng(4)
    return _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
                   helper.make_node("Relu", ["h"], ["r"]),
                   helper.make_node("Add", ["r", "x"], ["y"], name="skip")],
                  {"w": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}, {"x": 3}, {"y": 3})


@pytest.mark.parametrize("model, reason", [
    (FIXTURES / "multi_two_outputs.onnx",
     "it has 1 inputs and 2 outputs; the sequential format takes one of each"),
    (_residual(), "node 'skip' merges branches"),
    (FIXTURES / "dips_deepsets.onnx",
     "it reads a sequence; the sequential format takes one vector input")])
def test_the_sequential_format_names_why_a_graph_is_not_one_chain(model, reason):
    with pytest.raises(ConversionError) as caught:
        convert(model, format="sequential", layout="literal", verify=False)
    assert reason in str(caught.value)


# -- carry: sums the chain regroups --------------------------------------------------------

def _relu_read_twice(linear_diagonal: Optional[float] = None) -> onnx.ModelProto:
    """h = relu(x W^T + b), x 16 wide and h 4: y = h + h, or y = h L^T + h with L's
    diagonal given (the chain then sums L_ii + 1 for each element)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["h"])]
    weights = {"w": rng.normal(size=(4, 16)), "b": rng.normal(size=4)}
    if linear_diagonal is None:
        nodes.append(helper.make_node("Add", ["h", "h"], ["y"]))
    else:
        linear = rng.normal(size=(4, 4))
        np.fill_diagonal(linear, linear_diagonal)
        weights.update(l=linear, lb=np.zeros(4))
        nodes += [helper.make_node("Gemm", ["h", "l", "lb"], ["lh"], transB=1),
                  helper.make_node("Add", ["lh", "h"], ["y"])]
    return _model(nodes, weights, {"x": 16}, {"y": 4})


@pytest.mark.parametrize("diagonal, carried", [
    (None, True),      # 1 + 1
    (0.5, True),       # 0.5 + 1
    (1e-10, False)])   # float32(1e-10) + 1 needs 57 bits: the literal graph stays
def test_a_sum_the_chain_regroups_is_exact_or_the_literal_graph_stays(diagonal, carried):
    model = _relu_read_twice(diagonal)
    document = convert(model, verify=False)
    types = [n["type"] for n in document["nodes"]]
    assert ("add" not in types) is carried, types
    events = {"x": np.random.default_rng(12).normal(size=(200, 16))}
    assert_exact(load_network(document).evaluate(events), model, events)


def _a_layer_reading_a_sum(times: int, divided: bool) -> onnx.ModelProto:
    """h = relu(x W^T + b) (16 -> 4); y = (h + h [+ h]) V^T + c, divided by 3 if
    ``divided`` (folded into V, whose weights then need all 53 bits)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["h"]), helper.make_node("Add", ["h", "h"], ["s2"])]
    if times == 3:
        nodes.append(helper.make_node("Add", ["s2", "h"], ["s3"]))
    nodes.append(helper.make_node("Gemm", [f"s{times}", "v", "c"], ["z" if divided else "y"],
                                  transB=1))
    if divided:
        nodes.append(helper.make_node("Div", ["z", "three"], ["y"]))
    return _model(nodes, {"w": rng.normal(size=(4, 16)), "b": rng.normal(size=4),
                          "v": rng.normal(size=(2, 4)), "c": rng.normal(size=2), "three": [3.0]},
                  {"x": 16}, {"y": 2})


@pytest.mark.parametrize("times, divided, carried", [
    (2, False, True),    # V times 2: a power of two
    (3, False, True),    # float32 V times 3 fits a double
    (3, True, False)])   # V / 3 rounded to 53 bits, times 3, would round: the literal graph
def test_a_sum_read_by_the_next_layer_is_multiplied_in_exactly_or_the_literal_graph_stays(
        times, divided, carried):
    model = _a_layer_reading_a_sum(times, divided)
    document = convert(model, verify=False)
    types = [n["type"] for n in document["nodes"]]
    assert ("add" not in types) is carried, types
    events = {"x": np.random.default_rng(13).normal(size=(200, 16))}
    assert_exact(load_network(document).evaluate(events), model, events)


# -- exact: every operation against numpy arrays of Fractions ----------------------------
#
# The oracle is numpy's own object arrays of fractions.Fraction (Python's exact rationals,
# added and multiplied element by element), not Exact's integer numerators and
# denominators. The values span a double's range, so that a numerator or denominator of
# hundreds of digits that lost its Python int (an int64 or a float) would show.

VALUES = np.array([[0.1, -3.0, 1e-300, 2.5e200], [0.0, -7.25, 2.0 ** 60, 1 / 3]])


def _exact_and_fractions(values=VALUES, divisor=3):
    """An Exact whose denominators vary by element, and the same values as Fractions."""
    fractions_ = np.vectorize(Fraction, otypes=[object])(values) / divisor
    return Exact.of(values) / divisor, fractions_


def _fractions(exact: Exact) -> np.ndarray:
    out = np.empty(exact.shape, dtype=object)
    for index in np.ndindex(exact.shape):
        out[index] = exact.fraction(index)
    return out


def _same(exact: Exact, expected) -> None:
    expected = np.asarray(expected, dtype=object)
    assert exact.shape == expected.shape
    assert np.all(_fractions(exact) == expected)


def test_exact_values_are_made_of_floats_ints_and_fractions_in_their_shape():
    _same(Exact.of(VALUES), np.vectorize(Fraction, otypes=[object])(VALUES))
    _same(Exact.of(np.array([2.0 ** 52, 2.0 ** 60, 0.0])), [2 ** 52, 2 ** 60, 0])
    _same(Exact.of(np.zeros(3)), [0, 0, 0])
    _same(Exact.of(np.array([[1, -2], [3, 4]], np.int64)), [[1, -2], [3, 4]])
    thirds = np.array([[Fraction(1, 3), Fraction(-2, 7)], [Fraction(5), 4]], dtype=object)
    _same(Exact.of(thirds), thirds)
    exact, _ = _exact_and_fractions()
    assert Exact.of(exact) is exact
    _same(Exact.zeros((2, 3)), np.zeros((2, 3), dtype=int).astype(object))


def test_exact_shapes_keep_every_value_with_its_denominator():
    exact, fr = _exact_and_fractions()
    assert exact.fraction((1, 3)) == fr[1, 3]
    _same(exact[1], fr[1])
    _same(exact[:, 1:3], fr[:, 1:3])
    assert exact[0, 2].fraction() == fr[0, 2]
    for axis in (0, 1):
        _same(exact.take([1], axis=axis), np.take(fr, [1], axis=axis))
        _same(exact.delete([0], axis=axis), np.delete(fr, [0], axis=axis))
        _same(Exact.concatenate([exact, Exact.of(VALUES)], axis=axis),
              np.concatenate([fr, np.vectorize(Fraction, otypes=[object])(VALUES)], axis=axis))
        _same(Exact.stack([exact, exact], axis=axis), np.stack([fr, fr], axis=axis))
    _same(exact.T, fr.T)
    _same(exact.reshape(4, 2), fr.reshape(4, 2))
    row = exact[0]
    _same(row.broadcast_to((3, 4)), np.broadcast_to(fr[0], (3, 4)))
    diagonal = Exact.diagonal(row)
    expected = np.zeros((4, 4), dtype=int).astype(object)
    expected[np.arange(4), np.arange(4)] = fr[0]
    _same(diagonal, expected)
    _same(diagonal @ row, fr[0] * fr[0])  # the zeros off the diagonal stay ints


def test_exact_arithmetic_is_fraction_arithmetic():
    a, fa = _exact_and_fractions()
    b, fb = _exact_and_fractions(VALUES[::-1] + 1.5, divisor=7)
    _same(-a, -fa)
    _same(a + b, fa + fb)
    _same(Exact.of(VALUES) + Exact.of(2.0 ** 70), np.vectorize(Fraction, otypes=[object])(
        VALUES) + 2 ** 70)  # one denominator each: over their lcm
    _same(0.5 + a, Fraction(1, 2) + fa)
    _same(a - b, fa - fb)
    _same(0.5 - a, Fraction(1, 2) - fa)
    _same(a * b, fa * fb)
    _same(2.0 * a, 2 * fa)
    _same(a / b, fa / fb)
    _same(2.0 / b, 2 / fb)
    _same(b.reciprocal(), 1 / fb)
    assert np.all(_fractions(b.reciprocal()) * fb == 1)
    with pytest.raises(ZeroDivisionError):
        a.reciprocal()  # a holds a zero


def test_exact_products_of_matrices_are_sums_of_fractions():
    a, fa = _exact_and_fractions()
    vector, fv = _exact_and_fractions(np.array([1.5, -1e-200, 3.0, 2.0 ** -40]), divisor=11)
    matrix, fm = _exact_and_fractions(np.arange(12.0).reshape(4, 3) - 5.5, divisor=5)
    _same(a @ vector, fa.dot(fv))
    _same(a @ matrix, fa.dot(fm))
    _same(VALUES @ matrix, np.vectorize(Fraction, otypes=[object])(VALUES).dot(fm))
    _same(a @ (np.arange(12.0).reshape(4, 3) - 5.5),
          fa.dot(np.vectorize(Fraction, otypes=[object])(np.arange(12.0).reshape(4, 3) - 5.5)))
    rows = a * Exact.of(np.array([[3.0], [5.0]])).reciprocal()  # denominators vary by row
    _same(rows @ vector, (fa / np.array([[3], [5]], dtype=object)).dot(fv))
    _same(Exact.zeros((2, 0)) @ Exact.zeros((0,)), [0, 0])
    _same(a @ Exact.zeros((4, 0)), np.zeros((2, 0), dtype=int).astype(object))


def test_exact_questions_and_the_one_rounding():
    a, fa = _exact_and_fractions()
    zero = a.is_zero()
    assert zero.dtype == bool and zero.tolist() == (fa == 0).tolist()
    assert a.equals(a * 1) and not a.equals(a * 2)
    assert a.rounded().tolist() == [[float(f) for f in row] for row in fa]
    assert a.rounded().dtype == np.float64
    floats = as_floats([1, 2])
    assert floats.dtype == np.float64 and floats.tolist() == [1.0, 2.0]
    with pytest.raises(ExactRangeError):
        (Exact.of(1e300) * 1e300).rounded()


def test_rounding_the_constants_names_a_value_beyond_a_double():
    ir = IRGraph(opset=17)
    ir.add("Dense", attrs={"weights": Exact.of([[0.5]]) / 3, "bias": Exact.of([1e300]) * 1e300,
                           "activation": "linear"}, label="dense0")
    (problem,) = round_constants(ir)
    assert (problem.node, problem.op_type) == ("dense0", "Dense")
    assert problem.reason == "bias: a folded constant is beyond the range of a double"
    (node,) = ir.nodes()
    weights = ir.attrs(node)["weights"]
    assert isinstance(weights, np.ndarray) and weights.tolist() == [[float(Fraction(1, 6))]]


# -- fold: shape arithmetic, and nodes evaluated ahead -------------------------------------

def _shape_of_input(**attrs) -> tuple[IRGraph, Port, Port]:
    """x [N, 2, 3] and Shape(x) (with ``start``/``end`` if given)."""
    ir = IRGraph(opset=15)
    x = ir.add("Input", shapes=[("N", 2, 3)], attrs={"name": "x", "dtype": 1})
    ir.inputs.append(x)
    return ir, Port(x), Port(ir.add("Shape", [Port(x)], attrs=attrs, shapes=[(3,)]))


@pytest.mark.parametrize("attrs, dims", [({"start": 1}, [2, 3]), ({"start": 1, "end": 2}, [2]),
                                         ({"end": 1}, None), ({}, None)])
def test_the_static_part_of_a_shape_is_folded(attrs, dims):
    ir, _, shape = _shape_of_input(**attrs)
    assert fold_shapes.fold_static_shape.run(ir) is (dims is not None)
    if dims is not None:
        (const,) = ir.nodes("Const")
        assert ir[const]["value"].tolist() == dims


def _reshaped(ir: IRGraph, x: Port, target: Port) -> str:
    return ir.add("Reshape", [x, target], shapes=[None])


def _batch(ir: IRGraph, shape: Port, index=0) -> Port:
    """Unsqueeze(Gather(Shape(x), index)): the batch size read at run time."""
    gathered = ir.add("Gather", [shape, ir.add_const(np.array(index, np.int64))])
    return Port(ir.add("Unsqueeze", [Port(gathered), ir.add_const(np.array([0]))]))


def test_a_reshape_target_read_through_casts_and_squeezes_gives_the_output_shape():
    ir, x, shape = _shape_of_input()
    minus_one = Port(ir.add("Squeeze", [ir.add_const(np.array([[-1]])), ir.add_const(
        np.array([0]))]))
    batch = Port(ir.add("Cast", [_batch(ir, shape)], attrs={"to": 7}))
    node = _reshaped(ir, x, Port(ir.add("Concat", [batch, minus_one], attrs={"axis": 0})))
    assert fold_shapes.infer_reshape_shape.run(ir)
    assert ir.shape(Port(node)) == ("N", 6)


@pytest.mark.parametrize("target, shape", [([0, 6], ("N", 6)), ([-1, 3, 2], ("N", 3, 2))])
def test_a_constant_reshape_target_gives_the_output_shape(target, shape):
    ir, x, _ = _shape_of_input()
    node = _reshaped(ir, x, ir.add_const(np.array(target)))
    assert fold_shapes.infer_reshape_shape.run(ir)
    assert ir.shape(Port(node)) == shape


def test_dimensions_gathered_together_from_a_shape_give_the_output_shape():
    ir, x, shape = _shape_of_input()
    dims = Port(ir.add("Gather", [shape, ir.add_const(np.array([2, 1]))]))
    node = _reshaped(ir, x, Port(ir.add("Concat", [_batch(ir, shape), dims],
                                        attrs={"axis": 0})))
    assert fold_shapes.infer_reshape_shape.run(ir)
    assert ir.shape(Port(node)) == ("N", 3, 2)


def test_a_reshape_target_read_at_run_time_gives_no_shape():
    """A Gather at an index computed at run time, a Slice of the shape, a part made from
    the input's values: none is read ahead, and nothing fails."""
    ir, x, shape = _shape_of_input()
    runtime = Port(ir.add("Cast", [x], attrs={"to": 7}))
    parts = [Port(ir.add("Gather", [shape, runtime])),
             Port(ir.add("Slice", [shape, ir.add_const(np.array([1])),
                                   ir.add_const(np.array([3]))])),
             runtime]
    for part in parts:
        _reshaped(ir, x, Port(ir.add("Concat", [_batch(ir, shape), part], attrs={"axis": 0})))
    assert not fold_shapes.infer_reshape_shape.run(ir)


def _folded(ir: IRGraph, node: str) -> list:
    """The constant that fold_constants puts in place of ``node``."""
    label = ir[node]["label"]
    assert fold_constants.fold_constant_node.run(ir) and node not in ir.nodes()
    (const,) = [n for n in ir.nodes("Const") if ir[n]["label"] == f"{label}:0"]
    return ir[const]["value"].tolist()


def test_constant_of_shape_is_folded_to_its_value_repeated():
    ir = IRGraph(opset=13)
    node = ir.add("ConstantOfShape", [ir.add_const(np.array([3]))],
                  attrs={"value": np.array([2.5], np.float32)}, shapes=[(3,)], label="fill")
    assert _folded(ir, node) == [2.5, 2.5, 2.5]


def test_a_node_without_an_optional_operand_is_folded():
    ir = IRGraph(opset=13)
    node = ir.add("Clip", [ir.add_const(np.float32([-3, 0.5, 7])), None,
                           ir.add_const(np.float32(1))], shapes=[(3,)], label="clip")
    assert _folded(ir, node) == [-3.0, 0.5, 1.0]


def test_a_node_is_folded_as_the_models_opset_defines_it():
    """Clip's bounds are attributes before opset 11, inputs after."""
    ir = IRGraph(opset=6)
    node = ir.add("Clip", [ir.add_const(np.float32([-3, 0.5, 7]))],
                  attrs={"min": -1.0, "max": 1.0}, shapes=[(3,)], label="clip")
    assert _folded(ir, node) == [-1.0, 0.5, 1.0]
