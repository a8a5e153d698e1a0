"""What a pass is, and the registry that maps op types to the passes that handle them.

A pass is a rewrite function ``(ir, node) -> changed`` tried on every node of the kinds
it declares, or (``whole_graph``) a function ``(ir) -> changed`` run once per sweep.
The registry is the single source of truth for which ONNX operators the converter
understands: the CLI's error hints, ``onnx2lwtnn ops`` and the supported-operator table
in docs/ are generated from it. An observer passed to ``Pass.run`` hears of every
rewrite that changed the graph (``onnx2lwtnn.trace`` turns that into -v and inspect).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..exact import ExactRangeError
from ..ir import INTERMEDIATE_KINDS, LWTNN_KINDS, IRGraph

Rewrite = Callable[[IRGraph, str], bool]
# Told (pass, rewritten node or None for a whole-graph pass, that node's out-edges
# before the rewrite) after each rewrite that changed the graph.
Observer = Callable[["Pass", Optional[str], list], None]
ANY_OP = "*"
STANDARD_DOMAINS = ("", "ai.onnx")
_IR_KINDS = LWTNN_KINDS | INTERMEDIATE_KINDS | {"Input", "Output", "Const"}


@dataclass(frozen=True)
class Pass:
    name: str
    ops: tuple[str, ...]
    rewrite: Rewrite
    doc: str
    domain: str = ""  # "" for the standard domain; else the one domain it rewrites
    into_readers: bool = False  # it folds a node into the nodes that read it


    @property
    def qualified_name(self) -> str:
        """``module.function``, as the registry, ``ops`` and -v name it."""
        return f"{self.name}.{self.rewrite.__name__}"

    def run(self, ir: IRGraph, observe: Optional[Observer] = None) -> bool:
        if not self.ops:
            changed = self.rewrite(ir)
            if changed and observe is not None:
                observe(self, None, [])
            return changed
        changed = False
        domains = (self.domain,) if self.domain else STANDARD_DOMAINS
        for node in ir.nodes(*(() if self.ops == (ANY_OP,) else self.ops)):
            # An op of another domain only shares a name with this one's.
            if node not in ir or ir[node]["domain"] not in domains:
                continue
            readers = [] if observe is None else list(ir.g.out_edges(node, keys=True, data=True))
            try:
                rewritten = self.rewrite(ir, node)
            except ExactRangeError as exc:  # a NaN or infinite constant met exact folding
                ir.refuse(node, f"{exc}, which no lwtnn weight can hold")
                rewritten = False
            if rewritten:
                changed = True
                if observe is not None:
                    observe(self, node, readers)
        return changed


REGISTRY: dict[str, Pass] = {}


def rewrite(*ops: str, doc: str = "", domain: str = "",
            into_readers: bool = False) -> Callable[[Rewrite], Pass]:
    """Register a rewrite for nodes of the given kinds (of the standard domain, or of
    ``domain``), named after its module; ``doc`` (else the docstring's first paragraph)
    says what it matches, for ``ops`` and docs/. ``into_readers``: the rewrite folds the
    node into its readers (not into what it reads), as -v and inspect then say."""

    def register(func: Rewrite) -> Pass:
        pass_name = func.__module__.rsplit(".", 1)[-1]
        summary = " ".join((doc or func.__doc__ or pass_name).strip().split("\n\n")[0].split())
        registered = Pass(pass_name, ops, func, summary, domain, into_readers)
        REGISTRY[registered.qualified_name] = registered
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

