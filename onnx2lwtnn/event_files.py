"""Events in and outputs out, as files: .npz, CSV and JSON lines, for ``run``.

Readers turn a file into ``Events`` for one lwtnn network: raw values (before lwtnn's
``(x + offset) * scale``), NaN where a value is absent (an empty CSV cell, a JSON
``null``). A file that does not fit the network (a missing variable, an unknown
column, a cell that is not a number, no events at all) is a ``UsageError`` naming
the file and the problem; nothing is evaluated then.

- ``.npz``: one array per input node, named by the node (``inputs/<node>`` and
  ``input_sequences/<node>`` where a vector and a sequence node share a name): vector
  inputs ``(n_events, n_variables)``; sequences ``(n_events, n_steps, n_variables)``,
  with an optional integer array ``<array name>.lengths`` giving each event's number of
  steps (the steps after it are padding and ignored). A network with a single input node (the
  sequential format) also takes an .npz holding a single array of any name.
- CSV: a header of variable names, one row per event; a variable name that two input
  nodes share is written ``node/variable``. Vector inputs only.
- JSON lines (``.jsonl``, ``.ndjson``, ``.json``): one event per line in lwtnn's own
  form, ``{node: {variable: value}}`` with a list of values per time step for
  sequence nodes (or ``{"inputs": {...}, "input_sequences": {...}}``, the form of
  lwtnn's test files); for the sequential format ``{variable: value}``. Nodes and
  variables the network does not read are ignored, as lwtnn ignores them.

Writers put each output label in a column (CSV; ``output/label`` when several outputs
share a label), an array per output (.npz, arrays ``(n_events, n_labels)``), or
``{output: {label: value}}`` per line (JSON lines). Events lwtnn refuses are NaN, or
``{"error": reason}`` in JSON lines.
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from . import files
from .errors import UsageError
from .lwtnn import Network

SequenceData = Union[np.ndarray, list]  # (n, steps, vars) or a list of (steps, vars)
LENGTHS_SUFFIX = ".lengths"
QUALIFIER = "/"


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


# ------------------------------------------------------------------------ readers

def read_events(path: Path, network: Network) -> Events:
    """The events in ``path`` (format from its suffix) for ``network``."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"{path}: inputs must be .npz, .csv or JSON lines (.jsonl, "
                         f".ndjson, .json), not '{path.suffix or 'no suffix'}'")
    events = reader(path, network)
    if len(events) == 0:
        raise UsageError(f"{path}: no events")
    return events


def _read_npz(path: Path, network: Network) -> Events:
    content = io.BytesIO(files.read_bytes(path, "events file", files.EVENTS_LIMIT))
    try:
        with zipfile.ZipFile(content) as archive:
            size = sum(entry.file_size for entry in archive.infolist())
        if size > files.EVENTS_LIMIT:
            raise UsageError(f"{path}: its arrays take {size >> 20} MiB; the limit is "
                             f"{files.EVENTS_LIMIT >> 20} MiB")
        with np.load(content, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path}: not a readable .npz file ({exc})") from None
    names = network.input_names + network.sequence_names
    if len(names) == 1 and len(arrays) == 1 and names[0] not in arrays:
        arrays = {names[0]: next(iter(arrays.values()))}
    keys = {**{("inputs", n): _npz_key(arrays, "inputs", n, network.sequence_names)
               for n in network.input_names},
            **{("input_sequences", n): _npz_key(arrays, "input_sequences", n,
                                                network.input_names)
               for n in network.sequence_names}}
    missing = [f"{kind}/{n}" if n in network.input_names and n in network.sequence_names
               else n for (kind, n), key in keys.items() if key is None]
    if missing:
        raise UsageError(f"{path}: no array for input node(s) {_names(missing)}; it has "
                         f"{_names(arrays) or 'none'}")
    vectors = {n: _numeric(path, n, arrays[keys["inputs", n]], 2,
                           len(network.input_variables[n])) for n in network.input_names}
    sequences = {n: _numeric(path, keys["input_sequences", n],
                             arrays[keys["input_sequences", n]], 3,
                             len(network.sequence_variables[n]))
                 for n in network.sequence_names}
    lengths = {n: _npz_lengths(path, keys["input_sequences", n], arrays, sequences[n])
               for n in network.sequence_names
               if keys["input_sequences", n] + LENGTHS_SUFFIX in arrays}
    _same_counts(path, {**vectors, **sequences})
    return Events(vectors, sequences, lengths)


def _npz_key(arrays: Mapping[str, Any], kind: str, node: str,
             other_kind: list[str]) -> Optional[str]:
    """``kind/node``, or just ``node`` where no node of the other kind has that name."""
    for key in (f"{kind}{QUALIFIER}{node}", None if node in other_kind else node):
        if key is not None and key in arrays:
            return key
    return None


def _numeric(path: Path, name: str, values: np.ndarray, rank: int, width: int) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise UsageError(f"{path}: array '{name}' holds {values.dtype}, not numbers")
    if values.ndim != rank or values.shape[-1] != width:
        shape = "(n_events, n_variables)" if rank == 2 else "(n_events, n_steps, n_variables)"
        raise UsageError(f"{path}: array '{name}' has shape {values.shape}, expected "
                         f"{shape} with {width} variables")
    # float32 stays float32: the runtime widens each chunk of events as it runs (in cache)
    return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)


