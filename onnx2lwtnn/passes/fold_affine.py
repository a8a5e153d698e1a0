"""Fold ``Affine`` (x * scale + shift) into its neighbours, exactly up to float rounding:
into a preceding linear Dense, into the lwtnn input preprocessing ``(x + offset) * scale``
of a graph input, into a following Affine, or into every Dense that reads it."""
from __future__ import annotations

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import dense_to_fuse, reads_through_matrix, width


@rewrite("Affine")
def fold_into_previous_dense(ir: IRGraph, node: str) -> bool:
    """Dense(linear) -> Affine  =>  Dense with rows scaled and bias shifted."""
    dense = dense_to_fuse(ir, ir.operand(node, 0))
    if dense is None:
        return False
    scale, shift = _scale_shift(ir, node)
    attrs = ir.attrs(dense)
    attrs["weights"] = attrs["weights"] * scale[:, None]
    attrs["bias"] = attrs["bias"] * scale + shift
    ir.replace(node, Port(dense))
    return True


@rewrite("Affine")
def fold_into_input(ir: IRGraph, node: str) -> bool:
    """Input -> Affine  =>  the input's own offset/scale, when nothing else reads the input."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Input" or len(ir.consumers(source)) != 1:
        return False
    scale, shift = _scale_shift(ir, node)
    attrs = ir.attrs(source.node)
    n = width(ir, source)
    offset, input_scale = attrs.get("offset", np.zeros(n)), attrs.get("scale", np.ones(n))
    total_scale = input_scale * scale
    if np.any(total_scale == 0):
        return False  # (x + offset) * 0 cannot carry a shift: left for a layer
    attrs["offset"] = offset + shift / total_scale
    attrs["scale"] = total_scale
    ir.replace(node, source)
    return True


@rewrite("Affine")
def merge_affines(ir: IRGraph, node: str) -> bool:
    """Affine -> Affine  =>  one Affine."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Affine" or len(ir.consumers(source)) != 1:
        return False
    first_scale, first_shift = _scale_shift(ir, source.node)
    scale, shift = _scale_shift(ir, node)
    ir.attrs(node)["scale"] = first_scale * scale
    ir.attrs(node)["shift"] = first_shift * scale + shift
    ir.connect(ir.operand(source.node, 0), node, 0)
    ir.remove(source.node)
    return True


@rewrite("Affine")
def fold_into_next_dense(ir: IRGraph, node: str) -> bool:
    """Affine -> Dense (every reader)  =>  Dense with columns scaled, bias shifted."""
    readers = ir.consumers(Port(node))
    if not readers or not all(reads_through_matrix(ir, reader) for reader, _ in readers):
        return False
    scale, shift = _scale_shift(ir, node)
    for reader, _ in readers:
        attrs = ir.attrs(reader)
        attrs["bias"] = attrs["bias"] + attrs["weights"] @ shift
        attrs["weights"] = attrs["weights"] * scale[None, :]
    ir.replace(node, ir.operand(node, 0))
    return True


def _scale_shift(ir: IRGraph, node: str) -> tuple[np.ndarray, np.ndarray]:
    attrs = ir.attrs(node)
    return attrs["scale"], attrs["shift"]
