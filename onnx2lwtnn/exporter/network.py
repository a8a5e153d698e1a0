"""An lwtnn document as one ONNX graph: inputs, nodes in order, outputs.

Graph format: one ONNX input per lwtnn input node (``[N, n_variables]``) and per
sequence input (``[N, T, n_variables]``, T symbolic: a batch shares one length, so
sequences of different lengths are run in separate batches), each named after its
node (``inputs/<name>`` and ``input_sequences/<name>`` where a vector and a sequence
input share a name), preprocessed as lwtnn's NanReplacer and then its ``(x + offset)
* scale`` do (``_preprocessed``); one ONNX output per lwtnn output (``[N, n_labels]``),
named after it. The sequential format has one input, ``inputs``, and one output,
``outputs``. Nodes are visited sources first with an explicit stack, so any depth
works.

Values are ``_Value``s: a tensor, its width, whether it is a sequence, and the
events lwtnn would refuse (a ``[N, 1]`` boolean, or None); vector outputs of refused
events are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from ..lwtnn.graph import node_sources, postorder
from ..lwtnn.validate import document_kind
from .builder import Builder
from .layers import SEQUENCE_LAYERS, VECTOR_LAYERS, Unexportable, _last_step

SEQUENTIAL_INPUT_NAME = "inputs"
SEQUENTIAL_OUTPUT_NAME = "outputs"


@dataclass(frozen=True)
class _Value:
    tensor: str
    width: int
    refused: Optional[str] = None
    last: Optional[str] = None  # a sequence node's last step, when its layer gives it


@dataclass
class Port:
    """A graph input or output: its ONNX name, lwtnn's names for its columns."""

    name: str
    columns: list[str]
    sequence: bool = False
    defaults: dict[str, float] = field(default_factory=dict)
    variables: list[Mapping[str, Any]] = field(default_factory=list)  # an input's, as read

    @classmethod
    def of_node(cls, name: str, node: Mapping[str, Any], sequence: bool = False) -> "Port":
        variables = node["variables"]
        return cls(name, [v["name"] for v in variables], sequence,
                   {v["name"]: v["default"] for v in variables if "default" in v},
                   list(variables))


@dataclass
class Exported:
    """What ``build`` made: ports and the builder holding the nodes."""

    builder: Builder
    inputs: list[Port]
    outputs: list[Port]


def build(doc: Mapping[str, Any], builder: Builder) -> Exported:
    """The ONNX nodes computing ``doc``; ``LayerError`` lists every layer that ONNX
    cannot express."""
    if document_kind(doc) == "sequential":
        return _sequential(doc, builder)
    return _graph(doc, builder)


class LayerError(Exception):
    """Layers ONNX cannot express: ``problems`` is a list of (layer, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{where}: {why}" for where, why in problems))


def _preprocessed(b: Builder, name: str, variables: list[Mapping[str, Any]],
                  defaults: Optional[Mapping[str, float]] = None) -> str:
    """An input as lwtnn feeds it to its first layer: cast to the graph's type if the
    boundary says so, NaN (and with replace='all' +-inf) replaced by each variable's
    default where it has one (``defaults``; None for a sequence, which has none), then
    ``(x + offset) * scale``."""
    offsets = np.array([v["offset"] for v in variables], dtype=np.float64)
    scales = np.array([v["scale"] for v in variables], dtype=np.float64)
    x = name
    if b.boundary.io_type is not None:
        x = b.op("Cast", [x], f"{name}/cast", to=b.elem_type)
    fill = np.array([(defaults or {}).get(v["name"], np.nan) for v in variables])
    if not np.isnan(fill).all():
        x = _replace_missing(b, x, fill, name)
    if offsets.any():
        x = b.op("Add", [x, b.const(offsets, f"{name}/offset")], f"{name}/offset")
    if not (scales == 1).all():
        x = b.op("Mul", [x, b.const(scales, f"{name}/scale")], f"{name}/scale")
    return x


def _replace_missing(b: Builder, x: str, fill: np.ndarray, hint: str) -> str:
    """lwtnn's NanReplacer in the graph: where a value is NaN (or, replacing 'all',
    also +-inf) and its variable has a default, the default."""
    missing = b.op("IsNaN", [x], f"{hint}/isnan")
    if b.boundary.replace == "all":
        missing = b.op("Or", [missing, b.op("IsInf", [x], f"{hint}/isinf")], f"{hint}/missing")
    has_default = b.const(~np.isnan(fill), f"{hint}/has_default", dtype=np.dtype(bool))
    swap = b.op("And", [missing, has_default], f"{hint}/swap")
    return b.op("Where", [swap, b.const(np.nan_to_num(fill), f"{hint}/defaults"), x],
                f"{hint}/defaulted")


def _output(b: Builder, source: str, target: str):
    """The graph output ``target``: ``source`` as it is, or cast to the boundary's type."""
    from onnx import helper
    if b.boundary.io_type is None:
        return helper.make_node("Identity", [source], [target], name=f"{target}/output")
    return helper.make_node("Cast", [source], [target], name=f"{target}/output",
                            to=helper.np_dtype_to_tensor_dtype(np.dtype(b.boundary.io_type)))


