"""The TFormula expressions correctionlib evaluates: read, written, evaluated in numpy.

correctionlib's ``formula`` nodes (a CorrectionSet's input transforms, the ``finalizer``
of its ``lwtnn`` node) hold a TFormula subset that its C++ parses with a fixed grammar:
numbers ``-?[0-9]+(.[0-9]*)?(e-?[0-9]+)?`` (no ``e+``, no ``E``), variables ``x y z t``
and ``x[i]``, parameters ``[i]``, unary minus, ``+ - * / ^`` and comparisons and logic
(each giving 1 or 0), and the functions below. Precedence, lowest first: ``||``, ``&&``,
``== !=``, ``> < >= <=``, ``+ -``, ``* /``, ``^`` (right-associative); a unary minus
belongs to its operand, so ``-x^2`` is ``(-x)^2``, as correctionlib computes it.

This module reads that grammar (so a ``--finalizer`` is refused before anything is
written, and a file is checked where correctionlib is not installed), writes it (numbers
as the shortest text that reads back to the same double), evaluates it in float64 as
correctionlib's C++ does, and inverts a one-variable chain of functions (to draw events
in the domain of an input transform).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

UNARY_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log": np.log, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs,
    "cos": np.cos, "sin": np.sin, "tan": np.tan, "acos": np.arccos, "asin": np.arcsin,
    "atan": np.arctan, "cosh": np.cosh, "sinh": np.sinh, "tanh": np.tanh,
    "acosh": np.arccosh, "asinh": np.arcsinh, "atanh": np.arctanh,
}
BINARY_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "atan2": np.arctan2, "pow": np.power, "max": np.maximum, "min": np.minimum,
}
_TRUTH = lambda values: np.asarray(values, dtype=np.float64)  # noqa: E731
OPERATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "||": lambda a, b: _TRUTH((a != 0) | (b != 0)),
    "&&": lambda a, b: _TRUTH((a != 0) & (b != 0)),
    "==": lambda a, b: _TRUTH(a == b), "!=": lambda a, b: _TRUTH(a != b),
    ">": lambda a, b: _TRUTH(a > b), "<": lambda a, b: _TRUTH(a < b),
    ">=": lambda a, b: _TRUTH(a >= b), "<=": lambda a, b: _TRUTH(a <= b),
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
}
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, ">": 4, "<": 4, ">=": 4, "<=": 4,
              "+": 5, "-": 5, "*": 6, "/": 6, "^": 7}
RIGHT_ASSOCIATIVE = {"^"}
_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]*)?(e-?[0-9]+)?")
_NAME = re.compile(r"x\[([0-9]+)\]|\[([0-9]+)\]|[xyzt]")
_LETTER_VARIABLES = "xyzt"


class FormulaError(ValueError):
    """An expression correctionlib's TFormula grammar does not read, or cannot evaluate."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Var:
    index: int


@dataclass(frozen=True)
class Param:
    index: int


@dataclass(frozen=True)
class Neg:
    operand: "Node"


@dataclass(frozen=True)
class Op:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


Node = Union[Num, Var, Param, Neg, Op, Call]


# -- reading --------------------------------------------------------------------------------
def parse(text: str) -> Node:
    """The expression tree of ``text``; FormulaError says where it stops making sense."""
    reader = _Reader(text)
    tree = reader.expression(0)
    reader.skip_space()
    if reader.at < len(text):
        reader.fail("unexpected text")
    return tree


