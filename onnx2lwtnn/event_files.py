"""Events in, as files read a chunk at a time: .npz, CSV, JSON lines (and ROOT, see
``root_files``), for ``run``.

``open_events(path, network)`` gives an ``EventSource``: the file's events for one
lwtnn network, in chunks of ``Events`` (raw values, before lwtnn's ``(x + offset) *
scale``; NaN where a value is absent: an empty CSV cell, a JSON ``null``). Every chunk
holds at most ``CHUNK_EVENTS`` events and about ``CHUNK_BYTES`` of the file, so a run
takes memory in proportion to a chunk, whatever the file's size; no reader pads one
event to another's length. A file that does not fit the network (a missing variable,
an unknown column, a cell that is not a number, no events at all) is a ``UsageError``
naming the file, the line or row, and the problem.

- ``.npz``: one array per input node (names: ``npz_files.input_arrays``): vector inputs
  ``(n_events, n_variables)``; sequences ``(n_events, n_steps, n_variables)``, with an
  optional integer array ``<array>.lengths`` giving each event's number of steps (the
  steps after it are padding and never read).
- CSV: a header of variable names, one row per event; a variable name that two input
  nodes share is written ``node/variable``. Vector inputs only. A cell is a decimal
  number in ASCII (``1.5``, ``-2e-3``), ``nan`` or ``inf`` in any case, or empty.
- JSON lines (``.jsonl``, ``.ndjson``, ``.json``): one event per line (lines end at
  ``\\n`` only), read strictly (duplicate keys are errors), in lwtnn's own form:
  ``{node: {variable: value}}`` with a list of values per time step for sequence nodes
  (or ``{"inputs": {...}, "input_sequences": {...}}``, the form of lwtnn's test files);
  for the sequential format ``{variable: value}`` or, naming its input node ``""``,
  ``{"": {variable: value}}``. Nodes and variables the network does not read are
  ignored, as lwtnn ignores them.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Optional, Union

import numpy as np

from . import files
from .errors import FileError, UsageError
from .lwtnn import Network
from .npz_files import LENGTHS_SUFFIX, NpzArchive, input_arrays

SequenceData = Union[np.ndarray, list]  # (n, steps, vars) or a list of (steps, vars)
QUALIFIER = "/"
CHUNK_EVENTS = 100_000
CHUNK_BYTES = 16 * files.MiB  # of text, or of array data, per chunk
MAX_LINE = 64 * files.MiB      # a CSV header, or one JSON event
CELL = re.compile(r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                  r"|(?i:nan|inf|infinity))[ \t]*")


@dataclass
class Events:
    """Raw inputs for a network: arrays per vector node, sequences per sequence node,
    and for a sequence given as a padded array, each event's number of steps."""

    vectors: dict[str, np.ndarray]
    sequences: dict[str, SequenceData]
    lengths: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        for values in [*self.vectors.values(), *self.sequences.values()]:
            return len(values)
        return 0

    def select(self, start: int, stop: int) -> "Events":
        return Events({k: v[start:stop] for k, v in self.vectors.items()},
                      {k: v[start:stop] for k, v in self.sequences.items()},
                      {k: v[start:stop] for k, v in self.lengths.items()})


class EventSource(ABC):
    """A file's events for one network, a chunk at a time."""

    @abstractmethod
    def chunks(self) -> Iterator[Events]:
        """The events in order, in chunks of at least one event."""

    def fraction_read(self) -> Optional[float]:
        """How much of the file the chunks so far have read (0 to 1), if known."""
        return None

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> "EventSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InMemory(EventSource):
    """Events already in memory, in chunks of ``CHUNK_EVENTS``."""

    def __init__(self, events: Events):
        self.events = events

    def chunks(self) -> Iterator[Events]:
        for start in range(0, len(self.events), CHUNK_EVENTS):
            yield self.events.select(start, start + CHUNK_EVENTS)


# ------------------------------------------------------------------------ opening
ROOT_SUFFIX = ".root"


def split_root_path(text: str) -> Optional[tuple[str, Optional[str]]]:
    """(file, tree or None) for ``x.root`` or ``x.root:tree``; None for other files."""
    if text.lower().endswith(ROOT_SUFFIX):
        return text, None
    head, colon, tree = text.rpartition(":")
    if colon and head.lower().endswith(ROOT_SUFFIX) and tree:
        return head, tree
    return None


