"""The file policy itself: what may be read, how outputs are written, and that neither a
special file nor a signal can make the tool lose or damage a file."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading

import pytest

from onnx2lwtnn import files
from onnx2lwtnn.errors import FileError, UsageError

from .support import REPO


# -- reading ----------------------------------------------------------------------------
def test_a_regular_file_is_read(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"a": 1}')
    assert files.read_json(path, "variable spec", files.SPEC_LIMIT) == {"a": 1}


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    with pytest.raises(FileError, match="pipe.json: not a regular file"):
        files.read_bytes(path, "variable spec", files.SPEC_LIMIT)


def test_a_character_device_is_refused_before_reading():
    with pytest.raises(FileError, match="/dev/zero: not a regular file"):
        files.read_bytes("/dev/zero", "network", files.NETWORK_LIMIT)


@pytest.mark.parametrize("problem, expected", [
    ("missing", "no such file"), ("directory", "is a directory"), ("empty", "empty file")])
def test_unreadable_inputs_are_named(tmp_path, problem, expected):
    path = tmp_path / "input.json"
    if problem == "directory":
        path.mkdir()
    elif problem == "empty":
        path.write_bytes(b"")
    with pytest.raises(FileError, match=f"input.json: {expected}"):
        files.read_bytes(path, "network", files.NETWORK_LIMIT)


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(FileError, match="big.csv: the events file is over the 4096 bytes "
                                        "limit"):
        files.read_bytes(path, "events file", 4096)


def test_stdin_is_read_only_where_allowed_and_under_the_limit(tmp_path, monkeypatch):
    import io
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"b": [1, 2]}')))
    assert files.read_json("-", "spec", 100, stdin=True) == {"b": [1, 2]}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"y" * 200)))
    with pytest.raises(FileError, match="over the 100 bytes limit"):
        files.read_bytes("-", "spec", 100, stdin=True)
    with pytest.raises(FileError, match="-: no such file"):
        files.read_bytes("-", "spec", 100)


@pytest.mark.parametrize("text, message", [
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"a": [{"x": 1, "y": 2, "x": 3}]}', "duplicate key 'x'"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ('{"a": 1e999}', "1e999 is beyond double precision"),
    ('{"a": 1', "not valid JSON"),
    ('"other/net.json"', "must be a JSON object, not string"),
    ("[1, 2]", "must be a JSON object, not array"),
    ("null", "must be a JSON object, not null"),
    ("3", "must be a JSON object, not number"),
    ("[" * 5000 + "]" * 5000, "nested 5000 levels deep; the limit is 500"),
    ('{"k": "' + "[" * 5000 + '"}', None),
])
def test_json_is_read_strictly(tmp_path, text, message):
    path = tmp_path / "doc.json"
    path.write_text(text)
    if message is None:
        assert files.read_json(path, "network", 10**6) == {"k": "[" * 5000}
        return
    with pytest.raises(FileError) as error:
        files.read_json(path, "network", 10**6)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_names_are_escaped_and_cut():
    assert files.quote("a\x1b]0;pwned\x07b") == "'a\\x1b]0;pwned\\x07b'"
    assert files.clean("x" * 10**6).endswith("...")
    assert len(files.clean("x" * 10**6)) == files.MAX_NAME_LENGTH + 3
    assert files.clean("dense_1/kernel:0") == "dense_1/kernel:0"


# -- writing ----------------------------------------------------------------------------
def test_regular_file_written_atomically_with_its_mode_kept(tmp_path):
    target = tmp_path / "net.json"
    target.write_text("old")
    target.chmod(0o640)
    files.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["net.json"]


@pytest.mark.parametrize("spelling", ["same", "symlink", "hard-link", "dotted"])
def test_an_input_is_never_overwritten(tmp_path, spelling):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    (tmp_path / "sub").mkdir()
    target = {"same": model, "symlink": tmp_path / "link", "hard-link": tmp_path / "hard",
              "dotted": tmp_path / "sub" / ".." / "m.onnx"}[spelling]
    if spelling == "symlink":
        target.symlink_to(model)
    if spelling == "hard-link":
        os.link(model, target)
    with pytest.raises(UsageError, match=f"{target}: the output would overwrite the input "
                                         f"{model}$"):
        files.write_text(target, "spec", inputs=[tmp_path / "other", model])
    assert model.read_bytes() == b"model"


def test_a_symlinked_output_keeps_its_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_fifo_output_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    files.write_text(fifo, "through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_character_device_output_is_written_into_not_replaced():
    """A pseudo-terminal made for the test stands in for /dev/null."""
    master, slave = os.openpty()
    try:
        device = os.ttyname(slave)
        before = os.stat(device)
        files.write_text(device, "to the terminal")
        after = os.stat(device)
        assert stat.S_ISCHR(after.st_mode)
        assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
        assert b"to the terminal" in os.read(master, 1000)
    finally:
        os.close(master)
        os.close(slave)


def test_proc_self_fd_is_written_into(tmp_path):
    """/proc/self/fd/N of a regular file is written through, not renamed over."""
    held = tmp_path / "held.txt"
    with open(held, "w") as stream:
        files.write_text(f"/proc/self/fd/{stream.fileno()}", "via proc\n")
        assert os.stat(held).st_ino == os.fstat(stream.fileno()).st_ino
    assert held.read_text() == "via proc\n"
    assert os.listdir(tmp_path) == ["held.txt"]


@pytest.mark.parametrize("target, problem", [
    ("", "the output file name is empty"),
    ("missing/net.json", "no such directory missing"),
    ("afile/net.json", "Not a directory"),
    (".", "Is a directory"),
])
def test_outputs_are_checked_before_work(tmp_path, monkeypatch, target, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises((FileError, UsageError), match=problem) as error:
        files.check_output(target)
    if target:
        assert str(error.value).startswith(f"{target}: ")


def test_colliding_batch_outputs_name_both_inputs(tmp_path):
    pairs = [("a/net.onnx", tmp_path / "net.json"), ("b/net.onnx", tmp_path / "net.json")]
    with pytest.raises(UsageError, match="a/net.onnx and b/net.onnx would both be written"):
        files.check_distinct_outputs(pairs)


def test_closed_stdout_is_named(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(FileError, match="stdout is closed"):
        files.write_text("-", "text")


KILLED_DURING_WRITE = """
import os, signal, sys
from onnx2lwtnn import files
real_replace = os.replace
def replace(a, b):
    os.kill(os.getpid(), signal.{name})
    real_replace(a, b)
