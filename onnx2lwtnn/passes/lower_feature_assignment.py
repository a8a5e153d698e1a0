"""Constant feature assignment (PyTorch's in-place ``x[:, 5] = 1.0``, ``select_scatter``,
``index_put``) -> an ``Affine`` that replaces those features by their constants, which
folds exactly into the next dense layer (``fold_affine``) or, for zeros, the input's
scaling.

PyTorch's dynamo exporter writes the assignment as a ScatterElements along the feature
axis, or a ScatterND on the transposed vector, whose indices and updates are built at run
time from the batch size (``Shape``, ``Expand``, ``Unsqueeze``): the same row for every
event. That is proven, not assumed: the index and update tensors are read as constant
rows broadcast along the batch axis (``_Rows``), from constants and the batch dimension
only. Replacing feature j by c is ``x * 0 + c`` on that feature; the next dense layer then
loses column j and gains ``W[:, j] * c`` in its bias, summed exactly and rounded once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import add_layout, is_vector, layout_axes, slice_bounds
from .fold_affine import input_preprocessing
from .fold_constants import evaluate_node
from .lower_activations import add_affine

BATCH = "batch"  # the batch dimension in a shape read at run time


@dataclass(frozen=True)
class _Rows:
    """A tensor equal in every event: ``value`` (of size 1 along ``axis``) broadcast along
    its batch axis ``axis``."""

    value: np.ndarray
    axis: int


@rewrite("ScatterElements", "ScatterND")
def lower_feature_assignment(ir: IRGraph, node: str) -> bool:
    """ScatterElements / ScatterND writing constants into fixed features of every event
    -> Affine (those features times 0, plus their constants)."""
    data, indices, updates = (ir.inputs_of(node) + [None] * 3)[:3]
    view = _vector_view(ir, data)
    if view is None:
        return False
    vector, batch_axis = view
    reduction = ir.attrs(node).get("reduction", "none")
    if reduction != "none":
        ir.refuse(node, f"a scatter with reduction '{reduction}' combines values with the "
                        "features instead of replacing them")
        return False
    assigned = (_scatter_elements if ir.op(node) == "ScatterElements" else _scatter_nd)(
        ir, node, indices, updates, batch_axis, ir.features(vector))
    if isinstance(assigned, str):
        ir.refuse(node, assigned)
        return False
    columns, values = assigned
    scale, shift = np.ones(ir.features(vector)), np.zeros(ir.features(vector))
    scale[columns], shift[columns] = 0.0, values
    result = add_affine(ir, vector, scale, shift, ir[node]["label"])
    if batch_axis == 1:
        result = add_layout(ir, "Transpose", result, ir.shape(vector)[::-1],
                            f"{ir[node]['label']}:transposed", perm=[1, 0])
    ir.replace(node, result)
    return True


def _vector_view(ir: IRGraph, data: Optional[Port]) -> Optional[tuple[Port, int]]:
    """(the [batch, features] vector, where its batch axis is): the data itself, or its
    Transpose [features, batch] (how the exporter writes ScatterND on the features)."""
    if is_vector(ir, data) and len(ir.shape(data)) == 2:
        return data, 0
    if data is not None and ir.op(data.node) == "Transpose" and ir.attrs(data.node).get(
            "perm", [1, 0]) == [1, 0]:
        inner = ir.operand(data.node, 0)
        if is_vector(ir, inner) and len(ir.shape(inner)) == 2:
            return inner, 1
    return None


def _scatter_elements(ir: IRGraph, node: str, indices, updates, batch_axis: int,
                      width: int):
    """(columns, values) that ScatterElements along the feature axis writes in every
    event, or why it is not that."""
    axis = ir.attrs(node).get("axis", 0) % 2
    if axis == batch_axis:
        return "the scatter writes along the batch axis: it replaces events, not features"
    index_rows, value_rows = (_rows_of(ir, p, batch_axis) for p in (indices, updates))
    if index_rows is None or value_rows is None:
        return ("its indices or values differ from event to event (they are computed from "
                "the data, not from constants and the batch size)")
    columns = np.take(index_rows.value, 0, axis=batch_axis).reshape(-1)
    values = np.take(value_rows.value, 0, axis=batch_axis).reshape(-1)
    return _assignment(columns, values, width)


def _scatter_nd(ir: IRGraph, node: str, indices, updates, batch_axis: int, width: int):
    """(columns, values) a ScatterND writes into every event of [features, batch] data
    (indices [n, 1] picking features, updates [n, batch] constant along the batch)."""
    index = ir.const_value(indices)
    if batch_axis != 1 or index is None or np.shape(index)[-1:] != (1,):
        return ("its indices pick events (or are computed at run time: PyTorch's legacy "
                "exporter writes x[:, j] = c as [event, j] pairs made from the batch size), "
                "not a fixed list of features of every event")
    value_rows = _rows_of(ir, updates, np.ndim(index) - 1)  # updates: [n, batch]
    if value_rows is None:
        return ("its values differ from event to event (they are computed from the data, "
                "not from constants and the batch size)")
    values = np.take(value_rows.value, 0, axis=value_rows.axis).reshape(-1)
    return _assignment(np.asarray(index).reshape(-1), values, width)


def _assignment(columns: np.ndarray, values: np.ndarray, width: int):
    if columns.size != values.size or columns.size == 0:
        return "its indices and values do not pair up"
    if np.any(columns < -width) or np.any(columns >= width):
        return f"an index is outside the {width} features"
    columns = np.asarray(columns, np.int64) % width
    chosen = {}
    for column, value in zip(columns.tolist(), np.asarray(values, np.float64).tolist()):
        if chosen.setdefault(column, value) != value:
            return f"feature {column} is assigned two different values"
    if not all(np.isfinite(v) for v in chosen.values()):
        return "a value it assigns is NaN or infinite, which lwtnn's JSON cannot hold"
    return np.array(list(chosen)), np.array(list(chosen.values()))


def _rows_of(ir: IRGraph, port: Optional[Port], batch_axis: int) -> Optional[_Rows]:
    """The tensor as one row broadcast along ``batch_axis``, when it is built from
    constants and the batch size alone."""
    value = _evaluate(ir, port, ir_batch=_batch_dims(ir))
    if isinstance(value, np.ndarray) and value.ndim > batch_axis:
        first = np.take(value, [0], axis=batch_axis)
        return _Rows(first, batch_axis) if np.all(value == first) else None
    return value if isinstance(value, _Rows) and value.axis == batch_axis else None


def _batch_dims(ir: IRGraph) -> set:
    """The symbols the graph inputs use for their batch dimension."""
    return {ir.shape(Port(n))[0] for n in ir.inputs
            if ir.shape(Port(n)) and not isinstance(ir.shape(Port(n))[0], int)}


def _evaluate(ir: IRGraph, port: Optional[Port], ir_batch: set):
    """A numpy constant, a shape (tuple of ints and BATCH), ``_Rows``, or None."""
    if port is None:
        return None
    value = ir.const_value(port)
    if value is not None:
        return value
    op, operands = ir.op(port.node), ir.inputs_of(port.node)
    attrs = ir.attrs(port.node)
    if op == "Shape":
        shape = ir.shape(operands[0])
        if shape is None or not all(isinstance(d, int) or d in ir_batch for d in shape):
            return None
        dims = tuple(d if isinstance(d, int) else BATCH for d in shape)
        return dims[slice(attrs.get("start", 0), attrs.get("end"))]
    inner = [_evaluate(ir, p, ir_batch) for p in operands]
    if op in ("Identity", "Cast"):
        value = inner[0]
        if isinstance(value, _Rows) and op == "Cast":
            return _Rows(evaluate_node(ir, port.node, [value.value])[0], value.axis)
        return value
    if op == "Expand" and isinstance(inner[1], (tuple, np.ndarray)):
        return _expand(inner[0], tuple(inner[1]) if isinstance(inner[1], tuple) else tuple(
            int(d) for d in np.asarray(inner[1]).reshape(-1)))
    if op in ("Unsqueeze", "Squeeze") and isinstance(inner[0], _Rows):
        return _unsqueeze(op, inner[0], layout_axes(ir, port.node))
    if op == "Transpose" and isinstance(inner[0], _Rows):
        perm = list(attrs.get("perm") or range(inner[0].value.ndim)[::-1])
        return _Rows(inner[0].value.transpose(perm), perm.index(inner[0].axis))
    if op == "Concat" and all(isinstance(v, (tuple, np.ndarray)) for v in inner):
        return sum((v if isinstance(v, tuple) else tuple(int(d) for d in np.reshape(v, -1))
                    for v in inner), ())
    if op == "Gather" and isinstance(inner[0], tuple) and isinstance(inner[1], np.ndarray):
        picked = [inner[0][int(i)] for i in inner[1].reshape(-1)]
        return tuple(picked) if inner[1].ndim else picked[0]
    if op == "Slice" and isinstance(inner[0], tuple):
        bounds = slice_bounds(ir, port.node)
        if bounds is None or len(bounds[0]) != 1:
            return None
        (start,), (end,), _, (step,) = bounds
        return inner[0][slice(int(start), int(min(end, len(inner[0]) + 1)), int(step))]
    return None


def _expand(value, shape: tuple) -> Optional[_Rows]:
    """Expand(value, shape) where ``shape`` holds the batch size once: one row per event."""
    if shape.count(BATCH) != 1 or isinstance(value, tuple):
        return None
    axis = shape.index(BATCH)
    if isinstance(value, _Rows):
        if value.value.ndim != len(shape) or value.axis != axis:
            return None
        value = value.value
    value = np.asarray(value)
    if value.ndim > len(shape):
        return None
    value = value.reshape((1,) * (len(shape) - value.ndim) + value.shape)
    if value.shape[axis] != 1:
        return None
    target = tuple(1 if d == BATCH else d for d in shape)
    try:
        return _Rows(np.broadcast_to(value, np.broadcast_shapes(value.shape, target)).copy(),
                     axis)
    except ValueError:
        return None


def _unsqueeze(op: str, rows: _Rows, axes: Optional[list]) -> Optional[_Rows]:
    if axes is None:
        return None
    value, axis = rows.value, rows.axis
    if op == "Unsqueeze":
        rank = value.ndim + len(axes)
        for a in sorted(a % rank for a in axes):
            value = np.expand_dims(value, a)
            axis += a <= axis
        return _Rows(value, axis)
    axes = sorted(a % value.ndim for a in axes)
    if axis in axes or any(value.shape[a] != 1 for a in axes):
        return None
    return _Rows(np.squeeze(value, tuple(axes)), axis - sum(a < axis for a in axes))


@rewrite("Affine")
def zero_assignment_into_input(ir: IRGraph, node: str) -> bool:
    """Input -> Affine that only sets features to zero (scale 0 or 1, no shift), when
    nothing else reads the input  =>  the input's scale of 0 for those features."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Input" or len(ir.consumers(source)) != 1:
        return False
    scale, shift = Exact.of(ir.attrs(node)["scale"]), Exact.of(ir.attrs(node)["shift"])
    zeros = scale.is_zero()
    if not zeros.any() or not shift.is_zero().all() or not all(
            scale.fraction(i) == 1 for i in np.flatnonzero(~zeros)):
        return False
    offset, input_scale = input_preprocessing(ir, source.node)
    ir.attrs(source.node).update(offset=offset, scale=input_scale * scale)
    ir.replace(node, source)
    return True
