"""``onnx2lwtnn run NET.json --inputs FILE``: any lwtnn document evaluated on a file of events."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

from .. import files
from ..output_files import OUTPUT_FORMATS
from ..runner import REPLACE, refusal_summary, run as run_network
from .common import EXIT_OK, info, new_parser, thread_count

EXAMPLES = """\
examples:
  onnx2lwtnn run net.json --inputs events.csv                CSV of outputs on stdout
  onnx2lwtnn run net.json --inputs events.npz -o out.npz     arrays named by output
  onnx2lwtnn run net.json --inputs events.jsonl -o out.jsonl lwtnn's {node: {var: value}}
  onnx2lwtnn run net.json --inputs events.root:Events -o friend.root
                                                             a friend tree of the outputs
  onnx2lwtnn run net.json --inputs ev.root:t --branch jet_pt=Jet_pt
                                                             a variable from another branch
  onnx2lwtnn run net.json --inputs events.npz --threads 1    on one core (a batch slot)

inputs: .npz (an array per input node named after it, or in_<node>, or raw_inputs for a
lone input: (events, variables), sequences (events, steps, variables) with optional
<name>.lengths), .csv (a column per variable, node/variable where nodes share a name),
JSON lines (one event per line), or a ROOT TTree (FILE.root:TREE, needs uproot: pip
install "onnx2lwtnn[root]"; a branch per variable, jagged for sequences). Files of any
size are read, evaluated and written a chunk at a time. Raw values: the network applies
its own offset and scale. A NaN (empty CSV cell, JSON null) of a variable with a default
becomes the default, as lwtnn's NanReplacer does; any other NaN is an error.
Events lwtnn refuses are listed on stderr by row (0 = first event) and give NaN outputs.
"""
PROGRESS_AFTER = 2.0  # seconds before a progress line appears (on a terminal only)


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn run", "Evaluate an lwtnn network (graph or sequential "
                        "JSON, from onnx2lwtnn or lwtnn's own converters) on a file of events, "
                        "in double precision as lwtnn does.", EXAMPLES)
    result.add_argument("network", type=Path, metavar="NET.json")
    result.add_argument("--inputs", type=Path, required=True, metavar="FILE",
                        help="events: .npz, .csv, .jsonl or FILE.root:TREE")
    result.add_argument("-o", "--output", type=Path,
                        help="where to write the outputs: .csv, .npz, .jsonl or .root "
                             "(FILE.root:TREE; the tree is 'lwtnn' by default) "
                             "(default: CSV on stdout)")
    result.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="output format (default: from the output's suffix; csv on "
                             "stdout and for a name without a suffix)")
    result.add_argument("--replace", choices=tuple(REPLACE), default="nan",
                        help="values replaced by defaults: 'nan' (NanReplacer's default) or "
                             "'all' (also +-inf, as lwtnn's test tools do)")
    result.add_argument("--branch", action="append", type=_branch, default=[],
                        metavar="VARIABLE=BRANCH",
                        help="read VARIABLE from the ROOT branch BRANCH (repeatable)")
    result.add_argument("--threads", type=thread_count, metavar="N",
                        help="chunks of events evaluated at once (default: as many as numpy's "
                             "BLAS uses: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS if set, "
                             "else the cores)")
    return result


def _branch(text: str) -> tuple[str, str]:
    variable, equals, branch = text.partition("=")
    if not (equals and variable and branch):
        raise argparse.ArgumentTypeError(f"{files.quote(text, 40)} is not VARIABLE=BRANCH")
    return variable, branch


def run(args: argparse.Namespace) -> int:
    progress = None if args.quiet else Progress()
    if args.format is None and args.output is not None and not args.output.suffix:
        args.format = "csv"  # as on stdout: '-o out' is a plain text table
    output = args.output if args.output is not None else Path(files.STDIN)
    try:
        result = run_network(args.network, args.inputs, output, format=args.format,
                             replace=args.replace, progress=progress, threads=args.threads,
                             keep_outputs=False, branches=dict(args.branch))
    finally:
        if progress is not None:
            progress.end()
    if result.n_refused:
        print(f"onnx2lwtnn: warning: lwtnn refuses {result.n_refused} of {result.n_events} "
              "event(s); their outputs are NaN:", file=sys.stderr)
        for line in refusal_summary(result):
            print(files.printable(f"  {line}"), file=sys.stderr)
    if args.output is not None and str(args.output) != files.STDIN:
        replaced = f", {result.replaced} value(s) replaced by defaults" if result.replaced else ""
        info(args, f"ran {result.n_events} event(s){replaced}; wrote {files.clean(args.output)}")
    return EXIT_OK


class Progress:
    """'ran N events (P%)' on stderr, rewritten in place, only on a terminal and only
    once a run has taken ``PROGRESS_AFTER`` seconds."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.shown = False
        self.terminal = files.is_terminal(sys.stderr)

    def __call__(self, done: int, fraction: Optional[float]) -> None:
        if not self.terminal or time.monotonic() - self.start < PROGRESS_AFTER:
            return
        share = "" if fraction is None else f" ({100 * fraction:.0f}%)"
        print(f"\rran {done:,} events{share}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def end(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)
