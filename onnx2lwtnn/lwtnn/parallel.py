"""Chunks of events on every core, without oversubscribing them.

numpy releases the GIL inside its loops and its BLAS calls, so Python threads each
evaluating their own chunk of events run in parallel; but numpy's OpenBLAS also starts
a thread per core inside every matrix product, and both together oversubscribe the
cores (measured: slower than one thread). So while chunks run in parallel, OpenBLAS is
held to one thread per call, and restored afterwards (a process-wide setting: another
thread's numpy products meanwhile run on one thread too). OpenBLAS is found among the
libraries the process has loaded (numpy's own wheels bundle it); where it is not
(another BLAS, which cannot be held), chunks run one after another, as BLAS's own
threads then use the cores.

The default number of threads is OpenBLAS's own (``OPENBLAS_NUM_THREADS`` or
``OMP_NUM_THREADS`` if set, else the cores), so a batch job restricted to one core
with those variables stays on one.
"""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

MAX_THREADS = 1024

# OpenBLAS's thread-count functions, as numpy's wheels (scipy-openblas, 64-bit integer
# interface, prefixed and suffixed) and plain builds name them.
_NAMES = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


class _OpenBlas:
    """OpenBLAS's thread count, held at one while any parallel section runs."""

    def __init__(self, get: Callable[[], int], set_: Callable[[int], None]):
        self.get, self._set = get, set_
        self._lock = threading.Lock()
        self._sections = 0
        self._saved = 1

    def threads(self) -> int:
        """OpenBLAS's own thread count (as it was before any section held it)."""
        with self._lock:
            return self._saved if self._sections else self.get()

    @contextmanager
    def single_threaded(self) -> Iterator[None]:
        with self._lock:
            if not self._sections:
                self._saved = self.get()
                self._set(1)
            self._sections += 1
        try:
            yield
        finally:
            with self._lock:
                self._sections -= 1
                if not self._sections:
                    self._set(self._saved)


def _loaded_libraries() -> list[str]:
    """Paths of OpenBLAS libraries this process may have loaded: numpy's own first (the
    folders its wheels bundle it in), then any in the memory map (Linux)."""
    paths = []
    numpy_dir = Path(np.__file__).parent
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs", numpy_dir / ".libs"):
        if folder.is_dir():
            paths += [str(p) for p in sorted(folder.iterdir()) if "openblas" in p.name.lower()]
    maps = Path("/proc/self/maps")
    if maps.exists():
        paths += [line.split()[-1] for line in maps.read_text().splitlines()
                  if "openblas" in line.lower() and line.split()[-1].startswith("/")]
    return list(dict.fromkeys(paths))


@lru_cache(maxsize=None)
def _openblas() -> Optional[_OpenBlas]:
    np.ones((2, 2)) @ np.ones((2, 2))  # numpy loads its BLAS on first use
    for path in _loaded_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _NAMES:
            get, set_ = getattr(library, get_name, None), getattr(library, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return _OpenBlas(get, set_)
    return None


def default_threads() -> int:
    """Threads to evaluate with: OpenBLAS's own count, or 1 where it can't be held."""
    blas = _openblas()
    return max(1, blas.threads()) if blas is not None else 1


def threads_problem(threads: Optional[int]) -> Optional[str]:
    """Why ``threads`` is no thread count (None: the default), or None."""
    if threads is None or (isinstance(threads, (int, np.integer)) and not isinstance(threads, bool)
                           and 1 <= threads <= MAX_THREADS):
        return None
    return f"threads must be an integer from 1 to {MAX_THREADS}, not {threads!r}"


def map_chunks(function: Callable[[T], R], chunks: Sequence[T],
               threads: Optional[int] = None) -> list[R]:
    """``[function(chunk) for chunk in chunks]``, on ``threads`` threads (default:
    ``default_threads()``) with OpenBLAS held to one thread meanwhile, also when
    ``threads`` is 1: then the whole evaluation uses one core. More than one thread
    where OpenBLAS can't be held is the caller's explicit choice."""
    problem = threads_problem(threads)
    if problem:
        raise ValueError(problem)
    workers = min(len(chunks), default_threads() if threads is None else threads)
    blas = _openblas()
    hold = blas is not None and (workers > 1 or threads is not None)
    with (blas.single_threaded() if hold else nullcontext()):
        if workers <= 1:
            return [function(chunk) for chunk in chunks]
        from concurrent.futures import ThreadPoolExecutor  # (and logging: 20 ms a start)
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(function, chunk) for chunk in chunks]
            try:
                return [future.result() for future in futures]
            finally:  # an error or Ctrl-C: don't start the chunks still waiting
                for future in futures:
                    future.cancel()


__all__ = ["MAX_THREADS", "default_threads", "map_chunks", "threads_problem"]
