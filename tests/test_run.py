"""``run``: lwtnn documents evaluated on event files, against what lwtnn's C++ computed."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from onnx2lwtnn.errors import FileError, ModelLoadError, Onnx2LwtnnError, UsageError
from onnx2lwtnn.event_files import Events
from onnx2lwtnn.runner import read_network, run

from .lwtnn.conformance_data import expected_path, load_events, network_params

RTOL = 1e-10

NET = {
    "inputs": [{"name": "jet", "variables": [
        {"name": "pt", "offset": -1.0, "scale": 0.5, "default": 7.0},
        {"name": "eta", "offset": 0.0, "scale": 1.0}]}],
    "input_sequences": [],
    "nodes": [{"type": "input", "sources": [0], "size": 2},
              {"type": "feed_forward", "sources": [0], "layer_index": 0}],
    "layers": [{"architecture": "dense", "weights": [1.0, 2.0, 0.0, -1.0], "bias": [0.5, 0.0],
                "activation": "linear"}],
    "outputs": {"out": {"node_index": 1, "labels": ["a", "b"]}},
}


def expected_rows(x: np.ndarray) -> np.ndarray:
    pre = (x + [-1.0, 0.0]) * [0.5, 1.0]
    return np.stack([pre[:, 0] + 2 * pre[:, 1] + 0.5, -pre[:, 1]], axis=1)


def json_lines(events: list[dict]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


@pytest.mark.parametrize("network", network_params())
def test_conformance_from_json_lines(network, tmp_path):
    """Every conformance network, its events as JSON lines in lwtnn's own form: the
    outputs lwtnn 2.14.1 computed, to 1e-10, and the same events refused."""
    events = load_events(network)
    inputs = tmp_path / "events.jsonl"
    inputs.write_text(json_lines([{"inputs": e["inputs"], "input_sequences": e["input_sequences"]}
                                  for e in events]))
    output = tmp_path / "out.jsonl"
    result = run(network, inputs, output)
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(written) == len(events)
    refused = [i for i, e in enumerate(events) if "error" in e["expected_outputs"]]
    assert sorted(result.refused) == refused
    for i, (event, row) in enumerate(zip(events, written)):
        expected = event["expected_outputs"]
        if "error" in expected:
            assert "error" in row and all(np.isnan(v[i]).all() for v in result.outputs.values())
            continue
        assert set(row) == set(expected)
        for output_name, labels in expected.items():
            for label, value in labels.items():
                assert abs(row[output_name][label] - value) <= RTOL * max(1, abs(value)), \
                    f"event {i} {output_name}/{label}"


@pytest.mark.parametrize("network", network_params())
def test_conformance_from_npz_with_ragged_sequences(network, tmp_path):
    """The same events as arrays: sequences padded to the longest, with lengths."""
    net = read_network(network)
    events = load_events(network)
    arrays = {}
    for node in net.input_names:
        arrays[f"inputs/{node}"] = np.array([[e["inputs"][node][v] for v in net.input_variables[node]]
                                 for e in events])
    for node in net.sequence_names:
        variables = net.sequence_variables[node]
        steps = [np.array([e["input_sequences"][node][v] for v in variables]).T for e in events]
        padded = np.full((len(steps), max(map(len, steps)), len(variables)), 99.0)
        for i, s in enumerate(steps):
            padded[i, :len(s)] = s
        arrays[f"input_sequences/{node}"] = padded
        arrays[f"input_sequences/{node}.lengths"] = np.array([len(s) for s in steps])
    inputs = tmp_path / "events.npz"
    np.savez(inputs, **arrays)
    output = tmp_path / "out.npz"
    result = run(network, inputs, output)
    with np.load(output) as written:
        for name, labels in net.output_labels.items():
            for i, event in enumerate(events):
                expected = event["expected_outputs"]
                if "error" in expected:
                    assert i in result.refused and np.isnan(written[name][i]).all()
                    continue
                for j, label in enumerate(labels):
                    value = expected[name][label]
                    assert abs(written[name][i, j] - value) <= RTOL * max(1, abs(value))


def test_csv_in_csv_out(tmp_path):
    x = np.array([[1.0, 2.0], [3.0, -4.0], [0.25, 0.0]])
    inputs = tmp_path / "in.csv"
    inputs.write_text("eta,pt\n" + "".join(f"{b!r},{a!r}\n" for a, b in x.tolist()))  # any order
    output = tmp_path / "out.csv"
    run(NET, inputs, output)
    lines = output.read_text().splitlines()
    assert lines[0] == "a,b"
    np.testing.assert_allclose(np.array([[float(c) for c in line.split(",")]
                                         for line in lines[1:]]), expected_rows(x), rtol=1e-15)


def test_nan_takes_the_default_like_lwtnns_nan_replacer(tmp_path):
    """An empty cell (NaN) of a variable with a default gets the default; lwtnn's
    NanReplacer does exactly this, before (x + offset) * scale."""
    inputs = tmp_path / "in.csv"
    inputs.write_text("pt,eta\n,1.0\nnan,2.0\n3.0,1.0\n")
    result = run(NET, inputs)
    assert result.replaced == 2
    np.testing.assert_allclose(result.outputs["out"],
                               expected_rows(np.array([[7.0, 1.0], [7.0, 2.0], [3.0, 1.0]])))


ONE_VARIABLE = {"inputs": [{"name": "x", "offset": 0, "scale": 1, "default": 5.0}],
                "outputs": ["y"],
                "layers": [{"architecture": "dense", "activation": "linear", "weights": [2.0],
                            "bias": [0.0]}]}


def test_an_empty_line_between_events_of_one_column_is_refused(tmp_path):
    """In a one-column CSV an empty line is a missing value or nothing: skipped, the
    events after it were a row off their lines (2 -> row 2 of the output, line 4)."""
    inputs = tmp_path / "in.csv"
    inputs.write_text("x\n1\n\n2\n")
    with pytest.raises(UsageError, match="line 3 is empty.*write a missing value as nan"):
        run(ONE_VARIABLE, inputs)


def test_empty_lines_at_the_end_or_among_several_columns_are_not_events(tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("x\n1\nnan\n2\n\n\n")
    two.write_text("pt,eta\n1,2\n\n3,4\n")
    np.testing.assert_array_equal(run(ONE_VARIABLE, one).outputs["outputs"][:, 0],
                                  [2.0, 10.0, 4.0])
    np.testing.assert_allclose(run(NET, two).outputs["out"],
                               expected_rows(np.array([[1.0, 2.0], [3.0, 4.0]])))


def test_infinities_are_replaced_only_with_replace_all(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"jet": {"pt": Infinity, "eta": 1.0}}\n')
    with pytest.raises(UsageError, match="'pt' of 'jet' in event.s. 0"):
        run(NET, inputs)
    result = run(NET, inputs, replace="all")
    np.testing.assert_allclose(result.outputs["out"], expected_rows(np.array([[7.0, 1.0]])))


def test_nan_without_a_default_is_an_error_naming_variable_and_events(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json_lines([{"jet": {"pt": 1.0, "eta": 1.0}},
                                  {"jet": {"pt": 1.0, "eta": None}}]))
    with pytest.raises(UsageError, match=r"'eta' of 'jet' in event\(s\) 1"):
        run(NET, inputs, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_sequential_format_reads_flat_json_and_a_single_npz_array(tmp_path):
    doc = {"inputs": [{"name": "x0", "offset": 1.0, "scale": 2.0}],
           "layers": [{"architecture": "dense", "weights": [3.0], "bias": [1.0],
                       "activation": "linear"}],
           "outputs": ["y"]}
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"x0": 1.0}\n{"x0": -1.0}\n')
    assert run(doc, jsonl).outputs["outputs"].tolist() == [[13.0], [1.0]]
    npz = tmp_path / "in.npz"
    np.savez(npz, anything=np.array([[1.0], [-1.0]]))
    assert run(doc, npz).outputs["outputs"].tolist() == [[13.0], [1.0]]


def test_events_object_and_every_output_format_agree(tmp_path):
    x = np.random.default_rng(0).standard_normal((50, 2))
    result = run(NET, Events({"jet": x}, {}), tmp_path / "o.csv")
    run(NET, Events({"jet": x}, {}), tmp_path / "o.npz")
    run(NET, Events({"jet": x}, {}), tmp_path / "o.jsonl")
    from_csv = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)
    from_npz = np.load(tmp_path / "o.npz")["out"]
    from_jsonl = np.array([[json.loads(line)["out"][k] for k in "ab"]
                           for line in (tmp_path / "o.jsonl").read_text().splitlines()])
    for values in (from_csv, from_npz, from_jsonl):
        np.testing.assert_array_equal(values, result.outputs["out"])  # repr round-trips


BAD_INPUTS = [
    ("in.csv", "pt,phi\n1,2\n", "missing: 'eta'; unknown: 'phi'"),
    ("in.csv", "pt,eta\n1,abc\n", "line 2, column 'eta': 'abc' is not a number"),
    ("in.csv", "pt,eta\n1\n", "line 2 has 1 cells"),
    ("in.csv", "", "empty file"),
    ("in.csv", "pt,eta\n", "no events"),
    ("in.jsonl", "", "empty file"),
    ("in.jsonl", "\n\n", "no events"),
    ("in.jsonl", '{"jet": {"pt": 1}\n', "line 1: the event is not valid JSON"),
    ("in.jsonl", '[1, 2]\n', "line 1: the event must be a JSON object"),
    ("in.jsonl", '{"jet": {"pt": 1, "eta": 1}}\n{"jet": {"pt": 1}}\n',
     "line 2: missing variable 'eta'"),
    ("in.jsonl", '{"jet": {"pt": "1", "eta": 1}}\n', "variable 'pt' is \"1\", not a number"),
    ("in.jsonl", '{"muon": {}}\n', "no entry for input node 'jet'"),
    ("in.txt", "1,2\n", "inputs must be .npz, .csv, JSON lines"),
    ("in.npz", "not a zip", "not a readable .npz"),
]


@pytest.mark.parametrize("name, content, message", BAD_INPUTS,
                         ids=[f"{n}:{m[:20]}" for n, _, m in BAD_INPUTS])
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, name, content, message):
    inputs = tmp_path / name
    inputs.write_text(content)
    output = tmp_path / "out.csv"
    with pytest.raises(Onnx2LwtnnError) as info:
        run(NET, inputs, output)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == [inputs]


def test_bad_npz_arrays(tmp_path):
    cases = {
        "shape": ({"jet": np.zeros((3, 3))}, "has shape (3, 3), expected (n_events, n_variables)"),
        "missing": ({"muon": np.zeros((3, 2)), "x": np.zeros(1)}, "no array for input node(s) 'jet'"),
        "strings": ({"jet": np.array([["a", "b"]])}, "holds <U1, not real numbers"),
    }
    for name, (arrays, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(Onnx2LwtnnError, match=message.replace("(", r"\(").replace(")", r"\)")):
            run(NET, path)


def test_bad_sequence_inputs(tmp_path):
    network = dict(NET, input_sequences=[{"name": "trk", "variables": [
        {"name": "d0", "offset": 0, "scale": 1}, {"name": "z0", "offset": 0, "scale": 1}]}])
    path = tmp_path / "in.jsonl"
    path.write_text('{"jet": {"pt": 1, "eta": 1}, "trk": {"d0": [1, 2], "z0": [1]}}\n')
    with pytest.raises(UsageError, match="different numbers of steps"):
        run(network, path)
    path.write_text('{"jet": {"pt": 1, "eta": 1}, "trk": {"d0": [1, null], "z0": [1, 2]}}\n')
    with pytest.raises(UsageError, match="'d0' of 'trk' in event.s. 0"):
        run(network, path)
    csv = tmp_path / "in.csv"
    csv.write_text("pt,eta\n1,1\n")
    with pytest.raises(UsageError, match="CSV holds vector inputs only"):
        run(network, csv)
    npz = tmp_path / "in.npz"
    np.savez(npz, jet=np.zeros((2, 2)), trk=np.zeros((2, 3, 2)), **{"trk.lengths": [1, 4]})
    with pytest.raises(UsageError, match="trk.lengths' must hold one integer in .0, 3."):
        run(network, npz)


def test_unreadable_networks(tmp_path):
    bad = tmp_path / "net.json"
    bad.write_text("{")
    with pytest.raises(FileError, match="not valid JSON"):
        read_network(bad)
    with pytest.raises(FileError, match="absent.json"):
        read_network(tmp_path / "absent.json")
    bad.write_text(json.dumps(dict(NET, nodes=[])))
    with pytest.raises(ModelLoadError, match="not a network lwtnn reads"):
        read_network(bad)


def test_refused_events_are_reported_and_the_rest_kept(tmp_path):
    network = {"inputs": [], "input_sequences": [{"name": "s", "variables": [
        {"name": "v", "offset": 0, "scale": 1}]}],
        "nodes": [{"type": "input_sequence", "sources": [0], "size": 1},
                  {"type": "sequence", "sources": [0], "layer_index": 0}],
        "layers": [{"architecture": "conv1d", "weights": [1.0, 1.0, 1.0], "bias": [0.0],
                    "activation": "linear", "dilation_rate": 1, "padding": "valid"}],
        "outputs": {"o": {"node_index": 1, "labels": ["y"]}}}
    path = tmp_path / "in.jsonl"
    path.write_text(json_lines([{"s": {"v": [1, 2, 3]}}, {"s": {"v": [1]}},
                                {"s": {"v": [1, 2, 3, 4]}}]))
    out = tmp_path / "out.jsonl"
    result = run(network, path, out)
    assert list(result.refused) == [1]
    assert "too short for 'valid' conv1d" in result.refused[1]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"o": {"y": 6.0}} and "error" in rows[1] and rows[2] == {"o": {"y": 9.0}}
    assert math.isnan(result.outputs["o"][1, 0])


def test_conformance_expected_files_exist_for_every_network():
    for param in network_params():
        network = param.values[0]
        if network is not None:
            assert expected_path(network).is_file()


def test_cli_run_to_stdout_and_files(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    network = tmp_path / "net.json"
    network.write_text(json.dumps(NET))
    inputs = tmp_path / "in.csv"
    inputs.write_text("pt,eta\n1,2\n,3\n")
    assert main(["run", str(network), "--inputs", str(inputs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "a,b" and len(out) == 3
    np.testing.assert_allclose([[float(c) for c in line.split(",")] for line in out[1:]],
                               expected_rows(np.array([[1.0, 2.0], [7.0, 3.0]])))
    assert main(["run", str(network), "--inputs", str(inputs), "-o", str(tmp_path / "o.npz")]) == 0
    assert "1 value(s) replaced by defaults" in capsys.readouterr().err
    assert np.load(tmp_path / "o.npz")["out"].shape == (2, 2)


def test_cli_run_bad_inputs_exit_2_with_one_line_and_no_output(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    network = tmp_path / "net.json"
    network.write_text(json.dumps(NET))
    inputs = tmp_path / "in.csv"
    inputs.write_text("pt,eta\n1,nan\n")
    output = tmp_path / "out.csv"
    assert main(["run", str(network), "--inputs", str(inputs), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'eta' of 'jet' in event(s) 0" in err
    assert not output.exists()
    assert main(["run", str(network), "--inputs", str(inputs), "-o", str(inputs)]) == 2
    assert main(["run", str(network), "--inputs", str(tmp_path / "x.csv")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_cli_run_lists_refused_rows(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    network = tmp_path / "net.json"
    network.write_text(json.dumps({
        "inputs": [], "input_sequences": [{"name": "s", "variables": [
            {"name": "v", "offset": 0, "scale": 1}]}],
        "nodes": [{"type": "input_sequence", "sources": [0], "size": 1},
                  {"type": "sequence", "sources": [0], "layer_index": 0}],
        "layers": [{"architecture": "conv1d", "weights": [1.0, 1.0], "bias": [0.0],
                    "activation": "linear", "dilation_rate": 1, "padding": "valid"}],
        "outputs": {"o": {"node_index": 1, "labels": ["y"]}}}))
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json_lines([{"s": {"v": [1, 2]}}, {"s": {"v": [1]}}, {"s": {"v": []}}]))
    assert main(["run", str(network), "--inputs", str(inputs)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["y", "3.0", "nan", "nan"]
    assert "lwtnn refuses 2 of 3 event(s)" in captured.err
    assert "event(s) 1 (1)" in captured.err and "event(s) 2 (1)" in captured.err


def test_npz_padding_is_never_read_but_a_nan_in_a_step_is_an_error(tmp_path):
    network = dict(NET, input_sequences=[{"name": "trk", "variables": [
        {"name": "d0", "offset": 0, "scale": 1}]}])
    network["nodes"] = NET["nodes"] + [{"type": "input_sequence", "sources": [0], "size": 1},
                                       {"type": "sum", "sources": [2]}]
    network["outputs"] = {**NET["outputs"], "n": {"node_index": 3, "labels": ["sum"]}}
    npz = tmp_path / "in.npz"
    trk = np.array([[[1.0], [2.0], [np.nan]], [[4.0], [np.nan], [np.nan]]])
    np.savez(npz, jet=np.ones((2, 2)), trk=trk, **{"trk.lengths": [2, 1]})
    assert run(network, npz).outputs["n"].tolist() == [[3.0], [4.0]]
    np.savez(npz, jet=np.ones((2, 2)), trk=trk, **{"trk.lengths": [3, 1]})
    with pytest.raises(UsageError, match="'d0' of 'trk' in event.s. 0$"):
        run(network, npz)


def test_thread_counts(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    network = tmp_path / "net.json"
    network.write_text(json.dumps(NET))
    inputs = tmp_path / "in.csv"
    inputs.write_text("pt,eta\n1,2\n3,4\n")
    outputs = [main(["run", str(network), "--inputs", str(inputs), "--threads", n])
               for n in ("1", "2")]
    assert outputs == [0, 0]
    one, two = capsys.readouterr().out.split("a,b\n")[1:]
    assert one == two
    assert main(["run", str(network), "--inputs", str(inputs), "--threads", "0"]) == 2
    assert "--threads: must be from 1 to" in capsys.readouterr().err
    with pytest.raises(UsageError, match="threads must be an integer from 1"):
        run(NET, inputs, threads=0)


def test_an_output_format_it_cannot_tell_names_the_option_of_each_interface(tmp_path, capsys):
    from onnx2lwtnn.cli import main
    inputs = tmp_path / "in.csv"
    inputs.write_text("pt,eta\n1,2\n")
    with pytest.raises(UsageError, match="or give format=$"):
        run(NET, inputs, tmp_path / "out.txt")
    network = tmp_path / "net.json"
    network.write_text(json.dumps(NET))
    assert main(["run", str(network), "--inputs", str(inputs), "-o", str(tmp_path / "o.txt")]) == 2
    assert capsys.readouterr().err.rstrip().endswith("or give --format")
