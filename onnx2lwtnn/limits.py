"""How much work a file may ask of the tool before it is refused.

A tiny file can declare a huge amount of work: a 79-byte model an input of 10^9
variables, a 199-byte one a ``Range`` of 10^12 values or a ``Loop`` of 10^12 trips.
Doing the work first would exhaust memory or never end, so every such request is sized
before anything is computed and refused, naming what asks for it, when it is over a
limit. Each limit has a name: ``--limit NAME=N`` on the command line (``with
limits.settings({NAME: N}):`` in Python) raises it for a model that legitimately needs
more (docs/limits.md).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from .errors import UsageError
from .files import quote


@dataclass
class Limit:
    default: int
    what: str  # what is counted, as messages and docs/limits.md say it
    value: int = field(init=False)

    def __post_init__(self) -> None:
        self.value = self.default


LIMITS = {
    # far above any weight lwtnn can use (40 MB in float32)
    "constant-values": Limit(10_000_000, "values in one constant tensor"),
    "loop-trips": Limit(10_000, "iterations of a constant Loop"),
    # an input's variables, an output's labels, a sequence's fixed length: each becomes
    # that many named entries in the lwtnn JSON (about 100 us each)
    "dimension": Limit(100_000, "size of a fixed dimension, but a batch, of a tensor "
                                "computed at run time"),
    # a TMVA file's transformations compose as [variables, variables] matrices
    "tmva-variables": Limit(1_000, "variables of a TMVA weights file"),
}
MAX_SETTING = 2**40

Values = Sequence[Optional[np.ndarray]]  # an op's operands; None when computed at run time


def limit(name: str) -> int:
    """The current value of a named limit."""
    return LIMITS[name].value


def setting_problem(name: str, value: int) -> Optional[str]:
    """Why ``--limit NAME=VALUE`` cannot be set, or None."""
    if name not in LIMITS:
        return f"no limit is named {quote(name)}; the limits are {', '.join(LIMITS)}"
    if not 1 <= value <= MAX_SETTING:
        return f"limit {name} must be from 1 to 2**40"
    return None


@contextmanager
def settings(values: Mapping[str, int]) -> Iterator[None]:
    """Run with these limits (the command line's ``--limit NAME=N``), then restore them."""
    for name, value in values.items():
        problem = setting_problem(name, value)
        if problem:
            raise UsageError(problem)
    before = {name: entry.value for name, entry in LIMITS.items()}
    try:
        for name, value in values.items():
            LIMITS[name].value = value
        yield
    finally:
        for name, value in before.items():
            LIMITS[name].value = value


def bound(name: str, unit: str = "") -> str:
    """'N [unit] (--limit NAME=N raises it)', to end a refusal."""
    return f"{limit(name):,}{' ' + unit if unit else ''} (--limit {name}=N raises it)"


def too_many_elements(count: int) -> str:
    return (f"would hold {count:,} values; constants are limited to "
            f"{bound('constant-values', 'values')}")


def shape_problem(shape: Optional[Sequence]) -> Optional[str]:
    """Why a tensor of this (inferred) shape is too large, or None."""
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    count = math.prod(shape)
    return too_many_elements(count) if count > limit("constant-values") else None


def folding_problem(op: str, attrs: dict, values: Values) -> Optional[str]:
    """Why computing this op on these constant operands is refused, or None; decided from
    the operands alone, before computing anything."""
    sizer = _SIZERS.get(op)
    if sizer is None:
        return None
    try:
        count = sizer(attrs, values)
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return None  # malformed operands: the evaluator reports them
    if isinstance(count, str):
        return count
    if count is not None and count > limit("constant-values"):
        return too_many_elements(count)
    return None


def _scalar(value: Optional[np.ndarray]) -> Optional[float]:
    return None if value is None else float(np.asarray(value).reshape(-1)[0])


def _range(attrs: dict, values: Values) -> Optional[int]:
    start, limit, delta = (_scalar(v) for v in values[:3])
    if None in (start, limit, delta) or delta == 0:
        return None
    return max(math.ceil((limit - start) / delta), 0)


def _dims(value: Optional[np.ndarray]) -> Optional[list[int]]:
    return None if value is None else [int(d) for d in np.asarray(value).reshape(-1)]


def _constant_of_shape(attrs: dict, values: Values) -> Optional[int]:
    dims = _dims(values[0])
    return None if dims is None else math.prod(max(d, 0) for d in dims)


def _expand(attrs: dict, values: Values) -> Optional[int]:
    data, dims = values[0], _dims(values[1])
    if data is None or dims is None:
        return None
    shape = list(np.shape(data))
    rank = max(len(shape), len(dims))
    shape, dims = [1] * (rank - len(shape)) + shape, [1] * (rank - len(dims)) + dims
    return math.prod(max(a, b) for a, b in zip(shape, dims))


def _tile(attrs: dict, values: Values) -> Optional[int]:
    repeats = _dims(values[1])
    if values[0] is None or repeats is None:
        return None
    return int(np.size(values[0])) * math.prod(max(r, 0) for r in repeats)


def _one_hot(attrs: dict, values: Values) -> Optional[int]:
    depth = _scalar(values[1])
    return None if values[0] is None or depth is None else int(np.size(values[0]) * depth)


def _pad(attrs: dict, values: Values) -> Optional[int]:
    pads = _dims(values[1]) if len(values) > 1 and values[1] is not None else attrs.get("pads")
    if values[0] is None or pads is None:
        return None
    shape = np.shape(values[0])
    return math.prod(d + pads[i] + pads[i + len(shape)] for i, d in enumerate(shape))


def _loop(attrs: dict, values: Values) -> Optional[str]:
    trips = _scalar(values[0]) if values else None
    if trips is None:
        return ("a Loop without a constant trip count cannot be computed ahead: its "
                "iterations have no bound")
    if trips > limit("loop-trips"):
        return (f"would run {trips:,.0f} iterations; constant loops are limited to "
                f"{bound('loop-trips')}")
    return None


_SIZERS: dict[str, Callable[[dict, Values], object]] = {
    "Range": _range, "ConstantOfShape": _constant_of_shape, "Expand": _expand,
    "Tile": _tile, "OneHot": _one_hot, "Pad": _pad, "Loop": _loop,
}
SIZED_OPS = frozenset(_SIZERS)
