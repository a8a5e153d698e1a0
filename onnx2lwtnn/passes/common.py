"""Small queries shared by the passes: feature axes and per-feature constants.

Vector tensors are [batch, features] or, for models that take one event, [features]:
the feature axis is always the last one.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..ir import IRGraph, Port


def is_vector(ir: IRGraph, port: Optional[Port]) -> bool:
    """A float [batch, features] or [features] tensor of known width."""
    return port is not None and ir.features(port) is not None and ir.is_float(port)


def is_feature_axis(ir: IRGraph, port: Port, axis: int) -> bool:
    shape = ir.shape(port)
    if shape is None or not is_vector(ir, port):
        return False
    return axis in (len(shape) - 1, -1)


def per_feature(value: np.ndarray, width: int) -> Optional[np.ndarray]:
    """A constant broadcast against a [batch, width] tensor, as a [width] vector.

    Returns None when the constant varies along the batch axis (or does not broadcast),
    which no per-feature lwtnn layer can express.
    """
    value = np.asarray(value, dtype=np.float64)
    if value.ndim > 2 or (value.ndim == 2 and value.shape[0] != 1):
        return None
    flat = value.reshape(-1)
    if flat.size == 1:
        return np.full(width, flat[0])
    return flat.copy() if flat.size == width else None


def producer_op(ir: IRGraph, port: Optional[Port]) -> Optional[str]:
    return None if port is None else ir.op(port.node)


def dense_to_fuse(ir: IRGraph, port: Port) -> Optional[str]:
    """The Dense node producing ``port`` if it is linear and nothing else reads it."""
    if producer_op(ir, port) != "Dense" or ir.attrs(port.node)["activation"] != "linear":
        return None
    return port.node if len(ir.consumers(port)) == 1 else None


def rank(ir: IRGraph, port: Port) -> Optional[int]:
    shape = ir.shape(port)
    return None if shape is None else len(shape)


def reads_through_matrix(ir: IRGraph, node: str) -> bool:
    """Whether ``node`` is a Dense with a weight matrix (not an activation-only layer)."""
    return ir.op(node) == "Dense" and ir.attrs(node)["weights"].size > 0
