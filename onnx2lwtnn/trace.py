"""What the passes did to a graph, told in the ONNX names a user knows.

A ``Trace`` is the observer ``run_pipeline`` calls after each rewrite that changed the
graph (see ``passes.base.Observer``). It remembers every node's label and op, so each
change can say which node a pass rewrote, what that node's readers read now, and which
other nodes went with it. ``-v`` prints the changes; ``inspect`` follows them to say
what each ONNX node became.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .ir import IRGraph, Port
from .passes.base import Pass

Named = tuple[str, str]  # (label, op)


@dataclass(frozen=True)
class Change:
    """One rewrite that changed the graph."""

    step: str                      # the pass, ``module.function``
    doc: str                       # what the pass matches and does
    node: str                      # label of the node it rewrote ("" for a whole-graph pass)
    op: str                        # that node's op before the rewrite
    now_read: tuple[Named, ...]    # where its value is now: what its readers read, or the
                                   # readers themselves if it was folded into them; ()
                                   # if it stayed
    removed: tuple[Named, ...]     # every node the rewrite took out (constants aside)

    def __str__(self) -> str:
        if not self.node:
            gone = ", ".join(f"{op} '{label}'" for label, op in self.removed)
            return f"{self.step}: removed {gone or 'unused constants'}"
        if not self.now_read:  # gone with no node of its own, or changed where it is
            done = "removed" if (self.node, self.op) in self.removed else "rewritten in place"
            return f"{self.step}: {self.op} '{self.node}' {done}"
        now = ", ".join(op if label == self.node else f"{op} '{label}'"
                        for label, op in self.now_read)
        return f"{self.step}: {self.op} '{self.node}' -> {now}"


class Trace:
    """Tells ``report`` of each change made to ``ir``, as a ``Change``.

    A node's label and op never change while it exists (passes replace nodes, never
    retype them), so a change needs only the nodes it removed, which the IR tells as it
    removes them: each change costs what it touched, not the size of the graph (a 10,000
    node chain rewritten node by node would otherwise cost 10,000 graph scans).
    """

    def __init__(self, ir: IRGraph, report: Callable[[Change], None]):
        self.ir = ir
        self._report = report
        self._removed: dict[str, Named] = {}  # since the last change, in removal order
        self._added: dict[str, str] = {}  # label -> the first node added under it, since
        ir.on_remove = self._note_removal  # the last change
        ir.on_add = self._note_addition

    def _note_removal(self, node: str) -> None:
        self._removed.setdefault(node, self._named(node))

    def _note_addition(self, node: str) -> None:
        self._added.setdefault(self.ir[node]["label"], node)

    def __call__(self, step: Pass, node: Optional[str], readers: list) -> None:
        removed, self._removed = self._removed, {}
        added, self._added = self._added, {}
        before = (None if node is None else removed.get(node)
                  or (self._named(node) if node in self.ir else None))
        label, op = before or ("", "")
        gone = tuple(named for named in removed.values() if named[1] != "Const")
        self._report(Change(step.qualified_name, step.doc, label, op,
                            self._now_read(step, node, before, readers, added.get(label)),
                            gone))

    def _named(self, node: str) -> Named:
        data = self.ir[node]
        return data["label"], data["op"]

    def _now_read(self, step: Pass, node: Optional[str], before: Optional[Named],
                  readers: list, successor: Optional[str]) -> tuple[Named, ...]:
        """``successor``: a node the pass added under the rewritten node's label."""
        if node is None:
            return ()
        if node in self.ir:  # rewritten in place (or replaced under its id); only an
            now = self._named(node)  # op change is news
            return () if now == before else (now,)
        if successor is not None and successor in self.ir:  # replaced under its label: an
            return (self._named(successor),)  # LSTM is its recurrent layer, not the views
                                              # that show that in ONNX's layout
        if step.into_readers:  # its value now lives in its readers
            return tuple(dict.fromkeys(self._named(reader) for _, reader, _, _ in readers
                                       if reader in self.ir))
        sources: dict[str, Named] = {}
        for _, reader, slot, _ in readers:
            if reader in self.ir:
                source: Optional[Port] = self.ir.operand(reader, slot)
                if source is not None:
                    sources[source.node] = self._named(source.node)
        return tuple(sources.values())
