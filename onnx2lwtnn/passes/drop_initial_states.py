"""Initial states of LSTM/GRU/RNN nodes that are provably all zeros -> absent inputs.

lwtnn's recurrent layers start from a zero state, as an ONNX recurrent node does when
``initial_h``/``initial_c`` are omitted. PyTorch writes its zero states out in full:
``Shape -> Gather -> Unsqueeze -> Concat -> ConstantOfShape(0)`` (legacy exporter) or
``Expand(0.0, shape) -> Slice`` (dynamo exporter). A state is dropped only when its value
is zero whatever the run-time shape: a zero constant, a ConstantOfShape of zero, or a
zero tensor reshaped, expanded, sliced, gathered or cast. Any other initial state stays
for ``lower_recurrent`` to refuse; the shape arithmetic left behind is dead code.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite

INITIAL_STATE_SLOTS = (5, 6)  # initial_h (LSTM, GRU, RNN), initial_c (LSTM)
# Ops whose output is all zeros when their first operand is (whatever the others are).
ZERO_PRESERVING = frozenset({
    "Expand", "Tile", "Slice", "Gather", "Reshape", "Squeeze", "Unsqueeze", "Transpose",
    "Flatten", "Identity", "Cast",
})


@rewrite("LSTM", "GRU", "RNN")
def drop_zero_initial_states(ir: IRGraph, node: str) -> bool:
    """initial_h / initial_c that are provably all zeros -> omitted."""
    changed = False
    for slot in INITIAL_STATE_SLOTS:
        if is_zero(ir, ir.operand(node, slot)):
            ir.disconnect(node, slot)
            changed = True
    return changed


def is_zero(ir: IRGraph, port: Optional[Port]) -> bool:
    """Whether a tensor is all zeros whatever the inputs (False when unsure)."""
    if port is None:
        return False
    op = ir.op(port.node)
    if op == "Const":
        return bool(np.all(ir.const_value(port) == 0))
    if op == "ConstantOfShape":
        value = ir.attrs(port.node).get("value")
        return value is None or bool(np.all(np.asarray(value) == 0))
    if op == "Concat":
        return all(is_zero(ir, p) for p in ir.inputs_of(port.node))
    return op in ZERO_PRESERVING and port.index == 0 and is_zero(ir, ir.operand(port.node, 0))
