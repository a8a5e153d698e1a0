"""The hostile sweeps of issues 15 and 25, case by case, against the command line: every
case ends in a one-line message naming the file, exit 1 or 2, no traceback, and nothing
written or damaged; issue 25's cases also within 20 s of CPU and 1 GB resident, with no
escape byte on stdout or stderr (run under those limits by tests/limited.py). Hostile
files are built here, small. (Resource bombs in models: test_limits.py; the file policy
itself: test_files.py; event files: test_hostile_events.py.)

Special files are ones the test makes (a FIFO, a pseudo-terminal), never the system's.
"""
from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main

from .limited import find_escape, shared_cli
from .support import FIXTURES, REPO
from .test_hostile_events import NET

MODEL = FIXTURES / "mlp_opset13.onnx"


@pytest.fixture
def work(tmp_path):
    """A copy of the model and its converted network, in a folder of their own."""
    (tmp_path / "m.onnx").write_bytes(MODEL.read_bytes())
    assert main([str(tmp_path / "m.onnx"), "-o", str(tmp_path / "n.json"), "-q"]) == 0
    return tmp_path


def run_cli(args, capsys, codes=(1, 2)) -> str:
    """Run the CLI; the error is one line naming a file, with no traceback."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    err = captured.err
    assert code in codes, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("onnx2lwtnn: ") and len(err.strip().splitlines()) == 1, err
    return err


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- data loss --------------------------------------------------------------------------
def test_template_onto_its_model_is_refused(work, capsys):
    before = snapshot(work)
    err = run_cli(["template", work / "m.onnx", "-o", work / "m.onnx"], capsys, (2,))
    assert f"{work / 'm.onnx'}: the output would overwrite the input" in err
    assert snapshot(work) == before


@pytest.mark.parametrize("target", ["n.json", "m.onnx"])
def test_write_lwtnn_inputs_onto_an_input_is_refused(work, capsys, target):
    before = snapshot(work)
    err = run_cli(["check", work / "m.onnx", work / "n.json", "--write-lwtnn-inputs",
                   work / target], capsys, (2,))
    assert "would overwrite the input" in err and target in err
    assert snapshot(work) == before


def test_output_onto_the_variable_spec_is_refused(work, capsys):
    spec = work / "spec.json"
    assert main(["template", str(work / "m.onnx"), "-o", str(spec), "-q"]) == 0
    before = snapshot(work)
    run_cli([work / "m.onnx", "-o", spec, "--variables", spec], capsys, (2,))
    assert snapshot(work) == before


def test_output_onto_a_fifo_writes_into_it(work, capsys):
    fifo = work / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main([str(work / "m.onnx"), "-o", str(fifo)]) == 0
    reader.join(timeout=60)
    assert json.loads(received[0]) == json.loads((work / "n.json").read_text())
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_onto_a_character_device_writes_into_it(work, capsys):
    """A pseudo-terminal made here stands in for /dev/null: it stays the device."""
    master, slave = os.openpty()
    try:
        device = os.ttyname(slave)
        before = os.stat(device)
        assert main(["template", str(work / "m.onnx"), "-o", device]) == 0
        after = os.stat(device)
        assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
        assert b'"inputs"' in os.read(master, 100_000)
    finally:
        os.close(master)
        os.close(slave)


def test_output_onto_proc_self_fd_writes_into_the_open_file(work, capsys):
    held = work / "held.json"
    with open(held, "w") as stream:
        assert main([str(work / "m.onnx"), "-o", f"/proc/self/fd/{stream.fileno()}"]) == 0
        assert os.fstat(stream.fileno()).st_ino == os.stat(held).st_ino
    assert json.loads(held.read_text())["layers"]


def test_batch_outputs_that_collide_are_refused_naming_both(tmp_path, capsys):
    for folder in ("a", "b", "out"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "net.onnx").write_bytes(MODEL.read_bytes())
    (tmp_path / "out" / "net.onnx").unlink()
    err = run_cli([tmp_path / "a/net.onnx", tmp_path / "b/net.onnx", "--output-dir",
                   tmp_path / "out"], capsys, (2,))
    assert "a/net.onnx and" in err and "b/net.onnx would both be written" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_batch_never_overwrites_a_model_kept_under_the_output_name(tmp_path, capsys):
    kept = tmp_path / "m.json"  # an ONNX model kept with a .json name
    kept.write_bytes(MODEL.read_bytes())
    other = tmp_path / "other.onnx"
    other.write_bytes(MODEL.read_bytes())
    err = run_cli([other, kept, "--output-dir", tmp_path], capsys, (2,))
    assert "would overwrite the input" in err
    assert kept.read_bytes() == MODEL.read_bytes() and not (tmp_path / "other.json").exists()


def _no_file_writes() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@pytest.mark.parametrize("command", ["template", "write-lwtnn-inputs", "convert"])
def test_a_file_size_limit_names_the_file_and_leaves_nothing(work, command):
    out = work / "out" / "x.json"
    out.parent.mkdir()
    args = {"template": ["template", work / "m.onnx", "-o", out],
            "write-lwtnn-inputs": ["check", work / "m.onnx", work / "n.json",
                                   "--write-lwtnn-inputs", out],
            "convert": [work / "m.onnx", "-o", out]}[command]
    done = subprocess.run([sys.executable, "-m", "onnx2lwtnn", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          preexec_fn=_no_file_writes,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1, done.stderr
    assert f"onnx2lwtnn: {out}: cannot write the output (File too large)" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.parent.iterdir()) == []


def test_sigterm_during_conversion_leaves_no_file(work):
    """The write is the last step; a SIGTERM while it runs removes the temporary file."""
    script = ("import os, signal, sys\nfrom onnx2lwtnn import files\nreal = os.replace\n"
              "def replace(a, b):\n    os.kill(os.getpid(), signal.SIGTERM)\n    real(a, b)\n"
              "files.os.replace = replace\nfrom onnx2lwtnn.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    out = work / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", script, str(work / "m.onnx"), "-o",
                           str(out / "x.json")], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == -15, done.stderr
    assert list(out.iterdir()) == []


# -- hangs and memory -------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--variables", "network", "--inputs"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_as_inputs_are_refused_without_reading(work, capsys, option, special):
    path = work / "special.csv"
    if special == "fifo":
        os.mkfifo(path)
    else:
        path = Path(special)
    args = ["check", work / "m.onnx", work / "n.json"]
    if option == "network":
        args[2] = path
    else:
        args += [option, path]
    err = run_cli(args, capsys)
    assert f"{path}: " in err  # (a device named without .npz/.csv is refused for that)


def test_a_zip_bomb_npz_is_refused_before_decompressing(work, capsys):
    bomb = work / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            header = np.lib.format.header_data_from_array_1_0(np.zeros(0))
            header["shape"] = (40_000_000, 8)
            np.lib.format.write_array_header_1_0(member, header)
            zeros = bytes(1 << 20)
            for _ in range(300):
                member.write(zeros)
    assert bomb.stat().st_size < 2_000_000
    err = run_cli(["check", work / "m.onnx", work / "n.json", "--inputs", bomb], capsys)
    assert f"{bomb}: member 'x.npy' declares 2,560,000,000 bytes of data" in err


def test_a_csv_over_the_limit_is_refused_before_reading(work, capsys, monkeypatch):
    from onnx2lwtnn import files
    monkeypatch.setattr(files, "EVENTS_LIMIT", 1000)
    big = work / "big.csv"
    big.write_text("x\n" + "1.0\n" * 1000)
    err = run_cli(["check", work / "m.onnx", work / "n.json", "--inputs", big], capsys)
    assert f"{big}: the events file is over the 1000 bytes limit" in err


@pytest.mark.parametrize("value, problem", [
    (["--events", "1e9"], "is not an integer"), (["--events", "1000000000"], "from 1 to"),
    (["--events", "0"], "from 1 to"), (["--tolerance", "nan"], "finite number above 0"),
    (["--tolerance", "-1"], "finite number above 0"), (["--tolerance", "inf"], "finite"),
    (["--seed", str(2**70)], "from 0 to 2**63 - 1"), (["--seed", "-1"], "from 0 to"),
])
def test_numeric_options_are_validated(work, capsys, value, problem):
    code = main(["check", str(work / "m.onnx"), str(work / "n.json"), *value])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "Traceback" not in err


def test_an_empty_output_name_is_a_usage_error(work, capsys):
    code = main([str(work / "m.onnx"), "-o", ""])
    err = capsys.readouterr().err
    assert code == 2 and "the output file name is empty" in err


def test_a_closed_stdout_is_named(work, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    err = run_cli([work / "m.onnx"], capsys)
    assert "stdout is closed" in err


# -- wrong answers and internal errors --------------------------------------------------
@pytest.mark.parametrize("content, problem", [
    ('"other.json"', "must be a JSON object, not string"),
    ("[1, 2]", "must be a JSON object, not array"),
    ("null", "must be a JSON object, not null"),
    ("42", "must be a JSON object, not number"),
    ('{"inputs": [], "inputs": []}', "duplicate key 'inputs'"),
    ("[" * 5000 + "]" * 5000, "nested 5000 levels deep"),
])
def test_network_documents_are_read_strictly(work, capsys, content, problem):
    bad = work / "bad.json"
    bad.write_text(content)
    err = run_cli(["check", work / "m.onnx", bad], capsys)
    assert f"{bad}: " in err and problem in err


def test_a_network_naming_another_file_is_not_opened(work, capsys):
    """Its content, a JSON string, was once opened as a path (and passed)."""
    pointer = work / "pointer.json"
    pointer.write_text(json.dumps(str(work / "n.json")))
    err = run_cli(["check", work / "m.onnx", pointer], capsys)
    assert "not string" in err


def test_duplicate_output_labels_are_refused(work, capsys):
    document = json.loads((work / "n.json").read_text())
    (name, output), = document["outputs"].items()
    output["labels"] = ["s"] * len(output["labels"])
    bad = work / "labels.json"
    bad.write_text(json.dumps(document))
    code = main(["check", str(work / "m.onnx"), str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "'s'" in err and "Traceback" not in err


@pytest.mark.parametrize("edit, problem", [
    (lambda s: s["inputs"][0]["variables"][0].update(default="nan"), "numeric offset"),
    (lambda s: s["inputs"][0]["variables"][0].update(offset="1"), "numeric offset"),
    (lambda s: s["inputs"][0]["variables"][0].update(scale=True), "numeric offset"),
    (lambda s: s["inputs"][0]["variables"].__setitem__(1, dict(s["inputs"][0]["variables"][0])),
     "twice"),
    (lambda s: s["inputs"][0].pop("variables"), "variables"),
    (lambda s: s["outputs"][0].update(labels=["s"] * len(s["outputs"][0]["labels"])),
     "twice"),
])
def test_bad_specs_are_one_line_errors(work, capsys, edit, problem):
    spec = work / "spec.json"
    assert main(["template", str(work / "m.onnx"), "-o", str(spec), "-q"]) == 0
    content = json.loads(spec.read_text())
    edit(content)
    spec.write_text(json.dumps(content))
    err = run_cli([work / "m.onnx", "-o", work / "out.json", "--variables", spec], capsys)
    assert f"{spec}" in err and problem in err
    assert not (work / "out.json").exists()


def test_non_finite_spec_values_name_the_key(work, capsys):
    spec = work / "spec.json"
    spec.write_text('{"inputs": [{"name": "x", "variables": [{"name": "a", "offset": NaN,'
                    ' "scale": 1}]}]}')
    err = run_cli([work / "m.onnx", "--variables", spec], capsys)
    assert f"{spec}: line 1 column" in err and "(key 'offset'): NaN is not a JSON number" in err


@pytest.mark.parametrize("content, problem", [
    ("x_0,x_0\n1,2\n", "column 'x_0' appears twice"),
    (None, "line 2 has"),
])
def test_malformed_csv_inputs_are_refused(work, capsys, content, problem):
    document = json.loads((work / "n.json").read_text())
    names = [v["name"] for v in document["inputs"][0]["variables"]]
    if content is None:  # one cell too many
        content = ",".join(names) + "\n" + ",".join(["1"] * (len(names) + 1)) + "\n"
    events = work / "events.csv"
    events.write_text(content)
    err = run_cli(["check", work / "m.onnx", work / "n.json", "--inputs", events], capsys)
    assert problem in err


@pytest.mark.parametrize("kind", ["complex", "object", "npy-renamed", "zero-events"])
def test_malformed_npz_inputs_are_refused(work, capsys, kind):
    document = json.loads((work / "n.json").read_text())
    node = document["inputs"][0]
    width = len(node["variables"])
    events = work / "events.npz"
    if kind == "npy-renamed":
        np.save(work / "events.npy", np.zeros((3, width)))
        (work / "events.npy").rename(events)
    else:
        values = {"complex": np.zeros((3, width), complex),
                  "object": np.array([[None] * width] * 3, dtype=object),
                  "zero-events": np.zeros((0, width))}[kind]
        np.savez(events, **{node["name"]: values})
    err = run_cli(["check", work / "m.onnx", work / "n.json", "--inputs", events], capsys)
    assert str(events) in err


def test_zero_width_input_is_refused_cleanly(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 0])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 0])])
    path = tmp_path / "empty_width.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    code = main([str(path), "-o", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 1 and str(path) in err and "internal error" not in err, err
    assert not (tmp_path / "out.json").exists()


# -- names ------------------------------------------------------------------------------
def _named_model(name: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name=name)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_huge_node_name_gives_a_short_message(tmp_path, capsys):
    path = tmp_path / "long.onnx"
    onnx.save(_named_model("n" * 1_000_000), str(path))
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err) < 5000 and "nnn..." in err


def test_escape_sequences_in_names_never_reach_the_terminal(tmp_path, capsys):
    path = tmp_path / "escape.onnx"
    onnx.save(_named_model("evil\x1b]0;pwned\x07\x1b[2J"), str(path))
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;pwned\\x07" in err


def test_escape_sequences_in_labels_are_escaped_in_check_table(work, capsys):
    document = json.loads((work / "n.json").read_text())
    (name, output), = document["outputs"].items()
    output["labels"] = [f"l{i}\x1b[2J" for i in range(len(output["labels"]))]
    net = work / "labels.json"
    net.write_text(json.dumps(document))
    main(["check", str(work / "m.onnx"), str(net)])
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "l0\\x1b[2J" in captured.out


# -- depth ------------------------------------------------------------------------------
def chain(layers: int) -> onnx.ModelProto:
    nodes, weights, previous = [], [], "x"
    for i in range(layers):
        weights.append(numpy_helper.from_array(np.eye(2, dtype=np.float32) * 0.5, f"w{i}"))
        nodes += [helper.make_node("Gemm", [previous, f"w{i}"], [f"g{i}"], name=f"gemm{i}"),
                  helper.make_node("Tanh", [f"g{i}"], [f"t{i}"], name=f"tanh{i}")]
        previous = f"t{i}"
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                              [helper.make_tensor_value_info(previous, TensorProto.FLOAT,
                                                             ["N", 2])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_check_works_on_a_deep_chain(tmp_path, capsys):
    """--check on 520 layers used to end in RecursionError (5,000: benchmarks/)."""
    path = tmp_path / "deep.onnx"
    onnx.save(chain(1200), str(path))
    code = main([str(path), "-o", str(tmp_path / "deep.json"), "--check", "--events", "20"])
    err = capsys.readouterr().err
    assert code == 0 and "PASS: 20 events" in err, err[-2000:]


def test_deep_json_is_refused_with_a_message(tmp_path):
    from onnx2lwtnn import files
    deep = tmp_path / "deep.json"
    deep.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(files.FileError, match="nested 100001 levels deep"):
        files.read_json(deep, "lwtnn network", files.NETWORK_LIMIT)


def test_convert_api_on_a_deep_chain():
    document = convert(chain(1200))
    assert len(document["nodes"]) == 1201  # the input, then 1200 dense layers


def test_runtime_loads_and_evaluates_a_20000_node_chain():
    """load_network and evaluate on a chain far deeper than Python's recursion limit."""
    from onnx2lwtnn.lwtnn import load_network
    depth = 20_000
    document = {
        "inputs": [{"name": "x", "variables": [{"name": "a", "offset": 0, "scale": 1}]}],
        "input_sequences": [],
        "nodes": [{"type": "input", "sources": [0], "size": 1}]
        + [{"type": "feed_forward", "sources": [i], "layer_index": 0} for i in range(depth)],
        "layers": [{"architecture": "dense", "activation": "linear", "weights": [1.0],
                    "bias": [1.0]}],
        "outputs": {"y": {"node_index": depth, "labels": ["y_0"]}},
    }
    outputs = load_network(document).evaluate({"x": np.array([[0.0], [2.0]])})
    assert outputs["y"][:, 0].tolist() == [depth, depth + 2]


