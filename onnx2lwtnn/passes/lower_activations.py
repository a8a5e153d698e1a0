"""ONNX activation ops -> ``Activation`` nodes carrying an lwtnn activation.

Activations lwtnn lacks are rewritten exactly where possible: HardSigmoid with any
alpha/beta becomes an ``Affine`` rescaling followed by lwtnn's fixed
``hard_sigmoid(0.2 x + 0.5)``; Selu becomes ``elu(alpha)`` followed by an ``Affine``
scale that later folds into the next layer. The ``Affine`` nodes fold away later.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import SEQUENCE_ROLES, float_attribute, is_per_step, sequence_view, show_as, width

# lwtnn's hard_sigmoid is clip(0.2 x + 0.5, 0, 1); ONNX's is clip(alpha x + beta, 0, 1).
LWTNN_HARD_SIGMOID_SLOPE, LWTNN_HARD_SIGMOID_SHIFT = 0.2, 0.5
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


def _simple(name: str) -> Callable:
    return lambda attrs: name


def _with_alpha(name: str, default: float) -> Callable:
    return lambda attrs: {"function": name, "alpha": float_attribute(attrs, "alpha", default)}


# ONNX op -> function of its attributes giving the lwtnn activation that computes the
# same function. An entry here is all a new activation needs: the pass, `onnx2lwtnn ops`
# and docs/operators.md all read this table.
DIRECT = {
    "Relu": _simple("rectified"),
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "Abs": _simple("abs"),
    "LeakyRelu": _with_alpha("leakyrelu", 0.01),
    "Elu": _with_alpha("elu", 1.0),
    "Swish": _with_alpha("swish", 1.0),
}


def _direct_doc() -> str:
    def shown(op: str) -> str:
        activation = DIRECT[op]({})
        return activation if isinstance(activation, str) else f"{activation['function']}(alpha)"
    return ", ".join(f"{op} -> {shown(op)}" for op in DIRECT) + " (the lwtnn activation " \
        "computing the same function)."


@rewrite(*DIRECT, doc=_direct_doc())
def lower_direct(ir: IRGraph, node: str) -> bool:
    """An ONNX activation lwtnn has under another name -> that lwtnn activation (on a
    sequence shown in another layout, such as a conv's channels-first output, it applies
    to the sequence, shown in that layout again)."""
    view = sequence_view(ir, ir.operand(node, 0))
    if view is not None and view[1] != SEQUENCE_ROLES:
        sequence, roles = view
        label = ir[node]["label"]
        new = ir.add("Activation", [sequence], label=label, shapes=[ir.shape(sequence)],
                     attrs={"activation": DIRECT[ir.op(node)](ir.attrs(node))})
        ir.replace(node, show_as(ir, Port(new), roles, f"{label}:shown"))
        return True
    source = _vector_operand(ir, node)
    if source is None:
        return False
    _replace_by_activation(ir, node, source, DIRECT[ir.op(node)](ir.attrs(node)))
    return True


@rewrite("Softmax")
def lower_softmax(ir: IRGraph, node: str) -> bool:
    """Softmax over the feature axis (opset < 13: axis 1 flattens; >= 13: axis -1)."""
    source = _vector_operand(ir, node)
    if source is None:
        return False
    rank = len(ir.shape(source))
    axis = ir.attrs(node).get("axis", 1 if ir.opset < 13 else -1)
    if axis % rank != rank - 1:
        ir.refuse(node, f"Softmax over axis {axis} mixes events; lwtnn's softmax runs over "
                        "the features of one event")
        return False
    _replace_by_activation(ir, node, source, "softmax")
    return True


@rewrite("HardSigmoid")
def lower_hard_sigmoid(ir: IRGraph, node: str) -> bool:
    """HardSigmoid(alpha, beta) -> Affine(5 alpha, 5 (beta - 0.5)) + hard_sigmoid."""
    source = _vector_operand(ir, node)
    if source is None:
        return False
    attrs = ir.attrs(node)
    alpha, beta = float_attribute(attrs, "alpha", 0.2), float_attribute(attrs, "beta", 0.5)
    # ONNX keeps alpha and beta as float32: Keras's 0.2 is 0.2000000030, not lwtnn's
    # double 0.2, so only the exact double values skip the rescale.
    if (alpha, beta) != (LWTNN_HARD_SIGMOID_SLOPE, LWTNN_HARD_SIGMOID_SHIFT):
        slope = Exact.of(LWTNN_HARD_SIGMOID_SLOPE)
        scale = Exact.of(alpha) / slope
        shift = (Exact.of(beta) - Exact.of(LWTNN_HARD_SIGMOID_SHIFT)) / slope
        source = add_affine(ir, source, scale, shift, f"{ir[node]['label']}:rescale")
    _replace_by_activation(ir, node, source, "hard_sigmoid")
    return True


@rewrite("Selu")
def lower_selu(ir: IRGraph, node: str) -> bool:
    """Selu(alpha, gamma) -> elu(alpha) followed by an Affine scale of gamma."""
    source = _vector_operand(ir, node)
    if source is None:
        return False
    attrs = ir.attrs(node)
    label = ir[node]["label"]
    elu = ir.add("Activation", [source], label=f"{label}:elu", shapes=[ir.shape(source)],
                 attrs={"activation": {"function": "elu",
                                       "alpha": float_attribute(attrs, "alpha", SELU_ALPHA)}})
    gamma = float_attribute(attrs, "gamma", SELU_GAMMA)
    ir.replace(node, add_affine(ir, Port(elu), gamma, 0.0, f"{label}:scale"))
    return True


def add_affine(ir: IRGraph, source: Port, scale, shift, label: str) -> Port:
    """A new ``Affine`` node computing source * scale + shift, per feature; ``scale`` and
    ``shift`` (numbers, arrays or ``Exact``) are held exactly."""
    n = (width(ir, source),)
    node = ir.add("Affine", [source], label=label, shapes=[ir.shape(source)],
                  attrs={"scale": Exact.of(scale).broadcast_to(n),
                         "shift": Exact.of(shift).broadcast_to(n)})
    return Port(node)


def _replace_by_activation(ir: IRGraph, node: str, source: Port, activation) -> None:
    new = ir.add("Activation", [source], label=ir[node]["label"], shapes=[ir.shape(source)],
                 attrs={"activation": activation})
    ir.replace(node, Port(new))


def _vector_operand(ir: IRGraph, node: str) -> Optional[Port]:
    source = ir.operand(node, 0)
    if source is None or not is_per_step(ir, source):
        ir.refuse(node, "the operand is not a [batch, features] vector (or a [batch, time, "
                        "features] sequence)")
        return None
    return source
