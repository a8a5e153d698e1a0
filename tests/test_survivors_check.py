"""onnx2lwtnn.check, where its mutation campaign found the suite silent: the report's
table, JSON and notes, the drawn events and their seed, events beyond one chunk, the
proof every conversion runs, inputs given on either side of a spec's preprocessing and
what the report says they match, bad event files, and lwtnn's own test tool's event."""
from __future__ import annotations

import io
import json
import sys
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest

from onnx2lwtnn import UsageError, convert, lwtnn_cpp
from onnx2lwtnn.api import conversion
from onnx2lwtnn.check_correctionset import check_correction_set
from onnx2lwtnn.errors import ConversionWarning, FileError
from onnx2lwtnn.check import (CHUNK, VERIFICATION_EVENTS, Events, check, draw_events,
                              lwtnn_test_event, print_progress, read_network,
                              verify_conversion)

from .support import FIXTURES

AFFINE = FIXTURES / "affine_on_input.onnx"       # x -> y; its affine folds into the input
TWO_OUTPUTS = FIXTURES / "multi_two_outputs.onnx"  # x (6 variables) -> score, probs
SPEC_GRAPH = FIXTURES / "check_spec_graph.onnx"  # x (5 variables) -> y (2 labels)
SPEC_GRAPH_SPEC = FIXTURES / "check_spec_graph.variables.json"
WIDTH = 6
TOLERANCE = 1e-9  # the documented bound against the float64 reference


def _onnxruntime(model, feed: dict) -> dict[str, np.ndarray]:
    """The model's outputs by onnxruntime in float32, as a dump of it holds them."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {k: v.astype(np.float32)
                                               for k, v in feed.items()})))


# -- the report ---------------------------------------------------------------------------

def test_a_passing_report_of_a_preprocessed_input_reads_left_aligned_without_hints():
    """Cells start where their column does; a PASS has no hint to give a spec, even when
    the network's input carries offsets and scales; the JSON names its tolerance and
    lwtnn's C++ (run or why not); the progress reaches every event once."""
    seen = []
    report = check(AFFINE, convert(AFFINE), events=30, progress=lambda *a: seen.append(a))
    assert report.conversion_passed and report.preprocessed
    lines = report.table().splitlines()
    assert lines[0].startswith("output  label")
    assert all(line.startswith(row.output + " ") for line, row in zip(lines[1:], report.rows))
    assert "hint:" not in report.table()
    as_json = report.to_json()
    assert as_json["tolerance"] == TOLERANCE
    assert as_json["lwtnn_cpp"]["passed"] is True
    assert as_json["reference_outputs"] is None
    assert seen == [(30, 30)]


def test_a_failing_report_of_a_preprocessed_input_hints_at_the_spec():
    document = convert(AFFINE)
    document["layers"][0]["weights"][0] += 1e-3
    table = check(AFFINE, document, events=30).table()
    assert "FAIL:" in table and "hint: if the network was converted with variables=" in table


def test_events_beyond_one_chunk_are_each_compared_once():
    report = check(AFFINE, convert(AFFINE), events=CHUNK + 3)
    assert report.n_events == CHUNK + 3 and report.conversion_passed


def test_lwtnn_cpp_refusing_the_network_is_a_failure_that_says_why(monkeypatch):
    if lwtnn_cpp.version() is None:
        pytest.skip("correctionlib with lwtnn's C++ is not installed")

    def refuse(network, inputs):
        raise lwtnn_cpp.CppRunError("layer type 'nonsense' is not known")

    monkeypatch.setattr(lwtnn_cpp, "evaluate", refuse)
    report = check(AFFINE, convert(AFFINE), events=10)
    assert not report.conversion_passed
    line = next(line for line in report.table().splitlines() if line.startswith("lwtnn C++"))
    assert line == (f"lwtnn C++ (correctionlib {lwtnn_cpp.version()}): FAIL: lwtnn's C++ "
                    "refused the network onnx2lwtnn.lwtnn ran: layer type 'nonsense' is not "
                    "known")


# -- the proof every conversion runs ------------------------------------------------------

def test_a_conversions_proof_is_checks_default_on_as_many_events():
    """The same events as ``check`` draws by default (seed 0), so a user reruns it."""
    document = convert(AFFINE)
    proof = verify_conversion(onnx.load(AFFINE), document)
    rerun = check(AFFINE, document, events=VERIFICATION_EVENTS)
    assert proof.n_events == rerun.n_events == VERIFICATION_EVENTS
    assert [(r.max_abs, r.max_rel) for r in proof.rows] == [(r.max_abs, r.max_rel)
                                                           for r in rerun.rows]


def test_a_merged_output_is_proven_against_the_outputs_it_merges():
    document = convert(TWO_OUTPUTS, merge_outputs="all")
    proof = verify_conversion(onnx.load(TWO_OUTPUTS), document, merge_outputs="all")
    assert proof.conversion_passed and {r.output for r in proof.rows} == {"all"}