def test_tmva_events_from_a_fifo_are_refused_without_waiting(tmp_path, capsys):
    fifo = tmp_path / "events.npz"
    os.mkfifo(fifo)
    err = run_cli(["tmva", FIXTURES / "tmva_norm_decorr.weights.xml", "--inputs", fifo], capsys)
    assert f"{fifo}: not a regular file" in err


def test_a_closed_stdout_in_a_real_process(work):
    done = subprocess.run(f"{sys.executable} -m onnx2lwtnn {work / 'm.onnx'} >&-", shell=True,
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 1 and "stdout is closed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# -- issue 25: the converter's side of the third sweep ----------------------------------
# Each case runs in a child process limited to 20 s of CPU, with its peak resident memory
# asserted to be at most 1 GB and no escape byte on stdout or stderr (tests/limited.py).
PARAMETRISED = FIXTURES / "prep_susy_parametrised.onnx"
PARAMETRISED_CONFIG = FIXTURES / "prep_susy_parametrised.config.json"
EVIL = "\x1b]0;pwned\x07\x1b[2J\u009b31m\u009d"  # OSC, BEL, CSI, and the C1 CSI and OSC


@pytest.fixture
def limited():
    return shared_cli(REPO)


def _model(nodes, inputs, outputs, inits=(), domains=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]
                             + [helper.make_opsetid(d, 1) for d in domains])


