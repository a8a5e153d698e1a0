"""lwtnn's activation functions as ONNX nodes, with lwtnn's exact definitions.

The ONNX operator of the same name is used only where it computes what lwtnn does
(``Tanh``, ``Relu``, ``Abs``, ``Softmax``).
Where lwtnn differs, its formula is written out: the sigmoid is ``1 / (1 + exp(-x))``
clamped to exactly 0 below -30 and exactly 1 above +30 (also inside swish and the
highway gate), ``hard_sigmoid`` is ``clip(0.2 x + 0.5, 0, 1)`` (onnxruntime has no
float64 ``HardSigmoid``), ``elu`` is ``alpha * (exp(x) - 1)`` below 0, ``leakyrelu`` is
``x > 0 ? x : alpha * x``; alphas are read the way lwtnn reads them
(``lwtnn.activations.parse_activation``).
"""
from __future__ import annotations

from typing import Callable

from ..lwtnn.activations import SIGMOID_LIMIT, ActivationSpec, parse_activation
from .builder import Builder

Emit = Callable[[Builder, str, float, int], str]  # (builder, x, alpha, softmax axis) -> y


def sigmoid(b: Builder, x: str, alpha: float = 0.0, axis: int = -1) -> str:
    limit = b.const(SIGMOID_LIMIT)
    clipped = b.op("Clip", [x, b.const(-SIGMOID_LIMIT), limit], "sigmoid/clip")
    inner = b.op("Div", [b.const(1.0), b.op("Add", [b.const(1.0), b.op(
        "Exp", [b.op("Neg", [clipped], "sigmoid/neg")], "sigmoid/exp")], "sigmoid/den")],
        "sigmoid")
    upper = b.op("Where", [b.op("Greater", [x, limit], "sigmoid/above"), b.const(1.0), inner],
                 "sigmoid/upper")
    return b.op("Where", [b.op("Less", [x, b.const(-SIGMOID_LIMIT)], "sigmoid/below"),
                          b.const(0.0), upper], "sigmoid/clamped")


def _hard_sigmoid(b: Builder, x: str, alpha: float, axis: int) -> str:
    scaled = b.op("Add", [b.op("Mul", [b.const(0.2), x], "hard_sigmoid/mul"), b.const(0.5)],
                  "hard_sigmoid/add")
    return b.op("Clip", [scaled, b.const(0.0), b.const(1.0)], "hard_sigmoid")


def _linear(b: Builder, x: str, alpha: float, axis: int) -> str:
    return x


def _elu(b: Builder, x: str, alpha: float, axis: int) -> str:
    negative = b.op("Mul", [b.const(alpha), b.op("Sub", [b.op(
        "Exp", [b.op("Min", [x, b.const(0.0)], "elu/min")], "elu/exp"), b.const(1.0)],
        "elu/expm1")], "elu/neg")
    return b.op("Where", [b.op("GreaterOrEqual", [x, b.const(0.0)], "elu/ge"), x, negative],
                "elu")


def _leakyrelu(b: Builder, x: str, alpha: float, axis: int) -> str:
    return b.op("Where", [b.op("Greater", [x, b.const(0.0)], "leakyrelu/gt"), x,
                          b.op("Mul", [b.const(alpha), x], "leakyrelu/neg")], "leakyrelu")


def _swish(b: Builder, x: str, alpha: float, axis: int) -> str:
    return b.op("Mul", [x, sigmoid(b, b.op("Mul", [b.const(alpha), x], "swish/ax"))], "swish")


def _unary(op_type: str, **attrs: float) -> Emit:
    return lambda b, x, alpha, axis: b.op(op_type, [x], op_type.lower(), **attrs)


ACTIVATIONS: dict[str, Emit] = {
    "linear": _linear,
    "sigmoid": lambda b, x, alpha, axis: sigmoid(b, x),
    "rectified": _unary("Relu"),
    "softmax": lambda b, x, alpha, axis: b.op("Softmax", [x], "softmax", axis=axis),
    "tanh": _unary("Tanh"),
    "hard_sigmoid": _hard_sigmoid,
    "elu": _elu,
    "leakyrelu": _leakyrelu,
    "swish": _swish,
    "abs": _unary("Abs"),
    "sigmoid_legacy": lambda b, x, alpha, axis: sigmoid(b, x),
    "hard_sigmoid_legacy": _hard_sigmoid,
    "tanh_legacy": _unary("Tanh"),
    # lwtnn maps -0.0 to +0.0 here; equal values, so Relu computes the same numbers
    "rectified_legacy": _unary("Relu"),
}


def activation(b: Builder, spec: ActivationSpec, x: str, axis: int = -1) -> str:
    """``x`` through the activation a layer's ``activation`` entry describes
    (``axis``: the axis softmax normalises over)."""
    name, alpha = parse_activation(spec)
    return ACTIVATIONS[name](b, x, alpha, axis)
