"""What every subcommand shares: exit codes, the parser frame, shared options, and the
guard that turns every failure into one short message and an exit code."""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import traceback
import warnings
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from .. import __version__, files, limits
from ..errors import ConversionError, ConversionWarning, Onnx2LwtnnError, UsageError
from ..lwtnn.errors import LwtnnFormatWarning
from ..lwtnn.parallel import MAX_THREADS
from ..specs import CONVENTIONS

if TYPE_CHECKING:  # the converter's modules load onnx: commands that do not need it
    from ..trace import Change  # (run, ops, --help) stay fast

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
MAX_EVENTS = 10**8
# option -> the option it only means something with (both as argparse dests)
NEEDS = {"variables_convention": "variables", "events": "check", "tolerance": "check",
         "seed": "check"}


def new_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error")
    parser.add_argument("--version", action="version", version=f"onnx2lwtnn {__version__}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="say more: when converting, each pass that changed the "
                               "graph and what it did")
    loudness.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument("--limit", type=limit_setting, action="append", metavar="NAME=N",
                        help="raise one of the limits on what a file may ask of the tool "
                             f"({', '.join(limits.LIMITS)}; docs/limits.md); repeatable")
    return parser


def check_companions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """An option given without the one it needs is a usage error, not silently ignored
    (``parser.error`` exits 2 with the usage)."""
    for option, needed in NEEDS.items():
        given = getattr(args, option, None) != parser.get_default(option)
        if hasattr(args, needed) and given and not getattr(args, needed):
            parser.error(f"{_flag(option)} needs {_flag(needed)}")
    specs = getattr(args, "variables", None)
    if specs is not None and getattr(args, "fold_input", None) is None:
        if len(specs) > 1:  # several only for folds, one per model
            parser.error("--variables is given once (once per model with --fold-input)")
        args.variables = specs[0]


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def info(args: argparse.Namespace, message: str) -> None:
    """A progress note on stderr ('wrote x.json'), which -q silences; the names and paths
    in it are shown escaped (``files.printable``)."""
    if not getattr(args, "quiet", False):
        print(files.printable(message), file=sys.stderr)


def show(text: str) -> None:
    """A command's text report on stdout, its names escaped (``files.printable``)."""
    print(files.printable(text))


def change_printer(args: argparse.Namespace) -> Optional[Callable[[Change], None]]:
    """With -v, what prints each change a pass makes (``convert(on_change=...)``)."""
    if not getattr(args, "verbose", False):
        return None
    return lambda change: info(args, f"onnx2lwtnn: pass {change}")


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variables", type=Path, metavar="SPEC", action="append",
                        help="variable spec JSON: lwtnn's own (keras2json or kerasfunc2json "
                             "form), {variables, offset, scale}, a mean/std file "
                             "({variables|branches, mean, std|stddev}, {name: {mean, std}}, "
                             "umami's {name: {shift, scale}}), or names only (with "
                             "--fold-input: once per model, in model order)")
    parser.add_argument("--variables-convention", choices=CONVENTIONS,
                        help="what a {variables, offset, scale} spec means: 'subtract-divide' "
                             "(x - offset) / scale, or 'lwtnn' (x + offset) * scale")


def add_check_options(parser: argparse.ArgumentParser) -> None:
    from ..check import DEFAULT_TOLERANCE, FLOAT32_TOLERANCE  # loads onnx: only when needed
    parser.add_argument("--events", type=event_count, default=1000,
                        help=f"random events to compare, 1 to {MAX_EVENTS:.0e} (default 1000)")
    parser.add_argument("--tolerance", type=tolerance,
                        help="allowed |lwtnn - onnx| / max(1, |onnx|) against the float64 "
                             f"ONNX evaluation, finite and > 0 (default {DEFAULT_TOLERANCE:g}; "
                             f"{FLOAT32_TOLERANCE:g} where only float32 evaluation exists)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed, 0 to 2**63 - 1 (default 0)")


# the API's messages name its arguments (variables_convention='lwtnn'); the command line's
# name its flags (--variables-convention lwtnn)
FLAGS = {"variables": "--variables", "variables_convention": "--variables-convention",
         "inputs": "--inputs", "tolerance": "--tolerance", "tmva_weights": "--tmva-weights",
         "outputs": "--outputs", "fix": "--fix", "format": "--format",
         "finalizer": "--finalizer", "correction_name": "--correction-name",
         "fold_input": "--fold-input",
         "merge_outputs": "--merge-outputs"}
_ARGUMENT = re.compile(rf"\b({'|'.join(FLAGS)})=(?:'([^']*)')?")


