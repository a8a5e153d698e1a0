"""The intermediate representation every pass reads and rewrites.

A ``networkx.MultiDiGraph`` with one node per operation. Edges run from producer to
consumer; an edge's key is the consumer's input slot and its ``port`` attribute the
producer's output index, so multi-output ops (Dropout, LSTM) and repeated operands
(``Mul(x, x)``) are both exact. Node data:

- ``op``: the ONNX op type, or one of the IR's own kinds: ``Input``, ``Output``,
  ``Const`` (``value``: a numpy array) and the lwtnn-level kinds in ``LWTNN_KINDS``.
- ``domain``, ``attrs`` (ONNX attributes as Python values, tensors as numpy arrays).
- ``shapes``: one tuple per output (ints for known dims, a string or None otherwise).
- ``label``: the name shown to the user in diagnostics (the ONNX node name).
- ``refusal``: set by a pass that recognised the node but cannot express it.

Passes never see the ONNX protobuf; this module is the only bridge.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import networkx as nx
import numpy as np

Shape = Optional[tuple]
FLOAT = 1  # onnx.TensorProto.FLOAT; the IR's own nodes compute in float
FLOAT_TYPES = frozenset({0, 1, 10, 11, 16})  # unknown, FLOAT, FLOAT16, DOUBLE, BFLOAT16

# Node kinds that the emitter turns into lwtnn nodes and layers.
LWTNN_KINDS = frozenset({
    "Dense",          # attrs: weights [n_out, n_in], bias [n_out], activation
    "Normalization",  # attrs: weights [n], bias [n]; computes (x + bias) * weights
    "Concatenate",    # vectors, in slot order
    "VectorSum",      # element-wise sum of equal-size vectors (lwtnn "add")
    "Highway",        # attrs: t_weights, t_bias, carry_weights, carry_bias [n, n] / [n],
                      # activation: c * act(W_t x + b_t) + (1 - c) * x, c = sigmoid(W_c x + b_c)
    # Sequences are [batch, time, features] ("canonical"): an Input of rank 3, and every
    # kind here that reads one. Dense and Normalization on a sequence are applied per time
    # step (lwtnn "time_distributed").
    "Recurrent",      # attrs: architecture (lstm, gru, simplernn), components {name: {weights
                      # [n_out, n_in], U [n_out, n_out], bias [n_out]}}, activation,
                      # inner_activation; sequence in, sequence out (lwtnn "sequence")
    "Conv1d",         # attrs: weights [n_out, n_in, kernel], bias, dilation, padding,
                      # activation; sequence in, sequence out (lwtnn "sequence")
    "SequenceSum",    # sequence in, the sum over its time steps out (lwtnn "sum")
    "LastStep",       # a Recurrent or Conv1d sequence used as a vector: its last time step
                      # (no lwtnn node of its own: lwtnn's sequence node used as a vector)
})
# Intermediate kinds that passes create and later passes lower to LWTNN_KINDS.
INTERMEDIATE_KINDS = frozenset({
    "Activation",     # attrs: activation (an lwtnn activation spec)
    "Affine",         # attrs: scale [n], shift [n]; computes x * scale + shift
    "Select",         # attrs: indices; picks feature columns
})


@dataclass(frozen=True)
class Port:
    """One output of one node: what ONNX calls a tensor."""

    node: str
    index: int = 0


class IRGraph:
    """A small façade over the MultiDiGraph with the queries passes need."""

    def __init__(self, opset: int):
        self.g = nx.MultiDiGraph()
        self.opset = opset
        self.inputs: list[str] = []    # Input node ids, in ONNX graph-input order
        self.outputs: list[str] = []   # Output node ids, in ONNX graph-output order
        self.warnings: list[str] = []  # exact rewrites the user should still know about
        # A subgraph's Input nodes for the enclosing graphs' tensors it reads, by name.
        self.outer: dict[str, str] = {}
        self._ids = itertools.count()
        # node -> {slot: producer}: finds the edge feeding a slot without scanning the
        # node's other operands (a Sum of 50,000 inputs); kept by connect and remove.
        self._sources: dict[str, dict[int, str]] = {}
        self._order: Optional[list[str]] = None  # topological order until the next change
        # told of every node about to be removed, and of every node added (``trace``
        # keeps what each removed node was, and which new node took its place)
        self.on_remove: Optional[Callable[[str], None]] = None
        self.on_add: Optional[Callable[[str], None]] = None

    def copy(self) -> "IRGraph":
        """A copy whose nodes and edges can be changed apart from this graph's; node data
        (attributes, constants) is shared, so neither may change it in place."""
        other = IRGraph(self.opset)
        other.g = self.g.copy()
        other.inputs, other.outputs = list(self.inputs), list(self.outputs)
        other.warnings = list(self.warnings)
        other._sources = {node: dict(slots) for node, slots in self._sources.items()}
        return other

    # -- building -----------------------------------------------------------------
    def new_id(self, hint: str) -> str:
        base = hint or "node"
        node_id = base
        while node_id in self.g:
            node_id = f"{base}#{next(self._ids)}"
        return node_id

    def add(self, op: str, inputs: list[Optional[Port]] = (), *, attrs: dict | None = None,
            shapes: list[Shape] | None = None, label: str = "", domain: str = "",
            **data: Any) -> str:
        node = self.new_id(label or op)
        self.g.add_node(node, op=op, domain=domain, attrs=dict(attrs or {}),
                        shapes=list(shapes or [None]), label=label or node, refusal=None, **data)
        self._sources[node] = {}
        self._order = None
        if self.on_add is not None:
            self.on_add(node)
        for slot, src in enumerate(inputs):
            if src is not None:
                self.connect(src, node, slot)
        return node

    def add_const(self, value: np.ndarray, label: str = "const") -> Port:
        value = np.asarray(value)
        return Port(self.add("Const", label=label, value=value, shapes=[tuple(value.shape)]))

    def disconnect(self, node: str, slot: int) -> None:
        """Make an operand absent (an omitted optional ONNX input)."""
        pred = self._sources[node].pop(slot, None)
        if pred is not None:
            self.g.remove_edge(pred, node, key=slot)
            self._order = None

    def connect(self, src: Port, node: str, slot: int) -> None:
        """Feed ``src`` into the node's ``slot``, replacing what fed it; costs the same
        however many operands the node has."""
        self.disconnect(node, slot)
        self.g.add_edge(src.node, node, key=slot, port=src.index)
        self._sources[node][slot] = src.node
        self._order = None

    # -- queries ------------------------------------------------------------------
    def __getitem__(self, node: str) -> dict:
        return self.g.nodes[node]

    def __contains__(self, node: str) -> bool:
        return node in self.g

    def op(self, node: str) -> str:
        return self.g.nodes[node]["op"]

    def attrs(self, node: str) -> dict:
        return self.g.nodes[node]["attrs"]

    def nodes(self, *ops: str) -> list[str]:
        """Node ids in topological order, optionally only those of the given ops. The
        order is kept until the graph changes: passes that match nothing cost no sort."""
        if self._order is None:
            self._order = list(nx.topological_sort(self.g))
        if not ops:
            return list(self._order)
        data = self.g._node  # networkx's own dict: its NodeView costs more than the sort
        return [n for n in self._order if data[n]["op"] in ops]

    def inputs_of(self, node: str) -> list[Optional[Port]]:
        """The node's operands by slot; None for an absent optional input."""
        sources, edges = self._sources[node], self.g._pred[node]
        return [Port(sources[slot], edges[sources[slot]][slot]["port"]) if slot in sources
                else None for slot in range(max(sources, default=-1) + 1)]

    def operand(self, node: str, slot: int) -> Optional[Port]:
        operands = self.inputs_of(node)
        return operands[slot] if slot < len(operands) else None

    def const_value(self, port: Optional[Port]) -> Optional[np.ndarray]:
        """The value of a constant tensor, or None when it is computed at run time."""
        if port is None or self.g.nodes[port.node]["op"] != "Const":
            return None
        return self.g.nodes[port.node]["value"]

    def consumers(self, port: Port) -> list[tuple[str, int]]:
        return [(dst, key) for _, dst, key, data in self.g.out_edges(port.node, keys=True, data=True)
                if data["port"] == port.index]

    def sole_consumer(self, port: Port) -> Optional[str]:
        """The one node reading this tensor, if exactly one node reads it once."""
        users = self.consumers(port)
        if len(users) == 1 and self.op(users[0][0]) != "Output":
            return users[0][0]
        return None

    def shape(self, port: Port) -> Shape:
        shapes = self.g.nodes[port.node]["shapes"]
        return shapes[port.index] if port.index < len(shapes) else None

    def is_float(self, port: Port) -> bool:
        """Whether a tensor holds floating-point values (lwtnn computes only those)."""
        data = self.g.nodes[port.node]
        if data["op"] == "Const":
            return data["value"].dtype.kind == "f"
        dtypes = data.get("dtypes") or [data["attrs"].get("dtype", FLOAT)]
        return dtypes[port.index] in FLOAT_TYPES if port.index < len(dtypes) else False

    def features(self, port: Port) -> Optional[int]:
        """Width of a [batch, features] or [features] tensor, when known."""
        shape = self.shape(port)
        if shape is None or len(shape) not in (1, 2) or not isinstance(shape[-1], int):
            return None
        return shape[-1]

    # -- rewriting ----------------------------------------------------------------
    def redirect(self, old: Port, new: Port) -> None:
        """Make every reader of ``old`` read ``new`` instead."""
        for dst, slot in self.consumers(old):
            self.connect(new, dst, slot)

    def replace(self, node: str, new: Port) -> None:
        """Replace a single-output node by another tensor and drop it."""
        self.redirect(Port(node, 0), new)
        self.remove(node)

    def remove(self, node: str) -> None:
        if self.on_remove is not None:
            self.on_remove(node)
        for _, dst, slot in self.g.out_edges(node, keys=True):
            self._sources[dst].pop(slot, None)
        del self._sources[node]
        self.g.remove_node(node)
        self._order = None

    def refuse(self, node: str, reason: str) -> None:
        """Record why a recognised node cannot be expressed (reported at the end)."""
        self.g.nodes[node]["refusal"] = reason

    def iter_ops(self) -> Iterator[tuple[str, dict]]:
        for node in self.nodes():
            yield node, self.g.nodes[node]
