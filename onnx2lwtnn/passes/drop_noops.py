"""Remove nodes that leave a vector unchanged: Identity, Dropout at inference, Cast to a
float type, and chains of Reshape/Flatten/Squeeze/Unsqueeze/Transpose that start and end
at the same [batch, features] (or [features]) shape. Those ops never reorder elements
except Transpose, which is only dropped when the chain's permutations cancel."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import FLOAT_TYPES, IRGraph, Port
from .base import rewrite
from .common import rank

LAYOUT_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")


@rewrite("Identity")
def drop_identity(ir: IRGraph, node: str) -> bool:
    """Identity -> its input."""
    ir.replace(node, ir.operand(node, 0))
    return True


@rewrite("Dropout")
def drop_dropout(ir: IRGraph, node: str) -> bool:
    """Dropout at inference (no training_mode, or a constant false one) -> its input."""
    training = ir.const_value(ir.operand(node, 2))
    if ir.operand(node, 2) is not None and (training is None or bool(np.any(training))):
        ir.refuse(node, "Dropout in training mode is random; export the model in eval mode")
        return False
    if ir.consumers(Port(node, 1)):
        ir.refuse(node, "the Dropout mask output is used by the network")
        return False
    ir.replace(node, ir.operand(node, 0))
    return True


@rewrite("Cast")
def drop_float_cast(ir: IRGraph, node: str) -> bool:
    """Cast to float/double of a float tensor -> its input (lwtnn computes in double)."""
    source = ir.operand(node, 0)
    if ir.attrs(node).get("to") not in FLOAT_TYPES or not ir.is_float(source):
        ir.refuse(node, "Cast to or from a non-float type has no lwtnn equivalent")
        return False
    ir.replace(node, source)
    return True


@rewrite(*LAYOUT_OPS[:-1], "Transpose")
def drop_layout_chain(ir: IRGraph, node: str) -> bool:
    """A chain of layout ops that ends at the shape it started from -> its start."""
    start = _chain_start(ir, node)
    if start is None:
        return False
    ir.replace(node, start)
    return True


def _chain_start(ir: IRGraph, node: str) -> Optional[Port]:
    """Walk back through layout ops to a tensor with the same vector shape as ``node``."""
    out = Port(node, 0)
    if ir.features(out) is None:
        return None
    perm = np.arange(rank(ir, out))
    current = node
    while ir.op(current) in LAYOUT_OPS + ("Transpose",):
        if ir.op(current) == "Transpose":
            perm = _compose(ir, current, perm)
            if perm is None:
                return None
        elif not _is_identity_perm(perm):
            return None  # a reshape between transposes reorders elements
        source = ir.operand(current, 0)
        if (source is not None and ir.features(source) == ir.features(out)
                and rank(ir, source) == rank(ir, out) and _is_identity_perm(perm)):
            return source
        if source is None or ir.shape(source) is None:
            return None
        current = source.node
        if source.index != 0:
            return None
    return None


def _compose(ir: IRGraph, node: str, outer: np.ndarray) -> Optional[np.ndarray]:
    shape = ir.shape(ir.operand(node, 0))
    if shape is None or len(shape) != len(outer):
        return None
    perm = ir.attrs(node).get("perm")
    perm = np.arange(len(shape))[::-1] if perm is None else np.asarray(perm)
    return perm[outer]


def _is_identity_perm(perm: np.ndarray) -> bool:
    return bool(np.all(perm == np.arange(len(perm))))
