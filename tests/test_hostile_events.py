"""Hostile event files and lwtnn documents (issue 25): every case runs the command line in
a child process under the hostile suite's limits (tests/limited.py) and must end within
20 s of CPU and 1 GB of resident memory, with exit 1 (a bad file) or 2 (a bad request) and
one clean line, nothing left behind and no escape byte printed. Files a reader must accept
(ragged sequences, a U+2028 inside a string) must instead run, in the same bounds.
(The ONNX-side bombs and the output policy: test_hostile.py, test_limits.py.)"""
from __future__ import annotations

import json
import os
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from onnx2lwtnn.cli import main

from .limited import Run, shared_cli
from .support import FIXTURES, REPO

NET = {"inputs": [{"name": "jet", "variables": [
           {"name": "pt", "offset": 0.0, "scale": 0.1, "default": 1.0},
           {"name": "eta", "offset": 0.0, "scale": 1.0}]}],
       "input_sequences": [],
       "nodes": [{"type": "input", "sources": [0], "size": 2},
                 {"type": "feed_forward", "sources": [0], "layer_index": 0}],
       "layers": [{"architecture": "dense", "weights": [1.0, -1.0], "bias": [0.5],
                   "activation": "sigmoid"}],
       "outputs": {"out": {"node_index": 1, "labels": ["p"]}}}
TRACKS = {"inputs": [], "input_sequences": [{"name": "trk", "variables": [
              {"name": "d0", "offset": 0.0, "scale": 1.0}]}],
          "nodes": [{"type": "input_sequence", "sources": [0], "size": 1},
                    {"type": "sequence", "sources": [0], "layer_index": 0},
                    {"type": "sum", "sources": [1]}],
          "layers": [{"architecture": "simplernn", "activation": "tanh",
                      "components": {"h": {"weights": [0.5], "U": [0.1], "bias": [0.0]}}}],
          "outputs": {"n": {"node_index": 2, "labels": ["sum"]}}}


def refused(folder: Path, *commands: list, message: str = "") -> None:
    """Each command fails cleanly in bounds, saying ``message``, leaving the folder as
    it was."""
    refused_cases(folder, {str(i): (command, message) for i, command in enumerate(commands)})


def refused_cases(folder: Path, cases: dict[str, tuple[list, str]]) -> None:
    """``refused`` for named (command, message) cases."""
    before = sorted(p.name for p in folder.iterdir())
    for case, (command, message) in cases.items():
        line = shared_cli(REPO)(command, folder).assert_refused()
        assert message in line, (case, line)
    assert sorted(p.name for p in folder.iterdir()) == before


def accepted(folder: Path, command: list) -> Run:
    run = shared_cli(REPO)(command, folder)
    run.assert_bounded()
    assert run.status == 0, run.text[-2000:]
    return run


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "net.json").write_text(json.dumps(NET))
    (tmp_path / "tracks.json").write_text(json.dumps(TRACKS))
    return tmp_path


def npy(array: np.ndarray) -> bytes:
    import io
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def npy_header(shape: tuple) -> bytes:
    import io
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {
        "descr": "<f8", "fortran_order": False, "shape": shape})
    return stream.getvalue()


def test_every_reader_refuses_a_fifo_without_waiting(folder):
    """The file policy: a FIFO (or a device) is refused before anything is read."""
    pytest.importorskip("uproot")
    for name in ("ev.csv", "ev.jsonl", "ev.npz", "ev.root", "fifo.json"):
        os.mkfifo(folder / name)
    refused_cases(folder, {
        **{suffix: (["run", "net.json", "--inputs", name, "-o", "out.csv"], "not a regular file")
           for suffix, name in (("csv", "ev.csv"), ("jsonl", "ev.jsonl"), ("npz", "ev.npz"),
                                ("root", "ev.root:t"))},
        **{command: ([command, "fifo.json", *rest], "fifo.json: not a regular file")
           for command, rest in (("run", ["--inputs", "ev.csv"]), ("inspect", []),
                                 ("export", ["-o", "out.onnx"]))}})