def _vector(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(path: Path, model: onnx.ModelProto) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def ran(run, status: int = 0, binary_stdout: bool = False):
    """A run that ended with ``status`` within the bounds (no escape printed)."""
    run.assert_bounded(binary_stdout)
    assert run.status == status, run.text
    return run


def assert_no_escapes(*texts: str) -> None:
    for text in texts:
        found = find_escape(text.encode("utf-8"))
        assert found is None, f"escape {found!r} in {text[:500]!r}"


# memory from tiny files
@pytest.mark.parametrize("command", ["convert", "inspect", "template"])
def test_a_79_byte_model_declaring_a_billion_variables_is_refused(tmp_path, limited, command):
    model = _save(tmp_path / "wide.onnx", _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vector("x", ["N", 10**9])],
        [_vector("y", ["N", 10**9])]))
    assert model.stat().st_size < 100
    args = {"convert": [model, "-o", tmp_path / "out.json"], "inspect": ["inspect", model],
            "template": ["template", model, "-o", tmp_path / "out.json"]}[command]
    line = limited(args, tmp_path).assert_refused((1,))
    assert (f"{model}: tensor 'x' has shape [N, 1000000000]; dimensions of tensors computed "
            "at run time (but a batch) are limited to 100,000 (--limit dimension=N raises "
            "it)") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.onnx"]


