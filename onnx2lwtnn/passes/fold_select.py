"""Fold ``Select`` (a fixed list of feature columns) into the Dense layers that read it:
the weights are scattered back onto the full input, so the selection costs nothing."""
from __future__ import annotations

import numpy as np

from ..ir import IRGraph, Port
from .base import rewrite
from .common import reads_through_matrix


@rewrite("Select")
def fold_select_into_dense(ir: IRGraph, node: str) -> bool:
    """Select(indices) -> Dense (every reader)  =>  Dense over all features."""
    readers = ir.consumers(Port(node))
    source = ir.operand(node, 0)
    if not readers or not all(reads_through_matrix(ir, reader) for reader, _ in readers):
        return False
    indices = ir.attrs(node)["indices"]
    for reader, _ in readers:
        attrs = ir.attrs(reader)
        weights = np.zeros((attrs["weights"].shape[0], ir.features(source)))
        np.add.at(weights, (slice(None), indices), attrs["weights"])
        attrs["weights"] = weights
    ir.replace(node, source)
    return True


@rewrite("Select")
def merge_selects(ir: IRGraph, node: str) -> bool:
    """Select(b) of Select(a)  =>  Select(a[b])."""
    source = ir.operand(node, 0)
    if ir.op(source.node) != "Select":
        return False
    ir.attrs(node)["indices"] = ir.attrs(source.node)["indices"][ir.attrs(node)["indices"]]
    ir.connect(ir.operand(source.node, 0), node, 0)
    return True
