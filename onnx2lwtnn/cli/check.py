"""``onnx2lwtnn check MODEL.onnx NET.json``: compare an ONNX model and its lwtnn JSON;
also the report behind ``onnx2lwtnn MODEL.onnx --check``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from .. import files
from ..defaults import DEFAULT_REFERENCE_TOLERANCE
from ..errors import Onnx2LwtnnError, UsageError
from .common import (EXIT_FAILED, EXIT_OK, FLAGS, add_check_options, add_spec_options,
                     model_run_inputs, model_specs, new_parser, on_terminal, output_path,
                     random_events, run_inputs, show, tolerance)

LWTNN_TEST_CANDIDATES = 64  # events tried for one with no output exactly 0

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
  onnx2lwtnn check model.onnx merged.json --merge-outputs all
                     a network converted with --merge-outputs all
  onnx2lwtnn check model.onnx model.json --write-lwtnn-inputs in.json
                     then: lwtnn-test-lightweight-graph model.json in.json
  onnx2lwtnn check model.onnx cset.json   a CorrectionSet (--format correctionlib),
                     evaluated through correctionlib where it is installed
  onnx2lwtnn check odd.onnx even.onnx cset.json --fold-input fold \
      --variables odd.json --variables even.json   its folds, each against its model

what PASS proves: the lwtnn network computes the ONNX model, with the given
preprocessing, to the tolerance against a float64 evaluation of the ONNX graph
(lwtnn computes in double). The float32 column is what a float32 runtime of the
ONNX model differs by: rounding, reported but never a failure.
what it does not: that a variable spec is right. The spec is applied to both
sides, so a wrong spec or convention passes too; only reference outputs computed
from raw inputs (--inputs with out_<output> arrays, or label columns) prove it,
in their own line, to --reference-tolerance.
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn check", "Evaluate an ONNX model (in float64) and its "
                        "lwtnn JSON (graph or sequential) on the same events and report, "
                        "per output label, how far apart they are.", EXAMPLES)
    result.add_argument("model", type=Path, metavar="MODEL.onnx")
    result.add_argument("fold_models", type=Path, nargs="*", metavar="MODEL.onnx",
                        help="the other folds' models of a CorrectionSet (with --fold-input)")
    result.add_argument("network", type=Path, metavar="NET.json|CSET.json")
    result.add_argument("--fold-input", metavar="NAME",
                        help="the CorrectionSet's fold input: one MODEL per fold, in order")
    add_check_options(result)
    result.add_argument("--inputs", type=Path,
                        help=".npz with arrays named by ONNX input (or in_<input>), or .csv "
                             "with a column per lwtnn variable (raw units, before any "
                             "preprocessing); reference outputs may come with them: "
                             "out_<output> arrays, or columns named by output labels")
    result.add_argument("--inputs-side", choices=("raw", "onnx"), default="raw",
                        help="which side of the variable spec's preprocessing the --inputs "
                             "values are on: raw (default), as lwtnn is fed them, or onnx, "
                             "already preprocessed as the ONNX graph is fed them (what an "
                             "onnxruntime dump of the model's inputs holds)")
    result.add_argument("--reference-tolerance", type=tolerance,
                        default=DEFAULT_REFERENCE_TOLERANCE,
                        help="allowed |lwtnn - reference output| / max(1, |reference|) "
                             f"(default {DEFAULT_REFERENCE_TOLERANCE:g})")
    result.add_argument("--merge-outputs", metavar="NAME",
                        help="the network was converted with --merge-outputs NAME: its "
                             "output NAME holds every ONNX output, side by side")
    result.add_argument("--json", action="store_true", help="print a JSON report")
    result.add_argument("--write-lwtnn-inputs", type=output_path, metavar="FILE",
                        help="write event 0 as lwtnn-test-lightweight-graph reads it, and "
                             "print the outputs our runtime expects for it")
    add_spec_options(result)
    return result


def run(args: argparse.Namespace) -> int:
    document = _correction_set(args.network)
    if document is not None:
        return EXIT_OK if _report_correction_set(args, document) else EXIT_FAILED
    if args.fold_models or args.fold_input is not None:
        raise UsageError("several models and --fold-input check a CorrectionSet's folds; "
                         f"{args.network} is an lwtnn network")
    if args.write_lwtnn_inputs is not None:
        network = [args.network] if args.network is not None else []
        files.check_output(args.write_lwtnn_inputs, network + model_run_inputs(
            args, args.write_lwtnn_inputs, args.model))
    (spec,) = model_specs(args, [args.model])
    passed = report_check(args, args.model, args.network, sys.stdout, spec)
    return EXIT_OK if passed else EXIT_FAILED


def cli_names() -> dict[str, str]:
    """check's argument names as the command line's flags, for the report's hints."""
    from ..check import PYTHON_NAMES
    return {name: FLAGS[name] for name in PYTHON_NAMES}


def _correction_set(path: Path):
    """The CorrectionSet in ``path``, or None for anything else (whose errors the lwtnn
    check reports in its own order: the model's first)."""
    try:  # the JSON as it is: read_network reads it as an lwtnn network
        document = files.read_json(path, "lwtnn network", files.NETWORK_LIMIT, stdin=True)
    except Onnx2LwtnnError:
        return None
    return document if "corrections" in document else None


