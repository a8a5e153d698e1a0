"""ONNX LSTM, GRU and RNN -> a ``Recurrent`` node: lwtnn's lstm, gru and simplernn layers.

Matches a forward layer over a sequence: X is [time, batch, features] (layout 0, usually a
Transpose perm [1, 0, 2] of a [batch, time, features] sequence, or a graph input that is
then declared time-major) or [batch, time, features] (layout 1). Zero initial states were
removed before (``drop_initial_states``).

Weights map gate by gate. ONNX stacks W [gates * H, in], R [gates * H, H] and B = [Wb, Rb]
in the order i, o, f, c (LSTM), z, r, h (GRU) or h (RNN); each lwtnn component takes
``weights`` [H][in], ``U`` [H][H] and ``bias`` = Wb + Rb (the two ONNX biases always add
outside any gate product, so they sum exactly; GRU's Rbh does too when
linear_before_reset=0). ONNX activations become lwtnn's: f -> ``inner_activation``,
g (= h for an LSTM) -> ``activation``.

The node's outputs become views of the new sequence: Y is it with the ONNX direction axis
added ([time, 1, batch, H], or [batch, time, 1, H] for layout 1), Y_h its last step
(``LastStep``, lwtnn's sequence node used as a vector) with that axis added.

Refused, each with its reason: bidirectional and reverse directions, ``sequence_lens``,
initial states that are not zero, peepholes, ``clip``, ``input_forget``, GRU's
``linear_before_reset=1``, activations lwtnn lacks, and a used Y_c (lwtnn yields no
cell state).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import (SEQUENCE_ROLES, add_layout, reorient_input, sequence_view, width)

ONNX_GATES = {"LSTM": ("i", "o", "f", "c"), "GRU": ("z", "r", "h"), "RNN": ("h",)}
LWTNN_GATES = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h"), "RNN": ("h",)}
ARCHITECTURE = {"LSTM": "lstm", "GRU": "gru", "RNN": "simplernn"}
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"),
                       "RNN": ("Tanh",)}
SEQUENCE_LENS, INITIAL_H, INITIAL_C, PEEPHOLES = 4, 5, 6, 7
TIME_MAJOR = ("time", "batch", "feature")

# ONNX recurrent activation (lower case) -> (lwtnn activation of (alpha, beta), or None
# when lwtnn has no exact equivalent for those parameters).
ACTIVATIONS = {
    "tanh": lambda alpha, beta: "tanh",
    "sigmoid": lambda alpha, beta: "sigmoid",
    "relu": lambda alpha, beta: "rectified",
    "leakyrelu": lambda alpha, beta: {"function": "leakyrelu",
                                      "alpha": 0.01 if alpha is None else alpha},
    "elu": lambda alpha, beta: {"function": "elu", "alpha": 1.0 if alpha is None else alpha},
    # lwtnn's hard_sigmoid is clip(0.2 x + 0.5, 0, 1): only ONNX's default parameters.
    "hardsigmoid": lambda alpha, beta: "hard_sigmoid" if (
        np.float32(0.2 if alpha is None else alpha) == np.float32(0.2)
        and np.float32(0.5 if beta is None else beta) == np.float32(0.5)) else None,
}
# Which ONNX recurrent activations read an entry of activation_alpha / activation_beta.
USES_ALPHA = {"leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu", "affine"}
USES_BETA = {"scaledtanh", "hardsigmoid", "affine"}


@rewrite("LSTM", "GRU", "RNN")
def lower_recurrent(ir: IRGraph, node: str) -> bool:
    """A forward LSTM/GRU/RNN over a sequence -> Recurrent; Y and Y_h become views of it."""
    problem, activations, components = _unsupported(ir, node), None, None
    if problem is None:
        activations, problem = _activations(ir, node)
    if problem is None:
        components, problem = _components(ir, node)
    if problem is not None:
        ir.refuse(node, problem)
        return False
    layout = ir.attrs(node).get("layout", 0)
    roles = TIME_MAJOR if layout == 0 else SEQUENCE_ROLES
    source = _sequence_source(ir, node, roles)
    if source is None:
        ir.refuse(node, f"its input X is not a sequence seen as [{', '.join(roles)}] "
                        f"(layout {layout}) through ops lwtnn can express")
        return False
    n_out, n_in = components[LWTNN_GATES[ir.op(node)][0]]["weights"].shape
    if n_in != width(ir, source):
        ir.refuse(node, f"W has {n_in} inputs but the sequence has {width(ir, source)} "
                        "features")
        return False
    activation, inner = activations
    attrs = {"architecture": ARCHITECTURE[ir.op(node)], "components": components,
             "activation": activation, "inner_activation": inner}
    _replace(ir, node, source, attrs, layout, n_out)
    return True


def _unsupported(ir: IRGraph, node: str) -> Optional[str]:
    """Why lwtnn cannot express this recurrent node's configuration, or None."""
    op, attrs = ir.op(node), ir.attrs(node)
    arch = ARCHITECTURE[op]
    direction = attrs.get("direction", "forward")
    if direction != "forward":
        return (f"direction '{direction}': lwtnn's {arch} runs forward only, so bidirectional "
                "and reverse recurrent layers have no lwtnn form")
    if ir.operand(node, SEQUENCE_LENS) is not None:
        return ("its sequence_lens input is not supported: lwtnn gives every event a "
                "sequence of its own length, so feed only the real steps (no padding) instead")
    for slot, name in ((INITIAL_H, "initial_h"), (INITIAL_C, "initial_c")):
        if ir.operand(node, slot) is not None:
            return (f"its initial state {name} is not provably zero; lwtnn's {arch} starts "
                    "every sequence from a zero state")
    if op == "LSTM" and ir.operand(node, PEEPHOLES) is not None:
        return "its peephole weights (input P) have no lwtnn form; lwtnn's lstm has none"
    if attrs.get("clip"):
        return f"clip={attrs['clip']}: lwtnn's {arch} does not clip its cell inputs"
    if attrs.get("input_forget", 0):
        return "input_forget=1 couples the input and forget gates; lwtnn's lstm does not"
    if op == "GRU" and attrs.get("linear_before_reset", 0):
        return ("linear_before_reset=1 (what PyTorch's nn.GRU exports) applies the reset gate "
                "after the recurrent matrix product; lwtnn's gru applies it before "
                "(ONNX linear_before_reset=0, the Keras GRU with reset_after=False), and the "
                "two compute different results")
    if attrs.get("layout", 0) not in (0, 1):
        return f"layout {attrs['layout']} is not an ONNX layout"
    if ir.consumers(Port(node, 2)):
        return "its cell state output Y_c is used; lwtnn's lstm yields only the hidden state"
    return None


