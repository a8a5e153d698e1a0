"""A graph input of rank 3 or more that the network only flattens -> a flat vector input.

``torch.flatten`` of a [N, 4, 5] input, or Keras' Flatten of a [N, 1, 5] input after a
per-channel BatchNormalization, read the input as one vector of 20 (or 5) features in
row-major order: that is an lwtnn input of that many variables. Element-wise constant
arithmetic and BatchNormalization (on axis 1) before the flatten, and Transposes that
keep the batch axis first, are followed through: each becomes per-feature arithmetic
on the flat input (an ``Affine``) and the Transposes a reordering (a ``Select``), both
exact. Variables are named ``<input>_<i>`` in the order of the input's elements.

Any other tensor [batch, time, features] flattened into one vector (Keras' Flatten after a
Conv1D) is refused with that reason: lwtnn has no layer that does it.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .lower_activations import add_affine
from .lower_affine import affine_of, batch_norm_affine

ARITHMETIC = ("Mul", "Add", "Sub", "Div")


@rewrite("Input")
def flatten_input(ir: IRGraph, node: str) -> bool:
    """Input [N, d1, d2, ...] read only through a flatten to [N, d1 * d2 * ...] -> a vector."""
    port = Port(node)
    shape = ir.shape(port)
    if (shape is None or len(shape) < 3 or not ir.is_float(port)
            or not all(isinstance(d, int) and d > 0 for d in shape[1:])):
        return False
    size = int(np.prod(shape[1:]))
    index = np.arange(size).reshape(shape[1:])  # where each element sits in the input
    scale, shift = Exact.of(np.ones(size)), Exact.zeros((size,))
    chain, current = [], port
    while True:
        reader = ir.sole_consumer(current)
        if reader is None:
            return False
        if _is_flatten(ir, reader, size):
            break
        step = _step(ir, reader, index.shape)
        if step is None:
            return False
        if step[0] == "perm":
            index = index.transpose(step[1])
        else:  # element k of the tensor sits at position index[k] of the flat input
            by_position = np.argsort(index.reshape(-1))
            step_scale, step_shift = (a.broadcast_to(index.shape).reshape(-1).take(
                by_position, axis=0) for a in step[1:])
            scale, shift = scale * step_scale, shift * step_scale + step_shift
        chain.append(reader)
        current = Port(reader)
    ir[node]["shapes"][0] = (shape[0], size)
    label = ir[reader]["label"]
    flat = port
    if not (scale.equals(1) and shift.is_zero().all()):
        flat = add_affine(ir, flat, scale, shift, label)
    order = index.reshape(-1)
    if np.any(order != np.arange(size)):
        flat = Port(ir.add("Select", [flat], label=label, shapes=[(shape[0], size)],
                           attrs={"indices": order.astype(np.int64)}))
    ir.redirect(Port(reader), flat)
    for done in [*chain, reader]:
        ir.remove(done)
    return True


def _is_flatten(ir: IRGraph, node: str, size: int) -> bool:
    """Flatten(axis=1), or a Reshape whose output is [batch, size]."""
    if ir.op(node) == "Flatten":
        return ir.attrs(node).get("axis", 1) == 1
    shape = ir.shape(Port(node))
    return ir.op(node) == "Reshape" and shape is not None and len(shape) == 2 and shape[1] == size


def _step(ir: IRGraph, node: str, dims: tuple) -> Optional[tuple]:
    """What an op between the input and the flatten does to the elements of one event:
    ("perm", axes) for a Transpose keeping the batch first, ("affine", scale, shift) with
    arrays that broadcast against ``dims`` for per-element constant arithmetic; None
    otherwise."""
    op = ir.op(node)
    if op == "Transpose":
        perm = ir.attrs(node).get("perm")
        if perm is None or perm[0] != 0:
            return None
        return "perm", [p - 1 for p in perm[1:]]
    if op == "BatchNormalization":
        affine = batch_norm_affine(ir, node)
        if affine is None or affine[0].size != dims[0]:
            return None
        per_channel = (dims[0],) + (1,) * (len(dims) - 1)
        return ("affine", *(a.reshape(per_channel) for a in affine))
    if op not in ARITHMETIC:
        return None
    left, right = ir.inputs_of(node)[:2]
    left_value, right_value = ir.const_value(left), ir.const_value(right)
    if (left_value is None) == (right_value is None):
        return None
    value = np.asarray(left_value if left_value is not None else right_value, np.float64)
    if value.ndim > len(dims) and any(d != 1 for d in value.shape[:value.ndim - len(dims)]):
        return None  # varies along the batch
    value = value.reshape(value.shape[max(0, value.ndim - len(dims)):])
    try:
        np.broadcast_to(value, dims)
    except ValueError:
        return None
    if not np.all(np.isfinite(value)):
        return None
    scale, shift = affine_of(op, value, left_value is not None)
    return None if scale is None else ("affine", scale, shift)


@rewrite("Reshape", "Flatten")
def refuse_sequence_flatten(ir: IRGraph, node: str) -> bool:
    """A computed [batch, time, features] tensor flattened into one vector: refused, as
    lwtnn has no such layer (a graph input only flattened is read flat, above)."""
    data = ir.operand(node, 0)
    shape = None if data is None else ir.shape(data)
    out = ir.shape(Port(node))
    if (shape is None or len(shape) != 3 or shape[1] == 1 or out is None or len(out) != 2
            or out[-1] == shape[-1]):
        return False
    steps = shape[1] if isinstance(shape[1], int) else "T"
    ir.refuse(node, f"it flattens a [batch, {steps}, {shape[2]}] sequence into one vector; "
                    "lwtnn has no layer that does (a sequence becomes a vector only as a "
                    "recurrent or conv1d layer's last step, or as a sum over time)")
    return False
