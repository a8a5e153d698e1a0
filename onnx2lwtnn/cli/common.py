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
from . import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 (the commands import them here)

if TYPE_CHECKING:  # the converter's modules load onnx: commands that do not need it
    from ..trace import Change  # (run, ops, --help) stay fast

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
SPEC_SUFFIX = ".variables.json"  # --variables-beside: a.onnx's spec is a.variables.json
MAX_EVENTS = 10**8
# option -> the options it only means something with, one of them (as argparse dests)
NEEDS = {"variables_convention": ("variables", "variables_beside"), "events": ("check",),
         "tolerance": ("check",), "seed": ("check",), "inputs_side": ("inputs",)}
# option -> the option that makes it meaningless (random events vs the file's events)
EXCLUDES = {"events": "inputs", "seed": "inputs"}


def new_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_global_options(parser)
    return parser


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes, before or after the subcommand's name."""
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any error")
    parser.add_argument("--version", action="version", version=f"onnx2lwtnn {__version__}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="say more: when converting, each pass that changed the "
                               "graph and what it did")
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="print errors only: no tables, progress or notes")
    parser.add_argument("--limit", type=limit_setting, action="append", metavar="NAME=N",
                        help="raise one of the limits on what a file may ask of the tool "
                             f"({', '.join(limits.LIMITS)}; docs/limits.md); repeatable")


def global_arity(option: str) -> Optional[int]:
    """How many values a global option takes (``--name=value`` takes none more), or None
    for an option that is not global."""
    parser = argparse.ArgumentParser(add_help=True)
    _add_global_options(parser)
    name, _, value = option.partition("=")
    action = parser._option_string_actions.get(name)  # argparse's own option index
    if action is None:
        return None
    return 0 if value or action.nargs == 0 else 1