def _activations(ir: IRGraph, node: str) -> tuple[Optional[tuple], Optional[str]]:
    """((activation, inner_activation) in lwtnn's terms, None), or (None, why not)."""
    op, attrs = ir.op(node), ir.attrs(node)
    names = list(attrs.get("activations") or DEFAULT_ACTIVATIONS[op])
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    mapped = []
    for name in names:
        key = name.lower()
        alpha = alphas.pop(0) if key in USES_ALPHA and alphas else None
        beta = betas.pop(0) if key in USES_BETA and betas else None
        function = ACTIVATIONS.get(key)
        lwtnn = None if function is None else function(alpha, beta)
        if lwtnn is None:
            return None, (f"activation {name} (activations {names}) has no lwtnn "
                          "equivalent; lwtnn has tanh, sigmoid, rectified (Relu), leakyrelu, "
                          "elu and hard_sigmoid (alpha 0.2, beta 0.5)")
        mapped.append(lwtnn)
    if len(mapped) != len(DEFAULT_ACTIVATIONS[op]):
        return None, f"activations {names} do not fit a forward {op}"
    if op == "RNN":
        return (mapped[0], None), None
    if op == "LSTM" and mapped[1] != mapped[2]:
        return None, (f"its cell activation {names[1]} differs from its output activation "
                      f"{names[2]}; lwtnn's lstm uses one activation for both")
    return (mapped[1], mapped[0]), None