# -- .npz archives, read by run, check and tmva --inputs --------------------------------
def bzip2_liar(path: Path) -> None:
    """A bzip2 member holding 20 MB of zeros behind a header declaring 1e8 rows, its
    central directory claiming 100 bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("jet.npy", npy_header((10**8, 2)) + bytes(20 << 20))
        archive.filelist[-1].file_size = 100
    assert path.stat().st_size < 2048


def encrypted(path: Path) -> None:
    """The 'encrypted' bit set in the local and central headers."""
    _patch_headers(path, [(6, 1), (8, 1)], 0x1)


def unknown_method(path: Path) -> None:
    _patch_headers(path, [(8, 99), (10, 99)])


def _patch_headers(path: Path, fields: list[tuple[int, int]], flag: int = 0) -> None:
    """A stored member, then (offset, value) written into its local header (PK 3 4) and
    central header (PK 1 2); with ``flag``, OR-ed into the flags instead."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("jet.npy", npy(np.zeros((3, 2))))
    data = bytearray(path.read_bytes())
    for signature, (at, value) in zip((b"PK\x03\x04", b"PK\x01\x02"), fields):
        start = data.find(signature) + at
        old = int.from_bytes(data[start:start + 2], "little")
        data[start:start + 2] = ((old | flag) if flag else value).to_bytes(2, "little")
    path.write_bytes(bytes(data))


