"""Run any lwtnn document on a file of events, as lwtnn's C++ would, from Python or a shell.

``run(NET.json, events.csv, "out.npz")`` reads the network (ours, or one written by
lwtnn's own converters; graph or sequential format), then streams: a chunk of events
is read (``event_files``, ``root_files``), evaluated with the numpy lwtnn runtime and
written (``output_files``), then the next, so memory does not grow with the number of
events. The output is written under the file policy of ``files``: never onto an input,
and a file appears whole or not at all (a failure on any event removes it; on stdout,
what was written stays).

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
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

import numpy as np

from . import files
from .errors import UsageError
from .event_files import EventSource, Events, InMemory, open_events, split_root_path
from .lwtnn import EvaluationError, Network, build_network
from .lwtnn.parallel import threads_problem
from .lwtnn_file import read_lwtnn
from .output_files import WRITERS, OutputWriter, output_format
from .root_files import RootWriter, output_tree

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, Optional[float]], None]

REPLACE = {"nan": (True, False), "all": (True, True)}  # mode -> (NaN, +-inf)
REFUSALS_KEPT = 1000  # refused events remembered per reason when outputs are not kept


@dataclass
class RunResult:
    """The outputs per output node ``(n_events, n_labels)`` (empty when not kept), their
    labels, the refused events (index -> lwtnn's reason; without kept outputs, at most
    ``REFUSALS_KEPT`` per reason), how many there are, how many values defaults
    replaced, and how many events ran."""

    outputs: dict[str, np.ndarray]
    labels: dict[str, list[str]]
    refused: dict[int, str]
    replaced: int
    n_events: int = 0
    n_refused: int = 0
    _per_reason: dict[str, int] = field(default_factory=dict, repr=False)


def run(network: Union[PathLike, dict, Network], inputs: Union[PathLike, Events],
        output: Optional[PathLike] = None, *, format: Optional[str] = None,
        replace: str = "nan", progress: Optional[Progress] = None,
        threads: Optional[int] = None, keep_outputs: bool = True,
        branches: Optional[Mapping[str, str]] = None) -> RunResult:
    """Evaluate an lwtnn network on the events in ``inputs`` and write ``output``.

    ``network``: a path, a parsed document or a loaded ``Network``; ``inputs``: a path
    (.npz, .csv, .jsonl, ``x.root:TREE``) or ``Events``; ``output`` (optional): a .csv,
    .npz, .jsonl or .root (``x.root:TREE``) path, ``-`` for stdout (``format``
    overrides the suffix); ``replace``: which values NanReplacer replaces by defaults
    ("nan" or "all"); ``progress(events done, fraction of the input read or None)`` is
    called after each chunk; ``threads``: chunks of events evaluated at once (default:
    numpy's BLAS thread count, see ``lwtnn.parallel``); ``keep_outputs``: also return
    the outputs (False: memory stays that of a chunk, whatever the number of events);
    ``branches``: variable -> ROOT branch where the names differ. Raises ``FileError``
    for a file that cannot be read or written, ``ModelLoadError`` for an invalid
    network and ``UsageError`` for events that do not fit it; then no output file is
    left.
    """
    if replace not in REPLACE:
        raise UsageError(f"unknown replace mode {files.quote(replace)}; use one of "
                         f"{', '.join(REPLACE)}")
    problem = threads_problem(threads)
    if problem:
        raise UsageError(problem)
    sources = [p for p in (network, inputs) if isinstance(p, (str, os.PathLike))]
    target = tree = fmt = None
    if output is not None:
        fmt = output_format(Path(output), format)
        target, tree = output_tree(Path(output)) if fmt == "root" else (output, None)
        files.check_output(target, _input_files(sources))
    net = network if isinstance(network, Network) else read_network(network)
    with ExitStack() as stack:
        source: EventSource = stack.enter_context(
            InMemory(inputs) if isinstance(inputs, Events) else
            open_events(inputs, net, branches))
        writer = None
        if target is not None:
            stream = stack.enter_context(files.writing(target, _input_files(sources)))
            writer = _writer(fmt, stream, net.output_labels, target, tree)
        result = _stream(net, source, writer, replace, progress, threads, keep_outputs)
        if writer is not None:
            writer.finish()
    return result


def _input_files(sources: list) -> list:
    """The files a run reads (a ROOT input's file without its tree)."""
    return [Path(split[0]) if split else path
            for path in sources for split in [split_root_path(str(path))]]


def _writer(fmt: str, stream, labels: Mapping[str, list[str]], target: PathLike,
            tree: Optional[str]) -> OutputWriter:
    if fmt == "root":
        return RootWriter(stream, labels, tree)
    if fmt == "npz":
        folder = None if str(target) == files.STDIN else Path(os.path.realpath(target)).parent
        return WRITERS[fmt](stream, labels, folder)
    return WRITERS[fmt](stream, labels)


def _stream(net: Network, source: EventSource, writer: Optional[OutputWriter], replace: str,
            progress: Optional[Progress], threads: Optional[int],
            keep_outputs: bool) -> RunResult:
    result = RunResult({}, net.output_labels, {}, 0)
    pieces = []
    for chunk in source.chunks():
        start = result.n_events
        result.replaced += apply_defaults(chunk, net, replace, first_event=start)
        outputs, refused = evaluate(net, chunk, threads=threads)
        if writer is not None:
            writer.write(outputs, refused)
        if keep_outputs:
            pieces.append(outputs)
        _count_refusals(result, {start + event: why for event, why in refused.items()},
                        keep_outputs)
        result.n_events += len(chunk)
        if progress is not None:
            progress(result.n_events, source.fraction_read())
    if keep_outputs and pieces:
        result.outputs = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
    return result


def _count_refusals(result: RunResult, refused: dict[int, str], keep_all: bool) -> None:
    for event, reason in refused.items():
        seen = result._per_reason.get(reason, 0)
        result._per_reason[reason] = seen + 1
        if keep_all or seen < REFUSALS_KEPT:
            result.refused[event] = reason
    result.n_refused += len(refused)


def read_network(source: Union[PathLike, dict]) -> Network:
    """A runnable network, read as lwtnn reads it (``read_lwtnn``); ``ModelLoadError``
    names an invalid document (``FileError`` an unreadable file)."""
    return build_network(read_lwtnn(source))


def apply_defaults(events: Events, network: Network, replace: str = "nan",
                   first_event: int = 0) -> int:
    """NanReplacer on the vector inputs, in place; returns how many values it replaced.

    Raises ``UsageError`` naming the variables (and first events, counted from
    ``first_event``) still not finite.
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
        problems += _non_finite(node, variables, ~np.isfinite(values), first_event)
    for node, values in events.sequences.items():
        variables = network.sequence_variables[node]
        if isinstance(values, np.ndarray):
            bad = ~np.isfinite(values)
            if node in events.lengths and bad.any():  # padding is never read
                bad &= np.arange(values.shape[1])[:, None] < events.lengths[node][:, None, None]
            per_event = bad.any(axis=1)
        else:
            per_event = np.array([
                (~np.isfinite(np.asarray(steps, dtype=np.float64))).reshape(
                    -1, len(variables)).any(axis=0)
                for steps in values]).reshape(-1, len(variables))
        problems += _non_finite(node, variables, per_event, first_event)
    if problems:
        raise UsageError("non-finite input values lwtnn cannot use (no default replaces "
                         "them): " + "; ".join(problems))
    return count


def _non_finite(node: str, variables: list[str], per_event: np.ndarray,
                first_event: int) -> list[str]:
    """'variable (node): events [...]' for every variable with a NaN or infinity;
    ``per_event``: (events, variables) booleans."""
    if not per_event.any():
        return []
    found = []
    for j in np.flatnonzero(per_event.any(axis=0)):
        rows = np.flatnonzero(per_event[:, j]) + first_event
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        where = f" of {files.quote(node)}" if node else ""
        found.append(f"{files.quote(variables[j])}{where} in event(s) {shown}")
    return found


def evaluate(network: Network, events: Events, threads: Optional[int] = None
             ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """All outputs (NaN rows for refused events) and refused event -> reason."""
    try:
        return network.evaluate(events.vectors, events.sequences, lengths=events.lengths,
                                threads=threads), {}
    except EvaluationError as refusal:
        return refusal.outputs, dict(refusal.reasons)


def refusal_summary(result: RunResult, limit: int = 20) -> list[str]:
    """One line per reason: the events (0-based rows) lwtnn refuses for it."""
    by_reason: dict[str, list[int]] = {}
    for event, reason in sorted(result.refused.items()):
        by_reason.setdefault(reason, []).append(event)
    counts = result._per_reason or {r: len(e) for r, e in by_reason.items()}
    return [f"{reason}: event(s) {', '.join(map(str, events[:limit]))}"
            f"{', ...' if counts[reason] > limit else ''} ({counts[reason]})"
            for reason, events in by_reason.items()]


__all__ = ["run", "RunResult", "Events", "read_network", "apply_defaults", "evaluate",
           "refusal_summary"]
