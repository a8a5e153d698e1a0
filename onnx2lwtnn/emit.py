"""IR (after the passes) -> an lwtnn document, graph or sequential.

Weights are written as the float64 value of each number, so a weight read from a
float32 initializer parses back to exactly that float32 value; a value the passes
composed exactly is rounded to its nearest double (once, here or in ``rounding``). Identical layers (a weight
shared by several nodes) are written once and referenced by ``layer_index``.

Sequences: a rank-3 graph input is an ``input_sequences`` entry read by an
``input_sequence`` node; Dense and Normalization on a sequence are ``time_distributed``
nodes, Recurrent and Conv1d ``sequence`` nodes, SequenceSum a ``sum`` node. A LastStep
has no node of its own: its readers use the sequence node, which lwtnn then reads as a
vector (its last step).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .defaults import GRAPH, SEQUENTIAL
from .errors import ConversionError, Diagnostic
from .exact import as_floats
from .interface import Interface
from .ir import IRGraph, Port

NODE_TYPES = {"Dense": "feed_forward", "Normalization": "feed_forward",
              "Highway": "feed_forward",
              "Concatenate": "concatenate", "VectorSum": "add",
              "Recurrent": "sequence", "Conv1d": "sequence", "SequenceSum": "sum"}
LAYER_NODE_TYPES = ("feed_forward", "time_distributed", "sequence")
LAYER_KINDS = ("Dense", "Normalization", "Highway", "Recurrent", "Conv1d")


def emit(ir: IRGraph, interface: Interface, fmt: str = GRAPH) -> dict[str, Any]:
    if fmt == SEQUENTIAL:
        return _sequential(ir, interface)
    return _graph(ir, interface)


def _graph(ir: IRGraph, interface: Interface) -> dict[str, Any]:
    layers = _LayerTable()
    nodes: list[dict] = []
    index: dict[str, int] = {}
    vectors = [node for node in ir.inputs if not is_sequence(ir, node)]
    sequences = [node for node in ir.inputs if is_sequence(ir, node)]
    for kind, group in (("input", vectors), ("input_sequence", sequences)):
        for position, node in enumerate(group):
            index[node] = len(nodes)
            nodes.append({"type": kind, "sources": [position], "size": width(ir, node)})
    for node in ir.nodes(*NODE_TYPES, "LastStep"):
        if ir.op(node) == "LastStep":  # the sequence node, read as a vector
            index[node] = index[ir.operand(node, 0).node]
            continue
        entry = {"type": _node_type(ir, node),
                 "sources": [index[port.node] for port in ir.inputs_of(node)]}
        if entry["type"] in LAYER_NODE_TYPES:
            entry["layer_index"] = layers.index(ir, node)
        index[node] = len(nodes)
        nodes.append(entry)
    outputs = {}
    for node in ir.outputs:
        name = ir.attrs(node)["name"]
        source = ir.operand(node, 0).node
        outputs[interface.output_name(name)] = {"node_index": index[source],
                         "labels": interface.labels(name, ir.features(Port(source)))}
    return {"inputs": [_input_node(ir, node, interface) for node in vectors],
            "input_sequences": [_input_node(ir, node, interface) for node in sequences],
            "nodes": nodes, "layers": layers.layers, "outputs": outputs}


def is_sequence(ir: IRGraph, node: str) -> bool:
    """Whether a node's output is a [batch, time, features] sequence."""
    shape = ir[node]["shapes"][0]
    return shape is not None and len(shape) == 3


def width(ir: IRGraph, node: str) -> int:
    return ir[node]["shapes"][0][-1]


def _node_type(ir: IRGraph, node: str) -> str:
    kind = NODE_TYPES[ir.op(node)]
    return "time_distributed" if kind == "feed_forward" and is_sequence(ir, node) else kind


def _sequential(ir: IRGraph, interface: Interface) -> dict[str, Any]:
    chain = _single_chain(ir)
    (input_node,), (output_node,) = ir.inputs, ir.outputs
    variables = _input_node(ir, input_node, interface)["variables"]
    return {"inputs": variables, "layers": [layer_json(ir, node) for node in chain],
            "outputs": interface.labels(ir.attrs(output_node)["name"],
                                        ir.features(ir.operand(output_node, 0))),
            "defaults": {v["name"]: v["default"] for v in variables if "default" in v},
            "miscellaneous": dict(interface.miscellaneous)}


