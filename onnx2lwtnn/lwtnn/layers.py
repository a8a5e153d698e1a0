"""lwtnn's layers in numpy, built from a layer's JSON once and then run on batches.

Two kinds, as in lwtnn (``Stack.tcc``):

- vector layers (``Stack``: dense, normalization, highway, maxout) map an array
  ``(..., n_in)`` to ``(..., n_out)``: any leading axes are events (and time steps,
  for ``time_distributed``), so one matmul covers a whole batch;
- sequence layers (``RecurrentStack``: lstm, gru, simplernn, conv1d, embedding) map
  ``(n_events, n_steps, n_in)`` to ``(n_events, n_steps', n_out)``; callers batch
  events of equal length together.

Builders take the layer's JSON object and the input width (which lwtnn also only
learns from the node feeding the layer) and assume a validated document. Weight
layouts are lwtnn's: matrices row-major ``[n_out][n_in]``, conv1d
``[n_out][n_in][kernel]``, embedding tables ``[n_out][n_categories]``.

A sequence layer that lwtnn would throw for raises ``Refusal`` naming the rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Protocol

import numpy as np

from .activations import Activation, get_activation, sigmoid

Layer = Mapping[str, Any]


class Refusal(Exception):
    """Rows of a batch (``rows``: boolean mask) lwtnn would throw for, and why."""

    def __init__(self, rows: np.ndarray, reason: str):
        super().__init__(reason)
        self.rows = rows
        self.reason = reason


class VectorLayer(Protocol):
    n_out: int

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class SequenceLayer(Protocol):
    n_out: int

    def scan(self, x: np.ndarray) -> np.ndarray: ...


def _vector(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _matrix(values: Any, n_cols: int) -> np.ndarray:
    """lwtnn's ``build_matrix``: a flat list read row-major with ``n_cols`` columns."""
    return _vector(values).reshape(-1, n_cols)


def _component(layer: Layer, name: str, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """(W [n_out, n_in], b [n_out]) of a highway/lstm/gru/simplernn component."""
    comp = layer["components"][name]
    return _matrix(comp["weights"], n_in), _vector(comp["bias"])


# ---------------------------------------------------------------- vector layers

@dataclass(frozen=True)
class Dense:
    """``act(W x + b)``; no weights means identity, no bias means none."""

    weights: Optional[np.ndarray]
    bias: Optional[np.ndarray]
    activation: Activation
    activation_in_place: Activation  # for the fresh result of the matrix product
    n_out: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.weights is not None:
            # events as columns (W x^T, returned transposed, as a view): OpenBLAS computes
            # the product of these shapes about 15% faster than x W^T
            x = np.matmul(self.weights, x.T).T if x.ndim == 2 else x @ self.weights.T
            if self.bias is not None:
                x += self.bias  # x is a fresh array: add in place
            return self.activation_in_place(x)
        if self.bias is not None:
            x = x + self.bias
        return self.activation(x)


def build_dense(layer: Layer, n_in: int) -> Dense:
    weights = _matrix(layer["weights"], n_in) if len(layer["weights"]) else None
    bias = _vector(layer["bias"]) if len(layer["bias"]) else None
    n_out = n_in if weights is None else weights.shape[0]
    return Dense(weights, bias, get_activation(layer["activation"]),
                 get_activation(layer["activation"], in_place=True), n_out)


@dataclass(frozen=True)
class Normalization:
    """``(x + bias) * weights`` element-wise; any activation is ignored, as in lwtnn."""

    weights: np.ndarray
    bias: np.ndarray
    n_out: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x + self.bias) * self.weights


def build_normalization(layer: Layer, n_in: int) -> Normalization:
    return Normalization(_vector(layer["weights"]), _vector(layer["bias"]), n_in)


@dataclass(frozen=True)
class Highway:
    """``c * act(W_t x + b_t) + (1 - c) * x`` with ``c = sigmoid(W_carry x + b_carry)``."""

    w_t: np.ndarray
    b_t: np.ndarray
    w_carry: np.ndarray
    b_carry: np.ndarray
    activation: Activation
    n_out: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        carry = sigmoid(x @ self.w_carry.T + self.b_carry)
        transform = self.activation(x @ self.w_t.T + self.b_t)
        return carry * transform + (1 - carry) * x


