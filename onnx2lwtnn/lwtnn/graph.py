"""The graph format (lwtnn's ``LightweightGraph``), evaluated a batch at a time.

Nodes are built in the order lwtnn's ``Graph::build_node`` builds them, sources
first (so a node may name a later node as its source; cycles were rejected by
validation), each layer compiled once per kind of use for the input width of the
first node that uses it. lwtnn recurses for this; here an explicit stack does it, and
evaluation follows a precomputed order, so the depth of a graph is never limited by
Python's recursion limit.

Values flow between nodes as whole batches: a vector is an array
(n_events, size); a sequence is a list of equal-length groups
(event indices, array (n_events_in_group, n_steps, size)). A ``sequence`` node
used as a vector gives its last step (zeros for an empty sequence), ``sum`` adds
the steps up. Events a layer refuses drop out of their group; they are tracked
per value so that each output knows which of its events lwtnn would throw for,
and their vector rows are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from .layers import (SEQUENCE_LAYERS, VECTOR_LAYERS, Recurrent, Refusal, SequenceLayer,
                     VectorLayer)
from .network import InputSpec, Network, SequenceBatch


VECTOR, SEQUENCE = "vector", "sequence"


@dataclass(frozen=True)
class _Vector:
    data: np.ndarray      # (n_events, size), NaN rows for refused events
    refused: np.ndarray   # (n_events,) bool


@dataclass(frozen=True)
class _Sequence:
    groups: list[tuple[np.ndarray, np.ndarray]]   # accepted events only
    refused: np.ndarray
    padded: Optional[tuple[np.ndarray, np.ndarray]] = None  # see SequenceBatch


class _Context:
    """One evaluation: the preprocessed inputs, values computed so far, refusals.

    Values are computed in a precomputed order (``_schedule``), sources first, so a
    node's ``vector``/``sequence`` only reads values that already exist: no recursion,
    however deep the graph.
    """

    def __init__(self, nodes: list["_Node"], n_events: int,
                 vectors: Mapping[str, np.ndarray], sequences: Mapping[str, SequenceBatch]):
        self.nodes = nodes
        self.n_events = n_events
        self.inputs = vectors
        self.input_sequences = sequences
        self.reasons: dict[int, str] = {}
        self._vectors: dict[int, _Vector] = {}
        self._sequences: dict[int, _Sequence] = {}

    def compute(self, schedule: list[tuple[int, str]]) -> None:
        for index, kind in schedule:
            if kind == VECTOR:
                self._vectors[index] = self.nodes[index].vector(self)
            else:
                self._sequences[index] = self.nodes[index].sequence(self)

    def vector(self, index: int) -> _Vector:
        return self._vectors[index]

    def sequence(self, index: int) -> _Sequence:
        return self._sequences[index]

    def no_refusals(self) -> np.ndarray:
        return np.zeros(self.n_events, dtype=bool)

    def collapse(self, seq: _Sequence, size: int,
                 per_group: Callable[[np.ndarray], np.ndarray]) -> _Vector:
        """A vector from a sequence, ``per_group`` mapping [n, steps, size] to [n, size]."""
        data = np.zeros((self.n_events, size))
        for idx, group in seq.groups:
            data[idx] = per_group(group)
        data[seq.refused] = np.nan
        return _Vector(data, seq.refused)


@dataclass(frozen=True)
class _Input:
    name: str
    size: int
    sources: tuple[int, ...] = ()

    def vector(self, ctx: _Context) -> _Vector:
        return _Vector(ctx.inputs[self.name], ctx.no_refusals())


@dataclass(frozen=True)
class _InputSequence:
    name: str
    size: int
    sources: tuple[int, ...] = ()

    def sequence(self, ctx: _Context) -> _Sequence:
        batch = ctx.input_sequences[self.name]
        return _Sequence(batch.groups, ctx.no_refusals(), batch.padded)


@dataclass(frozen=True)
class _FeedForward:
    sources: tuple[int, ...]
    layer: VectorLayer
    size: int

    def vector(self, ctx: _Context) -> _Vector:
        src = ctx.vector(self.sources[0])
        return _Vector(self.layer(src.data), src.refused)


@dataclass(frozen=True)
class _TimeDistributed:
    sources: tuple[int, ...]
    layer: VectorLayer
    size: int

    def sequence(self, ctx: _Context) -> _Sequence:
        src = ctx.sequence(self.sources[0])
        return _Sequence([(idx, self.layer(group)) for idx, group in src.groups], src.refused)


@dataclass(frozen=True)
class _SequenceNode:
    index: int
    sources: tuple[int, ...]
    layer: SequenceLayer
    size: int

    def sequence(self, ctx: _Context) -> _Sequence:
        src = ctx.sequence(self.sources[0])
        if isinstance(self.layer, Recurrent):  # never refuses; all lengths in one scan
            if src.padded is not None:
                x, lengths = src.padded
                batch = SequenceBatch.from_padded(self.layer.scan_padded(x, lengths), lengths)
                return _Sequence(batch.groups, src.refused, batch.padded)
            scanned = self.layer.scan_groups([group for _, group in src.groups])
            return _Sequence([(idx, out) for (idx, _), out in zip(src.groups, scanned)],
                             src.refused)
        refused = src.refused.copy()
        groups = []
        for idx, group in src.groups:
            while len(idx):
                try:
                    groups.append((idx, self.layer.scan(group)))
                    break
                except Refusal as refusal:
                    for event in idx[refusal.rows]:
                        ctx.reasons.setdefault(int(event), f"node {self.index}: {refusal.reason}")
                    refused[idx[refusal.rows]] = True
                    idx, group = idx[~refusal.rows], group[~refusal.rows]
        return _Sequence(groups, refused)

    def vector(self, ctx: _Context) -> _Vector:
        def last_step(group: np.ndarray) -> np.ndarray:
            return group[:, -1] if group.shape[1] else np.zeros((len(group), self.size))
        return ctx.collapse(ctx.sequence(self.index), self.size, last_step)


@dataclass(frozen=True)
class _Sum:
    sources: tuple[int, ...]
    size: int

    def vector(self, ctx: _Context) -> _Vector:
        return ctx.collapse(ctx.sequence(self.sources[0]), self.size,
                            lambda group: group.sum(axis=1))


@dataclass(frozen=True)
class _Concatenate:
    sources: tuple[int, ...]
    size: int

    def vector(self, ctx: _Context) -> _Vector:
        parts = [ctx.vector(s) for s in self.sources]
        data = np.concatenate([p.data for p in parts] + [np.zeros((ctx.n_events, 0))], axis=1)
        return _Vector(data, reduce(np.logical_or, [p.refused for p in parts], ctx.no_refusals()))


@dataclass(frozen=True)
class _Add:
    sources: tuple[int, ...]
    size: int

    def vector(self, ctx: _Context) -> _Vector:
        parts = [ctx.vector(s) for s in self.sources]
        data = reduce(np.add, [p.data for p in parts], np.zeros((ctx.n_events, self.size)))
        return _Vector(data, reduce(np.logical_or, [p.refused for p in parts], ctx.no_refusals()))


_Node = Union[_Input, _InputSequence, _FeedForward, _TimeDistributed, _SequenceNode,
              _Sum, _Concatenate, _Add]


class _Builder:
    """Builds nodes sources-first, sharing compiled layers like lwtnn's stack maps."""

    def __init__(self, doc: Mapping[str, Any]):
        self.doc = doc
        self.nodes: list[Any] = [None] * len(doc["nodes"])
        self.vector_layers: dict[int, VectorLayer] = {}
        self.sequence_layers: dict[int, SequenceLayer] = {}

    def build(self) -> list[_Node]:
        """Every node, sources first in lwtnn's order (``Graph::build_node`` for nodes
        0, 1, ... each after its sources), without recursion."""
        specs = self.doc["nodes"]
        for index, _ in postorder([(i, None) for i in range(len(specs))],
                                   lambda item: [(s, None) for s in node_sources(specs[item[0]])]):
            self.nodes[index] = NODE_TYPES[specs[index]["type"]](self, index, specs[index])
        return self.nodes

    def vector_layer(self, layer_index: int, n_in: int) -> VectorLayer:
        if layer_index not in self.vector_layers:
            layer = self.doc["layers"][layer_index]
            self.vector_layers[layer_index] = VECTOR_LAYERS[layer["architecture"]](layer, n_in)
        return self.vector_layers[layer_index]

    def sequence_layer(self, layer_index: int, n_in: int) -> SequenceLayer:
        if layer_index not in self.sequence_layers:
            layer = self.doc["layers"][layer_index]
            self.sequence_layers[layer_index] = SEQUENCE_LAYERS[layer["architecture"]](layer, n_in)
        return self.sequence_layers[layer_index]

    def sizes(self, spec: Mapping[str, Any]) -> list[int]:
        return [self.nodes[s].size for s in spec["sources"]]


