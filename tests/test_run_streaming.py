"""``run`` on files of any size (issue 21): events read, evaluated and written a chunk
at a time give what one evaluation of all of them gives; ROOT trees in and out (with
uproot present); one naming of .npz arrays across run, check and tmva; the progress
line. Memory: a 2-million-event ROOT file runs in under 500 MB."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from onnx2lwtnn import event_files
from onnx2lwtnn.cli import main
from onnx2lwtnn.cli.run import Progress
from onnx2lwtnn.errors import UsageError
from onnx2lwtnn.runner import read_network, run

from .support import REPO

DENSE = {
    "inputs": [{"name": "jet", "variables": [
        {"name": "pt", "offset": -20.0, "scale": 0.05, "default": 25.0},
        {"name": "eta", "offset": 0.0, "scale": 0.4},
        {"name": "m", "offset": -5.0, "scale": 0.1}]}],
    "input_sequences": [],
    "nodes": [{"type": "input", "sources": [0], "size": 3},
              {"type": "feed_forward", "sources": [0], "layer_index": 0},
              {"type": "feed_forward", "sources": [1], "layer_index": 1}],
    "layers": [{"architecture": "dense", "activation": "tanh",
                "weights": [0.3, -0.2, 0.5, 0.1, 0.7, -0.4, -0.6, 0.2, 0.9, 0.05, -0.3, 0.25],
                "bias": [0.1, -0.1, 0.2, 0.0]},
               {"architecture": "dense", "activation": "softmax",
                "weights": [1.0, -1.0, 0.5, 0.2, -0.3, 0.8, -0.5, 0.4], "bias": [0.0, 0.1]}],
    "outputs": {"tag": {"node_index": 2, "labels": ["b", "light"]}},
}
TRACKS = {
    "inputs": [{"name": "jet", "variables": [{"name": "pt", "offset": 0.0, "scale": 0.1}]}],
    "input_sequences": [{"name": "trk", "variables": [
        {"name": "d0", "offset": 0.0, "scale": 2.0}, {"name": "z0", "offset": 1.0, "scale": 0.5}]}],
    "nodes": [{"type": "input", "sources": [0], "size": 1},
              {"type": "input_sequence", "sources": [0], "size": 2},
              {"type": "sequence", "sources": [1], "layer_index": 0},
              {"type": "concatenate", "sources": [0, 2]},
              {"type": "feed_forward", "sources": [3], "layer_index": 1}],
    "layers": [{"architecture": "gru", "activation": "tanh", "inner_activation": "sigmoid",
                "components": {k: {"weights": [0.1 * (i + 1), -0.2, 0.3, 0.05, -0.1, 0.2],
                                   "U": [0.5, -0.1, 0.2, 0.3, 0.1, -0.4, 0.2, 0.1, 0.3],
                                   "bias": [0.0, 0.1, -0.1]}
                               for i, k in enumerate("zrh")}},
               {"architecture": "dense", "activation": "sigmoid",
                "weights": [0.5, 1.0, -1.0, 0.5], "bias": [0.1]}],
    "outputs": {"score": {"node_index": 4, "labels": ["p"]}},
}


def events(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.stack([rng.exponential(40, n), rng.normal(0, 1.5, n), rng.gamma(3, 4, n)], axis=1)
    x[rng.random(n) < 0.05, 0] = np.nan  # missing pt: its default
    return x


def expected(network: dict, x: np.ndarray) -> np.ndarray:
    """One evaluation of every event at once, NanReplacer applied."""
    return read_network(network).evaluate({"jet": x}, replace_nan=True)["tag"]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few hundred bytes: every reader and writer goes through many."""
    monkeypatch.setattr(event_files, "CHUNK_BYTES", 512)
    monkeypatch.setattr(event_files, "CHUNK_EVENTS", 37)


def write_csv(path, x):
    path.write_text("pt,eta,m\n" + "".join(
        ",".join("" if np.isnan(v) else repr(v) for v in row) + "\n" for row in x.tolist()))


@pytest.mark.parametrize("out", ["csv", "npz", "jsonl"])
@pytest.mark.parametrize("source", ["csv", "npz", "npz_compressed", "npz_fortran", "jsonl"])
def test_chunked_runs_give_one_evaluations_outputs(small_chunks, tmp_path, source, out):
    x = events(1000)
    path = tmp_path / f"in.{source.split('_')[0]}"
    if source == "csv":
        write_csv(path, x)
    elif source == "jsonl":
        path.write_text("".join(json.dumps({"jet": dict(zip(("pt", "eta", "m"), row))}) + "\n"
                                for row in x.tolist()))
    else:
        save = np.savez_compressed if source == "npz_compressed" else np.savez
        save(path, jet=np.asfortranarray(x) if source == "npz_fortran" else x)
    output = tmp_path / f"out.{out}"
    result = run(DENSE, path, output)
    want = expected(DENSE, x)
    np.testing.assert_array_equal(result.outputs["tag"], want)
    if out == "csv":
        written = np.loadtxt(output, delimiter=",", skiprows=1)
    elif out == "npz":
        with np.load(output) as data:
            written = data["tag"]
    else:
        written = np.array([list(json.loads(line)["tag"].values())
                            for line in output.read_text().splitlines()])
    np.testing.assert_array_equal(written, want)
    assert result.n_events == 1000 and result.replaced == int(np.isnan(x[:, 0]).sum())


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 0, 2), (1, 2, 0)], ids=["first", "middle",
                                                                        "last"])