def _components(ir: IRGraph, node: str) -> tuple[Optional[dict], Optional[str]]:
    """(lwtnn's components {gate: {weights, U, bias}} in lwtnn's gate order, None), or
    (None, why not)."""
    op = ir.op(node)
    w, r, b = (ir.const_value(ir.operand(node, slot)) for slot in (1, 2, 3))
    if w is None or r is None or (ir.operand(node, 3) is not None and b is None):
        return None, "its weights W, R or B are computed at run time; lwtnn needs constants"
    gates = ONNX_GATES[op]
    w, r = np.asarray(w, np.float64), np.asarray(r, np.float64)
    hidden = r.shape[-1] if r.ndim == 3 else 0
    b_shape = None if b is None else np.shape(b)
    if (w.ndim != 3 or r.ndim != 3 or not len(w) or not len(r) or b_shape not in (
            None, (len(w), 2 * len(gates) * hidden))
            or w.shape[1] != len(gates) * hidden or r.shape[1] != len(gates) * hidden):
        return None, (f"W {w.shape}, R {r.shape} and B {b_shape} do not hold "
                      f"{len(gates)} gates of {hidden} units")
    w, r = w[0], r[0]
    b = np.zeros(2 * len(gates) * hidden) if b is None else np.asarray(b, np.float64)[0]
    bias = b[:len(gates) * hidden] + b[len(gates) * hidden:]
    parts = {}
    for k, gate in enumerate(gates):
        rows = slice(k * hidden, (k + 1) * hidden)
        parts[gate] = {"weights": w[rows], "U": r[rows], "bias": bias[rows]}
    return {gate: parts[gate] for gate in LWTNN_GATES[op]}, None


def _sequence_source(ir: IRGraph, node: str, roles: tuple) -> Optional[Port]:
    """The canonical sequence X shows in the layout ``roles``; a graph input read directly
    is declared to be in that layout."""
    view = sequence_view(ir, ir.operand(node, 0))
    if (view is None or view[1] != roles) and reorient_input(ir, ir.operand(node, 0), roles):
        view = sequence_view(ir, ir.operand(node, 0))
    return view[0] if view is not None and view[1] == roles else None


def _replace(ir: IRGraph, node: str, source: Port, attrs: dict, layout: int,
             hidden: int) -> None:
    label = ir[node]["label"]
    batch, time = ir.shape(source)[:2]
    sequence = Port(ir.add("Recurrent", [source], label=label, attrs=attrs,
                           shapes=[(batch, time, hidden)]))
    if ir.consumers(Port(node, 0)):
        if layout == 0:
            steps = add_layout(ir, "Transpose", sequence, (time, batch, hidden),
                               f"{label}:Y", perm=[1, 0, 2])
            y = add_layout(ir, "Unsqueeze", steps, (time, 1, batch, hidden), f"{label}:Y",
                           axes=[1])
        else:
            y = add_layout(ir, "Unsqueeze", sequence, (batch, time, 1, hidden),
                           f"{label}:Y", axes=[2])
        ir.redirect(Port(node, 0), y)
    if ir.consumers(Port(node, 1)):
        last = Port(ir.add("LastStep", [sequence], label=f"{label}:Y_h",
                           shapes=[(batch, hidden)]))
        shape = (1, batch, hidden) if layout == 0 else (batch, 1, hidden)
        y_h = add_layout(ir, "Unsqueeze", last, shape, f"{label}:Y_h", axes=[layout])
        ir.redirect(Port(node, 1), y_h)
    ir.remove(node)
