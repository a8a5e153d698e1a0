"""Prove a conversion: evaluate the ONNX model and the lwtnn network on the same events
and report, per output label, how far apart they are, the way ATLAS validates taggers.

Random events are drawn in raw units (the lwtnn input's ``(x + offset) * scale`` maps
them to unit normal values), so preprocessing folded into the input is exercised. When
the network was converted with a variable spec, the ONNX model is fed the spec's
preprocessed values, as the analysis would.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import onnx

from . import files
from .errors import FileError, ModelLoadError, UsageError
from .interface import Interface
from .load import load_model
from .lwtnn import EvaluationError, LwtnnFormatError, load_network
from .reference import OnnxModel

THRESHOLDS = (1e-7, 1e-6, 2e-6, 5e-6, 1e-5, 1e-4)
DEFAULT_TOLERANCE = 1e-5
MAX_SEQUENCE_LENGTH = 30
CHUNK = 10_000
PathLike = Union[str, os.PathLike]


@dataclass
class LabelComparison:
    output: str
    label: str
    max_abs: float
    max_rel: float              # max |diff| / max(1, |reference|)
    fractions: dict[float, float]  # threshold -> fraction of events beyond it (relative)
    passed: bool


@dataclass
class CheckReport:
    n_events: int
    backend: str
    tolerance: float
    rows: list[LabelComparison] = field(default_factory=list)
    refused_by_lwtnn: int = 0
    preprocessed: bool = False  # the lwtnn inputs carry an offset or scale

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def table(self) -> str:
        header = ["output", "label", "max |diff|", "max rel"] + [f">{t:g}" for t in THRESHOLDS]
        lines = [header] + [[r.output, r.label, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}"]
                            + [f"{r.fractions[t]:.2%}" for t in THRESHOLDS] for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                for line in lines]
        verdict = "PASS" if self.passed else "FAIL"
        text.append(f"{verdict}: {self.n_events} events, reference {self.backend}, tolerance "
                    f"{self.tolerance:g} * max(1, |reference|)")
        if not self.passed and self.preprocessed:
            text.append("hint: if the network was converted with --variables, give check "
                        "the same --variables (and --variables-convention)")
        if self.refused_by_lwtnn:
            text.append(f"note: {self.refused_by_lwtnn} drawn events were refused by lwtnn "
                        "(e.g. sequences too short for a 'valid' conv1d) and left out")
        return "\n".join(text)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "events": self.n_events, "reference": self.backend,
                "tolerance": self.tolerance, "refused_by_lwtnn": self.refused_by_lwtnn,
                "labels": [{**row.__dict__, "fractions": {f"{t:g}": f
                                                          for t, f in row.fractions.items()}}
                           for row in self.rows]}


@dataclass
class Events:
    """Raw-unit events as lwtnn takes them: vectors [n, F] and per-event sequences."""

    vectors: dict[str, np.ndarray]
    sequences: dict[str, list[np.ndarray]]

    def __len__(self) -> int:
        return len(next(iter({**self.vectors, **self.sequences}.values())))

    def select(self, chosen: np.ndarray) -> "Events":
        return Events({k: v[chosen] for k, v in self.vectors.items()},
                      {k: [v[i] for i in chosen] for k, v in self.sequences.items()})


def check(model: Union[PathLike, onnx.ModelProto], network: Union[PathLike, dict], *,
          events: int = 1000, inputs: Optional[PathLike] = None,
          tolerance: float = DEFAULT_TOLERANCE, seed: int = 0,
          interface: Optional[Interface] = None,
          progress: Optional[Callable[[int, int], None]] = None) -> CheckReport:
    """Compare the ONNX model and the lwtnn network on the same events."""
    proto = model if isinstance(model, onnx.ModelProto) else load_model(model)
    document = read_network(network)
    try:
        net = load_network(document)
    except LwtnnFormatError as exc:
        raise ModelLoadError(f"{network if not isinstance(network, dict) else 'network'}: "
                             f"not a network lwtnn accepts: {exc}") from None
    onnx_model = OnnxModel(proto)
    names = interface or Interface()  # the spec's preprocessing and output names
    _check_interfaces(onnx_model, document, names)
    drawn = (read_events(inputs, document) if inputs is not None
             else draw_events(document, events, seed, _fixed_length(onnx_model)))
    ours, refused = _evaluate_lwtnn(net, drawn)
    kept = np.setdiff1d(np.arange(len(drawn)), refused)
    drawn, ours = drawn.select(kept), {k: v[kept] for k, v in ours.items()}
    reference = {names.output_name(name): values for name, values in
                 _evaluate_onnx(onnx_model, drawn, names, progress).items()}
    report = CheckReport(len(drawn), onnx_model.backend, tolerance, refused_by_lwtnn=len(refused),
                         preprocessed=interface is None and _has_preprocessing(document))
    for name, labels in net.output_labels.items():
        for column, label in enumerate(labels):
            report.rows.append(_compare(name, label, ours[name][:, column],
                                        reference[name][:, column], tolerance))
    return report


def _compare(output: str, label: str, ours: np.ndarray, ref: np.ndarray,
             tolerance: float) -> LabelComparison:
    diff = np.abs(ours - ref)
    relative = diff / np.maximum(1.0, np.abs(ref))
    finite = bool(np.all(np.isfinite(ours)) and np.all(np.isfinite(ref)))
    fractions = {t: float(np.mean(relative > t)) if len(diff) else 0.0 for t in THRESHOLDS}
    return LabelComparison(output, label, float(diff.max(initial=0.0)),
                           float(relative.max(initial=0.0)), fractions,
                           finite and bool(np.all(relative <= tolerance)))


def draw_events(document: dict, n_events: int, seed: int,
                fixed_length: Optional[int] = None) -> Events:
    """Unit-normal values after lwtnn's preprocessing, mapped back to raw units."""
    rng = np.random.default_rng(seed)
    vectors = {node["name"]: _raw(rng.normal(size=(n_events, len(node["variables"]))), node)
               for node in document["inputs"]}
    sequences = {}
    for node in document.get("input_sequences", []):
        lengths = (np.full(n_events, fixed_length) if fixed_length
                   else rng.integers(1, MAX_SEQUENCE_LENGTH + 1, size=n_events))
        sequences[node["name"]] = [
            _raw(rng.normal(size=(int(t), len(node["variables"]))), node) for t in lengths]
    return Events(vectors, sequences)


