"""Run the command line under resource limits, many times and cheaply: the hostile-input
suite holds every case to the bounds of issue 25 (exit 1 or 2 within 20 s of CPU and
1 GB resident, one clean line, no escape byte on stdout or stderr).

Starting Python and importing onnx costs about 1.5 s of CPU per process, and the suite
runs dozens of cases. So one server process imports the command line once, then forks a
child per run: the child gets its own limits (CPU seconds, address space), its own
stdin, stdout and stderr files and working folder, and the server reports its exit
status, wall time, CPU time and peak resident memory (``os.wait4``). A child still
running after ``WALL_SECONDS`` (a hang: blocked on a FIFO, say) is killed and reported.
One server serves the whole session (``shared_cli``). The peak counts the pages a child
shares with the server (its imports, onnx's among them: about 50 MB), so it is some 20 MB
above what the command takes in a fresh process.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

CPU_SECONDS = 20               # the done-when bound
RESIDENT_MB = 1024             # the done-when bound, checked on the peak (ru_maxrss)
ADDRESS_SPACE = 3 << 30        # a hard stop, so a regression fails instead of swapping
WALL_SECONDS = 60              # a child blocked this long (it uses no CPU) is killed
# What can drive a terminal: C0 controls but tab and newline (ESC starts CSI and OSC;
# BEL ends OSC; CR rewrites a line), DEL, the C1 controls U+0080 to U+009F (U+009B is CSI,
# U+009D OSC), and bytes 0x80 to 0x9F that are not part of a UTF-8 character (8-bit CSI
# and OSC; decoded here as the surrogates U+DC80 to U+DC9F).
ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\udc80-\udc9f]")
# The commands and what they import lazily (the converter, onnx, the references): each
# child would otherwise import them again, about 1.2 s of CPU per case.
PRELOAD = ("onnx2lwtnn.cli", "onnx2lwtnn.cli.convert", "onnx2lwtnn.cli.inspect",
           "onnx2lwtnn.cli.template", "onnx2lwtnn.cli.tmva", "onnx2lwtnn.cli.check",
           "onnx2lwtnn.cli.ops", "onnx2lwtnn.cli.run", "onnx2lwtnn.cli.export",
           "onnx2lwtnn.api", "onnx2lwtnn.check", "onnx2lwtnn.reference", "onnx.reference",
           "onnxruntime")


def find_escape(data: bytes) -> Optional[str]:
    """The first character in ``data`` that could drive a terminal, or None."""
    found = ESCAPES.search(data.decode("utf-8", "surrogateescape"))
    return None if found is None else found.group()


@dataclass
class Run:
    """What one limited run did."""

    status: int          # exit code, or minus the signal that ended it
    out: bytes
    err: bytes
    seconds: float       # wall time
    cpu: float           # user + system CPU seconds
    megabytes: float     # peak resident memory
    timed_out: bool

    @property
    def text(self) -> str:
        return self.err.decode("utf-8", "replace")

    def assert_refused(self, codes: Sequence[int] = (1, 2)) -> str:
        """Exit 1 or 2 with one clean line on stderr, within the bounds; returns it."""
        text = self.assert_failed(codes)
        assert len(text.strip().splitlines()) == 1, text
        return text.strip()

    def assert_failed(self, codes: Sequence[int] = (1, 2)) -> str:
        """Exit 1 or 2 with a message (a conversion's causes, one a line), within the
        bounds; returns it."""
        self.assert_bounded()
        assert self.status in codes, (self.status, self.text)
        assert self.text.startswith("onnx2lwtnn: "), self.text
        assert "Traceback" not in self.text and "internal error" not in self.text, self.text
        return self.text

    def assert_bounded(self, binary_stdout: bool = False) -> None:
        """Within the time and memory bounds, and no escape byte on stderr, nor on stdout
        unless a binary file was asked for there."""
        assert not self.timed_out, f"still running after {WALL_SECONDS} s: {self.text}"
        assert self.status != -signal.SIGXCPU, f"over {CPU_SECONDS} s of CPU: {self.text}"
        assert self.megabytes <= RESIDENT_MB, f"{self.megabytes:.0f} MB resident"
        for stream in (self.err,) if binary_stdout else (self.out, self.err):
            found = find_escape(stream)
            assert found is None, f"escape {found!r} in {stream[:500]!r}"


class LimitedCli:
    """A server process that runs ``onnx2lwtnn ARGS`` in a limited child per call."""

    def __init__(self, repo: Path):
        env = {**os.environ, "PYTHONPATH": str(repo), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1"}  # no BLAS threads: the server forks
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from tests.limited import serve; serve({PRELOAD!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=repo, env=env, text=True)

    def __call__(self, args: Sequence, folder: Path, stdin: Optional[Path] = None,
                 stdout: Optional[Path] = None, terminal: bool = False) -> Run:
        """Run in ``folder``; ``stdout``, when given, is a file opened for appending (as
        the shell's ``>>``) and is left in place; with ``terminal``, stdout is a
        pseudo-terminal (raw: what the command writes arrives unchanged)."""
        err = folder / ".stderr"
        if terminal:
            master, slave = os.openpty()
            tty.setraw(slave)
            out = Path(os.ttyname(slave))
        else:
            out = stdout if stdout is not None else folder / ".stdout"
        request = {"args": [str(a) for a in args], "cwd": str(folder), "stdout": str(out),
                   "stderr": str(err), "stdin": str(stdin or os.devnull)}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = json.loads(self.process.stdout.readline())
            written = _drain(master) if terminal else out.read_bytes()
        finally:
            if terminal:
                os.close(master)
                os.close(slave)
        run = Run(reply["status"], written, err.read_bytes(), reply["seconds"],
                  reply["cpu"], reply["megabytes"], reply["timed_out"])
        err.unlink()
        if stdout is None and not terminal:
            out.unlink()
        return run

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _drain(master: int) -> bytes:
    """What waits on a pseudo-terminal (its buffer holds a few kilobytes: enough for the
    short outputs tested on one)."""
    os.set_blocking(master, False)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


_SHARED: Optional[LimitedCli] = None


def shared_cli(repo: Path) -> LimitedCli:
    """The session's server, started on first use and closed at exit."""
    global _SHARED
    if _SHARED is None:
        _SHARED = LimitedCli(repo)
        atexit.register(_SHARED.close)
    return _SHARED


def serve(preload: Sequence[str]) -> None:
    """The server: one JSON request per line on stdin, one JSON reply per line."""
    import importlib
    for module in preload:
        importlib.import_module(module)
    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        status, usage, timed_out = _wait(pid, start)
        reply = {"status": status, "seconds": time.monotonic() - start,
                 "cpu": usage.ru_utime + usage.ru_stime,
                 "megabytes": usage.ru_maxrss / 1024, "timed_out": timed_out}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def _child(request: dict) -> None:
    code = 99
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        os.chdir(request["cwd"])
        for fd, path, flags in ((0, request["stdin"], os.O_RDONLY),
                                (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND),
                                (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        from onnx2lwtnn.cli import main
        code = main(request["args"])
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _wait(pid: int, start: float):
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), usage, False
        if time.monotonic() - start > WALL_SECONDS:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return os.waitstatus_to_exitcode(status), usage, True
        time.sleep(0.005)
