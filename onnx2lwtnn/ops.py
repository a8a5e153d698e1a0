"""The operators onnx2lwtnn converts, with their conditions, read from the pass registry.

One source for ``onnx2lwtnn ops`` and docs/operators.md (docs/make_operator_table.py):
each supported ONNX op with the passes that rewrite it, in the order the pipeline tries
them, each with its one-line description of the pattern it matches; the passes that
work on the IR's own kinds; and the ops refused with a known reason.
"""
from __future__ import annotations

import difflib
from typing import Any, Optional

from . import pipeline  # registers every pass
from .legalize import UNSUPPORTED_HINTS
from .passes.base import ANY_OP, REGISTRY, Pass, handled_ops


def pipeline_order(registered: Pass) -> tuple[int, str]:
    """Pipeline position first (the order passes are tried in), then name."""
    position = (pipeline.PIPELINE.index(registered) if registered in pipeline.PIPELINE
                else len(pipeline.PIPELINE))
    return position, registered.qualified_name


def supported() -> dict[str, list[Pass]]:
    """ONNX op -> the passes that rewrite it, in pipeline order; ops sorted by name."""
    table = handled_ops()
    return {op: sorted(table[op], key=pipeline_order) for op in sorted(table)}


def other_passes() -> list[Pass]:
    """Passes for any op, the whole graph, or only the IR's own kinds."""
    ops = set(handled_ops())
    return sorted((p for p in REGISTRY.values() if not any(op in ops for op in p.ops)),
                  key=pipeline_order)


def applies_to(registered: Pass) -> str:
    return ("any operator" if registered.ops == (ANY_OP,) else
            "whole graph" if not registered.ops else ", ".join(registered.ops))


def operators(op: Optional[str] = None) -> dict[str, Any]:
    """The table as plain data (``ops --json``); ``op`` keeps only that operator."""
    def passes(entries: list[Pass]) -> list[dict]:
        return [{"pass": p.qualified_name, "matches": p.doc} for p in entries]

    report = {
        "supported": {name: passes(entries) for name, entries in supported().items()},
        "unsupported": dict(sorted(UNSUPPORTED_HINTS.items())),
        "other_passes": [{"applies_to": applies_to(p), "pass": p.qualified_name,
                          "matches": p.doc} for p in other_passes()],
    }
    if op is not None:
        known = [*report["supported"], *report["unsupported"]]
        report = {"operator": op,
                  "supported": {k: v for k, v in report["supported"].items() if k == op},
                  "unsupported": {k: v for k, v in report["unsupported"].items() if k == op},
                  "did_you_mean": [] if op in known else _close(op, known)}
    return report


def _close(op: str, known: list[str]) -> list[str]:
    """Known operators spelled like ``op``: the same but for case first, then near ones."""
    same = [name for name in known if name.lower() == op.lower()]
    return same or difflib.get_close_matches(op, known, n=3, cutoff=0.7)


def render(report: dict[str, Any]) -> str:
    """The table as text: one line per (operator, pass)."""
    if "operator" in report and not report["supported"] and not report["unsupported"]:
        close = report.get("did_you_mean")
        return (f"{report['operator']}: no pass handles it, so it is refused as \"operator "
                "not supported by lwtnn\" (operator names are case-sensitive)"
                + (f"; did you mean {' or '.join(close)}?" if close else ""))
    width = max((len(op) for op in [*report["supported"], *report["unsupported"]]), default=0)
    lines = [f"supported ({len(report['supported'])}); each pass converts the pattern it "
             "describes, anything else is refused naming the node:"] if report["supported"] else []
    for op, entries in report["supported"].items():
        for k, entry in enumerate(entries):
            lines.append(f"  {(op if k == 0 else '').ljust(width)}  {entry['pass']}: "
                         f"{entry['matches']}")
    if report["unsupported"] or "operator" not in report:
        lines.append(f"refused ({len(report['unsupported'])} with a known reason; any other "
                     "operator is refused as not supported):")
        lines += [f"  {op.ljust(width)}  {why}" for op, why in report["unsupported"].items()]
    if "other_passes" in report:
        lines.append("passes on the IR's own kinds or the whole graph:")
        lines += [f"  {entry['pass']} ({entry['applies_to']}): {entry['matches']}"
                  for entry in report["other_passes"]]
    return "\n".join(lines)