def members(**contents: bytes):
    def make(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in contents.items():
                archive.writestr(name.replace("__", "."), data)
    return make


def duplicated(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("jet.npy", npy(np.zeros((3, 2))))
        archive.writestr("jet.npy", npy(np.ones((3, 2))))


def deflated_liar(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("jet.npy", npy_header((10**12, 2)) + bytes(1000))


def corrupt_deflate(at: int):
    """np.savez_compressed's archive of 20,000 events with 16 bytes of its deflate stream
    overwritten ``at`` bytes in: in the .npy header, zlib.error was an internal error."""
    def make(path: Path) -> None:
        np.savez_compressed(path, jet=np.random.default_rng(0).normal(size=(20_000, 2)))
        data = bytearray(path.read_bytes())
        start = 30 + int.from_bytes(data[26:28], "little") + int.from_bytes(data[28:30],
                                                                            "little")
        data[start + at:start + at + 16] = b"\xff" * 16
        path.write_bytes(bytes(data))
    return make


NPZ_CASES = {
    "bzip2 member lying about its size": (bzip2_liar, "uses zip compression method 12"),
    "encrypted member": (encrypted, "is encrypted"),
    "unknown compression": (unknown_method, "uses zip compression method 99"),
    "member that is not npy": (members(jet__npy=b"PK not an array at all"),
                               "is not a readable .npy array"),
    "truncated npy header": (members(jet__npy=b"\x93NUMPY\x01\x00\x76\x00{'descr'"),
                             "is not a readable .npy array"),
    "stored header declaring 1e12 rows": (members(jet__npy=npy_header((10**12, 2)) + bytes(64)),
                                          "declares 16,000,000,000,000 bytes of data but holds"),
    "deflated header declaring 1e12 rows": (deflated_liar, "deflate cannot expand that much"),
    "duplicate members": (duplicated, "appears twice in the archive"),
    "corrupt deflate data in the .npy header": (corrupt_deflate(2), "while decompressing data"),
    "corrupt deflate data in the array": (corrupt_deflate(20_000),
                                          "member 'jet.npy' cannot be decompressed (Bad CRC"),
    "a zip version zipfile cannot read": (
        lambda path: _patch_headers(path, [(4, 97), (6, 97)]), "zip file version 9.7"),
    "zip's patched data flag": (lambda path: _patch_headers(path, [(6, 0x20), (8, 0x20)], 0x20),
                                "compressed patched data"),
    "escapes in member names": (members(**{"\x1b[31mjet__npy": npy(np.zeros((3, 2))),
                                           "\x9b2Jx__npy": npy(np.zeros((3, 2)))}),
                                "no array for input node"),
}


def npz_cases(folder: Path) -> dict[str, tuple[str, str]]:
    """Every hostile archive made in ``folder``: case -> (file name, message)."""
    made = {}
    for k, (case, (make, message)) in enumerate(NPZ_CASES.items()):
        make(folder / f"ev{k}.npz")
        made[case] = (f"ev{k}.npz", message)
    return made


def test_hostile_npz_in_run(folder):
    refused_cases(folder, {case: (["run", "net.json", "--inputs", name, "-o", "out.csv"], message)
                           for case, (name, message) in npz_cases(folder).items()})


def test_hostile_npz_in_check_and_tmva(folder):
    (folder / "m.onnx").write_bytes((FIXTURES / "mlp_opset13.onnx").read_bytes())
    assert main([str(folder / "m.onnx"), "-o", str(folder / "m.json"), "-q"]) == 0
    (folder / "t.xml").write_bytes((FIXTURES / "tmva_norm_decorr.weights.xml").read_bytes())
    cases = {}
    for case, (name, message) in npz_cases(folder).items():
        if case != "escapes in member names":
            cases[f"check: {case}"] = (["check", "m.onnx", "m.json", "--inputs", name], message)
            cases[f"tmva: {case}"] = (["tmva", "t.xml", "--inputs", name], message)
    refused_cases(folder, cases)


def test_npz_output_names_stay_in_their_folder(folder):
    network = json.loads(json.dumps(NET))
    network["outputs"] = {"../../x": network["outputs"]["out"]}
    (folder / "escape.json").write_text(json.dumps(network))
    np.savez(folder / "ev.npz", jet=np.ones((3, 2)))
    refused(folder, ["run", "escape.json", "--inputs", "ev.npz", "-o", "out.npz"],
            message="output '../../x' cannot name an .npz member: it climbs out of the folder")


# -- ROOT files, read by run through uproot ----------------------------------------------
def root_cases(folder: Path) -> dict[str, tuple[str, str]]:
    """Damaged copies of a 2,000-entry TTree 't': case -> (file, message). uproot's errors
    on them were internal errors (zlib.error, ValueError, its DeserializationError), or an
    OSError blamed on the output ('cannot write the output'), on several lines."""
    uproot = pytest.importorskip("uproot")
    rng = np.random.default_rng(0)
    with uproot.recreate(folder / "ev.root") as file:
        file.mktree("t", {"pt": np.float64, "eta": np.float64})
        file["t"].extend({"pt": rng.normal(size=2000), "eta": rng.normal(size=2000)})
    data = (folder / "ev.root").read_bytes()
    block = data.index(b"ZL\x08")  # a compressed basket: "ZL", method, 3 + 3 size bytes
    damaged = {
        "cut short": data[:len(data) * 2 // 3],
        "corrupt deflate data": data[:block + 49] + bytes(16) + data[block + 65:],
        "a block claiming 16 MB": data[:block + 3] + b"\xf0\xff\xff" + data[block + 6:],
        "a block of another size": data[:block + 6] + b"\xf0\xff\xff" + data[block + 9:],
    }
    (folder / "ev.root").unlink()
    made = {}
    for k, (case, content) in enumerate(damaged.items()):
        (folder / f"ev{k}.root").write_bytes(content)
        made[case] = (f"ev{k}.root", f"ev{k}.root: not a readable ROOT file (")
    return made


def test_damaged_root_files(folder):
    refused_cases(folder, {case: (["run", "net.json", "--inputs", f"{name}:t", "-o", "out.csv"],
                                  message)
                           for case, (name, message) in root_cases(folder).items()})


# -- JSON lines -------------------------------------------------------------------------
def test_ragged_json_lines_are_never_padded_to_the_longest(folder):
    """650 KB: one event of 300,000 steps among 2,000 of one step. Padded to the longest
    that was 600 billion steps' worth of chunk; it runs, in memory of its content."""
    lines = [json.dumps({"trk": {"d0": [0] * 300_000}}, separators=(",", ":"))]
    lines += [json.dumps({"trk": {"d0": [1]}})] * 2000
    (folder / "ev.jsonl").write_text("\n".join(lines) + "\n")
    assert (folder / "ev.jsonl").stat().st_size < 700_000
    run = accepted(folder, ["run", "tracks.json", "--inputs", "ev.jsonl"])
    assert len(run.out.splitlines()) == 2002


JSON_LINES = [
    ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep; the limit is 500"),
    ('{"jet": {"pt": 1' + "0" * 5000 + ', "eta": 1}}', "(5,001 characters) is beyond double"),
    ('{"jet": {"pt": 1' + "0" * 4000 + ', "eta": 1}}', "is an integer beyond double"),
    ('{"jet": {"pt": 1, "pt": 2, "eta": 1}}', "duplicate key 'pt'"),
    ('{"jet": {"pt": 1, "eta": "\\u001b[2J"}}', "variable 'eta' is"),
]


def test_hostile_json_lines(folder):
    cases = {}
    for k, (line, message) in enumerate(JSON_LINES):
        (folder / f"ev{k}.jsonl").write_text(line + "\n")
        cases[f"{k}: {line[:40]}"] = (["run", "net.json", "--inputs", f"ev{k}.jsonl"],
                                      message)
    refused_cases(folder, cases)


def test_json_lines_end_at_newlines_only(folder):
    """U+2028, U+2029 and U+0085 inside a string are part of the string."""
    event = {"jet": {"pt": 1.0, "eta": 2.0}, "note": "a\u2028b\u2029c\u0085d"}
    (folder / "ev.jsonl").write_text(json.dumps(event, ensure_ascii=False) + "\n")
    run = accepted(folder, ["run", "net.json", "--inputs", "ev.jsonl"])
    assert len(run.out.splitlines()) == 2


# -- CSV --------------------------------------------------------------------------------
def test_a_14_mb_csv_takes_memory_of_a_chunk(folder):
    """It took 651 MB read whole. A chunk is about 16 MB of text, here the whole file:
    its 750,000 parsed rows take about 250 MB (290 MB peak in a fresh process, and some
    20 MB more forked from the server, which has loaded onnx)."""
    rows = np.random.default_rng(0).normal(size=(750_000, 2))
    text = "pt,eta\n" + "\n".join(f"{a:.6f},{b:.6f}" for a, b in rows) + "\n"
    (folder / "ev.csv").write_text(text)
    assert len(text) > 14_000_000
    run = accepted(folder, ["run", "net.json", "--inputs", "ev.csv", "-o", "out.npz"])
    assert run.megabytes < 400, f"{run.megabytes:.0f} MB"
    with np.load(folder / "out.npz") as written:
        assert written["out"].shape == (750_000, 1)


CSV = [
    (",".join(f"c{i}" for i in range(40_000)) + "\n1\n", "unknown: 'c0', 'c1'"),
    ("pt,eta\n1," + "x" * 200_000 + "\n", "field larger than field limit"),
    ("pt,eta\n1," + "9" * 400 + "\n", "non-finite input values"),
    ('pt,eta\n1,"' + "x" * 200_000 + '"\n', "field larger than field limit"),
    ("pt,eta\n1_000,2\n", "'1_000' is not a number"),
    ("pt,eta\n\u0661,2\n", "is not a number"),
    ("pt,eta\n1,\x1b[31m\n", "is not a number"),
    ("pt,\x1b]0;x\x07eta\n1,2\n", "unknown"),
]


def test_hostile_csv(folder):
    cases = {}
    for k, (content, message) in enumerate(CSV):
        (folder / f"ev{k}.csv").write_text(content)
        cases[f"{k}: {content[:40]}"] = (["run", "net.json", "--inputs", f"ev{k}.csv"],
                                         message)
    refused_cases(folder, cases)


def test_hostile_csv_in_check_and_tmva(folder):
    (folder / "m.onnx").write_bytes((FIXTURES / "mlp_opset13.onnx").read_bytes())
    assert main([str(folder / "m.onnx"), "-o", str(folder / "m.json"), "-q"]) == 0
    (folder / "t.xml").write_bytes((FIXTURES / "tmva_norm_decorr.weights.xml").read_bytes())
    names = {"check": [v["name"] for v in json.loads((folder / "m.json").read_text())
                       ["inputs"][0]["variables"]],
             "tmva": _tmva_variables(folder / "t.xml")}
    commands = {"check": ["check", "m.onnx", "m.json", "--inputs"],
                "tmva": ["tmva", "t.xml", "--inputs"]}
    cases = {}
    for tool, variables in names.items():
        header = ",".join(variables)
        ones = ",".join("1" for _ in variables[1:])
        for k, (cell, message) in enumerate([("1_000", "'1_000' is not a number"),
                                             ("\u0661", "is not a number"),
                                             ("x" * 200_000, "field larger than field limit")]):
            path = folder / f"{tool}{k}.csv"
            path.write_text(f"{header}\n{cell},{ones}\n")
            cases[f"{tool}: {cell[:10]}"] = ([*commands[tool], path.name], message)
        path = folder / f"{tool}_wide.csv"
        path.write_text(",".join(f"c{i}" for i in range(40_000)) + "\n1\n")
        cases[f"{tool}: 40,000 columns"] = ([*commands[tool], path.name], f"{path.name}: ")
    refused_cases(folder, cases)


def _tmva_variables(path: Path) -> list[str]:
    return re.findall(r'<Variable [^>]*Expression="([^"]+)"', path.read_text())


# -- lwtnn documents --------------------------------------------------------------------
def graph(nodes: list, outputs: dict = None) -> dict:
    return {**NET, "nodes": nodes, "outputs": outputs or {"out": {"node_index": 1,
                                                                  "labels": ["p"]}}}


CYCLE = graph([{"type": "input", "sources": [0], "size": 2},
               {"type": "feed_forward", "sources": [2], "layer_index": 0},
               {"type": "feed_forward", "sources": [1], "layer_index": 0}])
SELF_LOOP = graph([{"type": "input", "sources": [0], "size": 2},
                   {"type": "feed_forward", "sources": [1], "layer_index": 0}])
NEGATIVE = graph([{"type": "input", "sources": [0], "size": 2},
                  {"type": "feed_forward", "sources": [-1], "layer_index": 0}])
CHAIN = graph([{"type": "input", "sources": [0], "size": 2},
               {"type": "add", "sources": [2]}, {"type": "add", "sources": [1]},
               *({"type": "add", "sources": [k - 1]} for k in range(3, 20_003))],
              {"out": {"node_index": 20_002, "labels": ["a", "b"]}})
HUGE_WEIGHT = '"weights": [1' + "0" * 400 + ', -1.0]'
DOCUMENTS = {
    "a cycle": (json.dumps(CYCLE), "is part of a cycle"),
    "a self-loop": (json.dumps(SELF_LOOP), "is part of a cycle"),
    "sources [-1]": (json.dumps(NEGATIVE), "sources[0]: -1 is less than the minimum of 0"),
    "20,000 nodes under a 2-node cycle": (json.dumps(CHAIN), "is part of a cycle"),
    "10**400 in a weight": (json.dumps(NET).replace('"weights": [1.0, -1.0]', HUGE_WEIGHT),
                            "an integer beyond double precision's range"),
    "10**5000 in a weight": (json.dumps(NET).replace('"weights": [1.0, -1.0]',
                                                     HUGE_WEIGHT.replace("0" * 400, "0" * 5000)),
                             "(key 'weights'): the integer 1000"),
    "a lone surrogate in a label": (json.dumps(NET).replace('"labels": ["p"]',
                                                            '"labels": ["\\ud800"]'),
                                    "lone UTF-16 surrogate"),
    "an escape in a label": (json.dumps(NET).replace('"labels": ["p"]',
                                                     '"labels": ["\\u001b[2J", "\\u001b[2J"]'),
                             "is also $.outputs.out.labels[0]"),
    "a list": ("[1, 2]", ".json: "),
    "inputs of the wrong type": ('{"inputs": 5, "layers": "x", "outputs": {}}',
                                 "not a network lwtnn reads"),
    "an unknown node type": (json.dumps(graph([{"type": "input", "sources": [0], "size": 2},
                                               {"type": "magic", "sources": [0]}])),
                             "not a network lwtnn reads"),
    "a layer index out of range": (json.dumps(graph([
        {"type": "input", "sources": [0], "size": 2},
        {"type": "feed_forward", "sources": [0], "layer_index": 7}])), "layer 7 does not exist"),
    "conv1d dilated 10**9": (json.dumps({
        "inputs": [], "input_sequences": TRACKS["input_sequences"],
        "nodes": [{"type": "input_sequence", "sources": [0], "size": 1},
                  {"type": "sequence", "sources": [0], "layer_index": 0}],
        "layers": [{"architecture": "conv1d", "weights": [1.0, 1.0], "bias": [0.0],
                    "activation": "linear", "dilation_rate": 10**9, "padding": "same"}],
        "outputs": {"o": {"node_index": 1, "labels": ["y"]}}}),
        "spans 1,000,000,001 time steps"),
}


def test_hostile_lwtnn_documents(folder):
    """Each document refused by inspect, run and export alike (validated before any
    command walks it)."""
    (folder / "ev.csv").write_text("pt,eta\n1,2\n")
    cases = {}
    for k, (case, (content, message)) in enumerate(DOCUMENTS.items()):
        (folder / f"bad{k}.json").write_text(content)
        cases[f"inspect: {case}"] = (["inspect", f"bad{k}.json"], message)
        cases[f"run: {case}"] = (["run", f"bad{k}.json", "--inputs", "ev.csv"], message)
        cases[f"export: {case}"] = (["export", f"bad{k}.json", "-o", "bad.onnx"], message)
    refused_cases(folder, cases)


def test_a_network_over_its_limit_is_refused_without_being_read(folder):
    """A sparse network one byte over the 1024 MB limit: every command that reads only
    networks names the limit within the bounds (inspect reads it as the ONNX model it
    could be). Asking whether it was an ONNX model read the whole
    gigabyte and decoded it (2 GB resident, 8 s)."""
    with open(folder / "big.json", "wb") as stream:
        stream.truncate((1024 << 20) + 1)
    (folder / "m.onnx").write_bytes((FIXTURES / "mlp_opset13.onnx").read_bytes())
    (folder / "ev.csv").write_text("pt,eta\n1,2\n")
    refused_cases(folder, {command[0]: (command, "big.json: the lwtnn network is over the "
                                                 "1024 MB limit")
                           for command in (["run", "big.json", "--inputs", "ev.csv"],
                                           ["export", "big.json", "-o", "big.onnx"],
                                           ["check", "m.onnx", "big.json"])})


def test_exporting_a_long_conv1d_kernel_is_linear(folder):
    """A 30 KB conv1d of kernel 3,000 (199 s when new names were found by rescanning)."""
    network = json.loads(DOCUMENTS["conv1d dilated 10**9"][0])
    network["layers"][0].update(weights=[0.001] * 3000, dilation_rate=1, padding="causal")
    (folder / "conv.json").write_text(json.dumps(network))
    assert (folder / "conv.json").stat().st_size < 32_000
    accepted(folder, ["export", "conv.json", "-o", "conv.onnx", "-q"])


MUTANTS = [None, True, -1, 0, 2**40, 1.5, "x", "", [], {}, [None], {"a": 1}, "\ud800"]


def test_mutated_documents_never_break_a_command(tmp_path, capsys):
    """Random values swapped into real documents: every command answers 0, 1 or 2, never
    an internal error, and prints no escape."""
    base = json.loads((FIXTURES / "lstm_last_step.json").read_text()) if (
        FIXTURES / "lstm_last_step.json").exists() else TRACKS
    rng = random.Random(0)
    paths = []

    def walk(value, path):
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + [key])
        elif isinstance(value, list):
            for i, item in enumerate(value[:3]):
                walk(item, path + [i])
    for document in (NET, TRACKS, base):
        paths.clear()
        walk(document, [])
        for _ in range(60):
            mutant = json.loads(json.dumps(document))
            path = rng.choice(paths[1:])
            target = mutant
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = rng.choice(MUTANTS)
            net = tmp_path / "m.json"
            net.write_text(json.dumps(mutant))
            for args in (["inspect", net], ["run", net, "--inputs", tmp_path / "e.jsonl"]):
                (tmp_path / "e.jsonl").write_text('{"jet": {"pt": 1, "eta": 2}, '
                                                  '"trk": {"d0": [1, 2]}}\n')
                assert main([str(a) for a in args]) in (0, 1, 2)
                captured = capsys.readouterr()
                assert "internal error" not in captured.err, (path, captured.err)
                assert "\x1b" not in captured.out + captured.err
