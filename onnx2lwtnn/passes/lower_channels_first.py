"""BatchNormalization of a sequence shown channels-first -> a per-step ``Affine``.

PyTorch's BatchNorm1d normalises [batch, features, time]: the exporters write it between
the Transposes around a kernel-1 Conv1d, or after ``x.transpose(1, 2)`` before an LSTM.
Its channel axis is the feature axis, so per time step it is lwtnn's time_distributed
normalization: the Affine applies to the canonical sequence and is shown to the
BatchNormalization's readers in the same channels-first layout.
"""
from __future__ import annotations

from ..ir import IRGraph
from .base import rewrite
from .common import SEQUENCE_ROLES, add_layout, sequence_view, width
from .lower_activations import add_affine
from .lower_affine import batch_norm_affine


@rewrite("BatchNormalization")
def batch_norm_of_channels_first_sequence(ir: IRGraph, node: str) -> bool:
    """BatchNormalization of [batch, features, time] -> Affine per step of the sequence."""
    view = sequence_view(ir, ir.operand(node, 0))
    if view is None or sorted(view[1], key=str) != sorted(SEQUENCE_ROLES):
        return False
    source, roles = view
    if roles[1] != "feature":
        ir.refuse(node, f"it normalises the {roles[1]} axis of a sequence shown as "
                        f"[{', '.join(roles)}]; lwtnn normalises features")
        return False
    affine = batch_norm_affine(ir, node)
    if affine is None:
        return False
    if affine[0].size != width(ir, source):
        ir.refuse(node, f"it has {affine[0].size} channels but the sequence has "
                        f"{width(ir, source)} features")
        return False
    label = ir[node]["label"]
    normalized = add_affine(ir, source, *affine, label)
    dims = dict(zip(SEQUENCE_ROLES, ir.shape(source)))
    ir.replace(node, add_layout(ir, "Transpose", normalized, tuple(dims[r] for r in roles),
                                f"{label}:channels-first",
                                perm=[SEQUENCE_ROLES.index(r) for r in roles]))
    return True
