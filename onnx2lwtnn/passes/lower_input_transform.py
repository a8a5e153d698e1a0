"""Element-wise functions lwtnn lacks (Log, Exp, Sqrt, Pow with a constant exponent, Clip,
Max and Min with a constant) applied to single input features before the network.

Such a function reads, through per-feature steps only (an ``Affine``, an ``abs`` or
``rectified`` activation, a ``Select`` of features), the graph input itself. A
CorrectionSet can compute it: a ``transform`` node replaces the input value by a formula
of it before the lwtnn node runs. ``lower_input_transform`` (the correctionlib pipeline)
moves the whole chain, with the input's own preprocessing, into the input's
``transforms`` (feature -> ``input_transforms`` chain) and lets the network read the
input; ``name_input_transform`` (lwtnn's pipeline) changes nothing and refuses the node,
saying that ``--format correctionlib`` can express it. A feature read both through the
function and without it cannot be replaced, and is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from .. import input_transforms
from ..exact import Exact
from ..input_transforms import Step
from ..ir import IRGraph, Port
from .base import rewrite
from .common import float_attribute, per_feature, width
from .fold_affine import input_preprocessing

OPS = ("Log", "Exp", "Sqrt", "Pow", "Clip", "Max", "Min")
PASSING_ACTIVATIONS = ("abs", "rectified")  # element-wise activations a formula writes
ONLY_ON_INPUTS = ("lwtnn cannot compute it, and a CorrectionSet (--format correctionlib) "
                  "can only where it applies to single input features before the network")


@dataclass
class _Chain:
    """What a function reads, traced back to the graph input."""

    input: str
    features: np.ndarray          # the input feature of each of the function's positions
    steps: list[list[Step]]       # per position: the steps from the raw feature on
    between: list[str]            # the nodes between the input and the function


@rewrite(*OPS, doc="Log, Exp, Sqrt, Pow (constant exponent), Clip, Max and Min (with a "
                   "constant) of single input features -> an input transform (a correctionlib "
                   "transform node; --format correctionlib only)")
def lower_input_transform(ir: IRGraph, node: str) -> bool:
    """The function, and the steps before it, become the input features' transforms."""
    chain = _traced(ir, node)
    if isinstance(chain, str):
        ir.refuse(node, chain)
        return False
    attrs = ir.attrs(chain.input)
    offset, scale = input_preprocessing(ir, chain.input)
    transforms = attrs.setdefault("transforms", {})
    for feature, steps in zip(chain.features.tolist(), chain.steps):
        # lwtnn's (x + offset) * scale, which the transform now applies first
        pre = input_transforms.affine(scale[feature], offset[feature] * scale[feature])
        total = input_transforms.then(transforms.get(feature, ()), pre)
        for step in steps:
            total = input_transforms.then(total, step)
        transforms[feature] = total
        offset, scale = _reset(offset, scale, feature)
    attrs["offset"], attrs["scale"] = offset, scale
    ir.replace(node, _read_features(ir, chain))
    for between in reversed(chain.between):
        ir.remove(between)
    return True


@rewrite(*OPS, doc="Log, Exp, Sqrt, Pow, Clip, Max, Min: refused, naming --format "
                   "correctionlib where they apply to single input features")
def name_input_transform(ir: IRGraph, node: str) -> bool:
    """lwtnn has no such layer: refuse, and say when a CorrectionSet could hold it."""
    chain = _traced(ir, node)
    if ir[node]["refusal"]:  # said at the first sweep, before the layers around it settled
        return False
    ir.refuse(node, chain if isinstance(chain, str) else
              "it applies to single input features before the network, which --format "
              "correctionlib can express (a correctionlib transform node)")
    return False


def _traced(ir: IRGraph, node: str) -> Union[_Chain, str]:
    """The function's chain back to the graph input, or why there is none."""
    operand, step = _function_step(ir, node)
    if operand is None:
        return step
    n = width(ir, Port(node))
    if n is None or ir.features(Port(node)) is None:
        return f"{ONLY_ON_INPUTS}; this one does not read a vector"
    steps = [step(i) for i in range(n)]
    positions = np.arange(n)
    between: list[str] = []
    port = operand
    while ir.op(port.node) != "Input":
        current = port.node
        if ir.sole_consumer(port) != (between[-1] if between else node):
            return f"{ONLY_ON_INPUTS}; its operand is also read elsewhere"
        if ir.op(current) in OPS:  # a function before this one: both become the transform
            operand, before = _function_step(ir, current)
            if operand is None:
                return before
        else:
            operand, before = ir.operand(current, 0), _step_of(ir, current)
        if before is None:
            return (f"{ONLY_ON_INPUTS}; it reads values the network computed "
                    f"({ir.op(current)} '{ir[current]['label']}')")
        if isinstance(before, np.ndarray):  # a Select: positions move
            positions = before[positions]
        else:
            for position, column in enumerate(positions.tolist()):
                steps[position][:0] = before(column)
        between.append(current)
        port = operand
    if port.index != 0 or len(ir.shape(port) or ()) not in (1, 2):
        return f"{ONLY_ON_INPUTS}; the input is not a vector"
    if len(set(positions.tolist())) != len(positions):
        return f"{ONLY_ON_INPUTS}; it reads one input feature twice"
    first = between[-1] if between else node
    clash = _read_elsewhere(ir, port.node, first, set(positions.tolist()))
    if clash:
        return (f"{ONLY_ON_INPUTS}; input feature(s) {clash} are also read without it, and "
                "a transform replaces the input's value")
    return _Chain(port.node, positions, steps, between)


