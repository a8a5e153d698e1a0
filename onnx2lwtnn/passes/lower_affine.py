"""Per-feature arithmetic by constants -> ``Affine`` (x * scale + shift).

Mul, Add, Sub and Div by a constant that broadcasts per feature (of a vector, or of every
step of a [batch, time, features] sequence), Neg, and
BatchNormalization at inference (every opset; also the [batch, features, 1] form PyTorch
0.3 writes between Unsqueeze and Squeeze, and the Transpose-wrapped form of old
keras2onnx files) are all affine maps, held as exact rationals; ``fold_affine`` then
folds them into a neighbouring dense layer or the lwtnn input scaling, exactly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import float_attribute, is_per_step, is_sequence, per_feature, width
from .lower_activations import add_affine


@rewrite("Mul", "Add", "Sub", "Div")
def lower_constant_arithmetic(ir: IRGraph, node: str) -> bool:
    """x op c, or c op x, with a per-feature constant c -> Affine."""
    left, right = ir.inputs_of(node)[:2]
    left_value, right_value = ir.const_value(left), ir.const_value(right)
    if (left_value is None) == (right_value is None):
        return False  # two computed tensors: lower_merge or lower_swish
    vector, value = (right, left_value) if left_value is not None else (left, right_value)
    if not ir.is_float(vector):
        return False  # index arithmetic (an exporter's scatter indices): no lwtnn layer
    const_first = left_value is not None
    n = width(ir, vector)
    constant = None if n is None else per_feature(value, n, 3 if is_sequence(ir, vector) else 2)
    if constant is None:
        ir.refuse(node, "the constant does not apply per feature of a [batch, features] "
                        "vector (it varies along the batch or the tensor is not a vector)")
        return False
    if not np.all(np.isfinite(constant)):
        ir.refuse(node, "the constant holds NaN or infinite values, which no lwtnn weight "
                        "can hold")
        return False
    scale, shift = affine_of(ir.op(node), constant, const_first)
    if scale is None:
        ir.refuse(node, "dividing a constant by the network's values is not an lwtnn layer")
        return False
    ir.replace(node, add_affine(ir, vector, scale, shift, ir[node]["label"]))
    return True


def affine_of(op: str, c: np.ndarray, const_first: bool):
    """Exact (scale, shift) of x op c (c op x when ``const_first``); (None, None) for
    c / x and for a division by zero."""
    c = Exact.of(c)
    ones, zeros = Exact.of(np.ones(c.shape)), Exact.zeros(c.shape)
    if op == "Mul":
        return c, zeros
    if op == "Add":
        return ones, c
    if op == "Sub":
        return (-ones, c) if const_first else (ones, -c)
    if const_first or c.is_zero().any():
        return None, None
    return c.reciprocal(), zeros


@rewrite("Neg")
def lower_neg(ir: IRGraph, node: str) -> bool:
    """Neg(x) -> Affine(-1, 0)."""
    source = ir.operand(node, 0)
    if not is_per_step(ir, source):
        return False
    ir.replace(node, add_affine(ir, source, -1.0, 0.0, ir[node]["label"]))
    return True


@rewrite("BatchNormalization")
def lower_batch_norm(ir: IRGraph, node: str) -> bool:
    """BatchNormalization at inference -> Affine(gamma / sqrt(var + eps), beta - mean * s)."""
    affine = batch_norm_affine(ir, node)
    if affine is None:
        return False
    scale, shift = affine
    wrapped = _wrapped_vector(ir, node, scale.size)
    if wrapped is None:
        ir.refuse(node, "BatchNormalization input is not a [batch, features] vector (or one "
                        "wrapped in Unsqueeze/Squeeze or Transpose/Transpose)")
        return False
    vector, last = wrapped
    if ir.op(ir.operand(node, 0).node) == "Transpose":
        ir.warnings.append(
            f"BatchNormalization '{ir[node]['label']}' normalises a transposed [features, "
            "batch] tensor with per-feature parameters (an old keras2onnx quirk that ONNX "
            "runtimes reject); converted as the per-feature normalisation Keras computes")
    ir.replace(last, add_affine(ir, vector, scale, shift, ir[node]["label"]))
    if last != node:
        ir.remove(node)
    return True


def batch_norm_affine(ir: IRGraph, node: str) -> Optional[tuple[Exact, Exact]]:
    """A BatchNormalization at inference as per-channel (scale, shift); None, with the
    node refused, in training mode or with parameters computed at run time."""
    attrs = ir.attrs(node)
    if attrs.get("training_mode", 0) or attrs.get("is_test", 1) == 0:
        ir.refuse(node, "BatchNormalization in training mode uses batch statistics")
        return None
    params = [ir.const_value(p) for p in ir.inputs_of(node)[1:5]]
    if len(params) < 4 or any(p is None for p in params):
        ir.refuse(node, "BatchNormalization parameters are not constants")
        return None
    gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).reshape(-1) for p in params)
    # The square root is the one step that is not rational: taken in double, as the
    # float64 reference takes it; everything around it is exact.
    deviation = np.sqrt(var + float_attribute(attrs, "epsilon", 1e-5))
    if np.any(deviation == 0) or not np.all(np.isfinite(deviation)):
        ir.refuse(node, "BatchNormalization divides by sqrt(var + epsilon), which is zero "
                        "or not finite here")
        return None
    scale = Exact.of(gamma) / Exact.of(deviation)
    return scale, Exact.of(beta) - Exact.of(mean) * scale


def _wrapped_vector(ir: IRGraph, node: str, width: int) -> Optional[tuple[Port, str]]:
    """The vector a BatchNormalization normalises, and the node whose output it replaces."""
    source = ir.operand(node, 0)
    if ir.features(source) == width:
        return source, node
    after = ir.sole_consumer(Port(node))
    if after is None or ir.op(source.node) not in ("Unsqueeze", "Transpose"):
        return None
    inner = ir.operand(source.node, 0)
    pairs = {"Unsqueeze": "Squeeze", "Transpose": "Transpose"}
    if (ir.op(after) == pairs[ir.op(source.node)] and ir.features(inner) == width
            and ir.features(Port(after)) == width):
        return inner, after
    return None
