"""One policy for every file the tool reads or writes, so no command can lose a user's file
or hang on one.

Reading (``read_bytes``, ``read_text``, ``read_json``): regular files only (a FIFO or a
device would block or never end), or ``-`` for stdin where a command allows it, each
kind of file under a size limit checked before anything is read. JSON is read strictly:
duplicate keys, NaN/Infinity and out-of-range numbers and a wrong top-level type are
errors naming the file and the key.

Writing (``check_output``, ``write_text``, ``write_all``, and ``writing`` for output
produced in pieces): an output is checked before any work is done, never lands on an
input of the run (compared by device and inode, so another spelling, a symlink or a
hard link of an input is caught), and never replaces a read-only file. A regular file
is written atomically: a temporary file in the same folder, renamed over the target,
removed on any failure and on SIGTERM, SIGHUP or SIGINT; several outputs are written
all or nothing. An existing target that is not a
regular file (a device, a FIFO, ``/proc/self/fd/1``, ``/dev/stdout``) is appended to,
never replaced or truncated. Every error names the file the user gave.

Showing (``clean``, ``quote``, ``printable``): every name or path printed anywhere goes
through ``clean``, so no control character from a file reaches a terminal.
"""
from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import signal
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Optional, Sequence, Union

from .errors import FileError, UsageError

PathLike = Union[str, os.PathLike]
STDIN = "-"

MiB = 1 << 20
# Size limits, one per kind of file (docs/limits.md explains them).
MODEL_LIMIT = 2048 * MiB    # protobuf cannot parse a larger message anyway
NETWORK_LIMIT = 1024 * MiB  # an lwtnn JSON document
SPEC_LIMIT = 64 * MiB       # a variable spec
EVENTS_LIMIT = 256 * MiB    # CSV text, or an .npz's arrays once decompressed
MAX_JSON_DEPTH = 500        # nesting of JSON arrays and objects
MAX_LINKS = 40              # symbolic links Linux follows in one path (its MAXSYMLINKS)

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT")
                 if hasattr(signal, name))