def _npz_lengths(path: Path, name: str, arrays: Mapping[str, np.ndarray],
                 values: np.ndarray) -> np.ndarray:
    lengths = arrays[name + LENGTHS_SUFFIX]
    if (lengths.dtype.kind not in "iu" or lengths.shape != (len(values),)
            or (lengths < 0).any() or (lengths > values.shape[1]).any()):
        raise UsageError(f"{path}: '{name}{LENGTHS_SUFFIX}' must hold one integer in "
                         f"[0, {values.shape[1]}] per event ({len(values)})")
    return lengths


def _same_counts(path: Path, arrays: Mapping[str, Any]) -> None:
    counts = {name: len(values) for name, values in arrays.items()}
    if len(set(counts.values())) > 1:
        raise UsageError(f"{path}: arrays disagree on the number of events: "
                         + ", ".join(f"{n or 'inputs'} {c}" for n, c in counts.items()))


def _read_csv(path: Path, network: Network) -> Events:
    if network.sequence_names:
        raise UsageError(f"{path}: a CSV holds vector inputs only; give this network's "
                         f"sequences in a .npz or JSON lines file")
    text = _text(path)
    first_line, _, rest = text.partition("\n")
    header = next(csv.reader([first_line]), [])
    if not header:
        raise UsageError(f"{path}: no header of variable names")
    columns = column_names(network.input_variables)
    wanted = [columns[key] for key in _vector_keys(network)]
    missing = [name for name in wanted if name not in header]
    unknown = [name for name in header if name not in wanted]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or unknown or duplicated:
        raise UsageError(f"{path}: columns do not match the network's variables ("
                         + "; ".join(f"{what}: {_names(names)}" for what, names in
                                     (("missing", missing), ("unknown", unknown),
                                      ("repeated", duplicated)) if names) + ")")
    index = [header.index(name) for name in wanted]
    table = _numbers(rest, len(header))
    if table is None:  # cell by cell, to read empty cells as NaN and name a bad cell
        body = [row for row in csv.reader(io.StringIO(rest, newline="")) if row]
        table = _parse_cells(path, header, body, index)
    else:
        table = table[:, index]
    vectors, start = {}, 0
    for node in network.input_names:
        width = len(network.input_variables[node])
        vectors[node] = table[:, start:start + width]
        start += width
    return Events(vectors, {})


