"""Remove every node whose results never reach a graph output (left-over shape
arithmetic, unused Dropout masks, initial-state subgraphs once their consumer is gone)."""
from __future__ import annotations

import networkx as nx

from ..ir import IRGraph
from .base import whole_graph


@whole_graph
def drop_unreachable(ir: IRGraph) -> bool:
    """Nodes with no path to any graph output -> removed."""
    live = set(ir.outputs) | set(ir.inputs)
    for output in ir.outputs:
        live |= nx.ancestors(ir.g, output)
    dead = [n for n in ir.g if n not in live]
    for node in dead:
        ir.remove(node)
    return bool(dead)
