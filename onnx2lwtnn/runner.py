"""Run any lwtnn document on a file of events, as lwtnn's C++ would, from Python or a shell.

``run(NET.json, events.csv, "out.npz")`` reads the network (ours, or one written by
lwtnn's own converters; graph or sequential format), reads the events
(``event_files``), evaluates them with the numpy lwtnn runtime and writes the outputs,
all of them or nothing: the output is rendered in memory and then written under the
file policy of ``files`` (atomically, never onto an input).

Absent values (``default`` semantics). lwtnn itself never fills in a missing
variable: ``LightweightGraph::compute`` throws for it, so a missing column, array or
JSON key is an error here too. What lwtnn offers is ``NanReplacer``, which a caller
applies to an input map before ``compute``: it replaces a NaN value (with
``rep::all`` also +-inf) of a variable that has a ``default`` by that default, and
leaves every other value as it is. ``run`` applies it to vector inputs (``replace``:
"nan", NanReplacer's own default, or "all", as lwtnn's test tools use it); sequence
inputs have no defaults in lwtnn (NanReplacer takes scalar maps only). A value still
NaN or infinite after that is an error naming the variables and events: lwtnn would
compute garbage from it, silently.

Refused events (those lwtnn would throw for, like a sequence too short for a 'valid'
conv1d) do not stop the run: their rows are NaN (``{"error": ...}`` in JSON lines)
and ``RunResult.refused`` says which and why.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from . import files
from .errors import UsageError
from .event_files import Events, output_format, read_events, render_outputs
from .lwtnn import EvaluationError, Network, build_network
from .lwtnn_file import read_lwtnn
from .lwtnn.parallel import threads_problem

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]

CHUNK = 100_000  # events per evaluation (and progress report)
REPLACE = {"nan": (True, False), "all": (True, True)}  # mode -> (NaN, +-inf)


@dataclass
class RunResult:
    """The outputs per output node ``(n_events, n_labels)``, their labels, the refused
    events (index -> lwtnn's reason) and how many values defaults replaced."""

    outputs: dict[str, np.ndarray]
    labels: dict[str, list[str]]
    refused: dict[int, str]
    replaced: int


def run(network: Union[PathLike, dict, Network], inputs: Union[PathLike, Events],
        output: Optional[PathLike] = None, *, format: Optional[str] = None,
        replace: str = "nan", progress: Optional[Progress] = None,
        threads: Optional[int] = None) -> RunResult:
    """Evaluate an lwtnn network on the events in ``inputs`` and write ``output``.

    ``network``: a path, a parsed document or a loaded ``Network``; ``inputs``: a path
    (.npz, .csv, .jsonl) or ``Events``; ``output`` (optional): a .csv, .npz or .jsonl
    path (``format`` overrides the suffix); ``replace``: which values NanReplacer
    replaces by defaults ("nan" or "all"); ``progress(done, total)`` is called after
    each chunk of events; ``threads``: chunks of events evaluated at once (default:
    numpy's BLAS thread count, see ``lwtnn.parallel``). Raises ``FileError`` for a file
    that cannot be read or written, ``ModelLoadError`` for an invalid network and
    ``UsageError`` for events that do not fit it; then nothing is written.
    """
    if replace not in REPLACE:
        raise UsageError(f"unknown replace mode '{replace}'; use one of {', '.join(REPLACE)}")
    problem = threads_problem(threads)
    if problem:
        raise UsageError(problem)
    sources = [p for p in (network, inputs) if isinstance(p, (str, os.PathLike))]
    fmt = None
    if output is not None:
        fmt = output_format(Path(output), format)
        files.check_output(output, sources)
    net = network if isinstance(network, Network) else read_network(network)
    events = inputs if isinstance(inputs, Events) else read_events(Path(inputs), net)
    replaced = apply_defaults(events, net, replace)
    outputs, refused = evaluate(net, events, progress, threads)
    result = RunResult(outputs, net.output_labels, refused, replaced)
    if output is not None:
        files.write_bytes(output, render(result, fmt), sources)
    return result


def read_network(source: Union[PathLike, dict]) -> Network:
    """A runnable network, read as lwtnn reads it (``read_lwtnn``); ``ModelLoadError``
    names an invalid document (``FileError`` an unreadable file)."""
    return build_network(read_lwtnn(source))


def apply_defaults(events: Events, network: Network, replace: str = "nan") -> int:
    """NanReplacer on the vector inputs, in place; returns how many values it replaced.

    Raises ``UsageError`` naming the variables (and first events) still not finite.
    """
    do_nan, do_inf = REPLACE[replace]
    count = 0
    problems = []
    for node, values in events.vectors.items():
        variables = network.input_variables[node]
        defaults = network.input_defaults.get(node, {})
        fill = np.array([defaults.get(v, np.nan) for v in variables])
        bad = (np.isnan(values) if do_nan else False) | (np.isinf(values) if do_inf else False)
        swap = bad & ~np.isnan(fill)
        if swap.any():
            values = np.where(swap, fill, values)  # never write into the caller's arrays
            events.vectors[node] = values
            count += int(swap.sum())
        problems += _non_finite(node, variables, values)
    for node, values in events.sequences.items():
        variables = network.sequence_variables[node]
        steps = values if isinstance(values, np.ndarray) else _padded(values, len(variables))
        read = None  # padding is never read
        if node in events.lengths:
            read = np.arange(steps.shape[1])[:, None] < events.lengths[node][:, None, None]
        problems += _non_finite(node, variables, steps, read)
    if problems:
        raise UsageError("non-finite input values lwtnn cannot use (no default replaces "
                         "them): " + "; ".join(problems))
    return count


def _non_finite(node: str, variables: list[str], values: np.ndarray,
                read: Optional[np.ndarray] = None) -> list[str]:
    """'variable (node): events [...]' for every variable with a NaN or infinity (among
    the values ``read`` selects, broadcast, if given)."""
    bad = ~np.isfinite(values)
    if read is not None and bad.any():
        bad &= read
    if not bad.any():
        return []
    per_variable = bad.reshape(len(values), -1, len(variables)).any(axis=1)
    found = []
    for j in np.flatnonzero(per_variable.any(axis=0)):
        rows = np.flatnonzero(per_variable[:, j])
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        where = f" of '{node}'" if node else ""
        found.append(f"'{variables[j]}'{where} in event(s) {shown}")
    return found


def _padded(sequences: list, width: int) -> np.ndarray:
    """Ragged sequences as (n_events, max_steps, width), padded with zeros."""
    longest = max((len(s) for s in sequences), default=0)
    padded = np.zeros((len(sequences), longest, width))
    for i, steps in enumerate(sequences):
        padded[i, :len(steps)] = steps
    return padded


def evaluate(network: Network, events: Events, progress: Optional[Progress] = None,
             threads: Optional[int] = None) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """All outputs (NaN rows for refused events) and refused event -> reason."""
    total = len(events)
    pieces, refused = [], {}
    for start in range(0, total, CHUNK):
        chunk = events.select(start, start + CHUNK)
        try:
            pieces.append(network.evaluate(chunk.vectors, chunk.sequences,
                                           lengths=chunk.lengths, threads=threads))
        except EvaluationError as refusal:
            pieces.append(refusal.outputs)
            refused.update({start + event: reason for event, reason in refusal.reasons.items()})
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    if len(pieces) == 1:
        return pieces[0], refused
    return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}, refused


def render(result: RunResult, fmt: str) -> bytes:
    """The output file's content in one of ``event_files.OUTPUT_FORMATS``."""
    return render_outputs(fmt, result.labels, result.outputs, result.refused)


def print_progress(done: int, total: int) -> None:
    """Progress on stderr, one line rewritten in place."""
    print(f"\rran {done}/{total} events", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def refusal_summary(refused: dict[int, str], limit: int = 20) -> list[str]:
    """One line per reason: the events (0-based rows) lwtnn refuses for it."""
    by_reason: dict[str, list[int]] = {}
    for event, reason in sorted(refused.items()):
        by_reason.setdefault(reason, []).append(event)
    return [f"{reason}: event(s) {', '.join(map(str, events[:limit]))}"
            f"{', ...' if len(events) > limit else ''} ({len(events)})"
            for reason, events in by_reason.items()]


__all__ = ["run", "RunResult", "Events", "read_network", "apply_defaults", "evaluate",
           "print_progress", "refusal_summary"]
