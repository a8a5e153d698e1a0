"""Issue 13: mean/std files and names-only specs, recognised by their keys."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_exact, onnx_reference

VARIABLES = ["jet_pt", "jet_eta", "met", "ht", "n_jets"]


def _statistics(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The (mean, std) each fixture's spec states, read here independently of the
    readers: what the analysis computed before its network."""
    spec = json.loads((FIXTURES / f"{name}.variables.json").read_text())
    if name == "prep_mean_std":
        return np.array(spec["mean"]), np.array(spec["std"])
    if name == "prep_normalization_stddev":
        return np.array(spec["normalization"]["mean"]), np.array(spec["normalization"]["stddev"])
    if name == "prep_keyed_mean_std":
        return (np.array([spec[v]["mean"] for v in VARIABLES]),
                np.array([spec[v]["std"] for v in VARIABLES]))
    if name == "prep_shift_scale":
        entries = spec["normalization"]
        return (np.array([entries[v]["shift"] for v in VARIABLES]),
                np.array([entries[v]["scale"] for v in VARIABLES]))
    return np.zeros(len(VARIABLES)), np.ones(len(VARIABLES))


FORMS = ["prep_mean_std", "prep_normalization_stddev", "prep_keyed_mean_std",
         "prep_shift_scale", "prep_names_only"]


@pytest.mark.parametrize("name", FORMS)
def test_form_converts_without_a_convention_and_matches_on_raw_inputs(name):
    mean, std = _statistics(name)
    document = convert(FIXTURES / f"{name}.onnx", variables=FIXTURES / f"{name}.variables.json")
    assert [v["name"] for v in document["inputs"][0]["variables"]] == VARIABLES
    raw = np.random.default_rng(13).normal(size=(1000, len(VARIABLES))) * std + mean
    ours = load_network(document).evaluate({"x": raw})
    model = onnx.load(str(FIXTURES / f"{name}.onnx"))
    assert_exact(ours, model, {"x": (raw - mean) / std})


def test_umami_default_is_kept():
    document = convert(FIXTURES / "prep_shift_scale.onnx",
                       variables=FIXTURES / "prep_shift_scale.variables.json")
    assert all(v["default"] == 0.0 for v in document["inputs"][0]["variables"])


def _run(args, capsys):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _spec_file(tmp_path, spec):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("std, shown", [(0.0, "std 0.0"), (-2.0, "std -2.0")])
def test_zero_negative_or_non_finite_std_is_an_error_naming_the_variable(
        tmp_path, capsys, std, shown):
    stds = [1.0, 2.0, float(std), 1.0, 1.0]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"variables": VARIABLES, "mean": [0.0] * 5, "std": stds}))
    output = tmp_path / "out.json"
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "-o", output, "--variables", spec],
                     capsys)
    assert code == 2 and "'met'" in err and shown in err and not output.exists()


def test_stddev_key_is_named_in_its_error(tmp_path, capsys):
    spec = _spec_file(tmp_path, {"branches": VARIABLES,
                                 "normalization": {"mean": [0] * 5, "stddev": [1, 1, 1, 0, 1]}})
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables", spec], capsys)
    assert code == 2 and "variable 'ht' has stddev 0.0" in err


def test_count_mismatch_names_both_numbers(tmp_path, capsys):
    spec = _spec_file(tmp_path, {"variables": VARIABLES, "mean": [0.0] * 4, "std": [1.0] * 5})
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables", spec], capsys)
    assert code == 2 and "'mean' has 4 values for 5 variables" in err
    spec = _spec_file(tmp_path, {"variables": VARIABLES[:4]})
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables", spec], capsys)
    assert code == 2 and "4 variables" in err and "has 5 features" in err


def test_names_only_needs_no_convention(tmp_path, capsys):
    output = tmp_path / "out.json"
    code, err = _run([FIXTURES / "prep_names_only.onnx", "-o", output, "--variables",
                      FIXTURES / "prep_names_only.variables.json"], capsys)
    assert code == 0, err
    variables = json.loads(output.read_text())["inputs"][0]["variables"]
    assert variables == [{"name": n, "offset": 0.0, "scale": 1.0} for n in VARIABLES]


def test_unknown_keys_are_refused_not_ignored(tmp_path, capsys):
    spec = _spec_file(tmp_path, {"variables": VARIABLES, "mean": [0.0] * 5,
                                 "sigma": [1.0] * 5})
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables", spec], capsys)
    assert code == 2 and "'mean'" in err and "'sigma'" in err


def test_missing_keyed_entry_is_named(tmp_path, capsys):
    spec = _spec_file(tmp_path, {"variables": VARIABLES,
                                 **{v: {"mean": 0, "std": 1} for v in VARIABLES[:-1]}})
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables", spec], capsys)
    assert code == 2 and "n_jets" in err


def test_lwtnn_convention_contradicts_a_mean_std_spec(tmp_path, capsys):
    code, err = _run([FIXTURES / "prep_mean_std.onnx", "--variables",
                      FIXTURES / "prep_mean_std.variables.json",
                      "--variables-convention", "lwtnn"], capsys)
    assert code == 2 and "(x - mean) / std" in err


def test_parametrised_config_names_the_parameters_after_the_branches():
    document = convert(FIXTURES / "prep_susy_parametrised.onnx",
                       variables=FIXTURES / "prep_susy_parametrised.config.json")
    names = [v["name"] for v in document["inputs"][0]["variables"]]
    assert names == VARIABLES + ["isGtt", "mGluino", "mLSP"]
    assert document["inputs"][0]["variables"][6]["offset"] == -1800.0


@pytest.mark.parametrize("name", FORMS)
def test_check_passes_with_the_mean_std_spec(tmp_path, capsys, name):
    model, spec = FIXTURES / f"{name}.onnx", FIXTURES / f"{name}.variables.json"
    output = tmp_path / "net.json"
    assert main([str(model), "-o", str(output), "--variables", str(spec)]) == 0
    assert main(["check", str(model), str(output), "--variables", str(spec)]) == 0
    assert "PASS: 1000 events" in capsys.readouterr().out


@pytest.mark.parametrize("name", FORMS)
def test_check_with_reference_outputs_from_raw_inputs_passes(tmp_path, capsys, name):
    """Outputs the analysis computed from raw inputs (``out_<output>`` in --inputs) test
    the spec itself, which a check applying it to both sides cannot."""
    model, spec = FIXTURES / f"{name}.onnx", FIXTURES / f"{name}.variables.json"
    mean, std = _statistics(name)
    raw = np.random.default_rng(8).normal(size=(1000, len(VARIABLES))) * std + mean
    published = onnx_reference(onnx.load(str(model)),
                               {"x": ((raw - mean) / std).astype(np.float32)})
    events = tmp_path / "events.npz"
    np.savez(events, x=raw, out_y=published["y"])
    output = tmp_path / "net.json"
    assert main([str(model), "-o", str(output), "--variables", str(spec)]) == 0
    assert main(["check", str(model), str(output), "--variables", str(spec),
                 "--inputs", str(events)]) == 0
    assert "reference outputs: PASS" in capsys.readouterr().out