def _report_correction_set(args: argparse.Namespace, document: dict) -> bool:
    """Check a CorrectionSet against its model(s) and print the table."""
    from ..check import spec_preparation  # noqa: PLC0415
    from ..check_correctionset import Source, check_correction_set  # noqa: PLC0415
    from ..correctionset import validate  # noqa: PLC0415
    from ..interface import Interface  # noqa: PLC0415
    from ..load import load_model  # noqa: PLC0415
    from ..reference import OnnxModel  # noqa: PLC0415
    from ..specs import read_spec  # noqa: PLC0415

    for option in ("inputs", "write_lwtnn_inputs"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option.replace('_', '-')} is for lwtnn networks; "
                             f"{args.network} is a CorrectionSet")
    validate(document, str(args.network))
    models = [args.model, *args.fold_models]
    specs = model_specs(args, models)
    sources = []
    for path, spec in zip(models, specs):
        proto = load_model(path)
        interface = Interface()
        if spec is not None:
            shapes = OnnxModel(proto).input_shapes
            interface = read_spec(spec, args.variables_convention,
                                  {name: shape[-1] for name, shape in shapes.items()},
                                  frozenset(n for n, s in shapes.items() if len(s) == 3))
        sources.append(Source(proto, str(path), interface, spec_preparation(interface),
                              getattr(args, "outputs", None)))
    report = check_correction_set(document, sources, fold_input=args.fold_input,
                                  events=random_events(args), seed=args.seed,
                                  tolerance=args.tolerance)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(files.printable(report.table(cli_names())))
    return report.passed


def report_check(args: argparse.Namespace, model: Path, network, stream,
                 variables: Optional[Path]) -> bool:
    """Compare and print the table (stream: stderr when the JSON goes to stdout);
    ``variables``: the spec the network was converted with."""
    from ..check import check, print_progress, read_network  # onnx: here only
    from ..cost import network_cost
    from ..load import load_model
    from ..model_cost import onnx_multiply_adds
    proto = load_model(model)
    document = read_network(network)
    if getattr(args, "write_lwtnn_inputs", None) is not None and "nodes" not in document:
        raise UsageError("--write-lwtnn-inputs writes what lwtnn-test-lightweight-graph "
                         "reads, for a graph network; this one is sequential")
    progress = print_progress if random_events(args) > 10_000 and on_terminal(args) else None
    report = check(proto, document, variables=variables,
                   variables_convention=args.variables_convention, events=random_events(args),
                   inputs=getattr(args, "inputs", None), tolerance=args.tolerance,
                   reference_tolerance=getattr(args, "reference_tolerance",
                                               DEFAULT_REFERENCE_TOLERANCE),
                   seed=args.seed, outputs=getattr(args, "outputs", None),
                   progress=progress, merge_outputs=args.merge_outputs,
                   inputs_side=getattr(args, "inputs_side", "raw"))
    if getattr(args, "json", False):
        cost = network_cost(document).to_json(onnx_multiply_adds(proto)[None])
        print(json.dumps({**report.to_json(), "cost": cost}, indent=2))
    elif not (args.quiet and report.passed):  # -q: a failure still says why
        print(files.printable(report.table(cli_names())), file=stream)
    if getattr(args, "write_lwtnn_inputs", None) is not None:
        _write_lwtnn_inputs(args, document)
    return report.passed


def _write_lwtnn_inputs(args: argparse.Namespace, document: dict) -> None:
    from ..check import document_view, draw_events, lwtnn_test_inputs, read_events
    view = document_view(document)
    events = (read_events(args.inputs, view) if args.inputs is not None
              else draw_events(view, LWTNN_TEST_CANDIDATES, args.seed))
    index, event, outputs = _telling_event(document, events)
    files.write_text(args.write_lwtnn_inputs,
                     json.dumps(lwtnn_test_inputs(document, event), indent=2) + "\n",
                     run_inputs(args, args.model, args.network))
    which = (f" (event {index}, which has the most outputs that are not exactly 0)"
             if index else "")
    show(f"\nwrote {args.write_lwtnn_inputs}{which}; lwtnn-test-lightweight-graph "
         f"{args.network} {args.write_lwtnn_inputs} should print:")
    for name, labels in document["outputs"].items():
        print(f"{files.clean(name)}:")
        for label, value in zip(labels["labels"], outputs[name][0]):
            print(f"{files.clean(label)} {value:.17g}")


def _telling_event(document: dict, events) -> tuple:
    """(index, event, outputs) of the event, as lwtnn's test tool takes it, with the most
    non-zero outputs among the first ones (the first with all of them non-zero): a ReLU
    network often gives exactly 0, which a wrong value matches by chance."""
    import numpy as np
    from ..check import lwtnn_test_event
    from ..lwtnn import load_network
    network = load_network(document)
    best, most = None, -1
    for index in range(min(len(events), LWTNN_TEST_CANDIDATES)):
        event = lwtnn_test_event(document, events.select(np.array([index])))
        outputs = network.evaluate(event.vectors, event.sequences or None)
        values = np.concatenate([v.ravel() for v in outputs.values()])
        if np.count_nonzero(values) > most:
            best, most = (index, event, outputs), np.count_nonzero(values)
        if most == len(values):
            break
    return best
