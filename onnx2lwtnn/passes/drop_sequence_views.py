"""Layout ops that take a sequence back to [batch, time, features] -> that sequence.

The sequence analogue of ``drop_noops.drop_layout_chain``: a chain of Transpose, Squeeze
and Unsqueeze (``common.sequence_view``) that ends in the canonical layout, such as the
Transpose back to channels-last after a conv1d or the two Transposes around a layout-0
LSTM, is replaced by the sequence it started from, so that any pass can read it.
"""
from __future__ import annotations

from ..ir import IRGraph, Port
from .base import rewrite
from .common import SEQUENCE_ROLES, sequence_view


@rewrite("Transpose", "Squeeze", "Unsqueeze")
def drop_sequence_view(ir: IRGraph, node: str) -> bool:
    """A layout chain from a sequence back to [batch, time, features] -> the sequence."""
    view = sequence_view(ir, Port(node))
    if view is None:
        return False
    if view[1] != SEQUENCE_ROLES:  # left for its reader, which dropped it if it converted
        ir.refuse(node, f"it shows node '{ir[view[0].node]['label']}' as "
                        f"[{', '.join(map(str, view[1]))}] to a reader lwtnn cannot express")
        return False
    ir.replace(node, view[0])
    return True
