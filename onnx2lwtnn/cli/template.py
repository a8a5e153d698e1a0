"""``onnx2lwtnn template MODEL.onnx``: a variable spec to fill in."""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from .. import files
from ..errors import ConversionWarning
from .common import EXIT_OK, model_run_inputs, new_parser, output_path, write_output


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn template", "Write a variable spec (lwtnn's graph form) "
                        "for a model, with default names, offset 0 and scale 1, to fill in.",
                        "example:\n  onnx2lwtnn template model.onnx -o spec.json\n")
    result.add_argument("model", type=Path, metavar="MODEL.onnx")
    result.add_argument("-o", "--output", type=output_path, help="default, or '-': stdout")
    return result


def run(args: argparse.Namespace) -> int:
    from ..api import convert  # the converter: onnx, only when converting
    from ..specs import template
    if args.output is not None:
        files.check_output(args.output, model_run_inputs(args, args.output, args.model))
    with warnings.catch_warnings():  # a conversion's caveats are not the spec's: the
        warnings.simplefilter("ignore", ConversionWarning)  # conversion with it says them
        spec = template(convert(args.model, verify=False))  # names only: nothing to verify
    write_output(args, args.output, json.dumps(spec, indent=2) + "\n", [args.model])
    return EXIT_OK
