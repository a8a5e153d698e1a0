"""onnx2lwtnn.files, where its mutation campaign found the suite silent: what a refusal
says (which file, which kind, 'a' or 'an', which line, column and key of a JSON document),
how names are cut and escaped, and what a write leaves behind (the temporary beside the
target, nothing after a failure or a signal, appending where a target is written in place,
replacing a regular file however many links lead to it, refusing read-only targets).

A few tests run a check in a forked child: one that must start a session of its own (to
see whether a terminal becomes its controlling terminal) and one that must not be root (to
see a folder's permissions refused); each also makes its calls in this process, so that
tools that trace calls (mutation testing) see the test reach them."""
from __future__ import annotations

import errno
import io
import os
import re
import resource
import signal
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from onnx2lwtnn import files
from onnx2lwtnn.errors import FileError, UsageError

KINDS = [("ONNX model", "an"), ("events file", "an"), ("lwtnn network", "a"), ("file", "a")]
NAN_MESSAGE = "NaN is not a JSON number (JSON has no NaN or Infinity)"


def in_a_child(check: Callable[[], str], *, new_session: bool = False,
               user: int | None = None) -> str:
    """What ``check`` returns, run in a forked child (in a session of its own, or as
    ``user``), carried back through a pipe; a child that fails says why."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            if new_session:
                os.setsid()
            if user is not None:
                os.setgid(user)
                os.setuid(user)
            answer = check()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            answer = f"child failed: {type(exc).__name__}: {exc}"
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        answer = stream.read().decode()
    os.waitpid(pid, 0)
    return answer


def refusal(call: Callable[[], object]) -> str:
    """The FileError or UsageError message ``call`` raises, '' when it raises none."""
    try:
        call()
    except (FileError, UsageError) as exc:
        return str(exc)
    return ""


# -- reading ----------------------------------------------------------------------------
@pytest.mark.parametrize("what, article", KINDS)
def test_empty_files_and_folders_are_refused_naming_the_kind_with_its_article(
        tmp_path, what, article):
    empty, folder = tmp_path / "empty.bin", tmp_path / "folder"
    empty.write_bytes(b"")
    folder.mkdir()
    for read in (files.open_regular, lambda path, kind: files.read_bytes(path, kind, 100)):
        assert refusal(lambda: read(empty, what)) == \
            f"{empty}: empty file; expected {article} {what}"
        assert refusal(lambda: read(folder, what)) == \
            f"{folder}: is a directory, not {article} {what}"


def test_a_file_at_its_limit_is_read_and_one_byte_more_is_refused(tmp_path, monkeypatch):
    at, over = tmp_path / "at.csv", tmp_path / "over.csv"
    at.write_bytes(b"x" * 100)
    over.write_bytes(b"x" * 101)
    assert files.read_bytes(at, "events file", 100) == b"x" * 100
    assert refusal(lambda: files.read_bytes(over, "events file", 100)) == \
        f"{over}: the events file is over the 100 bytes limit (101 bytes)"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"y" * 100)))
    assert files.read_bytes("-", "events file", 100, stdin=True) == b"y" * 100


def test_sizes_from_one_mebibyte_up_are_shown_in_megabytes(tmp_path):
    assert files.megabytes(files.MiB - 1) == "1048575 bytes"
    assert files.megabytes(files.MiB) == "1 MB"
    sparse = tmp_path / "big.csv"
    with open(sparse, "wb") as stream:
        stream.truncate(files.MiB + 1)
    assert refusal(lambda: files.read_bytes(sparse, "events file", files.MiB)) == \
        f"{sparse}: the events file is over the 1 MB limit (1 MB)"


def test_an_npz_is_refused_as_the_kind_it_was_asked_for(tmp_path):
    empty = tmp_path / "events.npz"
    empty.write_bytes(b"")
    assert refusal(lambda: files.read_npz(empty, "events file", files.EVENTS_LIMIT)) == \
        f"{empty}: empty file; expected an events file"


def test_open_regular_reads_a_file_of_one_byte(tmp_path):
    path = tmp_path / "one.csv"
    path.write_bytes(b"x")
    with files.open_regular(path, "events file") as stream:
        assert stream.read() == b"x"


def test_open_regular_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "events.csv"
    os.mkfifo(fifo)
    answers: list[str] = []
    reader = threading.Thread(
        target=lambda: answers.append(refusal(lambda: files.open_regular(fifo, "events file"))))
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # blocked in open() waiting for a writer: release it
        os.close(os.open(fifo, os.O_WRONLY))
        reader.join()
        pytest.fail("open_regular waited for a writer on a FIFO")
    assert answers == [f"{fifo}: not a regular file; the events file must be one"]


def test_a_terminal_read_as_an_input_never_becomes_the_controlling_terminal():
    """A session leader without a terminal (a daemon, a batch job) that opens a terminal
    for reading would take it as its controlling terminal, and its hangups and ^C."""
    master, slave = os.openpty()
    device = os.ttyname(slave)

    def refusals() -> str:
        return " | ".join(refusal(lambda: read(device, "events file"))
                          for read in (files.open_regular, _read_bytes))

    def refused_and_terminal_kept_away() -> str:
        message = refusals()
        try:
            os.close(os.open("/dev/tty", os.O_RDONLY))
            return message + " | took the terminal"
        except OSError as exc:
            return message if exc.errno == errno.ENXIO else f"{message} | {exc}"

    try:
        expected = " | ".join(2 * [f"{device}: not a regular file; the events file must be one"])
        # the child first: a terminal this process took would be no other session's
        assert in_a_child(refused_and_terminal_kept_away, new_session=True) == expected
        assert refusals() == expected
    finally:
        os.close(master)
        os.close(slave)


def _read_bytes(path, what: str) -> bytes:
    return files.read_bytes(path, what, files.EVENTS_LIMIT)


def test_a_path_that_cannot_be_opened_names_the_reason(tmp_path):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "afile" / "net.json"
    assert refusal(lambda: files.read_bytes(path, "lwtnn network", 100)) == \
        f"{path}: cannot read the lwtnn network (Not a directory)"


# -- strict JSON: where the offending token is --------------------------------------------
BEYOND_DOUBLE = "the number 1e999 is beyond double precision's range"


@pytest.mark.parametrize("text, where, problem", [
    ('{\n  "a": 1,\n  "b": [2,\n        NaN]\n}', "line 4 column 9 (key 'b'): ", NAN_MESSAGE),
    ('{"note": "NaN here", "x": NaN}', "line 1 column 27 (key 'x'): ", NAN_MESSAGE),
    ('[1,\n -Infinity]', "line 2 column 2: ",
     "-Infinity is not a JSON number (JSON has no NaN or Infinity)"),
    ('{"a": {"big": 1e999}}', "line 1 column 15 (key 'big'): ", BEYOND_DOUBLE),
])
def test_a_strict_json_error_names_its_line_column_and_key(tmp_path, text, where, problem):
    """Line and column count from 1 (the column in characters), at the token's first
    appearance outside strings; the key is the last one before it."""
    path = tmp_path / "net.json"
    path.write_text(text)
    assert refusal(lambda: files.read_json(path, "lwtnn network", 10**6)) == \
        f"{path}: {where}{problem}"


def test_a_duplicate_key_is_named_without_a_location(tmp_path):
    path = tmp_path / "net.json"
    path.write_text('{"a": 1,\n "a": 2}')
    assert refusal(lambda: files.read_json(path, "lwtnn network", 10**6)) == \
        f"{path}: duplicate key 'a' in one JSON object"


@pytest.mark.parametrize("distance, named", [(10_000, True), (10_001, False)])
def test_the_key_is_looked_for_in_the_10000_characters_before_the_token(distance, named):
    """The search for the key is bounded (a huge array must not make an error slow): a key
    whose opening quote is 10,000 characters before the token is named, one further is
    not."""
    opening = '{"k": ['
    text = opening + " " * (distance + 1 - len(opening)) + "NaN]}"
    assert text.index("NaN") - text.index('"k"') == distance
    with pytest.raises(FileError) as error:
        files.parse_json(text, "net.json", "lwtnn network")
    key = " (key 'k')" if named else ""
    assert str(error.value) == f"net.json: line 1 column {distance + 2}{key}: {NAN_MESSAGE}"


# -- showing names --------------------------------------------------------------------------
def test_names_are_shown_whole_up_to_the_limit_and_escaped_within_it():
    limit = files.MAX_NAME_LENGTH
    assert files.clean("x" * limit) == "x" * limit
    assert files.clean("x" * (limit + 1)) == "x" * limit + "..."
    escaped = "\\x00" * 150  # 150 characters that show as 600
    assert files.clean("\x00" * 150) == escaped[:limit] + "..."
    assert files.clean("Δ énergie µ") == "Δ énergie µ"  # printable beyond ASCII: kept
    assert files.quote("y" * 50, limit=10) == "'" + "y" * 10 + "...'"


def test_printable_keeps_newlines_and_cuts_each_line():
    assert files.printable("a\x1bb\nc") == "a\\x1bb\nc"
    assert files.printable("y" * 2000 + "\n" + "z" * 2001) == \
        "y" * 2000 + "\n" + "z" * 2000 + "..."


def test_only_a_terminal_is_a_terminal():
    master, slave = os.openpty()
    try:
        assert files.is_terminal(io.FileIO(slave, closefd=False))
        assert not files.is_terminal(io.StringIO())  # no file descriptor
        assert not files.is_terminal(object())
    finally:
        os.close(master)
        os.close(slave)


def test_an_error_is_shown_on_one_bounded_line():
    assert files.one_line(ValueError("first\n  second\tthird ")) == "first second third"
    long = ValueError("w " * 300)
    assert files.one_line(long) == " ".join(["w"] * 300)[:200]
    assert len(files.one_line(long)) == 200
    assert files.one_line(ValueError()) == "ValueError"


def test_a_name_from_a_file_stays_inside_its_folder(tmp_path):
    assert files.name_in(tmp_path, "a/b\\c\0d.json") == tmp_path / "a-b-c-d.json"
    assert files.name_in(tmp_path, "plain.json") == tmp_path / "plain.json"


# -- writing ----------------------------------------------------------------------------
def test_bytes_are_written_exactly_and_never_over_an_input(tmp_path):
    target, model = tmp_path / "out.onnx", tmp_path / "in.onnx"
    model.write_bytes(b"model")
    files.write_bytes(target, b"\x00\xff\n")
    assert target.read_bytes() == b"\x00\xff\n"
    assert refusal(lambda: files.write_bytes(model, b"other", inputs=[model])) == \
        f"{model}: the output would overwrite the input {model}"
    assert model.read_bytes() == b"model"


def test_stdout_gets_the_bytes_and_no_file_named_dash_is_touched(capsysbinary):
    """'-' is stdout, never a file of that name in the working directory (made, or replaced
    when one is there)."""
    dash = Path("-")
    before = _identity(dash)
    try:
        files.write_bytes("-", b"abc\x00\n")
        files.write_text("-", "\u00e9\n")
        assert capsysbinary.readouterr().out == b"abc\x00\n" + "\u00e9\n".encode()
        assert _identity(dash) == before
    finally:  # a broken write made or replaced it: it holds nothing of anyone's
        if _identity(dash) != before:
            dash.unlink()


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Inode, size and modification time: what a write or a replacement changes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def test_a_temporary_is_hidden_beside_the_target_while_it_is_written(tmp_path):
    target = tmp_path / "net.json"
    with files.writing(target) as stream:
        during = os.listdir(tmp_path)
        stream.write(b"data")
    assert len(during) == 1 and re.fullmatch(r"\.net\.json\..+\.tmp", during[0]), during
    assert os.listdir(tmp_path) == ["net.json"] and target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_failure_inside_writing_leaves_the_target_and_no_temporary(tmp_path):
    target = tmp_path / "net.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="stop"):
        with files.writing(target) as stream:
            stream.write(b"new")
            raise RuntimeError("stop")
    assert os.listdir(tmp_path) == ["net.json"] and target.read_text() == "old"


def test_a_failed_output_leaves_every_output_as_it_was(tmp_path):
    """All or nothing: the second output over the file size limit (what a full disk looks
    like) leaves the first unreplaced and no temporary behind."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("old a")
    second.write_text("old b")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a signal
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
        message = refusal(lambda: files.write_all([(first, b"new a"), (second, b"b" * 5000)]))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert message == f"{second}: cannot write the output (File too large)"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]
    assert (first.read_text(), second.read_text()) == ("old a", "old b")


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are installed only in the main thread")
def test_a_signal_while_outputs_are_renamed_names_the_first_and_writes_nothing(
        tmp_path, monkeypatch):
    """A caller's SIGTERM handler that returns (so the process goes on) sees the write
    abandoned, every output as it was, and an error naming the first output."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text("old a")
    second.write_text("old b")
    received: list[int] = []
    real_replace = os.replace

    def replace_after_a_signal(source, destination):
        os.kill(os.getpid(), signal.SIGTERM)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace_after_a_signal)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        message = refusal(lambda: files.write_all([(first, b"new a"), (second, b"new b")]))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert message == f"{first}: interrupted by signal {int(signal.SIGTERM)}; nothing written"
    assert received == [signal.SIGTERM]
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]
    assert (first.read_text(), second.read_text()) == ("old a", "old b")


def test_a_target_written_in_place_is_appended_to_even_through_relative_links(tmp_path):
    """/proc/self/fd/N of an open file, directly or through a chain of relative symbolic
    links: the file is written through (same inode), after what it holds."""
    held = tmp_path / "held.txt"
    held.write_text("old\n")
    inode = held.stat().st_ino
    descriptor = os.open(held, os.O_RDONLY)
    try:
        proc = f"/proc/self/fd/{descriptor}"
        (tmp_path / "b").symlink_to(proc)
        (tmp_path / "a").symlink_to("b")  # relative: resolved in its own folder
        files.write_text(proc, "via proc\n")
        files.write_text(tmp_path / "a", "via links\n")
    finally:
        os.close(descriptor)
    assert held.read_text() == "old\nvia proc\nvia links\n"
    assert held.stat().st_ino == inode
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


@pytest.mark.parametrize("links", [1, 39, 40])
def test_an_output_through_a_chain_of_links_is_replaced(tmp_path, links):
    """Up to 40 symbolic links to a regular file (as many as Linux follows in one path):
    the file is replaced with the new content, not appended to, and the links stay."""
    (tmp_path / "net.json").write_text("old")
    previous = "net.json"
    for hop in range(1, links + 1):
        (tmp_path / f"link{hop}").symlink_to(previous)
        previous = f"link{hop}"
    files.write_text(tmp_path / previous, "new")
    assert (tmp_path / "net.json").read_text() == "new"
    assert all((tmp_path / f"link{hop}").is_symlink() for hop in range(1, links + 1))


@pytest.mark.parametrize("mode", [0o444, 0o555])
def test_an_output_nobody_may_write_is_refused_and_kept(tmp_path, mode):
    """No write permission for anyone: refused even for root, who could write it."""
    target = tmp_path / "net.json"
    target.write_text("old")
    target.chmod(mode)
    assert refusal(lambda: files.write_text(target, "new")) == (
        f"{target}: the output exists and is read-only; remove it or choose another name "
        "(it is never replaced)")
    assert target.read_text() == "old"


def test_an_output_in_a_file_used_as_a_folder_names_the_reason(tmp_path):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "net.json"
    assert refusal(lambda: files.check_output(target)) == \
        f"{target}: cannot write the output (Not a directory)"


NOBODY = 65534


def test_an_output_in_a_folder_we_cannot_write_is_refused_before_any_work():
    """Checked as a user without write permission on the folder (root writes anywhere)."""
    with tempfile.TemporaryDirectory() as base:
        os.chmod(base, 0o755)
        folder = Path(base) / "locked"
        folder.mkdir()
        target = folder / "net.json"
        assert refusal(lambda: files.check_output(target)) == ""  # writable: accepted
        folder.chmod(0o555)
        expected = f"{target}: cannot write the output (Permission denied)"

        def check() -> str:
            return refusal(lambda: files.check_output(target))

        if os.geteuid() == 0:
            assert in_a_child(check, user=NOBODY) == expected
        else:
            assert check() == expected
        folder.chmod(0o755)


# -- reading stdin, JSON nesting and numbers (survivors once a stray file was removed) ---------
class Trickle:
    """Stdin as a pipe gives it: reads return at most ``piece`` bytes (all that is left
    for read(None)); ``asked`` records what was asked for."""

    def __init__(self, data: bytes, piece: int = 10):
        self.data, self.piece, self.asked = data, piece, []

    def read(self, size=None) -> bytes:
        self.asked.append(size)
        taken = len(self.data) if size is None else min(size, self.piece)
        piece, self.data = self.data[:taken], self.data[taken:]
        return piece


def _stdin(monkeypatch, data: bytes) -> Trickle:
    trickle = Trickle(data)
    monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": trickle})())
    return trickle


def test_stdin_in_pieces_is_read_whole_and_no_further_than_past_its_limit(monkeypatch):
    _stdin(monkeypatch, b"a" * 95)
    assert files.read_bytes("-", "variable spec", 100, stdin=True) == b"a" * 95
    trickle = _stdin(monkeypatch, b"b" * 150)
    assert refusal(lambda: files.read_bytes("-", "variable spec", 100, stdin=True)) == \
        "-: the variable spec is over the 100 bytes limit (101 bytes)"
    assert len(trickle.data) == 49  # one byte past the limit read, the rest left


def test_dash_is_stdin_only_where_a_command_allows_it(monkeypatch):
    _stdin(monkeypatch, b'{"from": "stdin"}')
    for read in (files.read_text, files.read_json):
        try:
            result = read("-", "variable spec", 100)
        except FileError:
            result = None
        assert result not in ({"from": "stdin"}, '{"from": "stdin"}')


def test_the_kind_is_named_through_read_text_and_read_json(tmp_path):
    empty, latin = tmp_path / "empty.json", tmp_path / "latin.json"
    empty.write_bytes(b"")
    latin.write_bytes(b'{"caf\xe9": 1}')
    for read in (files.read_text, files.read_json):
        assert refusal(lambda: read(empty, "lwtnn network", 100)) == \
            f"{empty}: empty file; expected a lwtnn network"
        assert refusal(lambda: read(latin, "lwtnn network", 100)) == \
            f"{latin}: the lwtnn network is not UTF-8 text (byte 5)"


def test_read_json_takes_the_top_level_type_asked_for(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    assert files.read_json(path, "events file", 100, top=list) == [1, 2]


def _nested(depth: int, opening: str = "[") -> str:
    closing = {"[": "]", '{"a":': "}"}[opening]
    return opening * depth + "1" + closing * depth


@pytest.mark.parametrize("text, depth", [
    (_nested(500), None),
    ("[[]," + _nested(499) + "]", None),  # 501 brackets, 500 deep
    (_nested(501), 501),
    (_nested(501, '{"a":'), 501),
    ('[{"a":' * 251 + "1" + "}]" * 251, 502),
    ("[" + "[]," * 600 + "[]]", None),  # many brackets, two deep
    ("[" * 300 + "]" * 50 + "," + _nested(260) + "]" * 250, 510),  # 250 open, then 260
])
def test_nesting_is_measured_as_the_deepest_point_of_the_document(text, depth):
    if depth is None:
        assert files.parse_json(text, "doc.json", "events file", list) is not None
        return
    assert refusal(lambda: files.parse_json(text, "doc.json", "events file", list)) == \
        f"doc.json: the events file is nested {depth} levels deep; the limit is 500"


def test_a_duplicate_key_named_is_the_one_repeated():
    assert refusal(lambda: files.parse_json('{"a": 1, "b": 2, "b": 3}', "x.json", "spec")) \
        == "x.json: duplicate key 'b' in one JSON object"


def test_an_integer_longer_than_python_reads_is_named_where_it_is():
    digits = "1" * 5000
    assert refusal(lambda: files.parse_json('{"n": ' + digits + "}", "x.json", "spec")) == (
        f"x.json: line 1 column 7 (key 'n'): the integer {digits[:40]}... (5,000 "
        "characters) is beyond double precision's range")


def test_constants_are_read_where_asked_for():
    values = files.parse_json("[NaN, -Infinity]", "x.json", "events file", list,
                              constants=True)
    assert np.isnan(values[0]) and values[1] == -np.inf


def test_an_integer_python_can_read_is_left_to_the_readers_to_judge():
    """Up to Python's 4,300 digits an integer is read exactly: the readers (lwtnn's, the
    event files') then name the variable or weight that is beyond a double."""
    digits = "9" * 4300
    assert files.parse_json(f"[{digits}]", "x.json", "events file", list) == [int(digits)]
