"""What a pass is, and the registry that maps op types to the passes that handle them.

A pass is a rewrite function ``(ir, node) -> changed`` tried on every node of the kinds
it declares, or (``whole_graph``) a function ``(ir) -> changed`` run once per sweep. The registry is the single source of truth for which ONNX operators the
converter understands: the CLI's error hints and the supported-operator table in docs/
are generated from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir import INTERMEDIATE_KINDS, LWTNN_KINDS, IRGraph

Rewrite = Callable[[IRGraph, str], bool]
ANY_OP = "*"
STANDARD_DOMAINS = ("", "ai.onnx")
_IR_KINDS = LWTNN_KINDS | INTERMEDIATE_KINDS | {"Input", "Output", "Const"}


@dataclass(frozen=True)
class Pass:
    name: str
    ops: tuple[str, ...]
    rewrite: Rewrite
    doc: str

    def run(self, ir: IRGraph) -> bool:
        if not self.ops:
            return self.rewrite(ir)
        changed = False
        for node in ir.nodes(*(() if self.ops == (ANY_OP,) else self.ops)):
            # An op of a custom domain only shares a name with the standard one.
            if node in ir and ir[node]["domain"] in STANDARD_DOMAINS and self.rewrite(ir, node):
                changed = True
        return changed


REGISTRY: dict[str, Pass] = {}


def rewrite(*ops: str) -> Callable[[Rewrite], Pass]:
    """Register a rewrite for nodes of the given kinds, named after its module."""

    def register(func: Rewrite) -> Pass:
        pass_name = func.__module__.rsplit(".", 1)[-1]
        doc = " ".join((func.__doc__ or pass_name).strip().split("\n\n")[0].split())
        registered = Pass(pass_name, ops, func, doc)
        REGISTRY[f"{pass_name}.{func.__name__}"] = registered
        return registered

    return register


def whole_graph(func: Callable[[IRGraph], bool]) -> Pass:
    """Register a pass that looks at the whole graph at once rather than node by node."""
    return rewrite()(func)


def handled_ops() -> dict[str, list[Pass]]:
    """ONNX op type -> the passes that can rewrite it."""
    table: dict[str, list[Pass]] = {}
    for registered in REGISTRY.values():
        for op in registered.ops:
            if op != ANY_OP and op[:1].isupper() and op not in _IR_KINDS:
                table.setdefault(op, []).append(registered)
    return table

