"""Every number and promise the documentation makes, pinned by a test that fails when it
changes (issue 26).

The numbers are written here as the documents state them, and each test first reads the
document to make sure it still says so: a test that took ``check.DEFAULT_TOLERANCE`` as
its expectation would agree with any value the code chose. The bounds are pinned from
both sides, by a network that is off by half the bound (PASS) and by twice the bound
(FAIL).
"""
from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import api, convert, files, to_json
from onnx2lwtnn.check import check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning, FileError, VerificationError
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, REPO, manifest

README = (REPO / "README.md").read_text()
CHECK_DOC = (REPO / "docs" / "check.md").read_text()
LIMITS_DOC = (REPO / "docs" / "limits.md").read_text()

PROMISED_BOUND = 1e-9            # README, docs/check.md: the default bound of check
PROMISED_REFERENCE_BOUND = 1e-5  # README: --reference-tolerance's default, relative


def test_the_documents_still_promise_these_bounds():
    assert "`|lwtnn - onnx| <= 1e-9 * max(1, |onnx|)`" in README
    assert "more than `1e-9 * max(1, |onnx|)`" in README  # every conversion, verified
    assert "`--reference-tolerance` (default 1e-5 relative)" in README
    assert "The default bound, 1e-9 relative" in CHECK_DOC


# -- a network off by a known amount ------------------------------------------------------

