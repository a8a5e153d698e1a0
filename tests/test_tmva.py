"""Issue 13: TMVA MLP weights files to lwtnn, and TMVA transformations folded into ONNX
conversions, without ROOT."""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.check import DEFAULT_TOLERANCE
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning, FileError
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.reference import FLOAT64, OnnxModel
from onnx2lwtnn.tmva import check_tmva, convert_tmva, read_network
from onnx2lwtnn.tmva import transforms as tf
from onnx2lwtnn.tmva import xmlsafe

from .support import FIXTURES, require_shared

REAL = ["mu2e_trkqual", "pallabidas_regression", "fsimone91_mlp", "privdonut_none"]


def _real(name):
    folder = require_shared("real-models", "tmva")
    return folder / f"{name}.weights.xml", np.load(folder / f"{name}.npz")


def _evaluate(document, raw):
    (values,) = load_network(document).evaluate({document["inputs"][0]["name"]: raw}).values()
    return values


@pytest.mark.parametrize("name", REAL)
def test_real_file_matches_exact_reference_and_tmva_within_reported_deviation(name):
    weights, data = _real(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        document = convert_tmva(weights)
    ours = _evaluate(document, data["raw_inputs"])
    exact = data["exact_tanh_response"].reshape(ours.shape)
    tmva = data["tmva_response"].reshape(ours.shape)
    assert np.max(np.abs(ours - exact) / np.abs(exact)) <= 1e-9
    deviation = np.abs(ours - tmva) / np.maximum(1.0, np.abs(tmva))
    messages = [str(w.message) for w in caught]
    if read_network(weights).mlp.fast_tanh:
        (message,) = messages
        reported = float(re.search(r"by up to ([0-9.e+-]+)", message).group(1))
        assert np.max(np.abs(ours - tmva)) <= reported
        assert 1e-5 < reported < 0.1  # about 1e-4, more in a regression's target units
    else:
        assert not messages
        assert deviation.max() <= 1e-5


@pytest.mark.parametrize("name", REAL)
def test_our_tmva_reference_agrees_with_the_independent_emulation(name):
    weights, data = _real(name)
    network = read_network(weights)
    raw = data["raw_inputs"]
    tmva = network.tmva(raw)
    assert np.max(np.abs(tmva - data["tmva_response"].reshape(tmva.shape))) <= 1e-12 * max(
        1.0, np.abs(tmva).max())
    exact = network.exact(raw)
    np.testing.assert_allclose(exact, data["exact_tanh_response"].reshape(exact.shape),
                               rtol=1e-12)


def test_cli_converts_a_real_file_and_reports_both_agreements(tmp_path, capsys):
    weights, _ = _real("fsimone91_mlp")
    output = tmp_path / "mlp.json"
    assert main(["tmva", str(weights), "-o", str(output)]) == 0
    err = capsys.readouterr().err
    assert "vs exact float64" in err and "vs TMVA response" in err and "fast tanh" in err
    document = json.loads(output.read_text())
    assert document["inputs"][0]["variables"][0]["name"] == "var_vertexKFChi2"
    assert document["outputs"]["MLP"]["labels"] == ["MLP"]


def test_regression_output_is_in_target_units():
    weights, data = _real("pallabidas_regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert_tmva(weights)
    assert document["outputs"]["MLP"]["labels"] == ["fvalue_"]
    ours = _evaluate(document, data["raw_inputs"])
    assert 50 < np.median(ours) < 200  # fvalue_ was trained on [90, 140]


@pytest.mark.parametrize("name", ["tmva_norm_decorr", "tmva_multiclass",
                                  "tmva_pca_regression"])
def test_tmva_weights_fold_into_the_onnx_network(name):
    weights = FIXTURES / f"{name}.weights.xml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # the regression's fast tanh
        document = convert(FIXTURES / f"{name}.onnx", tmva_weights=weights)
        tmva_document = convert_tmva(weights)
    network = read_network(weights)
    raw = network.training_events(1000, seed=13)
    transformed = tf.apply(network.transforms, raw, exact=True)
    # the reference in double, as check's: the transformation, then the ONNX network
    onnx_model = OnnxModel(onnx.load(str(FIXTURES / f"{name}.onnx")), FLOAT64)
    assert onnx_model.backend.endswith("float64")
    reference = onnx_model.evaluate({"x": transformed})
    if name == "tmva_pca_regression":  # the ONNX output is in normalised units, [-1, 1]
        reference = {k: 90.0 + (v + 1.0) * (140.0 - 90.0) / 2 for k, v in reference.items()}
    (ours,) = load_network(document).evaluate({"x": raw}).values()
    (expected,) = reference.values()
    assert np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected))) <= \
        DEFAULT_TOLERANCE
    # the same file's own MLP, converted by 'onnx2lwtnn tmva', computes the same numbers
    np.testing.assert_allclose(_evaluate(tmva_document, raw), _evaluate(document, raw),
                               rtol=1e-12, atol=1e-15)
    assert [v["name"] for v in document["inputs"][0]["variables"]] == network.method.variables


