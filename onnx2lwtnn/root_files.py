"""ROOT files for ``run``: events read from a TTree, outputs written as a friend tree.

Needs uproot (``pip install "onnx2lwtnn[root]"``); nothing else in the package does.

Reading (``events.root:TREE``, the tree may be left out when the file has one): each
vector variable is a flat numeric branch of the same name, each sequence variable a
jagged one (``var * number``, one entry per time step; the variables of one sequence
node must have the same number of steps in every event); ``branches`` maps variable
names (or ``node/variable`` where nodes share one) to branches of other names. The
tree is read with uproot's iteration, in chunks of events as other files are.

Writing (``out.root``, or ``out.root:TREE``; the tree is ``lwtnn`` by default): one
entry per event, a float64 branch per output label (``<output>_<label>`` where outputs
share a label; characters ROOT's expressions cannot take become ``_``), so the tree can
be a friend of the events' tree. Refused events are NaN. The file is not compressed.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional

import numpy as np

from . import files
from .errors import FileError, Onnx2LwtnnError, UsageError
from .event_files import (CHUNK_BYTES, CHUNK_EVENTS, EventSource, Events, column_names,
                          no_events, split_root_path)
from .lwtnn import Network
from .output_files import Labels, OutputWriter

DEFAULT_TREE = "lwtnn"
INSTALL = 'ROOT files need uproot: pip install "onnx2lwtnn[root]"'


def _uproot() -> Any:
    try:
        import uproot
    except ImportError:
        raise UsageError(INSTALL) from None
    return uproot


class RootEvents(EventSource):
    """A TTree's branches as the network's inputs, a chunk of entries at a time."""

    def __init__(self, path: str, tree: Optional[str], network: Network,
                 branches: Mapping[str, str]):
        uproot = _uproot()
        files.open_regular(path, "ROOT file").close()  # a FIFO or device is refused unread
        self.where = files.clean(path)
        with _readable(self.where):
            # read, not memory-mapped: a mapped file's pages count as the process's
            # own, so its resident memory grew with the file (a 306 MB tree: 410 MB)
            self.file = uproot.open(path, handler=uproot.source.file.MultithreadedFileSource)
        try:
            with _readable(self.where):
                self.tree = self._tree(tree)
                self._plan(network, dict(branches))
        except BaseException:
            self.file.close()
            raise
        self.done = 0

    def _tree(self, name: Optional[str]) -> Any:
        trees = [key.split(";")[0] for key, kind in self.file.classnames().items()
                 if kind == "TTree"]
        if name is None and len(trees) == 1:
            name = trees[0]
        if name not in trees:
            what = "name one" if name is None else f"it has no TTree {files.quote(name)}"
            raise UsageError(f"{self.where}: {what} of its trees as {self.where}:TREE; it has "
                             f"{', '.join(map(files.quote, trees)) or 'none'}")
        self.tree_name = name
        return self.file[name]

    def _plan(self, network: Network, branches: dict[str, str]) -> None:
        columns = column_names({**network.input_variables, **network.sequence_variables})
        known = set(columns.values())
        unknown = [v for v in branches if v not in known]
        if unknown:
            raise UsageError(f"--branch names variables the network does not have: "
                             f"{', '.join(map(files.quote, unknown))}")
        available = set(self.tree.keys())
        self.vectors = {n: [branches.get(columns[n, v], columns[n, v])
                            for v in network.input_variables[n]] for n in network.input_names}
        self.sequences = {n: [branches.get(columns[n, v], columns[n, v])
                              for v in network.sequence_variables[n]]
                          for n in network.sequence_names}
        wanted = [b for names in [*self.vectors.values(), *self.sequences.values()]
                  for b in names]
        missing = [b for b in dict.fromkeys(wanted) if b not in available]
        if missing:
            raise UsageError(f"{self.where}:{self.tree_name}: no branch "
                             f"{', '.join(map(files.quote, missing[:10]))}"
                             f"{' and more' if len(missing) > 10 else ''} (map a variable "
                             "to a branch of another name with --branch VARIABLE=BRANCH)")
        for names, jagged in ((self.vectors, False), (self.sequences, True)):
            for branch in {b for group in names.values() for b in group}:
                self._check_branch(branch, jagged)
        self.expressions = list(dict.fromkeys(wanted))
        self.n_events = self.tree.num_entries
        if self.sequences:  # entries of unknown size: uproot sizes the steps
            self.step: Any = f"{CHUNK_BYTES} B"
        else:  # as many entries as an .npz chunk holds (a few flat branches: 100,000)
            row = sum(self.tree[b].interpretation.from_dtype.itemsize for b in self.expressions)
            self.step = max(1, min(CHUNK_EVENTS, CHUNK_BYTES // max(1, row)))

    def _check_branch(self, branch: str, jagged: bool) -> None:
        interpretation = str(self.tree[branch].interpretation)
        flat = re.fullmatch(r"AsDtype\('[<>|]?[biuf]\d+'\)", interpretation)
        ragged = re.fullmatch(r"AsJagged\(AsDtype\('[<>|]?[biuf]\d+'\).*\)", interpretation)
        if (ragged if jagged else flat) is None:
            need = ("a jagged numeric branch (one value per time step)" if jagged
                    else "a flat numeric branch (one number per entry)")
            raise UsageError(f"{self.where}:{self.tree_name}: branch {files.quote(branch)} is "
                             f"{files.clean(interpretation)}; a "
                             f"{'sequence' if jagged else 'vector'} variable needs {need}")

    def chunks(self) -> Iterator[Events]:
        import awkward as ak
        if self.n_events == 0:
            raise no_events(self.where)
        read = self.tree.iterate(self.expressions, step_size=self.step, library="ak")
        while True:
            with _readable(self.where):  # uproot's reading only: a bug of ours stays one
                chunk = next(read, None)
            if chunk is None:
                return
            vectors = {n: _side_by_side(chunk, names, ak) for n, names in self.vectors.items()}
            sequences = {n: self._sequence(n, names, chunk, ak)
                         for n, names in self.sequences.items()}
            self.done += len(chunk)
            yield Events(vectors, sequences)

    def _sequence(self, node: str, names: list[str], chunk: Any, ak: Any) -> list[np.ndarray]:
        counts = [ak.to_numpy(ak.num(chunk[b], axis=1)) for b in names]
        for branch, count in zip(names[1:], counts[1:]):
            bad = np.flatnonzero(count != counts[0])
            if bad.size:
                raise UsageError(f"{self.where}:{self.tree_name}: entry {self.done + bad[0]}: "
                                 f"branches {files.quote(names[0])} and {files.quote(branch)} "
                                 f"of sequence node {files.quote(node)} have different "
                                 "numbers of steps")
        flat = np.stack([ak.to_numpy(ak.flatten(chunk[b], axis=1)).astype(np.float64)
                         for b in names], axis=1).reshape(-1, len(names))
        return np.split(flat, np.cumsum(counts[0])[:-1]) if len(counts[0]) else []

    def fraction_read(self) -> Optional[float]:
        return self.done / self.n_events if self.n_events else None

    def close(self) -> None:
        self.file.close()


def _side_by_side(chunk: Any, branches: list[str], ak: Any) -> np.ndarray:
    """Flat branches as the columns of one float64 array, each copied once."""
    table = np.empty((len(chunk), len(branches)))
    for j, branch in enumerate(branches):
        table[:, j] = ak.to_numpy(chunk[branch])
    return table


@contextmanager
def _readable(where: str) -> Iterator[None]:
    """What uproot raises reading a damaged file (OSError for a short read, zlib.error,
    ValueError, KeyError, UnicodeError...) as one line naming the file: never an internal
    error, nor (an OSError) blamed on the output being written."""
    try:
        yield
    except Onnx2LwtnnError:
        raise
    except Exception as exc:
        raise FileError(f"{where}: not a readable ROOT file ({files.one_line(exc)})") from None


def branch_names(labels: Labels) -> dict[tuple[str, str], str]:
    """(output, label) -> branch: the label, ``<output>_<label>`` where outputs share
    it, with characters other than letters, digits and ``_`` as ``_``; UsageError if
    two then coincide."""
    names = {key: re.sub(r"\W", "_", column.replace("/", "_"), flags=re.ASCII)
             for key, column in column_names(labels).items()}
    if len(set(names.values())) < len(names):
        seen: dict[str, tuple[str, str]] = {}
        for key, name in names.items():
            if name in seen:
                raise UsageError(f"outputs {files.quote('/'.join(seen[name]))} and "
                                 f"{files.quote('/'.join(key))} would both be the ROOT branch "
                                 f"{files.quote(name)}; write CSV, .npz or JSON lines instead")
            seen[name] = key
    return names


class RootWriter(OutputWriter):
    """A TTree of the outputs, one entry per event, onto a seekable binary stream."""

    def __init__(self, stream: BinaryIO, labels: Labels, tree: Optional[str] = None):
        super().__init__(stream, labels)
        self.branches = branch_names(self.labels)
        # uncompressed: zlib took two thirds of a run's time and saved 5% of the size
        # (network outputs are ~incompressible doubles)
        self.file = _uproot().recreate(stream, compression=None)
        self.tree = self.file.mktree(tree or DEFAULT_TREE,
                                     {name: np.float64 for name in self.branches.values()})

    def write(self, outputs: Mapping[str, np.ndarray], refused: Mapping[int, str]) -> None:
        self.tree.extend({branch: np.ascontiguousarray(outputs[name][:, self.labels[name].index(
            label)]) for (name, label), branch in self.branches.items()})
        self.n_events += len(next(iter(outputs.values())))

    def finish(self) -> None:
        self.file.close()


def output_tree(path: Path) -> tuple[Path, Optional[str]]:
    """(file, tree or None) of an output named ``x.root`` or ``x.root:tree``."""
    split = split_root_path(str(path))
    return (Path(split[0]), split[1]) if split else (path, None)