# -- reading ----------------------------------------------------------------------------
def read_bytes(path: PathLike, what: str, limit: int, *, stdin: bool = False) -> bytes:
    """The content of a regular file (or of stdin for ``-`` when ``stdin``), refusing
    anything else, and anything over ``limit`` bytes, before reading it."""
    if stdin and str(path) == STDIN:
        if sys.stdin is None:
            raise FileError(f"{STDIN}: stdin is closed; cannot read the {what}")
        data = bytearray()
        while len(data) <= limit:  # in pieces: read(limit) would allocate the limit
            piece = sys.stdin.buffer.read(min(MiB, limit + 1 - len(data)))
            if not piece:
                break
            data += piece
        _check_size(STDIN, what, len(data), limit)
        return bytes(data)
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit or info.st_size == 0:
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileError(f"{path}: is a directory, not a{_article(what)} {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FileError(f"{path}: not a regular file; the {what} must be one")
        _check_size(path, what, info.st_size, limit)
        raise FileError(f"{path}: empty file; expected a{_article(what)} {what}")
    with os.fdopen(fd, "rb") as stream:
        try:
            data = stream.read(info.st_size)
            grew = stream.read(1)
        except OSError as exc:
            raise _unreadable(path, what, exc) from None
    if grew:
        raise FileError(f"{path}: the {what} changed while it was read")
    return data


def open_regular(path: PathLike, what: str) -> io.BufferedReader:
    """A regular file opened for reading in binary, refusing anything else (a FIFO or
    a device) and an empty file; no size limit: for what is read in bounded pieces."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileError(f"{clean(path)}: is a directory, not a{_article(what)} {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FileError(f"{clean(path)}: not a regular file; the {what} must be one")
        raise FileError(f"{clean(path)}: empty file; expected a{_article(what)} {what}")
    return os.fdopen(fd, "rb")


def read_text(path: PathLike, what: str, limit: int, *, stdin: bool = False) -> str:
    """``read_bytes`` decoded as UTF-8 (a byte-order mark is allowed)."""
    data = read_bytes(path, what, limit, stdin=stdin)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None


def read_json(path: PathLike, what: str, limit: int, *, stdin: bool = False,
              top: type = dict) -> Any:
    """A JSON file read strictly (see ``parse_json``)."""
    return parse_json(read_text(path, what, limit, stdin=stdin), str(path), what, top)


def parse_json(text: str, where: str, what: str, top: type = dict, *,
               constants: bool = False) -> Any:
    """Strict JSON: duplicate keys, NaN, Infinity, numbers beyond float range and nesting
    deeper than MAX_JSON_DEPTH are errors, and the document must be a ``top``;
    ``constants``: NaN and Infinity are read (as Python writes them in data)."""
    depth = _nesting(text)
    if depth > MAX_JSON_DEPTH:
        raise FileError(f"{where}: the {what} is nested {depth} levels deep; the limit is "
                        f"{MAX_JSON_DEPTH}")
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys,
                              parse_constant=float if constants else _no_constant,
                              parse_float=_finite_float, parse_int=_integer)
    except _StrictJsonError as exc:
        raise FileError(f"{where}: {_located(text, exc)}{exc}") from None
    except ValueError as exc:
        raise FileError(f"{where}: the {what} is not valid JSON ({exc})") from None
    if not isinstance(document, top):
        raise FileError(f"{where}: the {what} must be a JSON {_JSON_TYPES[top]}, not "
                        f"{_JSON_TYPES.get(type(document), type(document).__name__)}")
    return document


class Arrays(dict):
    """An .npz's arrays by name, all loaded; ``files`` lists the names as numpy's does."""

    @property
    def files(self) -> list[str]:
        return list(self)


def read_npz(path: PathLike, what: str, limit: int) -> Arrays:
    """Every array of an .npz, refusing (before decompressing anything) an archive whose
    arrays would take more than ``limit`` bytes, and anything that is not an .npz of
    plain numbers (``npz_files`` checks every member against what the file holds)."""
    from .npz_files import read_arrays  # it reads through this module
    return Arrays(read_arrays(path, what, limit))


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number",
               float: "number", bool: "boolean", type(None): "null"}


class _StrictJsonError(ValueError):
    """Raised by the parser's hooks; ``token`` is the offending text, to locate it."""

    def __init__(self, message: str, token: str = ""):
        super().__init__(message)
        self.token = token


_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')  # a key: a string followed by a colon


def _located(text: str, error: _StrictJsonError) -> str:
    """'line L column C (key 'k'): ' for the first appearance of the offending token
    outside strings, naming the key it belongs to; '' when it cannot be found."""
    for match in _BRACKET_OR_STRING_OR_TOKEN.finditer(text):
        if match.group() != error.token:
            continue
        before = text[:match.start()]
        line = before.count("\n") + 1
        column = match.start() - before.rfind("\n")
        keys = _KEY.findall(before[-10_000:])
        key = f" (key {quote(keys[-1])})" if keys else ""
        return f"line {line} column {column}{key}: "
    return ""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _StrictJsonError(f"duplicate key {quote(key)} in one JSON object")
    return document


def _no_constant(name: str) -> float:
    raise _StrictJsonError(f"{name} is not a JSON number (JSON has no NaN or Infinity)",
                           name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _StrictJsonError(f"the number {text[:40]} is beyond double precision's range",
                               text)
    return value


def _integer(text: str) -> int:
    """An integer longer than Python reads (4,300 digits) is far beyond any double."""
    if len(text) > sys.get_int_max_str_digits():
        raise _StrictJsonError(f"the integer {text[:40]}... ({len(text):,} characters) is "
                               "beyond double precision's range", text)
    return int(text)


_STRING = r'"(?:[^"\\]|\\.)*"'  # matched whole, so nothing inside a string counts
_BRACKET_OR_STRING = re.compile(_STRING + r'|[\[\]{}]')
_BRACKET_OR_STRING_OR_TOKEN = re.compile(_STRING + r'|-?Infinity|NaN|'
                                         r'-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?')


def _nesting(text: str) -> int:
    """How deep arrays and objects nest, counted without recursion (json.loads itself
    recurses); brackets inside strings are skipped."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for match in _BRACKET_OR_STRING.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _check_size(path: PathLike, what: str, size: int, limit: int) -> None:
    if size > limit:
        raise FileError(f"{path}: the {what} is over the {megabytes(limit)} limit "
                        f"({megabytes(size)})")


def _unreadable(path: PathLike, what: str, exc: OSError) -> FileError:
    if exc.errno == errno.ENOENT:
        return FileError(f"{path}: no such file")
    return FileError(f"{path}: cannot read the {what} ({exc.strerror or exc})")


def megabytes(size: int) -> str:
    return f"{size / MiB:.0f} MB" if size >= MiB else f"{size} bytes"


def _article(word: str) -> str:
    return "n" if word[:1] in "aeiouAEIOU" else ""


# -- writing ----------------------------------------------------------------------------
def check_output(target: PathLike, inputs: Iterable[PathLike] = ()) -> None:
    """Refuse, before any work is done, an output that is an input of the run (UsageError)
    or that cannot be written (FileError naming it and why)."""
    text = os.fspath(target)
    if text == "":
        raise UsageError("the output file name is empty")
    if text == STDIN:
        return
    for source in inputs:
        if _same_file(target, source):
            raise UsageError(f"{target}: the output would overwrite the input {source}")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _unwritable(target, exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _unwritable(target, IsADirectoryError(21, "Is a directory"))
    if info is not None and _written_in_place(target, info):
        if not os.access(target, os.W_OK):
            raise _unwritable(target, PermissionError(13, "Permission denied"))
        return
    if info is not None and _read_only(target, info):
        raise UsageError(f"{target}: the output exists and is read-only; remove it or "
                         "choose another name (it is never replaced)")
    folder = Path(os.path.realpath(target)).parent
    if not folder.exists():  # a name that cannot work, seen before any work: usage
        raise UsageError(f"{target}: cannot write the output: no such directory "
                         f"{Path(target).parent}")
    if not folder.is_dir():
        raise _unwritable(target, NotADirectoryError(20, "Not a directory"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _unwritable(target, PermissionError(13, "Permission denied"))


def check_distinct_outputs(pairs: Iterable[tuple[PathLike, PathLike]]) -> None:
    """Refuse (UsageError naming both inputs) two inputs that would write one output."""
    claimed: dict[str, PathLike] = {}
    for source, target in pairs:
        key = os.path.realpath(target)
        if key in claimed:
            raise UsageError(f"{claimed[key]} and {source} would both be written to "
                             f"{target}; convert them into different folders")
        claimed[key] = source


def name_in(folder: PathLike, name: str) -> Path:
    """``folder / name`` for a name made from a file's content (a config's parameter
    names): path separators and NUL become '-', so it stays inside ``folder``."""
    return Path(folder) / re.sub(r"[/\\\0]", "-", name)


def write_text(target: PathLike, text: str, inputs: Iterable[PathLike] = ()) -> None:
    """Write ``text`` to ``target`` (``-``: stdout) under the output policy."""
    write_all([(target, text.encode("utf-8"))], inputs)


def write_bytes(target: PathLike, data: bytes, inputs: Iterable[PathLike] = ()) -> None:
    """Write ``data`` to ``target`` (``-``: stdout) under the output policy."""
    write_all([(target, data)], inputs)


def write_all(outputs: Sequence[tuple[PathLike, bytes]],
              inputs: Iterable[PathLike] = ()) -> None:
    """Write every (target, data) under the output policy, all or nothing: every target is
    checked, every regular file written to a temporary file beside it, and only when all
    are written are they renamed into place; then targets written in place (devices,
    FIFOs) and stdout (``-``). A failure or a signal before the renames leaves every
    target as it was and no temporary file behind."""
    inputs = list(inputs)
    for target, _ in outputs:
        check_output(target, inputs)
    replaced = [(target, data) for target, data in outputs if _replaced(target)]
    temporaries: list[str] = []
    with _removed_unless_done(temporaries, replaced[0][0] if replaced else ""):
        staged = [(_staged(target, data, temporaries), target) for target, data in replaced]
        for temporary, target in staged:
            try:
                os.replace(temporary, os.path.realpath(target))
            except OSError as exc:
                raise _unwritable(target, exc) from None
    for target, data in outputs:
        if os.fspath(target) == STDIN:
            write_stdout(data)
        elif not _replaced(target):
            _write_in_place(target, data)


@contextmanager
def writing(target: PathLike, inputs: Iterable[PathLike] = ()) -> Iterator[BinaryIO]:
    """A binary stream onto ``target`` under the output policy, for output written in
    pieces (``run``'s chunks): stdout for ``-``; a device, FIFO or /proc link appended
    to; a regular file written as a temporary file beside it, renamed over it only when
    the block ends without error (removed otherwise, and on SIGTERM, SIGHUP or SIGINT)."""
    if os.fspath(target) == STDIN:
        if sys.stdout is None:
            raise FileError("stdout is closed; give -o FILE")
        try:
            sys.stdout.flush()
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except OSError as exc:
            raise FileError(f"<stdout>: cannot write ({exc.strerror or exc})") from None
        return
    check_output(target, inputs)
    if not _replaced(target):
        try:
            with os.fdopen(_open_in_place(target), "wb") as stream:
                yield stream
        except OSError as exc:
            raise _unwritable(target, exc) from None
        return
    temporaries: list[str] = []
    with _removed_unless_done(temporaries, target):
        temporary = _staged(target, b"", temporaries)
        try:
            with open(temporary, "r+b") as stream:
                yield stream
            os.replace(temporary, os.path.realpath(target))
        except OSError as exc:
            raise _unwritable(target, exc) from None


def write_stdout(data: Union[str, bytes]) -> None:
    """Write to stdout, naming it when it is closed or cannot be written."""
    if sys.stdout is None:
        raise FileError("stdout is closed; give -o FILE")
    try:
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
    except OSError as exc:
        raise FileError(f"<stdout>: cannot write ({exc.strerror or exc})") from None


def _replaced(target: PathLike) -> bool:
    """Whether a target is written by replacing it: a regular file, or none yet."""
    if os.fspath(target) == STDIN:
        return False
    info = _stat_or_none(target)
    return info is None or not _written_in_place(target, info)


def _write_in_place(target: PathLike, data: bytes) -> None:
    """Devices, FIFOs and /proc's links to open files: written through, never replaced,
    and appended to, never truncated: ``-o /dev/stdout >> log`` keeps the log (the shell
    opened it; whatever it holds is not ours)."""
    try:
        with os.fdopen(_open_in_place(target), "wb") as stream:
            stream.write(data)
    except OSError as exc:
        raise _unwritable(target, exc) from None


def _open_in_place(target: PathLike) -> int:
    """A target written into for appending (see ``_write_in_place``)."""
    return os.open(target, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOCTTY", 0))


def _staged(target: PathLike, data: bytes, temporaries: list[str]) -> str:
    """A temporary file beside the target holding ``data``, with the target's mode (or
    open()'s), listed in ``temporaries`` as soon as it exists."""
    real = Path(os.path.realpath(target))
    previous = _stat_or_none(real)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp",
                                             dir=real.parent)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    temporaries.append(temporary)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp makes it private: give it the mode the file had, or open()'s mode
        os.chmod(temporary, stat.S_IMODE(previous.st_mode) if previous else 0o666 & ~_umask())
    except OSError as exc:
        raise _unwritable(target, exc) from None
    return temporary


@contextmanager
def _removed_unless_done(temporaries: list[str], target: PathLike) -> Iterator[None]:
    """Remove the temporary files on any failure, and when SIGTERM, SIGHUP or SIGINT
    arrives (unless ignored, as under nohup); the signal then takes its usual course."""
    received: list[int] = []

    def interrupt(signum: int, _frame: Any) -> None:
        received.append(signum)
        raise _Interrupted()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, interrupt) for s in _SIGNALS
                    if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    except BaseException:
        for temporary in temporaries:
            _remove(temporary)
        if not received:
            raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        signal.raise_signal(received[0])  # returns only if a handler of the caller's does
        raise FileError(f"{target}: interrupted by signal {received[0]}; nothing written")