def _node_preprocessing(node: dict) -> tuple[np.ndarray, np.ndarray]:
    """An lwtnn input node's (offsets, scales)."""
    return (np.array([v["offset"] for v in node["variables"]]),
            np.array([v["scale"] for v in node["variables"]]))


def _raw(values: np.ndarray, node: dict) -> np.ndarray:
    offsets, scales = _node_preprocessing(node)
    safe = np.where(scales == 0, 1.0, scales)
    return (values / safe - offsets).astype(np.float32).astype(np.float64)


def read_events(path: PathLike, document: dict) -> Events:
    """Events from a .npz (arrays named by input) or a CSV (a column per variable)."""
    path = Path(path)
    if path.suffix == ".npz":
        events = _read_npz(path, document)
    elif path.suffix == ".csv":
        events = _read_csv(path, document)
    else:
        raise UsageError(f"{path}: --inputs takes a .npz or a .csv file")
    for name, values in [*events.vectors.items(),
                         *((k, np.concatenate(v)) for k, v in events.sequences.items())]:
        bad = ~np.isfinite(values)
        if bad.any():
            raise UsageError(f"{path}: input '{name}' has {int(bad.sum())} NaN or infinite "
                             "value(s)")
    return events


def _read_npz(path: Path, document: dict) -> Events:
    data = files.read_npz(path, "events file", files.EVENTS_LIMIT)
    expected = {n["name"]: len(n["variables"]) for n in document["inputs"]}
    expected_sequences = {n["name"]: len(n["variables"])
                          for n in document.get("input_sequences", [])}
    missing = (set(expected) | set(expected_sequences)) - set(data.files)
    if missing:
        raise UsageError(f"{path}: no array for input(s) {', '.join(sorted(missing))}; it "
                         f"has {', '.join(data.files) or 'none'}")
    vectors = {n: _shaped(path, n, data[n], 2, w) for n, w in expected.items()}
    sequences = {n: list(_shaped(path, n, data[n], 3, w))
                 for n, w in expected_sequences.items()}
    return Events(vectors, sequences)


def _shaped(path: Path, name: str, values: np.ndarray, rank: int, width: int) -> np.ndarray:
    if len(values) == 0:
        raise UsageError(f"{path}: array {files.quote(name)} holds no events")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != rank or values.shape[-1] != width:
        raise UsageError(f"{path}: array '{name}' has shape {values.shape}; expected rank "
                         f"{rank} with {width} features")
    return values


def _read_csv(path: Path, document: dict) -> Events:
    if document.get("input_sequences"):
        raise UsageError(f"{path}: a CSV holds vector inputs only; give sequences in a .npz")
    text = files.read_text(path, "events file", files.EVENTS_LIMIT)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) < 2:
        raise UsageError(f"{path}: needs a header of variable names and at least one event")
    header, body = rows[0], rows[1:]
    _check_table(path, header, body)
    columns = {name: i for i, name in enumerate(header)}
    wanted = [v["name"] for n in document["inputs"] for v in n["variables"]]
    missing = [name for name in wanted if name not in columns]
    unknown = [name for name in header if name not in wanted]
    if missing or unknown:
        raise UsageError(f"{path}: columns do not match the network's variables (missing: "
                         f"{', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})")
    try:
        table = np.array([[float(row[columns[name]]) for name in wanted] for row in body])
    except (ValueError, IndexError) as exc:
        raise UsageError(f"{path}: every cell must be a number ({exc})") from None
    vectors, start = {}, 0
    for node in document["inputs"]:
        width = len(node["variables"])
        vectors[node["name"]] = table[:, start:start + width]
        start += width
    return Events(vectors, {})


def _evaluate_lwtnn(net, events: Events) -> tuple[dict[str, np.ndarray], np.ndarray]:
    try:
        return net.evaluate(events.vectors, events.sequences or None), np.array([], int)
    except EvaluationError as refusal:
        return dict(refusal.outputs), np.array(refusal.events, dtype=int)


