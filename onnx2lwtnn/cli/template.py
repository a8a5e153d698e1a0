"""``onnx2lwtnn template MODEL.onnx``: a variable spec to fill in."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..api import convert
from ..specs import template
from .common import EXIT_OK, info, new_parser


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn template", "Write a variable spec (lwtnn's graph form) "
                        "for a model, with default names, offset 0 and scale 1, to fill in.",
                        "example:\n  onnx2lwtnn template model.onnx -o spec.json\n")
    result.add_argument("model", type=Path, metavar="MODEL.onnx")
    result.add_argument("-o", "--output", type=Path, help="default: stdout")
    return result


def run(args: argparse.Namespace) -> int:
    spec = template(convert(args.model))
    text = json.dumps(spec, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        info(args, f"wrote {args.output}")
    return EXIT_OK
