"""Issue 19: exact folding, and no conversion written without being verified.

The normalisations of fixtures/generators/exact_folding.py are the ones folding in
float64 got wrong (a constant column, mean 8000 and std 1e-8: offset -7999.999999999999,
off by 1e-4 after the scale). Each must now pass check at the default bound, at and
around its normalisation centres too; the offset written must be the mean the graph
subtracts, bit for bit; and an emission that is off is refused before it is written.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import api, convert
from onnx2lwtnn.check import CENTRE_STEPS, DEFAULT_TOLERANCE, check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning, VerificationError
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.reference import FLOAT64, OnnxModel

from .support import FIXTURES, manifest

EXACT = [e for e in manifest() if e["issue"] == 19]
SUBTRACTED = ["exact_constant_column", "exact_extreme_normalisation"]


def _arguments(entry: dict) -> dict:
    return {key: FIXTURES / value for key, value in entry["convert_args"].items()}


def _cli_arguments(entry: dict) -> list[str]:
    return [part for key, value in _arguments(entry).items()
            for part in (f"--{key}", str(value))]


def test_the_issue_19_fixtures_are_all_here():
    assert {e["name"] for e in EXACT} >= {
        "exact_constant_column", "exact_extreme_normalisation", "exact_chained_normalisations",
        "exact_scaler_constant_column", "exact_spec_on_graph_normalisation",
        "exact_normalised_and_raw_input"}


@pytest.mark.parametrize("entry", EXACT, ids=[e["name"] for e in EXACT])
def test_normalisations_pass_check_at_the_default_bound_and_at_their_centres(entry):
    path = FIXTURES / entry["file"]
    document = convert(path, **_arguments(entry))
    report = check(path, document, events=2000, seed=5, **_arguments(entry))
    assert report.backend == "onnxruntime float64" and report.tolerance == DEFAULT_TOLERANCE
    assert report.passed, report.table()
    assert max(row.max_rel for row in report.rows) < 1e-12, report.table()


@pytest.mark.parametrize("entry", EXACT, ids=[e["name"] for e in EXACT])
def test_at_the_centres_lwtnn_computes_the_float64_graph(entry):
    """The events where an offset that is off shows most: every variable at its centre
    and a few standard deviations away, computed by the ONNX graph in float64."""
    path = FIXTURES / entry["file"]
    document = convert(path, **_arguments(entry))
    (node,) = document["inputs"]
    offsets = np.array([v["offset"] for v in node["variables"]])
    scales = np.array([v["scale"] for v in node["variables"]])
    steps = np.array(CENTRE_STEPS)[:, None]
    raw = steps / scales - offsets  # lwtnn's normalised value is the step
    spec = _arguments(entry).get("variables")
    fed = raw if spec is None else _spec_preprocessed(raw, spec)
    reference = OnnxModel(onnx.load(str(path)), FLOAT64)
    expected = reference.evaluate({node["name"]: fed})["y"]
    ours = load_network(document).evaluate({node["name"]: raw})["y"]
    assert np.all(np.abs(ours - expected) <= 1e-12 * np.maximum(1.0, np.abs(expected)))


def _spec_preprocessed(raw: np.ndarray, spec_path) -> np.ndarray:
    """The spec's (x - mean) / std, computed here from the spec file itself."""
    spec = json.loads(spec_path.read_text())
    return (raw - np.array(spec["mean"])) / np.array(spec["std"])


@pytest.mark.parametrize("name", SUBTRACTED)
def test_no_folded_offset_differs_from_the_value_the_graph_subtracts(name):
    document = convert(FIXTURES / f"{name}.onnx")
    offsets = [v["offset"] for v in document["inputs"][0]["variables"]]
    assert offsets == [-m for m in _graph_mean(name)]


def _graph_mean(name: str) -> list[float]:
    model = onnx.load(str(FIXTURES / f"{name}.onnx"))
    (mean,) = [numpy_helper.to_array(i) for i in model.graph.initializer
               if i.name.endswith(".mean")]
    return [float(m) for m in mean]


