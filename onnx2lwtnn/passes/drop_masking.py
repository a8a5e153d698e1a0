"""Keras Masking as tf2onnx writes it: ``Mul(x, mask(x))`` where the mask is
``Cast(Greater(ReduceSum(Cast(Not(Equal(x, v)))), 0))`` (or an equivalent chain of
comparisons, casts and reductions of x alone) -> x, with a warning.

The mask zeroes an event only when every input equals the mask value v; lwtnn has no
masking for vectors, so that one case is the only one that changes, and the warning
says so."""
from __future__ import annotations

from typing import Optional

import networkx as nx
import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite

MASK_OPS = frozenset({"Equal", "Not", "Cast", "ReduceSum", "ReduceMax", "ReduceMin",
                      "Greater", "Less", "Abs", "Sub", "Or", "And", "Const"})


@rewrite("Mul")
def drop_keras_masking(ir: IRGraph, node: str) -> bool:
    """Mul(x, mask computed from x alone by comparisons to a constant) -> x."""
    operands = ir.inputs_of(node)[:2]
    for x, mask in (operands, operands[::-1]):
        value = _mask_value(ir, x, mask)
        if value is not None:
            ir.warnings.append(
                f"Keras Masking '{ir[node]['label']}' (mask value {value:g}) removed: lwtnn "
                f"has no vector masking. The one case that changes: an event whose "
                f"{_compared(ir, x)} all equal {value:g} is zeroed by the ONNX model, not by "
                "lwtnn")
            ir.replace(node, x)
            return True
    return False


def _compared(ir: IRGraph, x: Port) -> str:
    """What the mask value is compared with, in the units a user knows."""
    if ir.op(x.node) != "Input":
        return f"values of '{ir[x.node]['label']}' (computed inside the network, not raw inputs)"
    if "offset" in ir.attrs(x.node):
        return ("normalised inputs (after the variable spec's offset and scale; not the raw "
                "values given to lwtnn)")
    return "raw inputs (the values given to lwtnn)"


def _mask_value(ir: IRGraph, x: Port, mask: Port) -> Optional[float]:
    """The masked value when ``mask`` is a Keras mask of ``x`` ([batch, 1]), else None."""
    if ir.const_value(mask) is not None or ir.const_value(x) is not None:
        return None
    shape = ir.shape(mask)
    if shape is None or len(shape) != 2 or shape[-1] != 1:
        return None
    upstream = nx.ancestors(ir.g, mask.node) | {mask.node}
    sources = {n for n in upstream if ir.op(n) not in MASK_OPS}
    if sources != {x.node} or not any(ir.op(n).startswith("Reduce") for n in upstream):
        return None
    equals = [n for n in upstream if ir.op(n) == "Equal"]
    constants = [ir.const_value(p) for n in equals for p in ir.inputs_of(n)
                 if ir.const_value(p) is not None]
    if len(equals) != 1 or len(constants) != 1 or np.size(constants[0]) != 1:
        return None
    return float(np.asarray(constants[0]).reshape(-1)[0])
