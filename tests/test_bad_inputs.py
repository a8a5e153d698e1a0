"""Every way an input can be bad ends in a clean refusal: a short message naming the file
and the problem (never a traceback or an "internal error"), exit code 1 (2 for a usage
error), no output file written, and an existing output file left as it was.

Models are built with ``onnx.helper`` in tmp_path; damaged ones start from fixtures.
"""
from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, external_data_helper, helper, numpy_helper

from onnx2lwtnn import Onnx2LwtnnError, convert
from onnx2lwtnn.cli import main

from .support import FIXTURES, REPO

FIXTURE = FIXTURES / "mlp_opset13.onnx"
CUSTOM_DOMAIN = FIXTURES / "refuse_custom_domain.onnx"
FLOAT = TensorProto.FLOAT


# -- helpers ---------------------------------------------------------------------------
def dense_model(weight=None, bias=None, *, dims=("N", 3), elem_type=FLOAT, opset=13,
                weight_name="dense.weight", **gemm_attrs) -> onnx.ModelProto:
    """x [N, 3] -> Gemm(transB=1) -> y [N, 2]."""
    weight = np.ones((2, 3), np.float32) if weight is None else np.asarray(weight, np.float32)
    inits = [numpy_helper.from_array(weight, weight_name)]
    inputs = ["x", weight_name]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32), "dense.bias"))
        inputs.append("dense.bias")
    graph = helper.make_graph(
        [helper.make_node("Gemm", inputs, ["y"], name="dense", transB=1, **gemm_attrs)],
        "dense", [helper.make_tensor_value_info("x", elem_type, list(dims))],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 2])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def convert_cli(model: Path, output: Path, capsys) -> tuple[int, str]:
    """Run the CLI; returns the exit code and stderr, checked to be clean."""
    code = main([str(model), "-o", str(output)])
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("onnx2lwtnn:"), err
    assert captured.out == ""
    return code, err


def outdir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def assert_refused(model: Path, tmp_path: Path, capsys, *fragments: str, code: int = 1,
                   one_line: bool = True) -> str:
    """The model is refused with ``code``, naming it and each fragment; nothing written."""
    folder = outdir(tmp_path)
    output = folder / "net.json"
    got, err = convert_cli(model, output, capsys)
    assert got == code, err
    assert str(model) in err.splitlines()[0], err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    if one_line:
        assert len(err.strip().splitlines()) == 1, err
    assert list(folder.iterdir()) == [], "a failed conversion wrote a file"
    return err


# -- files that are not ONNX models --------------------------------------------------
def test_missing_file(tmp_path, capsys):
    assert_refused(tmp_path / "nope.onnx", tmp_path, capsys, "no such file")


def test_directory(tmp_path, capsys):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    assert_refused(folder, tmp_path, capsys, "is a directory")


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert_refused(path, tmp_path, capsys, "empty file")


def test_fifo_does_not_hang(tmp_path, capsys):
    path = tmp_path / "pipe.onnx"
    os.mkfifo(path)
    assert_refused(path, tmp_path, capsys, "not a regular file")


def test_text_file(tmp_path, capsys):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\nbut a text file\n")
    assert_refused(path, tmp_path, capsys, "not an ONNX model")


def test_random_bytes(tmp_path, capsys):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert_refused(path, tmp_path, capsys, "not an ONNX model")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.1])
def test_truncated_protobuf(tmp_path, capsys, keep):
    data = FIXTURE.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[:int(len(data) * keep)])
    err = assert_refused(path, tmp_path, capsys)
    assert "not an ONNX model" in err or "invalid ONNX model" in err


def test_corrupted_protobuf(tmp_path, capsys):
    data = bytearray(FIXTURE.read_bytes())
    for at in range(0, len(data), 7):
        data[at] ^= 0xFF
    path = tmp_path / "corrupted.onnx"
    path.write_bytes(bytes(data))
    assert_refused(path, tmp_path, capsys, "not an ONNX model")


# -- ONNX models that are invalid or that lwtnn cannot take ---------------------------
def test_model_failing_the_checker(tmp_path, capsys):
    model = dense_model()
    model.graph.node[0].input[1] = "nothere"
    # The checker's message spans lines; it is reported on one.
    assert_refused(save(model, tmp_path / "dangling.onnx"), tmp_path, capsys,
                   "invalid ONNX model", "'nothere'", "is not output of any previous nodes")


def test_custom_domain_model_still_goes_through_the_checker(tmp_path, capsys):
    """It used to skip the checker and die in build_ir with KeyError: 'zzz'."""
    model = onnx.load(str(CUSTOM_DOMAIN))
    model.graph.node[1].input[0] = "zzz"
    assert_refused(save(model, tmp_path / "custom.onnx"), tmp_path, capsys,
                   "invalid ONNX model", "'zzz'")