def _sequential(doc: Mapping[str, Any], b: Builder) -> Exported:
    name = b.reserve(SEQUENTIAL_INPUT_NAME)
    defaults = doc.get("defaults") or {v["name"]: v["default"] for v in doc["inputs"]
                                       if "default" in v}
    x = _preprocessed(b, name, doc["inputs"], defaults)
    width = len(doc["inputs"])
    problems = []
    for k, layer in enumerate(doc["layers"]):
        try:
            x, width = VECTOR_LAYERS[layer["architecture"]](b, layer, x, width, f"layer{k}")
        except Unexportable as exc:
            problems.append((f"layer {k} ({layer['architecture']})", str(exc)))
    if problems:
        raise LayerError(problems)
    out = b.reserve(SEQUENTIAL_OUTPUT_NAME)
    b.nodes.append(_output(b, x, out))
    return Exported(b, [Port(name, [v["name"] for v in doc["inputs"]], False, dict(defaults),
                             list(doc["inputs"]))],
                    [Port(out, list(doc["outputs"]))])


def _graph(doc: Mapping[str, Any], b: Builder) -> Exported:
    shared = ({n["name"] for n in doc["inputs"]}
              & {n["name"] for n in doc["input_sequences"]})
    ports = [Port.of_node(b.reserve(_input_name("inputs", n["name"], shared)), n)
             for n in doc["inputs"]]
    sequence_ports = [Port.of_node(b.reserve(_input_name("input_sequences", n["name"], shared)),
                                   n, sequence=True) for n in doc["input_sequences"]]
    walker = _Walker(doc, b, [p.name for p in ports], [p.name for p in sequence_ports])
    outputs = []
    for name, out in doc["outputs"].items():
        outputs.append(Port(b.reserve(name), list(out["labels"])))
    for index in _order(doc, [out["node_index"] for out in doc["outputs"].values()]):
        walker.visit(index)
    if walker.problems:
        raise LayerError(walker.problems)
    for port, out in zip(outputs, doc["outputs"].values()):
        value = walker.vector(out["node_index"])
        tensor = _nan_where_refused(b, value, port.name)
        b.nodes.append(_output(b, tensor, port.name))
    return Exported(b, ports + sequence_ports, outputs)


def _input_name(kind: str, name: str, shared: set[str]) -> str:
    """The node's name, or ``kind/name`` where a vector and a sequence input share it."""
    return f"{kind}/{name}" if name in shared else name


def _nan_where_refused(b: Builder, value: _Value, hint: str) -> str:
    if value.refused is None:
        return value.tensor
    return b.op("Where", [value.refused, b.const(np.nan), value.tensor], f"{hint}/refused")


def _order(doc: Mapping[str, Any], roots: list[int]) -> list[int]:
    """The nodes the outputs need, sources first, without recursion."""
    items = postorder([(r, None) for r in roots],
                      lambda item: [(s, None) for s in node_sources(doc["nodes"][item[0]])])
    return [index for index, _ in items]


