"""ONNX -> lwtnn -> ONNX: every converting fixture, exported back, computes what the
original ONNX model computes, within the check's bound (the strongest self-test the
converter has: two independent translations must agree)."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.check import FLOAT32_TOLERANCE, draw_events
from onnx2lwtnn.exporter import export
from onnx2lwtnn.interface import Interface
from onnx2lwtnn.load import load_model
from onnx2lwtnn.lwtnn import EvaluationError, load_network
from onnx2lwtnn.reference import OnnxModel
from onnx2lwtnn.specs import read_spec

from .support import FIXTURES, manifest
from .test_export import onnx_outputs

# Conversions that fold in computation from outside the ONNX file (TMVA's input
# transformations, from --tmva-weights) have no ONNX original to compare with; the
# TMVA tests check those against TMVA's own numbers.
OUTSIDE_ONNX = {"tmva_weights"}
ENTRIES = [e for e in manifest()
           if e["expect"] == "convert" and not OUTSIDE_ONNX & set(e["convert_args"])]
EVENTS = 24
LENGTHS = (1, 4, 11)  # a few sequence lengths: each one is a separate ONNX run


def _convert_args(entry: dict) -> dict:
    """The fixture's conversion options, files named in them found beside it."""
    return {key: FIXTURES / value if isinstance(value, str) and (FIXTURES / value).is_file()
            else value for key, value in entry["convert_args"].items()}


def _events(doc: dict, entry: dict):
    """Vectors, and sequences of a few lengths (the fixture's own, if it has one)."""
    shortest = [int(t.split(":")[1]) for t in entry["covers"] if t.startswith("min-length:")]
    if not doc.get("input_sequences"):
        return draw_events(doc, EVENTS, 0)
    lengths = ([entry["fixed_length"]] if entry["fixed_length"]
               else sorted({max([n, *shortest]) for n in LENGTHS}))
    parts = [draw_events(doc, EVENTS, seed, length) for seed, length in enumerate(lengths)]
    first = parts[0]
    first.vectors = {k: np.concatenate([p.vectors[k] for p in parts]) for k in first.vectors}
    first.sequences = {k: [s for p in parts for s in p.sequences[k]] for k in first.sequences}
    return first


def _interface(doc: dict, args: dict) -> Interface:
    if "variables" not in args:
        return Interface()
    sequences = doc.get("input_sequences", [])
    widths = {n["name"]: len(n["variables"]) for n in doc["inputs"] + sequences}
    return read_spec(args["variables"], args.get("variables_convention"), widths,
                     frozenset(n["name"] for n in sequences))


def _preprocessed(values, preprocessing):
    if preprocessing is None:
        return values
    offsets, scales = preprocessing
    return (values + offsets) * scales


@pytest.mark.filterwarnings("ignore::onnx2lwtnn.errors.ConversionWarning")
@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_onnx_to_lwtnn_to_onnx(entry):
    args = _convert_args(entry)
    doc = convert(FIXTURES / entry["file"], **args)
    events = _events(doc, entry)
    try:
        load_network(doc).evaluate(events.vectors, events.sequences)
        refused: list[int] = []
    except EvaluationError as refusal:
        refused = refusal.events
    exported = onnx_outputs(export(doc), load_network(doc), events.vectors, events.sequences)
    for values in exported.values():  # lwtnn's refusals are NaN in the exported model
        assert np.flatnonzero(np.isnan(values).any(axis=1)).tolist() == refused
    kept = np.setdiff1d(np.arange(len(events)), refused)
    assert len(kept) >= EVENTS
    events = events.select(kept)
    interface = _interface(doc, args)
    reference = OnnxModel(load_model(FIXTURES / entry["file"])).evaluate(
        {k: _preprocessed(v, interface.preprocessing(k)) for k, v in events.vectors.items()},
        {k: [_preprocessed(s, interface.preprocessing(k)) for s in v]
         for k, v in events.sequences.items()})
    for name in doc["outputs"]:
        expected = np.asarray(reference[name], dtype=np.float64).reshape(len(kept), -1)
        ours = exported[name][kept]
        bound = FLOAT32_TOLERANCE * np.maximum(1.0, np.abs(expected))
        assert (np.abs(ours - expected) <= bound).all(), \
            f"{name}: max |diff| {np.abs(ours - expected).max():.3g}"
