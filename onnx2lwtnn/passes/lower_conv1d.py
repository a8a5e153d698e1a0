"""A 1-D Conv over a sequence -> a ``Conv1d`` node (lwtnn's conv1d layer).

Matches Conv with one spatial dimension, a constant weight [out, in, kernel] (and bias),
group 1 and stride 1, whose input is a [batch, time, features] sequence transposed to
channels-first [batch, features, time] (Keras and PyTorch exports put a Transpose perm
[0, 2, 1] there; a graph input read by the Conv directly is declared channels-first).
tf2onnx writes a Keras Conv1D as a 2-D Conv of kernel [1, k] over the sequence seen as
[batch, features, 1, time]: that is the same layer. An activation that alone reads the
Conv output fuses into the layer. The result is shown to the Conv's readers as the Conv
laid it out (channels-first, with the axis of size 1 of the 2-D form), so the Transposes
and Squeezes back that exporters write cancel out (``drop_sequence_views``).

Padding must be one of lwtnn's, as lwtnn 2.14's Conv1dLayer::scan pads P = (kernel - 1)
* dilation zeros: valid [0, 0], causal [P, 0], same [(P + 1) // 2, P // 2]. Pads [a, b]
that add up to P but split it otherwise (Keras' and ONNX SAME_UPPER's 'same' with an even
kernel put the odd step at the end: [1, 2] for kernel 4, where lwtnn puts it at the
start) are lwtnn's 'same' of a kernel widened by zero taps on one side: [1, 2] is 'same'
[2, 2] of [0, w0, w1, w2, w3]. A zero tap adds exact zeros, so the layer computes the
same values. Other pads change the output length and are refused.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import layout_axes, reorient_input, sequence_view, show_as
from .lower_activations import DIRECT

CHANNELS_FIRST = ("batch", "feature", "time")
# tf2onnx's Keras Conv1D: a 2-D Conv over [batch, features, 1, time], kernel [1, k].
CHANNELS_FIRST_2D = ("batch", "feature", 1, "time")


@rewrite("Conv")
def lower_conv1d(ir: IRGraph, node: str) -> bool:
    """Conv (1-D, group 1, stride 1, lwtnn padding) over a sequence -> Conv1d."""
    weights = ir.const_value(ir.operand(node, 1))
    layout = _layout(ir, node, weights)
    if layout == CHANNELS_FIRST_2D:
        weights = weights[:, :, 0, :]
    problem, padding, bias, source = _unsupported(ir, node, weights), None, None, None
    if problem is None:
        padding, problem = _padding(ir, node, weights, layout)
    if problem is None:
        weights = _widened(weights, padding)
        padding = padding[0]
    if problem is None:
        bias, problem = _bias(ir, node, weights.shape[0])
    if problem is None:
        source = _sequence_source(ir, node, layout)
        if source is None:
            problem = ("its input is not a [batch, time, features] sequence transposed to "
                       "channels-first [batch, features, time]")
        elif ir.shape(source)[2] != weights.shape[1]:
            problem = (f"the weight has {weights.shape[1]} input channels but the sequence "
                       f"has {ir.shape(source)[2]} features")
    if problem is not None:
        ir.refuse(node, problem)
        return False
    absorbed, shown, added_bias, activation = _absorbed(ir, node, layout)
    bias = bias + added_bias
    batch, steps, _ = ir.shape(source)
    dilation = int(ir.attrs(node).get("dilations", [1])[-1])
    if padding == "valid":
        steps = steps - (weights.shape[2] - 1) * dilation if isinstance(steps, int) else None
    n_out = weights.shape[0]
    attrs = {"weights": np.asarray(weights, np.float64), "bias": bias, "dilation": dilation,
             "padding": padding, "activation": activation}
    conv = Port(ir.add("Conv1d", [source], label=ir[node]["label"], attrs=attrs,
                       shapes=[(batch, steps, n_out)]))
    ir.replace(absorbed[-1], show_as(ir, conv, shown, f"{ir[node]['label']}:channels-first"))
    for done in absorbed[:-1]:
        ir.remove(done)
    return True


def _layout(ir: IRGraph, node: str, weights: Optional[np.ndarray]) -> tuple:
    """How the Conv reads its sequence: channels-first, or tf2onnx's 2-D form (a weight
    [out, in, 1, k] over a view [batch, features, 1, time])."""
    if np.ndim(weights) == 4 and np.shape(weights)[2] == 1:
        view = sequence_view(ir, ir.operand(node, 0))
        if view is not None and view[1] == CHANNELS_FIRST_2D:
            return CHANNELS_FIRST_2D
    return CHANNELS_FIRST


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
    if any(s != 1 for s in attrs.get("strides", [1])):
        return f"strides {list(attrs['strides'])}: lwtnn's conv1d has stride 1 only"
    return None


def _padding(ir: IRGraph, node: str, weights: np.ndarray,
             layout: tuple) -> tuple[Optional[tuple], Optional[str]]:
    """((lwtnn's padding name, zero taps to add on the left, on the right), None) for the
    Conv's pads, or (None, why none fits)."""
    attrs = ir.attrs(node)
    kernel, dilation = weights.shape[2], int(attrs.get("dilations", [1])[-1])
    total = (kernel - 1) * dilation
    lwtnn = {"valid": [0, 0], "causal": [total, 0], "same": [(total + 1) // 2, total // 2]}
    auto_pad = attrs.get("auto_pad", "NOTSET")
    pads = {"VALID": [0, 0], "SAME_UPPER": [total // 2, (total + 1) // 2],
            "SAME_LOWER": [(total + 1) // 2, total // 2]}.get(auto_pad, _time_pads(attrs, layout))
    if pads is None:
        return None, (f"pads {list(attrs['pads'])} pad the axis of size 1 of its 2-D form; "
                      "lwtnn's conv1d pads only the time axis")
    for name, expected in lwtnn.items():
        if pads == expected:
            return (name, 0, 0), None
    taps = _zero_taps(pads, total, dilation)
    if taps is not None:
        return ("same", *taps), None
    where = f"pads {pads}" if auto_pad == "NOTSET" else f"pads {pads} (auto_pad {auto_pad})"
    return None, (f"{where} (kernel {kernel}, dilation {dilation}) match none of lwtnn's "
                  f"conv1d paddings, valid [0, 0], causal [{total}, 0] and same "
                  f"{lwtnn['same']}, nor 'same' with the kernel widened by zero taps (pads "
                  f"adding up to {total}): the output would not have the length lwtnn's "
                  "conv1d gives")


def _time_pads(attrs: dict, layout: tuple) -> Optional[list[int]]:
    """[start, end] padding of the time axis; None if the 2-D form pads its axis of 1."""
    if layout != CHANNELS_FIRST_2D:
        return [int(p) for p in attrs.get("pads", [0, 0])]
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    return None if pads[0] or pads[2] else [pads[1], pads[3]]


def _zero_taps(pads: list[int], total: int, dilation: int) -> Optional[tuple[int, int]]:
    """(left, right): the fewest zero taps that make ``pads`` lwtnn's 'same' padding.

    With ``left`` zero taps before the kernel and ``right`` after, lwtnn's 'same' pads
    [start + left * dilation, end + right * dilation] (each tap moves the window by one
    dilation step), which must split the new total with the odd step at the start."""
    start, end = pads
    if start < 0 or end < 0 or start + end != total:
        return None
    for extra in range(1, abs(start - end) + 2):
        for left in range(extra + 1):
            if start - end + (2 * left - extra) * dilation in (0, 1):
                return left, extra - left
    return None


def _widened(weights: np.ndarray, padding: tuple) -> np.ndarray:
    """The kernel with ``padding``'s zero taps added before and after it."""
    _, left, right = padding
    return np.pad(np.asarray(weights, np.float64), [(0, 0), (0, 0), (left, right)])


def _bias(ir: IRGraph, node: str, n_out: int) -> tuple[Optional[np.ndarray], Optional[str]]:
    port = ir.operand(node, 2)
    if port is None:
        return np.zeros(n_out), None
    value = ir.const_value(port)
    if value is None:
        return None, "its bias is computed at run time; lwtnn needs constants"
    return np.asarray(value, np.float64).reshape(-1), None


def _sequence_source(ir: IRGraph, node: str, layout: tuple) -> Optional[Port]:
    """The canonical sequence the Conv reads in ``layout``."""
    view = sequence_view(ir, ir.operand(node, 0))
    if (view is None or view[1] != layout) and reorient_input(
            ir, ir.operand(node, 0), layout):
        view = sequence_view(ir, ir.operand(node, 0))
    return view[0] if view is not None and view[1] == layout else None


def _absorbed(ir: IRGraph, node: str, layout: tuple) -> tuple[list[str], tuple, np.ndarray,
                                                              object]:
    """What the layer takes over from the nodes that alone read the Conv, in order: the
    Squeeze of the 2-D form's axis of size 1, an Add of a bias per channel (tf2onnx
    writes Keras' bias that way), an activation lwtnn has. Returns (the Conv and those
    nodes, how the last one lays the sequence out, the added bias, the activation)."""
    n_out = ir.const_value(ir.operand(node, 1)).shape[0]
    chain, roles, bias, activation = [node], layout, np.zeros(n_out), "linear"
    reader = ir.sole_consumer(Port(node))
    if (reader is not None and roles == CHANNELS_FIRST_2D and ir.op(reader) == "Squeeze"
            and layout_axes(ir, reader) in ([2], [-2])):
        chain, roles, reader = chain + [reader], CHANNELS_FIRST, ir.sole_consumer(Port(reader))
    if reader is not None and ir.op(reader) == "Add":
        added = _channel_constant(ir, reader, Port(chain[-1]), roles, n_out)
        if added is not None:
            chain, bias, reader = chain + [reader], added, ir.sole_consumer(Port(reader))
    if reader is not None and ir.op(reader) in DIRECT:
        chain, activation = chain + [reader], DIRECT[ir.op(reader)](ir.attrs(reader))
    return chain, roles, bias, activation


def _channel_constant(ir: IRGraph, add: str, conv: Port, roles: tuple,
                      n_out: int) -> Optional[np.ndarray]:
    """The constant an Add puts on each output channel of ``conv`` (laid out as
    ``roles``), or None when it is not one value per channel."""
    operands = ir.inputs_of(add)[:2]
    if conv not in operands:
        return None
    value = ir.const_value(operands[1 - operands.index(conv)])
    if value is None or np.ndim(value) > len(roles):
        return None
    value = np.asarray(value, np.float64).reshape((1,) * (len(roles) - np.ndim(value))
                                                  + np.shape(value))
    channel = roles.index("feature")
    if any(d != 1 for i, d in enumerate(value.shape) if i != channel):
        return None
    return np.broadcast_to(value.reshape(-1), (n_out,)).copy() if value.shape[channel] in (
        1, n_out) else None
