"""``onnx2lwtnn export NET.json -o NET.onnx``: an lwtnn document as an ONNX model."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import files
from .common import EXIT_OK, info, new_parser

EXAMPLES = """\
examples:
  onnx2lwtnn export net.json -o net.onnx              float64, as lwtnn computes
  onnx2lwtnn export net.json -o net.onnx --float32    float32 inputs, weights, outputs

The model's inputs and outputs are named after lwtnn's nodes; vector inputs are
[events, variables], sequences [events, steps, variables] (one length per batch); the
variable names, defaults and output labels are in the model's metadata (lwtnn.*).
Outputs of events lwtnn would refuse are NaN. Layers ONNX cannot express exactly are
refused, each one named, and nothing is written.
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn export", "Export an lwtnn network (graph or sequential "
                        "JSON) to an ONNX model computing what lwtnn computes.", EXAMPLES)
    result.add_argument("network", type=Path, metavar="NET.json")
    result.add_argument("-o", "--output", type=Path, required=True, metavar="NET.onnx",
                        help="where to write the ONNX model ('-': stdout)")
    result.add_argument("--float32", action="store_true",
                        help="compute in float32 instead of lwtnn's float64")
    return result


def run(args: argparse.Namespace) -> int:
    from ..exporter import export  # onnx is loaded only for this command
    export(args.network, args.output, float32=args.float32)
    if str(args.output) != files.STDIN:
        info(args, f"wrote {args.output}")
    return EXIT_OK