def test_a_huge_tensor_made_from_a_small_input_is_refused(tmp_path, limited):
    model = _save(tmp_path / "tile.onnx", _model(
        [helper.make_node("Tile", ["x", "repeats"], ["y"])], [_vector("x", ["N", 4])],
        [_vector("y", ["N", "M"])],
        [numpy_helper.from_array(np.array([1, 10**9], np.int64), "repeats")]))
    line = limited([model], tmp_path).assert_refused((1,))
    assert "tensor 'y' has shape [?, 4000000000]" in line


def test_a_negative_dimension_is_refused(tmp_path, limited):
    model = _save(tmp_path / "negative.onnx", _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vector("x", ["N", -5])],
        [_vector("y", ["N", -5])]))
    line = limited(["template", model], tmp_path).assert_refused((1,))
    assert "tensor 'x' has shape [N, -5]: a negative dimension" in line


def test_a_large_fixed_batch_is_not_a_dimension_over_the_limit(tmp_path, limited):
    """hls4ml's exports fix the batch (at 789,444); no conversion builds it."""
    model = _save(tmp_path / "batch.onnx", _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vector("x", [789_444, 3])],
        [_vector("y", [789_444, 3])]))
    ran(limited([model, "-o", tmp_path / "out.json"], tmp_path))


def test_the_dimension_limit_can_be_raised(tmp_path, capsys):
    model = _save(tmp_path / "w300.onnx", _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vector("x", ["N", 300])],
        [_vector("y", ["N", 300])]))
    err = run_cli([model, "--limit", "dimension=200", "-o", tmp_path / "a.json"], capsys, (1,))
    assert "limited to 200 (--limit dimension=N raises it)" in err
    assert main([str(model), "--limit", "dimension=300", "-o", str(tmp_path / "a.json")]) == 0
    assert main([str(model), "-o", str(tmp_path / "b.json")]) == 0  # the default is back
    assert main([str(model), "--limit", "width=3"]) == 2
    assert "no limit is named 'width'" in capsys.readouterr().err


def test_tensors_sharing_one_megabyte_of_external_data_are_refused(tmp_path, limited):
    (tmp_path / "data.bin").write_bytes(bytes(1 << 20))
    tensors = []
    for index in range(2500):
        tensor = TensorProto(name=f"w{index}", data_type=TensorProto.FLOAT, dims=[512, 512],
                             data_location=TensorProto.EXTERNAL)
        for key, value in (("location", "data.bin"), ("offset", "0"), ("length", "1048576")):
            tensor.external_data.add(key=key, value=value)
        tensors.append(tensor)
    model = _save(tmp_path / "shared.onnx", _model(
        [helper.make_node("Sum", ["x", *(t.name for t in tensors)], ["y"])],
        [_vector("x", ["N", 512])], [_vector("y", ["N", 512])], tensors))
    assert model.stat().st_size < 250_000
    run = limited([model, "-o", tmp_path / "out.json"], tmp_path)
    line = run.assert_refused((1,))
    assert ("its tensors read 2,621,440,000 bytes of external data from files holding "
            "1,048,576") in line
    assert not (tmp_path / "out.json").exists()


