"""Element-wise functions of single input features applied before the network: what a
CorrectionSet's ``transform`` nodes compute and lwtnn cannot (it has no logarithm).

A transform is a chain of ``Step``s on one raw input value: affine maps (scale, shift,
held exactly, so a mean subtracted before a ``log`` stays that mean) and functions with
constant arguments. ``formula`` writes a chain as a TFormula on ``x``, rounding each
folded constant once, and choosing the form that keeps it exact where one does: a scale
that is the reciprocal of a double is written as a division by it, as the ONNX graph
divides by its standard deviation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import tformula
from .exact import Exact
from .tformula import Call, Neg, Node, Num, Op, Var

AFFINE = "affine"
# ONNX op -> the TFormula function of a step, with its number of constant arguments
FUNCTIONS = {"log": 0, "exp": 0, "sqrt": 0, "abs": 0, "max": 1, "min": 1, "pow": 1}


@dataclass(frozen=True)
class Step:
    """One step: ``AFFINE`` with (scale, shift) exact scalars, or a function of
    ``FUNCTIONS`` with its constant arguments (floats)."""

    function: str
    constants: tuple = ()


def affine(scale, shift) -> Step:
    return Step(AFFINE, (Exact.of(scale), Exact.of(shift)))


def then(chain: Sequence[Step], step: Step) -> tuple[Step, ...]:
    """``chain`` followed by ``step``: consecutive affine maps compose exactly, and an
    identity map disappears."""
    if step.function != AFFINE:
        return (*chain, step)
    scale, shift = step.constants
    if chain and chain[-1].function == AFFINE:
        first_scale, first_shift = chain[-1].constants
        chain, scale, shift = chain[:-1], first_scale * scale, first_shift * scale + shift
    if scale.equals(1) and shift.is_zero().all():
        return tuple(chain)
    return (*chain, Step(AFFINE, (scale, shift)))


def formula(chain: Sequence[Step]) -> Node:
    """The chain as a formula of ``x``, each folded constant rounded once."""
    node: Node = Var(0)
    for step in chain:
        if step.function == AFFINE:
            node = _affine(node, *step.constants)
        else:
            node = Call(step.function, (node, *(Num(float(c)) for c in step.constants)))
    return node


def text(chain: Sequence[Step]) -> str:
    return tformula.render(formula(chain))


def _affine(node: Node, scale: Exact, shift: Exact) -> Node:
    """x * scale + shift as lwtnn writes it, (x + offset) * scale, or (x + offset) / d
    where scale is exactly 1 / d."""
    if scale.is_zero().all():
        return Num(float(shift.rounded()))
    offset = shift / scale
    if not offset.is_zero().all():
        node = Op("+", node, Num(float(offset.rounded())))
    if scale.equals(1):
        return node
    if scale.equals(-1):
        return Neg(node)
    if _is_double(scale):
        return Op("*", node, Num(float(scale.rounded())))
    inverse = scale.reciprocal()
    if _is_double(inverse):
        return Op("/", node, Num(float(inverse.rounded())))
    return Op("*", node, Num(float(scale.rounded())))


def _is_double(value: Exact) -> bool:
    return Exact.of(value.rounded()).equals(value)
