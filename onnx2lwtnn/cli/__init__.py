"""Command line: a thin layer over the Python API.

``onnx2lwtnn MODEL.onnx [...]`` converts; every other command is a subcommand, one
module each in this package with ``parser()`` and ``run(args)``, listed in
``SUBCOMMANDS`` and imported only when used. A command module imports at its top only
what its parser needs, and the converter (which loads onnx, about a second) inside
``run``: ``run``, ``--version`` and ``--help`` never load onnx. Global options (``-q``,
``-v``, ``--debug``, ``--version``) may come before the subcommand too, as in git.
Exit codes: 0 success, 1 a model that cannot be read or converted (or a failed check),
2 a usage error. Errors are short messages on stderr, never a traceback (``--debug``
shows it), and no output file is written unless the command succeeded.
"""
from __future__ import annotations

import importlib
import sys
from functools import partial
from typing import Callable, Optional, Sequence

from .. import __version__

__all__ = ["main", "SUBCOMMANDS", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

SUBCOMMANDS = ("check", "template", "inspect", "ops", "run", "tmva", "export")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
VERSION = "--version"


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if VERSION in _options(argv):  # before any command module is loaded: instant
        print(f"onnx2lwtnn {__version__}")
        return EXIT_OK
    from .. import limits
    from .common import check_companions, global_arity, guarded, usage_error

    name, argv = _subcommand(argv, global_arity)
    if name is not None:
        command = importlib.import_module(f".{name}", __name__)
        make_parser = command.parser
    else:
        command = importlib.import_module(".convert", __name__)
        make_parser = partial(command.parser, ", ".join(SUBCOMMANDS))
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    problem = check_companions(parser, args)
    if problem:
        return usage_error(parser, problem)
    subject = " ".join(map(str, getattr(args, "models", [getattr(args, "model", "")])))
    with limits.settings(dict(args.limit or [])):
        return guarded(command.run, args, subject)


def _options(argv: list[str]) -> list[str]:
    """The arguments before a ``--`` (after it, everything is a file name)."""
    return argv[:argv.index("--")] if "--" in argv else argv


def _subcommand(argv: list[str], arity: Callable[[str], Optional[int]]
                ) -> tuple[Optional[str], list[str]]:
    """The subcommand and its arguments, with any global options given before it moved
    after it (``onnx2lwtnn -q check A B`` is ``onnx2lwtnn check -q A B``); None for a
    conversion. ``arity(option)``: how many values a global option takes, None for an
    option that is not global."""
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "-":
        taken = arity(argv[index])
        if taken is None:  # a conversion's own option: no subcommand follows
            return None, argv
        index += 1 + taken
    if index < len(argv) and argv[index] in SUBCOMMANDS:
        return argv[index], argv[:index] + argv[index + 1:]
    return None, argv