def tmva_xml(ranges, *, title: str = "MLP", transforms: str = "", neuron: str = "sigmoid",
             declaration: str = '<?xml version="1.0"?>') -> str:
    """A small TMVA MLP weights file: one weight per variable to one sigmoid output."""
    n = len(ranges)
    variables = "".join(f'<Variable Expression="v{i}" Min="{low}" Max="{high}"/>'
                        for i, (low, high) in enumerate(ranges))
    return (f'{declaration}\n<MethodSetup Method="MLP::{title}"><GeneralInfo>'
            '<Info name="TMVA Release" value="4.2.1 [262657]"/>'
            '<Info name="AnalysisType" value="Classification"/></GeneralInfo><Options>'
            f'<Option name="NeuronType">{neuron}</Option>'
            '<Option name="EstimatorType">CE</Option></Options>'
            f'<Variables NVar="{n}">{variables}</Variables>'
            f'<Transformations>{transforms}</Transformations>'
            f'<Weights><Layout NLayers="2"><Layer Index="0" NNeurons="{n + 1}">'
            + '<Neuron NSynapses="1">0.5</Neuron>' * (n + 1) +
            '</Layer><Layer Index="1" NNeurons="1"><Neuron NSynapses="0"/></Layer>'
            '</Layout></Weights></MethodSetup>\n')


def _transform(name: str, indices, body: str) -> str:
    selected = "".join(f'<Input Type="Variable" Label="v{i}" Expression="v{i}"/>'
                       for i in indices)
    return (f'<Transform Name="{name}"><Selection><Input NInputs="{len(indices)}">'
            f'{selected}</Input></Selection>{body}</Transform>')


def test_a_tmva_file_of_9000_variables_is_refused(tmp_path, limited):
    weights = tmp_path / "wide.weights.xml"
    weights.write_text(tmva_xml([(0, 1)] * 9000, neuron="tanh"))
    assert weights.stat().st_size < 1_000_000
    model = _save(tmp_path / "m.onnx", _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_vector("x", ["N", 9000])],
        [_vector("y", ["N", 9000])]))
    for args in (["tmva", weights], [model, "--tmva-weights", weights]):
        line = limited([*args, "-o", tmp_path / "out.json"], tmp_path).assert_refused((1,))
        assert ("9,000 variables; TMVA files are limited to 1,000 variables (--limit "
                "tmva-variables=N raises it)") in line
    assert not (tmp_path / "out.json").exists()


def _normalize(indices) -> str:
    ranges = "".join(f'<Range Index="{k}" Min="0" Max="1"/>' for k in range(len(indices)))
    return _transform("Normalize", indices, f'<Class ClassIndex="0"><Ranges>{ranges}</Ranges>'
                                            '</Class>')


def _decorrelation(index: int) -> str:
    return _transform("Decorrelation", [index], '<Matrix Rows="1" Columns="1">2</Matrix>')