def test_a_normalisation_that_cannot_be_the_inputs_is_a_layer_subtracting_the_mean():
    """The input is also read raw: folded into the next dense layer instead, the mean
    times 1e8 would be summed with the weights' products and cancel; lwtnn's
    normalization layer computes (x + bias) * weights as the graph does."""
    document = convert(FIXTURES / "exact_normalised_and_raw_input.onnx")
    assert all(v["offset"] == 0.0 for v in document["inputs"][0]["variables"])
    (layer,) = [l for l in document["layers"] if l["architecture"] == "normalization"]
    assert layer["bias"] == [-m for m in _graph_mean("exact_normalised_and_raw_input")]


def test_a_scaler_offset_is_the_scaler_offset():
    model = onnx.load(str(FIXTURES / "exact_scaler_constant_column.onnx"))
    (scaler,) = [n for n in model.graph.node if n.op_type == "Scaler"]
    offset = next(a.floats for a in scaler.attribute if a.name == "offset")
    document = convert(FIXTURES / "exact_scaler_constant_column.onnx")
    assert [v["offset"] for v in document["inputs"][0]["variables"]] == [-o for o in offset]


@pytest.mark.parametrize("flags", [[], ["--check"]], ids=["verified", "checked"])
@pytest.mark.parametrize("entry", EXACT, ids=[e["name"] for e in EXACT])
def test_the_command_line_writes_them_with_and_without_check(entry, flags, tmp_path, capsys):
    output = tmp_path / "net.json"
    assert main([str(FIXTURES / entry["file"]), "-o", str(output), *flags,
                 *_cli_arguments(entry)]) == 0, capsys.readouterr().err
    assert load_network(json.loads(output.read_text()))


# -- a broken emission is refused ---------------------------------------------------------

@pytest.fixture
def off_by_a_little(monkeypatch):
    """The emitter writes the constant column's offset as float64 folding did."""
    emit = api.emit

    def broken(ir, interface, fmt):
        document = emit(ir, interface, fmt)
        variables = document["inputs"] if fmt == "sequential" else document["inputs"][0][
            "variables"]
        variables[-1]["offset"] = float(np.nextafter(variables[-1]["offset"], 0.0))
        return document

    monkeypatch.setattr(api, "emit", broken)


def test_a_perturbed_offset_is_refused_by_the_default_verification(off_by_a_little):
    with pytest.raises(VerificationError) as caught:
        convert(FIXTURES / "exact_constant_column.onnx")
    assert "FAIL" in str(caught.value) and not caught.value.report.passed


@pytest.mark.parametrize("fmt", ["graph", "sequential"])
def test_the_command_line_writes_nothing_when_verification_fails(off_by_a_little, fmt,
                                                                 tmp_path, capsys):
    output = tmp_path / "net.json"
    assert main([str(FIXTURES / "exact_constant_column.onnx"), "-o", str(output),
                 "--format", fmt]) == 1
    err = capsys.readouterr().err
    assert not output.exists()
    assert "not written" in err and "FAIL" in err and "y_0" in err  # the check table
    assert "Traceback" not in err


def test_no_verify_writes_what_it_is_given(off_by_a_little, tmp_path):
    output = tmp_path / "net.json"
    assert main([str(FIXTURES / "exact_constant_column.onnx"), "-o", str(output),
                 "--no-verify"]) == 0
    assert output.exists()


