"""``onnx2lwtnn inspect MODEL.onnx|NET.json``: what a file holds, writing nothing."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..inspect import inspect, render
from .common import EXIT_OK, new_parser, show

EXAMPLES = """\
examples:
  onnx2lwtnn inspect model.onnx         interface, operators, what each node becomes
  onnx2lwtnn inspect model.json         an lwtnn JSON file: interface, nodes, layers
  onnx2lwtnn inspect model.onnx --json  the same, for programs
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn inspect", "Show what an ONNX model or an lwtnn JSON file "
                        "holds: for a model, its producer, opsets, inputs and outputs, "
                        "parameters, operators, the lwtnn interface a conversion gives "
                        "(input variables, output labels) and what each node becomes in "
                        "lwtnn or why it cannot; for lwtnn JSON, its interface, nodes and "
                        "layers. Writes nothing.", EXAMPLES)
    result.add_argument("model", type=Path, metavar="MODEL.onnx|NET.json")
    result.add_argument("--json", action="store_true", help="print the report as JSON")
    return result


def run(args: argparse.Namespace) -> int:
    report = inspect(args.model)
    if args.json:  # JSON escapes every control character itself
        print(json.dumps(report, indent=2))
    else:
        show(render(report))
    return EXIT_OK