def test_a_tmva_file_at_the_limits_converts_within_the_bounds(tmp_path, limited):
    """1,000 variables, all normalised, then 15 more transformations of one variable
    each: they compose as exact 1000 x 1000 maps (once n^3 each), and the fast tanh's
    deviation is measured on 10,000 events of every variable."""
    n = 1000
    chain = [_normalize(range(n))] + [_decorrelation(k // 2) if k % 2 == 0 else
                                      _normalize([k // 2]) for k in range(15)]
    weights = tmp_path / "limit.weights.xml"
    weights.write_text(tmva_xml([(0, 1)] * n, transforms="".join(chain), neuron="tanh"))
    assert weights.stat().st_size < 1_000_000
    ran(limited(["tmva", weights, "-o", tmp_path / "out.json"], tmp_path))
    assert len(json.loads((tmp_path / "out.json").read_text())["inputs"][0]["variables"]) == n
    weights.write_text(tmva_xml([(0, 1)] * n, transforms="".join(chain + [_decorrelation(0)])))
    line = limited(["tmva", weights], tmp_path).assert_refused((1,))
    assert "17 transformations; TMVA chains a handful, and at most 16 are read" in line


# hangs and quadratic work
@pytest.mark.parametrize("option", ["tmva", "--tmva-weights"])
def test_a_tmva_weights_fifo_is_refused_without_waiting(tmp_path, limited, option):
    fifo = tmp_path / "weights.xml"
    os.mkfifo(fifo)
    args = ["tmva", fifo] if option == "tmva" else [MODEL, "--tmva-weights", fifo]
    line = limited(args, tmp_path).assert_refused((1,))
    assert f"{fifo}: not a regular file" in line


def test_inspect_follows_a_5000_node_chain_in_linear_time(tmp_path, limited):
    """Each node became an affine step merged into the next: inspect once followed every
    node's replacements to the end, and the trace copied the graph at every change (a
    10,000-node chain took 294 s)."""
    nodes, previous = [], "x"
    for index in range(5000):
        nodes.append(helper.make_node("Neg", [previous], [f"n{index}"], name=f"n{index}"))
        previous = f"n{index}"
    model = _save(tmp_path / "chain.onnx", _model(nodes, [_vector("x", ["N", 2])],
                                                  [_vector(previous, ["N", 2])]))
    assert b"n4999" in ran(limited(["inspect", model], tmp_path)).out


@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_a_20000_node_chain_under_a_cycle_is_refused_at_once(tmp_path, limited, command):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="A"),
             helper.make_node("Relu", ["a"], ["b"], name="B")]
    previous = "b"
    for index in range(20_000):
        nodes.append(helper.make_node("Relu", [previous], [f"c{index}"], name=f"c{index}"))
        previous = f"c{index}"
    model = _save(tmp_path / "cycle.onnx", _model(nodes, [_vector("x", ["N", 2])],
                                                  [_vector(previous, ["N", 2])]))
    assert model.stat().st_size < 1_000_000
    line = limited(([] if command == "convert" else ["inspect"]) + [model],
                   tmp_path).assert_refused((1,))
    assert "invalid ONNX model" in line


# data loss
def _network(folder: Path) -> tuple[Path, Path]:
    """A small lwtnn network and two events for it, for run and export."""
    (folder / "net.json").write_text(json.dumps(NET))
    (folder / "ev.csv").write_text("pt,eta\n1,2\n3,4\n")
    return folder / "net.json", folder / "ev.csv"


@pytest.mark.parametrize("command", ["convert", "template", "tmva", "run", "export"])
def test_output_to_dev_stdout_appends_to_the_log_the_shell_opened(tmp_path, limited, command):
    """``onnx2lwtnn ... -o /dev/stdout >> log.txt`` once truncated the log (O_TRUNC)."""
    log = tmp_path / "log.txt"
    log.write_text("an earlier line\n")
    net, events = _network(tmp_path)
    args = {"convert": [MODEL], "template": ["template", MODEL],
            "tmva": ["tmva", FIXTURES / "tmva_norm_decorr.weights.xml"],
            "run": ["run", net, "--inputs", events, "--format", "csv"],
            "export": ["export", net]}[command]
    ran(limited([*args, "-o", "/dev/stdout"], tmp_path, stdout=log), 0, command == "export")
    kept, _, written = log.read_bytes().partition(b"\n")
    assert kept == b"an earlier line"
    if command == "export":
        assert onnx.load_from_string(written).graph.output[0].name == "out"
    elif command == "run":
        assert written.decode().splitlines()[0] == "p" and len(written.splitlines()) == 3
    else:
        assert json.loads(written)


@pytest.mark.parametrize("command", ["convert", "template", "tmva", "write-lwtnn-inputs",
                                     "batch", "fix-from", "run", "export"])
def test_a_read_only_output_is_refused_not_replaced(work, limited, command):
    target = work / {"batch": "m.json", "run": "ro.csv", "export": "ro.onnx",
                     "fix-from": "prep_susy_parametrised_isGtt0_mGluino2000_mLSP800.json"
                     }.get(command, "ro.json")
    target.write_text("precious\n")
    target.chmod(0o444)
    net, events = _network(work)
    args = {"convert": [work / "m.onnx", "-o", target],
            "template": ["template", work / "m.onnx", "-o", target],
            "tmva": ["tmva", FIXTURES / "tmva_norm_decorr.weights.xml", "-o", target],
            "write-lwtnn-inputs": ["check", work / "m.onnx", work / "n.json",
                                   "--write-lwtnn-inputs", target],
            "batch": [work / "m.onnx", "--output-dir", work],
            "fix-from": [PARAMETRISED, "--fix-from", PARAMETRISED_CONFIG, "--output-dir",
                         work],
            "run": ["run", net, "--inputs", events, "-o", target],
            "export": ["export", net, "-o", target]}[command]
    before = snapshot(work)
    line = limited(args, work).assert_refused((2,))
    assert f"{target}: the output exists and is read-only" in line
    assert snapshot(work) == before and not target.stat().st_mode & 0o222


def _fix_from_config(folder: Path, rename: dict[str, str] = {}) -> Path:
    config = json.loads(PARAMETRISED_CONFIG.read_text())
    config["parameters"] = [{rename.get(k, k): v for k, v in point.items()}
                            for point in config["parameters"]]
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_fix_from_writes_nothing_when_a_later_network_cannot_be_written(tmp_path, limited):
    out = tmp_path / "out"
    out.mkdir()
    (out / "prep_susy_parametrised_isGtt0_mGluino2000_mLSP800.json").mkdir()  # the 2nd
    line = limited([PARAMETRISED, "--fix-from", _fix_from_config(tmp_path), "--output-dir",
                    out], tmp_path).assert_refused((1,))
    assert "mLSP800.json: cannot write the output (Is a directory)" in line
    assert [p.name for p in out.iterdir()] == ["prep_susy_parametrised_isGtt0_mGluino2000_"
                                               "mLSP800.json"]


def test_fix_from_writes_nothing_when_the_last_write_fails(tmp_path, capsys, monkeypatch):
    """Every network reaches a temporary file before any is renamed into place."""
    from onnx2lwtnn import files
    made, real = [], files.tempfile.mkstemp

    def third_fails(*args, **kwargs):
        made.append(1)
        if len(made) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", third_fails)
    out = tmp_path / "out"
    out.mkdir()
    err = run_cli([PARAMETRISED, "--fix-from", _fix_from_config(tmp_path), "--output-dir",
                   out], capsys, (1,))
    assert "No space left on device" in err and list(out.iterdir()) == []


def test_a_parameter_name_with_slashes_stays_in_the_output_dir(tmp_path, limited):
    out = tmp_path / "a" / "b" / "out"
    out.mkdir(parents=True)
    config = _fix_from_config(tmp_path, {"mLSP": "../../mLSP"})
    ran(limited([PARAMETRISED, "--fix-from", config, "--output-dir", out], tmp_path))
    assert len(list(out.iterdir())) == 3 and list((tmp_path / "a").iterdir()) == [
        tmp_path / "a" / "b"]
    assert (out / "prep_susy_parametrised_isGtt1_mGluino1900_..-..-mLSP1400.json").exists()


# escapes
def test_names_in_success_lines_are_escaped(tmp_path, limited):
    model = tmp_path / f"m{EVIL}.onnx"
    model.write_bytes(MODEL.read_bytes())
    other = tmp_path / f"bad{EVIL}.onnx"
    other.write_bytes(b"not a model")
    out = tmp_path / "out"
    out.mkdir()
    wrote = ran(limited([model, "-o", f"o{EVIL}.json"], tmp_path))
    assert "wrote o\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x9d.json" in wrote.text
    summary = ran(limited([model, other, "--output-dir", out], tmp_path), 1)
    assert "summary:" in summary.text and "bad\\x1b]0;pwned" in summary.text
    header = ran(limited(["inspect", model], tmp_path)).out.decode()
    assert "m\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x9d.onnx: ONNX model" in header
    config = _fix_from_config(tmp_path, {"mLSP": f"mLSP{EVIL}"})
    fixed = ran(limited([PARAMETRISED, "--fix-from", config, "--output-dir", out], tmp_path))
    assert "mLSP\\x1b]0;pwned" in fixed.text


def test_names_in_an_lwtnn_network_are_escaped(tmp_path, limited):
    """inspect's report, run's and export's success lines and run's CSV header on a
    terminal; JSON lines escape them themselves, and a CSV file keeps them as they are."""
    text = json.dumps(NET)
    for name in ("jet", "pt", "out", "p"):
        text = text.replace(f'"{name}"', json.dumps(name + EVIL))
    net = tmp_path / "evil.json"
    net.write_text(text)
    events = tmp_path / "ev.jsonl"
    events.write_text(json.dumps({f"jet{EVIL}": {f"pt{EVIL}": 1, "eta": 2}}) + "\n")
    escaped = "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x9d"
    report = ran(limited(["inspect", net], tmp_path)).out.decode()
    assert f"input 'jet{escaped}': 2 variables: pt{escaped} eta" in report
    assert f"output 'out{escaped}': 1 label: p{escaped}" in report
    table = ran(limited(["run", net, "--inputs", events], tmp_path, terminal=True)).out
    assert table.decode().splitlines()[0] == f"p{escaped}"
    lines = ran(limited(["run", net, "--inputs", events, "--format", "jsonl"], tmp_path)).out
    assert list(json.loads(lines)[f"out{EVIL}"]) == [f"p{EVIL}"]
    wrote = ran(limited(["run", net, "--inputs", events, "-o", f"o{EVIL}.csv"], tmp_path))
    assert f"wrote o{escaped}.csv" in wrote.text
    assert (tmp_path / f"o{EVIL}.csv").read_text().startswith(f"p{EVIL}\n")
    exported = ran(limited(["export", net, "-o", f"e{EVIL}.onnx"], tmp_path))
    assert f"wrote e{escaped}.onnx" in exported.text


def test_names_inside_a_model_are_escaped(tmp_path, limited):
    """Producer, node, tensor and dimension names and a custom domain, in inspect's
    report, in -v's changes and in conversion errors."""
    nodes = [helper.make_node("Relu", [f"x{EVIL}"], [f"r{EVIL}"], name=f"relu{EVIL}"),
             helper.make_node(f"Op{EVIL}", [f"r{EVIL}"], [f"y{EVIL}"], name=f"op{EVIL}",
                              domain=f"d{EVIL}")]
    model = _model(nodes, [_vector(f"x{EVIL}", [f"N{EVIL}", 2])],
                   [_vector(f"y{EVIL}", [f"N{EVIL}", 2])], domains=[f"d{EVIL}"])
    model.producer_name = f"p{EVIL}"
    path = _save(tmp_path / "names.onnx", model)
    report = ran(limited(["inspect", path], tmp_path)).out.decode()
    assert "producer p\\x1b]0;pwned" in report and "N\\x1b]0;pwned" in report
    assert "d\\x1b]0;pwned" in report
    for args in ([path, "-v"], ["template", path]):
        assert "op\\x1b]0;pwned" in ran(limited(args, tmp_path), 1).text


def test_c1_controls_in_a_tmva_title_are_escaped(tmp_path, limited):
    weights = tmp_path / "title.weights.xml"
    weights.write_text(tmva_xml([(0, 1), (-2, 3)], title=f"score{EVIL[-5:]}"))
    run = ran(limited(["tmva", weights], tmp_path))
    assert "score\\x9b31m\\x9d" in run.text
    assert json.loads(run.out)["outputs"][f"score{EVIL[-5:]}"]  # JSON escapes it


def test_ops_does_not_echo_escapes(tmp_path, limited):
    assert "Op\\x1b]0;pwned" in ran(limited(["ops", f"Op{EVIL}"], tmp_path)).out.decode()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_doctype_is_refused_whatever_the_encoding(tmp_path, limited, encoding):
    doctype = '<!DOCTYPE MethodSetup [<!ENTITY a "aaaaaaaaaa">]>'
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
    clean, hostile = tmp_path / "clean.xml", tmp_path / "doctype.xml"
    clean.write_bytes(tmva_xml([(0, 1)], declaration=declaration).encode(encoding))
    hostile.write_bytes(tmva_xml([(0, 1)], declaration=declaration + doctype).encode(encoding))
    line = limited(["tmva", hostile], tmp_path).assert_refused((1,))
    assert f"{hostile}: the XML declares a DOCTYPE" in line
    run = limited(["tmva", clean, "-o", tmp_path / "out.json"], tmp_path)
    assert run.status == 0, run.text


# internal errors
@pytest.mark.parametrize("low, high, problem", [
    ("5", "1", "training range [5, 1]"), ("-inf", "1", "training range [-inf, 1]"),
    ("-1e300", "1", "training range [-inf, 1]"), ("nan", "1", "training range [nan, 1]"),
    ("", "1", "no numeric Min and Max"),
])
def test_bad_tmva_training_ranges_are_refused(tmp_path, limited, low, high, problem):
    weights = tmp_path / "ranges.weights.xml"
    weights.write_text(tmva_xml([(0, 1), (low, high)]))
    line = limited(["tmva", weights], tmp_path).assert_refused((1,))
    assert f"variable 'v1' has {problem}" in line


def test_a_tmva_range_wider_than_double_precision_is_sampled(tmp_path, limited):
    weights = tmp_path / "wide.weights.xml"
    weights.write_text(tmva_xml([(0, 1), ("-3e38", "3e38")]))
    ran(limited(["tmva", weights, "-o", tmp_path / "out.json"], tmp_path))


@pytest.mark.parametrize("encoding, problem", [
    ("x-klingon", "encoding 'x-klingon', which this Python does not know"),
    ("rot13", "encoding 'rot13', which this Python does not know"),
    ("utf-8", "not utf-8 text as its XML says (byte"),
])
def test_bad_tmva_encodings_are_refused(tmp_path, limited, encoding, problem):
    weights = tmp_path / "encoding.weights.xml"
    text = tmva_xml([(0, 1)], declaration=f'<?xml version="1.0" encoding="{encoding}"?>')
    weights.write_bytes(text.encode("latin-1").replace(b"MLP::MLP", b"MLP::\xe9"))
    line = limited(["tmva", weights], tmp_path).assert_refused((1,))
    assert problem in line


@pytest.mark.parametrize("kind", ["raw_inputs", "variables", "csv"])
def test_tmva_inputs_without_events_are_refused(tmp_path, limited, kind):
    weights = FIXTURES / "tmva_norm_decorr.weights.xml"
    if kind == "csv":
        events = tmp_path / "events.csv"
        events.write_text("pt_lead,eta_lead,m_jj,dphi_jj\n")
    else:
        events = tmp_path / "events.npz"
        np.savez(events, **{kind: np.zeros((0, 4))})
    line = limited(["tmva", weights, "--inputs", events], tmp_path).assert_refused((2,))
    assert str(events) in line


@pytest.mark.parametrize("args, problem", [
    (["--fix", "x_0=nan"], "finite number, got 'x_0=nan'"),
    (["--fix", "x_0=inf"], "finite number, got 'x_0=inf'"),
    (["--fix", "x_0=1e309"], "finite number, got 'x_0=1e309'"),
    (["--fix", "x_0=1", "--fix", "x_0=2"], "--fix 'x_0' is given twice"),
    ([f"--fix=x_{i}=1" for i in range(6)], "would fix every variable of input 'x'"),
])
def test_fix_values_that_cannot_be_fixed_are_usage_errors(tmp_path, limited, args, problem):
    """Those argparse cannot parse end as its errors do: the usage, then one line."""
    run = ran(limited([MODEL, *args], tmp_path), 2)
    assert problem in run.text.splitlines()[-1] and "Traceback" not in run.text


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c["parameters"][0].update(mLSP=10**400), "not a finite number"),
    (lambda c: c["parameters"][0].update(mLSP="1400"), "not a finite number"),
    (lambda c: c["parameters"].append(dict(c["parameters"][0])), "would both be written"),
])
def test_fix_from_points_that_cannot_be_written_are_usage_errors(tmp_path, limited, edit,
                                                                   problem):
    config = json.loads(PARAMETRISED_CONFIG.read_text())
    edit(config)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    line = limited([PARAMETRISED, "--fix-from", path, "--output-dir", tmp_path],
                   tmp_path).assert_refused((2,))
    assert problem in line and list(tmp_path.iterdir()) == [path]


