"""An ``Activation`` right after a linear ``Dense`` that nothing else reads -> that dense
layer's activation."""
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
