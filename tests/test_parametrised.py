"""Issue 13: parametrised networks (ATLAS SUSY-2018-30 style): --fix and --fix-from."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from onnx2lwtnn import UsageError, convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.lwtnn import load_network

from .support import EXACT, FIXTURES, assert_close, onnx_float64

MODEL = FIXTURES / "prep_susy_parametrised.onnx"
CONFIG = FIXTURES / "prep_susy_parametrised.config.json"


def _reference(raw: np.ndarray, point: dict) -> dict:
    """What the analysis computes: (x - mean) / stddev of the event variables and the
    parameters, fed to the ONNX network."""
    config = json.loads(CONFIG.read_text())
    mean = np.array(config["normalization"]["mean"])
    std = np.array(config["normalization"]["stddev"])
    full = np.hstack([raw, np.tile([point[k] for k in ("isGtt", "mGluino", "mLSP")],
                                   (len(raw), 1))])
    return onnx_float64(onnx.load(str(MODEL)), {"x": (full - mean) / std})


def _events(count: int = 1000) -> np.ndarray:
    config = json.loads(CONFIG.read_text())
    mean = np.array(config["normalization"]["mean"][:5])
    std = np.array(config["normalization"]["stddev"][:5])
    return np.random.default_rng(30).normal(size=(count, 5)) * std + mean


def test_fix_freezes_the_parameters_into_the_first_layer():
    point = {"isGtt": 1, "mGluino": 1900, "mLSP": 1400}
    document = convert(MODEL, variables=CONFIG, fix=point)
    names = [v["name"] for v in document["inputs"][0]["variables"]]
    assert names == ["jet_pt", "jet_eta", "met", "ht", "n_jets"]
    raw = _events()
    assert_close(load_network(document).evaluate({"x": raw}), _reference(raw, point), EXACT)


def test_fix_from_writes_one_network_per_point_named_after_it(tmp_path, capsys):
    assert main([str(MODEL), "--fix-from", str(CONFIG), "--output-dir", str(tmp_path)]) == 0
    raw = _events()
    for point in json.loads(CONFIG.read_text())["parameters"]:
        name = "_".join(f"{k}{v}" for k, v in point.items())
        document = json.loads((tmp_path / f"prep_susy_parametrised_{name}.json").read_text())
        assert_close(load_network(document).evaluate({"x": raw}), _reference(raw, point), EXACT)
    assert len(list(tmp_path.iterdir())) == 3


def test_unknown_parameter_is_refused_by_name(tmp_path, capsys):
    output = tmp_path / "out.json"
    code = main([str(MODEL), "--variables", str(CONFIG), "--fix", "mGlu=1900",
                 "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and "--fix names unknown parameter(s) 'mGlu'" in err and "mGluino" in err
    assert not output.exists()
    with pytest.raises(UsageError, match="^fix= names unknown parameter.s. 'mGlu'"):
        convert(MODEL, variables=CONFIG, fix={"mGlu": 1900.0})


@pytest.mark.parametrize("args, message", [
    (["--fix-from", CONFIG], "--output-dir"),
    (["--fix", "mGluino"], "NAME=VALUE"),
])
def test_fix_usage_errors(capsys, args, message):
    assert main([str(MODEL), *map(str, args)]) == 2
    assert message in capsys.readouterr().err
