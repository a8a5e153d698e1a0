"""What a `check` PASS proves (issue 10): lwtnn against a float64 evaluation of the ONNX
graph, for every fixture in both lwtnn formats and every spec form; the float32 runtime's
rounding shown beside and never a failure; a spec proven only by reference outputs."""
from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

from onnx2lwtnn import convert, write_json
from onnx2lwtnn.check import DEFAULT_TOLERANCE, FLOAT32_TOLERANCE, check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning
from onnx2lwtnn.lwtnn.sequential import sequential_form

from .support import FIXTURES, manifest

# --tmva-weights folds a TMVA file's input transformations into the network; check has
# no such argument, so those fixtures are proven in test_tmva.py against the transformed
# inputs instead. Any other convert() argument reaches check() and must be one it takes.
NOT_CHECK_ARGUMENTS = {"tmva_weights"}
CONVERTIBLE = [e for e in manifest() if e["expect"] == "convert"
               and not NOT_CHECK_ARGUMENTS & set(e["convert_args"])]
# Checked in float32 at the float32 bound: no runtime here evaluates rnn_relu_activation
# in float64 (onnxruntime has no double RNN kernel, the reference evaluator's RNN no
# Relu), and the reference evaluator disagrees with onnxruntime (and lwtnn) by 0.7 on
# torch_legacy_batchnorm_lstm, so its float64 evaluation is not trusted.
FLOAT32_ONLY = {"rnn_relu_activation", "torch_legacy_batchnorm_lstm"}
SPEC_FORMS = [e["name"] for e in CONVERTIBLE if e["name"].startswith("check_spec_")]
SUPERCLUSTERING = FIXTURES / "check_superclustering.onnx"
PUBLISHED = FIXTURES / "check_published.onnx"
PUBLISHED_EVENTS = FIXTURES / "check_published.events.csv"


def _spec_args(entry: dict) -> dict:
    """convert()'s arguments, which check() takes too."""
    return {key: FIXTURES / value if value in entry["extras"] else value
            for key, value in entry["convert_args"].items()}


