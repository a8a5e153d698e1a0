"""Small queries shared by the passes: feature axes and per-feature constants.

Vector tensors are [batch, features] or, for models that take one event, [features]:
the feature axis is always the last one. Sequences are [batch, time, features] (see
``is_sequence`` and ``sequence_view`` below).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import INTERMEDIATE_KINDS, LWTNN_KINDS, IRGraph, Port


def is_vector(ir: IRGraph, port: Optional[Port]) -> bool:
    """A float [batch, features] or [features] tensor of known width."""
    return port is not None and ir.features(port) is not None and ir.is_float(port)


def is_feature_axis(ir: IRGraph, port: Port, axis: int) -> bool:
    shape = ir.shape(port)
    if shape is None or not is_vector(ir, port):
        return False
    return axis in (len(shape) - 1, -1)


def float_attribute(attrs: dict, name: str, default: float) -> float:
    """An ONNX float attribute; its default too is a float32 (LeakyRelu's 0.01 is
    0.009999999776..., BatchNormalization's epsilon 1e-5 is 9.99999974...e-06), as every
    runtime, the float64 reference included, reads it."""
    return float(attrs.get(name, np.float32(default)))


def per_feature(value: np.ndarray, width: int, rank: int = 2) -> Optional[np.ndarray]:
    """A constant broadcast against a [batch, width] tensor (``rank`` 3: a [batch, time,
    width] sequence), as a [width] vector.

    Returns None when the constant varies along the batch (or time) axis, or would add
    axes, or does not broadcast: no per-feature lwtnn layer can express those.
    """
    value = np.asarray(value, dtype=np.float64)
    if value.ndim > rank or any(d != 1 for d in value.shape[:-1]):
        return None
    flat = value.reshape(-1)
    if flat.size == 1:
        return np.full(width, flat[0])
    return flat.copy() if flat.size == width else None


def producer_op(ir: IRGraph, port: Optional[Port]) -> Optional[str]:
    return None if port is None else ir.op(port.node)


def dense_to_fuse(ir: IRGraph, port: Port) -> Optional[str]:
    """The Dense node producing ``port`` if it is linear and nothing else reads it."""
    if producer_op(ir, port) != "Dense" or ir.attrs(port.node)["activation"] != "linear":
        return None
    return port.node if len(ir.consumers(port)) == 1 else None


def rank(ir: IRGraph, port: Port) -> Optional[int]:
    shape = ir.shape(port)
    return None if shape is None else len(shape)


def reads_through_matrix(ir: IRGraph, node: str) -> bool:
    """Whether ``node`` is a Dense with a weight matrix (not an activation-only layer)."""
    return ir.op(node) == "Dense" and ir.attrs(node)["weights"].size > 0


# -- sequences -----------------------------------------------------------------------
# A sequence is held as [batch, time, features] (canonical): a rank-3 graph input and every
# IR kind that reads one. ONNX graphs also hold it transposed or with axes of size 1 added
# (an LSTM's Y is [time, 1, batch, hidden]); ``sequence_view`` sees through those.
SEQUENCE_ROLES = ("batch", "time", "feature")
_SEQUENCE_MAKERS = LWTNN_KINDS | INTERMEDIATE_KINDS | {"Input"}


def is_sequence(ir: IRGraph, port: Optional[Port]) -> bool:
    """A float [batch, time, features] tensor of known width made by an input or IR kind."""
    if port is None or ir.op(port.node) not in _SEQUENCE_MAKERS:
        return False
    shape = ir.shape(port)
    return (shape is not None and len(shape) == 3 and isinstance(shape[-1], int)
            and ir.is_float(port))


def is_per_step(ir: IRGraph, port: Optional[Port]) -> bool:
    """A vector, or a sequence: what a per-feature layer (dense, activation, affine) reads;
    on a sequence it applies at every time step (lwtnn's time_distributed)."""
    return is_vector(ir, port) or is_sequence(ir, port)


def width(ir: IRGraph, port: Optional[Port]) -> Optional[int]:
    """The number of features of a vector or of a sequence's steps, when known."""
    if port is None:
        return None
    return ir.shape(port)[-1] if is_sequence(ir, port) else ir.features(port)


def layout_axes(ir: IRGraph, node: str) -> Optional[list[int]]:
    """The ``axes`` of a Squeeze/Unsqueeze/Reduce node: attribute (older opsets) or a
    constant second input; None when absent or computed at run time."""
    if "axes" in ir.attrs(node):
        return [int(a) for a in ir.attrs(node)["axes"]]
    value = ir.const_value(ir.operand(node, 1))
    return None if value is None else [int(a) for a in np.asarray(value).reshape(-1)]


def sequence_view(ir: IRGraph, port: Optional[Port]) -> Optional[tuple[Port, tuple]]:
    """``(sequence, roles)`` when ``port`` is a canonical sequence rearranged by Transpose,
    Squeeze and Unsqueeze (and Identity); ``roles`` names each of its axes: "batch",
    "time", "feature", or 1 for an added axis of size 1. None for anything else."""
    if port is None:
        return None
    if is_sequence(ir, port):
        return port, SEQUENCE_ROLES
    op = ir.op(port.node)
    if port.index != 0 or op not in ("Transpose", "Squeeze", "Unsqueeze", "Identity"):
        return None
    inner = sequence_view(ir, ir.operand(port.node, 0))
    if inner is None or op == "Identity":
        return inner
    source, roles = inner
    if op == "Transpose":
        perm = ir.attrs(port.node).get("perm")
        perm = list(range(len(roles)))[::-1] if perm is None else list(perm)
        return (source, tuple(roles[p] for p in perm)) if sorted(perm) == sorted(
            range(len(roles))) else None
    axes = layout_axes(ir, port.node)
    if op == "Squeeze":
        if axes is None:  # every axis of size 1: ambiguous if a sequence axis has size 1
            if 1 in ir.shape(source):
                return None
            axes = [i for i, role in enumerate(roles) if role == 1]
        axes = {a % len(roles) for a in axes}
        if any(roles[a] != 1 for a in axes):
            return None
        return source, tuple(r for i, r in enumerate(roles) if i not in axes)
    if axes is None:
        return None
    rank = len(roles) + len(axes)
    axes = {a % rank for a in axes}
    rest = iter(roles)
    return source, tuple(1 if i in axes else next(rest) for i in range(rank))


def add_layout(ir: IRGraph, op: str, source: Port, shape: tuple, label: str, *,
               perm: Optional[list[int]] = None, axes: Optional[list[int]] = None) -> Port:
    """A new ONNX Transpose (``perm``) or Squeeze/Unsqueeze (``axes``, as the graph's
    opset writes them): how a pass shows its result to readers that expect ONNX layouts."""
    operands, attrs = [source], {}
    if perm is not None:
        attrs["perm"] = list(perm)
    elif ir.opset >= 13:
        operands.append(ir.add_const(np.asarray(axes, dtype=np.int64), label=f"{label}:axes"))
    else:
        attrs["axes"] = list(axes)
    return Port(ir.add(op, operands, attrs=attrs, shapes=[tuple(shape)], label=label))


def show_as(ir: IRGraph, sequence: Port, roles: tuple, label: str) -> Port:
    """A canonical ``sequence`` shown with the axes ``roles`` names (a permutation of
    SEQUENCE_ROLES, with 1 for added axes of size 1): itself, or a Transpose and an
    Unsqueeze of it (the inverse of ``sequence_view``)."""
    real = [r for r in roles if r != 1]
    dims = dict(zip(SEQUENCE_ROLES, ir.shape(sequence)))
    shown = sequence
    if tuple(real) != SEQUENCE_ROLES:
        shown = add_layout(ir, "Transpose", sequence, tuple(dims[r] for r in real), label,
                           perm=[SEQUENCE_ROLES.index(r) for r in real])
    if len(real) == len(roles):
        return shown
    return add_layout(ir, "Unsqueeze", shown, tuple(1 if r == 1 else dims[r] for r in roles),
                      label, axes=[i for i, r in enumerate(roles) if r == 1])


def is_vector_layout(roles: tuple) -> bool:
    """Whether axes named ``roles`` hold a [batch, features] vector (axes of size 1 added)."""
    return tuple(r for r in roles if r != 1) == ("batch", "feature")


def unsqueeze_to(ir: IRGraph, vector: Port, roles: tuple, label: str) -> Port:
    """``vector`` [batch, features] shown with the axes ``roles`` names (1 for an axis of
    size 1; see ``is_vector_layout``): itself, or an Unsqueeze of it."""
    assert is_vector_layout(roles), roles
    if len(roles) == 2:
        return vector
    dims = iter(ir.shape(vector))
    shape = tuple(1 if r == 1 else next(dims) for r in roles)
    return add_layout(ir, "Unsqueeze", vector, shape, label,
                      axes=[i for i, r in enumerate(roles) if r == 1])


def slice_bounds(ir: IRGraph, node: str) -> Optional[tuple]:
    """(starts, ends, axes, steps) of a Slice: attributes (opset < 10) or constant inputs;
    None when they are computed at run time."""
    attrs = ir.attrs(node)
    if "starts" in attrs:  # opset < 10
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes", list(range(len(starts))))
        return starts, ends, axes, [1] * len(starts)
    operands = ir.inputs_of(node) + [None] * 5
    values = [ir.const_value(p) for p in operands[1:5]]
    if values[0] is None or values[1] is None or any(
            p is not None and v is None for p, v in zip(operands[3:5], values[2:])):
        return None
    starts, ends = [list(np.asarray(v).reshape(-1)) for v in values[:2]]
    axes = list(range(len(starts))) if values[2] is None else list(values[2].reshape(-1))
    steps = [1] * len(starts) if values[3] is None else list(values[3].reshape(-1))
    return starts, ends, axes, steps


def reorient_input(ir: IRGraph, port: Optional[Port], roles: tuple) -> bool:
    """Declare a rank-3 graph input to have the axes ``roles`` (a layout-0 LSTM reading it
    directly says [time, batch, features]): the input becomes canonical [batch, time,
    features] and its readers read it through a Transpose back to the declared layout.
    False when ``port`` is no such input, or an IR kind already reads it as canonical."""
    shape = None if port is None else ir.shape(port)
    if (port is None or ir.op(port.node) != "Input" or shape is None or len(shape) != 3
            or sorted(roles, key=str) != sorted(SEQUENCE_ROLES) or not ir.is_float(port)
            or not isinstance(shape[roles.index("feature")], int)):
        return False
    readers = ir.consumers(port)
    if any(ir.op(reader) in _SEQUENCE_MAKERS for reader, _ in readers):
        return False
    ir[port.node]["shapes"][0] = tuple(shape[roles.index(r)] for r in SEQUENCE_ROLES)
    declared = add_layout(ir, "Transpose", port, shape, f"{ir[port.node]['label']}:as-declared",
                          perm=[SEQUENCE_ROLES.index(r) for r in roles])
    for reader, slot in readers:
        ir.connect(declared, reader, slot)
    return True
