"""Fold ``Affine`` (x * scale + shift) into its neighbours, exactly: into a preceding
linear Dense, into the lwtnn input preprocessing ``(x + offset) * scale`` of a graph
input, into a following Affine, or into every Dense that reads it.

Scales, shifts, weights and biases compose as exact rationals (``onnx2lwtnn.exact``) and
are rounded once, when written: where the graph subtracts a mean, the input's offset is
that mean, whatever the scale.
"""
from __future__ import annotations

import numpy as np

from ..exact import Exact, matmul
from ..ir import IRGraph, Port
from .base import rewrite
from .common import dense_to_fuse, reads_through_matrix, width

# Folded into the next dense layer, x * s + t becomes W s x + (b + W t), which lwtnn sums
# in double: where t is large against x * s + t (a nearly constant input, standardised:
# (x - 8000) / 1e-8 has t = -8e11 and values near 0), the sum loses log2 |t| bits. Up to
# 2**10 that costs at most 10 of 53 bits; beyond, the Affine stays a normalization layer,
# (x + t / s) * s, which lwtnn computes as the graph does.
SHIFT_LIMIT = 2.0 ** 10


@rewrite("Affine")
def fold_into_previous_dense(ir: IRGraph, node: str) -> bool:
    """Dense(linear) -> Affine  =>  Dense with rows scaled and bias shifted."""
    dense = dense_to_fuse(ir, ir.operand(node, 0))
    if dense is None:
        return False
    scale, shift = _scale_shift(ir, node)
    attrs = ir.attrs(dense)
    bias = Exact.of(attrs["bias"]) * scale + shift
    if not scale.equals(1):
        attrs["weights"] = Exact.of(attrs["weights"]) * scale.reshape(-1, 1)
    attrs["bias"] = bias
    ir.replace(node, Port(dense))
    return True


@rewrite("Affine")
def fold_into_input(ir: IRGraph, node: str) -> bool:
    """Input -> Affine  =>  the input's own offset/scale, when nothing else reads the input.

    ((x + o) * s) * scale + shift = (x + o') * s' + r with s' = s * scale, o' the double
    nearest to o + shift / s', and r = (o + shift / s' - o') * s': where the graph
    subtracts a mean, o' is that mean and r is 0; where later steps shift the normalised
    value by amounts no raw double can hold, the small residual r stays behind as an
    Affine for the next layer's bias."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Input" or len(ir.consumers(source)) != 1:
        return False
    scale, shift = _scale_shift(ir, node)
    offset, input_scale = input_preprocessing(ir, source.node)
    total_scale = input_scale * scale
    if total_scale.is_zero().any():
        return False  # (x + offset) * 0 cannot carry a shift: left for a layer
    centre = offset + shift / total_scale
    written = Exact.of(centre.rounded())
    residual = (centre - written) * total_scale
    if scale.equals(1) and written.equals(offset):
        return False  # only a residual no offset can take: it stays for the next layer
    attrs = ir.attrs(source.node)
    attrs["offset"], attrs["scale"] = written, total_scale
    if residual.is_zero().all():
        ir.replace(node, source)
    else:
        ir.attrs(node).update(scale=Exact.of(np.ones(len(residual))), shift=residual)
    return True


@rewrite("Affine")
def merge_affines(ir: IRGraph, node: str) -> bool:
    """Affine -> Affine  =>  one Affine."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Affine" or len(ir.consumers(source)) != 1:
        return False
    first_scale, first_shift = _scale_shift(ir, source.node)
    scale, shift = _scale_shift(ir, node)
    ir.attrs(node)["scale"] = first_scale * scale
    ir.attrs(node)["shift"] = first_shift * scale + shift
    ir.connect(ir.operand(source.node, 0), node, 0)
    ir.remove(source.node)
    return True


@rewrite("Affine", into_readers=True)
def fold_into_next_dense(ir: IRGraph, node: str) -> bool:
    """Affine -> Dense (every reader)  =>  Dense with columns scaled, bias shifted; not
    for a shift beyond ``SHIFT_LIMIT`` (it stays an exact normalization layer)."""
    readers = ir.consumers(Port(node))
    if not readers or not all(reads_through_matrix(ir, reader) for reader, _ in readers):
        return False
    scale, shift = _scale_shift(ir, node)
    if np.abs(shift.rounded()).max(initial=0.0) > SHIFT_LIMIT:
        return False
    folded = {}
    for reader, _ in readers:
        weights, bias = ir.attrs(reader)["weights"], ir.attrs(reader)["bias"]
        if not shift.is_zero().all():
            bias = Exact.of(bias) + matmul(weights, shift)
        if not scale.equals(1):
            weights = Exact.of(weights) * scale.reshape(1, -1)
        folded[reader] = weights, bias
    for reader, (weights, bias) in folded.items():
        ir.attrs(reader).update(weights=weights, bias=bias)
    ir.replace(node, ir.operand(node, 0))
    return True


def input_preprocessing(ir: IRGraph, node: str) -> tuple[Exact, Exact]:
    """An input's lwtnn ``(offset, scale)``, exactly (zero and one where it has none)."""
    attrs, n = ir.attrs(node), width(ir, Port(node))
    return (Exact.of(attrs["offset"]) if "offset" in attrs else Exact.zeros((n,)),
            Exact.of(attrs["scale"]) if "scale" in attrs else Exact.of([1] * n))


def _scale_shift(ir: IRGraph, node: str) -> tuple[Exact, Exact]:
    attrs = ir.attrs(node)
    return Exact.of(attrs["scale"]), Exact.of(attrs["shift"])
