"""Run the original ONNX model on a batch of events, whatever its batch form.

onnxruntime when it is installed and accepts the model, else the onnx package's
reference evaluator. Inputs come as lwtnn thinks of them (events x features, and
variable-length sequences); this module shapes them the way the graph wants: a
symbolic batch takes every event at once, a fixed batch B takes runs of B (the last
padded), a rank-1 input takes one event per run, and sequences of different lengths
run one length at a time.
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import onnx

from .errors import ReferenceRunError

Feed = dict[str, np.ndarray]


class OnnxModel:
    """An ONNX model ready to evaluate events; ``backend`` says what runs it."""

    def __init__(self, model: onnx.ModelProto):
        constants = {init.name for init in model.graph.initializer}
        self.input_shapes = {v.name: _dims(v) for v in model.graph.input
                             if v.name not in constants}
        self.output_names = [o.name for o in model.graph.output]
        self.time_major = _time_major_inputs(model)
        self.backend, self._run = _runner(model, self.output_names, self.input_shapes)

    def evaluate(self, vectors: Mapping[str, np.ndarray],
                 sequences: Optional[Mapping[str, Sequence[np.ndarray]]] = None) -> Feed:
        """Outputs [n_events, width] for vectors [n_events, F] and per-event sequences."""
        vectors = {k: self._as_declared(k, np.asarray(v)) for k, v in vectors.items()}
        sequences = dict(sequences or {})
        n_events = len(next(iter({**vectors, **sequences}.values())))
        if not sequences:
            return self._run_rectangular(dict(vectors), n_events)
        lengths = np.array([len(s) for s in next(iter(sequences.values()))])
        results: dict[str, np.ndarray] = {}
        for length in np.unique(lengths):
            chosen = np.flatnonzero(lengths == length)
            feed = {k: np.asarray(v)[chosen] for k, v in vectors.items()}
            feed.update({k: np.stack([v[i] for i in chosen]) for k, v in sequences.items()})
            feed.update({k: v.transpose(1, 0, 2) for k, v in feed.items()
                         if k in self.time_major})
            for name, values in self._run_rectangular(feed, len(chosen)).items():
                out = results.setdefault(name, np.empty((n_events, values.shape[1])))
                out[chosen] = values
        return results

    def _as_declared(self, name: str, values: np.ndarray) -> np.ndarray:
        """A flat vector [n, F] of an input the graph declares [N, d1, d2, ...] (that it
        only flattens, so lwtnn takes it flat) in the declared shape."""
        dims = self.input_shapes.get(name, ())
        if (len(dims) < 3 or values.ndim != 2 or not all(dims[1:])
                or int(np.prod(dims[1:])) != values.shape[1]):
            return values
        return values.reshape((len(values),) + tuple(dims[1:]))

    def _run_rectangular(self, feed: Feed, n_events: int) -> Feed:
        rank1 = all(len(s) == 1 for s in self.input_shapes.values())
        name, shape = next(iter(self.input_shapes.items()))
        batch = None if rank1 else shape[1 if name in self.time_major else 0]
        step = 1 if rank1 else (batch if isinstance(batch, int) and batch > 0 else n_events)
        pieces = []
        for start in range(0, n_events, step):
            chunk = {k: _padded(v[:, start:start + step], step, axis=1) if k in self.time_major
                     else _padded(v[start:start + step], step) for k, v in feed.items()}
            if rank1:
                chunk = {k: v[0] for k, v in chunk.items()}
            try:
                outputs = self._run({k: v.astype(np.float32) for k, v in chunk.items()})
            except Exception as exc:  # both runtimes raise many types
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ReferenceRunError(
                    f"{self.backend} cannot evaluate the ONNX model, so the conversion "
                    f"cannot be checked here ({first_line[:200]})") from None
            pieces.append({k: _per_event(v, step) for k, v in outputs.items()})
        return {k: np.concatenate([p[k] for p in pieces])[:n_events] for k in pieces[0]}


def _per_event(value: np.ndarray, n_events: int) -> np.ndarray:
    """An output as [n_events, width]; axes before the batch axis have size 1 (Y_h of a
    recurrent layer is [directions=1, batch, hidden])."""
    value = np.asarray(value, dtype=np.float64)
    return value.reshape(n_events, -1)


def _padded(values: np.ndarray, size: int, axis: int = 0) -> np.ndarray:
    missing = size - values.shape[axis]
    if missing == 0:
        return values
    shape = list(values.shape)
    shape[axis] = missing
    return np.concatenate([values, np.zeros(shape, dtype=values.dtype)], axis=axis)


def _time_major_inputs(model: onnx.ModelProto) -> set[str]:
    """Graph inputs read directly as X by a recurrent node of layout 0: [time, batch, F]."""
    recurrent = [n for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN")]
    return {n.input[0] for n in recurrent
            if not any(a.name == "layout" and a.i == 1 for a in n.attribute)}


def _dims(value: onnx.ValueInfoProto) -> tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else None
                 for d in value.type.tensor_type.shape.dim)


def _runner(model: onnx.ModelProto, names: list[str],
            shapes: dict[str, tuple]) -> tuple[str, Callable[[Feed], Feed]]:
    try:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures are reported by this module
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        # symbolic dimensions get 8: enough steps for a 'valid' dilated conv1d
        probe = {n: np.zeros([d or 8 for d in s], np.float32) for n, s in shapes.items()}
        session.run(None, probe)  # some models load but fail at run time
        return "onnxruntime", lambda feed: dict(zip(names, session.run(None, feed)))
    except Exception:
        from onnx.reference import ReferenceEvaluator
        evaluator = ReferenceEvaluator(model)
        return "onnx.reference", lambda feed: dict(zip(names, evaluator.run(None, feed)))