def _single_chain(ir: IRGraph) -> list[str]:
    """The layers of a network that is one input -> layer -> ... -> one output chain."""
    problem = None
    if len(ir.inputs) != 1 or len(ir.outputs) != 1:
        problem = (f"it has {len(ir.inputs)} inputs and {len(ir.outputs)} outputs; "
                   "the sequential format takes one of each")
    chain = ir.nodes(*NODE_TYPES)
    merges = [n for n in chain if ir.op(n) in ("Concatenate", "VectorSum")]
    if problem is None and merges:
        problem = f"node '{ir[merges[0]]['label']}' merges branches"
    if problem is None and any(len(ir.consumers(Port(n))) != 1 for n in [*ir.inputs, *chain]):
        problem = "a tensor is read by more than one layer"
    if problem is None and any(is_sequence(ir, n) for n in [*ir.inputs, *chain]):
        problem = "it reads a sequence; the sequential format takes one vector input"
    if problem:
        raise ConversionError([Diagnostic("<graph>", "Graph", problem,
                                          "use the default graph format")],
                              "the network is not a single chain, so the sequential "
                              "format cannot hold it")
    return chain


def _input_node(ir: IRGraph, node: str, interface: Interface) -> dict[str, Any]:
    attrs = ir.attrs(node)
    size = width(ir, node)
    offsets = as_floats(attrs["offset"]) if "offset" in attrs else np.zeros(size)
    scales = as_floats(attrs["scale"]) if "scale" in attrs else np.ones(size)
    variables = []
    specs = interface.variables(attrs["name"], size, sequence=is_sequence(ir, node))
    for spec, offset, scale in zip(specs, offsets, scales):
        variable = {"name": spec.name, "offset": float(offset), "scale": float(scale)}
        if spec.default is not None:
            variable["default"] = spec.default
        variables.append(variable)
    return {"name": attrs["name"], "variables": variables}


def layer_json(ir: IRGraph, node: str) -> dict[str, Any]:
    """The lwtnn layer object of a layer node."""
    attrs = ir.attrs(node)
    if ir.op(node) == "Highway":
        return {"architecture": "highway", "activation": attrs["activation"],
                "components": {
                    "t": {"weights": _numbers(attrs["t_weights"]),
                          "bias": _numbers(attrs["t_bias"])},
                    "carry": {"weights": _numbers(attrs["carry_weights"]),
                              "bias": _numbers(attrs["carry_bias"])}}}
    if ir.op(node) == "Recurrent":
        return _recurrent_layer(attrs)
    if ir.op(node) == "Conv1d":
        return {"architecture": "conv1d", "weights": _numbers(attrs["weights"]),
                "bias": _numbers(attrs["bias"]), "dilation_rate": attrs["dilation"],
                "padding": attrs["padding"], "activation": attrs["activation"]}
    layer = {"architecture": "dense" if ir.op(node) == "Dense" else "normalization",
             "weights": _numbers(attrs["weights"]), "bias": _numbers(attrs["bias"])}
    if ir.op(node) == "Dense":
        layer["activation"] = attrs["activation"]
    return layer


def _recurrent_layer(attrs: dict) -> dict[str, Any]:
    """lstm, gru or simplernn: one {weights, U, bias} per gate (simplernn has no inner)."""
    layer = {"architecture": attrs["architecture"], "activation": attrs["activation"],
             "components": {gate: {key: _numbers(part[key]) for key in ("weights", "U", "bias")}
                            for gate, part in attrs["components"].items()}}
    if attrs["inner_activation"] is not None:
        layer["inner_activation"] = attrs["inner_activation"]
    return layer


def _numbers(values: Any) -> list[float]:
    """A flat row-major list of float64 values, as lwtnn reads weight arrays (an exact
    value rounded, once, here)."""
    return as_floats(values).ravel().tolist()


class _LayerTable:
    """Layers in order of first use; an identical layer is stored once."""

    def __init__(self) -> None:
        self.layers: list[dict] = []
        self._seen: dict[tuple, int] = {}

    def index(self, ir: IRGraph, node: str) -> int:
        attrs = ir.attrs(node)
        # lwtnn builds a layer once, for the input width of its first node: the width is
        # part of what makes two layers the same (an activation-only layer has no weights).
        width = ir.shape(ir.operand(node, 0))[-1]
        if ir.op(node) in ("Recurrent", "Conv1d", "Highway"):  # the JSON holds every value
            layer = layer_json(ir, node)
            key = (ir.op(node), width, json.dumps(layer, sort_keys=True))
        else:
            layer = None
            key = (ir.op(node), width, repr(attrs.get("activation")),
                   np.shape(attrs["weights"]), as_floats(attrs["weights"]).tobytes(),
                   as_floats(attrs["bias"]).tobytes())
        if key not in self._seen:
            self._seen[key] = len(self.layers)
            self.layers.append(layer or layer_json(ir, node))
        return self._seen[key]
