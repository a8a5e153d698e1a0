"""``--merge-outputs NAME``: every output in one lwtnn output, computed by one call.

lwtnn's ``LightweightGraph::compute`` evaluates one output per call and caches nothing
between calls, so a network whose outputs share a trunk (class scores and a regression,
say) computes the trunk again for every output the user asks for. Merged, the outputs
are one output node ``NAME`` reading their concatenation, in the model's output order
(one output is only renamed);
``carry`` then makes it one chain, so one call computes the trunk once.

Each output's labels are prefixed by its name: ``<output>_<label>`` for labels a spec
names, ``<output>_<i>`` otherwise (the labels an unmerged output has), ``<output>``
being the output's lwtnn name.
"""
from __future__ import annotations

import copy
from typing import Optional

from .carry import carry_shared_values
from .cost import NetworkCost, network_cost
from .emit import emit
from .errors import UsageError
from .interface import Interface
from .ir import IRGraph, Port

MERGED = "outputs"  # the merged output's name where only its cost is wanted


def merge_outputs(ir: IRGraph, interface: Interface, name: str) -> None:
    """Replace the graph's outputs by one output ``name`` holding all of them."""
    if not name.strip():
        raise UsageError("merge_outputs= needs a name for the merged output")
    labels = _merged_labels(ir, interface)
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise UsageError(f"merge_outputs=: two outputs would both have the label "
                         f"{duplicates[0]!r}; rename one output or its labels in the spec")
    sources = [ir.operand(node, 0) for node in ir.outputs]
    leading = tuple((ir.shape(sources[0]) or (None, None))[:-1])
    shape = leading + (len(labels),)
    # one output is its own merge: a one-source concatenation would only make the
    # network look like merging branches, which the sequential format refuses
    merged = sources[0] if len(sources) == 1 else Port(
        ir.add("Concatenate", sources, shapes=[shape], label=f"{name}:merged"))
    output = ir.add("Output", [merged], attrs={"name": name}, shapes=[shape],
                    label=f"output:{name}")
    for node in ir.outputs:
        ir.remove(node)
    ir.outputs[:] = [output]
    interface.output_names.pop(name, None)
    interface.output_labels[name] = labels


def _merged_labels(ir: IRGraph, interface: Interface) -> list[str]:
    """Each output's labels, prefixed by its lwtnn name, in output order."""
    labels = []
    for node in ir.outputs:
        onnx_name = ir.attrs(node)["name"]
        prefix = interface.output_name(onnx_name)
        named = interface.output_labels.get(onnx_name, interface.default_labels)
        width = ir.features(ir.operand(node, 0))
        labels += ([f"{prefix}_{label}" for label in named] if named is not None
                   else [f"{prefix}_{i}" for i in range(width)])
    return labels


def merged_cost(ir: IRGraph, interface: Interface, cheapest: bool) -> Optional[NetworkCost]:
    """What the network would cost in lwtnn with its outputs merged (the cost line says
    it beside the unmerged calls); ``ir`` and ``interface`` are left as they are. None
    where the outputs cannot be merged (two would have the same label)."""
    ir, interface = ir.copy(), copy.deepcopy(interface)
    try:
        merge_outputs(ir, interface, MERGED)
    except UsageError:
        return None
    if cheapest:
        carry_shared_values(ir)
    return network_cost(emit(ir, interface))
