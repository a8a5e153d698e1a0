"""IR (after the passes) -> an lwtnn document, graph or sequential.

Weights are written as the float64 value of each number, so a weight read from a
float32 initializer parses back to exactly that float32 value. Identical layers (a weight
shared by several nodes) are written once and referenced by ``layer_index``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConversionError, Diagnostic
from .interface import Interface
from .ir import IRGraph, Port

GRAPH, SEQUENTIAL = "graph", "sequential"
FORMATS = (GRAPH, SEQUENTIAL)
NODE_TYPES = {"Dense": "feed_forward", "Normalization": "feed_forward",
              "Concatenate": "concatenate", "VectorSum": "add"}


def emit(ir: IRGraph, interface: Interface, fmt: str = GRAPH) -> dict[str, Any]:
    if fmt == SEQUENTIAL:
        return _sequential(ir, interface)
    return _graph(ir, interface)


def _graph(ir: IRGraph, interface: Interface) -> dict[str, Any]:
    layers = _LayerTable()
    nodes: list[dict] = []
    index: dict[str, int] = {}
    for position, node in enumerate(ir.inputs):
        index[node] = len(nodes)
        nodes.append({"type": "input", "sources": [position], "size": ir.features(Port(node))})
    for node in ir.nodes(*NODE_TYPES):
        entry = {"type": NODE_TYPES[ir.op(node)],
                 "sources": [index[port.node] for port in ir.inputs_of(node)]}
        if entry["type"] == "feed_forward":
            entry["layer_index"] = layers.index(ir, node)
        index[node] = len(nodes)
        nodes.append(entry)
    outputs = {}
    for node in ir.outputs:
        name = ir.attrs(node)["name"]
        source = ir.operand(node, 0).node
        outputs[name] = {"node_index": index[source],
                         "labels": interface.labels(name, ir.features(Port(source)))}
    return {"inputs": [_input_node(ir, node, interface) for node in ir.inputs],
            "input_sequences": [], "nodes": nodes, "layers": layers.layers,
            "outputs": outputs}


def _sequential(ir: IRGraph, interface: Interface) -> dict[str, Any]:
    chain = _single_chain(ir)
    (input_node,), (output_node,) = ir.inputs, ir.outputs
    variables = _input_node(ir, input_node, interface)["variables"]
    return {"inputs": variables, "layers": [_layer(ir, node) for node in chain],
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
    if problem:
        raise ConversionError([Diagnostic("<graph>", "Graph", problem,
                                          "use the default graph format")],
                              "the network is not a single chain, so the sequential "
                              "format cannot hold it")
    return chain


def _input_node(ir: IRGraph, node: str, interface: Interface) -> dict[str, Any]:
    attrs = ir.attrs(node)
    width = ir.features(Port(node))
    offsets = attrs.get("offset", np.zeros(width))
    scales = attrs.get("scale", np.ones(width))
    variables = []
    for spec, offset, scale in zip(interface.variables(attrs["name"], width), offsets, scales):
        variable = {"name": spec.name, "offset": float(offset), "scale": float(scale)}
        if spec.default is not None:
            variable["default"] = spec.default
        variables.append(variable)
    return {"name": attrs["name"], "variables": variables}


def _layer(ir: IRGraph, node: str) -> dict[str, Any]:
    attrs = ir.attrs(node)
    layer = {"architecture": "dense" if ir.op(node) == "Dense" else "normalization",
             "weights": np.asarray(attrs["weights"], dtype=np.float64).ravel().tolist(),
             "bias": np.asarray(attrs["bias"], dtype=np.float64).ravel().tolist()}
    if ir.op(node) == "Dense":
        layer["activation"] = attrs["activation"]
    return layer


class _LayerTable:
    """Layers in order of first use; an identical layer is stored once."""

    def __init__(self) -> None:
        self.layers: list[dict] = []
        self._seen: dict[tuple, int] = {}

    def index(self, ir: IRGraph, node: str) -> int:
        attrs = ir.attrs(node)
        key = (ir.op(node), repr(attrs.get("activation")), np.shape(attrs["weights"]),
               np.asarray(attrs["weights"], dtype=np.float64).tobytes(),
               np.asarray(attrs["bias"], dtype=np.float64).tobytes())
        if key not in self._seen:
            self._seen[key] = len(self.layers)
            self.layers.append(_layer(ir, node))
        return self._seen[key]
