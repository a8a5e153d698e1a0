"""`onnx2lwtnn check`: fails visibly on a corrupted conversion, and reads events from npz
and CSV with clear errors for bad input (test_check_proofs.py: what a PASS proves)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert, write_json
from onnx2lwtnn.check import THRESHOLDS, check
from onnx2lwtnn.cli import main

from .support import FIXTURES

TWO_OUTPUTS = FIXTURES / "multi_two_outputs.onnx"


@pytest.fixture
def network(tmp_path):
    path = tmp_path / "net.json"
    write_json(convert(TWO_OUTPUTS), path)
    return path


def test_check_fails_on_a_weight_changed_by_1e_3(network, tmp_path, capsys):
    document = json.loads(network.read_text())
    document["layers"][0]["weights"][0] += 1e-3
    corrupted = tmp_path / "corrupted.json"
    corrupted.write_text(json.dumps(document))
    assert main(["check", str(TWO_OUTPUTS), str(corrupted)]) == 1
    table = capsys.readouterr().out
    assert "FAIL:" in table
    assert main(["check", str(TWO_OUTPUTS), str(network)]) == 0
    assert "PASS:" in capsys.readouterr().out


def test_report_lists_every_label_of_every_output_with_thresholds(network, capsys):
    assert main(["check", str(TWO_OUTPUTS), str(network), "--json", "--events", "50"]) == 0
    report = json.loads(capsys.readouterr().out)
    labels = {(row["output"], row["label"]) for row in report["labels"]}
    document = json.loads(network.read_text())
    assert labels == {(name, label) for name, out in document["outputs"].items()
                      for label in out["labels"]}
    assert set(report["labels"][0]["fractions"]) == {f"{t:g}" for t in THRESHOLDS}
    assert report["events"] == 50 and report["passed"] is True


def _widths(network):
    return {n["name"]: [v["name"] for v in n["variables"]]
            for n in json.loads(network.read_text())["inputs"]}


def test_npz_inputs(network, tmp_path, capsys):
    rng = np.random.default_rng(0)
    arrays = {name: rng.normal(size=(40, len(vs))) for name, vs in _widths(network).items()}
    events = tmp_path / "events.npz"
    np.savez(events, **arrays)
    assert main(["check", str(TWO_OUTPUTS), str(network), "--inputs", str(events)]) == 0
    assert "PASS: 40 events" in capsys.readouterr().out


def test_csv_inputs(network, tmp_path, capsys):
    names = [v for vs in _widths(network).values() for v in vs]
    rng = np.random.default_rng(1)
    rows = [",".join(names)] + [",".join(f"{x:.6f}" for x in rng.normal(size=len(names)))
                                for _ in range(25)]
    events = tmp_path / "events.csv"
    events.write_text("\n".join(rows) + "\n")
    assert main(["check", str(TWO_OUTPUTS), str(network), "--inputs", str(events)]) == 0
    assert "PASS: 25 events" in capsys.readouterr().out


def test_bad_inputs_are_clear_errors(network, tmp_path, capsys):
    names = [v for vs in _widths(network).values() for v in vs]
    cases = {
        "wrong_name.csv": ",".join(names[:-1] + ["bogus"]) + "\n" + ",".join(["1"] * len(names)),
        "nan.csv": ",".join(names) + "\n" + ",".join(["nan"] + ["1"] * (len(names) - 1)),
    }
    expected = {"wrong_name.csv": "unknown: 'bogus'", "nan.csv": "NaN"}
    for filename, text in cases.items():
        path = tmp_path / filename
        path.write_text(text + "\n")
        assert main(["check", str(TWO_OUTPUTS), str(network), "--inputs", str(path)]) == 2
        assert expected[filename] in capsys.readouterr().err
    wrong_count = tmp_path / "wrong_count.npz"
    np.savez(wrong_count, **{name: np.zeros((3, len(vs) + 1))
                            for name, vs in _widths(network).items()})
    assert main(["check", str(TWO_OUTPUTS), str(network), "--inputs", str(wrong_count)]) == 2
    assert "features" in capsys.readouterr().err
    missing = tmp_path / "missing.npz"
    np.savez(missing, other=np.zeros((3, 2)), more=np.zeros((3, 2)))  # one would be taken
    assert main(["check", str(TWO_OUTPUTS), str(network), "--inputs", str(missing)]) == 2
    assert "no array for input" in capsys.readouterr().err


def test_network_of_another_model_is_refused(network, capsys):
    assert main(["check", str(FIXTURES / "act_relu.onnx"), str(network)]) == 2
    assert "does not belong" in capsys.readouterr().err


def test_convert_with_check_proves_and_writes(tmp_path, capsys):
    output = tmp_path / "net.json"
    assert main([str(TWO_OUTPUTS), "-o", str(output), "--check", "--events", "200"]) == 0
    assert "PASS: 200 events" in capsys.readouterr().err
    assert output.exists()


def test_write_lwtnn_inputs_gives_the_test_tool_form(network, tmp_path, capsys):
    inputs = tmp_path / "in.json"
    assert main(["check", str(TWO_OUTPUTS), str(network), "--write-lwtnn-inputs",
                 str(inputs)]) == 0
    written = json.loads(inputs.read_text())
    assert {k: list(v) for k, v in written.items()} == _widths(network)
    printed = capsys.readouterr().out
    document = json.loads(network.read_text())
    for name, output in document["outputs"].items():
        assert f"{name}:" in printed
        assert all(f"\n{label} " in printed for label in output["labels"])


def test_check_feeds_the_onnx_model_the_spec_preprocessed_values(tmp_path, capsys):
    model = FIXTURES / "published_tf2onnx_masked.onnx"
    spec = FIXTURES / "published_tf2onnx_masked.variables.json"
    spec_args = ["--variables", str(spec), "--variables-convention", "subtract-divide"]
    network = tmp_path / "net.json"
    assert main([str(model), "-o", str(network), *spec_args]) == 0
    assert main(["check", str(model), str(network), *spec_args]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["check", str(model), str(network)]) == 1
    assert "give check the same --variables" in capsys.readouterr().out


def test_sequence_npz_inputs(tmp_path, capsys):
    model = FIXTURES / "rnnip_lstm.onnx"
    network = tmp_path / "net.json"
    write_json(convert(model), network)
    document = json.loads(network.read_text())
    (node,) = document["input_sequences"]
    events = tmp_path / "events.npz"
    np.savez(events, **{node["name"]: np.random.default_rng(2).normal(
        size=(30, 7, len(node["variables"])))})
    assert main(["check", str(model), str(network), "--inputs", str(events)]) == 0
    assert "PASS: 30 events" in capsys.readouterr().out


def test_unreadable_or_invalid_network_files_are_clear_errors(network, tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["check", str(TWO_OUTPUTS), str(broken)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    document = json.loads(network.read_text())
    del document["layers"][0]["bias"]
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps(document))
    assert main(["check", str(TWO_OUTPUTS), str(invalid)]) == 1
    err = capsys.readouterr().err
    assert "not a network lwtnn reads" in err and "internal error" not in err
    assert main(["check", str(TWO_OUTPUTS), str(tmp_path / "missing.json")]) == 1
    assert "missing.json: no such file" in capsys.readouterr().err


def _conv_on_channels_first_input(steps) -> onnx.ModelProto:
    """A Conv reading a [N, 4 features, T steps] graph input directly, then a sum over
    time and a dense layer: the converter declares the input channels-first."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
               for name, shape in (("W", (5, 4, 3)), ("b", (5,)), ("D", (5, 2)))]
    axes = numpy_helper.from_array(np.array([2], np.int64), "axes")
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], kernel_shape=[3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("ReduceSum", ["r", "axes"], ["s"], keepdims=0),
             helper.make_node("MatMul", ["s", "D"], ["y"])]
    graph = helper.make_graph(
        nodes, "conv_channels_first",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, steps])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], weights + [axes])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("steps", ["T", 10])
