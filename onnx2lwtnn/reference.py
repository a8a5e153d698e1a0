"""Run the original ONNX model on a batch of events, whatever its batch form, in float64
where it can be and in its own float32 otherwise.

lwtnn computes in double and reads every weight as the double of its float32 value, so
the fair reference is the ONNX graph evaluated in double: ``float64_copy`` turns the
model's float tensors (initializers, Constant values, casts, inputs and outputs) into
doubles of the same values. onnxruntime runs it where its kernels take double, else the
onnx package's reference evaluator does. The model as it stands (float32) is what a
float32 deployment sees; it runs in onnxruntime, else in the reference evaluator.

Inputs come as lwtnn thinks of them (events x features, and variable-length sequences);
this module shapes them the way the graph wants: a symbolic batch takes every event at
once, a fixed batch B takes runs of B (the last padded), a rank-1 input takes one event
per run, and sequences of different lengths run one length at a time. A fixed batch is
slow (100,000 events of an old PyTorch export, batch 1: 100,000 runs), so a copy of the
model with a symbolic batch is tried, and used where it runs and gives the fixed
model's outputs on the first events (a graph may build shapes from the batch size).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .errors import ReferenceRunError

Feed = dict[str, np.ndarray]
BATCH, TIME = 0, 1  # axes of lwtnn's canonical [batch, time, features] sequences
FREE_BATCH_AGREEMENT = 1e-12  # a symbolic-batch copy vs the fixed model, relative
BACKENDS = ("onnxruntime", "onnx.reference")  # the runtimes tried, in this order
CANONICAL, TIME_MAJOR, CHANNELS_FIRST = (0, 1, 2), (1, 0, 2), (0, 2, 1)
FLOAT32, FLOAT64 = "float32", "float64"
DTYPES = {FLOAT32: np.float32, FLOAT64: np.float64}


class OnnxModel:
    """An ONNX model ready to evaluate events in one precision; ``backend`` says what runs
    it (``"onnxruntime float64"``, ...). ReferenceRunError if nothing here can.
    ``outputs`` (default: all) are the outputs it computes: a conversion that kept some
    is compared on those alone, whatever the others are. ``backends`` are the runtimes
    tried, in order."""

    def __init__(self, model: onnx.ModelProto, precision: str = FLOAT32,
                 outputs: Optional[Sequence[str]] = None,
                 backends: Sequence[str] = BACKENDS):
        constants = {init.name for init in model.graph.initializer}
        self.input_shapes = {v.name: _dims(v) for v in model.graph.input
                             if v.name not in constants}
        self.output_names = [o.name for o in model.graph.output]
        self.layouts = _declared_layouts(model)
        self.precision = precision
        runnable = float64_copy(model) if precision == FLOAT64 else model
        self._computed = list(outputs or self.output_names)
        self.backend, self._run = _runner(runnable, self._computed, self.input_shapes,
                                          DTYPES[precision], backends)
        self._model = runnable
        self._free_run: Optional[Callable[[Feed], Feed]] = None
        self._free_tried = False

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
            feed.update({k: v.transpose(self.layouts[k]) for k, v in feed.items()
                         if k in self.layouts})
            for name, values in self._run_rectangular(feed, len(chosen)).items():
                out = results.setdefault(name, np.empty((n_events, values.shape[1])))
                if out.shape[1] != values.shape[1]:  # a damaged model: not one row per event
                    raise ReferenceRunError(
                        f"the ONNX model's output '{name}' has {values.shape[1]} values per "
                        f"event for sequences of {length} steps and {out.shape[1]} for "
                        "others, so the conversion cannot be checked here")
                out[chosen] = values
        return results

    def axis(self, name: str, role: int) -> int:
        """Where a sequence input declares the canonical axis ``role`` (BATCH, TIME)."""
        return self.layouts.get(name, CANONICAL).index(role)

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
        batch = None if rank1 else shape[self.axis(name, BATCH)]
        step = 1 if rank1 else (batch if isinstance(batch, int) and batch > 0 else n_events)
        if not rank1 and step < n_events and self._free_batch(feed, step):
            return self._run_in_steps(self._free_run, feed, n_events, n_events, False)
        return self._run_in_steps(self._run, feed, n_events, step, rank1)

    def _free_batch(self, feed: Feed, step: int) -> bool:
        """Whether the symbolic-batch copy runs and agrees with the model on the first
        two runs' events (tried once)."""
        if not self._free_tried:
            self._free_tried = True
            try:
                make = _onnxruntime if self.backend.startswith("onnxruntime") else _evaluator
                free = make(free_batch_copy(self._model, {
                    name: self.axis(name, BATCH) for name in self.input_shapes}),
                    self._computed)
                sample = {k: _events(v, self.axis(k, BATCH), 0, 2 * step)
                          for k, v in feed.items()}
                fixed = self._run_in_steps(self._run, sample, 2 * step, step, False)
                ours = self._run_in_steps(free, sample, 2 * step, 2 * step, False)
                if all(_agree(ours[k], fixed[k]) for k in fixed):
                    self._free_run = free
            except Exception:  # both runtimes raise many types: keep the fixed batch
                pass
        return self._free_run is not None

    def _run_in_steps(self, run: Callable[[Feed], Feed], feed: Feed, n_events: int,
                      step: int, rank1: bool) -> Feed:
        dtype = DTYPES[self.precision]
        pieces = []
        for start in range(0, n_events, step):
            chunk = {k: _events(v, self.axis(k, BATCH), start, step) for k, v in feed.items()}
            if rank1:
                chunk = {k: v[0] for k, v in chunk.items()}
            try:
                outputs = run({k: v.astype(dtype) for k, v in chunk.items()})
            except Exception as exc:  # both runtimes raise many types
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ReferenceRunError(
                    f"{self.backend} cannot evaluate the ONNX model, so the conversion "
                    f"cannot be checked here ({first_line[:200]})") from None
            pieces.append({k: _per_event(v, step) for k, v in outputs.items()})
        return {k: np.concatenate([p[k] for p in pieces])[:n_events] for k in pieces[0]}


