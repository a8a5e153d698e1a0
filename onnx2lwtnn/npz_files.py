""".npz archives of events read safely and a chunk at a time, and their arrays' names.

An .npz is a zip of .npy members. Nothing a member's headers declare is trusted
before it is checked against what the file really holds: each member must be a
stored or deflated (what ``np.savez`` and ``np.savez_compressed`` write), unencrypted
.npy of real numbers with a readable header, named once; a stored member's declared
shape must match its bytes; a deflated member may not declare more than
``MAX_RATIO`` times its compressed size (deflate cannot expand further), and is
decompressed in bounded pieces, never past what its .npy header declares, with a
short or overlong member an error. Stored members are mapped from the file, never
copied; deflated ones are read a chunk of events at a time. So an archive takes memory
in proportion to a chunk, whatever its size or what its headers claim.

Names (one rule for ``run``, ``check`` and ``tmva --inputs``, see ``input_arrays``):
an input node's array is named after the node, or ``in_<node>``, or ``inputs/<node>``
and ``input_sequences/<node>`` (which tell a vector and a sequence node of the same
name apart); ``raw_inputs`` (what TMVA's Reader takes) names the one vector input of a
network that has no other input, and an archive of a single array names it whatever
its name. A sequence's ``<array>.lengths`` gives each event's number of steps.
"""
from __future__ import annotations

import io
import mmap
import os
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from . import files
from .errors import FileError, UsageError

PathLike = Union[str, "os.PathLike[str]"]
MAX_RATIO = 1100  # deflate expands at most 1032:1
SLACK = files.MiB  # what a tiny member may expand to regardless of the ratio
LENGTHS_SUFFIX = ".lengths"
RAW_INPUTS = "raw_inputs"
INPUT_PREFIX = "in_"
NUMPY_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# what zipfile and zlib raise on a damaged archive (a zip version or flag zipfile does not
# know is NotImplementedError, corrupt deflate data zlib.error)
DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
           NotImplementedError, zlib.error)


@dataclass
class Member:
    """One array of the archive: its .npy header and where its data is."""

    name: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_size: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=object)) * self.dtype.itemsize


class NpzArchive:
    """The arrays of an .npz, checked, readable by rows; ``names`` in archive order."""

    def __init__(self, path: PathLike, what: str = "events file"):
        self.path = path
        self.where = files.clean(path)
        self.what = what
        self._stream = files.open_regular(path, what)
        try:
            self._zip = zipfile.ZipFile(self._stream)
            self.members = self._members()
        except DAMAGED as exc:
            self.close()
            raise FileError(f"{self.where}: not a readable .npz archive "
                            f"({files.one_line(exc)})") from None
        except BaseException:
            self.close()
            raise
        self._map: Optional[mmap.mmap] = None

    @property
    def names(self) -> list[str]:
        return list(self.members)

    def close(self) -> None:
        if getattr(self, "_map", None) is not None:
            self._map.close()
            self._map = None
        self._stream.close()

    def __enter__(self) -> "NpzArchive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the members -------------------------------------------------------------------
    def _members(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            where = f"{self.where}: member {files.quote(info.filename)}"
            if name in members:
                raise FileError(f"{where} appears twice in the archive; which one is meant is "
                                "not clear")
            if info.flag_bits & 0x1:
                raise FileError(f"{where} is encrypted")
            if info.compress_type not in NUMPY_METHODS:
                raise FileError(f"{where} uses zip compression method {info.compress_type}; "
                                "numpy writes stored (np.savez) or deflated "
                                "(np.savez_compressed) members only")
            members[name] = self._header(name, info, where)
        return members

    def _header(self, name: str, info: zipfile.ZipInfo, where: str) -> Member:
        with self._zip.open(info) as stream:
            try:
                version = np.lib.format.read_magic(stream)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"unknown .npy format version {version}")
                shape, fortran_order, dtype = read(stream)
            except (ValueError, EOFError, SyntaxError, TypeError) as exc:
                raise FileError(f"{where} is not a readable .npy array "
                                f"({files.one_line(exc)})") from None
            header_size = stream.tell()
        if dtype.kind not in "biuf" or dtype.hasobject:
            raise FileError(f"{where} holds {dtype}, not real numbers")
        member = Member(name, info, tuple(shape), dtype, fortran_order, header_size)
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size or member.nbytes != (
                    info.compress_size - header_size):
                raise FileError(f"{where} declares {member.nbytes:,} bytes of data but holds "
                                f"{info.compress_size - header_size:,}")
        elif member.nbytes > MAX_RATIO * info.compress_size + SLACK:
            raise FileError(f"{where} declares {member.nbytes:,} bytes of data in "
                            f"{info.compress_size:,} compressed bytes; deflate cannot expand "
                            f"that much")
        return member

    # -- reading -----------------------------------------------------------------------
    def rows(self, name: str, chunk: int) -> Iterator[np.ndarray]:
        """The array ``name`` a block of at most ``chunk`` rows (first axis) at a time."""
        member = self.members[name]
        n_rows = member.shape[0] if member.shape else 1
        if member.info.compress_type == zipfile.ZIP_STORED:
            whole = self._mapped(member)
            for start in range(0, n_rows, chunk):
                yield whole[start:start + chunk]
            return
        if member.fortran_order and len(member.shape) > 1:  # columns first: read it whole
            yield self.read(name)
            return
        with self._deflated(member) as stream:
            stream.seek(member.header_size) if stream.seekable() else stream.read(
                member.header_size)
            for start in range(0, n_rows, chunk):
                count = min(chunk, n_rows - start)
                data = _read_exactly(stream, count * member.row_bytes, self._short(member))
                yield np.frombuffer(data, member.dtype).reshape((count,) + member.shape[1:])
            if stream.read(1):
                raise FileError(f"{self.where}: member {files.quote(member.info.filename)} "
                                "holds more data than its .npy header declares")

    def read(self, name: str) -> np.ndarray:
        """The whole array ``name`` (its size was bounded when the archive was opened)."""
        member = self.members[name]
        if member.info.compress_type == zipfile.ZIP_STORED:
            return np.array(self._mapped(member))
        with self._deflated(member) as stream:
            stream.read(member.header_size)
            data = _read_exactly(stream, member.nbytes, self._short(member))
            if stream.read(1):
                raise FileError(f"{self.where}: member {files.quote(member.info.filename)} "
                                "holds more data than its .npy header declares")
        order = "F" if member.fortran_order else "C"
        return np.frombuffer(data, member.dtype).reshape(member.shape, order=order)

    def _mapped(self, member: Member) -> np.ndarray:
        """A stored member's data, mapped read-only from the archive file."""
        if self._map is None:
            self._map = mmap.mmap(self._stream.fileno(), 0, access=mmap.ACCESS_READ)
        offset = member.info.header_offset
        local = self._map[offset:offset + 30]
        if local[:4] != b"PK\x03\x04":
            raise FileError(f"{self.where}: member {files.quote(member.info.filename)} has a "
                            "broken local header")
        start = (offset + 30 + int.from_bytes(local[26:28], "little")
                 + int.from_bytes(local[28:30], "little") + member.header_size)
        if start + member.nbytes > len(self._map):
            raise FileError(f"{self.where}: member {files.quote(member.info.filename)} is cut "
                            "short")
        order = "F" if member.fortran_order else "C"
        return np.ndarray(member.shape, member.dtype, self._map, start, order=order)

    @contextmanager
    def _deflated(self, member: Member) -> Iterator[zipfile.ZipExtFile]:
        """A deflated member's stream; damaged data is an error naming the member."""
        try:
            with self._zip.open(member.info) as stream:
                yield stream
        except DAMAGED as exc:
            raise FileError(f"{self.where}: member {files.quote(member.info.filename)} "
                            f"cannot be decompressed ({files.one_line(exc)})") from None

    def _short(self, member: Member) -> str:
        return (f"{self.where}: member {files.quote(member.info.filename)} holds less data "
                "than its .npy header declares (cut short?)")


