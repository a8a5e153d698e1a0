"""lwtnn's activation functions, computed exactly as its C++ does (``Stack.tcc``).

Every function maps an array to an array of the same shape. Element-wise functions
act on every entry; ``softmax`` normalises over the last axis, which is what lwtnn's
``SoftmaxLayer`` sees as "the vector" (layers that apply it along another axis, like
conv1d, move that axis last first).

The details that matter for bit-level agreement with lwtnn:

- ``sigmoid`` (and ``swish``, and the highway carry gate) is clamped: exactly 0 below
  x = -30 and exactly 1 above x = +30, otherwise ``1 / (1 + exp(-x))``.
- ``hard_sigmoid`` is the fixed Theano form ``clip(0.2 x + 0.5, 0, 1)``.
- ``elu`` is ``alpha * (exp(x) - 1)`` for x < 0 (not ``expm1``).
- an activation given as a bare string has no alpha: lwtnn then uses alpha = 1 for
  ``elu`` but NaN for ``leakyrelu`` and ``swish`` (so those need the object form).
- the ``*_legacy`` names are lwtnn's older element-wise versions, kept for benchmarks;
  only ``rectified_legacy`` differs (it maps -0.0 to +0.0).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Mapping, Union

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]
ActivationSpec = Union[str, Mapping[str, Any]]

SIGMOID_LIMIT = 30.0


def linear(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """Identity (lwtnn's ``DummyLayer``)."""
    return x


def rectified(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``x < 0 ? 0 : x``: NaN passes through (``np.maximum`` propagates it)."""
    return np.maximum(x, 0.0)


def rectified_legacy(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``isnan(x) ? x : (x > 0 ? x : 0)``."""
    return np.where(np.isnan(x) | (x > 0), x, 0.0)


def sigmoid(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """Logistic function, clamped to exactly 0 / 1 beyond |x| > 30."""
    return _sigmoid_into(x, np.empty_like(x, dtype=np.float64))


def _sigmoid_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``sigmoid(x)`` written into ``out`` (which may be ``x``)."""
    # only an array reaching the limits needs the clamp: two reductions instead of two
    # comparisons per call, and the masks only when needed
    clamped = x.size and (x.max() >= SIGMOID_LIMIT or x.min() <= -SIGMOID_LIMIT)
    if clamped:
        below, above = x < -SIGMOID_LIMIT, x > SIGMOID_LIMIT
        np.clip(x, -SIGMOID_LIMIT, SIGMOID_LIMIT, out=out)  # NaN passes through
        np.negative(out, out=out)
    else:
        np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)  # the same IEEE division as 1 / (1 + exp(-x))
    if clamped:
        out[below] = 0.0
        out[above] = 1.0
    return out


def hard_sigmoid(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``clip(0.2 x + 0.5, 0, 1)`` (alpha and beta are fixed)."""
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def tanh(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(x)


def absolute(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``|x|``."""
    return np.abs(x)


def softmax(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """Max-subtracted softmax over the last axis."""
    if x.shape[-1] == 0:
        return x
    with np.errstate(over="ignore"):  # x - max may overflow to -inf: exp gives 0, as in C++
        expv = np.exp(x - x.max(axis=-1, keepdims=True))
    return expv / expv.sum(axis=-1, keepdims=True)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """``x >= 0 ? x : alpha * (exp(x) - 1)``."""
    return np.where(x >= 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0))


def leakyrelu(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``x > 0 ? x : alpha * x``."""
    return np.where(x > 0, x, alpha * x)


def swish(x: np.ndarray, alpha: float = math.nan) -> np.ndarray:
    """``x * sigmoid(alpha * x)`` with the clamped sigmoid."""
    return x * sigmoid(alpha * x)


# name -> function(x, alpha); names exactly as lwtnn's ``get_activation_function``.
ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "linear": linear,
    "sigmoid": sigmoid,
    "rectified": rectified,
    "softmax": softmax,
    "tanh": tanh,
    "hard_sigmoid": hard_sigmoid,
    "elu": elu,
    "leakyrelu": leakyrelu,
    "swish": swish,
    "abs": absolute,
    "sigmoid_legacy": sigmoid,
    "hard_sigmoid_legacy": hard_sigmoid,
    "tanh_legacy": tanh,
    "rectified_legacy": rectified_legacy,
}

# In-place versions, for arrays the caller has just created (a dense layer's matrix
# product): same values, no new array, which matters for large batches.
IN_PLACE: dict[str, Callable[..., np.ndarray]] = {
    "linear": linear,
    "rectified": lambda x, alpha=math.nan: np.maximum(x, 0.0, out=x),
    "sigmoid": lambda x, alpha=math.nan: _sigmoid_into(x, x),
    "tanh": lambda x, alpha=math.nan: np.tanh(x, out=x),
    "abs": lambda x, alpha=math.nan: np.abs(x, out=x),
}

# Activations whose alpha matters: as a bare string lwtnn gives them these alphas.
BARE_STRING_ALPHA: dict[str, float] = {"elu": 1.0, "leakyrelu": math.nan, "swish": math.nan}


def parse_activation(spec: ActivationSpec) -> tuple[str, float]:
    """Return (function name, alpha) the way lwtnn's ``get_activation`` reads a spec."""
    if isinstance(spec, str):
        return spec, BARE_STRING_ALPHA.get(spec, math.nan)
    return spec["function"], float(spec["alpha"])


def get_activation(spec: ActivationSpec, in_place: bool = False) -> Activation:
    """The activation function a layer's ``activation`` entry describes; with
    ``in_place``, one that may overwrite its argument where that saves an array."""
    name, alpha = parse_activation(spec)
    table = IN_PLACE if in_place and name in IN_PLACE else ACTIVATIONS
    return partial(table[name], alpha=alpha)