def node_sources(spec: Mapping[str, Any]) -> list[int]:
    """The nodes a node reads (an input node's sources index ``inputs``, not nodes)."""
    return [] if spec["type"] in ("input", "input_sequence") else spec["sources"]


def _input(b: _Builder, index: int, spec: Mapping[str, Any]) -> _Input:
    return _Input(b.doc["inputs"][spec["sources"][0]]["name"], spec["size"])


def _input_sequence(b: _Builder, index: int, spec: Mapping[str, Any]) -> _InputSequence:
    return _InputSequence(b.doc["input_sequences"][spec["sources"][0]]["name"], spec["size"])


def _feed_forward(b: _Builder, index: int, spec: Mapping[str, Any]) -> _FeedForward:
    layer = b.vector_layer(spec["layer_index"], b.sizes(spec)[0])
    return _FeedForward(tuple(spec["sources"]), layer, layer.n_out)


def _time_distributed(b: _Builder, index: int, spec: Mapping[str, Any]) -> _TimeDistributed:
    layer = b.vector_layer(spec["layer_index"], b.sizes(spec)[0])
    return _TimeDistributed(tuple(spec["sources"]), layer, layer.n_out)


def _sequence(b: _Builder, index: int, spec: Mapping[str, Any]) -> _SequenceNode:
    layer = b.sequence_layer(spec["layer_index"], b.sizes(spec)[0])
    return _SequenceNode(index, tuple(spec["sources"]), layer, layer.n_out)


