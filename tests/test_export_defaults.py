"""``export`` computes what lwtnn computes on missing values, and ``--for rivet`` makes
what Rivet's ONNX interface reads (issue 21): the exported model and ``run`` agree
event by event, missing values included."""
from __future__ import annotations

import json

import numpy as np
import pytest

from onnx2lwtnn.cli import main
from onnx2lwtnn.exporter import export
from onnx2lwtnn.runner import run

from .support import require_shared

ort = pytest.importorskip("onnxruntime")
AGREEMENT = 1e-12

# A small b-tagger in lwtnn's sequential form, as keras2json writes it: defaults in the
# top-level map, one variable without one.
BTAGGER = {
    "inputs": [{"name": "jetPt", "offset": -64.77, "scale": 0.0497},
               {"name": "jetAbsEta", "offset": -1.19, "scale": 1.45},
               {"name": "trackSip2dSig", "offset": -3.9, "scale": 0.51},
               {"name": "vertexMass", "offset": -0.47, "scale": 4.9}],
    "defaults": {"trackSip2dSig": -999.0, "vertexMass": 0.0, "jetAbsEta": 0.0},
    "layers": [{"architecture": "dense", "activation": "rectified",
                "weights": [0.3, -0.2, 0.5, 0.1, 0.7, -0.4, -0.6, 0.2, 0.9, 0.05, -0.3, 0.25],
                "bias": [0.1, -0.1, 0.2]},
               {"architecture": "dense", "activation": "softmax",
                "weights": [1.0, -1.0, 0.5, 0.2, -0.3, 0.8], "bias": [0.0, 0.1]}],
    "outputs": ["probb", "probudsg"],
}


def with_missing(x: np.ndarray, seed: int = 0, fraction: float = 0.3) -> np.ndarray:
    x = x.copy()
    x[np.random.default_rng(seed).random(x.shape) < fraction] = np.nan
    return x


def run_outputs(document: dict, x: np.ndarray, tmp_path, replace: str = "nan") -> np.ndarray:
    np.savez(tmp_path / "events.npz", raw_inputs=x)
    (outputs,) = run(document, tmp_path / "events.npz", replace=replace).outputs.values()
    return outputs


def onnx_outputs(model, x: np.ndarray, name: str = "inputs") -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {name: x})[0]


def assert_agrees(ours: np.ndarray, reference: np.ndarray, tolerance: float = AGREEMENT):
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))) <= tolerance