class _Reader:
    def __init__(self, text: str):
        self.text, self.at = text, 0

    def fail(self, what: str):
        raise FormulaError(f"{what} at position {self.at} of {self.text!r}")

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1

    def take(self, token: str) -> bool:
        self.skip_space()
        if self.text.startswith(token, self.at):
            self.at += len(token)
            return True
        return False

    def longest(self, choices) -> str:
        """The longest of ``choices`` the text continues with, or ''."""
        self.skip_space()
        found = [c for c in choices if self.text.startswith(c, self.at)]
        return max(found, key=len, default="")

    def expression(self, lowest: int) -> Node:
        left = self.atom()
        while True:
            at = self.at
            op = self.longest(PRECEDENCE)
            if not op or PRECEDENCE[op] < lowest:
                self.at = at
                return left
            self.at += len(op)
            right = self.expression(PRECEDENCE[op] + (op not in RIGHT_ASSOCIATIVE))
            left = Op(op, left, right)

    def atom(self) -> Node:
        self.skip_space()
        literal = _LITERAL.match(self.text, self.at)
        if literal:
            self.at = literal.end()
            return Num(float(literal.group()))
        negative = self.take("-")
        self.skip_space()
        node = self.call() or self.name()
        if node is None:
            if not self.take("("):
                self.fail("expected a number, variable, function or '('")
            node = self.expression(0)
            if not self.take(")"):
                self.fail("expected ')'")
        return Neg(node) if negative else node

    def call(self):
        name = self.longest([*UNARY_FUNCTIONS, *BINARY_FUNCTIONS])
        if not name or not self.text.startswith("(", self.at + len(name)):
            return None
        self.at += len(name) + 1
        args = [self.expression(0)]
        if name in BINARY_FUNCTIONS:
            if not self.take(","):
                self.fail(f"{name} takes two arguments; expected ','")
            args.append(self.expression(0))
        if not self.take(")"):
            self.fail("expected ')'")
        return Call(name, tuple(args))

    def name(self):
        match = _NAME.match(self.text, self.at)
        if match is None:
            return None
        self.at = match.end()
        if match.group(2) is not None:
            return Param(int(match.group(2)))
        if match.group(1) is not None:
            return Var(int(match.group(1)))
        return Var(_LETTER_VARIABLES.index(match.group()))


# -- writing --------------------------------------------------------------------------------
def number(value: float) -> str:
    """The shortest text that correctionlib reads back as exactly this double."""
    value = float(value)
    if not math.isfinite(value):
        raise FormulaError(f"{value} cannot be written in a formula")
    text = repr(value).replace("e+", "e")
    return text[:-2] if text.endswith(".0") else text


def render(node: Node) -> str:
    """``node`` as correctionlib's TFormula text; reads back (``parse``) to the same tree."""
    if isinstance(node, Num):
        return number(node.value) if node.value >= 0 else f"({number(node.value)})"
    if isinstance(node, Var):
        return f"x[{node.index}]" if node.index >= len(_LETTER_VARIABLES) else \
            _LETTER_VARIABLES[node.index]
    if isinstance(node, Param):
        return f"[{node.index}]"
    if isinstance(node, Neg):
        return f"-{_operand(node.operand)}"
    if isinstance(node, Call):  # an argument needs no parentheses, a negative number none
        args = (number(a.value) if isinstance(a, Num) else render(a) for a in node.args)
        return f"{node.name}({','.join(args)})"
    left, right = render(node.left), render(node.right)
    if _binds_looser(node.left, node.op, right_side=False):
        left = f"({left})"
    if _binds_looser(node.right, node.op, right_side=True):
        right = f"({right})"
    return f"{left}{node.op}{right}"


def _operand(node: Node) -> str:
    text = render(node)
    return text if isinstance(node, (Var, Param, Call)) or (
        isinstance(node, Num) and node.value >= 0) else f"({text})"


def _binds_looser(node: Node, op: str, right_side: bool) -> bool:
    """Whether ``node`` needs parentheses as an operand of ``op``."""
    if isinstance(node, Neg):
        return True  # (-a) as an operand: explicit, whatever the grammar does
    if not isinstance(node, Op):
        return False
    mine, theirs = PRECEDENCE[node.op], PRECEDENCE[op]
    if mine != theirs:
        return mine < theirs
    return right_side != (op in RIGHT_ASSOCIATIVE)


# -- evaluating -----------------------------------------------------------------------------
def evaluate(node: Node, variables: Sequence[np.ndarray],
             parameters: Sequence[float] = ()) -> np.ndarray:
    """The formula on float64 arrays, as correctionlib's C++ computes it."""
    arrays = [np.asarray(v, dtype=np.float64) for v in variables]
    with np.errstate(all="ignore"):
        values = np.asarray(_evaluate(node, arrays, parameters), dtype=np.float64)
    return np.broadcast_to(values, np.broadcast_shapes(*(a.shape for a in arrays))).copy() \
        if arrays else values


