"""What an lwtnn network costs per event in lwtnn's own C++, read from its document.

lwtnn evaluates a graph recursively and caches nothing: each node asks its sources for
their values every time it is asked for its own, and every output is computed by its own
call. So a node read by k consumers is computed k times, with everything under it. This
module counts, per output, what that uncached evaluation does; it reads any lwtnn
document (graph or sequential) and never imports onnx, so the CLI, ``inspect`` and the
layout choice (``carry``) can all use it. Counted per compute call:

- multiply-adds: the entries of a layer's weight matrices (``weights`` and recurrent
  ``U``; a ``normalization``'s element-wise scales). Sequence layers count one time step.
- node evaluations: every node computed (a virtual call and fresh vectors).
- input reads: lwtnn's graph re-reads an input node each time a node reads it, looking
  each of its variables up by name in the map the caller passed (a ``std::map``, so a
  lookup walks about log2(width) names) and applying offset and scale.
- values computed (each a fresh vector's element: the preprocessed inputs, a layer's
  outputs with bias and activation, a concatenation or sum), and of those the ones
  through an exp or tanh (sigmoid, tanh, softmax, elu, swish).
- the call itself and its labels: ``compute`` returns a ``std::map`` of label to value.

``Cost.estimate`` weighs these in dense-equivalent multiply-adds, with weights measured
in lwtnn 2.14.1's C++ by ``benchmarks/bench_lwtnn_calibration.py`` (its README gives the
table and how far the estimate is from the measured times).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional

LAYER_NODES = ("feed_forward", "time_distributed", "sequence")
INPUT_NODES = ("input", "input_sequence")
TRANSCENDENTAL = frozenset({"sigmoid", "tanh", "softmax", "elu", "swish"})

# Dense-equivalent multiply-adds per unit of each count (benchmarks/README.md, "lwtnn's
# C++ cost, calibrated"): what lwtnn's C++ spends on one, over what one multiply-add of a
# dense layer costs.
WEIGHTS = {
    "multiply_adds": 1.0,
    "node_evaluations": 100.0,
    "lookup_steps": 48.0,
    "values": 9.0,
    "transcendentals": 50.0,
    "calls": 120.0,
    "labels": 390.0,
}


@dataclass(frozen=True)
class Cost:
    """What computing one output once costs (its call and labels included at the top)."""

    multiply_adds: int
    node_evaluations: int
    variables_read: int = 0     # input variables looked up and preprocessed
    lookup_steps: float = 0.0   # each of those times log2(its input's width + 1)
    values: int = 0             # values nodes produce (inputs read, layers, merges)
    transcendentals: int = 0    # of which through sigmoid, tanh, softmax, elu, swish
    calls: int = 0
    labels: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def estimate(self) -> float:
        """What lwtnn's C++ spends, in dense-equivalent multiply-adds."""
        return sum(weight * getattr(self, name) for name, weight in WEIGHTS.items())


ZERO = Cost(0, 0)


@dataclass(frozen=True)
class NetworkCost:
    """Per-output costs; an event needs every output, each by its own call."""

    outputs: dict[str, Cost]

    @property
    def total(self) -> Cost:
        return sum(self.outputs.values(), ZERO)

    def to_json(self, onnx_multiply_adds: Optional[int] = None) -> dict[str, Any]:
        total = self.total
        report: dict[str, Any] = {
            "multiply_adds": total.multiply_adds,
            "node_evaluations": total.node_evaluations,
            "variables_read": total.variables_read,
            "compute_calls": total.calls,
            "estimate": round(total.estimate),
            "outputs": {name: {"multiply_adds": c.multiply_adds,
                               "node_evaluations": c.node_evaluations,
                               "variables_read": c.variables_read,
                               "estimate": round(c.estimate)}
                        for name, c in self.outputs.items()}}
        if onnx_multiply_adds is not None:
            report["onnx_multiply_adds"] = onnx_multiply_adds
            report["ratio"] = ratio(total.multiply_adds, onnx_multiply_adds)
        return report


def network_cost(document: Mapping[str, Any]) -> NetworkCost:
    """The cost of a validated lwtnn document, graph or sequential."""
    if "nodes" not in document:  # sequential: the inputs read once, one chain, one output
        width, cost = len(document["inputs"]), _read(len(document["inputs"]))
        for layer in document["layers"]:
            own, width = layer_cost(layer, width)
            cost += own
        return NetworkCost({"outputs": cost + _call(len(document["outputs"]))})
    costs = node_costs(document)
    return NetworkCost({name: costs[output["node_index"]] + _call(len(output["labels"]))
                        for name, output in document["outputs"].items()})


