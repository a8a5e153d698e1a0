"""Shared test machinery: where the material is, and an independent ONNX reference.

The reference is onnxruntime when it can run the model (else the onnx package's
reference evaluator), never our own code, so a conversion is checked against something
that did not write it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import onnx
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
TOLERANCE = 1e-5


def shared_dir() -> Optional[Path]:
    """../shared beside the repo, or $ONNX2LWTNN_SHARED; None when absent."""
    candidate = Path(os.environ.get("ONNX2LWTNN_SHARED", REPO.parent / "shared"))
    return candidate if candidate.is_dir() else None


def require_shared(*parts: str) -> Path:
    """A folder inside ../shared, or a clean skip naming what is missing."""
    base = shared_dir()
    path = None if base is None else base.joinpath(*parts)
    if path is None or not path.exists():
        pytest.skip(f"shared material {'/'.join(('shared',) + parts)} is absent "
                    "(set ONNX2LWTNN_SHARED to its folder to run these tests)")
    return path


def manifest() -> list[dict]:
    return json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]


def fixture_entries(expect: str, issues: set[int]) -> list[dict]:
    return [e for e in manifest() if e["expect"] == expect and e["issue"] in issues]


# -- the ONNX side -------------------------------------------------------------------
def vector_inputs(model: onnx.ModelProto) -> dict[str, tuple]:
    """Graph input name -> its shape (initializers listed as inputs excluded)."""
    constants = {init.name for init in model.graph.initializer}
    return {v.name: tuple(d.dim_value if d.HasField("dim_value") else None
                          for d in v.type.tensor_type.shape.dim)
            for v in model.graph.input if v.name not in constants}


def random_events(model: onnx.ModelProto, n_events: int, seed: int = 0,
                  scale: float = 2.0) -> dict[str, np.ndarray]:
    """Float32 events [n_events, features] for every vector input of the model."""
    rng = np.random.default_rng(seed)
    return {name: (rng.normal(size=(n_events, shape[-1])) * scale).astype(np.float32)
            for name, shape in vector_inputs(model).items()}


def onnx_reference(model: onnx.ModelProto, events: Mapping[str, np.ndarray]) -> dict:
    """Outputs of the ONNX model on [n_events, features] inputs, whatever its batch form:
    symbolic batch (one run), fixed batch B (runs of B events, the last padded) or rank-1
    input (one run per event)."""
    run = _runner(model)
    shapes = vector_inputs(model)
    n_events = len(next(iter(events.values())))
    rank1 = all(len(s) == 1 for s in shapes.values())
    batch = None if rank1 else next(iter(shapes.values()))[0]
    step = 1 if rank1 else (batch or n_events)
    pieces = []
    for start in range(0, n_events, step):
        feed = {}
        for name, values in events.items():
            chunk = values[start:start + step]
            if len(chunk) < step:
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk),) + chunk.shape[1:],
                                                        chunk.dtype)])
            feed[name] = chunk[0] if rank1 else chunk
        pieces.append({k: np.asarray(v).reshape(step, -1) for k, v in run(feed).items()})
    return {k: np.concatenate([p[k] for p in pieces])[:n_events] for k in pieces[0]}


def _runner(model: onnx.ModelProto):
    names = [o.name for o in model.graph.output]
    try:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        # symbolic dimensions get 5: a 'valid' conv1d needs a few time steps
        session.run(None, {i.name: np.zeros([d if isinstance(d, int) and d > 0 else 5
                                             for d in i.shape], np.float32)
                           for i in session.get_inputs()})
        return lambda feed: dict(zip(names, session.run(None, feed)))
    except Exception:
        from onnx.reference import ReferenceEvaluator
        evaluator = ReferenceEvaluator(model)
        return lambda feed: dict(zip(names, evaluator.run(None, feed)))


# -- sequences -----------------------------------------------------------------------
MAX_LENGTH = 30


def sequence_inputs(model: onnx.ModelProto) -> dict[str, tuple]:
    """The rank-3 graph inputs (sequences) and their shapes."""
    return {name: shape for name, shape in vector_inputs(model).items() if len(shape) == 3}


def sequence_lengths(entry: dict) -> tuple[int, int]:
    """The (shortest, longest) sequence a fixture accepts: its ``fixed_length``, or 1 (its
    ``min-length:N`` cover tag, if any) to MAX_LENGTH."""
    if entry.get("fixed_length"):
        return entry["fixed_length"], entry["fixed_length"]
    shortest = [int(tag.split(":")[1]) for tag in entry["covers"] if tag.startswith("min-length:")]
    return (shortest[0] if shortest else 1), MAX_LENGTH


def random_sequences(model: onnx.ModelProto, n_events: int, seed: int = 0,
                     lengths: tuple[int, int] = (1, MAX_LENGTH), feature_axis: int = -1,
                     scale: float = 1.0) -> dict[str, list[np.ndarray]]:
    """For every sequence input, n_events float32 arrays [length, features] with lengths
    drawn from ``lengths`` (inclusive); an event has one length across the inputs.
    ``feature_axis``: where the input's shape holds its features."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(lengths[0], lengths[1] + 1, size=n_events)
    return {name: [(rng.normal(size=(n, shape[feature_axis])) * scale).astype(np.float32)
                   for n in steps]
            for name, shape in sequence_inputs(model).items()}