class _Walker:
    """Turns each node into ONNX nodes once its sources are done."""

    def __init__(self, doc: Mapping[str, Any], b: Builder, inputs: list[str],
                 sequences: list[str]):
        self.doc = doc
        self.b = b
        self.inputs = inputs
        self.sequences = sequences
        self.values: dict[int, _Value] = {}
        self.vectors: dict[int, _Value] = {}
        self.problems: list[tuple[str, str]] = []

    def visit(self, index: int) -> None:
        node = self.doc["nodes"][index]
        if any(s not in self.values for s in node_sources(node)):
            return  # a source could not be exported: already reported
        try:
            self.values[index] = NODES[node["type"]](self, index, node)
        except Unexportable as exc:
            layer = node.get("layer_index")
            arch = self.doc["layers"][layer]["architecture"]
            self.problems.append((f"node {index} (layer {layer}, {arch})", str(exc)))

    def vector(self, index: int) -> _Value:
        """A node's value as a vector: a sequence node gives its last step."""
        value = self.values[index]
        if self.doc["nodes"][index]["type"] != "sequence":
            return value
        if index not in self.vectors:
            last = value.last or _last_step(self.b, value.tensor, value.width, f"node{index}")
            self.vectors[index] = _Value(last, value.width, value.refused)
        return self.vectors[index]

    def layer(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.doc["layers"][node["layer_index"]]


def _or(b: Builder, flags: list[Optional[str]], hint: str) -> Optional[str]:
    present = [f for f in flags if f is not None]
    result = present[0] if present else None
    for flag in present[1:]:
        result = b.op("Or", [result, flag], hint)
    return result


def _input(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    k = node["sources"][0]
    variables = w.doc["inputs"][k]["variables"]
    defaults = {v["name"]: v["default"] for v in variables if "default" in v}
    return _Value(_preprocessed(w.b, w.inputs[k], variables, defaults), node["size"])


def _input_sequence(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    k = node["sources"][0]
    return _Value(_preprocessed(w.b, w.sequences[k], w.doc["input_sequences"][k]["variables"]),
                  node["size"])


def _feed_forward(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    return _vector_layer(w, index, node, w.vector(node["sources"][0]))


def _time_distributed(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    return _vector_layer(w, index, node, w.values[node["sources"][0]])


def _vector_layer(w: _Walker, index: int, node: Mapping[str, Any], src: _Value) -> _Value:
    """A vector layer on a vector, or on every step of a sequence (the last axis)."""
    layer = w.layer(node)
    tensor, width = VECTOR_LAYERS[layer["architecture"]](w.b, layer, src.tensor, src.width,
                                                         f"node{index}")
    return _Value(tensor, width, src.refused)


def _sequence(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    src = w.values[node["sources"][0]]
    layer = w.layer(node)
    (tensor, last, refused), width = SEQUENCE_LAYERS[layer["architecture"]](
        w.b, layer, src.tensor, src.width, f"node{index}")
    return _Value(tensor, width, _or(w.b, [src.refused, refused], f"node{index}/refused"), last)


def _sum(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    src = w.values[node["sources"][0]]
    total = w.b.op("ReduceSum", [src.tensor, w.b.ints([1])], f"node{index}/sum", keepdims=0)
    return _Value(total, src.width, src.refused)


def _concatenate(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    parts = [w.vector(s) for s in node["sources"]]
    tensor = w.b.op("Concat", [p.tensor for p in parts], f"node{index}/concat", axis=1)
    return _Value(tensor, sum(p.width for p in parts),
                  _or(w.b, [p.refused for p in parts], f"node{index}/refused"))


def _add(w: _Walker, index: int, node: Mapping[str, Any]) -> _Value:
    parts = [w.vector(s) for s in node["sources"]]
    tensor = (parts[0].tensor if len(parts) == 1
              else w.b.op("Sum", [p.tensor for p in parts], f"node{index}/add"))
    return _Value(tensor, parts[0].width,
                  _or(w.b, [p.refused for p in parts], f"node{index}/refused"))


NODES = {
    "input": _input,
    "input_sequence": _input_sequence,
    "feed_forward": _feed_forward,
    "time_distributed": _time_distributed,
    "sequence": _sequence,
    "sum": _sum,
    "concatenate": _concatenate,
    "add": _add,
}
