"""lwtnn documents read as lwtnn reads them (issue 21): the four real files of
../shared/real-models/lwtnn-json agree with what lwtnn's C++ computed for them; the
leniencies real files rely on (numbers as strings, a stray key taking a sequential file
for a graph) load, run, export and inspect; and with correctionlib present, our reader
accepts exactly the documents lwtnn's own parser accepts."""
from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

from onnx2lwtnn import lwtnn_cpp
from onnx2lwtnn.cli import main
from onnx2lwtnn.exporter import export
from onnx2lwtnn.lwtnn import LwtnnFormatError, LwtnnFormatWarning, read_document
from onnx2lwtnn.runner import run

from .support import require_shared

REAL = ["cms_DeepFlavourNoSL", "tthml_neural_net_example", "atlas_rivet_ATLAS_2018_I1685207.nn",
        "rivet_EXAMPLE_LWTNN"]
AGREEMENT = 1e-12  # |ours - C++| / max(1, |C++|)


def real(name: str) -> tuple[dict, np.ndarray, list[str], np.ndarray]:
    """The document, its events (raw, one column per variable), the labels and what
    lwtnn 2.14.1's C++ computed for them."""
    folder = require_shared("real-models", "lwtnn-json")
    document = json.loads((folder / f"{name}.json").read_text())
    events = _csv(folder / f"{name}.events.csv")
    expected = _csv(folder / f"{name}.lwtnn_cpp.csv")
    assert events[0] == [v["name"] for v in document["inputs"]]
    return document, events[1], expected[0], expected[1]


def _csv(path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as stream:
        rows = list(csv.reader(stream))
    return rows[0], np.array(rows[1:], dtype=np.float64)


def assert_agrees(ours: np.ndarray, cpp: np.ndarray) -> None:
    scale = np.maximum(1.0, np.abs(cpp))
    assert np.max(np.abs(ours - cpp) / scale) <= AGREEMENT


def run_on(document: dict, events: np.ndarray, tmp_path) -> np.ndarray:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(document))
    return run(path, _events_file(document, events, tmp_path)).outputs["outputs"]


def _events_file(document: dict, events: np.ndarray, tmp_path):
    path = tmp_path / "events.npz"
    np.savez(path, raw_inputs=events)
    return path


# -- the leniencies of real files ---------------------------------------------------------
def numbers_as_strings(document: dict) -> dict:
    """Offsets and scales as JSON strings, as two of the CMS files store them."""
    changed = json.loads(json.dumps(document))
    for variable in changed["inputs"]:
        variable["offset"], variable["scale"] = (repr(float(variable["offset"])),
                                                 f" {float(variable['scale'])!r}")
    return changed


def stray_nodes(document: dict) -> dict:
    """A sequential file carrying a graph's ``nodes`` key, which lwtnn's parse_json
    never reads."""
    return {**document, "nodes": [{"type": "input", "sources": [0], "size": 3}]}


LENIENT = [("cms_DeepFlavourNoSL", numbers_as_strings),
           ("tthml_neural_net_example", numbers_as_strings),
           ("atlas_rivet_ATLAS_2018_I1685207.nn", stray_nodes)]


@pytest.mark.parametrize("name", REAL)
def test_real_lwtnn_files_agree_with_lwtnn_cpp(name, tmp_path):
    document, events, labels, cpp = real(name)
    assert document["outputs"] == labels
    assert_agrees(run_on(document, events, tmp_path), cpp)


@pytest.mark.parametrize("name, lenient", LENIENT, ids=[n for n, _ in LENIENT])
def test_lenient_documents_run_and_export_as_lwtnn_computes(name, lenient, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    document, events, _, cpp = real(name)
    changed = lenient(document)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LwtnnFormatWarning)
        assert_agrees(run_on(changed, events, tmp_path), cpp)
        model = export(changed)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (exported,) = session.run(None, {"inputs": events})
    assert_agrees(exported, cpp)