def as_flags(message: str) -> str:
    """A message of the Python API with its argument names as the command line's flags."""
    return _ARGUMENT.sub(lambda m: FLAGS[m[1]] + (f" {m[2]}" if m[2] else ""), message)


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
            subject: str, errors: Optional[list[str]] = None) -> int:
    """Run a command, turning every failure into one message and an exit code; the
    message is also appended to ``errors`` when given (batch mode's summary)."""
    def fail(message: str, code: int) -> int:
        if getattr(args, "debug", False):
            traceback.print_exc()
        message = files.printable(message)
        print(message, file=sys.stderr)
        if errors is not None:
            errors.append(message)
        return code

    try:
        return _with_warnings(command, args, subject)
    except KeyboardInterrupt:
        return fail("onnx2lwtnn: interrupted", EXIT_INTERRUPTED)
    except UsageError as exc:
        return fail(f"onnx2lwtnn: error: {as_flags(str(exc))}", EXIT_USAGE)
    except ConversionError as exc:
        return fail(_conversion_message(subject, exc), EXIT_FAILED)
    except Onnx2LwtnnError as exc:
        return fail(f"onnx2lwtnn: {exc}", EXIT_FAILED)
    except BrokenPipeError:  # `| head` stopped reading: nothing worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"onnx2lwtnn: {where}{exc.strerror or exc}", EXIT_FAILED)
    except Exception as exc:  # a bug: still no traceback unless asked for
        return fail(f"onnx2lwtnn: internal error: {type(exc).__name__}: {exc} "
                    "(run with --debug for the traceback and please report it)", EXIT_FAILED)


def _with_warnings(command: Callable[[argparse.Namespace], int],
                   args: argparse.Namespace, subject: str) -> int:
    """Run a command and show its conversion warnings, naming the model they are about,
    also when it then fails; -q silences them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        warnings.simplefilter("always", LwtnnFormatWarning)
        try:
            return command(args)
        finally:
            for warning in caught:  # numpy's and onnx's own warnings are noise here
                if issubclass(warning.category, ConversionWarning):
                    where = f"{subject}: " if subject else ""
                    info(args, f"onnx2lwtnn: {where}warning: {warning.message}")
                elif issubclass(warning.category, LwtnnFormatWarning):  # names its file
                    info(args, files.printable(f"onnx2lwtnn: warning: {warning.message}"))


def _conversion_message(subject: str, exc: ConversionError) -> str:
    """All offending nodes, grouped by what is wrong with them; nodes that most likely
    fail only because of another (``Diagnostic.downstream``) come last."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for d in sorted(exc.diagnostics, key=lambda d: d.downstream):
        groups[(d.downstream, d.op_type, d.reason, d.hint)].append(d.node)
    lines = [f"onnx2lwtnn: {subject}: cannot convert: {exc.summary}"]
    then_said = False  # groups come sorted: the downstream ones last
    for (downstream, op_type, reason, hint), nodes in groups.items():
        if downstream and not then_said:
            lines.append("  then, failing because of those (fix the above first):")
            then_said = True
        names = ", ".join(files.quote(n) for n in nodes)
        indent = "    " if downstream else "  "
        lines.append(f"{indent}{op_type} {names}: {reason}" + (f" ({hint})" if hint else ""))
    return "\n".join(lines)


def event_count(text: str) -> int:
    return _count(text, MAX_EVENTS)


def thread_count(text: str) -> int:
    return _count(text, MAX_THREADS)


def _count(text: str, most: int) -> int:
    value = _number(text, int)
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"must be from 1 to {most:,}")
    return value


def tolerance(text: str) -> float:
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError("must be a finite number above 0")
    return value


def seed(text: str) -> int:
    value = _number(text, int)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("must be from 0 to 2**63 - 1")
    return value


def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{files.quote(text, 40)} is not "
                                         f"{'an integer' if kind is int else 'a number'}") from None


def limit_setting(text: str) -> tuple[str, int]:
    """A --limit value, NAME=N."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=N, got {files.quote(text, 40)}")
    number = _number(value, int)
    problem = limits.setting_problem(name, number)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return name, number


def output_path(text: str) -> Path:
    """An -o value: a file name, or '-' for stdout; never empty (Path('') is '.')."""
    if not text:
        raise argparse.ArgumentTypeError("the output file name is empty")
    return Path(text)


def write_output(args: argparse.Namespace, output: Optional[Path], text: str,
                 inputs: list) -> None:
    """Write a command's result under the file policy: stdout when no output is given
    (or '-'), else the file, never onto one of the run's ``inputs``."""
    if output is None or str(output) == files.STDIN:
        files.write_stdout(text)
        return
    files.write_text(output, text, inputs)
    info(args, f"wrote {output}")


def model_run_inputs(args: argparse.Namespace, output: Path, *models: Path) -> list[Path]:
    """``run_inputs``, and where ``output`` already exists (only then can it be one), the
    files the ONNX models keep external data in: an output must not land on them."""
    found = run_inputs(args, *models)
    if os.path.lexists(output):
        from ..load import external_data_files  # onnx only for commands that read models
        found += [data for model in models for data in external_data_files(model)]
    return found


def run_inputs(args: argparse.Namespace, *paths: Optional[Path]) -> list[Path]:
    """Every file a command reads: the given paths and the shared options' files."""
    extra = [getattr(args, name, None) for name in ("variables", "inputs", "tmva_weights",
                                                      "fix_from")]
    extra = [p for value in extra for p in (value if isinstance(value, list) else [value])]
    return [p for p in (*paths, *extra) if p is not None]