def test_decorrelation_is_folded_into_the_first_dense_layer():
    document = convert(FIXTURES / "tmva_norm_decorr.onnx",
                       tmva_weights=FIXTURES / "tmva_norm_decorr.weights.xml")
    assert len(document["layers"]) == 2  # the ONNX network's own two layers, no more
    offsets = [v["offset"] for v in document["inputs"][0]["variables"]]
    assert all(o != 0.0 for o in offsets)  # Normalize became lwtnn's offset/scale


def test_multiclass_is_a_softmax_labelled_by_class():
    document = convert_tmva(FIXTURES / "tmva_multiclass.weights.xml")
    assert document["layers"][-1]["activation"] == "softmax"
    assert document["outputs"]["MLP"]["labels"] == ["light", "charm", "bottom"]
    network = read_network(FIXTURES / "tmva_multiclass.weights.xml")
    report = check_tmva(network, document, events=1000)
    assert report.passed and report.tmva.max() < 1e-6 and report.exact.max() < 1e-12


@pytest.mark.parametrize("args", [
    ["tmva", FIXTURES / "tmva_gauss.weights.xml"],
    [FIXTURES / "tmva_gauss.onnx", "--tmva-weights", FIXTURES / "tmva_gauss.weights.xml"],
])
def test_gauss_transformation_is_refused_by_name(tmp_path, capsys, args):
    output = tmp_path / "out.json"
    assert main([str(a) for a in args] + ["-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "Gauss" in err and "cumulative distribution" in err and not output.exists()


def test_variable_count_mismatch_is_a_usage_error(tmp_path, capsys):
    output = tmp_path / "out.json"
    code = main([str(FIXTURES / "tmva_multiclass.onnx"), "-o", str(output), "--tmva-weights",
                 str(FIXTURES / "tmva_norm_decorr.weights.xml")])
    err = capsys.readouterr().err
    assert code == 2 and "has 4 variables" in err and "has 5 features" in err
    assert not output.exists()


def test_check_with_tmva_weights_is_a_usage_error(capsys):
    code = main([str(FIXTURES / "tmva_multiclass.onnx"), "--check", "--tmva-weights",
                 str(FIXTURES / "tmva_multiclass.weights.xml")])
    assert code == 2 and "onnx2lwtnn tmva" in capsys.readouterr().err


@pytest.mark.parametrize("text, reason", [
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     '<MethodSetup>&e;</MethodSetup>', "DOCTYPE"),
    ('<!ENTITY a "b"><MethodSetup/>', "ENTITY"),
    ("<MethodSetup><Weights></MethodSetup>", "not well-formed"),
    ("<Other/>", "not a TMVA weights file"),
])
def test_unsafe_or_broken_xml_is_refused(tmp_path, capsys, text, reason):
    path = tmp_path / "bad.weights.xml"
    path.write_text(text)
    assert main(["tmva", str(path)]) == 1
    assert reason in capsys.readouterr().err


def test_oversized_xml_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.xml"
    path.write_text("<MethodSetup>" + " " * 2000 + "</MethodSetup>")
    with pytest.raises(FileError, match="the TMVA weights file is over the 1024 bytes limit"):
        xmlsafe.parse(path, max_bytes=1024)