def _evaluate_onnx(model: OnnxModel, events: Events, interface: Interface,
                   progress: Optional[Callable[[int, int], None]]) -> dict[str, np.ndarray]:
    """The ONNX outputs, fed what the network expects: the spec's preprocessed values."""
    vectors = {name: _preprocessed(values, interface.preprocessing(name))
               for name, values in events.vectors.items()}
    sequences = {name: [_preprocessed(steps, interface.preprocessing(name)) for steps in values]
                 for name, values in events.sequences.items()}
    pieces = []
    for start in range(0, len(events), CHUNK):
        chosen = np.arange(start, min(start + CHUNK, len(events)))
        pieces.append(model.evaluate({k: v[chosen] for k, v in vectors.items()},
                                     {k: [v[i] for i in chosen] for k, v in sequences.items()}))
        if progress is not None:
            progress(chosen[-1] + 1, len(events))
    if not pieces:
        return {name: np.empty((0, 0)) for name in model.output_names}
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}


def _preprocessed(values: np.ndarray,
                  preprocessing: Optional[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    if preprocessing is None:
        return values
    offsets, scales = preprocessing
    return (values + offsets) * scales


def _check_interfaces(model: OnnxModel, document: dict, interface: Interface) -> None:
    """Same inputs, and lwtnn outputs among the ONNX ones (as the spec renames them)."""
    onnx_inputs = set(model.input_shapes)
    lwtnn_inputs = {n["name"] for n in document["inputs"]} | {
        n["name"] for n in document.get("input_sequences", [])}
    onnx_outputs = {interface.output_name(name) for name in model.output_names}
    lwtnn_outputs = set(document["outputs"])
    if onnx_inputs != lwtnn_inputs or not lwtnn_outputs <= onnx_outputs:
        raise UsageError(
            "the lwtnn network does not belong to this ONNX model: inputs "
            f"{sorted(lwtnn_inputs)} vs {sorted(onnx_inputs)}, outputs "
            f"{sorted(lwtnn_outputs)} vs {sorted(onnx_outputs)}"
            + ("" if lwtnn_outputs <= onnx_outputs or interface.output_names else
               " (if a variable spec renamed outputs, give it: --variables SPEC)"))


def _has_preprocessing(document: dict) -> bool:
    nodes = document["inputs"] + document.get("input_sequences", [])
    return any(v["offset"] != 0 or v["scale"] != 1 for n in nodes for v in n["variables"])


def _fixed_length(model: OnnxModel) -> Optional[int]:
    lengths = {s[0 if n in model.time_major else 1]
               for n, s in model.input_shapes.items() if len(s) == 3}
    return next((t for t in lengths if isinstance(t, int) and t > 0), None)


def read_network(network: Union[PathLike, dict]) -> dict:
    """An lwtnn document from a path (or as given), read strictly under the file policy;
    ModelLoadError names an unreadable file."""
    if isinstance(network, dict):
        return network
    try:
        return files.read_json(network, "lwtnn network", files.NETWORK_LIMIT, stdin=True)
    except FileError as exc:
        raise ModelLoadError(str(exc)) from None


def _check_table(path: Path, header: list[str], body: list[list[str]]) -> None:
    """One column per name, one cell per column in every row."""
    seen: set[str] = set()
    twice = next((name for name in header if name in seen or seen.add(name)), None)
    if twice is not None:
        raise UsageError(f"{path}: column {files.quote(twice)} appears twice in the header")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}: line {number} has {len(row)} cells; the header has "
                             f"{len(header)}")


LWTNN_TEST_STEPS = 20  # lwtnn-test-lightweight-graph's generated sequence length


def lwtnn_test_event(document: dict, events: Events) -> Events:
    """Event 0 as ``lwtnn-test-lightweight-graph NET.json FILE`` evaluates it: the vector
    inputs from the file, and the sequences the tool generates itself (its 2-D ramp over
    20 steps, ``x_m * y_m / scale - offset``)."""
    sequences = {}
    for node in document.get("input_sequences", []):
        n_vars = len(node["variables"])
        x_m = np.linspace(-1, 1, n_vars) if n_vars > 1 else np.zeros(1)
        y_m = np.linspace(-1, 1, LWTNN_TEST_STEPS)
        offsets, scales = _node_preprocessing(node)
        sequences[node["name"]] = [np.outer(y_m, x_m) / scales - offsets]
    return Events({k: v[:1] for k, v in events.vectors.items()}, sequences)


def lwtnn_test_inputs(document: dict, event: Events) -> dict[str, dict[str, float]]:
    """The inputs file ``lwtnn-test-lightweight-graph`` reads: node -> variable -> value."""
    return {node["name"]: {v["name"]: float(event.vectors[node["name"]][0, i])
                           for i, v in enumerate(node["variables"])}
            for node in document["inputs"]}


def print_progress(done: int, total: int) -> None:
    print(f"\rchecked {done}/{total} events", end="" if done < total else "\n",
          file=sys.stderr, flush=True)
