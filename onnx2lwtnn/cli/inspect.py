"""``onnx2lwtnn inspect MODEL.onnx|NET.json``: what a file holds, writing nothing."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..defaults import CHEAPEST, LAYOUTS
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
    result.add_argument("--layout", choices=LAYOUTS, default=CHEAPEST,
                        help="of a model: what each node becomes in this layout of the "
                             "conversion (as the converter's --layout; default cheapest)")
    return result


def run(args: argparse.Namespace) -> int:
    from ..inspect import inspect, render  # onnx, only when inspecting
    report = inspect(args.model, args.layout)
    if args.json:  # JSON escapes every control character itself
        print(json.dumps(report, indent=2))
    else:
        show(render(report))
    return EXIT_OK
