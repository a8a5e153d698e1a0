"""Command line: a thin layer over the Python API.

``onnx2lwtnn MODEL.onnx [...]`` converts; every other command is a subcommand, one
module each in this package with ``parser()`` and ``run(args)``, listed in
``SUBCOMMANDS`` and imported only when used, so that ``run`` on an lwtnn file never
loads onnx. Exit codes: 0 success, 1 a model that cannot be read or converted (or a
failed check), 2 a usage error. Errors are short messages on stderr, never a traceback
(``--debug`` shows it), and no output file is written unless the command succeeded.
"""
from __future__ import annotations

import importlib
import sys
from functools import partial
from typing import Optional, Sequence

from .. import limits
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, check_companions, guarded

__all__ = ["main", "SUBCOMMANDS", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

SUBCOMMANDS = ("check", "template", "inspect", "ops", "run", "tmva", "export")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command = importlib.import_module(f".{argv[0]}", __name__)
        make_parser, argv = command.parser, argv[1:]
    else:
        command = importlib.import_module(".convert", __name__)
        make_parser = partial(command.parser, ", ".join(SUBCOMMANDS))
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        check_companions(parser, args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    subject = " ".join(map(str, getattr(args, "models", [getattr(args, "model", "")])))
    with limits.settings(dict(args.limit or [])):
        return guarded(command.run, args, subject)
