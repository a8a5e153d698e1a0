"""Outputs out, a chunk of events at a time: CSV, .npz, JSON lines (and ROOT, see
``root_files``), for ``run``; the twin of ``event_files``.

Each output label is a column (CSV; ``output/label`` where several outputs share a
label; escaped when written to a terminal), an array per output (.npz, ``(n_events,
n_labels)``, each member named after its output), or ``{output: {label: value}}``
per line (JSON lines). Events lwtnn refuses are NaN, or ``{"error": reason}`` in JSON
lines. Writers write to a stream that ``files.writing`` gives, so a file appears whole
or not at all.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Optional

import numpy as np

from . import files
from .errors import UsageError
from .event_files import column_names, split_root_path

OUTPUT_FORMATS = ("csv", "npz", "jsonl", "root")
SUFFIX_FORMATS = {".csv": "csv", ".npz": "npz", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".json": "jsonl", ".root": "root"}
Labels = Mapping[str, list[str]]


def output_format(path: Optional[Path], requested: Optional[str]) -> str:
    """The output format: as requested, else from the output's suffix, else CSV."""
    if requested is not None:
        if requested not in OUTPUT_FORMATS:
            raise UsageError(f"unknown output format {files.quote(requested)}; use one of "
                             f"{', '.join(OUTPUT_FORMATS)}")
        return requested
    if path is None or str(path) == files.STDIN:
        return "csv"
    if split_root_path(str(path)) is not None:
        return "root"
    try:
        return SUFFIX_FORMATS[path.suffix.lower()]
    except KeyError:
        raise UsageError(f"{files.clean(path)}: cannot tell the output format from "
                         f"{files.quote(path.suffix)}; name it .csv, .npz, .jsonl or .root, "
                         "or give format=") from None


class OutputWriter(ABC):
    """Writes a run's outputs chunk by chunk onto a binary stream."""

    def __init__(self, stream: BinaryIO, labels: Labels):
        self.stream = stream
        self.labels = {name: list(names) for name, names in labels.items()}
        self.n_events = 0

    @abstractmethod
    def write(self, outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> None:
        """One chunk: ``outputs[name]`` (n, n_labels); ``refused``: row in the chunk ->
        lwtnn's reason."""

    def finish(self) -> None:
        """After the last chunk."""


class CsvWriter(OutputWriter):
    def write(self, outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> None:
        if self.n_events == 0:
            columns = column_names(self.labels)
            terminal = files.is_terminal(self.stream)
            self.stream.write((",".join(
                _csv_field(files.clean(columns[(n, label)]) if terminal else columns[(n, label)])
                for n, names in self.labels.items() for label in names) + "\n").encode())
        table = np.concatenate([outputs[name] for name in self.labels], axis=1)
        self.stream.write("".join(",".join(map(repr, row)) + "\n"
                                  for row in table.tolist()).encode())
        self.n_events += len(table)


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


class JsonLinesWriter(OutputWriter):
    def write(self, outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> None:
        rows = {name: outputs[name].tolist() for name in self.labels}
        n_events = len(next(iter(outputs.values())))
        lines = []
        for i in range(n_events):
            if i in refused:
                event: dict[str, Any] = {"error": refused[i]}
            else:
                event = {name: dict(zip(names, rows[name][i]))
                         for name, names in self.labels.items()}
            lines.append(json.dumps(event) + "\n")  # ASCII: control characters escaped
        self.stream.write("".join(lines).encode())
        self.n_events += n_events


class NpzWriter(OutputWriter):
    """Each output's rows go to an unnamed temporary file beside the output (never
    left behind); ``finish`` writes the archive, whose .npy headers need the count."""

    def __init__(self, stream: BinaryIO, labels: Labels, folder: Optional[Path] = None):
        for name in labels:
            problem = member_name_problem(name)
            if problem:
                raise UsageError(f"output {files.quote(name)} cannot name an .npz member: "
                                 f"{problem}; write CSV or JSON lines instead")
        super().__init__(stream, labels)
        self.parts = {name: tempfile.TemporaryFile(dir=folder) for name in labels}

    def write(self, outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> None:
        for name, part in self.parts.items():
            part.write(np.ascontiguousarray(outputs[name], dtype=np.float64).tobytes())
        self.n_events += len(next(iter(outputs.values())))

    def finish(self) -> None:
        with zipfile.ZipFile(self.stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, part in self.parts.items():
                shape = (self.n_events, len(self.labels[name]))
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_2_0(member, {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)),
                        "fortran_order": False, "shape": shape})
                    part.seek(0)
                    while True:
                        block = part.read(16 * files.MiB)
                        if not block:
                            break
                        member.write(block)
                part.close()


def member_name_problem(name: str) -> str:
    """Why ``name`` cannot name an archive member safely ('' if it can): an extracting
    tool would write it outside its folder, or not at all."""
    parts = name.replace("\\", "/").split("/")
    if not name:
        return "it is empty"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "it is an absolute path"
    if ".." in parts:
        return "it climbs out of the folder (..)"
    if any(not c.isprintable() for c in name):
        return "it holds control characters"
    return ""


WRITERS: dict[str, Callable[..., OutputWriter]] = {
    "csv": CsvWriter, "npz": NpzWriter, "jsonl": JsonLinesWriter,
}
