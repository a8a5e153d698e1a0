"""``onnx2lwtnn run NET.json --inputs FILE``: any lwtnn document evaluated on a file of events."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import files
from ..event_files import OUTPUT_FORMATS
from ..runner import CHUNK, REPLACE, print_progress, refusal_summary, render, run as run_network
from .common import EXIT_OK, info, new_parser, thread_count

EXAMPLES = """\
examples:
  onnx2lwtnn run net.json --inputs events.csv                CSV of outputs on stdout
  onnx2lwtnn run net.json --inputs events.npz -o out.npz     arrays named by output
  onnx2lwtnn run net.json --inputs events.jsonl -o out.jsonl lwtnn's {node: {var: value}}
  onnx2lwtnn run net.json --inputs events.npz --threads 1    on one core (a batch slot)

inputs: .npz (an array per input node: (events, variables), sequences (events, steps,
variables) with optional <name>.lengths), .csv (a column per variable, node/variable where
nodes share a name) or JSON lines (one event per line). Raw values: the network applies
its own offset and scale. A NaN (empty CSV cell, JSON null) of a variable with a default
becomes the default, as lwtnn's NanReplacer does; any other NaN is an error.
Events lwtnn refuses are listed on stderr by row (0 = first event) and give NaN outputs.
"""


def parser() -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn run", "Evaluate an lwtnn network (graph or sequential "
                        "JSON, from onnx2lwtnn or lwtnn's own converters) on a file of events, "
                        "in double precision as lwtnn does.", EXAMPLES)
    result.add_argument("network", type=Path, metavar="NET.json")
    result.add_argument("--inputs", type=Path, required=True, metavar="FILE",
                        help="events: .npz, .csv or .jsonl")
    result.add_argument("-o", "--output", type=Path,
                        help="where to write the outputs: .csv, .npz or .jsonl "
                             "(default: CSV on stdout)")
    result.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="output format (default: from the output's suffix, else csv)")
    result.add_argument("--replace", choices=tuple(REPLACE), default="nan",
                        help="values replaced by defaults: 'nan' (NanReplacer's default) or "
                             "'all' (also +-inf, as lwtnn's test tools do)")
    result.add_argument("--threads", type=thread_count, metavar="N",
                        help="chunks of events evaluated at once (default: as many as numpy's "
                             "BLAS uses: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS if set, "
                             "else the cores)")
    return result


def run(args: argparse.Namespace) -> int:
    progress = None if args.quiet else _progress_for_long_inputs
    result = run_network(args.network, args.inputs, args.output, format=args.format,
                         replace=args.replace, progress=progress, threads=args.threads)
    if args.output is None:
        files.write_stdout(render(result, args.format or "csv"))
    n_events = len(next(iter(result.outputs.values())))
    if result.refused:
        print(f"onnx2lwtnn: warning: lwtnn refuses {len(result.refused)} of {n_events} "
              "event(s); their outputs are NaN:", file=sys.stderr)
        for line in refusal_summary(result.refused):
            print(f"  {line}", file=sys.stderr)
    if args.output is not None:
        replaced = f", {result.replaced} value(s) replaced by defaults" if result.replaced else ""
        info(args, f"ran {n_events} event(s){replaced}; wrote {args.output}")
    return EXIT_OK


def _progress_for_long_inputs(done: int, total: int) -> None:
    if total > CHUNK:
        print_progress(done, total)
