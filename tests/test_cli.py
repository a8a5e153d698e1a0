"""The command line: exit codes, output files, formats, batch mode and template."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import onnx
import pytest

from onnx2lwtnn.cli import main
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_close, onnx_reference, random_events

CHAIN = FIXTURES / "mlp_opset13.onnx"
BRANCHING = FIXTURES / "multi_add_branches.onnx"
REFUSED = FIXTURES / "refuse_prelu.onnx"


def test_help_shows_examples_and_exits_0(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "onnx2lwtnn model.onnx -o model.json" in text
    assert main(["check", "--help"]) == 0
    assert "--write-lwtnn-inputs" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main([]) == 2
    assert main([str(CHAIN), "--format", "keras"]) == 2
    assert main([str(CHAIN), "-o", str(CHAIN)]) == 2
    assert "overwrite the input" in capsys.readouterr().err


def test_convert_to_stdout_and_file(tmp_path, capsys):
    assert main([str(CHAIN)]) == 0
    printed = json.loads(capsys.readouterr().out)
    output = tmp_path / "net.json"
    assert main([str(CHAIN), "-o", str(output)]) == 0
    assert json.loads(output.read_text()) == printed
    assert [n["type"] for n in printed["nodes"]][0] == "input"


def test_console_script_entry_point_runs(tmp_path):
    output = tmp_path / "net.json"
    done = subprocess.run([sys.executable, "-m", "onnx2lwtnn", str(CHAIN), "-o", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert load_network(json.loads(output.read_text())).output_labels


def test_sequential_format_matches_onnx(tmp_path):
    output = tmp_path / "seq.json"
    assert main([str(CHAIN), "-o", str(output), "--format", "sequential"]) == 0
    document = json.loads(output.read_text())
    assert "nodes" not in document and isinstance(document["outputs"], list)
    network = load_network(document)
    model = onnx.load(str(CHAIN))
    events = random_events(model, 500)
    ours = network.evaluate({"": events["x"]})["outputs"]
    assert_close({"y": ours}, onnx_reference(model, events))


def test_sequential_format_refuses_a_graph(tmp_path, capsys):
    """Two outputs are not a chain (branches that merge again become one: test_carry)."""
    output = tmp_path / "seq.json"
    two_outputs = FIXTURES / "multi_two_outputs.onnx"
    assert main([str(two_outputs), "-o", str(output), "--format", "sequential"]) == 1
    message = capsys.readouterr().err
    assert "not a single chain" in message and "graph format" in message
    assert not output.exists()


def test_failed_conversion_leaves_existing_output_untouched(tmp_path, capsys):
    output = tmp_path / "net.json"
    output.write_text("previous")
    assert main([str(REFUSED), "-o", str(output)]) == 1
    assert output.read_text() == "previous"
    assert "Traceback" not in capsys.readouterr().err


def test_batch_mode_writes_every_success_and_reports_failures(tmp_path, capsys):
    models = [CHAIN, REFUSED, BRANCHING]
    assert main([*map(str, models), "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp_opset13.json",
                                                         "multi_add_branches.json"]
    assert "2 converted, 1 failed" in err
    assert re.search(r"refuse_prelu\.onnx\s+FAILED", err)


def test_batch_mode_needs_output_dir(capsys):
    assert main([str(CHAIN), str(BRANCHING)]) == 2
    assert "--output-dir" in capsys.readouterr().err


def test_template_round_trips_through_variables(tmp_path):
    spec = tmp_path / "spec.json"
    assert main(["template", str(CHAIN), "-o", str(spec)]) == 0
    filled = json.loads(spec.read_text())
    filled["inputs"][0]["variables"][0]["name"] = "pt"
    filled["outputs"][0]["labels"][0] = "signal"
    spec.write_text(json.dumps(filled))
    output = tmp_path / "net.json"
    assert main([str(CHAIN), "-o", str(output), "--variables", str(spec)]) == 0
    document = json.loads(output.read_text())
    assert document["inputs"][0]["variables"][0]["name"] == "pt"
    assert document["outputs"]["y"]["labels"][0] == "signal"


def test_written_file_is_readable_as_open_would_make_it(tmp_path):
    import os
    output = tmp_path / "net.json"
    previous = os.umask(0o022)
    try:
        assert main([str(CHAIN), "-o", str(output)]) == 0
    finally:
        os.umask(previous)
    assert output.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("fixture,cause,consequence", [
    ("refuse_custom_domain", "'dense0/FancyActivation'", "'dense1/Gemm'"),  # reads from it
    ("gru_pytorch", "'/gru/GRU'", "'/gru/Transpose'"),  # the exporter's layout around it
])
def test_refusal_lists_causes_before_the_nodes_that_fail_because_of_them(
        fixture, cause, consequence, capsys):
    assert main([str(FIXTURES / f"{fixture}.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.index(cause) < err.index("then, failing because of those") < err.index(consequence)
