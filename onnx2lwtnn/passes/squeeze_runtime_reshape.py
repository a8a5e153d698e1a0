"""A Reshape of a sequence view to a shape read from that same view at run time, which
only merges away axes of size 1 -> Squeeze (and Unsqueeze) of those axes.

PyTorch's dynamo exporter reads a batch-first LSTM's or GRU's ``y`` as
Y [time, 1, batch, H] -> Transpose [time, batch, 1, H] -> Reshape to
``Concat(Shape[0:1], Shape[1:2], Shape[2:3] * Shape[3:4])`` -> [time, batch, H]: the
direction axis (size 1) merged into the hidden one. The target is worked out symbolically,
as the dimensions of the reshaped tensor it is read from, so the rewrite holds for every
batch size and sequence length; ``drop_sequence_views`` and ``lower_last_step`` then see
through the Squeeze, and the shape arithmetic is left dead.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import add_layout, sequence_view, slice_bounds


@rewrite("Reshape")
def squeeze_runtime_reshape(ir: IRGraph, node: str) -> bool:
    """Reshape(view, shape of view with size-1 axes merged) -> Squeeze/Unsqueeze."""
    data, target = ir.inputs_of(node)[:2]
    view = sequence_view(ir, data)
    if view is None or ir.const_value(target) is not None:
        return False
    roles = view[1]
    entries = shape_entries(ir, target, data, len(roles))
    if entries is None or not _merges_in_order(entries, len(roles)):
        return False
    kept = []
    for entry in entries:
        if isinstance(entry, int):
            if entry != 1:
                return False
            kept.append(1)
            continue
        real = [roles[a] for a in entry if roles[a] != 1]
        if len(real) > 1:
            return False  # merges two sequence axes: not a layout change
        kept.append(real[0] if real else 1)
    source, label = view[0], ir[node]["label"]
    squeezed = _drop_unit_axes(ir, data, roles, label)
    result = _add_unit_axes(ir, squeezed, tuple(kept), source, label)
    ir.replace(node, result)
    return True


def _merges_in_order(entries: list, rank: int) -> bool:
    """Whether the axis groups cover axes 0..rank-1 once each, in order."""
    axes = [a for e in entries if not isinstance(e, int) for a in e]
    return axes == list(range(rank))


def _drop_unit_axes(ir: IRGraph, data: Port, roles: tuple, label: str) -> Port:
    ones = [i for i, r in enumerate(roles) if r == 1]
    if not ones:
        return data
    shape = tuple(d for i, d in enumerate(ir.shape(data) or [None] * len(roles))
                  if i not in ones)
    return add_layout(ir, "Squeeze", data, shape, f"{label}:squeeze", axes=ones)


def _add_unit_axes(ir: IRGraph, port: Port, kept: tuple, source: Port, label: str) -> Port:
    ones = [i for i, r in enumerate(kept) if r == 1]
    if not ones:
        return port
    dims = dict(zip(("batch", "time", "feature"), ir.shape(source)))
    return add_layout(ir, "Unsqueeze", port, tuple(1 if r == 1 else dims[r] for r in kept),
                      label, axes=ones)


def shape_entries(ir: IRGraph, port: Optional[Port], data: Port,
                  rank: int) -> Optional[list]:
    """A 1-D shape tensor as entries (tuples of ``data``'s axes, or ints), when it is built
    only from constants and the dimensions of ``data`` itself; else None."""
    if port is None:
        return None
    value = ir.const_value(port)
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    op, operands = ir.op(port.node), ir.inputs_of(port.node)
    if op == "Shape":
        if operands[0] != data:
            return None
        attrs = ir.attrs(port.node)
        return [(a,) for a in range(rank)][slice(attrs.get("start", 0), attrs.get("end"))]
    if op in ("Cast", "Identity"):
        return shape_entries(ir, operands[0], data, rank)
    if op in ("Squeeze", "Unsqueeze", "Reshape"):
        inner = shape_entries(ir, operands[0], data, rank)
        return inner if inner is not None and len(inner) == 1 else None
    if op == "Concat":
        parts = [shape_entries(ir, p, data, rank) for p in operands]
        return None if any(p is None for p in parts) else sum(parts, [])
    if op == "Mul":
        a, b = (shape_entries(ir, p, data, rank) for p in operands[:2])
        if a is None or b is None or len(a) != 1 or len(b) != 1:
            return None
        return [_product(a[0], b[0])]
    if op == "Slice":
        inner, bounds = shape_entries(ir, operands[0], data, rank), slice_bounds(ir, port.node)
        if inner is None or bounds is None or list(bounds[2]) not in ([0], [-1]):
            return None
        (start,), (end,), _, (step,) = bounds
        return inner[slice(int(start), int(min(end, len(inner) + 1)), int(step))]
    if op == "Gather":
        inner, index = shape_entries(ir, operands[0], data, rank), ir.const_value(operands[1])
        if inner is None or index is None:
            return None
        return [inner[int(i)] for i in np.asarray(index).reshape(-1)]
    return None


def _product(a, b):
    """The product of two entries: axes merged, or ints multiplied (mixed: unknown)."""
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if isinstance(a, int) or isinstance(b, int):
        ones = a if isinstance(a, int) else b
        axes = b if isinstance(a, int) else a
        return axes if ones == 1 else (-1,)  # (-1,) never passes _merges_in_order
    return (*a, *b)
