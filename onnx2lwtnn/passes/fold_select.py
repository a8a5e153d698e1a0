"""Fold ``Select`` (a fixed list of feature columns) into the Dense layers that read it:
the weights are scattered back onto the full input, so the selection costs nothing."""
from __future__ import annotations

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import reads_through_matrix


@rewrite("Select")
def fold_select_into_dense(ir: IRGraph, node: str) -> bool:
    """Select(indices) -> Dense (every reader)  =>  Dense over all features."""
    readers = ir.consumers(Port(node))
    source = ir.operand(node, 0)
    indices = ir.attrs(node)["indices"]
    if not readers or not all(reads_through_matrix(ir, reader)
                              and ir.attrs(reader)["weights"].shape[1] == len(indices)
                              for reader, _ in readers):
        return False  # (a damaged model's widths may disagree: legalize names it)
    for reader, _ in readers:
        attrs = ir.attrs(reader)
        attrs["weights"] = _scattered(attrs["weights"], indices, ir.features(source))
    ir.replace(node, source)
    return True


def _scattered(weights, indices: np.ndarray, width: int):
    """The selected columns' weights at their source columns; a column selected twice
    gets the exact sum of its weights."""
    if not isinstance(weights, Exact) and len(set(indices.tolist())) == len(indices):
        placed = np.zeros((weights.shape[0], width))
        placed[:, indices] = weights
        return placed
    weights = Exact.of(weights)
    columns = [Exact.zeros((weights.shape[0],)) for _ in range(width)]
    for position, column in enumerate(indices.tolist()):
        columns[column] = columns[column] + weights[:, position]
    return Exact.stack(columns, axis=1)


@rewrite("Select")
def merge_selects(ir: IRGraph, node: str) -> bool:
    """Select(b) of Select(a)  =>  Select(a[b])."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Select":
        return False
    ir.attrs(node)["indices"] = ir.attrs(source.node)["indices"][ir.attrs(node)["indices"]]
    ir.connect(ir.operand(source.node, 0), node, 0)
    return True