def check_companions(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """What is wrong when an option is given without the one it needs (it would be
    silently ignored), or ""."""
    def given(option: str) -> bool:
        return getattr(args, option, None) != parser.get_default(option)

    for option, needed in NEEDS.items():
        present = [name for name in needed if hasattr(args, name)]
        if present and given(option) and not any(getattr(args, name) for name in present):
            return f"{_flag(option)} needs {' or '.join(map(_flag, present))}"
    for option, excluded in EXCLUDES.items():
        if given(option) and getattr(args, excluded, None) is not None:
            return (f"{_flag(option)} is for random events; with {_flag(excluded)} the "
                    "events are the file's")
    return ""


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """A usage error found after parsing: one line (argparse's usage block is for
    options it could not parse), exit 2."""
    print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
    return EXIT_USAGE


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def random_events(args: argparse.Namespace) -> int:
    """How many random events a check draws (``--events``)."""
    from ..defaults import DEFAULT_EVENTS
    return args.events or DEFAULT_EVENTS


def on_terminal(args: argparse.Namespace) -> bool:
    """Whether progress may be shown: stderr is a terminal (a log file gets no ``\r``
    counters) and -q is not given."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


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


def add_spec_options(parser: argparse.ArgumentParser, per_model: bool = False) -> None:
    """--variables (repeatable: once per model where a command takes several) and
    --variables-convention; ``per_model``: also --variables-beside and --same-variables
    (``model_specs``)."""
    from ..specs import CONVENTIONS
    parser.add_argument("--variables", type=Path, metavar="SPEC", action="append",
                        help="variable spec JSON: lwtnn's own (keras2json or kerasfunc2json "
                             "form), {variables, offset, scale}, a mean/std file "
                             "({variables|branches, mean, std|stddev}, {name: {mean, std}}, "
                             "umami's {name: {shift, scale}}), or names only; with several "
                             "models (a batch, or --fold-input), once per model in model "
                             "order")
    if per_model:
        parser.add_argument("--variables-beside", action="store_true",
                            help=f"each MODEL.onnx's spec is MODEL{SPEC_SUFFIX} in its folder")
        parser.add_argument("--same-variables", action="store_true",
                            help="apply the one --variables SPEC to every model (a spec "
                                 "describes one network's inputs: only if they share it)")
    parser.add_argument("--variables-convention", choices=CONVENTIONS,
                        help="what a {variables, offset, scale} spec means: 'subtract-divide' "
                             "(x - offset) / scale, or 'lwtnn' (x + offset) * scale")


def add_check_options(parser: argparse.ArgumentParser,
                      tolerance_help: Optional[str] = None) -> None:
    from ..defaults import DEFAULT_EVENTS, DEFAULT_TOLERANCE, FLOAT32_TOLERANCE
    parser.add_argument("--events", type=event_count,
                        help=f"random events to compare, 1 to {MAX_EVENTS:.0e} "
                             f"(default {DEFAULT_EVENTS})")
    parser.add_argument("--tolerance", type=tolerance,
                        help=(tolerance_help or
                              "allowed |lwtnn - onnx| / max(1, |onnx|) against the float64 "
                              f"ONNX evaluation (default {DEFAULT_TOLERANCE:g}; "
                              f"{FLOAT32_TOLERANCE:g} where only float32 evaluation exists)")
                        + "; finite and > 0")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed, 0 to 2**63 - 1 (default 0)")


# the API's messages name its arguments (variables_convention='lwtnn'); the command line's
# name its flags (--variables-convention lwtnn)
FLAGS = {"variables": "--variables", "variables_convention": "--variables-convention",
         "inputs": "--inputs", "tolerance": "--tolerance", "tmva_weights": "--tmva-weights",
         "outputs": "--outputs", "fix": "--fix", "format": "--format",
         "finalizer": "--finalizer", "correction_name": "--correction-name",
         "fold_input": "--fold-input", "inputs_side": "--inputs-side",
         "merge_outputs": "--merge-outputs"}
_ARGUMENT = re.compile(rf"\b({'|'.join(FLAGS)})=(?:'([^']*)')?")


def as_flags(message: str) -> str:
    """A message of the Python API with its argument names as the command line's flags."""
    return _ARGUMENT.sub(lambda m: FLAGS[m[1]] + (f" {m[2]}" if m[2] else ""), message)


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace,
            subject: str, errors: Optional[list[str]] = None,
            warned: Optional[list[str]] = None) -> int:
    """Run a command, turning every failure into one message and an exit code; the
    message is also appended to ``errors`` when given (batch mode's summary). Conversion
    warnings are printed, or appended to ``warned`` when given (batch mode prints each
    text once, with the models it is about)."""
    def fail(message: str, code: int) -> int:
        if getattr(args, "debug", False):
            traceback.print_exc()
        message = files.printable(message)
        print(message, file=sys.stderr)
        if errors is not None:
            errors.append(message)
        return code

    try:
        return _with_warnings(command, args, subject, warned)
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
                   args: argparse.Namespace, subject: str,
                   warned: Optional[list[str]] = None) -> int:
    """Run a command and show its conversion warnings (or collect them in ``warned``),
    naming the model they are about, also when it then fails; -q silences them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        warnings.simplefilter("always", LwtnnFormatWarning)
        try:
            return command(args)
        finally:
            for warning in caught:  # numpy's and onnx's own warnings are noise here
                if issubclass(warning.category, ConversionWarning):
                    where = f"{subject}: " if subject else ""
                    message = str(warning.message).removeprefix(where)  # the API's may
                    if warned is not None:                              # name the file too
                        warned.append(message)
                    else:
                        info(args, f"onnx2lwtnn: {where}warning: {message}")
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
    if exc.other_outputs:
        lines.append("  " + exc.other_outputs_note(f"--outputs {','.join(exc.other_outputs)}"))
    return "\n".join(lines)


def event_count(text: str) -> int:
    return _count(text, MAX_EVENTS)


def thread_count(text: str) -> int:
    from ..lwtnn.parallel import MAX_THREADS  # the runtime: only for commands that run
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


def make_output_dir(folder: Path) -> None:
    """``--output-dir``: made (with its parents) when it does not exist yet, as ``pip
    download -d`` and ``mkdir -p`` do; a file of that name is a usage error."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: not a directory (--output-dir)")
    folder.mkdir(parents=True, exist_ok=True)


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


def model_specs(args: argparse.Namespace, models: list[Path]) -> list[Optional[Path]]:
    """The variable spec of each model: one --variables per model in model order, each
    model's own spec beside it (--variables-beside), or one spec for all only when asked
    (--same-variables): a spec describes one network, and one silently applied to
    networks normalised differently gives wrong numbers. UsageError otherwise."""
    given = args.variables or []
    if getattr(args, "variables_beside", False):
        if given:
            raise UsageError("--variables-beside finds each model's spec; give no --variables")
        specs = [model.with_name(model.stem + SPEC_SUFFIX) for model in models]
        missing = [str(spec) for spec in specs if not spec.is_file()]
        if missing:
            raise UsageError(f"--variables-beside: no spec {', '.join(missing)}")
        return specs
    if getattr(args, "same_variables", False):
        if len(given) != 1:
            raise UsageError("--same-variables applies one --variables SPEC to every model; "
                             f"{len(given)} given")
        return given * len(models)
    if not given:
        return [None] * len(models)
    if len(given) != len(models):
        raise UsageError(
            f"{len(models)} model(s) and {len(given)} --variables: give one spec per model, "
            "in model order" + (" (or --same-variables if this spec describes every model's "
                                "inputs, or --variables-beside)" if len(given) == 1 else ""))
    return given