def test_fix_and_fix_from_fixing_one_parameter_is_a_usage_error(tmp_path, limited):
    line = limited([PARAMETRISED, "--fix-from", PARAMETRISED_CONFIG, "--fix", "mLSP=3",
                    "--output-dir", tmp_path], tmp_path).assert_refused((2,))
    assert "both fix 'mLSP'" in line and list(tmp_path.iterdir()) == []


# found by mutating fixtures (TMVA files and ONNX models) under the same limits
@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace('<Class Name="charm" Index="1"/>', ""),
     "the output layer has 3 neurons for 2 classes"),
    (lambda t: t.replace('Name="charm"', 'Name="light"'), "two classes are named 'light'"),
    (lambda t: t.replace('Expression="x2" Label="x2"', 'Expression="x1" Label="x1"'),
     "two variables are named 'x1'"),
])
def test_tmva_outputs_and_names_that_lwtnn_cannot_key_are_refused(tmp_path, limited, edit,
                                                                   problem):
    weights = tmp_path / "multiclass.weights.xml"
    weights.write_text(edit((FIXTURES / "tmva_multiclass.weights.xml").read_text()))
    commands = [["tmva", weights]]
    if "neurons" not in problem:  # --tmva-weights reads no MLP of the file's own
        commands.append([FIXTURES / "tmva_multiclass.onnx", "--tmva-weights", weights])
    for args in commands:
        line = limited(args, tmp_path).assert_refused((1,))
        assert f"{weights}: {problem}" in line