def _numbers(text: str, n_columns: int) -> Optional[np.ndarray]:
    """The table when every cell is a number (numpy's C parser), else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no data": an empty table, reported later
            table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64,
                               ndmin=2, quotechar='"', comments=None)
    except ValueError:
        return None
    if not table.size:
        return np.empty((0, n_columns))
    return table if table.shape[1] == n_columns else None


def _parse_cells(path: Path, header: list[str], body: list[list[str]],
                 index: list[int]) -> np.ndarray:
    """Cell by cell: an empty cell is NaN, anything else not a number an error."""
    table = np.empty((len(body), len(index)))
    for row_number, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise UsageError(f"{path}: row {row_number} has {len(row)} cells, the header "
                             f"{len(header)}")
        for j, i in enumerate(index):
            table[row_number - 1, j] = _cell(path, row_number, header[i], row[i])
    return table


def _cell(path: Path, row: int, column: str, text: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{path}: row {row}, column '{column}': '{text}' is not a "
                         "number") from None


def _read_json_lines(path: Path, network: Network) -> Events:
    vector_nodes, sequence_nodes = network.input_names, list(network.sequence_names)
    rows: dict[str, list] = {n: [] for n in vector_nodes}
    steps: dict[str, list] = {n: [] for n in sequence_nodes}
    for line_number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {line_number}"
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(event, dict):
            raise UsageError(f"{where}: an event must be a JSON object")
        vectors, sequences = _split_event(event, network)
        for node in vector_nodes:
            values = _node_map(vectors, node, where)
            rows[node].append([_json_number(values, var, node, where)
                               for var in network.input_variables[node]])
        for node in sequence_nodes:
            steps[node].append(_json_sequence(_node_map(sequences, node, where),
                                              network.sequence_variables[node],
                                              node, where))
    return Events({n: np.array(r, dtype=np.float64).reshape(len(r), len(
        network.input_variables[n])) for n, r in rows.items()}, steps)


def _text(path: Path) -> str:
    return files.read_text(path, "events file", files.EVENTS_LIMIT)


def _split_event(event: dict, network: Network) -> tuple[dict, dict]:
    """(vector node maps, sequence node maps) of one JSON event."""
    if network.kind == "sequential":
        return {network.input_names[0]: event}, {}
    structured = {"inputs", "input_sequences"}
    names = set(network.input_names) | set(network.sequence_names)
    if event.keys() <= structured and not names & structured:
        return event.get("inputs", {}), event.get("input_sequences", {})
    shared = set(network.input_names) & set(network.sequence_names)
    if shared:
        raise UsageError(f"input node(s) {_names(sorted(shared))} name both a vector and a "
                         'sequence input: give events as {"inputs": {...}, '
                         '"input_sequences": {...}}')
    return event, event


def _node_map(maps: Mapping[str, Any], node: str, where: str) -> Mapping[str, Any]:
    values = maps.get(node)
    if not isinstance(values, dict):
        what = "no" if values is None else "a non-object"
        raise UsageError(f"{where}: {what} entry for input node '{node}'")
    return values


def _json_number(values: Mapping[str, Any], var: str, node: str, where: str) -> float:
    if var not in values:
        raise UsageError(f"{where}: missing variable '{var}' of input node '{node}'")
    return _number(values[var], var, where)


def _number(value: Any, var: str, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: variable '{var}' is {json.dumps(value)[:40]}, not a number")
    return float(value)


def _json_sequence(values: Mapping[str, Any], variables: list[str], node: str,
                   where: str) -> np.ndarray:
    missing = [v for v in variables if v not in values]
    if missing:
        raise UsageError(f"{where}: missing variable(s) {_names(missing)} of sequence "
                         f"node '{node}'")
    columns = []
    for var in variables:
        if not isinstance(values[var], list):
            raise UsageError(f"{where}: variable '{var}' of sequence node '{node}' must be "
                             "a list of values, one per time step")
        columns.append([_number(v, var, where) for v in values[var]])
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise UsageError(f"{where}: the variables of sequence node '{node}' have different "
                         f"numbers of steps ({', '.join(map(str, sorted(lengths)))})")
    return np.array(columns, dtype=np.float64).T.reshape(-1, len(variables))


READERS: dict[str, Callable[[Path, Network], Events]] = {
    ".npz": _read_npz,
    ".csv": _read_csv,
    ".jsonl": _read_json_lines,
    ".ndjson": _read_json_lines,
    ".json": _read_json_lines,
}


def _vector_keys(network: Network) -> list[tuple[str, str]]:
    return [(n, v) for n in network.input_names for v in network.input_variables[n]]


def column_names(groups: Mapping[str, list[str]]) -> dict[tuple[str, str], str]:
    """(group, name) -> column: the bare name, or ``group/name`` where groups share it."""
    counts: dict[str, int] = {}
    for names in groups.values():
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return {(group, name): name if counts[name] == 1 else f"{group}{QUALIFIER}{name}"
            for group, names in groups.items() for name in names}


def _names(names: Any) -> str:
    return ", ".join(f"'{n}'" for n in names)


# ------------------------------------------------------------------------ writers

OUTPUT_FORMATS = ("csv", "npz", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".npz": "npz", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".json": "jsonl"}


def output_format(path: Optional[Path], requested: Optional[str]) -> str:
    """The output format: as requested, else from the output's suffix, else CSV."""
    if requested is not None:
        if requested not in OUTPUT_FORMATS:
            raise UsageError(f"unknown output format '{requested}'; use one of "
                             f"{', '.join(OUTPUT_FORMATS)}")
        return requested
    if path is None:
        return "csv"
    try:
        return SUFFIX_FORMATS[path.suffix.lower()]
    except KeyError:
        raise UsageError(f"{path}: cannot tell the output format from '{path.suffix}'; "
                         f"name it .csv, .npz or .jsonl, or give format=") from None


def render_outputs(fmt: str, labels: Mapping[str, list[str]],
                   outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> bytes:
    """The whole output file's content (built before anything is written)."""
    return WRITERS[fmt](labels, outputs, refused)


def _csv(labels: Mapping[str, list[str]], outputs: Mapping[str, np.ndarray],
         refused: Mapping[int, str]) -> bytes:
    columns = column_names(labels)
    table = np.concatenate([outputs[name] for name in labels], axis=1)
    stream = io.StringIO()
    stream.write(",".join(_csv_field(columns[(n, label)])
                          for n, names in labels.items() for label in names) + "\n")
    for row in table.tolist():
        stream.write(",".join(map(repr, row)) + "\n")
    return stream.getvalue().encode()


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _npz(labels: Mapping[str, list[str]], outputs: Mapping[str, np.ndarray],
         refused: Mapping[int, str]) -> bytes:
    stream = io.BytesIO()
    np.savez(stream, **{name: outputs[name] for name in labels})
    return stream.getvalue()


def _json_lines(labels: Mapping[str, list[str]], outputs: Mapping[str, np.ndarray],
                refused: Mapping[int, str]) -> bytes:
    rows = {name: outputs[name].tolist() for name in labels}
    n_events = len(next(iter(outputs.values())))
    lines = []
    for i in range(n_events):
        if i in refused:
            event: dict[str, Any] = {"error": refused[i]}
        else:
            event = {name: dict(zip(names, rows[name][i])) for name, names in labels.items()}
        lines.append(json.dumps(event))
    return ("\n".join(lines) + "\n").encode()


WRITERS: dict[str, Callable[..., bytes]] = {"csv": _csv, "npz": _npz, "jsonl": _json_lines}