def btagger_events(n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = np.stack([rng.exponential(60, n), rng.uniform(0, 2.4, n), rng.normal(2, 3, n),
                  rng.gamma(2, 1, n)], axis=1)
    x = with_missing(x)
    x[:, 0] = np.nan_to_num(x[:, 0], nan=50.0)  # jetPt has no default: never missing
    return x


def test_the_exported_btagger_and_run_agree_on_missing_values(tmp_path):
    x = btagger_events()
    ours = run_outputs(BTAGGER, x, tmp_path)
    assert np.isfinite(ours).all()
    assert_agrees(onnx_outputs(export(BTAGGER), x), ours)


def test_replace_all_replaces_infinities_in_the_graph_too(tmp_path):
    x = btagger_events()
    x[::7, 2] = np.inf
    x[::11, 3] = -np.inf
    ours = run_outputs(BTAGGER, x, tmp_path, replace="all")
    assert_agrees(onnx_outputs(export(BTAGGER, replace="all"), x), ours)
    with_nan_only = onnx_outputs(export(BTAGGER), x)  # as lwtnn's default NanReplacer
    assert np.isnan(with_nan_only[::7]).all()


def test_graph_documents_take_their_variables_defaults(tmp_path):
    graph = {"inputs": [{"name": "jet", "variables": [
                 {"name": v["name"], "offset": v["offset"], "scale": v["scale"],
                  **({"default": BTAGGER["defaults"][v["name"]]}
                     if v["name"] in BTAGGER["defaults"] else {})}
                 for v in BTAGGER["inputs"]]}],
             "input_sequences": [],
             "nodes": [{"type": "input", "sources": [0], "size": 4},
                       {"type": "feed_forward", "sources": [0], "layer_index": 0},
                       {"type": "feed_forward", "sources": [1], "layer_index": 1}],
             "layers": BTAGGER["layers"],
             "outputs": {"tag": {"node_index": 2, "labels": BTAGGER["outputs"]}}}
    x = btagger_events()
    ours = run_outputs(graph, x, tmp_path)
    assert_agrees(onnx_outputs(export(graph), x, "jet"), ours)
    assert_agrees(ours, run_outputs(BTAGGER, x, tmp_path), 0.0)


def test_the_real_cms_btagger_with_missing_values(tmp_path):
    folder = require_shared("real-models", "lwtnn-json")
    document = json.loads((folder / "cms_DeepFlavourNoSL.json").read_text())
    x = np.loadtxt(folder / "cms_DeepFlavourNoSL.events.csv", delimiter=",", skiprows=1)
    x = with_missing(x, fraction=0.2)
    ours = run_outputs(document, x, tmp_path)
    assert_agrees(onnx_outputs(export(document), x), ours)
    assert_agrees(onnx_outputs(export(document, target="rivet"), x.astype(np.float32)), ours,
                  1e-6)


# -- --for rivet ----------------------------------------------------------------------
def rivet_list(text: str, kind: type = float) -> list:
    """What RivetONNXrt::retrieve<std::vector<T>> makes of a value: split at commas,
    empty items dropped, each item lexical_cast (which reads 'nan')."""
    return [kind(item) for item in text.split(",") if item]


def test_rivet_models_take_and_give_float32_with_comma_separated_metadata(tmp_path):
    x = btagger_events()
    path = tmp_path / "net.json"
    path.write_text(json.dumps(BTAGGER))
    assert main(["export", str(path), "-o", str(tmp_path / "net.onnx"), "--for", "rivet",
                 "-q"]) == 0
    session = ort.InferenceSession(str(tmp_path / "net.onnx"),
                                   providers=["CPUExecutionProvider"])
    (given,), (made,) = session.get_inputs(), session.get_outputs()
    assert (given.type, given.shape[1], made.type) == ("tensor(float)", 4, "tensor(float)")
    (outputs,) = session.run(None, {given.name: x.astype(np.float32)})
    assert outputs.dtype == np.float32
    assert_agrees(outputs.astype(np.float64), run_outputs(BTAGGER, x.astype(np.float32)
                                                          .astype(np.float64), tmp_path), 1e-6)
    meta = session.get_modelmeta().custom_metadata_map
    names = [v["name"] for v in BTAGGER["inputs"]]
    assert rivet_list(meta["variables"], str) == names == rivet_list(
        meta["inputs.variables"], str)
    assert rivet_list(meta["offsets"]) == [v["offset"] for v in BTAGGER["inputs"]]
    assert rivet_list(meta["scales"]) == [v["scale"] for v in BTAGGER["inputs"]]
    defaults = rivet_list(meta["defaults"])
    assert np.isnan(defaults[0]) and defaults[1:] == [0.0, -999.0, 0.0]
    assert rivet_list(meta["labels"], str) == BTAGGER["outputs"]
    assert rivet_list(meta["input_names"], str) == ["inputs"]
    assert json.loads(meta["lwtnn.outputs"]) == {"outputs": BTAGGER["outputs"]}


def test_rivet_refuses_what_it_cannot_feed_or_list(tmp_path, capsys):
    sequences = {"inputs": [], "input_sequences": [{"name": "trk", "variables": [
                     {"name": "d0", "offset": 0, "scale": 1}]}],
                 "nodes": [{"type": "input_sequence", "sources": [0], "size": 1},
                           {"type": "sum", "sources": [0]}],
                 "layers": [], "outputs": {"n": {"node_index": 1, "labels": ["s"]}}}
    comma = json.loads(json.dumps(BTAGGER))
    comma["outputs"][0] = "prob,b"
    for document, message in ((sequences, "feeds fixed-shape inputs only"),
                              (comma, "output label 'prob,b' cannot be listed")):
        path = tmp_path / "net.json"
        path.write_text(json.dumps(document))
        assert main(["export", str(path), "-o", str(tmp_path / "x.onnx"), "--for",
                     "rivet"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not (tmp_path / "x.onnx").exists()