def test_a_merged_network_checked_under_another_name_does_not_belong():
    document = convert(TWO_OUTPUTS, merge_outputs="all")
    with pytest.raises(UsageError, match="does not belong to this ONNX model"):
        check(TWO_OUTPUTS, document, merge_outputs="other", events=10)


# -- drawn events -------------------------------------------------------------------------

def _node(name: str, offsets: list[float], scales: list[float]) -> dict:
    return {"name": name, "variables": [{"name": f"{name}{i}", "offset": o, "scale": s}
                                        for i, (o, s) in enumerate(zip(offsets, scales))]}


def test_drawn_events_are_the_seeds_unit_normals_in_raw_units_then_the_centres():
    """x = z / scale - offset (lwtnn's (x + offset) * scale is z), rounded to float32:
    z unit normal from the seed's generator, then z = 0, 1, -1, 3, -3."""
    offsets, scales = np.array([2.0, -5.0]), np.array([0.5, 4.0])
    view = {"inputs": [_node("x", list(offsets), list(scales))], "input_sequences": []}
    drawn = draw_events(view, 12, seed=7).vectors["x"]
    z = np.concatenate([np.random.default_rng(7).normal(size=(7, 2)),
                        np.repeat([[0.0], [1.0], [-1.0], [3.0], [-3.0]], 2, axis=1)])
    expected = (z / scales - offsets).astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(drawn, expected)


def test_drawn_sequences_are_1_to_30_steps_long():
    view = {"inputs": [], "input_sequences": [_node("s", [0.0], [1.0])]}
    lengths = {len(steps) for steps in draw_events(view, 1000, seed=0).sequences["s"]}
    assert lengths == set(range(1, 31))


# -- inputs on either side of a spec's preprocessing --------------------------------------

@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    """A spec with offsets and scales, the network converted with it, and an onnxruntime
    dump: ONNX-side inputs (what the graph is fed) with the outputs it gave."""
    rng = np.random.default_rng(26)
    spec = {"variables": [f"v{i}" for i in range(WIDTH)],
            "offset": rng.normal(0, 10, WIDTH).tolist(),
            "scale": rng.uniform(1, 5, WIDTH).tolist()}
    options = {"variables": spec, "variables_convention": "subtract-divide"}
    fed = rng.normal(size=(30, WIDTH)).astype(np.float32).astype(np.float64)
    outputs = _onnxruntime(TWO_OUTPUTS, {"x": fed})
    events = tmp_path_factory.mktemp("dump") / "dump.npz"
    np.savez(events, x=fed, **{f"out_{k}": v for k, v in outputs.items()})
    return convert(TWO_OUTPUTS, **options), options, events, spec


def test_onnx_side_inputs_said_to_be_so_are_mapped_back_to_raw_and_pass(dumped):
    document, options, events, _ = dumped
    report = check(TWO_OUTPUTS, document, inputs=events, inputs_side="onnx", **options)
    assert report.passed and report.published.side == "onnx"
    assert report.published.max_rel < 1e-5  # onnxruntime's float32 against lwtnn's double


def test_onnx_side_inputs_given_as_raw_are_said_to_look_onnx_side(dumped):
    document, options, events, _ = dumped
    report = check(TWO_OUTPUTS, document, inputs=events, **options)
    assert not report.published.passed and report.published.matches == {"inputs_side": "onnx"}
    assert ("they match the ONNX model with inputs_side='onnx': the inputs look ONNX-side, "
            "already preprocessed") in report.table()


def test_raw_inputs_said_to_be_onnx_side_are_said_to_look_raw(dumped, tmp_path):
    """Raw x whose outputs are the model's on (x - offset) / scale, the subtract-divide
    spec's preprocessing written out here."""
    document, options, _, spec = dumped
    raw = np.random.default_rng(3).normal(5, 10, size=(20, WIDTH))
    fed = (raw - np.array(spec["offset"])) / np.array(spec["scale"])
    events = tmp_path / "raw.npz"
    np.savez(events, x=raw, **{f"out_{k}": v
                               for k, v in _onnxruntime(TWO_OUTPUTS, {"x": fed}).items()})
    report = check(TWO_OUTPUTS, document, inputs=events, inputs_side="onnx", **options)
    assert report.published.matches == {"inputs_side": "raw"}
    assert ("they match the ONNX model with inputs_side='raw': the inputs look raw"
            in report.table())


def test_outputs_no_reading_gives_are_blamed_on_the_lwtnn_form_spec(tmp_path):
    """An lwtnn-form spec has no other convention to try: only the other side is."""
    options = {"variables": SPEC_GRAPH_SPEC, "variables_convention": "lwtnn"}
    events = tmp_path / "events.npz"
    np.savez(events, x=np.ones((4, 5)), out_y=np.full((4, 2), 7.0))
    report = check(SPEC_GRAPH, convert(SPEC_GRAPH, **options), inputs=events, **options)
    assert report.conversion_passed and not report.published.passed
    assert report.published.matches == {}