def open_events(path: Union[str, Path], network: Network,
                branches: Optional[Mapping[str, str]] = None) -> EventSource:
    """The events of ``path`` (format from its suffix; ``file.root:tree`` for ROOT)
    for ``network``; ``branches`` maps variables to ROOT branches of other names."""
    root = split_root_path(str(path))
    if root is not None:
        from .root_files import RootEvents  # uproot: only for ROOT files
        return RootEvents(*root, network, branches or {})
    path = Path(path)
    if branches:
        raise UsageError("--branch maps variables to branches of a ROOT file; the inputs "
                         f"{files.quote(path)} are not one")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"{files.clean(path)}: inputs must be .npz, .csv, JSON lines "
                         f"(.jsonl, .ndjson, .json) or {ROOT_SUFFIX}:TREE, not "
                         f"{files.quote(path.suffix or 'no suffix')}")
    return reader(path, network)


def no_events(path: Any) -> UsageError:
    """The error for a file without a single event."""
    return UsageError(f"{files.clean(path)}: no events")


# ------------------------------------------------------------------------ .npz

class NpzEvents(EventSource):
    """The arrays of an .npz, a chunk of events at a time (``npz_files``)."""

    def __init__(self, path: Path, network: Network):
        self.where = files.clean(path)
        self.archive = NpzArchive(path)
        try:
            self._plan(network)
        except BaseException:
            self.archive.close()
            raise
        self.done = 0

    def _plan(self, network: Network) -> None:
        archive, names = self.archive, self.archive.names
        shared = set(network.input_names) & set(network.sequence_names)
        self.vectors, self.sequences = input_arrays(names, network.input_names,
                                                    network.sequence_names)
        missing = [f"{kind}/{n}" if n in shared else n
                   for kind, table in (("inputs", self.vectors), ("input_sequences",
                                                                  self.sequences))
                   for n, name in table.items() if name is None]
        if missing:
            raise UsageError(f"{self.where}: no array for input node(s) {listed(missing)}; it "
                             f"has {listed(names) or 'none'}")
        for node, name in self.vectors.items():
            self._check_shape(name, 2, len(network.input_variables[node]))
        for node, name in self.sequences.items():
            self._check_shape(name, 3, len(network.sequence_variables[node]))
        self.lengths = {node: name + LENGTHS_SUFFIX for node, name in self.sequences.items()
                        if name + LENGTHS_SUFFIX in archive.members}
        for node, name in self.lengths.items():
            member = archive.members[name]
            steps = archive.members[self.sequences[node]].shape[1]
            if member.dtype.kind not in "iu" or len(member.shape) != 1:
                raise UsageError(f"{self.where}: {files.quote(name)} must hold one integer in "
                                 f"[0, {steps}] per event")
        arrays = [*self.vectors.values(), *self.sequences.values(), *self.lengths.values()]
        counts = {name: archive.members[name].shape[0] for name in arrays}
        if len(set(counts.values())) > 1:
            raise UsageError(f"{self.where}: arrays disagree on the number of events: "
                             + ", ".join(f"{files.quote(n)} {c}" for n, c in counts.items()))
        self.n_events = next(iter(counts.values()), 0)
        row_bytes = sum(archive.members[name].row_bytes for name in arrays)
        self.chunk = max(1, min(CHUNK_EVENTS, CHUNK_BYTES // max(1, row_bytes)))

    def _check_shape(self, name: str, rank: int, width: int) -> None:
        member = self.archive.members[name]
        if len(member.shape) != rank or member.shape[-1] != width:
            shape = "(n_events, n_variables)" if rank == 2 else "(n_events, n_steps, n_variables)"
            raise UsageError(f"{self.where}: array {files.quote(name)} has shape {member.shape}, "
                             f"expected {shape} with {width} variables")

    def chunks(self) -> Iterator[Events]:
        if self.n_events == 0:
            raise no_events(self.where)
        names = {**{("v", n): a for n, a in self.vectors.items()},
                 **{("s", n): a for n, a in self.sequences.items()},
                 **{("l", n): a for n, a in self.lengths.items()}}
        readers = {key: self.archive.rows(name, self.chunk) for key, name in names.items()}
        while self.done < self.n_events:
            block = {key: next(reader) for key, reader in readers.items()}
            events = Events({n: _floats(v) for (k, n), v in block.items() if k == "v"},
                            {n: _floats(v) for (k, n), v in block.items() if k == "s"},
                            {n: self._lengths(n, v, block[("s", n)].shape[1])
                             for (k, n), v in block.items() if k == "l"})
            self.done += len(events)
            yield events

    def _lengths(self, node: str, lengths: np.ndarray, steps: int) -> np.ndarray:
        if (lengths < 0).any() or (lengths > steps).any():
            raise UsageError(f"{self.where}: {files.quote(self.lengths[node])} must hold one "
                             f"integer in [0, {steps}] per event")
        return lengths.astype(np.intp)

    def fraction_read(self) -> Optional[float]:
        return self.done / self.n_events if self.n_events else None

    def close(self) -> None:
        self.archive.close()


def _floats(values: np.ndarray) -> np.ndarray:
    """float32 and float64 as they are (the runtime widens each chunk as it runs, in
    cache), anything else as float64."""
    return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)


# ------------------------------------------------------------------------ text files

class TextEvents(EventSource):
    """A text file read in blocks of whole lines (split at ``\\n`` only)."""

    def __init__(self, path: Path, what: str = "events file"):
        self.path = path
        self.where = files.clean(path)
        self.stream: BinaryIO = files.open_regular(path, what)
        self.size = max(1, self.stream.seek(0, io.SEEK_END))
        self.stream.seek(0)
        self.line_number = 0  # of the last line handed out

    def line(self) -> str:
        """The next line (for a header), bounded."""
        data = self.stream.readline(MAX_LINE + 1)
        if len(data) > MAX_LINE:
            raise UsageError(f"{self.where}: line {self.line_number + 1} is longer than "
                             f"{files.megabytes(MAX_LINE)}")
        self.line_number += 1
        return self._decode(data, self.line_number).rstrip("\r\n")

    def blocks(self) -> Iterator[tuple[int, list[str]]]:
        """(number of the first line, lines) of about ``CHUNK_BYTES`` at a time."""
        rest = b""
        while True:
            data = self.stream.read(CHUNK_BYTES)
            if not data:
                break
            data, cut = rest + data, (rest + data).rfind(b"\n")
            if cut < 0:
                if len(data) > MAX_LINE:
                    raise UsageError(f"{self.where}: line {self.line_number + 1} is longer "
                                     f"than {files.megabytes(MAX_LINE)}")
                rest = data
                continue
            rest, data = data[cut + 1:], data[:cut + 1]
            yield self._lines(data)
        if rest:
            yield self._lines(rest)

    def _lines(self, data: bytes) -> tuple[int, list[str]]:
        first = self.line_number + 1
        lines = self._decode(data, first).split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.line_number += len(lines)
        return first, [line[:-1] if line.endswith("\r") else line for line in lines]

    def _decode(self, data: bytes, line: int) -> str:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = data[:exc.start].count(b"\n") + line
            raise FileError(f"{self.where}: line {where} is not UTF-8 text") from None
        return text[1:] if line == 1 and text.startswith("\ufeff") else text

    def fraction_read(self) -> Optional[float]:
        return min(1.0, self.stream.tell() / self.size)

    def close(self) -> None:
        self.stream.close()


class CsvEvents(TextEvents):
    """A CSV of vector inputs: a header of variable names, one row per event."""

    def __init__(self, path: Path, network: Network):
        if network.sequence_names:
            raise UsageError(f"{files.clean(path)}: a CSV holds vector inputs only; give this "
                             "network's sequences in a .npz or JSON lines file")
        super().__init__(path)
        try:
            self._plan(network)
        except BaseException:
            self.close()
            raise

    def _plan(self, network: Network) -> None:
        header = csv_row(self.where, 1, self.line())
        if not any(header):
            raise UsageError(f"{self.where}: no header of variable names")
        columns = column_names(network.input_variables)
        wanted = [columns[key] for key in _vector_keys(network)]
        counts = Counter(header)
        known = set(wanted)
        missing = [name for name in wanted if name not in counts]
        unknown = [name for name in header if name not in known]
        repeated = [name for name, n in counts.items() if n > 1]
        if missing or unknown or repeated:
            raise UsageError(f"{self.where}: columns do not match the network's variables ("
                             + "; ".join(f"{what}: {listed(names)}" for what, names in
                                         (("missing", missing), ("unknown", unknown),
                                          ("repeated", repeated)) if names) + ")")
        position = {name: i for i, name in enumerate(header)}
        self.header = header
        self.index = [position[name] for name in wanted]
        self.widths = {node: len(network.input_variables[node]) for node in network.input_names}
        self.blank_line: Optional[int] = None  # an empty line no event has followed yet

    def chunks(self) -> Iterator[Events]:
        total = 0
        for first, lines in self.blocks():
            if len(self.header) == 1:
                self._refuse_empty_values(first, lines)
            numbered = [(first + i, line) for i, line in enumerate(lines) if line.strip()]
            if not numbered:
                continue
            table = self._table(numbered)
            total += len(table)
            vectors, start = {}, 0
            for node, width in self.widths.items():
                vectors[node] = table[:, start:start + width]
                start += width
            yield Events(vectors, {})
        if total == 0:
            raise no_events(self.where)

    def _refuse_empty_values(self, first: int, lines: list[str]) -> None:
        """In a one-column CSV an empty line is a missing value or nothing: read as
        nothing, the events after it would not be the rows they are; so one followed by an
        event is refused (empty lines at the end are not)."""
        for number, line in enumerate(lines, first):
            if not line.strip():
                self.blank_line = self.blank_line or number
            elif self.blank_line:
                raise UsageError(f"{self.where}: line {self.blank_line} is empty, so the "
                                 "events after it would not be the rows they are; write a "
                                 "missing value as nan, or remove the line")

    def _table(self, numbered: list[tuple[int, str]]) -> np.ndarray:
        """The rows' wanted columns: numpy's C parser when every cell is a number or
        empty, else cell by cell (an empty cell is NaN; anything else not a number an
        error)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = np.loadtxt(_empty_as_nan([line for _, line in numbered]),
                                   delimiter=",", dtype=np.float64, ndmin=2, quotechar='"',
                                   comments=None)
            if table.shape[1] == len(self.header):
                return table[:, self.index]
        except ValueError:
            pass
        rows = np.empty((len(numbered), len(self.index)))
        for k, (number, line) in enumerate(numbered):
            row = csv_row(self.where, number, line)
            if len(row) != len(self.header):
                raise UsageError(f"{self.where}: line {number} has {len(row)} cells, the "
                                 f"header {len(self.header)}")
            rows[k] = [parse_cell(self.where, number, self.header[i], row[i]) for i in self.index]
        return rows


def _empty_as_nan(lines: list[str]) -> list[str]:
    """The lines with every empty cell written ``nan``, which numpy's C parser reads (it
    refuses an empty cell; missing values are common: a b-tagger's defaults)."""
    text = "\n" + "\n".join(lines) + "\n"
    text = text.replace(",,", ",nan,").replace(",,", ",nan,")  # twice: runs of commas
    return text.replace("\n,", "\nnan,").replace(",\n", ",nan\n")[1:-1].split("\n")


def csv_row(where: str, number: int, line: str) -> list[str]:
    """One line's cells; a cell over the csv module's limit is a UsageError."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error as exc:
        raise UsageError(f"{where}: line {number}: {exc} (a cell may hold at most "
                         f"{csv.field_size_limit():,} characters)") from None


def parse_cell(where: str, line: int, column: str, text: str) -> float:
    """A CSV cell as a number: empty is NaN; ASCII decimals, nan and inf only."""
    if not text.strip():
        return math.nan
    if not CELL.fullmatch(text):
        raise UsageError(f"{where}: line {line}, column {files.quote(column)}: "
                         f"{files.quote(text, 40)} is not a number")
    return float(text)


class JsonLinesEvents(TextEvents):
    """One event per line in lwtnn's own form."""

    def __init__(self, path: Path, network: Network):
        super().__init__(path)
        self.network = network

    def chunks(self) -> Iterator[Events]:
        network, total = self.network, 0
        for first, lines in self.blocks():
            rows: dict[str, list] = {n: [] for n in network.input_names}
            steps: dict[str, list] = {n: [] for n in network.sequence_names}
            n_events = 0
            for number, line in enumerate(lines, start=first):
                if line.strip():
                    self._event(line, f"{self.where}: line {number}", rows, steps)
                    n_events += 1
            if n_events == 0:
                continue
            total += n_events
            yield Events({n: np.array(r, dtype=np.float64).reshape(
                len(r), len(network.input_variables[n])) for n, r in rows.items()}, steps)
        if total == 0:
            raise no_events(self.where)

    def _event(self, line: str, where: str, rows: dict, steps: dict) -> None:
        network = self.network
        try:
            event = files.parse_json(line, where, "event", dict, constants=True)
        except FileError as exc:
            raise UsageError(str(exc)) from None
        vectors, sequences = _split_event(event, network)
        for node in network.input_names:
            values = _node_map(vectors, node, where)
            rows[node].append([_json_number(values, var, node, where)
                               for var in network.input_variables[node]])
        for node in network.sequence_names:
            steps[node].append(_json_sequence(_node_map(sequences, node, where),
                                              network.sequence_variables[node], node, where))


def _split_event(event: dict, network: Network) -> tuple[dict, dict]:
    """(vector node maps, sequence node maps) of one JSON event."""
    if network.kind == "sequential":  # {variable: value}, or under its node name ""
        (name,) = network.input_names
        nested = list(event) == [name] and isinstance(event[name], dict)
        return {name: event[name] if nested else event}, {}
    structured = {"inputs", "input_sequences"}
    names = set(network.input_names) | set(network.sequence_names)
    if event.keys() <= structured and not names & structured:
        return event.get("inputs", {}), event.get("input_sequences", {})
    shared = set(network.input_names) & set(network.sequence_names)
    if shared:
        raise UsageError(f"input node(s) {listed(sorted(shared))} name both a vector and a "
                         'sequence input: give events as {"inputs": {...}, '
                         '"input_sequences": {...}}')
    return event, event


def _node_map(maps: Mapping[str, Any], node: str, where: str) -> Mapping[str, Any]:
    values = maps.get(node) if isinstance(maps, dict) else None
    if not isinstance(values, dict):
        what = "no" if values is None else "a non-object"
        raise UsageError(f"{where}: {what} entry for input node {files.quote(node)}")
    return values


def _json_number(values: Mapping[str, Any], var: str, node: str, where: str) -> float:
    if var not in values:
        raise UsageError(f"{where}: missing variable {files.quote(var)} of input node "
                         f"{files.quote(node)}")
    return _number(values[var], var, where)


def _number(value: Any, var: str, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: variable {files.quote(var)} is "
                         f"{files.clean(json.dumps(value)[:40])}, not a number")
    try:
        return float(value)
    except OverflowError:
        raise UsageError(f"{where}: variable {files.quote(var)} is an integer beyond double "
                         "precision's range") from None


def _json_sequence(values: Mapping[str, Any], variables: list[str], node: str,
                   where: str) -> np.ndarray:
    missing = [v for v in variables if v not in values]
    if missing:
        raise UsageError(f"{where}: missing variable(s) {listed(missing)} of sequence "
                         f"node {files.quote(node)}")
    columns = []
    for var in variables:
        if not isinstance(values[var], list):
            raise UsageError(f"{where}: variable {files.quote(var)} of sequence node "
                             f"{files.quote(node)} must be a list of values, one per time step")
        columns.append([_number(v, var, where) for v in values[var]])
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise UsageError(f"{where}: the variables of sequence node {files.quote(node)} have "
                         f"different numbers of steps ({', '.join(map(str, sorted(lengths)))})")
    return np.array(columns, dtype=np.float64).T.reshape(-1, len(variables))


READERS: dict[str, Callable[[Path, Network], EventSource]] = {
    ".npz": NpzEvents,
    ".csv": CsvEvents,
    ".jsonl": JsonLinesEvents,
    ".ndjson": JsonLinesEvents,
    ".json": JsonLinesEvents,
}


# ------------------------------------------------------------------------ names

def _vector_keys(network: Network) -> list[tuple[str, str]]:
    return [(n, v) for n in network.input_names for v in network.input_variables[n]]


def column_names(groups: Mapping[str, list[str]]) -> dict[tuple[str, str], str]:
    """(group, name) -> column: the bare name, or ``group/name`` where groups share it."""
    counts = Counter(name for names in groups.values() for name in names)
    return {(group, name): name if counts[name] == 1 else f"{group}{QUALIFIER}{name}"
            for group, names in groups.items() for name in names}


def listed(names: Any, shown: int = 10) -> str:
    """Names from a file, quoted and escaped, the first ``shown`` of them."""
    names = list(names)
    listed = ", ".join(files.quote(n) for n in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")