def test_a_negative_dimension_is_refused_before_shape_inference_aborts(tmp_path, limited):
    """onnx's C++ shape inference ends the process (SIGABRT) on this one."""
    model = onnx.load(str(FIXTURES / "timedistributed_dense.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = -1
    path = _save(tmp_path / "negative.onnx", model)
    line = limited([path], tmp_path).assert_refused((1,))
    assert "has shape [batch, -1, 5]: a negative dimension" in line


@pytest.mark.parametrize("op", ["Gemm", "LSTM"])
def test_weights_of_the_wrong_rank_are_refused_naming_the_node(tmp_path, limited, op):
    weight = numpy_helper.from_array(np.ones(8, np.float32), "w")
    if op == "Gemm":
        node, inputs = helper.make_node("Gemm", ["x", "w"], ["y"], name="gemm"), ["N", 8]
        inits = [weight]
    else:
        node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=2)
        inputs = ["T", "N", 8]
        inits = [weight, numpy_helper.from_array(np.ones((1, 8, 2), np.float32), "r")]
    path = _save(tmp_path / "rank.onnx", _model([node], [_vector("x", inputs)],
                                                 [_vector("y", ["N", "M"])], inits))
    text = limited([path], tmp_path).assert_failed((1,))
    assert {"Gemm": "Gemm 'gemm': the weight has shape [8], not a matrix",
            "LSTM": "LSTM 'lstm': W (8,), R (1, 8, 2) and B None do not hold 4 gates"}[op] \
        in text
