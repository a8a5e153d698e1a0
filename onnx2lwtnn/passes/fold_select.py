"""Fold ``Select`` (a fixed list of feature columns) into the Dense layers that read it:
the weights are scattered back onto the full input, so the selection costs nothing."""
from __future__ import annotations

import numpy as np

from ..exact import Exact
from ..ir import IRGraph, Port
from .base import rewrite
from .common import reads_through_matrix


@rewrite("Select", into_readers=True)
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


@rewrite("Concatenate")
def merge_concatenated_selects(ir: IRGraph, node: str) -> bool:
    """Concatenate of Selects of one tensor  =>  one Select of it, or the tensor itself
    when the columns are all of it, in order (a model's ``cat([f(x[:, :2]), x[:, 2:]])``
    once ``f`` became an input transform)."""
    operands = ir.inputs_of(node)
    if not operands or any(p is None or ir.op(p.node) != "Select" for p in operands):
        return False
    sources = {ir.operand(p.node, 0) for p in operands}
    if len(sources) != 1:
        return False
    (source,) = sources
    indices = np.concatenate([ir.attrs(p.node)["indices"] for p in operands])
    if np.array_equal(indices, np.arange(ir.features(source) or -1)):
        ir.replace(node, source)
        return True
    select = ir.add("Select", [source], label=ir[node]["label"], shapes=ir[node]["shapes"],
                    attrs={"indices": indices})
    ir.replace(node, Port(select))
    return True