def _read_exactly(stream: io.BufferedIOBase, size: int, short: str) -> bytes:
    """``size`` bytes, read in pieces of at most 16 MiB (a deflate stream cannot return
    more than asked), or FileError ``short``."""
    pieces, left = [], size
    while left:
        piece = stream.read(min(left, 16 * files.MiB))
        if not piece:
            raise FileError(short)
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def array_name(available: Iterable[str], node: str, kind: str = "inputs", *,
               shared: bool = False, only_input: bool = False) -> Optional[str]:
    """The array holding input node ``node`` (``kind``: "inputs" or "input_sequences"),
    or None: ``node``, ``in_<node>``, ``<kind>/<node>``, and ``raw_inputs`` where the
    node is the network's only input (``only_input``). ``shared``: a node of the other
    kind has the same name, so only ``<kind>/<node>`` tells them apart. Two arrays
    naming one node are a UsageError."""
    candidates = [f"{kind}/{node}"]
    if not shared:
        candidates += [node, INPUT_PREFIX + node]
    if only_input and kind == "inputs":
        candidates.append(RAW_INPUTS)
    found = [name for name in dict.fromkeys(candidates) if name in set(available)]
    if len(found) > 1:
        raise UsageError(f"arrays {', '.join(map(files.quote, found))} all name input "
                         f"{files.quote(node)}; keep one")
    return found[0] if found else None


def input_arrays(available: Sequence[str], vectors: Sequence[str],
                 sequences: Sequence[str] = ()) -> tuple[dict[str, Optional[str]],
                                                         dict[str, Optional[str]]]:
    """The array holding each vector and each sequence input node (None where none
    does), by ``array_name``; a network of a single input node also takes an archive
    holding a single array (besides ``.lengths``) of any name."""
    shared = set(vectors) & set(sequences)
    only = len(vectors) == 1 and not sequences
    found = ({n: array_name(available, n, shared=n in shared, only_input=only)
              for n in vectors},
             {n: array_name(available, n, "input_sequences", shared=n in shared)
              for n in sequences})
    arrays = [name for name in available if not name.endswith(LENGTHS_SUFFIX)]
    if len(vectors) + len(sequences) == 1 and len(arrays) == 1:
        table = found[0] if vectors else found[1]
        table.update((node, name or arrays[0]) for node, name in table.items())
    return found


def read_arrays(path: PathLike, what: str, limit: int) -> dict[str, np.ndarray]:
    """Every array of an .npz, whole, refusing an archive whose arrays take more than
    ``limit`` bytes (checked on what the archive really holds, before reading)."""
    with NpzArchive(path, what) as archive:
        total = sum(member.nbytes for member in archive.members.values())
        if total > limit:
            raise FileError(f"{archive.where}: the {what}'s arrays would take "
                            f"{files.megabytes(total)} once decompressed; the limit is "
                            f"{files.megabytes(limit)}")
        return {name: archive.read(name) for name in archive.names}
