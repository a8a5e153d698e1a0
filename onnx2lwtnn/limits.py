"""How much computing a model may ask of the converter before it is refused.

Constant folding and onnx's shape inference compute what a graph's constants imply. A
199-byte model can ask for a ``Range`` of 10^12 values or a ``Loop`` of 10^12 trips;
computing either first would exhaust memory or never end. Every such request is sized
here from the constants alone, before anything is computed, and refused naming the
node when it is over a limit (docs/limits.md).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

MAX_CONSTANT_ELEMENTS = 10_000_000  # far above any weight lwtnn can use (40 MB in float32)
MAX_LOOP_TRIPS = 10_000

Values = Sequence[Optional[np.ndarray]]  # an op's operands; None when computed at run time


def too_many_elements(count: int) -> str:
    return (f"would hold {count:,} values; constants are limited to "
            f"{MAX_CONSTANT_ELEMENTS:,} values")


def shape_problem(shape: Optional[Sequence]) -> Optional[str]:
    """Why a tensor of this (inferred) shape is too large, or None."""
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    count = math.prod(shape)
    return too_many_elements(count) if count > MAX_CONSTANT_ELEMENTS else None


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
    if count is not None and count > MAX_CONSTANT_ELEMENTS:
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
    if trips > MAX_LOOP_TRIPS:
        return (f"would run {trips:,.0f} iterations; constant loops are limited to "
                f"{MAX_LOOP_TRIPS:,}")
    return None


_SIZERS: dict[str, Callable[[dict, Values], object]] = {
    "Range": _range, "ConstantOfShape": _constant_of_shape, "Expand": _expand,
    "Tile": _tile, "OneHot": _one_hot, "Pad": _pad, "Loop": _loop,
}
SIZED_OPS = frozenset(_SIZERS)
