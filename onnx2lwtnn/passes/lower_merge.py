"""Merges of computed vectors: Concat on the feature axis -> ``Concatenate``; Add, Sum
and Sub of equal-width vectors -> ``VectorSum`` (lwtnn's add node; Sub negates its second
operand with an exact ``Affine`` of -1)."""
from __future__ import annotations

from ..ir import IRGraph, Port
from .base import rewrite
from .common import is_feature_axis, is_sequence, is_vector
from .lower_activations import add_affine


@rewrite("Concat")
def lower_concat(ir: IRGraph, node: str) -> bool:
    """Concat of vectors along the feature axis -> Concatenate."""
    operands = ir.inputs_of(node)
    if any(p is None or ir.const_value(p) is not None for p in operands):
        ir.refuse(node, "Concat of a constant; lwtnn concatenates computed vectors only")
        return False
    axis = ir.attrs(node).get("axis", 1)
    if not all(is_feature_axis(ir, p, axis) for p in operands):
        ir.refuse(node, f"Concat along axis {axis} is not along the features of vectors")
        return False
    width = sum(ir.features(p) for p in operands)
    _replace_by(ir, node, "Concatenate", operands, ir.shape(operands[0])[:-1] + (width,))
    return True


@rewrite("Add", "Sum", "Sub")
def lower_sum(ir: IRGraph, node: str) -> bool:
    """Add/Sum/Sub of computed vectors of one width -> VectorSum."""
    operands = ir.inputs_of(node)
    if any(p is None or ir.const_value(p) is not None for p in operands):
        return False  # a constant operand is lower_affine's
    widths = {ir.features(p) for p in operands}
    if all(is_sequence(ir, p) for p in operands):
        ir.refuse(node, f"{ir.op(node)} of two sequences step by step (a residual "
                        "connection); lwtnn adds vectors only, and has no per-step sum of "
                        "sequences")
        return False
    if not all(is_vector(ir, p) for p in operands) or len(widths) != 1:
        ir.refuse(node, "operands are not vectors of one width (broadcasting between "
                        "computed tensors has no lwtnn node)")
        return False
    if ir.op(node) == "Sub":
        operands = [operands[0], add_affine(ir, operands[1], -1.0, 0.0,
                                            f"{ir[node]['label']}:negate")]
    _replace_by(ir, node, "VectorSum", operands, ir.shape(operands[0]))
    return True


def _replace_by(ir: IRGraph, node: str, kind: str, operands: list, shape: tuple) -> None:
    new = ir.add(kind, operands, label=ir[node]["label"], shapes=[shape])
    ir.replace(node, Port(new))
