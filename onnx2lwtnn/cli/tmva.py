"""``onnx2lwtnn tmva WEIGHTS.xml``: a TMVA MLP weights file to lwtnn JSON, proven
against a float64 reference of TMVA's response and compared with TMVA's own."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import files
from ..defaults import DEFAULT_TOLERANCE, FLOAT32_TOLERANCE, GRAPH, LWTNN_FORMATS
from ..errors import UsageError
from ..npz_files import RAW_INPUTS
from .common import (EXIT_FAILED, EXIT_OK, add_check_options, new_parser, output_path,
                     random_events, run_inputs, write_output)

if TYPE_CHECKING:  # the TMVA reader builds ONNX graphs: loaded only when converting
    import numpy as np
    from ..tmva import TmvaNetwork

EXAMPLES = """\
examples:
  onnx2lwtnn tmva TMVAClassification_MLP.weights.xml -o mlp.json
  onnx2lwtnn tmva regression.weights.xml -o reg.json --inputs events.npz
                      check on your events: a 'raw_inputs' array, an array named
                      'variables', or a CSV with a column per variable

The network reads the raw variables (TMVA's <Variables>, in order) as the input node
'variables'; TMVA's Normalize, Decorrelation and PCA transformations and a regression's
inverse target transformation are part of it. Every conversion is checked (1000 events
inside the training ranges by default) against a float64 reference of TMVA's response
and against TMVA's response itself; nothing is written if the check fails.
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn tmva", "Convert a TMVA MLP (MethodMLP) weights file to "
                        "lwtnn JSON, without ROOT.", EXAMPLES)
    result.add_argument("model", type=Path, metavar="WEIGHTS.xml")
    result.add_argument("-o", "--output", type=output_path,
                        help="where to write the lwtnn JSON (default, or '-': stdout)")
    result.add_argument("--format", choices=LWTNN_FORMATS, default=GRAPH,
                        help="lwtnn graph (default) or sequential")
    result.add_argument("--inputs", type=Path, metavar="EVENTS",
                        help="check on these raw events (.npz or .csv) instead of random ones")
    result.add_argument("--json", action="store_true", help="print the check as JSON")
    add_check_options(result, f"allowed |lwtnn - reference| / max(1, |reference|) against "
                              f"a float64 reference of TMVA's response with the exact tanh "
                              f"(default {DEFAULT_TOLERANCE:g}); TMVA's own response, computed "
                              f"in float32, is held to {FLOAT32_TOLERANCE:g}")
    return result


def run(args: argparse.Namespace) -> int:
    from ..api import to_json  # the converter: onnx, only when converting
    from ..tmva import check_tmva, convert_tmva, read_network
    if args.output is not None:
        files.check_output(args.output, run_inputs(args, args.model))
    network = read_network(args.model)
    document = convert_tmva(network, format=args.format, verify=False)  # checked below
    raw = None if args.inputs is None else _raw_events(args.inputs, network, args.format)
    report = check_tmva(network, document, raw, events=random_events(args), seed=args.seed,
                        tolerance=args.tolerance)
    if args.json:
        print(json.dumps(report.to_json(), indent=2), file=sys.stderr)
    elif not (args.quiet and report.passed):  # -q: a failure still says why
        print(files.printable(report.table()), file=sys.stderr)
    if not report.passed:
        return EXIT_FAILED  # nothing written: the conversion is not proven
    write_output(args, args.output, to_json(document), run_inputs(args, args.model))
    return EXIT_OK


def _raw_events(path: Path, network: TmvaNetwork, format: str) -> np.ndarray:
    """A 'raw_inputs' array (as TMVA's Reader takes them), or what ``check`` reads."""
    import numpy as np
    from ..check import read_events
    from ..tmva import convert_tmva
    from ..tmva.convert import INPUT
    width = len(network.method.variables)
    if path.suffix == ".npz":
        data = files.read_npz(path, "events file", files.EVENTS_LIMIT)
        if RAW_INPUTS in data:
            raw = np.asarray(data[RAW_INPUTS], dtype=np.float64)
            if raw.ndim != 2 or raw.shape[1] != width or not len(raw):
                raise UsageError(f"{path}: '{RAW_INPUTS}' has shape {raw.shape}; the "
                                 f"network reads [events, {width}], at least one event")
            return raw
    if format != GRAPH:
        raise UsageError(f"{path}: with --format {format}, --inputs takes a .npz holding "
                         "'raw_inputs'")
    return read_events(path, convert_tmva(network, verify=False)).vectors[INPUT]
