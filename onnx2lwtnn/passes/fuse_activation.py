"""An ``Activation`` right after a linear ``Dense`` (or ``Conv1d``) that nothing else reads
-> that layer's activation."""
from __future__ import annotations

from ..ir import IRGraph, Port
from .base import rewrite
from .common import dense_to_fuse


@rewrite("Activation")
def fuse_activation(ir: IRGraph, node: str) -> bool:
    """Dense(linear) -> Activation(f)  =>  Dense(f)."""
    dense = dense_to_fuse(ir, ir.operand(node, 0))
    if dense is None:
        return False
    ir.attrs(dense)["activation"] = ir.attrs(node)["activation"]
    ir.replace(node, Port(dense))
    return True


@rewrite("Activation")
def fuse_into_conv1d(ir: IRGraph, node: str) -> bool:
    """Conv1d(linear) -> Activation(f)  =>  Conv1d(f), when nothing else reads the conv.

    Not softmax: lwtnn's conv1d applies its activation to each channel over time, which
    for softmax normalises over the time steps instead of the features."""
    source = ir.operand(node, 0)
    if (ir.op(source.node) != "Conv1d" or ir.attrs(source.node)["activation"] != "linear"
            or len(ir.consumers(source)) != 1 or ir.attrs(node)["activation"] == "softmax"):
        return False
    ir.attrs(source.node)["activation"] = ir.attrs(node)["activation"]
    ir.replace(node, source)
    return True
