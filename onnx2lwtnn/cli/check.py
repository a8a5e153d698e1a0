"""``onnx2lwtnn check MODEL.onnx NET.json``: compare an ONNX model and its lwtnn JSON;
also the report behind ``onnx2lwtnn MODEL.onnx --check``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import files
from ..check import (DEFAULT_REFERENCE_TOLERANCE, PYTHON_NAMES, check, document_view, draw_events,
                     lwtnn_test_event, lwtnn_test_inputs, print_progress, read_events,
                     read_network)
from ..cost import network_cost
from ..errors import UsageError
from ..load import load_model
from ..lwtnn import load_network
from ..model_cost import onnx_multiply_adds
from .common import (EXIT_FAILED, EXIT_OK, FLAGS, add_check_options, add_spec_options,
                     model_run_inputs, new_parser, output_path, run_inputs, show, tolerance)

EXAMPLES = """\
examples:
  onnx2lwtnn check model.onnx model.json                  1000 random events
  onnx2lwtnn check model.onnx model.json --events 100000 --seed 3
  onnx2lwtnn check model.onnx model.json --inputs events.npz    arrays named by input
  onnx2lwtnn check model.onnx model.json --inputs events.csv    a column per variable
  onnx2lwtnn check model.onnx model.json --variables spec.json \\
      --variables-convention subtract-divide --inputs published.csv
                     the spec the network was converted with, validated against
                     published outputs (columns named by output labels)
  onnx2lwtnn check model.onnx model.json --write-lwtnn-inputs in.json
                     then: lwtnn-test-lightweight-graph model.json in.json

what PASS proves: the lwtnn network computes the ONNX model, with the given
preprocessing, to the tolerance against a float64 evaluation of the ONNX graph
(lwtnn computes in double). The float32 column is what a float32 runtime of the
ONNX model differs by: rounding, reported but never a failure.
what it does not: that a variable spec is right. The spec is applied to both
sides, so a wrong spec or convention passes too; only reference outputs computed
from raw inputs (--inputs with out_<output> arrays, or label columns) prove it,
in their own line, to --reference-tolerance.
"""
CLI_NAMES = {name: FLAGS[name] for name in PYTHON_NAMES}


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn check", "Evaluate an ONNX model (in float64) and its "
                        "lwtnn JSON (graph or sequential) on the same events and report, "
                        "per output label, how far apart they are.", EXAMPLES)
    result.add_argument("model", type=Path, metavar="MODEL.onnx")
    result.add_argument("network", type=Path, metavar="NET.json")
    add_check_options(result)
    result.add_argument("--inputs", type=Path,
                        help=".npz with arrays named by ONNX input (or in_<input>), or .csv "
                             "with a column per lwtnn variable (raw units, before any "
                             "preprocessing); reference outputs may come with them: "
                             "out_<output> arrays, or columns named by output labels")
    result.add_argument("--reference-tolerance", type=tolerance,
                        default=DEFAULT_REFERENCE_TOLERANCE,
                        help="allowed |lwtnn - reference output| / max(1, |reference|) "
                             f"(default {DEFAULT_REFERENCE_TOLERANCE:g})")
    result.add_argument("--json", action="store_true", help="print a JSON report")
    result.add_argument("--write-lwtnn-inputs", type=output_path, metavar="FILE",
                        help="write event 0 as lwtnn-test-lightweight-graph reads it, and "
                             "print the outputs our runtime expects for it")
    add_spec_options(result)
    return result


def run(args: argparse.Namespace) -> int:
    if args.write_lwtnn_inputs is not None:
        network = [args.network] if args.network is not None else []
        files.check_output(args.write_lwtnn_inputs, network + model_run_inputs(
            args, args.write_lwtnn_inputs, args.model))
    passed = report_check(args, args.model, args.network, sys.stdout)
    return EXIT_OK if passed else EXIT_FAILED


def report_check(args: argparse.Namespace, model: Path, network, stream) -> bool:
    """Compare and print the table (stream: stderr when the JSON goes to stdout)."""
    proto = load_model(model)
    document = read_network(network)
    if getattr(args, "write_lwtnn_inputs", None) is not None and "nodes" not in document:
        raise UsageError("--write-lwtnn-inputs writes what lwtnn-test-lightweight-graph "
                         "reads, for a graph network; this one is sequential")
    progress = print_progress if args.events > 10_000 else None
    report = check(proto, document, variables=args.variables,
                   variables_convention=args.variables_convention, events=args.events,
                   inputs=getattr(args, "inputs", None), tolerance=args.tolerance,
                   reference_tolerance=getattr(args, "reference_tolerance",
                                               DEFAULT_REFERENCE_TOLERANCE),
                   seed=args.seed, outputs=getattr(args, "outputs", None),
                   progress=progress)
    if getattr(args, "json", False):
        cost = network_cost(document).to_json(onnx_multiply_adds(proto)[None])
        print(json.dumps({**report.to_json(), "cost": cost}, indent=2))
    else:
        print(files.printable(report.table(CLI_NAMES)), file=stream)
    if getattr(args, "write_lwtnn_inputs", None) is not None:
        _write_lwtnn_inputs(args, document)
    return report.passed


def _write_lwtnn_inputs(args: argparse.Namespace, document: dict) -> None:
    view = document_view(document)
    events = (read_events(args.inputs, view) if args.inputs is not None
              else draw_events(view, 1, args.seed))
    event = lwtnn_test_event(document, events)
    files.write_text(args.write_lwtnn_inputs,
                     json.dumps(lwtnn_test_inputs(document, event), indent=2) + "\n",
                     run_inputs(args, args.model, args.network))
    outputs = load_network(document).evaluate(event.vectors, event.sequences or None)
    show(f"\nwrote {args.write_lwtnn_inputs}; lwtnn-test-lightweight-graph "
         f"{args.network} {args.write_lwtnn_inputs} should print:")
    for name, labels in document["outputs"].items():
        print(f"{files.clean(name)}:")
        for label, value in zip(labels["labels"], outputs[name][0]):
            print(f"{files.clean(label)} {value:.17g}")
