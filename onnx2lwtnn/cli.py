"""Command line: a thin layer over the Python API.

``onnx2lwtnn MODEL.onnx [...]`` converts; ``onnx2lwtnn check`` and ``onnx2lwtnn
template`` are subcommands. Exit codes: 0 success, 1 a model that cannot be read or
converted (or a failed check), 2 a usage error. Errors are short messages on stderr,
never a traceback (``--debug`` shows it), and no output file is written unless
conversion succeeded.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import __version__
from .api import convert, to_json, write_json
from .check import (DEFAULT_TOLERANCE, check, draw_events, lwtnn_test_event,
                    lwtnn_test_inputs, print_progress, read_events, read_network)
from .emit import FORMATS, GRAPH
from .errors import ConversionError, ConversionWarning, Onnx2LwtnnError, UsageError
from .load import load_model
from .lwtnn import load_network
from .specs import CONVENTIONS, read_spec, template

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

CONVERT_EXAMPLES = """\
examples:
  onnx2lwtnn model.onnx -o model.json          convert to lwtnn graph JSON
  onnx2lwtnn model.onnx -o model.json --check  convert, then prove it on 1000 events
  onnx2lwtnn model.onnx --format sequential    LightweightNeuralNetwork JSON on stdout
  onnx2lwtnn model.onnx -o model.json --variables spec.json
                                               name variables, add preprocessing
  onnx2lwtnn model.onnx -o model.json --variables hepdata.json \\
      --variables-convention subtract-divide   a {variables, offset, scale} spec
                                               meaning (x - offset) / scale
  onnx2lwtnn a.onnx b.onnx --output-dir out/   convert many, one summary
  onnx2lwtnn check model.onnx model.json       compare ONNX and lwtnn outputs
  onnx2lwtnn template model.onnx -o spec.json  write a variable spec to fill in

subcommands: check, template (see onnx2lwtnn check --help)
exit codes: 0 success, 1 cannot convert or check failed, 2 usage error
"""
CHECK_EXAMPLES = """\
examples:
  onnx2lwtnn check model.onnx model.json                  1000 random events
  onnx2lwtnn check model.onnx model.json --events 100000 --seed 3
  onnx2lwtnn check model.onnx model.json --inputs events.npz    arrays named by input
  onnx2lwtnn check model.onnx model.json --inputs events.csv    a column per variable
  onnx2lwtnn check model.onnx model.json --write-lwtnn-inputs in.json
                     then: lwtnn-test-lightweight-graph model.json in.json