def test_empty_csv_cells_are_missing_in_any_column(tmp_path, order):
    x = events(300)
    names = ["pt", "eta", "m"]
    path = tmp_path / "in.csv"
    path.write_text(",".join(names[i] for i in order) + "\n" + "".join(
        ",".join("" if np.isnan(row[i]) else repr(row[i]) for i in order) + "\n"
        for row in x.tolist()))
    assert np.isnan(x[:, 0]).any()
    np.testing.assert_array_equal(run(DENSE, path).outputs["tag"], expected(DENSE, x))


def test_ragged_sequences_in_chunks(small_chunks, tmp_path):
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 9, 300)
    tracks = [rng.normal(size=(n, 2)) for n in lengths]
    pt = rng.exponential(30, (300, 1))
    want = read_network(TRACKS).evaluate({"jet": pt}, {"trk": tracks})["score"]
    padded = np.zeros((300, lengths.max(), 2))
    for i, steps in enumerate(tracks):
        padded[i, :len(steps)] = steps
    npz = tmp_path / "in.npz"
    np.savez(npz, jet=pt, trk=padded, **{"trk.lengths": lengths})
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"jet": {"pt": p[0]}, "trk": {
        "d0": s[:, 0].tolist(), "z0": s[:, 1].tolist()}}) + "\n" for p, s in zip(pt, tracks)))
    for path in (npz, jsonl):
        np.testing.assert_allclose(run(TRACKS, path).outputs["score"], want, rtol=1e-13)


