"""Gemm and MatMul with a constant weight -> a linear ``Dense`` node.

Gemm's transA (through a Transpose of the vector), transB, alpha, beta and every bias
form that broadcasts per feature are folded in; MatMul gets a zero bias, and the Add
that usually follows it is folded in later as an ``Affine`` (in either operand order).
A MatMul of a [batch, time, features] sequence by a 2-D weight is the same dense layer
applied at every time step (lwtnn's time_distributed node; deep sets' per-track MLP).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import float_attribute, is_per_step, is_vector, per_feature, rank, width


@rewrite("Gemm")
def lower_gemm(ir: IRGraph, node: str) -> bool:
    """Gemm(x, W, b) with constant W and b -> Dense."""
    attrs = ir.attrs(node)
    a, b, c = (ir.inputs_of(node) + [None, None, None])[:3]
    vector = _untransposed(ir, a) if attrs.get("transA", 0) else a
    weight = ir.const_value(b)
    if vector is None or not is_vector(ir, vector) or weight is None or np.ndim(weight) != 2:
        return _refuse_operands(ir, node, weight)
    weight = np.asarray(weight, dtype=np.float64)
    weights = _times(weight if attrs.get("transB", 0) else weight.T,
                     float_attribute(attrs, "alpha", 1.0))
    bias = np.zeros(weights.shape[0])
    if c is not None:
        value = ir.const_value(c)
        bias = None if value is None else per_feature(value, weights.shape[0])
        if bias is None:
            ir.refuse(node, "the Gemm bias is computed at run time or varies along the batch")
            return False
        bias = _times(bias, float_attribute(attrs, "beta", 1.0))
    return _make_dense(ir, node, vector, weights, bias)


def _times(values: np.ndarray, factor: float):
    """Gemm's alpha or beta applied exactly (rounded with everything folded later)."""
    return values if factor == 1.0 else Exact.of(values) * Exact.of(factor)


@rewrite("MatMul")
def lower_matmul(ir: IRGraph, node: str) -> bool:
    """MatMul(x, W) with constant 2-D W, x a vector or a sequence -> Dense, zero bias."""
    vector, weight = ir.inputs_of(node)[:2]
    value = ir.const_value(weight)
    if not is_per_step(ir, vector) or value is None or np.ndim(value) != 2:
        return _refuse_operands(ir, node, value)
    weights = np.asarray(value, dtype=np.float64).T
    return _make_dense(ir, node, vector, weights, np.zeros(weights.shape[0]))


def _make_dense(ir: IRGraph, node: str, vector: Port, weights: np.ndarray,
                bias: np.ndarray) -> bool:
    if width(ir, vector) not in (None, weights.shape[1]):
        ir.refuse(node, f"weight has {weights.shape[1]} inputs but the tensor has "
                        f"{width(ir, vector)} features")
        return False
    shape = ir.shape(vector)[:-1] + (weights.shape[0],)
    dense = ir.add("Dense", [vector], label=ir[node]["label"], shapes=[shape],
                   attrs={"weights": weights, "bias": bias, "activation": "linear"})
    ir.replace(node, Port(dense))
    return True


def _untransposed(ir: IRGraph, port: Optional[Port]) -> Optional[Port]:
    """x for a port that is Transpose(x) of a 2-D x, else None."""
    if port is None or ir.op(port.node) != "Transpose" or rank(ir, port) != 2:
        return None
    perm = ir.attrs(port.node).get("perm")
    return ir.operand(port.node, 0) if perm in (None, [1, 0]) else None


def _refuse_operands(ir: IRGraph, node: str, weight: Optional[np.ndarray]) -> bool:
    if weight is None:
        ir.refuse(node, "the weight matrix is computed at run time; lwtnn needs constant weights")
    elif np.ndim(weight) != 2:
        ir.refuse(node, f"the weight has shape {list(np.shape(weight))}, not a matrix")
    else:
        ir.refuse(node, "the operand is not a [batch, features] vector: lwtnn's dense "
                        "layers read vectors, or (a MatMul) every step of a [batch, time, "
                        "features] sequence; a product over any other axis (particles, "
                        "channels-first steps) has no lwtnn layer")
    return False