def float64_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with every float32 tensor, cast and type made float64: the same
    weights (a float32 value is exact in double), computed in double, also where an op
    would round to float32 whatever its input (``_in_double``)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    _graph_to_float64(copy.graph)
    return copy


def free_batch_copy(model: onnx.ModelProto, batch_axes: Mapping[str, int]) -> onnx.ModelProto:
    """The model with a symbolic batch: each graph input's batch axis (``batch_axes``)
    named, the outputs' and intermediate shapes left to be inferred."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        if value.name in batch_axes:
            dim = value.type.tensor_type.shape.dim[batch_axes[value.name]]
            dim.Clear()
            dim.dim_param = "events"
    for value in copy.graph.output:
        value.type.tensor_type.ClearField("shape")
    del copy.graph.value_info[:]
    return copy


def _agree(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return ours.shape == theirs.shape and bool(np.all(
        np.abs(ours - theirs) <= FREE_BATCH_AGREEMENT * np.maximum(1.0, np.abs(theirs))))


def _graph_to_float64(graph: onnx.GraphProto) -> None:
    for tensor in graph.initializer:
        _tensor_to_float64(tensor)
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.DOUBLE
    nodes = [replacement for node in graph.node for replacement in _in_double(graph, node)]
    del graph.node[:]
    graph.node.extend(nodes)
    for node in graph.node:
        for attribute in node.attribute:
            _attribute_to_float64(attribute)
        if node.op_type == "Constant":
            _constant_to_tensor(node)
        if node.op_type == "ConstantOfShape" and not node.attribute:
            node.attribute.append(helper.make_attribute(
                "value", numpy_helper.from_array(np.zeros(1, np.float64))))


def _in_double(graph: onnx.GraphProto, node: onnx.NodeProto) -> list[onnx.NodeProto]:
    """ai.onnx.ml's Scaler always outputs float32: as its arithmetic, ``(x - offset) *
    scale``, it computes in the input's precision."""
    if node.op_type != "Scaler" or node.domain != "ai.onnx.ml":
        return [node]
    attributes = {a.name: np.array(a.floats, np.float64) for a in node.attribute}
    names = {}
    for key, default in (("offset", 0.0), ("scale", 1.0)):
        names[key] = f"{node.output[0]}.float64_{key}"
        graph.initializer.append(numpy_helper.from_array(
            attributes.get(key, np.array([default])), names[key]))
    shifted = f"{node.output[0]}.float64_shifted"
    return [helper.make_node("Sub", [node.input[0], names["offset"]], [shifted]),
            helper.make_node("Mul", [shifted, names["scale"]], list(node.output))]


def _attribute_to_float64(attribute: AttributeProto) -> None:
    if attribute.type == AttributeProto.TENSOR:
        _tensor_to_float64(attribute.t)
    elif attribute.type == AttributeProto.TENSORS:
        for tensor in attribute.tensors:
            _tensor_to_float64(tensor)
    elif attribute.type == AttributeProto.GRAPH:
        _graph_to_float64(attribute.g)
    elif attribute.type == AttributeProto.GRAPHS:
        for graph in attribute.graphs:
            _graph_to_float64(graph)
    elif (attribute.type == AttributeProto.INT and attribute.name in ("to", "dtype")
          and attribute.i == TensorProto.FLOAT):  # Cast, EyeLike, Random*
        attribute.i = TensorProto.DOUBLE


