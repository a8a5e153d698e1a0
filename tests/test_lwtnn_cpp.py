"""lwtnn's own C++ (inside the correctionlib wheel) against this package's numpy lwtnn, on
every fixture and shared real model that has a sequential form: the proof that a network
computes the ONNX model rests on the numpy runtime, so it must agree with the real thing
to 1e-12, or a reader bug and an emitter bug could agree with each other unseen."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.errors import ConversionError, ConversionWarning
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.lwtnn.sequential import sequential_form

from .support import FIXTURES, manifest, shared_dir

lwtnn_cpp = pytest.importorskip(
    "onnx2lwtnn.lwtnn_cpp", reason="needs the onnx2lwtnn.lwtnn_cpp module")
if lwtnn_cpp.version() is None:
    pytest.skip("correctionlib >= 2.9 (lwtnn's C++) is not installed: pip install "
                "'.[test]'", allow_module_level=True)

AGREEMENT = 1e-12  # |C++ - numpy| / max(1, |numpy|), what check demands of the two
CONVERTIBLE = [e for e in manifest() if e["expect"] == "convert"]
# 123 of the 153 convertible fixtures have a sequential form (measured): none may
# silently drop out of the comparison.
MINIMUM_FIXTURES_WITH_A_SEQUENTIAL_FORM = 123


def _arguments(entry: dict) -> dict:
    return {key: FIXTURES / value if value in entry["extras"] else value
            for key, value in entry["convert_args"].items()}


def _sequential(path, **arguments):
    """The network in lwtnn's sequential format, or None where it is not one chain."""
    return _converted(path, format="sequential", **arguments)


def _graph(path, **arguments):
    """The default (graph) conversion, or None where the model is refused."""
    return _converted(path, **arguments)


def _converted(path, **arguments):
    """Converted once per test session and unverified: these tests compare two lwtnn
    runtimes on our output, whatever it computes (the ONNX side is proven elsewhere, and
    verifying a real model with a fixed batch of 789,444 events took a minute)."""
    key = (str(path), tuple(sorted((k, str(v)) for k, v in arguments.items())))
    if key not in _CONVERSIONS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            try:
                _CONVERSIONS[key] = convert(path, verify=False, **arguments)
            except ConversionError:
                _CONVERSIONS[key] = None
    return _CONVERSIONS[key]


_CONVERSIONS: dict = {}


def raw_events(document: dict, n_events: int = 500, seed: int = 11) -> np.ndarray:
    """Unit-normal values after the document's preprocessing, in raw units."""
    offsets = np.array([v["offset"] for v in document["inputs"]], dtype=np.float64)
    scales = np.array([v["scale"] for v in document["inputs"]], dtype=np.float64)
    normal = np.random.default_rng(seed).normal(size=(n_events, len(offsets)))
    return normal / np.where(scales == 0, 1.0, scales) - offsets


def assert_cpp_agrees(document: dict) -> None:
    events = raw_events(document)
    ours = load_network(document).evaluate({"": events})["outputs"]
    theirs = lwtnn_cpp.evaluate(document, events)
    worst = float((np.abs(theirs - ours) / np.maximum(1.0, np.abs(ours))).max())
    assert worst <= AGREEMENT, f"lwtnn C++ differs from the numpy runtime by {worst:.3g}"


def assert_every_sequential_form_agrees(path, **arguments) -> bool:
    """Both sequential forms (written sequential, and the graph document when it is one
    chain) agree with lwtnn's C++; False when the network has neither."""
    document, graph = _sequential(path, **arguments), _graph(path, **arguments)
    chain = None if graph is None else sequential_form(graph)
    if document is None:
        assert chain is None, "a graph that is one chain must convert to sequential too"
        return False
    assert graph is not None
    assert_cpp_agrees(document)
    if chain is not None:
        assert chain == {key: document[key] for key in chain}
        assert_cpp_agrees(chain)
    return True


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=[e["name"] for e in CONVERTIBLE])
def test_numpy_lwtnn_matches_lwtnn_cpp_on_every_fixture_with_a_sequential_form(entry):
    assert_every_sequential_form_agrees(FIXTURES / entry["file"], **_arguments(entry))


def test_the_sequential_fixtures_do_not_drop_out():
    covered = [e["name"] for e in CONVERTIBLE
               if _sequential(FIXTURES / e["file"], **_arguments(e)) is not None]
    assert len(covered) >= MINIMUM_FIXTURES_WITH_A_SEQUENTIAL_FORM, covered


def _shared_models() -> list:
    base = shared_dir()
    if base is None:
        return []
    folders = [base / "real-models" / "hls4ml-example-models", base / "real-models" / "sofie"]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.glob("*.onnx"))


@pytest.mark.parametrize("path", _shared_models(), ids=lambda p: p.stem)
def test_numpy_lwtnn_matches_lwtnn_cpp_on_shared_real_models(path):
    assert_every_sequential_form_agrees(path)