def test_reference_outputs_are_found_under_the_onnx_name_a_spec_renamed(tmp_path):
    spec = json.loads(SPEC_GRAPH_SPEC.read_text())
    spec["outputs"][0].update(name="tagger", onnx_output="y")
    options = {"variables": spec, "variables_convention": "lwtnn"}
    x = np.random.default_rng(5).normal(size=(10, 5))
    fed = x.copy()
    for i, variable in enumerate(spec["inputs"][0]["variables"]):
        fed[:, i] = (x[:, i] + variable["offset"]) * variable["scale"]  # lwtnn's convention
    events = tmp_path / "events.npz"
    np.savez(events, x=x, out_y=_onnxruntime(SPEC_GRAPH, {"x": fed})["y"])
    report = check(SPEC_GRAPH, convert(SPEC_GRAPH, **options), inputs=events, **options)
    assert report.passed and report.published.worst.startswith("tagger/")


# -- bad event files ----------------------------------------------------------------------

def _csv(tmp_path, text: str):
    path = tmp_path / "events.csv"
    path.write_bytes(text.encode("latin-1"))
    return path


def test_a_csv_missing_a_variable_is_refused_naming_it(tmp_path):
    path = _csv(tmp_path, ",".join(f"x_{i}" for i in range(WIDTH - 1)) + "\n"
                + ",".join("1" * (WIDTH - 1)) + "\n")
    with pytest.raises(UsageError, match="missing: 'x_5'; unknown: none"):
        check(TWO_OUTPUTS, convert(TWO_OUTPUTS), inputs=path)


def test_a_csv_that_is_not_utf8_is_named_an_events_file(tmp_path):
    path = _csv(tmp_path, "x_0\n\xe9\n")
    with pytest.raises(FileError, match="the events file is not UTF-8"):
        check(TWO_OUTPUTS, convert(TWO_OUTPUTS), inputs=path)


def test_npz_arrays_of_different_lengths_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "events.npz"
    np.savez(path, x=np.zeros((3, WIDTH)), out_score=np.zeros((4, 1)))
    with pytest.raises(UsageError, match=f"^{path}: the arrays disagree"):
        check(TWO_OUTPUTS, convert(TWO_OUTPUTS), inputs=path)


def test_a_network_is_read_from_stdin_for_dash(monkeypatch):
    document = convert(AFFINE)
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(document).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert read_network("-") == json.loads(json.dumps(document))


def test_progress_stays_on_its_line_until_the_last_event(capsys):
    print_progress(3, 10)
    assert capsys.readouterr().err == "\rchecked 3/10 events"
    print_progress(10, 10)
    assert capsys.readouterr().err == "\rchecked 10/10 events\n"


# -- lwtnn's own test tool ----------------------------------------------------------------

def test_the_test_tools_event_is_the_first_with_its_generated_ramp():
    """lwtnn-test-lightweight-graph's sequences: x_m * y_m / scale - offset, x_m over the
    variables from -1 to 1 (0 for one variable), y_m over 20 steps from -1 to 1."""
    wide, narrow = _node("s", [1.0, -2.0, 0.5], [2.0, 0.25, 1.0]), _node("t", [3.0], [2.0])
    document = {"inputs": [], "input_sequences": [wide, narrow]}
    events = Events({"x": np.arange(6.0).reshape(3, 2)}, {})
    event = lwtnn_test_event(document, events)
    np.testing.assert_array_equal(event.vectors["x"], [[0.0, 1.0]])
    y_m = np.array([-1 + 2 * k / 19 for k in range(20)])
    ramp = np.outer(y_m, [-1.0, 0.0, 1.0]) / [2.0, 0.25, 1.0] - [1.0, -2.0, 0.5]
    np.testing.assert_allclose(event.sequences["s"][0], ramp, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(event.sequences["t"][0], np.full((20, 1), -3.0))


# -- nothing to compare -------------------------------------------------------------------

CONV_VALID = FIXTURES / "conv1d_valid.onnx"  # tracks (4 variables) -> 'valid' conv, kernel 3


def test_events_lwtnn_refuses_every_one_of_are_refused_not_a_crash(tmp_path):
    """Sequences of 2 steps are too short for a kernel of 3: no event is left to compare
    (it was an IndexError)."""
    events = tmp_path / "short.npz"
    np.savez(events, tracks=np.ones((3, 2, 4)))
    with pytest.raises(UsageError, match="no event to compare: of the 3 event.s., lwtnn "
                                         "refused 3"):
        check(CONV_VALID, convert(CONV_VALID), inputs=events)


def test_no_events_drawn_are_refused_not_a_crash():
    with pytest.raises(UsageError, match="no event to compare: of the 0 event"):
        check(AFFINE, convert(AFFINE), events=0)


def test_a_correction_set_checked_on_no_events_is_refused_for_that():
    """It was refused as reading an output label the network lacks (its outputs were
    empty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        converted = conversion(TWO_OUTPUTS, format="correctionlib")
    with pytest.raises(UsageError, match="events=0: no event to compare"):
        check_correction_set(converted.document, converted.sources, events=0)