def test_unknown_operator_domain(tmp_path, capsys):
    err = assert_refused(CUSTOM_DOMAIN, tmp_path, capsys, one_line=False)
    assert "cannot convert" in err.splitlines()[0]
    assert ("FancyActivation 'dense0/FancyActivation': custom operator domain "
            "'com.example.hep' is unknown to lwtnn") in err


def test_undeclared_operator_domain(tmp_path, capsys):
    """A domain used but not imported (as QONNX writes Quant) is named, not a checker
    failure on the first such node."""
    nodes = [helper.make_node("Quant", ["x"], ["q"], name="quant0", domain="org.undeclared"),
             helper.make_node("Relu", ["q"], ["y"], name="relu0")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    err = assert_refused(save(model, tmp_path / "quant.onnx"), tmp_path, capsys, one_line=False)
    assert "Quant 'quant0': custom operator domain 'org.undeclared'" in err


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_standard_op_name_in_a_custom_domain_is_refused(tmp_path, capsys, declared):
    model = dense_model()
    model.graph.node[0].domain = "com.example"
    if declared:
        model.opset_import.append(helper.make_opsetid("com.example", 1))
    assert_refused(save(model, tmp_path / "custom_gemm.onnx"), tmp_path, capsys,
                   "'dense'", "com.example", one_line=False)


@pytest.mark.parametrize("elem_type", [TensorProto.INT64, TensorProto.INT32,
                                       TensorProto.STRING, TensorProto.BOOL],
                         ids=["int64", "int32", "string", "bool"])
def test_non_float_graph_input(tmp_path, capsys, elem_type):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], name="cast", to=FLOAT)], "g",
        [helper.make_tensor_value_info("x", elem_type, ["N", 3])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert_refused(save(model, tmp_path / "ints.onnx"), tmp_path, capsys,
                   "Input 'x': integer or string inputs cannot be fed to lwtnn", one_line=False)


def test_dynamic_feature_dimension(tmp_path, capsys):
    path = save(dense_model(dims=("N", "F")), tmp_path / "dynamic.onnx")
    assert_refused(path, tmp_path, capsys,
                   "Input 'x': the feature dimension 'F' is dynamic", one_line=False)


# -- NaN and infinities: lwtnn's JSON reader cannot read them ---------------------------
NON_FINITE = [np.nan, np.inf, -np.inf]
NON_FINITE_IDS = ["nan", "inf", "-inf"]


@pytest.mark.parametrize("value", NON_FINITE, ids=NON_FINITE_IDS)
def test_non_finite_weight_is_refused_naming_the_tensor(tmp_path, capsys, value):
    weight = np.ones((2, 3), np.float32)
    weight[1, 2] = value
    err = assert_refused(save(dense_model(weight), tmp_path / "w.onnx"), tmp_path, capsys,
                         "initializer 'dense.weight': holds NaN or infinite values",
                         one_line=False)
    assert "cannot convert" in err.splitlines()[0]


def test_every_non_finite_tensor_is_named_at_once(tmp_path, capsys):
    weight = np.full((2, 3), np.nan, np.float32)
    path = save(dense_model(weight, bias=[0.0, np.inf]), tmp_path / "wb.onnx")
    assert_refused(path, tmp_path, capsys, "'dense.weight'", "'dense.bias'", one_line=False)


@pytest.mark.parametrize("value", NON_FINITE, ids=NON_FINITE_IDS)
def test_non_finite_constant_node_is_refused_naming_the_node(tmp_path, capsys, value):
    tensor = numpy_helper.from_array(np.full((2, 3), value, np.float32), "value")
    nodes = [helper.make_node("Constant", [], ["W"], name="const/W", value=tensor),
             helper.make_node("Gemm", ["x", "W"], ["y"], name="dense", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert_refused(save(model, tmp_path / "const.onnx"), tmp_path, capsys,
                   "Constant 'const/W': attribute 'value' holds NaN or infinite values",
                   one_line=False)


@pytest.mark.parametrize("value", NON_FINITE, ids=NON_FINITE_IDS)
def test_non_finite_float_attribute_is_refused_naming_the_node(tmp_path, capsys, value):
    path = save(dense_model(alpha=float(value)), tmp_path / "alpha.onnx")
    assert_refused(path, tmp_path, capsys,
                   "Gemm 'dense': attribute 'alpha' holds NaN or infinite values",
                   one_line=False)


def test_non_finite_weight_made_by_folding_is_refused_cleanly(tmp_path, capsys):
    inits = [numpy_helper.from_array(np.ones((2, 3), np.float32), "W"),
             numpy_helper.from_array(np.zeros((2, 3), np.float32), "zero")]
    nodes = [helper.make_node("Div", ["W", "zero"], ["W2"], name="divide"),
             helper.make_node("Gemm", ["x", "W2"], ["y"], name="dense", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert_refused(save(model, tmp_path / "div0.onnx"), tmp_path, capsys, one_line=False)


def test_convert_of_an_in_memory_model_with_nan_weights_raises_a_package_error():
    weight = np.full((2, 3), np.nan, np.float32)
    try:
        convert(dense_model(weight))
    except Onnx2LwtnnError:
        return
    except Exception as exc:  # noqa: BLE001 - what is asserted is its type
        raise AssertionError(f"{type(exc).__name__} is not an Onnx2LwtnnError") from exc
    raise AssertionError("NaN weights were converted")


# -- external data ---------------------------------------------------------------------
def external_model(folder: Path, location: str = "weights.bin") -> Path:
    """A model in ``folder`` whose weight is external data at ``location``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(dense_model(np.arange(6).reshape(2, 3)), str(path),
                    save_as_external_data=True, location="weights.bin", size_threshold=0)
    if location != "weights.bin":
        model = onnx.load(str(path), load_external_data=False)
        for tensor in external_data_helper._get_all_tensors(model):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(path))
    return path


def test_external_data_missing(tmp_path, capsys):
    path = external_model(tmp_path / "model")
    (tmp_path / "model" / "weights.bin").unlink()
    assert_refused(path, tmp_path, capsys,
                   "tensor 'dense.weight' needs external data file 'weights.bin', "
                   "which is missing")


def _outside_locations(tmp_path: Path) -> dict[str, str]:
    secret = tmp_path / "secret.bin"
    return {"parent": "../secret.bin", "absolute": str(secret),
            "down-and-up": "sub/../../secret.bin"}


@pytest.fixture
def reads(monkeypatch):
    """Every path opened, and every call into onnx's external-data loader, from now on."""
    opened, loader_calls = [], []
    real_open, real_os_open = builtins.open, os.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def recording_os_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_os_open(path, *args, **kwargs)

    def forbidden(*args, **kwargs):
        loader_calls.append(args)
        raise RuntimeError("external data loader called")

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    monkeypatch.setattr(os, "open", recording_os_open)
    for name in ("load_external_data_for_tensor", "load_external_data_for_model"):
        monkeypatch.setattr(external_data_helper, name, forbidden)
    return opened, loader_calls


@pytest.mark.parametrize("kind", ["parent", "absolute", "down-and-up"])
def test_external_data_outside_the_folder_is_refused_before_reading(tmp_path, capsys,
                                                                    reads, kind):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(6, np.float32).tobytes())
    path = external_model(tmp_path / "model", _outside_locations(tmp_path)[kind])
    opened, loader_calls = reads
    opened.clear()
    assert_refused(path, tmp_path, capsys, "tensor 'dense.weight' points to external data",
                   "outside the model's folder; refused")
    assert loader_calls == []
    assert not [p for p in opened if "secret" in p], opened


def test_external_data_symlink_leading_outside_is_refused_before_reading(tmp_path, capsys,
                                                                        reads):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(6, np.float32).tobytes())
    path = external_model(tmp_path / "model")
    (tmp_path / "model" / "weights.bin").unlink()
    (tmp_path / "model" / "weights.bin").symlink_to(secret)
    opened, loader_calls = reads
    opened.clear()
    assert_refused(path, tmp_path, capsys, "'weights.bin' outside the model's folder; refused")
    assert loader_calls == [] and not [p for p in opened if "secret" in p or "weights" in p]


@pytest.mark.parametrize("kind", ["parent", "absolute"])
def test_external_data_outside_the_folder_is_never_opened_by_any_code(tmp_path, kind):
    """End to end, native code included: the secret is a FIFO with no writer, so opening it
    for reading would block until the timeout."""
    os.mkfifo(tmp_path / "secret.bin")
    path = external_model(tmp_path / "model", _outside_locations(tmp_path)[kind])
    output = tmp_path / "net.json"
    done = subprocess.run([sys.executable, "-m", "onnx2lwtnn", str(path), "-o", str(output)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1, done.stderr
    assert "outside the model's folder; refused" in done.stderr
    assert "Traceback" not in done.stderr and not output.exists()


# -- output paths ----------------------------------------------------------------------
def unwritable_outputs(tmp_path: Path) -> dict[str, Path]:
    regular = tmp_path / "a_file.txt"
    regular.write_text("not a folder")
    (tmp_path / "a_folder").mkdir()
    return {"under-a-regular-file": regular / "net.json",
            "missing-directory": tmp_path / "missing" / "net.json",
            "a-directory": tmp_path / "a_folder"}


@pytest.mark.parametrize("kind, problem, exit_code", [
    ("under-a-regular-file", "Not a directory", 1),
    ("missing-directory", "no such directory", 2),  # a name that cannot work: usage
    ("a-directory", "Is a directory", 1)])
def test_unwritable_output(tmp_path, capsys, kind, problem, exit_code):
    output = unwritable_outputs(tmp_path)[kind]
    before = sorted(tmp_path.rglob("*"))
    code, err = convert_cli(FIXTURE, output, capsys)
    assert code == exit_code and problem in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(tmp_path.rglob("*")) == before, "a failed write left a file behind"


@pytest.mark.parametrize("kind", ["under-a-regular-file", "missing-directory", "a-directory"])
def test_unwritable_output_message_names_the_output(tmp_path, capsys, kind):
    output = unwritable_outputs(tmp_path)[kind]
    code, err = convert_cli(FIXTURE, output, capsys)
    assert code in (1, 2)
    assert f"{output}:" in err and ".tmp" not in err, err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_output_directory(tmp_path, capsys):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = convert_cli(FIXTURE, folder / "net.json", capsys)
        assert code == 1 and "Permission denied" in err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_output_is_the_input_is_a_usage_error(tmp_path, capsys, spelling):
    model = tmp_path / "model.onnx"
    model.write_bytes(FIXTURE.read_bytes())
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        (tmp_path / "link.onnx").symlink_to(model)
    output = {"same": model, "dotted": tmp_path / "sub" / ".." / "model.onnx",
              "symlink": tmp_path / "link.onnx"}[spelling]
    code, err = convert_cli(model, output, capsys)
    assert code == 2, err
    assert f"the output would overwrite the input {model}" in err
    assert len(err.strip().splitlines()) == 1, err
    assert model.read_bytes() == FIXTURE.read_bytes()


def test_unknown_option_is_a_usage_error(capsys):
    assert main([str(FIXTURE), "--no-such-option"]) == 2
    assert "Traceback" not in capsys.readouterr().err


# -- an existing output survives every failure -----------------------------------------
def _corrupted(tmp_path: Path) -> Path:
    path = tmp_path / "corrupted.onnx"
    path.write_bytes(FIXTURE.read_bytes()[:200])
    return path


def _nan(tmp_path: Path) -> Path:
    return save(dense_model(np.full((2, 3), np.nan)), tmp_path / "nan.onnx")


def _outside(tmp_path: Path) -> Path:
    (tmp_path / "secret.bin").write_bytes(bytes(24))
    return external_model(tmp_path / "model", "../secret.bin")


FAILURES = {
    "missing": lambda tmp_path: tmp_path / "nope.onnx",
    "corrupted": _corrupted,
    "custom-domain": lambda tmp_path: CUSTOM_DOMAIN,
    "dynamic-features": lambda tmp_path: save(dense_model(dims=("N", "F")),
                                               tmp_path / "dyn.onnx"),
    "nan-weights": _nan,
    "external-outside": _outside,
}


@pytest.mark.parametrize("failure", FAILURES)
def test_existing_output_is_left_untouched(tmp_path, capsys, failure):
    model = FAILURES[failure](tmp_path)
    folder = outdir(tmp_path)
    output = folder / "net.json"
    output.write_text('{"previous": "conversion"}\n')
    stamp = output.stat().st_mtime_ns
    code, _ = convert_cli(model, output, capsys)
    assert code == 1
    assert output.read_text() == '{"previous": "conversion"}\n'
    assert output.stat().st_mtime_ns == stamp
    assert list(folder.iterdir()) == [output]


def test_failure_without_output_prints_nothing_on_stdout(tmp_path, capsys):
    assert main([str(_corrupted(tmp_path))]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "not an ONNX model" in captured.err


def test_an_output_never_lands_on_the_models_external_data(tmp_path, capsys):
    path = external_model(tmp_path / "model")
    weights = tmp_path / "model" / "weights.bin"
    before = weights.read_bytes()
    assert main([str(path), "-o", str(tmp_path / "net.json")]) == 0
    capsys.readouterr()
    for command in ([str(path), "-o", str(weights)],
                    ["template", str(path), "-o", str(weights)],
                    ["check", str(path), str(tmp_path / "net.json"), "--write-lwtnn-inputs",
                     str(weights)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "would overwrite the input" in err and err.count("\n") == 1, err
    assert weights.read_bytes() == before
    # a batch writes <stem>.json into its folder: refused where that is the data file
    named_json = external_model(tmp_path / "batch", location="model.json")
    named_json.with_name("weights.bin").rename(named_json.with_name("model.json"))
    data = named_json.with_name("model.json").read_bytes()
    assert main([str(named_json), "--output-dir", str(tmp_path / "batch")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert named_json.with_name("model.json").read_bytes() == data
    assert main([str(path), "--output-dir", str(tmp_path / "model")]) == 0