def _convert(entry: dict, form: str):
    """The document, or None where this format cannot express the network."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        try:
            return convert(FIXTURES / entry["file"], format=form, **_spec_args(entry))
        except ConversionError:
            if form == "graph":
                raise
            return None


def _cli_spec_args(entry: dict) -> list[str]:
    args = _spec_args(entry)
    flags = ["--variables", str(args["variables"])] if "variables" in args else []
    if "variables_convention" in args:
        flags += ["--variables-convention", args["variables_convention"]]
    return flags


@pytest.mark.parametrize("form", ["graph", "sequential"])
@pytest.mark.parametrize("entry", CONVERTIBLE, ids=[e["name"] for e in CONVERTIBLE])
def test_every_fixture_that_converts_passes_check_at_the_default_bound(entry, form):
    document = _convert(entry, form)
    if document is None:  # refused: only where the graph is not one chain of layers
        assert form == "sequential" and sequential_form(_convert(entry, "graph")) is None
        return
    report = check(FIXTURES / entry["file"], document, events=300, seed=2,
                   **_spec_args(entry))
    assert report.passed, report.table()
    if entry["name"] in FLOAT32_ONLY:
        assert report.backend.endswith("float32") and report.tolerance == FLOAT32_TOLERANCE
        assert "compared in float32 at the float32 bound" in report.table()
    else:
        assert report.backend.endswith("float64"), report.backend
        assert report.tolerance == DEFAULT_TOLERANCE
    assert report.n_events + report.refused_by_lwtnn == 300 and report.n_events > 150


def test_float32_rounding_beyond_1e_5_is_shown_beside_a_float64_pass(tmp_path, capsys):
    """The superclustering case: exact conversion, float32 runtime off by > 1e-5."""
    output = tmp_path / "net.json"
    assert main([str(SUPERCLUSTERING), "-o", str(output), "--check"]) == 0
    err = capsys.readouterr().err
    assert "PASS: 1000 events, reference onnxruntime float64" in err
    assert "float32 rel: lwtnn against onnxruntime float32" in err and output.exists()
    assert main(["check", str(SUPERCLUSTERING), str(output), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["labels"]
    assert row["max_rel"] < 1e-11 and row["float32_max_rel"] > 1e-5
    document = json.loads(output.read_text())
    assert any(v["offset"] != 0 for v in document["inputs"][0]["variables"])  # scaler folded


@pytest.mark.parametrize("form", ["graph", "sequential"])
@pytest.mark.parametrize("name", SPEC_FORMS)
def test_each_spec_form_checks_from_the_cli_and_says_the_spec_is_not_validated(
        name, form, tmp_path, capsys):
    entry = next(e for e in CONVERTIBLE if e["name"] == name)
    model, flags = str(FIXTURES / entry["file"]), _cli_spec_args(entry)
    output = tmp_path / "net.json"
    assert main([model, "-o", str(output), "--format", form, *flags, "--check"]) == 0
    assert "PASS" in capsys.readouterr().err
    assert ("nodes" in json.loads(output.read_text())) == (form == "graph")
    assert main(["check", model, str(output), *flags]) == 0
    out = capsys.readouterr().out
    assert "PASS: 1000 events" in out
    assert "proves the conversion, not the spec; give --inputs" in out
    assert main(["check", model, str(output)]) == 1  # the spec's preprocessing is missing
    assert "give check the same --variables" in capsys.readouterr().out


def test_python_check_takes_convert_arguments_and_names_them(tmp_path):
    entry = next(e for e in CONVERTIBLE if e["name"] == "check_spec_arrays_subtract_divide")
    args = _spec_args(entry)
    document = convert(FIXTURES / entry["file"], format="sequential", **args)
    report = check(FIXTURES / entry["file"], document, **args)
    assert report.passed and "give inputs= with reference outputs" in report.table()
    assert "--" not in report.table()
    failed = check(FIXTURES / entry["file"], document)
    assert not failed.passed
    assert "give check the same variables= (and variables_convention=)" in failed.table()


def _published(convention: str = "subtract-divide", spec: str = "check_published"):
    return {"variables": FIXTURES / f"{spec}.variables.json",
            "variables_convention": convention}


def _published_cli(tmp_path, args: dict, inputs) -> tuple[int, str]:
    output = tmp_path / "net.json"
    write_json(convert(PUBLISHED, **args), output)
    flags = ["--variables", str(args["variables"]), "--variables-convention",
             args["variables_convention"], "--inputs", str(inputs)]
    return main(["check", str(PUBLISHED), str(output), *flags])


def test_published_outputs_pass_with_the_right_spec(tmp_path, capsys):
    assert _published_cli(tmp_path, _published(), PUBLISHED_EVENTS) == 0
    out = capsys.readouterr().out
    assert "reference outputs: PASS" in out and "not the spec" not in out


@pytest.mark.parametrize("args, cause", [
    (_published("lwtnn"), "they match the ONNX model with --variables-convention "
                          "subtract-divide: the spec's offsets and scales mean the other "
                          "convention"),
    (_published(spec="check_published.foreign"),
     "the variable spec (--variables, --variables-convention) is the likely cause")],
    ids=["wrong_convention", "foreign_spec"])
def test_published_outputs_expose_a_wrong_spec(args, cause, tmp_path, capsys):
    assert _published_cli(tmp_path, args, PUBLISHED_EVENTS) == 1
    out = capsys.readouterr().out
    assert "PASS: 50 events" in out  # the conversion itself is right
    assert "reference outputs: FAIL" in out
    assert cause in out


def _csv_as_npz(tmp_path):
    with PUBLISHED_EVENTS.open() as stream:
        rows = list(csv.reader(stream))
    table = np.array(rows[1:], dtype=np.float64)
    path = tmp_path / "events.npz"
    np.savez(path, in_x=table[:, :5], out_y=table[:, 5:])
    return path


def test_published_outputs_in_npz_and_their_own_tolerance(tmp_path, capsys):
    events = _csv_as_npz(tmp_path)
    report = check(PUBLISHED, convert(PUBLISHED, **_published()), inputs=events,
                   **_published())
    assert report.passed and 0 < report.published.max_rel < 1e-6
    assert report.to_json()["spec_validated"] is True
    strict = check(PUBLISHED, convert(PUBLISHED, **_published()), inputs=events,
                   reference_tolerance=1e-12, **_published())
    assert strict.conversion_passed and not strict.passed
    assert _published_cli(tmp_path, _published("lwtnn"), events) == 1
    assert "reference outputs: FAIL" in capsys.readouterr().out


def test_sequential_document_cannot_write_lwtnn_graph_inputs(tmp_path, capsys):
    output = tmp_path / "net.json"
    write_json(convert(SUPERCLUSTERING, format="sequential"), output)
    assert main(["check", str(SUPERCLUSTERING), str(output), "--write-lwtnn-inputs",
                 str(tmp_path / "in.json")]) == 2
    assert "sequential" in capsys.readouterr().err
