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
  onnx2lwtnn export net.json -o net.onnx --for rivet  what Rivet's RivetONNXrt reads

The model's inputs and outputs are named after lwtnn's nodes; vector inputs are
[events, variables], sequences [events, steps, variables] (one length per batch). A
NaN input of a variable with a default becomes the default in the graph itself, as
'onnx2lwtnn run' and lwtnn's NanReplacer do (--replace all: +-inf too). The variable
names, defaults and output labels are in the model's metadata (lwtnn.*, JSON). With
--for rivet: float32 inputs and outputs (computing in float64 inside) and the metadata
also as the comma-separated lists RivetONNXrt::retrieve<std::vector<T>> reads
(variables, offsets, scales, defaults, labels; see docs/user-guide.md).
Outputs of events lwtnn would refuse are NaN. Layers ONNX cannot express exactly are
refused, each one named, and nothing is written.
"""


def parser() -> argparse.ArgumentParser:
    from ..runner import REPLACE
    result = new_parser("onnx2lwtnn export", "Export an lwtnn network (graph or sequential "
                        "JSON) to an ONNX model computing what lwtnn computes.", EXAMPLES)
    result.add_argument("network", type=Path, metavar="NET.json")
    result.add_argument("-o", "--output", type=Path, required=True, metavar="NET.onnx",
                        help="where to write the ONNX model ('-': stdout)")
    result.add_argument("--float32", action="store_true",
                        help="compute in float32 instead of lwtnn's float64")
    result.add_argument("--replace", choices=tuple(REPLACE), default="nan",
                        help="values a variable's default replaces: 'nan' (NanReplacer's "
                             "default) or 'all' (also +-inf), as in 'run'")
    result.add_argument("--for", dest="target", choices=("rivet",),
                        help="rivet: float32 inputs and outputs and comma-separated metadata, "
                             "for Rivet's ONNX interface")
    return result


def run(args: argparse.Namespace) -> int:
    from ..exporter import export  # onnx is loaded only for this command
    export(args.network, args.output, float32=args.float32, replace=args.replace,
           target=args.target)
    if str(args.output) != files.STDIN:
        info(args, f"wrote {files.clean(args.output)}")
    return EXIT_OK
