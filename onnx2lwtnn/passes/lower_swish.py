"""x * Sigmoid(x) and x * Sigmoid(b x), in either operand order (PyTorch's SiLU, Keras'
swish) -> an ``Activation`` swish with alpha b."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite


@rewrite("Mul")
def lower_swish(ir: IRGraph, node: str) -> bool:
    """Mul(x, Sigmoid(b x)) or Mul(Sigmoid(b x), x) -> swish(alpha=b)."""
    operands = ir.inputs_of(node)[:2]
    if len(operands) < 2 or any(ir.const_value(p) is not None for p in operands):
        return False
    for x, gate in (operands, operands[::-1]):
        alpha = _swish_alpha(ir, x, gate)
        if alpha is not None:
            # lwtnn reads a bare "swish" with alpha NaN: always write the alpha.
            new = ir.add("Activation", [x], label=ir[node]["label"], shapes=[ir.shape(x)],
                         attrs={"activation": {"function": "swish", "alpha": alpha}})
            ir.replace(node, Port(new))
            return True
    ir.refuse(node, "the product of two computed tensors is not an lwtnn layer "
                    "(only x * sigmoid(b x), i.e. swish, is)")
    return False


def _swish_alpha(ir: IRGraph, x: Port, gate: Port) -> Optional[float]:
    """b when gate = Sigmoid(b * x) for a constant scalar b, else None."""
    sigmoid_input = _sigmoid_input(ir, gate)
    if sigmoid_input is None:
        return None
    if sigmoid_input == x:
        return 1.0
    return _scalar_multiple(ir, sigmoid_input, x)


def _sigmoid_input(ir: IRGraph, port: Port) -> Optional[Port]:
    data = ir[port.node]
    is_sigmoid = data["op"] == "Sigmoid" or (
        data["op"] == "Activation" and data["attrs"]["activation"] == "sigmoid")
    return ir.operand(port.node, 0) if is_sigmoid else None


def _scalar_multiple(ir: IRGraph, port: Port, x: Port) -> Optional[float]:
    """b when port = x * b (a Mul by a scalar constant, or a uniform Affine), else None."""
    data = ir[port.node]
    if data["op"] == "Affine" and ir.operand(port.node, 0) == x:
        scale, shift = data["attrs"]["scale"], data["attrs"]["shift"]
        if shift.is_zero().all() and scale.equals(scale[0]):
            return float(scale.fraction(0))
    if data["op"] == "Mul":
        left, right = ir.inputs_of(port.node)[:2]
        for operand, constant in ((left, right), (right, left)):
            value = ir.const_value(constant)
            if operand == x and value is not None and np.size(value) == 1:
                return float(np.asarray(value).reshape(-1)[0])
    return None