"""


def _parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error")
    parser.add_argument("--version", action="version", version=f"onnx2lwtnn {__version__}")
    return parser


def _add_spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables", type=Path, metavar="SPEC",
                        help="variable spec JSON: lwtnn's own (keras2json or kerasfunc2json "
                             "form) or {variables, offset, scale}")
    parser.add_argument("--variables-convention", choices=CONVENTIONS,
                        help="what a {variables, offset, scale} spec means: 'subtract-divide' "
                             "(x - offset) / scale, or 'lwtnn' (x + offset) * scale")


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=_positive_int, default=1000,
                        help="random events to compare (default 1000)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="allowed |lwtnn - onnx| / max(1, |onnx|) (default 1e-5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def convert_parser() -> argparse.ArgumentParser:
    parser = _parser("onnx2lwtnn", "Convert ONNX neural networks to lwtnn JSON, exactly: "
                     "anything lwtnn cannot express is refused, naming every offending "
                     "node.", CONVERT_EXAMPLES)
    parser.add_argument("models", type=Path, nargs="+", metavar="MODEL.onnx")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to write the lwtnn JSON (default: stdout)")
    parser.add_argument("--output-dir", type=Path,
                        help="convert every MODEL into DIR/<model name>.json")
    parser.add_argument("--format", choices=FORMATS, default=GRAPH,
                        help="lwtnn graph (LightweightGraph, default) or sequential "
                             "(LightweightNeuralNetwork, single chains only)")
    _add_spec_options(parser)
    parser.add_argument("--check", action="store_true",
                        help="after converting, compare ONNX and lwtnn outputs (as "
                             "'onnx2lwtnn check'); exit 1 if they differ")
    _add_check_options(parser)
    return parser


def check_parser() -> argparse.ArgumentParser:
    parser = _parser("onnx2lwtnn check", "Evaluate an ONNX model and its lwtnn JSON on the "
                     "same events and report, per output label, how far apart they are.",
                     CHECK_EXAMPLES)
    parser.add_argument("model", type=Path, metavar="MODEL.onnx")
    parser.add_argument("network", type=Path, metavar="NET.json")
    _add_check_options(parser)
    parser.add_argument("--inputs", type=Path,
                        help=".npz with arrays named by ONNX input, or .csv with a column "
                             "per lwtnn variable (raw units, before lwtnn's offset/scale)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--write-lwtnn-inputs", type=Path, metavar="FILE",
                        help="write event 0 as lwtnn-test-lightweight-graph reads it, and "
                             "print the outputs our runtime expects for it")
    _add_spec_options(parser)
    return parser


def template_parser() -> argparse.ArgumentParser:
    parser = _parser("onnx2lwtnn template", "Write a variable spec (lwtnn's graph form) for "
                     "a model, with default names, offset 0 and scale 1, to fill in.",
                     "example:\n  onnx2lwtnn template model.onnx -o spec.json\n")
    parser.add_argument("model", type=Path, metavar="MODEL.onnx")
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")
    return parser


def run_convert(args: argparse.Namespace) -> int:
    if len(args.models) > 1 or args.output_dir is not None:
        return _run_batch(args)
    model = args.models[0]
    if args.output is not None and _same_file(args.output, model):
        raise UsageError(f"{args.output}: the output would overwrite the input model")
    return _convert_one(args, model, args.output)


def _convert_one(args: argparse.Namespace, model: Path, output: Optional[Path]) -> int:
    document = convert(model, format=args.format, variables=args.variables,
                       variables_convention=args.variables_convention)
    if args.check and not _report_check(args, model, document, sys.stderr):
        return EXIT_FAILED  # nothing written: the conversion is not proven
    if output is None:
        sys.stdout.write(to_json(document))
    else:
        write_json(document, output)
        print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def _run_batch(args: argparse.Namespace) -> int:
    if args.output is not None or args.output_dir is None:
        raise UsageError("several models need --output-dir DIR (and no -o)")
    if not args.output_dir.is_dir():
        raise UsageError(f"{args.output_dir}: no such directory")
    results = []
    for model in args.models:
        target = args.output_dir / f"{model.stem}.json"
        code = _guarded(lambda a, m=model, t=target: _convert_one(a, m, t), args, str(model))
        results.append((model, target, code))
    width = max(len(str(m)) for m, _, _ in results)
    print("\nsummary:", file=sys.stderr)
    for model, target, code in results:
        status = f"ok -> {target}" if code == EXIT_OK else "FAILED"
        print(f"  {str(model).ljust(width)}  {status}", file=sys.stderr)
    failed = sum(code != EXIT_OK for _, _, code in results)
    print(f"{len(results) - failed} converted, {failed} failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    passed = _report_check(args, args.model, args.network, sys.stdout)
    return EXIT_OK if passed else EXIT_FAILED


def _report_check(args: argparse.Namespace, model: Path, network, stream) -> bool:
    """Compare and print the table (stream: stderr when the JSON goes to stdout)."""
    proto = load_model(model)
    document = read_network(network)
    interface = None
    if args.variables is not None:
        sequences = document.get("input_sequences", [])
        widths = {n["name"]: len(n["variables"]) for n in document["inputs"] + sequences}
        interface = read_spec(args.variables, args.variables_convention, widths,
                              frozenset(n["name"] for n in sequences))
    progress = print_progress if args.events > 10_000 else None
    report = check(proto, document, events=args.events, inputs=getattr(args, "inputs", None),
                   tolerance=args.tolerance, seed=args.seed, interface=interface,
                   progress=progress)
    if getattr(args, "json", False):
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table(), file=stream)
    if getattr(args, "write_lwtnn_inputs", None) is not None:
        _write_lwtnn_inputs(args, document)
    return report.passed


def _write_lwtnn_inputs(args: argparse.Namespace, document: dict) -> None:
    events = (read_events(args.inputs, document) if args.inputs is not None
              else draw_events(document, 1, args.seed))
    event = lwtnn_test_event(document, events)
    args.write_lwtnn_inputs.write_text(json.dumps(lwtnn_test_inputs(document, event),
                                                  indent=2) + "\n")
    outputs = load_network(document).evaluate(event.vectors, event.sequences or None)
    print(f"\nwrote {args.write_lwtnn_inputs}; lwtnn-test-lightweight-graph "
          f"{args.network} {args.write_lwtnn_inputs} should print:")
    for name, labels in document["outputs"].items():
        print(f"{name}:")
        for label, value in zip(labels["labels"], outputs[name][0]):
            print(f"{label} {value:.17g}")


def run_template(args: argparse.Namespace) -> int:
    spec = template(convert(args.model))
    text = json.dumps(spec, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


SUBCOMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser],
                             Callable[[argparse.Namespace], int]]] = {
    "check": (check_parser, run_check),
    "template": (template_parser, run_template),
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    make_parser, command = convert_parser, run_convert
    if argv and argv[0] in SUBCOMMANDS:
        (make_parser, command), argv = SUBCOMMANDS[argv[0]], argv[1:]
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    subject = " ".join(map(str, getattr(args, "models", [getattr(args, "model", "")])))
    return _guarded(command, args, subject)


def _guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
             subject: str) -> int:
    """Run a command, turning every failure into one message and an exit code."""
    try:
        return _with_warnings(command, args)
    except UsageError as exc:
        return _fail(args, f"onnx2lwtnn: error: {exc}", EXIT_USAGE)
    except ConversionError as exc:
        return _fail(args, _conversion_message(subject, exc), EXIT_FAILED)
    except Onnx2LwtnnError as exc:
        return _fail(args, f"onnx2lwtnn: {exc}", EXIT_FAILED)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"onnx2lwtnn: {where}{exc.strerror or exc}", EXIT_FAILED)
    except Exception as exc:  # a bug: still no traceback unless asked for
        return _fail(args, f"onnx2lwtnn: internal error: {type(exc).__name__}: {exc} "
                           "(run with --debug for the traceback and please report it)",
                     EXIT_FAILED)


def _with_warnings(command: Callable[[argparse.Namespace], int],
                   args: argparse.Namespace) -> int:
    """Run a command and show its conversion warnings, also when it then fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        try:
            return command(args)
        finally:
            for warning in caught:  # numpy's and onnx's own warnings are noise here
                if issubclass(warning.category, ConversionWarning):
                    print(f"onnx2lwtnn: warning: {warning.message}", file=sys.stderr)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _conversion_message(subject: str, exc: ConversionError) -> str:
    """All offending nodes, grouped by what is wrong with them; nodes that most likely
    fail only because of another (``Diagnostic.downstream``) come last."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for d in sorted(exc.diagnostics, key=lambda d: d.downstream):
        groups[(d.downstream, d.op_type, d.reason, d.hint)].append(d.node)
    lines = [f"onnx2lwtnn: {subject}: cannot convert: {exc.summary}"]
    for (downstream, op_type, reason, hint), nodes in groups.items():
        if downstream and not any(line.startswith("  then") for line in lines):
            lines.append("  then, failing because of those (fix the above first):")
        names = ", ".join(f"'{n}'" for n in nodes)
        indent = "    " if downstream else "  "
        lines.append(f"{indent}{op_type} {names}: {reason}" + (f" ({hint})" if hint else ""))
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _same_file(output: Path, model: Path) -> bool:
    try:
        return output.resolve() == model.resolve()
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