files.os.replace = replace
files.write_text(sys.argv[1], "x" * 1000)
print("survived")
"""


def _signals_not_ignored() -> None:
    """The child's signals as in a terminal: a suite run under nohup or as a background
    job would pass SIGHUP or SIGINT on ignored, and an ignored signal stops nothing."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_during_the_write_leaves_no_temporary_file(tmp_path, name):
    target = tmp_path / "net.json"
    done = subprocess.run([sys.executable, "-c", KILLED_DURING_WRITE.format(name=name),
                           str(target)], capture_output=True, text=True, timeout=60,
                          cwd=REPO, preexec_fn=_signals_not_ignored)
    assert "survived" not in done.stdout
    if name != "SIGINT":
        assert done.returncode == -getattr(signal, name), done.stderr
    else:  # Python's own SIGINT handler: KeyboardInterrupt
        assert "KeyboardInterrupt" in done.stderr
    assert os.listdir(tmp_path) == []


def test_an_ignored_signal_does_not_stop_the_write(tmp_path):
    script = ("import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
              + KILLED_DURING_WRITE.format(name="SIGHUP"))
    target = tmp_path / "net.json"
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr
    assert target.read_text() == "x" * 1000


def test_a_file_size_limit_names_the_target_and_leaves_nothing(tmp_path):
    script = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))\n"
              "from onnx2lwtnn import files\n"
              "try:\n    files.write_text(sys.argv[1], 'x' * 1000)\n"
              "except files.FileError as exc:\n    print(exc)\n")
    target = tmp_path / "net.json"
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.stdout.strip() == f"{target}: cannot write the output (File too large)"
    assert os.listdir(tmp_path) == []
