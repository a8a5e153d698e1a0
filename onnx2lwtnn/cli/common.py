"""What every subcommand shares: exit codes, the parser frame, shared options, and the
guard that turns every failure into one short message and an exit code."""
from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable

from .. import __version__
from ..check import DEFAULT_TOLERANCE
from ..errors import ConversionError, ConversionWarning, Onnx2LwtnnError, UsageError
from ..specs import CONVENTIONS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def new_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error")
    parser.add_argument("--version", action="version", version=f"onnx2lwtnn {__version__}")
    return parser


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables", type=Path, metavar="SPEC",
                        help="variable spec JSON: lwtnn's own (keras2json or kerasfunc2json "
                             "form) or {variables, offset, scale}")
    parser.add_argument("--variables-convention", choices=CONVENTIONS,
                        help="what a {variables, offset, scale} spec means: 'subtract-divide' "
                             "(x - offset) / scale, or 'lwtnn' (x + offset) * scale")


def add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=positive_int, default=1000,
                        help="random events to compare (default 1000)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="allowed |lwtnn - onnx| / max(1, |onnx|) (default 1e-5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
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


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def same_file(output: Path, model: Path) -> bool:
    try:
        return output.resolve() == model.resolve()
    except OSError:
        return False