def small_linear_model(width: int = 4) -> onnx.ModelProto:
    """y = x W^T + b with small weights: on check's unit-normal events |y| < 1, so a bias
    off by delta makes every output off by exactly delta relative to max(1, |y|)."""
    rng = np.random.default_rng(26)
    weights = (rng.uniform(-0.05, 0.05, size=(2, width))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "w"),
         numpy_helper.from_array(np.float32([0.125, -0.25]), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def off_by(document: dict, delta: float) -> dict:
    """The document with its last layer's bias moved by delta."""
    moved = json.loads(json.dumps(document))
    moved["layers"][-1]["bias"] = [b + delta for b in moved["layers"][-1]["bias"]]
    return moved


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    folder = tmp_path_factory.mktemp("linear")
    model = small_linear_model()
    onnx.save(model, str(folder / "m.onnx"))
    return folder / "m.onnx", convert(model)


@pytest.mark.parametrize("factor, passes", [(0.5, True), (2.0, False)])
def test_check_passes_within_the_promised_bound_and_fails_beyond(linear, factor, passes):
    path, document = linear
    report = check(path, off_by(document, factor * PROMISED_BOUND), events=300)
    assert report.tolerance == PROMISED_BOUND
    assert report.passed is passes, report.table()
    assert max(row.max_rel for row in report.rows) == pytest.approx(factor * PROMISED_BOUND,
                                                                    rel=1e-3)


@pytest.mark.parametrize("factor, code", [(0.5, 0), (2.0, 1)])
def test_check_on_the_command_line_keeps_the_promised_bound(linear, factor, code, tmp_path,
                                                            capsys):
    path, document = linear
    network = tmp_path / "net.json"
    network.write_text(json.dumps(off_by(document, factor * PROMISED_BOUND)))
    assert main(["check", str(path), str(network), "--events", "200"]) == code
    assert "tolerance 1e-09 * max(1, |reference|)" in capsys.readouterr().out


def test_tolerance_on_the_command_line_moves_the_bound(linear, tmp_path, capsys):
    path, document = linear
    network = tmp_path / "net.json"
    network.write_text(json.dumps(off_by(document, 2 * PROMISED_BOUND)))
    assert main(["check", str(path), str(network), "--events", "200",
                 "--tolerance", "1e-8"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_every_conversion_is_verified_at_the_promised_bound(factor, monkeypatch):
    """The emitter moved by half the bound writes; by twice the bound, nothing."""
    emit = api.emit
    monkeypatch.setattr(api, "emit", lambda ir, interface, fmt: off_by(
        emit(ir, interface, fmt), factor * PROMISED_BOUND))
    if factor < 1:
        assert convert(small_linear_model())
    else:
        with pytest.raises(VerificationError, match="FAIL"):
            convert(small_linear_model())


# -- reference outputs: --reference-tolerance -------------------------------------------

@pytest.fixture(scope="module")
def given_outputs(linear, tmp_path_factory):
    """Raw events and lwtnn's own outputs on them, to be moved by a known amount."""
    path, document = linear
    x = np.random.default_rng(7).normal(size=(50, 4))
    return x, load_network(document).evaluate({"x": x})["y"]


def _events_file(folder, x, outputs, delta):
    path = folder / f"events_{delta:g}.npz"
    np.savez(path, x=x, out_y=outputs + delta)
    return path


@pytest.mark.parametrize("factor, code", [(0.5, 0), (2.0, 1)])
def test_reference_outputs_are_held_to_the_promised_default(linear, given_outputs, factor,
                                                            code, tmp_path, capsys):
    path, document = linear
    network = tmp_path / "net.json"
    network.write_text(json.dumps(document))
    events = _events_file(tmp_path, *given_outputs, factor * PROMISED_REFERENCE_BOUND)
    assert main(["check", str(path), str(network), "--inputs", str(events)]) == code
    out = capsys.readouterr().out
    assert f"reference outputs: {'PASS' if code == 0 else 'FAIL'}" in out
    assert "tolerance 1e-05)" in out


@pytest.mark.parametrize("flag, factor, code", [("1e-4", 2.0, 0), ("1e-6", 0.5, 1)])
def test_reference_tolerance_on_the_command_line(linear, given_outputs, flag, factor, code,
                                                 tmp_path, capsys):
    path, document = linear
    network = tmp_path / "net.json"
    network.write_text(json.dumps(document))
    events = _events_file(tmp_path, *given_outputs, factor * PROMISED_REFERENCE_BOUND)
    assert main(["check", str(path), str(network), "--inputs", str(events),
                 "--reference-tolerance", flag]) == code
    out = capsys.readouterr().out
    assert f"tolerance {float(flag):g})" in out and ("PASS" if code == 0 else "FAIL") in out


def test_reference_tolerance_in_python(linear, given_outputs, tmp_path):
    path, document = linear
    events = _events_file(tmp_path, *given_outputs, 2 * PROMISED_REFERENCE_BOUND)
    assert not check(path, document, inputs=events).passed
    assert check(path, document, inputs=events, reference_tolerance=1e-4).passed


# -- the file limits of docs/limits.md ----------------------------------------------------

def _documented_limits() -> dict[str, int]:
    """'| file | N MB | why |' rows of docs/limits.md: file -> bytes."""
    rows = re.findall(r"^\s*\| ([^|]+?) \| (\d+) MB \|", LIMITS_DOC, flags=re.M)
    return {name: int(size) << 20 for name, size in rows}


def test_the_documented_file_limits_are_these():
    assert _documented_limits() == {
        "ONNX model": 2048 << 20, "lwtnn network JSON": 1024 << 20, "variable spec": 64 << 20,
        "events (`--inputs` CSV, or an `.npz`'s arrays decompressed)": 256 << 20}


def _sparse(path, size: int):
    with open(path, "wb") as stream:
        stream.truncate(size)
    return path


@pytest.mark.parametrize("kind, megabytes, over", [
    ("model", 2048, 1), ("network", 1024, 1), ("spec", 64, 1), ("events", 256, 1),
    ("spec", 64, 0)])  # at the limit: the spec only (reading 256 MB to 2 GB adds nothing)
def test_each_file_kind_is_refused_just_over_its_documented_limit(kind, megabytes, over,
                                                                  tmp_path, capsys):
    """A sparse file one byte over the limit is refused by its size alone, before a byte
    is read; one at the limit is read (and refused for what it holds, zeros). The
    network is given to ``run`` (``check`` reads a refused network again to say whether
    it is binary)."""
    size = (megabytes << 20) + over
    model, network = FIXTURES / "mlp_opset13.onnx", tmp_path / "net.json"
    if kind != "network":
        network.write_text(to_json(convert(model)))
    big = {"model": "big.onnx", "network": "big.json", "spec": "spec.json",
           "events": "events.csv"}[kind]
    path = _sparse(tmp_path / big, size)
    args = {"model": [str(path), "-o", str(tmp_path / "out.json")],
            "network": ["run", str(path), "--inputs", str(_one_event(tmp_path))],
            "spec": [str(model), "-o", str(tmp_path / "out.json"), "--variables", str(path)],
            "events": ["check", str(model), str(network), "--inputs", str(path)]}[kind]
    code = main(args)
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    over_limit = f"over the {megabytes} MB limit"
    assert (over_limit in err) == bool(over), err
    assert not (tmp_path / "out.json").exists()


def _one_event(folder):
    path = folder / "one.csv"
    path.write_text("x_0\n1\n")
    return path


def _documented_computing_limits() -> dict[str, int]:
    rows = re.findall(r"^\s*\| ([^|]+?) \| ([\d,]+) \|", LIMITS_DOC, flags=re.M)
    return {name: int(value.replace(",", "")) for name, value in rows}


def test_the_documented_computing_limits_are_these():
    assert _documented_computing_limits() == {
        "`constant-values`": 10_000_000, "`loop-trips`": 10_000, "`dimension`": 100_000,
        "`tmva-variables`": 1_000}


def _filled(count: int) -> onnx.ModelProto:
    """x + sum(ConstantOfShape([count]))."""
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
         helper.make_node("ReduceSum", ["big"], ["c"], name="total", keepdims=1),
         helper.make_node("Add", ["x", "c"], ["y"], name="add")], "filled",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([count], np.int64), "shape")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_constant_of_the_documented_size_folds_and_one_more_value_is_refused():
    assert convert(_filled(10_000_000), verify=False)
    with pytest.raises(ConversionError, match="'fill'"):
        convert(_filled(10_000_001), verify=False)


# -- the interface contract: weights parse back -----------------------------------------

CONVERTIBLE = [e for e in manifest() if e["expect"] == "convert"]


def _arguments(entry: dict) -> dict:
    return {key: FIXTURES / value if value in entry["extras"] else value
            for key, value in entry["convert_args"].items()}


def _float32_arrays(model: onnx.ModelProto) -> list[np.ndarray]:
    """Every float32 constant of the file, flattened, as given and transposed."""
    arrays = [numpy_helper.to_array(t) for t in model.graph.initializer]
    arrays += [numpy_helper.to_array(a.t) for n in model.graph.node if n.op_type == "Constant"
               for a in n.attribute if a.name == "value"]
    found = []
    for array in arrays:
        if array.dtype == np.float32 and array.size > 1:
            found.append(array.ravel())
            if array.ndim == 2:
                found.append(array.T.ravel())
    return found


def _layer_arrays(layer: dict) -> list[list[float]]:
    parts = [layer] + list(layer.get("components", {}).values())
    return [part[key] for part in parts for key in ("weights", "U", "bias") if key in part]


# Layers that fold a normalisation or a rescaling are computed, not copied (README), and
# their weights are within float32 rounding of the file's: e.g. Keras's hard sigmoid
# rescaled by alpha / 0.2, a BatchNormalization or a Mul folded into the weights.
COMPUTED_WEIGHTS = {"act_hardsigmoid_keras", "affine_on_input", "flatten_batchnorm_transposed",
                    "skl2onnx_mlp_classifier_binary", "tf2onnx_keras_flatten_scaled"}
# Measured: 150 of the 154 other fixtures that convert write at least one weight array
# copied from the file; none may drop out of this test unseen.
MINIMUM_FIXTURES_WITH_COPIED_WEIGHTS = 150


def _copied_weights(entry: dict) -> int:
    """How many of the written weight arrays equal a float32 array of the ONNX file once
    rounded to float32; each of them must be exactly that float32 array, as lwtnn parses
    the JSON text."""
    path = FIXTURES / entry["file"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        written = json.loads(to_json(convert(path, layout="literal", verify=False,
                                             **_arguments(entry))))
    arrays = [(len(a), a) for a in _float32_arrays(onnx.load(str(path)))]
    copied = 0
    for layer in written.get("layers", []):
        for values in _layer_arrays(layer):
            ours = np.array(values, dtype=np.float64)
            for size, array in arrays:
                if size == len(ours) and np.array_equal(ours.astype(np.float32), array):
                    assert np.array_equal(ours, array.astype(np.float64)), (
                        f"{entry['name']}: a weight array copied from the file does not "
                        "parse back to exactly its float32 values")
                    copied += 1
                    break
    return copied


def test_every_copied_weight_parses_back_to_exactly_its_float32_value():
    """The interface contract, on every fixture that converts (not one)."""
    counts = {e["name"]: _copied_weights(e) for e in CONVERTIBLE
              if e["name"] not in COMPUTED_WEIGHTS}
    assert sum(1 for c in counts.values() if c) >= MINIMUM_FIXTURES_WITH_COPIED_WEIGHTS, counts


# -- the file policy's guards -------------------------------------------------------------

def _under_reported(monkeypatch, path, by: int = 1):
    """os.fstat reports ``path`` ``by`` bytes shorter than it is: the file grew between
    the size being read and the bytes."""
    real = os.fstat
    inode = os.stat(path).st_ino

    def fstat(fd):
        info = real(fd)
        if info.st_ino != inode:
            return info
        fields = list(info[:10])
        fields[6] -= by
        return os.stat_result(fields)

    monkeypatch.setattr(files.os, "fstat", fstat)


def test_a_file_that_grows_while_it_is_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "spec.json"
    path.write_text('{"a": 1}')
    _under_reported(monkeypatch, path)
    with pytest.raises(FileError, match="the variable spec changed while it was read"):
        files.read_bytes(path, "variable spec", files.SPEC_LIMIT)


def test_a_model_that_grows_while_it_is_read_converts_to_nothing(tmp_path, monkeypatch,
                                                                 capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes((FIXTURES / "mlp_opset13.onnx").read_bytes())
    _under_reported(monkeypatch, model)
    assert main([str(model), "-o", str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert "changed while it was read" in err and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


# -- run --replace all on the command line ------------------------------------------------

def test_run_replace_all_gives_infinities_their_defaults_on_the_command_line(tmp_path,
                                                                             capsys):
    document = convert(small_linear_model())
    document["inputs"][0]["variables"][1]["default"] = 0.5
    network = tmp_path / "net.json"
    network.write_text(json.dumps(document))
    names = [v["name"] for v in document["inputs"][0]["variables"]]
    events = tmp_path / "events.csv"
    events.write_text(",".join(names) + "\n1,inf,2,3\n1,-inf,2,3\n1,0.5,2,3\n")
    assert main(["run", str(network), "--inputs", str(events)]) == 2  # NaN only, by default
    assert "non-finite" in capsys.readouterr().err
    output = tmp_path / "out.csv"
    assert main(["run", str(network), "--inputs", str(events), "--replace", "all",
                 "-o", str(output)]) == 0
    assert "2 value(s) replaced by defaults" in capsys.readouterr().err
    rows = np.loadtxt(output, delimiter=",", skiprows=1)
    assert np.array_equal(rows[0], rows[2]) and np.array_equal(rows[1], rows[2])
    expected = load_network(document).evaluate({"x": np.array([[1.0, 0.5, 2.0, 3.0]])})["y"]
    np.testing.assert_array_equal(rows[2], expected[0])