def onnx_sequence_reference(model: onnx.ModelProto, sequences: Mapping[str, list],
                            time_major: tuple = (),
                            output_batch_axes: Optional[Mapping[str, int]] = None) -> dict:
    """Outputs of the ONNX model for events whose sequences differ in length, [n_events,
    ...] per output. ONNX tensors are rectangular, so the events of one length run
    together, in runs of the model's batch size where it is fixed (the last run padded).
    Inputs named in ``time_major`` are fed [time, batch, features]; outputs have their
    batch axis first unless ``output_batch_axes`` names another."""
    run = _runner(model)
    shapes = sequence_inputs(model)
    first = next(iter(sequences))
    n_events = len(sequences[first])
    batch = shapes[first][1 if first in time_major else 0]
    lengths = np.array([len(s) for s in sequences[first]])
    results: dict[str, np.ndarray] = {}
    for length in np.unique(lengths):
        events = np.flatnonzero(lengths == length)
        step = batch or len(events)
        for start in range(0, len(events), step):
            chunk = events[start:start + step]
            feed = {}
            for name, values in sequences.items():
                data = np.zeros((step, length, values[chunk[0]].shape[-1]), np.float32)
                data[:len(chunk)] = np.stack([values[i] for i in chunk])
                feed[name] = data.transpose(1, 0, 2) if name in time_major else data
            for name, value in run(feed).items():
                axis = (output_batch_axes or {}).get(name, 0)
                value = np.moveaxis(np.asarray(value), axis, 0)[:len(chunk)]
                if name not in results:
                    results[name] = np.zeros((n_events,) + value.shape[1:], value.dtype)
                results[name][chunk] = value
    return results


# -- comparison ----------------------------------------------------------------------
# What README and docs/check.md promise of every conversion, written here as the docs
# state it (not imported from onnx2lwtnn.check): |lwtnn - float64 onnx| <= 1e-9 *
# max(1, |onnx|). The float32 comparison below (TOLERANCE) is for tests where onnxruntime
# in float32, an implementation that did not write the conversion, is the point.
EXACT = 1e-9


def onnx_float64(model: onnx.ModelProto, events: Mapping[str, np.ndarray],
                 sequences: Optional[Mapping[str, list]] = None) -> dict:
    """The ONNX model evaluated in float64 (a float64 copy run by onnxruntime, else the
    onnx package's reference evaluator), as lwtnn computes: what "exact" is measured
    against."""
    from onnx2lwtnn.reference import FLOAT64, OnnxModel
    return OnnxModel(model, FLOAT64).evaluate(events, sequences)


def assert_exact(ours: Mapping[str, np.ndarray], model: onnx.ModelProto,
                 events: Mapping[str, np.ndarray],
                 sequences: Optional[Mapping[str, list]] = None) -> float:
    """lwtnn's outputs against the float64 ONNX model at the promised 1e-9."""
    return assert_close(ours, onnx_float64(model, events, sequences), EXACT)


def assert_close(ours: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
                 tolerance: float = TOLERANCE) -> float:
    """|ours - ref| <= tolerance * max(1, |ref|) for every output; returns the worst ratio."""
    assert set(ours) == set(reference), (sorted(ours), sorted(reference))
    worst = 0.0
    for name, ref in reference.items():
        mine = np.asarray(ours[name]).reshape(ref.shape)
        assert np.all(np.isfinite(mine)), f"{name}: non-finite values"
        ratio = np.abs(mine - ref) / (tolerance * np.maximum(1.0, np.abs(ref)))
        worst = max(worst, float(ratio.max()))
        assert ratio.max() <= 1.0, (f"output {name}: max |diff| "
                                    f"{np.abs(mine - ref).max():.3g} exceeds tolerance")
    return worst