def test_an_error_in_a_later_chunk_leaves_no_output(small_chunks, tmp_path):
    x = events(500)
    x[:, 1] = 0.0
    path = tmp_path / "in.csv"
    write_csv(path, x)
    lines = path.read_text().splitlines()
    lines[450] = lines[450].replace(",0.0,", ",abc,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match="line 451, column 'eta': 'abc' is not a number"):
        run(DENSE, path, tmp_path / "out.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# -- one naming of .npz arrays --------------------------------------------------------
@pytest.mark.parametrize("name", ["jet", "in_jet", "inputs/jet", "raw_inputs", "anything"])
def test_npz_array_names(tmp_path, name):
    x = events(20)
    np.savez(tmp_path / "in.npz", **{name: x})
    np.testing.assert_array_equal(run(DENSE, tmp_path / "in.npz").outputs["tag"],
                                  expected(DENSE, x))


def test_two_arrays_for_one_input_are_refused(tmp_path):
    np.savez(tmp_path / "in.npz", jet=events(5), in_jet=events(5))
    with pytest.raises(UsageError, match="arrays 'jet', 'in_jet' all name input 'jet'"):
        run(DENSE, tmp_path / "in.npz")


def test_check_reads_the_same_names(tmp_path, capsys):
    model = REPO / "fixtures" / "mlp_opset13.onnx"
    network = tmp_path / "n.json"
    assert main([str(model), "-o", str(network), "-q"]) == 0
    width = len(json.loads(network.read_text())["inputs"][0]["variables"])
    name = json.loads(network.read_text())["inputs"][0]["name"]
    x = np.random.default_rng(3).normal(size=(40, width))
    for array in (name, f"in_{name}", f"inputs/{name}", "raw_inputs", "anything"):
        np.savez(tmp_path / "e.npz", **{array: x})
        assert main(["check", str(model), str(network), "--inputs", str(tmp_path / "e.npz")]) == 0
        assert "PASS: 40 events" in capsys.readouterr().out


# -- the progress line ----------------------------------------------------------------
def test_progress_shows_on_a_terminal_after_two_seconds(monkeypatch, capsys):
    clock = iter([0.0, 1.0, 3.0])
    monkeypatch.setattr("onnx2lwtnn.cli.run.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("onnx2lwtnn.files.is_terminal", lambda stream: True)
    progress = Progress()
    progress(100_000, 0.25)  # 1 s: not yet
    progress(2_000_000, 0.5)
    progress.end()
    assert capsys.readouterr().err == "\rran 2,000,000 events (50%)\n"


def test_progress_on_the_command_line_but_not_with_q(monkeypatch, tmp_path, capsys):
    clock = iter(range(0, 1000, 5))  # every chunk 5 s after the last
    monkeypatch.setattr("onnx2lwtnn.cli.run.time.monotonic", lambda: float(next(clock)))
    monkeypatch.setattr("onnx2lwtnn.files.is_terminal", lambda stream: True)
    monkeypatch.setattr(event_files, "CHUNK_EVENTS", 50)
    np.savez(tmp_path / "in.npz", jet=events(100))
    net = tmp_path / "net.json"
    net.write_text(json.dumps(DENSE))
    args = ["run", str(net), "--inputs", str(tmp_path / "in.npz"), "-o", str(tmp_path / "o.csv")]
    assert main(args) == 0
    assert capsys.readouterr().err.startswith("\rran 50 events (50%)\rran 100 events (100%)\n")
    assert main([*args, "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_no_progress_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr("onnx2lwtnn.cli.run.time.monotonic", lambda: 100.0)
    progress = Progress()
    progress(10, 0.5)
    progress.end()
    assert capsys.readouterr().err == ""


# -- ROOT -------------------------------------------------------------------------------
def make_tree(path, branches: dict, tree: str = "Events", types=None):
    uproot = pytest.importorskip("uproot")
    with uproot.recreate(path) as file:
        file.mktree(tree, types or {k: v.dtype if isinstance(v, np.ndarray) else "var * float64"
                                    for k, v in branches.items()})
        file[tree].extend(branches)


def test_root_flat_and_jagged_branches_in_and_a_friend_tree_out(tmp_path):
    ak = pytest.importorskip("awkward")
    uproot = pytest.importorskip("uproot")
    rng = np.random.default_rng(4)
    lengths = rng.integers(0, 6, 200)
    tracks = [rng.normal(size=(n, 2)) for n in lengths]
    pt = rng.exponential(30, 200)
    make_tree(tmp_path / "ev.root", {
        "jet_pt": pt, "d0": ak.Array([t[:, 0].tolist() for t in tracks]),
        "z0": ak.Array([t[:, 1].tolist() for t in tracks])})
    want = read_network(TRACKS).evaluate({"jet": pt[:, None]}, {"trk": tracks})["score"]
    net = tmp_path / "net.json"
    net.write_text(json.dumps(TRACKS))
    out = tmp_path / "friend.root"
    assert main(["run", str(net), "--inputs", f"{tmp_path / 'ev.root'}:Events", "--branch",
                 "pt=jet_pt", "-o", f"{out}:scores", "-q"]) == 0
    with uproot.open(out) as file:
        tree = file["scores"]
        assert tree.num_entries == 200 and tree.keys() == ["p"]
        np.testing.assert_allclose(tree["p"].array(library="np"), want[:, 0], rtol=1e-13)


def test_root_input_problems_are_one_line(tmp_path, capsys):
    pytest.importorskip("uproot")
    make_tree(tmp_path / "ev.root", {"pt": np.ones(3), "eta": np.ones(3)})
    net = tmp_path / "net.json"
    net.write_text(json.dumps(DENSE))
    cases = [([f"{tmp_path / 'ev.root'}:Events"], "no branch 'm'"),
             ([f"{tmp_path / 'ev.root'}:Other"], "it has no TTree 'Other'"),
             ([f"{tmp_path / 'ev.root'}:Events", "--branch", "x=pt"],
              "--branch names variables the network does not have: 'x'")]
    for args, message in cases:
        assert main(["run", str(net), "--inputs", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_root_without_uproot_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uproot", None)
    net = tmp_path / "net.json"
    net.write_text(json.dumps(DENSE))
    (tmp_path / "ev.root").write_bytes(b"root")
    assert main(["run", str(net), "--inputs", f"{tmp_path / 'ev.root'}:t"]) == 2
    assert 'pip install "onnx2lwtnn[root]"' in capsys.readouterr().err


ROOT_MEMORY_SCRIPT = """
import os, sys
from onnx2lwtnn.cli import main
folder, n = sys.argv[1], int(sys.argv[2])
code = main(["run", os.path.join(folder, "net.json"), "--inputs",
             os.path.join(folder, "ev.root") + ":Events", "-o",
             os.path.join(folder, "out.root"), "-q"])
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def test_two_million_root_events_in_bounded_memory(tmp_path):
    """The run in a child process: its peak resident memory (VmHWM, which unlike
    wait4's figure leaves out the pages it shared with pytest before starting Python)
    stays under 500 MB, and its friend tree holds what one in-memory evaluation gives."""
    uproot = pytest.importorskip("uproot")
    n = 2_000_000
    rng = np.random.default_rng(5)
    x = np.stack([rng.exponential(40, n), rng.normal(0, 1.5, n), rng.gamma(3, 4, n)],
                 axis=1).astype(np.float32)
    # uncompressed: writing it takes 0.4 s instead of 2 s; what run reads is the same
    with uproot.recreate(tmp_path / "ev.root", compression=None) as file:
        file.mktree("Events", {"pt": np.float32, "eta": np.float32, "m": np.float32})
        for part in np.array_split(x, 4):
            file["Events"].extend({"pt": part[:, 0], "eta": part[:, 1], "m": part[:, 2]})
    (tmp_path / "net.json").write_text(json.dumps(DENSE))
    child = subprocess.run([sys.executable, "-c", ROOT_MEMORY_SCRIPT, str(tmp_path), str(n)],
                           cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    peak = int(child.stdout.split()[-1]) * 1024
    assert peak < 500 << 20, f"{peak >> 20} MB resident"
    with uproot.open(tmp_path / "out.root") as file:
        written = np.stack([file["lwtnn"][k].array(library="np") for k in ("b", "light")],
                           axis=1)
    np.testing.assert_array_equal(written, expected(DENSE, x.astype(np.float64)))