def build_highway(layer: Layer, n_in: int) -> Highway:
    w_t, b_t = _component(layer, "t", n_in)
    w_c, b_c = _component(layer, "carry", n_in)
    return Highway(w_t, b_t, w_c, b_c, get_activation(layer["activation"]), n_in)


@dataclass(frozen=True)
class Maxout:
    """Element-wise maximum over the sublayers' ``W_k x + b_k``."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    n_out: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        units = [x @ w.T + b for w, b in zip(self.weights, self.biases)]
        return np.max(np.stack(units), axis=0)


def build_maxout(layer: Layer, n_in: int) -> Maxout:
    weights = [_matrix(sub["weights"], n_in) for sub in layer["sublayers"]]
    biases = [_vector(sub["bias"]) for sub in layer["sublayers"]]
    return Maxout(weights, biases, weights[0].shape[0])


VECTOR_LAYERS: dict[str, Callable[[Layer, int], VectorLayer]] = {
    "dense": build_dense,
    "normalization": build_normalization,
    "highway": build_highway,
    "maxout": build_maxout,
}

# -------------------------------------------------------------- sequence layers


State = tuple[np.ndarray, np.ndarray]  # (h, cell): the hidden and LSTM cell states


@dataclass(frozen=True)
class Recurrent:
    """LSTM, GRU and SimpleRNN: one step function run over time, states from zero.

    A scan works feature-major, on ``[features, events]`` arrays, so that every gate is
    a contiguous block of rows and its activation one contiguous pass (batch-major
    gates are strided column slices, measured 1.6x slower). ``weights``/``bias`` hold
    the gates' input weights stacked row-wise (so the input part of every step is one
    matmul over all steps and events); ``recurrent`` holds the gates' U matrices
    stacked the same way (``[gates * n_out, n_out]``), so the recurrent part of a step
    is one matmul too (the GRU's candidate gate reads ``r * h`` and has its own). Only
    the LSTM uses the cell state.
    """

    step: Callable[["Recurrent", np.ndarray, State], State]
    weights: np.ndarray
    bias: np.ndarray
    recurrent: np.ndarray
    candidate: Optional[np.ndarray]  # the GRU's U_h
    activation: Activation
    activation_in_place: Activation  # for arrays a step has just made
    inner_activation: Activation     # in place: gates are always fresh arrays
    n_out: int

    def scan(self, x: np.ndarray) -> np.ndarray:
        return self.scan_groups([x])[0]

    def scan_groups(self, groups: list[np.ndarray]) -> list[np.ndarray]:
        """Every group ``[n_g, T_g, n_in]`` (the caller keeps batches to a few thousand
        events, whose arrays stay in cache), in bands of groups sorted by length, longest
        first, so the events still running at step t are a prefix and every step is one
        batched step whatever the mix of lengths. A band ends where padding its groups
        to its longest would more than double them: one long event never pads the rest."""
        order = sorted(range(len(groups)), key=lambda g: -groups[g].shape[1])
        results: list[Optional[np.ndarray]] = [None] * len(groups)
        for band in _bands([(len(groups[g]), groups[g].shape[1]) for g in order]):
            members = [order[k] for k in band]
            sizes = [len(groups[g]) for g in members]
            starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
            lengths = np.repeat([groups[g].shape[1] for g in members], sizes)
            if len(members) == 1:
                x = groups[members[0]]
            else:
                x = np.zeros((len(lengths), int(lengths[0]), self.weights.shape[1]))
                for g, start, stop in zip(members, starts, starts[1:]):
                    x[start:stop, :groups[g].shape[1]] = groups[g]
            out = self.scan_padded(x, lengths)
            for g, start, stop in zip(members, starts, starts[1:]):
                results[g] = out[start:stop, :groups[g].shape[1]]
        return results

    def scan_padded(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``[events, steps, n_out]`` for events sorted longest first, padded to the
        longest (``lengths``: each one's steps; what lies past them is never read, and
        zeros in the result)."""
        n_events, n_steps = len(x), int(lengths.max(initial=0))
        out = np.zeros((n_steps, self.n_out, n_events))
        x_part = np.matmul(self.weights, x[:, :n_steps].transpose(1, 2, 0))
        x_part += self.bias[:, None]
        running = np.count_nonzero(lengths[:, None] > np.arange(n_steps), axis=0)
        h = np.zeros((self.n_out, n_events))
        cell = np.zeros((self.n_out, n_events))
        for step, active in enumerate(running.tolist()):
            if active < h.shape[1]:  # events that ended stay ended: drop their states
                h, cell = (np.ascontiguousarray(state[:, :active]) for state in (h, cell))
            h, cell = self.step(self, x_part[step, :, :active], (h, cell))
            out[step, :, :active] = h
        return out.transpose(2, 0, 1)


def _bands(groups: list[tuple[int, int]]) -> list[list[int]]:
    """Consecutive runs of (events, steps) groups, longest first, each padded to its
    first group's length at most doubling its steps (plus one per event, for empty
    sequences)."""
    bands: list[list[int]] = []
    events = content = longest = 0
    for k, (n, steps) in enumerate(groups):
        if bands and (events + n) * longest <= 2 * (content + n * steps) + events + n:
            bands[-1].append(k)
            events, content = events + n, content + n * steps
        else:
            bands.append([k])
            events, content, longest = n, n * steps, steps
    return bands


def _lstm_step(layer: Recurrent, x_part: np.ndarray, state: State) -> State:
    h, cell = state
    n = layer.n_out
    gates = layer.recurrent @ h
    gates += x_part
    ifo = layer.inner_activation(gates[:3 * n])
    new_cell = ifo[n:2 * n] * cell
    candidate = layer.activation_in_place(gates[3 * n:])
    candidate *= ifo[:n]
    new_cell += candidate
    return ifo[2 * n:] * layer.activation(new_cell), new_cell


def _gru_step(layer: Recurrent, x_part: np.ndarray, state: State) -> State:
    h, cell = state
    n = layer.n_out
    zr = layer.recurrent @ h
    zr += x_part[:2 * n]
    zr = layer.inner_activation(zr)
    z, r = zr[:n], zr[n:]
    hh = layer.activation_in_place(x_part[2 * n:] + layer.candidate @ (r * h))
    return z * h + (1 - z) * hh, cell


def _simplernn_step(layer: Recurrent, x_part: np.ndarray, state: State) -> State:
    h, cell = state
    pre = layer.recurrent @ h
    pre += x_part
    return layer.activation_in_place(pre), cell


_GATES = {
    "lstm": (_lstm_step, ("i", "f", "o", "c")),
    "gru": (_gru_step, ("z", "r", "h")),
    "simplernn": (_simplernn_step, ("h",)),
}


def build_recurrent(layer: Layer, n_in: int) -> Recurrent:
    arch = layer["architecture"]
    step, names = _GATES[arch]
    parts = [_component(layer, name, n_in) for name in names]
    n_out = parts[0][0].shape[0]
    u = [_matrix(layer["components"][name]["U"], n_out) for name in names]
    candidate = u.pop() if arch == "gru" else None
    # simplernn has no gates: lwtnn ignores its inner_activation
    inner = layer.get("inner_activation", "linear")
    return Recurrent(
        step=step,
        weights=np.concatenate([w for w, _ in parts]),
        bias=np.concatenate([b for _, b in parts]),
        recurrent=np.concatenate(u),
        candidate=candidate,
        activation=get_activation(layer["activation"]),
        activation_in_place=get_activation(layer["activation"], in_place=True),
        inner_activation=get_activation(inner, in_place=True),
        n_out=n_out,
    )


@dataclass(frozen=True)
class Conv1d:
    """1D convolution over time with lwtnn's padding rules.

    ``same`` pads ``ceil(pad / 2)`` zeros in front (lwtnn favours the start when the
    total padding is odd; Keras favours the end), ``causal`` pads all in front,
    ``valid`` pads nothing and refuses sequences shorter than the receptive field.
    The padding is never built: each kernel tap adds its product to the output steps
    whose input step exists (padding contributes exact zeros), so memory and time are
    those of the output whatever the dilation.
    The activation is applied per output channel over time, as lwtnn does: this
    matters only for softmax, which lwtnn normalises over time steps here.
    """

    weights: np.ndarray  # [n_out, n_in, kernel]
    bias: np.ndarray
    dilation: int
    padding: str
    activation: Activation
    n_out: int

    def scan(self, x: np.ndarray) -> np.ndarray:
        n_events, n_steps, n_in = x.shape
        kernel = self.weights.shape[2]
        pad = (kernel - 1) * self.dilation
        if self.padding == "valid":
            n_out_steps, front = n_steps - pad, 0
            if n_out_steps < 1:
                raise Refusal(
                    np.ones(n_events, dtype=bool),
                    f"sequence of {n_steps} step(s) too short for 'valid' conv1d "
                    f"(kernel {kernel}, dilation {self.dilation}: needs {pad + 1})")
        else:
            n_out_steps = n_steps
            front = pad if self.padding == "causal" else (pad + 1) // 2
        out = np.broadcast_to(self.bias, (n_events, n_out_steps, self.n_out)).copy()
        for k in range(kernel):
            shift = k * self.dilation - front  # output step t reads input step t + shift
            first, stop = max(0, -shift), min(n_out_steps, n_steps - shift)
            if first < stop:
                out[:, first:stop] += x[:, first + shift:stop + shift] @ self.weights[:, :, k].T
        return np.swapaxes(self.activation(np.swapaxes(out, 1, 2)), 1, 2)


def build_conv1d(layer: Layer, n_in: int) -> Conv1d:
    bias = _vector(layer["bias"])
    weights = _vector(layer["weights"]).reshape(len(bias), n_in, -1)
    return Conv1d(weights, bias, layer["dilation_rate"], layer["padding"],
                  get_activation(layer["activation"]), len(bias))


@dataclass(frozen=True)
class Embedding:
    """Replace integer-valued variables by rows of look-up tables, one after another.

    Each table ``(index, W [n_out, n_categories])`` swaps variable ``index`` for
    ``W[:, value]``, widening the input by ``n_out - 1``. lwtnn throws for values
    that are not integers in ``[0, n_categories)``. lwtnn 2.14 also copies the
    variables after ``index`` with ``x.bottomRows(x.cols() - 1 - index)`` (columns
    are time steps), which is only right when that variable is the last one or the
    sequence has as many steps as variables; other events would get undefined
    values from lwtnn, so they are refused here.
    """

    tables: list[tuple[int, np.ndarray]]
    n_out: int

    def scan(self, x: np.ndarray) -> np.ndarray:
        for index, table in self.tables:
            n_events, n_steps, n_vars = x.shape
            if index < n_vars - 1 and n_steps != n_vars:
                raise Refusal(
                    np.ones(n_events, dtype=bool),
                    f"embedding of variable {index} of {n_vars} in a sequence of "
                    f"{n_steps} step(s): lwtnn's EmbeddingLayer mis-copies the later "
                    f"variables unless the sequence has {n_vars} steps")
            values = x[:, :, index]
            bad = ((np.floor(values) != values) | (values < 0)
                   | (values >= table.shape[1])).any(axis=1)
            if bad.any():
                raise Refusal(bad, f"invalid embedding index: variable {index} must be "
                                   f"an integer in [0, {table.shape[1]})")
            embedded = table.T[values.astype(np.intp)]
            x = np.concatenate([x[:, :, :index], embedded, x[:, :, index + 1:]], axis=2)
        return x


def build_embedding(layer: Layer, n_in: int) -> Embedding:
    tables = []
    for sub in layer["sublayers"]:
        weights = _vector(sub["weights"])
        n_categories = len(weights) // sub["n_out"]
        tables.append((sub["index"], weights.reshape(-1, n_categories)))
        n_in += sub["n_out"] - 1
    return Embedding(tables, n_in)


SEQUENCE_LAYERS: dict[str, Callable[[Layer, int], SequenceLayer]] = {
    "lstm": build_recurrent,
    "gru": build_recurrent,
    "simplernn": build_recurrent,
    "conv1d": build_conv1d,
    "embedding": build_embedding,
}