def test_a_model_nothing_evaluates_in_float64_is_written_with_one_line_saying_so(tmp_path,
                                                                                 capsys):
    """No runtime here evaluates this RNN in float64 (see test_check_proofs)."""
    output = tmp_path / "net.json"
    assert main([str(FIXTURES / "rnn_relu_activation.onnx"), "-o", str(output)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "not verified" in line]
    assert len(lines) == 1 and "float64" in lines[0]
    assert output.exists()


def test_the_python_api_warns_when_it_cannot_verify():
    with pytest.warns(ConversionWarning, match="not verified"):
        convert(FIXTURES / "rnn_relu_activation.onnx")


# -- random extreme affines --------------------------------------------------------------

ops = st.sampled_from(["Mul", "Add", "Sub", "Div"])
moderate = st.floats(0.1, 10.0).map(lambda v: float(np.float32(v)))
means = st.floats(-1e6, 1e6).map(lambda v: float(np.float32(v)))
stds = st.floats(-12.0, 3.0).map(lambda e: float(np.float32(10.0 ** e)))


@st.composite
def standardised_networks(draw):
    """(x - mean) / std with extreme means and stds, then well-conditioned per-feature
    arithmetic (the float64 graph stays accurate), then a dense layer."""
    width = draw(st.integers(1, 4))
    mean = np.array(draw(st.lists(means, min_size=width, max_size=width)), np.float32)
    std = np.array(draw(st.lists(stds, min_size=width, max_size=width)), np.float32)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "std"], ["t0"])]
    constants = [numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std")]
    for step in range(draw(st.integers(0, 3))):
        value = np.array(draw(st.lists(moderate, min_size=width, max_size=width)), np.float32)
        constants.append(numpy_helper.from_array(value, f"c{step}"))
        nodes.append(helper.make_node(draw(ops), [f"t{step}", f"c{step}"], [f"t{step + 1}"]))
    weights = np.array(draw(st.lists(moderate, min_size=2 * width, max_size=2 * width)),
                       np.float32).reshape(2, width)
    constants += [numpy_helper.from_array(weights, "w"),
                  numpy_helper.from_array(np.float32([0.5, -0.25]), "b")]
    nodes.append(helper.make_node("Gemm", [nodes[-1].output[0], "w", "b"], ["y"], transB=1))
    graph = helper.make_graph(
        nodes, "standardised", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                              ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, mean.astype(np.float64), std.astype(np.float64)


@settings(max_examples=80, derandomize=True, database=None, deadline=None)
@given(standardised_networks())
def test_random_extreme_affines_agree_with_the_float64_reference_to_1e_12(case):
    model, mean, std = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert(model)
    raw = mean + std * np.concatenate([np.random.default_rng(3).normal(size=(40, len(mean))),
                                       np.array(CENTRE_STEPS)[:, None] * np.ones(len(mean))])
    expected = OnnxModel(model, FLOAT64).evaluate({"x": raw})["y"]
    ours = load_network(document).evaluate({"x": raw})["y"]
    worst = np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected)))
    assert worst <= 1e-12, worst


def test_verification_evaluates_only_the_outputs_kept(recwarn):
    """--outputs y of a model whose other output is a constant (no events axis): the
    reference computes y alone, so the conversion is verified, not left unverified."""
    weights = np.random.default_rng(2).normal(size=(2, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1),
         helper.make_node("Identity", ["c"], ["version"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2]),
         helper.make_tensor_value_info("version", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(weights, "W"),
         numpy_helper.from_array(np.array([3.0], np.float32), "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    document = convert(model, outputs=["y"])
    assert list(document["outputs"]) == ["y"]
    assert not [w for w in recwarn if "not verified" in str(w.message)]


def test_a_model_only_the_onnx_package_evaluates_is_evaluated_once(monkeypatch):
    """Gemm of opset 6, which onnxruntime does not run: the proof's float64 reference is
    the onnx package's evaluator, which a float32 run of that same evaluator could not
    vouch for (only onnxruntime's can), so the model is not evaluated a second time (a
    fixed batch of 789,444, as hls4ml's three_layer_bn_pytorch, made that run seconds)."""
    from onnx import reference
    built = []

    class Counted(reference.ReferenceEvaluator):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(reference, "ReferenceEvaluator", Counted)
    weights = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], broadcast=1)], "old",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "w"),
         numpy_helper.from_array(np.array([0.5, -1], np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    network = load_network(convert(model))
    assert len(built) == 1
    x = np.array([[1.0, 2.0, -3.0]])
    np.testing.assert_allclose(network.evaluate({"x": x})["y"],
                               x @ weights.astype(float) + [0.5, -1], rtol=1e-15)