class _Interrupted(BaseException):
    """A signal arrived while the temporary file existed."""


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _written_in_place(target: PathLike, info: os.stat_result) -> bool:
    """Whether an existing target is written into rather than replaced: anything but a
    regular file, and files reached through /proc's links to open files (replacing
    those would cut the file away from whoever holds it open)."""
    if not stat.S_ISREG(info.st_mode):
        return True
    path, hops = os.path.abspath(target), 0
    while hops <= MAX_LINKS:  # stat() followed at most MAX_LINKS: look at the path after them
        if path.startswith("/proc/"):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.join(os.path.dirname(path), os.readlink(path))
        hops += 1
    return True


def _read_only(target: PathLike, info: os.stat_result) -> bool:
    """Whether an existing regular file says it must not be written: no write permission
    for us, or none for anyone (root may write anything, but a 0444 file asks not to be)."""
    return not os.access(target, os.W_OK) or not stat.S_IMODE(info.st_mode) & 0o222


def _same_file(a: PathLike, b: PathLike) -> bool:
    first, second = _stat_or_none(a), _stat_or_none(b)
    return (first is not None and second is not None
            and (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino))


def _stat_or_none(path: PathLike) -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _unwritable(target: PathLike, exc: OSError) -> FileError:
    return FileError(f"{target}: cannot write the output ({exc.strerror or exc})")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- showing names ----------------------------------------------------------------------
MAX_NAME_LENGTH = 200


def quote(name: Any, limit: int = MAX_NAME_LENGTH) -> str:
    """A name from a file, safe to print: in quotes, control characters escaped, cut to
    ``limit`` characters."""
    return f"'{clean(name, limit)}'"


def clean(name: Any, limit: int = MAX_NAME_LENGTH) -> str:
    """``quote`` without the quotes."""
    text = str(name)
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                    for c in text[:limit + 1])
    return shown if len(text) <= limit and len(shown) <= limit else shown[:limit] + "..."


def printable(text: str, line_limit: int = 2000) -> str:
    """A message safe for a terminal: control characters other than newlines escaped,
    each line cut to ``line_limit`` characters."""
    return "\n".join(clean(line, line_limit) for line in text.split("\n"))


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (names written there are escaped; progress
    lines go there only); False for anything without a file descriptor."""
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
