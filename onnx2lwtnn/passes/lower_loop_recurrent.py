"""A recurrent cell written as a generic ``Loop`` (tf2onnx's Keras GRU and SimpleRNN) ->
a ``Recurrent`` node: lwtnn's gru and simplernn layers.

tf2onnx writes Keras' LSTM as the ONNX LSTM op, but a GRU (Keras 3; Keras 2 when
``reset_after=False``) and a SimpleRNN as a Loop over the time-major sequence whose body
is the cell: ``x_t = Gather(X, i)``, the weights carried through unchanged, the state
carried from a zero tensor built from the batch size at run time, each new state also
stacked as the Loop's scan output. The body is read by abstract interpretation: each of
its tensors is worked out as what it is in terms of ``x_t`` and the state ``h`` (a
``_Linear`` map, an activation of one, a product...), and the new state must then be

- ``act(x W + h U + b)``: a SimpleRNN (lwtnn's simplernn), or
- ``z * h + (1 - z) * act(x W_h + (r * h) U_h + b_h)`` with the gates ``z`` and ``r``
  ``inner(x W + h U + b)``: a GRU that resets before the recurrent product (Keras'
  ``reset_after=False``, lwtnn's gru). Keras' default ``reset_after=True`` computes
  ``r * (h U_h + b)`` instead, which lwtnn cannot: refused with that reason.

Weights are picked, never multiplied, and the biases a gate adds up are summed exactly
(rounded once). The Loop must run once per time step, which is proven, not assumed: its
trip count is the length of the time axis of the sequence it reads, and its conditions
(counters compared with that length, in tf2onnx's form) hold until the last step. Its
final state becomes the layer's last step, its scan output the layer's sequence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import add_layout, sequence_view, slice_bounds
from .drop_initial_states import is_zero
from .fold_constants import evaluate_node
from .lower_activations import DIRECT
from .squeeze_runtime_reshape import shape_entries

TIME_MAJOR = ("time", "batch", "feature")
RESET_AFTER = ("its body is a GRU cell with reset_after=True (Keras' default GRU; ONNX "
               "linear_before_reset=1, as PyTorch's nn.GRU): the reset gate applies after "
               "the recurrent matrix product, where lwtnn's gru applies it before "
               "(reset_after=False), and the two compute different results")


class _NoMatch(Exception):
    """The Loop is not a cell lwtnn has: the message says why."""


@dataclass(frozen=True)
class _Index:
    """An integer a * i + b * T + c: i the iteration (from 0), T the number of steps."""

    a: int
    b: int
    c: int

    def __add__(self, other: "_Index") -> "_Index":
        return _Index(self.a + other.a, self.b + other.b, self.c + other.c)

    def __neg__(self) -> "_Index":
        return _Index(-self.a, -self.b, -self.c)


ITERATION, STEPS = _Index(1, 0, 0), _Index(0, 1, 0)


@dataclass(frozen=True)
class _Sequence:
    """The time-major sequence the body reads step by step."""

    features: int


@dataclass(frozen=True)
class _Truth:
    """True when every index in ``negative`` is below zero (an And of Less)."""

    negative: tuple = ()


@dataclass(eq=False)
class _Linear:
    """sum over sources s of s @ terms[s], plus the bias terms (kept apart until summed
    exactly): s is "x" (the step's input), "h" (the state) or ("reset", r) (r * h)."""

    terms: dict
    biases: list = field(default_factory=list)

    @property
    def width(self) -> int:
        return next(iter(self.terms.values())).shape[1]

    def plain(self) -> Optional[Any]:
        """The source it is, if it is one source itself."""
        if len(self.terms) != 1 or self.biases:
            return None
        source, matrix = next(iter(self.terms.items()))
        return source if matrix.shape[0] == matrix.shape[1] and np.array_equal(
            matrix, np.eye(matrix.shape[0])) else None

    def columns(self, picked: slice) -> "_Linear":
        return _Linear({s: m[:, picked] for s, m in self.terms.items()},
                       [b[picked] for b in self.biases])

    def bias(self) -> np.ndarray:
        """The bias terms summed exactly, rounded once."""
        if not self.biases:
            return np.zeros(self.width)
        return np.array([math.fsum(values) for values in zip(*self.biases)])


@dataclass(eq=False)
class _Gate:
    activation: Any   # lwtnn's activation
    linear: _Linear
    op: str


@dataclass(eq=False)
class _Complement:
    gate: _Gate       # 1 - gate


@dataclass(eq=False)
class _Product:
    factors: tuple


@dataclass(eq=False)
class _Sum:
    terms: tuple


@rewrite("Loop")
def lower_loop_recurrent(ir: IRGraph, node: str) -> bool:
    """A Loop over a sequence whose body is a GRU (reset_after=False) or SimpleRNN cell
    (tf2onnx's Keras GRU and SimpleRNN) -> Recurrent."""
    try:
        cell = _Cell(ir, node)
        attrs = cell.recurrent_attrs()
    except _NoMatch as problem:
        ir.refuse(node, str(problem))
        return False
    _replace(ir, node, cell, attrs)
    return True


class _Cell:
    """The Loop's body read as a recurrent cell."""

    def __init__(self, ir: IRGraph, node: str):
        self.ir, self.node = ir, node
        body = ir[node].get("subgraphs", {}).get("body")
        if body is None:
            raise _NoMatch("a Loop without a body")
        self.body = body
        operands = ir.inputs_of(node) + [None] * (len(body.inputs) + 1)
        n_carried = len(body.inputs) - 2
        self.initial = operands[2:2 + n_carried]
        outer = dict(zip(ir[node]["outer_operands"], operands[len(body.inputs):]))
        self.sequence = self._sequence(outer)
        self.outer_values = _Interpreter(ir, self._outer_leaf)
        leaves = {body.outer[name]: self.outer_values.value(port)
                  for name, port in outer.items()}
        leaves[body.inputs[0]] = ITERATION
        leaves[body.inputs[1]] = _Truth()  # the loop runs on while it is true
        self.carried = self._carried(leaves, n_carried)
        self.values = _Interpreter(body, lambda port: leaves.get(port.node))
        self._check_steps(operands[0], operands[1])

    # -- what the body reads -------------------------------------------------------------
    def _sequence(self, outer: dict) -> Port:
        """The canonical sequence whose steps the body reads (Gather by the iteration)."""
        views = [p for p in outer.values() if p is not None
                 and (sequence_view(self.ir, p) or (None, None))[1] == TIME_MAJOR]
        if len(views) != 1:
            raise _NoMatch("its body reads no [time, batch, features] view of a sequence, or "
                           "several; lwtnn's recurrent layers read one sequence step by step")
        self.time_major = views[0]
        return sequence_view(self.ir, views[0])[0]

    def _outer_leaf(self, port: Port):
        """Constants; the number of steps where the enclosing graph computes it from the
        sequence's shape; the sequence itself."""
        ir = self.ir
        if ir.op(port.node) == "Const":
            return ir.const_value(port)
        if (shape_entries(ir, port, self.time_major, 3) == [(0,)]
                or shape_entries(ir, port, self.sequence, 3) == [(1,)]):
            return STEPS
        return _Sequence(ir.shape(self.sequence)[-1]) if port == self.time_major else None

    def _carried(self, leaves: dict, n_carried: int) -> list[str]:
        """What each carried value is: "invariant" (passed through: its initial value),
        "counter" (the iteration, checked in _check_steps), or "state"."""
        body, kinds = self.body, []
        for k in range(n_carried):
            formal, result = body.inputs[2 + k], _through_identity(
                body, body.operand(body.outputs[1 + k], 0))
            if result == Port(formal):
                leaves[formal] = self.outer_values.value(self.initial[k])
                kinds.append("invariant")
            elif body.is_float(Port(formal)):
                if not is_zero(self.ir, self.initial[k]):
                    raise _NoMatch(f"its initial state (carried value {k + 1}) is not provably "
                                   "zero; lwtnn's recurrent layers start from a zero state")
                kinds.append("state")
            else:
                leaves[formal] = ITERATION  # an induction hypothesis, checked in _check_steps
                kinds.append("counter")
        if kinds.count("state") != 1:
            raise _NoMatch(f"it carries {kinds.count('state')} float states; lwtnn's gru and "
                           "simplernn carry one")
        self.state = body.inputs[2 + kinds.index("state")]
        hidden = body.shape(Port(self.state))
        if not hidden or not isinstance(hidden[-1], int):
            raise _NoMatch("the width of its state is unknown")
        leaves[self.state] = _Linear({"h": np.eye(hidden[-1])})
        return kinds

    # -- how many times it runs ----------------------------------------------------------
    def _check_steps(self, trips: Optional[Port], condition: Optional[Port]) -> None:
        """The Loop runs once per step of the sequence: trip count T, conditions true until
        then, counters counting the iterations."""
        body = self.body
        if trips is not None and self.outer_values.value(trips) != STEPS:
            raise _NoMatch("its trip count is not the number of steps of the sequence it reads")
        initial = True if condition is None else self.outer_values.value(condition)
        if not _holds(initial, iterations=False):
            raise _NoMatch("its starting condition is not provably true for every sequence")
        for k, kind in enumerate(self.carried):
            if kind != "counter":
                continue
            result = self.values.value(body.operand(body.outputs[1 + k], 0))
            start = self.ir.const_value(self.initial[k])
            if result != ITERATION + _Index(0, 0, 1) or start is None or np.any(start != 0):
                raise _NoMatch(f"its carried value {k + 1} is neither passed through, nor a "
                               "counter of the iterations, nor the state")
        try:
            condition = self.values.value(body.operand(body.outputs[0], 0))
        except _NoMatch:
            condition = None  # computed from the values, not counted
        if not _holds(condition, iterations=True):
            raise _NoMatch("its condition may end it before the last step of the sequence")
        if trips is None and not _ends(condition):
            raise _NoMatch("it has no trip count, and its condition does not provably end it "
                           "after the last step of the sequence")

    # -- the cell ------------------------------------------------------------------------
    def recurrent_attrs(self) -> dict:
        body = self.body
        k = self.carried.index("state")
        update = self.values.value(body.operand(body.outputs[1 + k], 0))
        self.scans = [self.values.value(p) is update for p in
                      (body.operand(o, 0) for o in body.outputs[1 + len(self.carried):])]
        self.hidden = body.shape(Port(self.state))[-1]
        outputs = [Port(self.node, k) for k, kind in enumerate(self.carried) if kind == "counter"]
        outputs += [Port(self.node, len(self.carried) + k)
                    for k, is_state in enumerate(self.scans) if not is_state]
        if any(self.ir.consumers(port) for port in outputs):
            raise _NoMatch("a value it yields other than the state is used; lwtnn's recurrent "
                           "layers yield only their states")
        if isinstance(update, _Gate):
            return self._simple_rnn(update)
        if isinstance(update, _Sum):
            return self._gru(update)
        raise _NoMatch("its new state is neither act(x W + h U + b) (a SimpleRNN) nor "
                       "z * h + (1 - z) * act(x W + (r * h) U + b) (a GRU)")

    def _simple_rnn(self, update: _Gate) -> dict:
        return {"architecture": "simplernn", "activation": update.activation,
                "inner_activation": None, "components": {"h": self._component(update, "h")}}

    def _gru(self, update: _Sum) -> dict:
        kept, mixed = update.terms
        if isinstance(kept.factors[0], _Complement) or isinstance(kept.factors[1], _Complement):
            kept, mixed = mixed, kept
        z = _gate_with(kept, lambda f: isinstance(f, _Linear) and f.plain() == "h")
        complement = next((f for f in mixed.factors if isinstance(f, _Complement)), None)
        candidate = next((f for f in mixed.factors if isinstance(f, _Gate)), None)
        if z is None or complement is None or complement.gate is not z or candidate is None:
            raise _NoMatch("its new state is a sum, but not z * h + (1 - z) * candidate with "
                           "one update gate z (a GRU)")
        resets = [s for s in candidate.linear.terms if s not in ("x",)]
        if any(s == "h" for s in resets) or len(resets) != 1:
            raise _NoMatch("its GRU candidate does not read the state through the reset "
                           "gate once, as lwtnn's gru does")
        r = resets[0][1]
        if r.activation != z.activation:
            raise _NoMatch(f"its reset gate's activation ({r.op}) differs from its update "
                           f"gate's ({z.op}); lwtnn's gru uses one inner activation")
        return {"architecture": "gru", "activation": candidate.activation,
                "inner_activation": z.activation,
                "components": {"z": self._component(z, "h"), "r": self._component(r, "h"),
                               "h": self._component(candidate, resets[0])}}

    def _component(self, gate: _Gate, recurrent: Any) -> dict:
        """lwtnn's {weights [H, in], U [H, H], bias [H]} of a gate; ``recurrent`` names
        the source U multiplies."""
        linear = gate.linear
        unknown = set(linear.terms) - {"x", recurrent}
        if unknown or linear.width != self.hidden:
            raise _NoMatch(f"its {gate.op} gate reads something other than x_t and the state "
                           "through one matrix each")
        features = self.ir.shape(self.sequence)[-1]
        weights = linear.terms.get("x", np.zeros((features, self.hidden)))
        recurrent_weights = linear.terms.get(recurrent, np.zeros((self.hidden, self.hidden)))
        return {"weights": weights.T.copy(), "U": recurrent_weights.T.copy(),
                "bias": linear.bias()}


def _gate_with(product: _Product, is_other) -> Optional[_Gate]:
    """The gate g of a product g * other where ``is_other(other)``."""
    first, second = product.factors
    for gate, other in ((first, second), (second, first)):
        if isinstance(gate, _Gate) and is_other(other):
            return gate
    return None


def _holds(condition, iterations: bool) -> bool:
    """Whether a condition is true at the start (i = 0, T >= 1) or, with ``iterations``,
    after every iteration but the last (0 <= i <= T - 2, T >= 2): each index is then
    below zero, as it is at the corner of that region and falls along its edges."""
    if isinstance(condition, np.ndarray):
        return condition.dtype == bool and bool(np.all(condition))
    if condition is True:
        return True
    if not isinstance(condition, _Truth):
        return False
    for d in condition.negative:
        if iterations and not (d.b <= 0 and d.a + d.b <= 0 and 2 * d.b + d.c < 0):
            return False
        if not iterations and not (d.b <= 0 and d.b + d.c < 0):
            return False
    return True


def _ends(condition) -> bool:
    """Whether a condition is false after the last iteration (i = T - 1, for every T >= 1):
    one of its indices is then at or above zero, as it is at T = 1 and grows with T."""
    return isinstance(condition, _Truth) and any(
        d.a + d.b >= 0 and d.b + d.c >= 0 for d in condition.negative)


def _through_identity(ir: IRGraph, port: Optional[Port]) -> Optional[Port]:
    while port is not None and ir.op(port.node) == "Identity":
        port = ir.operand(port.node, 0)
    return port


class _Interpreter:
    """Each tensor of an IR as an abstract value: a numpy constant, an ``_Index``, a
    ``_Truth``, a ``_Linear`` map of the step's sources, a ``_Gate``, ... (``leaf`` gives
    the values it knows, or None to work one out from the node's operands)."""

    def __init__(self, ir: IRGraph, leaf):
        self.ir, self.leaf, self.memo = ir, leaf, {}

    def value(self, port: Optional[Port]):
        if port is None:
            return None
        if port not in self.memo:
            known = self.leaf(port)
            self.memo[port] = known if known is not None else self._evaluate(port)
        return self.memo[port]

    def _evaluate(self, port: Port):
        ir, node = self.ir, port.node
        op = ir.op(node)
        if op == "Const":
            return ir.const_value(port)
        operands = [self.value(p) for p in ir.inputs_of(node)]
        if op not in ("Input", "Output") and all(
                v is None or isinstance(v, np.ndarray) for v in operands):
            return evaluate_node(ir, node, operands)[port.index]
        handler = _HANDLERS.get(op)
        result = None if handler is None else handler(self, node, port.index, operands)
        if result is None:
            raise _NoMatch(f"its body's {op} '{ir[node]['label']}' is not part of a GRU or "
                           "SimpleRNN cell lwtnn has")
        return result


def _identity(interpreter, node, index, operands):
    value = operands[0]
    if isinstance(value, (_Index, _Truth)) or interpreter.ir.is_float(Port(node)):
        return value
    return None


def _add(interpreter, node, index, operands):
    a, b = operands[:2]
    if isinstance(a, np.ndarray):
        a, b = b, a
    if isinstance(a, _Index):
        b = _as_index(b)
        return None if b is None else a + b
    if isinstance(a, _Linear) and isinstance(b, np.ndarray):
        bias = np.asarray(b, np.float64)
        if bias.ndim > 2 or bias.size not in (1, a.width) or any(d != 1 for d in bias.shape[:-1]):
            return None
        return _Linear(dict(a.terms), a.biases + [np.broadcast_to(bias.reshape(-1), a.width)])
    if isinstance(a, _Linear) and isinstance(b, _Linear) and not set(a.terms) & set(b.terms):
        return _Linear({**a.terms, **b.terms}, a.biases + b.biases)
    if isinstance(a, _Product) and isinstance(b, _Product):
        return _Sum((a, b))
    return None


def _sub(interpreter, node, index, operands):
    a, b = operands[:2]
    if isinstance(a, _Index) and _as_index(b) is not None:
        return a + -_as_index(b)
    if isinstance(a, np.ndarray) and isinstance(b, _Gate) and np.all(a == 1) and a.size == 1:
        return _Complement(b)
    return None


def _as_index(value) -> Optional[_Index]:
    if isinstance(value, _Index):
        return value
    if isinstance(value, np.ndarray) and value.size == 1:
        number = float(value.reshape(-1)[0])
        return _Index(0, 0, int(number)) if number.is_integer() else None
    return None


def _mul(interpreter, node, index, operands):
    a, b = operands[:2]
    if any(isinstance(v, (np.ndarray, type(None), _Index, _Truth)) for v in (a, b)):
        return None
    for gate, other in ((a, b), (b, a)):
        if isinstance(gate, _Gate) and isinstance(other, _Linear) and other.plain() is None \
                and "h" in other.terms:
            raise _NoMatch(RESET_AFTER)
    return _Product((a, b))


def _matmul(interpreter, node, index, operands):
    a, w = operands[:2]
    if not isinstance(w, np.ndarray) or w.ndim != 2:
        return None
    weights = np.asarray(w, np.float64)
    if isinstance(a, _Linear) and a.plain() is not None:
        return _Linear({a.plain(): weights})
    if isinstance(a, _Product):
        gate = _gate_with(a, lambda f: isinstance(f, _Linear) and f.plain() == "h")
        if gate is not None:
            return _Linear({("reset", gate): weights})
    return None


def _split(interpreter, node, index, operands):
    linear = operands[0]
    ir = interpreter.ir
    if not isinstance(linear, _Linear) or ir.attrs(node).get("axis", 0) not in (1, -1):
        return None
    n_out = len(ir[node]["shapes"])
    sizes = operands[1] if len(operands) > 1 and operands[1] is not None else ir.attrs(node).get(
        "split")
    if sizes is None:
        if linear.width % n_out:
            return None
        sizes = [linear.width // n_out] * n_out
    start = int(sum(np.asarray(sizes).reshape(-1)[:index]))
    return linear.columns(slice(start, start + int(np.asarray(sizes).reshape(-1)[index])))


def _slice(interpreter, node, index, operands):
    linear = operands[0]
    bounds = slice_bounds(interpreter.ir, node)
    if not isinstance(linear, _Linear) or bounds is None:
        return None
    picked = np.arange(linear.width)
    for start, end, axis, step in zip(*bounds):
        if axis in (0, -2) and (start, step) == (0, 1) and end >= np.iinfo(np.int32).max:
            continue  # every event
        if axis not in (1, -1) or step != 1:
            return None
        picked = picked[slice(int(start), int(min(end, linear.width)), int(step))]
    if picked.size == 0:
        return None
    return linear.columns(slice(int(picked[0]), int(picked[-1]) + 1))


def _gather(interpreter, node, index, operands):
    data, position = operands[:2]
    if interpreter.ir.attrs(node).get("axis", 0) != 0 or not isinstance(data, _Sequence):
        return None
    if position != ITERATION:
        raise _NoMatch("its body reads the sequence at a step other than the iteration's own "
                       "(reversed, or skipping); lwtnn's recurrent layers run forward")
    return _Linear({"x": np.eye(data.features)})


def _activation(interpreter, node, index, operands):
    linear = operands[0]
    if not isinstance(linear, _Linear):
        return None
    op = interpreter.ir.op(node)
    return _Gate(DIRECT[op](interpreter.ir.attrs(node)), linear, op)


def _less(interpreter, node, index, operands):
    a, b = (_as_index(v) for v in operands[:2])
    return None if a is None or b is None else _Truth((a + -b,))


def _and(interpreter, node, index, operands):
    a, b = operands[:2]
    if isinstance(a, _Truth) and isinstance(b, _Truth):
        return _Truth(a.negative + b.negative)
    return None


_HANDLERS = {
    "Identity": _identity, "Cast": _identity, "Add": _add, "Sub": _sub, "Mul": _mul,
    "MatMul": _matmul, "Split": _split, "Slice": _slice, "Gather": _gather, "Less": _less,
    "And": _and, **{op: _activation for op in DIRECT},
}


def _replace(ir: IRGraph, node: str, cell: _Cell, attrs: dict) -> None:
    """The Recurrent layer, its final state as its last step, its scan output as its
    sequence seen time-major; passed-through values become their initial ones."""
    label = ir[node]["label"]
    batch, time = ir.shape(cell.sequence)[:2]
    hidden = cell.hidden
    sequence = Port(ir.add("Recurrent", [cell.sequence], label=label, attrs=attrs,
                           shapes=[(batch, time, hidden)]))
    n_carried = len(cell.carried)
    for k, kind in enumerate(cell.carried):
        if not ir.consumers(Port(node, k)):
            continue
        if kind == "invariant":
            ir.redirect(Port(node, k), cell.initial[k])
        elif kind == "state":
            ir.redirect(Port(node, k), Port(ir.add("LastStep", [sequence], label=f"{label}:h",
                                                   shapes=[(batch, hidden)])))
    for k, is_state in enumerate(cell.scans):
        if is_state and ir.consumers(Port(node, n_carried + k)):
            steps = add_layout(ir, "Transpose", sequence, (time, batch, hidden),
                               f"{label}:steps", perm=[1, 0, 2])
            ir.redirect(Port(node, n_carried + k), steps)
    ir.remove(node)