def _sum(b: _Builder, index: int, spec: Mapping[str, Any]) -> _Sum:
    return _Sum(tuple(spec["sources"]), b.sizes(spec)[0])


def _concatenate(b: _Builder, index: int, spec: Mapping[str, Any]) -> _Concatenate:
    return _Concatenate(tuple(spec["sources"]), sum(b.sizes(spec)))


def _add(b: _Builder, index: int, spec: Mapping[str, Any]) -> _Add:
    return _Add(tuple(spec["sources"]), b.sizes(spec)[0])


NODE_TYPES: dict[str, Callable[[_Builder, int, Mapping[str, Any]], _Node]] = {
    "input": _input,
    "input_sequence": _input_sequence,
    "feed_forward": _feed_forward,
    "time_distributed": _time_distributed,
    "sequence": _sequence,
    "sum": _sum,
    "concatenate": _concatenate,
    "add": _add,
}


def _input_specs(nodes: list[Mapping[str, Any]]) -> list[InputSpec]:
    return [InputSpec.from_json(
        node["name"], node["variables"],
        {v["name"]: v["default"] for v in node["variables"] if "default" in v})
        for node in nodes]


class GraphNetwork(Network):
    """An lwtnn graph-format network (``LightweightGraph``) from a validated document.

    Outputs pointing at a ``sequence`` node give its last time step, as lwtnn's
    ``compute`` does.
    """

    kind = "graph"

    def __init__(self, doc: Mapping[str, Any]):
        self._nodes = _Builder(doc).build()
        self._outputs = {name: out["node_index"] for name, out in doc["outputs"].items()}
        self._schedule = postorder([(i, VECTOR) for i in self._outputs.values()],
                                    lambda item: _requires(self._nodes[item[0]], item[1]))
        reached = self._upstream(self._outputs.values())
        super().__init__(
            inputs=_input_specs(doc["inputs"]),
            sequences=_input_specs(doc["input_sequences"]),
            output_labels={name: out["labels"] for name, out in doc["outputs"].items()},
            required_inputs=list(dict.fromkeys(
                n.name for n in reached if isinstance(n, _Input))),
            required_sequences=list(dict.fromkeys(
                n.name for n in reached if isinstance(n, _InputSequence))),
        )

    def _upstream(self, indices: Any) -> list[_Node]:
        """The nodes the given nodes depend on (themselves included), in index order."""
        seen: set[int] = set()
        stack = list(indices)
        while stack:
            index = stack.pop()
            if index not in seen:
                seen.add(index)
                stack.extend(self._nodes[index].sources)
        return [self._nodes[i] for i in sorted(seen)]

    def _run(self, n_events: int, vectors: dict[str, np.ndarray],
             sequences: dict[str, SequenceBatch]
             ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        ctx = _Context(self._nodes, n_events, vectors, sequences)
        ctx.compute(self._schedule)
        results = {name: ctx.vector(index) for name, index in self._outputs.items()}
        refused = reduce(np.logical_or, [r.refused for r in results.values()],
                         ctx.no_refusals())
        reasons = {int(e): ctx.reasons[int(e)] for e in np.flatnonzero(refused)}
        return {name: _nan_rows(r) for name, r in results.items()}, reasons


# what each node type reads from its sources (a sequence node's own vector value is
# the last step of its sequence value: see ``_requires``)
_READS: dict[type, str] = {
    _Input: VECTOR, _InputSequence: SEQUENCE, _FeedForward: VECTOR,
    _TimeDistributed: SEQUENCE, _SequenceNode: SEQUENCE, _Sum: SEQUENCE,
    _Concatenate: VECTOR, _Add: VECTOR,
}


def _requires(node: _Node, kind: str) -> list[tuple[int, str]]:
    """The (node, kind) values that computing ``node``'s value of ``kind`` reads."""
    if isinstance(node, _SequenceNode) and kind == VECTOR:
        return [(node.index, SEQUENCE)]
    return [(s, _READS[type(node)]) for s in node.sources]


Item = tuple[int, Any]


def postorder(roots: list[Item], requires: Callable[[Item], list[Item]]) -> list[Item]:
    """Every item reachable from ``roots``, each after the items it requires (depth
    first, in the given order), with an explicit stack: graphs of any depth."""
    order: list[Item] = []
    done: set[Item] = set()
    stack: list[tuple[Item, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        item, expanded = stack.pop()
        if item in done:
            continue
        if expanded:
            done.add(item)
            order.append(item)
            continue
        stack.append((item, True))
        stack.extend((dep, False) for dep in reversed(requires(item)) if dep not in done)
    return order


def _nan_rows(value: _Vector) -> np.ndarray:
    """The data with whole rows of refused events set to NaN (a copy if any are)."""
    if not value.refused.any():
        return value.data
    data = value.data.copy()
    data[value.refused] = np.nan
    return data