@pytest.mark.parametrize("name, lenient", LENIENT, ids=[n for n, _ in LENIENT])
def test_lenient_documents_on_the_command_line(name, lenient, tmp_path, capsys):
    document, _, _, _ = real(name)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(lenient(document)))
    assert main(["inspect", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "lwtnn sequential network" in out
    assert main(["export", str(path), "-o", str(tmp_path / "net.onnx"), "-q"]) == 0
    if lenient is stray_nodes:  # one warning naming the key, nothing else
        assert err == (f"onnx2lwtnn: warning: {path}: lwtnn ignores $.nodes; so does "
                       "onnx2lwtnn\n")
    else:
        assert err == ""
    # check: the document against its own export, and lwtnn's C++ where it runs here
    assert main(["check", str(tmp_path / "net.onnx"), str(path), "--events", "200"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 200 events" in out
    if lwtnn_cpp.version() is not None:
        assert "lwtnn C++ (correctionlib" in out and "): PASS: within" in out


def test_graph_or_sequential_is_decided_by_outputs():
    with pytest.warns(LwtnnFormatWarning, match=r"\$\.nodes"):
        sequential = read_document({"inputs": [{"name": "x", "offset": "0", "scale": "1"}],
                                    "layers": [], "outputs": ["x"], "nodes": []})
    assert sequential == {"inputs": [{"name": "x", "offset": 0.0, "scale": 1.0}],
                          "layers": [], "outputs": ["x"]}
    with pytest.raises(LwtnnFormatError, match="'nodes' is a required property"):
        read_document({"inputs": [], "input_sequences": [], "layers": [],
                       "outputs": {"out": {"labels": [], "node_index": 0}}})


def test_names_and_integers_as_lwtnn_reads_them():
    graph = {"inputs": [{"name": "in", "variables": [
                 {"name": 7, "offset": "-1.5e1", "scale": "+.5", "default": "2"}]}],
             "input_sequences": [],
             "nodes": [{"type": "input", "sources": [" 0 "], "size": "1"}],
             "layers": [],
             "outputs": {"out": {"labels": [True], "node_index": "0"}}}
    read = read_document(graph)
    assert read["inputs"][0]["variables"][0] == {"name": "7", "offset": -15.0, "scale": 0.5,
                                                 "default": 2.0}
    assert read["nodes"][0] == {"type": "input", "sources": [0], "size": 1}
    assert read["outputs"]["out"] == {"labels": ["true"], "node_index": 0}


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "0x10", "\u0661", "1e", ".", "",
                                  "1,5", "\u00a01", "1e400"])
def test_number_texts_lwtnn_cannot_read_are_refused(text):
    document = {"inputs": [{"name": "x", "offset": text, "scale": 1}], "layers": [],
                "outputs": ["x"]}
    with pytest.raises(LwtnnFormatError, match=r"\$\.inputs\[0\]\.offset: .*(can read|range)"):
        read_document(document)


# -- agreement with lwtnn's own parser (its C++, through correctionlib) ------------------
def cpp_outputs(document: dict, events: np.ndarray) -> np.ndarray:
    """What lwtnn's C++ (parse_json and LightweightNeuralNetwork, in correctionlib's
    lwtnn node) computes for a sequential document."""
    if lwtnn_cpp.version() is None:
        pytest.skip("correctionlib 2.9 or later (lwtnn's C++) is not installed")
    return lwtnn_cpp.evaluate(document, events)


def cpp_accepts(document: dict) -> bool:
    """Whether lwtnn's C++ reads the document and evaluates an event with it."""
    try:
        cpp_outputs(document, np.ones((1, len(document["inputs"]))))
    except lwtnn_cpp.CppRunError:
        return False
    return True


@pytest.mark.parametrize("name, lenient", LENIENT, ids=[n for n, _ in LENIENT])
def test_lwtnn_cpp_reads_the_lenient_documents_as_we_do(name, lenient):
    document, events, _, cpp = real(name)
    assert_agrees(cpp_outputs(lenient(document), events), cpp)


def ours_accepts(document: dict) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LwtnnFormatWarning)
            read_document(json.loads(json.dumps(document)))
    except LwtnnFormatError:
        return False
    return True


def _set(path: tuple, value):
    def change(document: dict) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


MUTATIONS = {
    **{f"offset {text!r}": _set(("inputs", 0, "offset"), text)
       for text in [" 1.5 ", "1.5\t", "+.5", "1.", "1e5", "1E+5", "1e-400", ".", "1e", "1_0",
                    "nan", "inf", "-inf", "0x10", "1e400", "\u0661", "\u00a01", "", "1,5",
                    "--1", "1.5.2"]},
    "weight '0.25'": _set(("layers", 0, "weights", 0), "0.25"),
    "weight 10**400": _set(("layers", 0, "weights", 0), 10**400),
    "weight true": _set(("layers", 0, "weights", 0), True),
    "bias null": _set(("layers", 0, "bias", 0), None),
    "stray key": _set(("nodes",), []),
    "unknown architecture": _set(("layers", 0, "architecture"), "dense2"),
    "weights missing a row": lambda d: d["layers"][0]["weights"].pop(),
    "unknown activation": _set(("layers", 0, "activation"), "gelu"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_our_reader_accepts_what_lwtnns_parser_accepts(mutation):
    document, _, _, _ = real("rivet_EXAMPLE_LWTNN")
    changed = json.loads(json.dumps(document))
    MUTATIONS[mutation](changed)
    assert ours_accepts(changed) == cpp_accepts(changed)