def _constant_to_tensor(node: onnx.NodeProto) -> None:
    """Constant's value_float(s) always make float32: state it as a double tensor."""
    for attribute in node.attribute:
        if attribute.name in ("value_float", "value_floats"):
            values = (np.float64(attribute.f) if attribute.name == "value_float"
                      else np.array(attribute.floats, np.float64))
            node.attribute.remove(attribute)
            node.attribute.append(helper.make_attribute("value",
                                                        numpy_helper.from_array(values)))
            return


def _tensor_to_float64(tensor: TensorProto) -> None:
    if tensor.data_type == TensorProto.FLOAT:
        values = numpy_helper.to_array(tensor).astype(np.float64)
        tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))


def _per_event(value: np.ndarray, n_events: int) -> np.ndarray:
    """An output as [n_events, width]; axes before the batch axis have size 1 (Y_h of a
    recurrent layer is [directions=1, batch, hidden])."""
    value = np.asarray(value, dtype=np.float64)
    if value.size % n_events:  # a damaged model, or the reference evaluator's Loop bug
        raise ReferenceRunError(f"the ONNX model gave an output of shape {list(value.shape)} "
                                f"for {n_events} events, so the conversion cannot be checked "
                                "here")
    return value.reshape(n_events, -1)


def _padded(values: np.ndarray, size: int, axis: int = 0) -> np.ndarray:
    missing = size - values.shape[axis]
    if missing == 0:
        return values
    shape = list(values.shape)
    shape[axis] = missing
    return np.concatenate([values, np.zeros(shape, dtype=values.dtype)], axis=axis)


def _declared_layouts(model: onnx.ModelProto) -> dict[str, tuple[int, int, int]]:
    """The axes of the sequence inputs the converter reorients, as a transpose of lwtnn's
    canonical [batch, time, features]: read directly as X by a recurrent node of layout 0
    ([time, batch, features]) or by a Conv ([batch, features, time])."""
    layouts = {}
    for node in model.graph.node:
        if node.op_type in ("LSTM", "GRU", "RNN") and not any(
                a.name == "layout" and a.i == 1 for a in node.attribute):
            layouts[node.input[0]] = TIME_MAJOR
        elif node.op_type == "Conv":
            layouts[node.input[0]] = CHANNELS_FIRST
    return layouts


def _events(values: np.ndarray, axis: int, start: int, size: int) -> np.ndarray:
    """Events start..start+size along ``axis``, padded with zero events to ``size``."""
    window = [slice(None)] * values.ndim
    window[axis] = slice(start, start + size)
    return _padded(values[tuple(window)], size, axis=axis)


def _dims(value: onnx.ValueInfoProto) -> tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else None
                 for d in value.type.tensor_type.shape.dim)


def _runner(model: onnx.ModelProto, names: list[str], shapes: dict[str, tuple],
            dtype: type, backends: Sequence[str]) -> tuple[str, Callable[[Feed], Feed]]:
    """The first runtime that loads the model and computes its float outputs in ``dtype``
    on a probe of zeros (some models load but fail at run time, and a runtime that computed
    another precision would not be the reference asked for)."""
    # symbolic dimensions get 8: enough steps for a 'valid' dilated conv1d
    probe = {n: np.zeros([d or 8 for d in s], dtype) for n, s in shapes.items()}
    precision = np.dtype(dtype).name
    failures = []
    for backend in backends:
        try:
            run = RUNTIMES[backend](model, names)
            produced = [np.asarray(v).dtype for v in run(probe).values()]
            if all(d == dtype for d in produced if np.issubdtype(d, np.floating)):
                return f"{backend} {precision}", run
            failures.append(f"{backend} does not compute it in {precision}")
        except Exception as exc:  # both runtimes raise many types
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            failures.append(f"{backend}: {first_line[:160]}")
    raise ReferenceRunError(f"no runtime here evaluates the ONNX model in {precision} "
                            f"({'; '.join(failures)})")


def _onnxruntime(model: onnx.ModelProto, names: list[str]) -> Callable[[Feed], Feed]:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures are reported by this module
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda feed: dict(zip(names, session.run(names, feed)))


def _evaluator(model: onnx.ModelProto, names: list[str]) -> Callable[[Feed], Feed]:
    from onnx.reference import ReferenceEvaluator
    evaluator = ReferenceEvaluator(model)
    return lambda feed: dict(zip(names, evaluator.run(names, feed)))


RUNTIMES = {"onnxruntime": _onnxruntime, "onnx.reference": _evaluator}