def _function_step(ir: IRGraph, node: str):
    """(the operand the function applies to, position -> its Step), or (None, why not)."""
    op, operands = ir.op(node), ir.inputs_of(node)
    if op in ("Log", "Exp", "Sqrt"):
        return operands[0], lambda i, name=op.lower(): [Step(name)]
    if op == "Pow":
        exponent = _per_feature(ir, node, operands[1] if len(operands) > 1 else None)
        if exponent is None:
            return None, f"{ONLY_ON_INPUTS} with a constant exponent"
        return operands[0], lambda i: [Step("pow", (float(exponent[i]),))]
    if op == "Clip":
        low, high = _clip_bounds(ir, node)
        if low is None:
            return None, f"{ONLY_ON_INPUTS} with constant bounds"
        return operands[0], lambda i: _clip_steps(low[i], high[i])
    computed = [p for p in operands if p is not None and ir.const_value(p) is None]
    constants = [p for p in operands if p is not None and ir.const_value(p) is not None]
    values = [_per_feature(ir, node, p) for p in constants]
    if len(computed) != 1 or not constants or any(v is None for v in values):
        return None, f"{ONLY_ON_INPUTS} with a constant"
    bound = (np.maximum if op == "Max" else np.minimum).reduce(values)
    return computed[0], lambda i, name=op.lower(): [Step(name, (float(bound[i]),))]


def _per_feature(ir: IRGraph, node: str, port: Optional[Port]) -> Optional[np.ndarray]:
    value = ir.const_value(port)
    n = ir.features(Port(node))
    if value is None or n is None:
        return None
    return per_feature(value, n)


def _clip_bounds(ir: IRGraph, node: str):
    """Clip's (low, high) per feature: attributes before opset 11, optional inputs after."""
    n = ir.features(Port(node))
    if n is None:
        return None, None
    if ir.opset < 11:
        attrs = ir.attrs(node)
        low = float_attribute(attrs, "min", -np.finfo(np.float32).max)
        high = float_attribute(attrs, "max", np.finfo(np.float32).max)
        return np.full(n, low), np.full(n, high)
    operands = ir.inputs_of(node)
    bounds = []
    for slot, absent in ((1, -np.inf), (2, np.inf)):
        port = operands[slot] if slot < len(operands) else None
        if port is None:
            bounds.append(np.full(n, absent))
            continue
        value = _per_feature(ir, node, port)
        if value is None:
            return None, None
        bounds.append(value)
    return tuple(bounds)


def _clip_steps(low: float, high: float) -> list[Step]:
    """Clip: a maximum with its low bound, then a minimum with its high one (an infinite
    bound is no step)."""
    return ([Step("max", (float(low),))] if np.isfinite(low) else []) + \
        ([Step("min", (float(high),))] if np.isfinite(high) else [])


def _step_of(ir: IRGraph, node: str):
    """How a node between the input and the function acts on each position: a function
    of the input column giving its Step, the indices of a Select, or None."""
    op, attrs = ir.op(node), ir.attrs(node)
    if op == "Affine":
        scale, shift = Exact.of(attrs["scale"]), Exact.of(attrs["shift"])
        return lambda i: [input_transforms.affine(scale[i], shift[i])]
    if op == "Select":
        return np.asarray(attrs["indices"])
    if op == "Activation" and attrs["activation"] in PASSING_ACTIVATIONS:
        if attrs["activation"] == "abs":
            return lambda i: [Step("abs")]
        return lambda i: [Step("max", (0.0,))]
    return None


def _read_elsewhere(ir: IRGraph, input_node: str, first: str, features: set) -> list[int]:
    """The input features the chain replaces that another reader of the input reads."""
    clash: set[int] = set()
    for reader, _ in ir.consumers(Port(input_node)):
        if reader == first:
            continue
        read = (set(np.asarray(ir.attrs(reader)["indices"]).tolist())
                if ir.op(reader) == "Select" else features)
        clash |= read & features
    return sorted(clash)


def _reset(offset: Exact, scale: Exact, feature: int) -> tuple[Exact, Exact]:
    """The input's preprocessing with ``feature``'s made the identity (the transform now
    applies it)."""
    return _set(offset, feature, 0), _set(scale, feature, 1)


def _set(values: Exact, index: int, value: int) -> Exact:
    num, den = np.array(values.num, dtype=object), np.array(values.full_den(), dtype=object)
    num[index], den[index] = value, 1
    return Exact(num, den)


def _read_features(ir: IRGraph, chain: _Chain) -> Port:
    """What the network now reads in place of the function: the input, or a Select of it."""
    n = width(ir, Port(chain.input))
    if np.array_equal(chain.features, np.arange(n)):
        return Port(chain.input)
    shape = ir.shape(Port(chain.input))[:-1] + (len(chain.features),)
    select = ir.add("Select", [Port(chain.input)], label=f"{ir[chain.input]['label']}:read",
                    shapes=[shape], attrs={"indices": chain.features.copy()})
    return Port(select)
