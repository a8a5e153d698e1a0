"""Shape arithmetic on tensors whose feature dimensions are known: Shape of a fully static
tensor, and Gather of static entries from a Shape (PyTorch's flatten idiom reads the
feature width that way), become constants; the batch dimension stays symbolic. A Reshape
whose target is built from the batch dimension at run time gets its output shape worked
out here, when ONNX shape inference could not, so ``drop_noops`` can judge it."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite


@rewrite("Shape")
def fold_static_shape(ir: IRGraph, node: str) -> bool:
    """Shape of a tensor whose every dimension is known -> a constant."""
    dims = _sliced_dims(ir, node)
    if dims is None or not all(isinstance(d, int) for d in dims):
        return False
    ir.replace(node, ir.add_const(np.array(dims, dtype=np.int64), label=ir[node]["label"]))
    return True


@rewrite("Gather")
def fold_gather_of_shape(ir: IRGraph, node: str) -> bool:
    """Gather(Shape(x), i) where dimension i of x is known -> a constant."""
    data, indices = ir.inputs_of(node)[:2]
    if data is None or ir.op(data.node) != "Shape":
        return False
    dims = _sliced_dims(ir, data.node)
    index = ir.const_value(indices)
    if dims is None or index is None:
        return False
    picked = [dims[int(i)] for i in np.asarray(index).reshape(-1)]
    if not all(isinstance(d, int) for d in picked):
        return False
    value = np.array(picked, dtype=np.int64).reshape(np.shape(index))
    ir.replace(node, ir.add_const(value, label=ir[node]["label"]))
    return True


def _sliced_dims(ir: IRGraph, shape_node: str) -> Optional[list]:
    source = ir.operand(shape_node, 0)
    shape = None if source is None else ir.shape(source)
    if shape is None:
        return None
    attrs = ir.attrs(shape_node)
    return list(shape)[slice(attrs.get("start", 0), attrs.get("end"))]


BATCH = "batch"  # a target entry read from dimension 0 of a tensor at run time


@rewrite("Reshape")
def infer_reshape_shape(ir: IRGraph, node: str) -> bool:
    """Reshape of [batch, ...] to a target of [Shape(t)[0] or -1 or 0, known ints]."""
    source, target_port = ir.inputs_of(node)[:2]
    shape = ir.shape(source)
    if ir.shape(Port(node)) is not None or shape is None or not shape:
        return False
    target = _shape_expression(ir, target_port)
    if target is None or not target or target[0] not in (BATCH, 0, -1):
        return False
    rest = [shape[i] if d == 0 else d for i, d in enumerate(target) if i > 0]
    known = list(shape[1:])
    if not all(isinstance(d, int) for d in rest + known) or rest.count(-1) > 1:
        return False
    total = int(np.prod(known))
    if -1 in rest:
        fixed = int(np.prod([d for d in rest if d != -1]))
        if fixed == 0 or total % fixed:
            return False
        rest[rest.index(-1)] = total // fixed
    if int(np.prod(rest)) != total:
        return False
    ir[node]["shapes"][0] = (shape[0], *rest)
    return True


def _shape_expression(ir: IRGraph, port: Optional[Port]) -> Optional[list]:
    """A 1-D shape tensor as a list of ints and BATCH entries, when it can be read."""
    if port is None:
        return None
    value = ir.const_value(port)
    if value is not None:
        return [int(v) for v in np.asarray(value).reshape(-1)]
    op, operands = ir.op(port.node), ir.inputs_of(port.node)
    if op == "Concat":
        parts = [_shape_expression(ir, p) for p in operands]
        return None if any(p is None for p in parts) else sum(parts, [])
    if op in ("Unsqueeze", "Cast", "Squeeze"):
        return _shape_expression(ir, operands[0])
    if op == "Gather" and ir.op(operands[0].node) == "Shape":
        dims = _sliced_dims(ir, operands[0].node)
        index = ir.const_value(operands[1])
        if dims is None or index is None:
            return None
        picked = [int(i) for i in np.asarray(index).reshape(-1)]
        return [BATCH if i == 0 and not isinstance(dims[0], int) else dims[i] for i in picked]
    return None
