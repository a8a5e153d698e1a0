"""Slice and Gather with constant indices on the feature axis -> ``Select`` (a fixed
list of feature columns), in both the attribute form (opset < 10) and the input form."""
from __future__ import annotations

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import is_vector, rank, slice_bounds


@rewrite("Slice")
def lower_slice(ir: IRGraph, node: str) -> bool:
    """Slice of the feature axis by constants -> Select."""
    source = ir.operand(node, 0)
    if not is_vector(ir, source):
        return False
    bounds = slice_bounds(ir, node)
    if bounds is None:
        ir.refuse(node, "Slice bounds are computed at run time")
        return False
    indices = np.arange(ir.features(source))
    feature_axis = rank(ir, source) - 1
    for start, end, axis, step in zip(*bounds):
        if axis % rank(ir, source) != feature_axis:
            if (start, step) != (0, 1) or end < _batch_size(ir, source):
                ir.refuse(node, "Slice selects events, not features")
                return False
            continue
        indices = indices[slice(int(start), int(end), int(step))]
    return _make_select(ir, node, source, indices)


@rewrite("Gather")
def lower_gather(ir: IRGraph, node: str) -> bool:
    """Gather of constant 1-D indices along the feature axis -> Select."""
    source, index_port = ir.inputs_of(node)[:2]
    indices = ir.const_value(index_port)
    if not is_vector(ir, source) or indices is None:
        return False
    axis = ir.attrs(node).get("axis", 0)
    if axis % rank(ir, source) != rank(ir, source) - 1 or np.ndim(indices) != 1:
        ir.refuse(node, "Gather must pick a list of features (1-D indices on the feature "
                        "axis); lwtnn nodes keep the [batch, features] shape")
        return False
    width = ir.features(source)
    return _make_select(ir, node, source, np.asarray(indices, dtype=np.int64) % width)


def _batch_size(ir: IRGraph, port: Port) -> int:
    """Where a Slice of the batch axis must end to keep every event."""
    batch = ir.shape(port)[0]
    return batch if isinstance(batch, int) else np.iinfo(np.int32).max


def _make_select(ir: IRGraph, node: str, source: Port, indices: np.ndarray) -> bool:
    if indices.size == 0:
        ir.refuse(node, "the selection is empty")
        return False
    shape = ir.shape(source)[:-1] + (indices.size,)
    new = ir.add("Select", [source], label=ir[node]["label"], shapes=[shape],
                 attrs={"indices": np.asarray(indices, dtype=np.int64)})
    ir.replace(node, Port(new))
    return True
