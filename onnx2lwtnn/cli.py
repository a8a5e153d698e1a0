"""Command line: a thin layer over the Python API.

Exit codes: 0 success, 1 a model that cannot be read or converted (or a failed check),
2 a usage error. Errors are one short message on stderr, never a traceback (``--debug``
shows it), and no output file is written unless conversion succeeded.
"""
from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import __version__
from .api import convert, to_json, write_json
from .emit import FORMATS, GRAPH
from .errors import ConversionError, ConversionWarning, Onnx2LwtnnError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EXAMPLES = """\
examples:
  onnx2lwtnn model.onnx -o model.json            convert to lwtnn graph JSON
  onnx2lwtnn model.onnx                          print the JSON on stdout
  onnx2lwtnn model.onnx -o nn.json --format sequential
                                                 LightweightNeuralNetwork format
                                                 (single-chain networks only)
"""


def convert_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onnx2lwtnn", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert an ONNX neural network to lwtnn JSON, exactly: anything "
                    "lwtnn cannot express is refused, naming every offending node.",
        epilog=EXAMPLES)
    parser.add_argument("model", type=Path, help="the ONNX file to convert")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to write the lwtnn JSON (default: stdout)")
    parser.add_argument("--format", choices=FORMATS, default=GRAPH,
                        help="lwtnn graph (LightweightGraph, default) or sequential "
                             "(LightweightNeuralNetwork)")
    _add_common(parser)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def run_convert(args: argparse.Namespace) -> int:
    if args.output is not None and _same_file(args.output, args.model):
        raise UsageError(f"{args.output}: the output would overwrite the input model")
    document = convert(args.model, format=args.format)
    if args.output is None:
        sys.stdout.write(to_json(document))
    else:
        write_json(document, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = convert_parser()
    args = parser.parse_args(argv)
    return _guarded(run_convert, args)


def _guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning every failure into one message and an exit code."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConversionWarning)
            code = command(args)
        for warning in caught:
            print(f"onnx2lwtnn: warning: {warning.message}", file=sys.stderr)
        return code
    except UsageError as exc:
        return _fail(args, f"onnx2lwtnn: error: {exc}", EXIT_USAGE)
    except ConversionError as exc:
        return _fail(args, _conversion_message(args, exc), EXIT_FAILED)
    except Onnx2LwtnnError as exc:
        return _fail(args, f"onnx2lwtnn: {exc}", EXIT_FAILED)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"onnx2lwtnn: {where}{exc.strerror or exc}", EXIT_FAILED)
    except Exception as exc:  # a bug: still no traceback unless asked for
        return _fail(args, f"onnx2lwtnn: internal error: {type(exc).__name__}: {exc} "
                           "(run with --debug for the traceback and please report it)",
                     EXIT_FAILED)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _conversion_message(args: argparse.Namespace, exc: ConversionError) -> str:
    """All offending nodes, grouped by what is wrong with them."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for diagnostic in exc.diagnostics:
        groups[(diagnostic.op_type, diagnostic.reason, diagnostic.hint)].append(diagnostic.node)
    model = getattr(args, "model", "")
    lines = [f"onnx2lwtnn: {model}: cannot convert: {exc.summary}"]
    for (op_type, reason, hint), nodes in groups.items():
        names = ", ".join(f"'{n}'" for n in nodes)
        lines.append(f"  {op_type} {names}: {reason}" + (f" ({hint})" if hint else ""))
    return "\n".join(lines)


def _same_file(output: Path, model: Path) -> bool:
    try:
        return output.resolve() == model.resolve()
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
