"""Reductions over the time axis of a sequence (deep sets' pooling over tracks).

ReduceSum over time -> ``SequenceSum`` (lwtnn's sum node), with the axes as an attribute
(opset < 13) or a constant input, keepdims 0, or 1 (the axis of size 1 stays, for the
Squeeze or Reshape that usually follows). ReduceMean over time is exact only when the
length T is fixed (a sum, then an ``Affine`` scale of 1/T); over a variable length it
needs each event's length, which no lwtnn node has, so it is refused.
"""
from __future__ import annotations

from fractions import Fraction

from ..ir import IRGraph, Port
from .base import rewrite
from .common import is_vector_layout, layout_axes, sequence_view, unsqueeze_to
from .lower_activations import add_affine


@rewrite("ReduceSum", "ReduceMean")
def lower_reduce_over_time(ir: IRGraph, node: str) -> bool:
    """ReduceSum (or fixed-length ReduceMean) over the time axis -> SequenceSum."""
    view = sequence_view(ir, ir.operand(node, 0))
    if view is None:
        return False
    source, roles = view
    op, label = ir.op(node), ir[node]["label"]
    axes = layout_axes(ir, node)
    if not axes:
        ir.refuse(node, f"{op} with no constant axes reduces every axis of a sequence; "
                        "lwtnn's sum node reduces over time only")
        return False
    axes = {a % len(roles) for a in axes}
    reduced = {roles[a] for a in axes} - {1}
    if reduced != {"time"}:
        ir.refuse(node, f"{op} over the {' and '.join(sorted(map(str, reduced)))} axes of a "
                        "sequence; lwtnn's sum node reduces over time only")
        return False
    if ir.attrs(node).get("keepdims", 1):
        kept = tuple(1 if i in axes else role for i, role in enumerate(roles))
    else:
        kept = tuple(role for i, role in enumerate(roles) if i not in axes)
    if not is_vector_layout(kept):
        ir.refuse(node, "the sum comes out with its features before its events; lwtnn "
                        "vectors are [batch, features]")
        return False
    steps = ir.shape(source)[1]
    if op == "ReduceMean" and not isinstance(steps, int):
        ir.refuse(node, "ReduceMean over the time axis of a variable-length sequence has no "
                        "exact lwtnn form: lwtnn can only sum over time (its sum node), and a "
                        "mean needs each event's length; pool with a sum (ReduceSum) instead")
        return False
    batch, _, features = ir.shape(source)
    total = Port(ir.add("SequenceSum", [source], label=label, shapes=[(batch, features)]))
    if op == "ReduceMean":
        total = add_affine(ir, total, Fraction(1, steps), 0, f"{label}:mean")
    ir.replace(node, unsqueeze_to(ir, total, kept, label))
    return True
