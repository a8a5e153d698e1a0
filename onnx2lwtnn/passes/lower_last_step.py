"""The last time step of a sequence -> ``LastStep`` (lwtnn's sequence node used as a vector
yields its last step), in the forms exporters write:

- Gather(s, -1, axis=time) of any view of the sequence: PyTorch's ``y[:, -1, :]`` is
  Squeeze(Y, [1]) -> Transpose([1, 0, 2]) -> Gather(-1, axis=1); a Keras-style graph
  gathers Y (squeezed) on axis 0. An index T-1 counts too when the length T is fixed.
- Slice(s, -1:, axis=time), which keeps the step as an axis of size 1 (a Squeeze follows).
- Gather(x, 0 or -1, axis=a) on an axis of size 1, as PyTorch's ``h_n[-1]`` reads Y_h
  [1, batch, H] -> Squeeze(x, a), which ``drop_noops`` folds away with the Unsqueeze
  ``lower_recurrent`` put there.

lwtnn yields the last step only of its sequence nodes (a recurrent or conv1d layer):
other sources and other steps are refused. Graph outputs: one that is a sequence is
refused (lwtnn outputs are vectors) unless its length is fixed at 1, when it is its own
last step (SOFIE's single-step Y); one that is a vector with axes of size 1 added (an
ONNX Y_h [1, batch, H]) is that vector, in the same element order.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import (add_layout, is_vector, is_vector_layout, sequence_view, slice_bounds,
                     unsqueeze_to)

SEQUENCE_NODES = ("Recurrent", "Conv1d")  # what lwtnn's "sequence" node holds
OPEN_END = np.iinfo(np.int32).max  # a Slice end at least this large runs to the end


@rewrite("Gather")
def gather_of_singleton_axis(ir: IRGraph, node: str) -> bool:
    """Gather(x, 0 or -1, axis=a) on an axis of size 1 (h_n[-1] of Y_h) -> Squeeze(x, a)."""
    data, indices = (ir.inputs_of(node) + [None, None])[:2]
    index = ir.const_value(indices)
    shape = None if data is None else ir.shape(data)
    if index is None or np.ndim(index) != 0 or shape is None or len(shape) < 3:
        return False
    axis = ir.attrs(node).get("axis", 0) % len(shape)
    view = sequence_view(ir, data)
    if shape[axis] != 1 or int(index) not in (0, -1) or (view and view[1][axis] != 1):
        return False  # a sequence axis that happens to have size 1: gather_last_step
    ir.replace(node, add_layout(ir, "Squeeze", data, shape[:axis] + shape[axis + 1:],
                                ir[node]["label"], axes=[axis]))
    return True


@rewrite("Gather")
def gather_last_step(ir: IRGraph, node: str) -> bool:
    """Gather(view of a sequence, -1, axis=time) -> LastStep."""
    view = sequence_view(ir, ir.operand(node, 0))
    index = ir.const_value(ir.operand(node, 1))
    if view is None or index is None:
        return False
    source, roles = view
    axis = ir.attrs(node).get("axis", 0) % len(roles)
    if roles[axis] == 1:
        return False  # an axis of size 1: gather_of_singleton_axis
    if roles[axis] != "time":
        ir.refuse(node, f"Gather along the {roles[axis]} axis of a sequence; lwtnn takes "
                        "only the last time step of a sequence")
        return False
    if np.size(index) != 1 or np.ndim(index) > 1 or not _is_last(
            ir, source, int(np.asarray(index).reshape(-1)[0])):
        ir.refuse(node, f"Gather picks time step {np.asarray(index).tolist()}; lwtnn's sequence "
                        "nodes yield only their last step (index -1) as a vector")
        return False
    kept = roles[:axis] + ((1,) if np.ndim(index) == 1 else ()) + roles[axis + 1:]
    return _replace_by_last_step(ir, node, source, kept)


@rewrite("Slice")
def slice_last_step(ir: IRGraph, node: str) -> bool:
    """Slice(view of a sequence, -1:, axis=time) -> LastStep with an axis of size 1."""
    view = sequence_view(ir, ir.operand(node, 0))
    if view is None:
        return False
    bounds = slice_bounds(ir, node)
    if bounds is None:
        ir.refuse(node, "Slice bounds of a sequence are computed at run time")
        return False
    source, roles = view
    kept = list(roles)
    for start, end, axis, step in zip(*bounds):
        axis = int(axis) % len(roles)
        if roles[axis] == "time" and _is_last_slice(ir, source, start, end, step):
            kept[axis] = 1
        elif roles[axis] == "time" and step < 0:
            ir.refuse(node, f"Slice with step {step} reverses the sequence in time (how "
                            "exporters write a flip for a backward recurrent pass); lwtnn "
                            "runs its sequences forward only, so reversed and bidirectional "
                            "recurrences have no lwtnn form")
            return False
        elif not _is_whole(_dim(ir, source, roles[axis]), start, end, step):
            ir.refuse(node, f"Slice of the {roles[axis]} axis of a sequence; lwtnn takes "
                            "only the last time step of a sequence (Slice -1:)")
            return False
    if tuple(kept) == roles:
        ir.replace(node, ir.operand(node, 0))  # every axis whole: a no-op
        return True
    return _replace_by_last_step(ir, node, source, tuple(kept))


@rewrite("Output")
def sequence_output(ir: IRGraph, node: str) -> bool:
    """A graph output that is a sequence: of fixed length 1 -> its last step; else refused."""
    port = ir.operand(node, 0)
    view = sequence_view(ir, port)
    if view is None:
        return False
    source, roles = view
    steps = ir.shape(source)[1]
    single = tuple(1 if r == "time" else r for r in roles)
    if steps == 1 and ir.op(source.node) in SEQUENCE_NODES and is_vector_layout(single):
        last = _last_step(ir, source, ir[node]["label"])
        ir.connect(unsqueeze_to(ir, last, single, ir[node]["label"]), node, 0)
        return True
    length = (f"{steps} time step{'s' * (steps != 1)}" if isinstance(steps, int)
              else "a variable number of time steps")
    ir.refuse(node, f"it is a whole sequence ({length}) from node '{ir[source.node]['label']}'; "
                    "lwtnn graph outputs are vectors, so only a last step (a recurrent "
                    "layer's Y_h, or Y[-1]) or a sum over time can be an output")
    if port == source:
        return False
    ir.connect(source, node, 0)  # the refused output's layout ops are dead now
    return True


@rewrite("Output")
def vector_output(ir: IRGraph, node: str) -> bool:
    """A graph output that is a vector with axes of size 1 added (Y_h) -> the vector.

    Only Unsqueeze and Squeeze lie between them (an ONNX Y_h [1, batch, H]), so the
    elements come in the same order."""
    port = current = ir.operand(node, 0)
    if port is None:  # a refused output, cut from the graph
        return False
    while (not is_vector(ir, current) and ir.op(current.node) in ("Unsqueeze", "Squeeze")
           and current.index == 0):
        current = ir.operand(current.node, 0)
    if current == port or not is_vector(ir, current):
        return False
    ir.connect(current, node, 0)
    return True


def _replace_by_last_step(ir: IRGraph, node: str, source: Port, kept: tuple) -> bool:
    if ir.op(source.node) not in SEQUENCE_NODES:
        ir.refuse(node, f"it takes the last step of node '{ir[source.node]['label']}' "
                        f"({ir.op(source.node)}); lwtnn yields a last step only from a "
                        "recurrent or conv1d layer's sequence")
        return False
    if not is_vector_layout(kept):
        ir.refuse(node, "the last step comes out with its features before its events; "
                        "lwtnn vectors are [batch, features]")
        return False
    last = _last_step(ir, source, ir[node]["label"])
    ir.replace(node, unsqueeze_to(ir, last, kept, ir[node]["label"]))
    return True


def _last_step(ir: IRGraph, source: Port, label: str) -> Port:
    batch, _, features = ir.shape(source)
    return Port(ir.add("LastStep", [source], label=label, shapes=[(batch, features)]))


def _dim(ir: IRGraph, source: Port, role) -> Optional[int]:
    if role == 1:
        return 1
    dim = ir.shape(source)[("batch", "time", "feature").index(role)]
    return dim if isinstance(dim, int) else None


def _is_last(ir: IRGraph, source: Port, index: int) -> bool:
    steps = _dim(ir, source, "time")
    return index == -1 or (steps is not None and index == steps - 1)


def _is_last_slice(ir: IRGraph, source: Port, start, end, step) -> bool:
    steps = _dim(ir, source, "time")
    runs_to_end = end >= OPEN_END or (steps is not None and end >= steps)
    return step == 1 and runs_to_end and _is_last(ir, source, int(start))


def _is_whole(dim: Optional[int], start, end, step) -> bool:
    starts_at_zero = start == 0 or (dim is not None and start <= -dim)
    return step == 1 and starts_at_zero and (end >= OPEN_END or (dim is not None and end >= dim))
