"""Every fixture (fixtures/manifest.json): converts and matches the ONNX model on 1000
random events, or is refused naming every offending node."""
from __future__ import annotations

import warnings

import numpy
import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning
from onnx2lwtnn.lwtnn import load_network

from .support import (FIXTURES, assert_close, fixture_entries, onnx_reference,
                      random_events)

FEED_FORWARD_ISSUES = {2, 3}
# Fixtures with a variable spec need the spec's preprocessing in the reference: they are
# compared in test_published.py.
CONVERTIBLE = [e for e in fixture_entries("convert", FEED_FORWARD_ISSUES)
               if not e["convert_args"]]
REFUSED = fixture_entries("refuse", FEED_FORWARD_ISSUES)


def _ids(entries):
    return [e["name"] for e in entries]


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=_ids(CONVERTIBLE))
def test_fixture_matches_onnx_on_1000_events(entry):
    path = FIXTURES / entry["file"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        network = load_network(convert(path))
    model = onnx.load(str(path))
    events = random_events(model, 1000, seed=7)
    assert_close(network.evaluate(events), onnx_reference(model, events))


@pytest.mark.parametrize("entry", REFUSED, ids=_ids(REFUSED))
def test_fixture_is_refused_naming_every_offending_node(entry, tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(FIXTURES / entry["file"]), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    assert entry["refuse_reason"] in message
    for node in entry["refuse_nodes"]:
        assert f"'{node}'" in message


def test_every_weight_parses_back_to_exactly_its_float32_value():
    """The interface contract: a weight copied from the file is written so that lwtnn's
    double parse of the JSON text gives exactly the float32 value in the ONNX file."""
    import json

    from onnx import numpy_helper

    from onnx2lwtnn import to_json
    path = FIXTURES / "gemm_transb1.onnx"  # transB=1, alpha=beta=1: weights copied as-is
    initializers = {i.name: numpy_helper.to_array(i)
                    for i in onnx.load(str(path)).graph.initializer}
    layers = json.loads(to_json(convert(path)))["layers"]
    for layer, prefix in zip(layers, ("dense0", "dense1")):
        weights = initializers[f"{prefix}/Gemm.weight"]
        assert layer["weights"] == weights.astype("float64").ravel().tolist()
        assert layer["bias"] == initializers[f"{prefix}/Gemm.bias"].astype("float64").tolist()
        assert all(float(numpy.float32(w)) == w for w in layer["weights"])
