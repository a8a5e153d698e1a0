"""What an lwtnn network costs per event in lwtnn's own C++, read from its document.

lwtnn evaluates a graph recursively and caches nothing: each node asks its sources for
their values every time it is asked for its own, and every output is computed by its own
call. So a node read by k consumers is computed k times, with everything under it. This
module counts, per output, the multiply-adds and node evaluations of that uncached
evaluation; it reads any lwtnn document (graph or sequential) and never imports onnx, so
the CLI, ``inspect`` and the scheduling passes can all use it.

A layer's multiply-adds are the entries of its weight matrices (``weights`` and
recurrent ``U``; a ``normalization``'s element-wise scales): sequence layers count one
time step, so a sequence of T steps costs T times that. Bias additions, activations,
``add`` and ``concatenate`` nodes cost node evaluations, not multiply-adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

LAYER_NODES = ("feed_forward", "time_distributed", "sequence")
INPUT_NODES = ("input", "input_sequence")


@dataclass(frozen=True)
class Cost:
    """What computing one output once costs."""

    multiply_adds: int
    node_evaluations: int

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.multiply_adds + other.multiply_adds,
                    self.node_evaluations + other.node_evaluations)


ZERO = Cost(0, 0)


@dataclass(frozen=True)
class NetworkCost:
    """Per-output costs; an event needs every output, each by its own call."""

    outputs: dict[str, Cost]

    @property
    def total(self) -> Cost:
        return sum(self.outputs.values(), ZERO)

    def to_json(self, onnx_multiply_adds: Optional[int] = None) -> dict[str, Any]:
        report: dict[str, Any] = {
            "multiply_adds": self.total.multiply_adds,
            "node_evaluations": self.total.node_evaluations,
            "outputs": {name: {"multiply_adds": c.multiply_adds,
                               "node_evaluations": c.node_evaluations}
                        for name, c in self.outputs.items()}}
        if onnx_multiply_adds is not None:
            report["onnx_multiply_adds"] = onnx_multiply_adds
            report["ratio"] = ratio(self.total.multiply_adds, onnx_multiply_adds)
        return report


def network_cost(document: Mapping[str, Any]) -> NetworkCost:
    """The cost of a validated lwtnn document, graph or sequential."""
    if "nodes" not in document:  # sequential: one chain, one output
        layers = document["layers"]
        return NetworkCost({"outputs": Cost(sum(map(layer_multiply_adds, layers)),
                                            len(layers))})
    costs = node_costs(document)
    return NetworkCost({name: costs[output["node_index"]]
                        for name, output in document["outputs"].items()})


def node_costs(document: Mapping[str, Any]) -> list[Cost]:
    """Per graph node: what one evaluation of it costs, its sources' recomputation included."""
    return graph_costs(document["nodes"],
                       [layer_multiply_adds(layer) for layer in document["layers"]])


def graph_costs(nodes: list[dict], layer_costs: list[int]) -> list[Cost]:
    """Cost(node) = its own cost + the cost of each source, once per time it is read.

    ``nodes`` are graph-format nodes (``type``, ``sources``, ``layer_index`` into
    ``layer_costs``, the multiply-adds of each layer).

    Sources may name later nodes (lwtnn builds them on demand), so the nodes are
    resolved depth-first without recursion; validation has rejected cycles.
    """
    costs: list[Optional[Cost]] = [None] * len(nodes)
    for root in range(len(nodes)):
        stack = [root]
        while stack:
            index = stack[-1]
            if costs[index] is not None:
                stack.pop()
                continue
            node = nodes[index]
            sources = [] if node["type"] in INPUT_NODES else node["sources"]
            pending = [s for s in sources if costs[s] is None]
            if pending:
                stack.extend(pending)
                continue
            own = layer_costs[node["layer_index"]] if node["type"] in LAYER_NODES else 0
            costs[index] = sum((costs[s] for s in sources), Cost(own, 1))
            stack.pop()
    return costs  # type: ignore[return-value]


def layer_multiply_adds(layer: Mapping[str, Any]) -> int:
    """Entries of every weight matrix in a layer (its components' and sublayers' too);
    an embedding's tables are looked up, not multiplied."""
    if layer.get("architecture") == "embedding":
        return 0
    count = len(layer.get("weights") or ()) + len(layer.get("U") or ())
    for part in [*(layer.get("components") or {}).values(), *(layer.get("sublayers") or ())]:
        count += layer_multiply_adds(part)
    return count


def ratio(lwtnn_multiply_adds: int, onnx_multiply_adds: int) -> Optional[float]:
    """lwtnn's multiply-adds per event over the ONNX model's; None if the model has none."""
    return lwtnn_multiply_adds / onnx_multiply_adds if onnx_multiply_adds else None


def cost_line(cost: NetworkCost, onnx_multiply_adds: Optional[int] = None) -> str:
    """The one line printed after a conversion."""
    total = cost.total
    line = (f"lwtnn cost per event: {total.multiply_adds:,} multiply-adds in "
            f"{total.node_evaluations:,} node evaluations")
    if onnx_multiply_adds is not None:
        factor = ratio(total.multiply_adds, onnx_multiply_adds)
        line += (f", {factor:.1f}x the ONNX model" if factor is not None
                 else ", the ONNX model has no multiply-adds")
    return line