def node_costs(document: Mapping[str, Any]) -> list[Cost]:
    """Per graph node: what one evaluation of it costs, its sources' recomputation included."""
    return graph_costs(document["nodes"], document["layers"])


def graph_costs(nodes: list[dict], layers: list[dict]) -> list[Cost]:
    """Cost(node) = its own cost + the cost of each source, once per time it is read.

    ``nodes`` are graph-format nodes (``type``, ``sources``, an input's ``size``,
    ``layer_index`` into ``layers``, lwtnn layer objects).

    Sources may name later nodes (lwtnn builds them on demand), so the nodes are
    resolved depth-first without recursion; validation has rejected cycles.
    """
    costs: list[Optional[Cost]] = [None] * len(nodes)
    widths: list[int] = [0] * len(nodes)
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
            own, widths[index] = _own_cost(node, [widths[s] for s in sources], layers)
            costs[index] = sum((costs[s] for s in sources), own)
            stack.pop()
    return costs  # type: ignore[return-value]


def _own_cost(node: Mapping[str, Any], source_widths: list[int], layers: list[dict]
              ) -> tuple[Cost, int]:
    """What evaluating the node itself costs, and the width of what it gives."""
    if node["type"] in INPUT_NODES:
        size = node.get("size", 0)
        return _read(size) + Cost(0, 1), size
    if node["type"] in LAYER_NODES:
        return layer_cost(layers[node["layer_index"]], source_widths[0])
    width = sum(source_widths) if node["type"] == "concatenate" else max(source_widths,
                                                                          default=0)
    return Cost(0, 1, values=width), width


def layer_cost(layer: Mapping[str, Any], n_in: int) -> tuple[Cost, int]:
    """One evaluation of a layer reading ``n_in`` values (one node), and its width out."""
    n_out = _layer_width(layer, n_in)
    function = _function(layer.get("activation"))
    transcendental = n_out * (function in TRANSCENDENTAL)
    if layer.get("architecture") == "highway":
        transcendental += n_out  # the carry gate's sigmoid
    elif "components" in layer:  # recurrent: every gate's inner activation, and the output
        transcendental = n_out * (len(layer["components"]) + 1)
    return Cost(layer_multiply_adds(layer), 1, values=n_out,
                transcendentals=transcendental), n_out


def _layer_width(layer: Mapping[str, Any], n_in: int) -> int:
    for part in [layer, *(layer.get("components") or {}).values(),
                 *(layer.get("sublayers") or ())]:
        if part.get("bias"):
            return len(part["bias"])
    weights = layer.get("weights") or ()
    return len(weights) // n_in if weights and n_in and layer.get("architecture") == "dense" \
        else n_in


def _function(activation: Any) -> Optional[str]:
    return activation.get("function") if isinstance(activation, Mapping) else activation


def _read(width: int) -> Cost:
    """Reading an input of ``width`` variables: each looked up in the caller's map."""
    return Cost(0, 0, variables_read=width, lookup_steps=width * math.log2(width + 1),
                values=width)


def _call(labels: int) -> Cost:
    return Cost(0, 0, calls=1, labels=labels)


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


def cost_line(cost: NetworkCost, onnx_multiply_adds: Optional[int] = None,
              merged: Optional[NetworkCost] = None) -> str:
    """The one line printed after a conversion. ``merged``: what the same network would
    cost with its outputs merged into one (said when it has several)."""
    total = cost.total
    line = (f"lwtnn cost per event: about {_round(total.estimate):,} dense-equivalent "
            f"multiply-adds ({total.multiply_adds:,} multiply-adds, "
            f"{total.node_evaluations:,} node evaluations, {total.variables_read:,} input "
            f"variables read")
    if total.calls > 1:
        each = ", ".join(f"{name} about {_round(c.estimate):,}"
                         for name, c in cost.outputs.items())
        line += f"; {total.calls} compute calls, one per output: {each}"
        if merged is not None:
            line += (f"; with --merge-outputs one call: about "
                     f"{_round(merged.total.estimate):,}")
    line += ")"
    if onnx_multiply_adds is not None:
        factor = ratio(total.multiply_adds, onnx_multiply_adds)
        line += (f", {factor:.1f}x the ONNX model's multiply-adds" if factor is not None
                 else ", the ONNX model has no multiply-adds")
    return line


def _round(estimate: float) -> int:
    """An estimate to two significant figures (it is no more precise than that)."""
    if estimate < 100:
        return round(estimate)
    scale = 10 ** (int(math.log10(estimate)) - 1)
    return round(estimate / scale) * scale