def test_a_channels_first_input_is_fed_to_onnx_as_declared(steps):
    """lwtnn takes the sequence [batch, time, features]; the ONNX model reads it as it
    declares it, [batch, features, time], also when the number of steps is fixed."""
    model = _conv_on_channels_first_input(steps)
    document = convert(model)
    assert len(document["input_sequences"][0]["variables"]) == 4
    report = check(model, document, events=300)
    assert report.passed, report.table()
    assert max(row.max_rel for row in report.rows) < 1e-12


def test_python_spec_errors_name_arguments_and_the_command_line_names_flags(tmp_path, capsys):
    """The same refusal, in each caller's own words."""
    from onnx2lwtnn import UsageError
    spec = tmp_path / "spec.json"
    model = FIXTURES / "mlp_opset13.onnx"
    width = len(convert(model)["inputs"][0]["variables"])
    spec.write_text(json.dumps({"variables": [f"v{i}" for i in range(width)],
                                "offset": [0.0] * width, "scale": [1.0] * width}))
    with pytest.raises(UsageError, match="needs variables_convention=: 'subtract-divide'"):
        convert(model, variables=spec)
    assert main([str(model), "--variables", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "needs --variables-convention: 'subtract-divide'" in err and "_convention=" not in err
    mean_std = tmp_path / "mean_std.json"
    mean_std.write_text(json.dumps({"variables": [f"v{i}" for i in range(width)],
                                    "mean": [0.0] * width, "std": [1.0] * width}))
    with pytest.raises(UsageError, match="variables_convention='lwtnn' contradicts it"):
        convert(model, variables=mean_std, variables_convention="lwtnn")
    assert main([str(model), "--variables", str(mean_std),
                 "--variables-convention", "lwtnn"]) == 2
    assert "--variables-convention lwtnn contradicts it" in capsys.readouterr().err
