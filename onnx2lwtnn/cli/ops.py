"""``onnx2lwtnn ops [OP]``: the operators onnx2lwtnn converts, and on what condition."""
from __future__ import annotations

import argparse
import json

from .common import EXIT_OK, new_parser, show

EXAMPLES = """\
examples:
  onnx2lwtnn ops           every supported operator, with the patterns it converts in
  onnx2lwtnn ops Softmax   one operator
  onnx2lwtnn ops --json    the same, for programs (docs/operators.md is made from it)
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn ops", "List the ONNX operators onnx2lwtnn converts, each "
                        "with the passes that rewrite it and the pattern each matches, and "
                        "the operators refused with a known reason. Read from the pass "
                        "registry, as docs/operators.md is.", EXAMPLES)
    result.add_argument("operator", nargs="?", metavar="OP",
                        help="show only this ONNX operator (case-sensitive, e.g. Gemm)")
    result.add_argument("--json", action="store_true", help="print the table as JSON")
    return result


def run(args: argparse.Namespace) -> int:
    from ..ops import operators, render  # the pass registry: the passes load onnx
    report = operators(args.operator)
    if args.json:  # JSON escapes every control character itself
        print(json.dumps(report, indent=2))
    else:
        show(render(report))
    return EXIT_OK
