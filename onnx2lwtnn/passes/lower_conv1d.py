"""A 1-D Conv over a sequence -> a ``Conv1d`` node (lwtnn's conv1d layer).

Matches Conv with one spatial dimension, a constant weight [out, in, kernel] (and bias),
group 1 and stride 1, whose input is a [batch, time, features] sequence transposed to
channels-first [batch, features, time] (Keras and PyTorch exports put a Transpose perm
[0, 2, 1] there; a graph input read by the Conv directly is declared channels-first). An
activation that alone reads the Conv output fuses into the layer. The result is shown to
the Conv's readers channels-first again (a Transpose of the new sequence), so the
Transpose back that exporters write cancels out (``drop_sequence_views``).

Padding must be one of lwtnn's, as lwtnn 2.14's Conv1dLayer::scan pads P = (kernel - 1)
* dilation zeros: valid [0, 0], causal [P, 0], same [(P + 1) // 2, P // 2]. Any other
``pads`` is refused: for an even kernel, Keras' and ONNX SAME_UPPER's 'same' put the odd
step at the end ([1, 2] for kernel 4) where lwtnn puts it at the start ([2, 1]).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import add_layout, reorient_input, sequence_view
from .lower_activations import DIRECT

CHANNELS_FIRST = ("batch", "feature", "time")


@rewrite("Conv")
def lower_conv1d(ir: IRGraph, node: str) -> bool:
    """Conv (1-D, group 1, stride 1, lwtnn padding) over a sequence -> Conv1d."""
    weights = ir.const_value(ir.operand(node, 1))
    problem, padding, bias, source = _unsupported(ir, node, weights), None, None, None
    if problem is None:
        padding, problem = _padding(ir, node, weights)
    if problem is None:
        bias, problem = _bias(ir, node, weights.shape[0])
    if problem is None:
        source = _sequence_source(ir, node)
        if source is None:
            problem = ("its input is not a [batch, time, features] sequence transposed to "
                       "channels-first [batch, features, time]")
        elif ir.shape(source)[2] != weights.shape[1]:
            problem = (f"the weight has {weights.shape[1]} input channels but the sequence "
                       f"has {ir.shape(source)[2]} features")
    if problem is not None:
        ir.refuse(node, problem)
        return False
    last, activation = _fused_activation(ir, node)
    batch, steps, _ = ir.shape(source)
    dilation = int(ir.attrs(node).get("dilations", [1])[0])
    if padding == "valid":
        steps = steps - (weights.shape[2] - 1) * dilation if isinstance(steps, int) else None
    n_out = weights.shape[0]
    attrs = {"weights": np.asarray(weights, np.float64), "bias": bias, "dilation": dilation,
             "padding": padding, "activation": activation}
    conv = Port(ir.add("Conv1d", [source], label=ir[node]["label"], attrs=attrs,
                       shapes=[(batch, steps, n_out)]))
    shown = add_layout(ir, "Transpose", conv, (batch, n_out, steps),
                       f"{ir[node]['label']}:channels-first", perm=[0, 2, 1])
    ir.replace(last, shown)
    if last != node:
        ir.remove(node)
    return True


def _unsupported(ir: IRGraph, node: str, weights: Optional[np.ndarray]) -> Optional[str]:
    attrs = ir.attrs(node)
    if weights is None:
        return "its weight is computed at run time; lwtnn needs constants"
    if np.ndim(weights) != 3:
        return (f"a {np.ndim(weights) - 2}-D convolution (kernel {list(np.shape(weights)[2:])}); "
                "only a Conv with one spatial dimension maps to lwtnn's conv1d")
    if attrs.get("group", 1) != 1:
        return (f"group={attrs['group']}: lwtnn's conv1d has no grouped (or depthwise) "
                "convolution")
    if list(attrs.get("strides", [1])) != [1]:
        return f"strides {list(attrs['strides'])}: lwtnn's conv1d has stride 1 only"
    return None


def _padding(ir: IRGraph, node: str, weights: np.ndarray) -> tuple[Optional[str], Optional[str]]:
    """(lwtnn's padding name for the Conv's pads, None), or (None, why none fits)."""
    attrs = ir.attrs(node)
    kernel, dilation = weights.shape[2], int(attrs.get("dilations", [1])[0])
    total = (kernel - 1) * dilation
    lwtnn = {"valid": [0, 0], "causal": [total, 0], "same": [(total + 1) // 2, total // 2]}
    auto_pad = attrs.get("auto_pad", "NOTSET")
    pads = {"VALID": [0, 0], "SAME_UPPER": [total // 2, (total + 1) // 2],
            "SAME_LOWER": [(total + 1) // 2, total // 2]}.get(
        auto_pad, [int(p) for p in attrs.get("pads", [0, 0])])
    for name, expected in lwtnn.items():
        if pads == expected:
            return name, None
    where = f"pads {pads}" if auto_pad == "NOTSET" else f"pads {pads} (auto_pad {auto_pad})"
    return None, (f"{where} (kernel {kernel}, dilation {dilation}) match none of lwtnn's "
                  f"conv1d paddings: valid [0, 0], causal [{total}, 0], same {lwtnn['same']} "
                  "(lwtnn puts the odd step of 'same' padding at the start; Keras and "
                  "TensorFlow put it at the end, so their 'same' with an even kernel differs)")


def _bias(ir: IRGraph, node: str, n_out: int) -> tuple[Optional[np.ndarray], Optional[str]]:
    port = ir.operand(node, 2)
    if port is None:
        return np.zeros(n_out), None
    value = ir.const_value(port)
    if value is None:
        return None, "its bias is computed at run time; lwtnn needs constants"
    return np.asarray(value, np.float64).reshape(-1), None


def _sequence_source(ir: IRGraph, node: str) -> Optional[Port]:
    """The canonical sequence the Conv reads channels-first."""
    view = sequence_view(ir, ir.operand(node, 0))
    if (view is None or view[1] != CHANNELS_FIRST) and reorient_input(
            ir, ir.operand(node, 0), CHANNELS_FIRST):
        view = sequence_view(ir, ir.operand(node, 0))
    return view[0] if view is not None and view[1] == CHANNELS_FIRST else None


def _fused_activation(ir: IRGraph, node: str) -> tuple[str, object]:
    """(the node whose output the layer replaces, its lwtnn activation): an activation op
    that alone reads the Conv fuses in."""
    reader = ir.sole_consumer(Port(node))
    if reader is not None and ir.op(reader) in DIRECT:
        return reader, DIRECT[ir.op(reader)](ir.attrs(reader))
    return node, "linear"
