"""Last resort, once nothing else applies: every ``Activation``, ``Affine`` and
``Select`` that could not be folded into a neighbour becomes its own exact lwtnn layer."""
from __future__ import annotations

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import width


@rewrite("Activation")
def activation_layer(ir: IRGraph, node: str) -> bool:
    """Activation  =>  Dense with no weights and no bias (lwtnn applies just the function)."""
    _replace_by_dense(ir, node, np.zeros((0, 0)), np.zeros(0), ir.attrs(node)["activation"])
    return True


@rewrite("Affine")
def affine_layer(ir: IRGraph, node: str) -> bool:
    """Affine  =>  Normalization ((x + shift / scale) * scale), or a diagonal Dense if a
    scale is zero."""
    scale, shift = Exact.of(ir.attrs(node)["scale"]), Exact.of(ir.attrs(node)["shift"])
    if scale.is_zero().any():
        _replace_by_dense(ir, node, Exact.diagonal(scale), shift, "linear")
        return True
    new = ir.add("Normalization", [ir.operand(node, 0)], label=ir[node]["label"],
                 shapes=ir[node]["shapes"], attrs={"weights": scale, "bias": shift / scale})
    ir.replace(node, Port(new))
    return True


@rewrite("Select")
def select_layer(ir: IRGraph, node: str) -> bool:
    """Select  =>  Dense whose weights are 0/1 picks."""
    indices = ir.attrs(node)["indices"]
    weights = np.zeros((indices.size, width(ir, ir.operand(node, 0))))
    weights[np.arange(indices.size), indices] = 1.0
    _replace_by_dense(ir, node, weights, np.zeros(indices.size), "linear")
    return True


def _replace_by_dense(ir: IRGraph, node: str, weights, bias, activation) -> None:
    new = ir.add("Dense", [ir.operand(node, 0)], label=ir[node]["label"],
                 shapes=ir[node]["shapes"],
                 attrs={"weights": weights, "bias": bias, "activation": activation})
    ir.replace(node, Port(new))