def _evaluate(node: Node, variables: list, parameters: Sequence[float]):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if node.index >= len(variables):
            raise FormulaError(f"the formula reads variable {node.index} but has "
                               f"{len(variables)}")
        return variables[node.index]
    if isinstance(node, Param):
        if node.index >= len(parameters):
            raise FormulaError(f"the formula reads parameter [{node.index}] but has "
                               f"{len(parameters)}")
        return parameters[node.index]
    if isinstance(node, Neg):
        return -_evaluate(node.operand, variables, parameters)
    if isinstance(node, Call):
        args = [_evaluate(a, variables, parameters) for a in node.args]
        function = UNARY_FUNCTIONS.get(node.name) or BINARY_FUNCTIONS[node.name]
        return function(*args)
    return OPERATORS[node.op](_evaluate(node.left, variables, parameters),
                              _evaluate(node.right, variables, parameters))


def variables_read(node: Node) -> set[int]:
    """The indices of the variables the formula reads."""
    if isinstance(node, Var):
        return {node.index}
    if isinstance(node, Neg):
        return variables_read(node.operand)
    if isinstance(node, Call):
        return set().union(*(variables_read(a) for a in node.args))
    if isinstance(node, Op):
        return variables_read(node.left) | variables_read(node.right)
    return set()


# -- inverting ------------------------------------------------------------------------------
def invert(node: Node, target: np.ndarray) -> np.ndarray:
    """Values of the one variable for which the formula gives ``target``, where it can
    (a chain of functions and arithmetic with constants); where a target is out of the
    formula's range, a value in its domain instead. Used to draw events a transform
    maps to where the network reads."""
    target = np.asarray(target, dtype=np.float64)
    with np.errstate(all="ignore"):
        while not isinstance(node, Var):
            node, target = _undo(node, target)
    return target


def _undo(node: Node, target: np.ndarray) -> tuple[Node, np.ndarray]:
    """The operand of the outermost step, and what it must be for the step to give target."""
    if isinstance(node, Neg):
        return node.operand, -target
    if isinstance(node, Call):
        inner = [a for a in node.args if variables_read(a)]
        if len(inner) != 1:
            raise FormulaError(f"{node.name}(...) of the variable cannot be inverted")
        (operand,) = inner
        inverse = _INVERSES.get(node.name)
        if inverse is None:
            raise FormulaError(f"{node.name}(...) of the variable cannot be inverted")
        constant = next((_constant(a) for a in node.args if a is not operand), None)
        return operand, inverse(target, constant, operand is node.args[0])
    if isinstance(node, Op) and node.op in "+-*/^":
        left_is_var = bool(variables_read(node.left))
        operand, other = (node.left, node.right) if left_is_var else (node.right, node.left)
        if variables_read(other):
            raise FormulaError("a formula of the variable in two places cannot be inverted")
        c = _constant(other)
        if node.op == "^":
            return operand, _INVERSES["pow"](target, c, left_is_var)
        undo = {"+": lambda t: t - c, "*": lambda t: t / c if c else t,
                "-": lambda t: t + c if left_is_var else c - t,
                "/": lambda t: t * c if left_is_var else (c / t if c else t)}[node.op]
        return operand, undo(target)
    raise FormulaError("the formula is not a chain of steps on one variable")


def _constant(node: Node) -> float:
    return float(evaluate(node, []))


def _power_inverse(target, exponent, base_is_variable):
    if not base_is_variable:  # c ^ v = t  ->  v = log(t) / log(c)
        return np.log(np.abs(target)) / np.log(abs(exponent))
    return np.abs(target) ** (1.0 / exponent) if exponent else target


_INVERSES = {
    "log": lambda t, c, first: np.exp(t),
    "log10": lambda t, c, first: 10.0 ** t,
    "exp": lambda t, c, first: np.log(np.maximum(np.abs(t), 1e-300)),
    "sqrt": lambda t, c, first: t * t,
    "abs": lambda t, c, first: np.abs(t),
    "max": lambda t, c, first: t,   # at or below the bound: clipped, which is in the domain
    "min": lambda t, c, first: t,
    "pow": _power_inverse,
    "tanh": lambda t, c, first: np.arctanh(np.clip(t, -0.999999, 0.999999)),
    "sinh": lambda t, c, first: np.arcsinh(t),
    "asinh": lambda t, c, first: np.sinh(t),
    "atan": lambda t, c, first: np.tan(np.clip(t, -1.5, 1.5)),
}
