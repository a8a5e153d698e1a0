"""The one rounding: once the passes, TMVA's transformations and ``--fix`` have folded
every constant exactly (``onnx2lwtnn.exact``), each becomes its nearest double, before a
layout is chosen and the document is written."""
from __future__ import annotations

from .errors import Diagnostic
from .exact import Exact, ExactRangeError
from .ir import IRGraph


def round_constants(ir: IRGraph) -> list[Diagnostic]:
    """Replace every exact value in the nodes' attributes by float64 values; a value
    beyond the range of a double is a problem naming its node."""
    problems = []
    for node in ir.nodes():
        attrs = ir.attrs(node)
        for key, value in attrs.items():
            if isinstance(value, Exact):
                try:
                    attrs[key] = value.rounded()
                except ExactRangeError as exc:
                    problems.append(Diagnostic(ir[node]["label"], ir.op(node), f"{key}: {exc}"))
    return problems
