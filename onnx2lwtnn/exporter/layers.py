"""lwtnn's layers as ONNX nodes: the same arithmetic as ``onnx2lwtnn.lwtnn.layers``.

Vector layers (dense, normalization, highway, maxout) act on the last axis, so one
function serves a vector ``[N, n]`` and, for ``time_distributed``, a sequence
``[N, T, n]``. Sequence layers take ``[N, T, n]`` (T may be 0) and return
``(sequence [N, T', n_out], last step [N, n_out], refused)``, where ``refused`` is a
``[N, 1]`` boolean, or None, for the events lwtnn would throw for: the exporter turns
their vector outputs into NaN. Weights are read with the runtime's own builders, so the
layouts (row-major ``[n_out][n_in]``, conv1d ``[n_out][n_in][kernel]``) are read once.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..lwtnn import layers as runtime
from .activations import activation, sigmoid
from .builder import Builder

Layer = Mapping[str, Any]
SequenceResult = tuple[str, str, Optional[str]]


class Unexportable(Exception):
    """A layer ONNX cannot express exactly; the message says why."""


def _affine(b: Builder, x: str, weights: np.ndarray, bias: Optional[np.ndarray],
            hint: str) -> str:
    y = b.op("MatMul", [x, b.const(weights.T, f"{hint}/W")], f"{hint}/matmul")
    return y if bias is None else b.op("Add", [y, b.const(bias, f"{hint}/b")], f"{hint}/add")


# ---------------------------------------------------------------- vector layers

def dense(b: Builder, layer: Layer, x: str, n_in: int, hint: str) -> tuple[str, int]:
    built = runtime.build_dense(layer, n_in)
    if built.weights is not None:
        x = _affine(b, x, built.weights, built.bias, hint)
    elif built.bias is not None:
        x = b.op("Add", [x, b.const(built.bias, f"{hint}/b")], f"{hint}/add")
    return activation(b, layer["activation"], x), built.n_out


def normalization(b: Builder, layer: Layer, x: str, n_in: int, hint: str) -> tuple[str, int]:
    built = runtime.build_normalization(layer, n_in)
    shifted = b.op("Add", [x, b.const(built.bias, f"{hint}/b")], f"{hint}/add")
    return b.op("Mul", [shifted, b.const(built.weights, f"{hint}/w")], f"{hint}/mul"), n_in


def highway(b: Builder, layer: Layer, x: str, n_in: int, hint: str) -> tuple[str, int]:
    built = runtime.build_highway(layer, n_in)
    carry = sigmoid(b, _affine(b, x, built.w_carry, built.b_carry, f"{hint}/carry"))
    transform = activation(b, layer["activation"], _affine(b, x, built.w_t, built.b_t,
                                                            f"{hint}/t"))
    kept = b.op("Mul", [b.op("Sub", [b.const(1.0), carry], f"{hint}/1-c"), x], f"{hint}/kept")
    return b.op("Add", [b.op("Mul", [carry, transform], f"{hint}/ct"), kept], hint), n_in


def maxout(b: Builder, layer: Layer, x: str, n_in: int, hint: str) -> tuple[str, int]:
    built = runtime.build_maxout(layer, n_in)
    units = [_affine(b, x, w, bias, f"{hint}/{k}")
             for k, (w, bias) in enumerate(zip(built.weights, built.biases))]
    return (units[0] if len(units) == 1 else b.op("Max", units, hint)), built.n_out


VECTOR_LAYERS: dict[str, Callable[[Builder, Layer, str, int, str], tuple[str, int]]] = {
    "dense": dense,
    "normalization": normalization,
    "highway": highway,
    "maxout": maxout,
}


# -------------------------------------------------------------- sequence layers

def _zeros(b: Builder, like: str, width: int, hint: str) -> str:
    """Zeros ``[N, width]`` for a batch ``like`` (``[N, ...]``)."""
    batch = b.op("Slice", [b.op("Shape", [like], f"{hint}/shape"), b.ints([0]), b.ints([1])],
                 f"{hint}/batch")
    shape = b.op("Concat", [batch, b.ints([width])], f"{hint}/zshape", axis=0)
    return b.op("ConstantOfShape", [shape], f"{hint}/zeros",
                value=numpy_helper.from_array(np.zeros(1, dtype=b.dtype)))


def _slice(b: Builder, x: str, start: int, end: int, axis: int, hint: str) -> str:
    return b.op("Slice", [x, b.ints([start]), b.ints([end]), b.ints([axis])], hint)


def recurrent(b: Builder, layer: Layer, x: str, n_in: int, hint: str
              ) -> tuple[SequenceResult, int]:
    """LSTM, GRU and SimpleRNN as a Scan over time, states starting from zero; the
    input part of every gate is one MatMul over all steps before the scan."""
    built = runtime.build_recurrent(layer, n_in)
    arch, n = layer["architecture"], built.n_out
    x_part = _affine(b, x, built.weights, built.bias, f"{hint}/x")
    h0 = _zeros(b, x, n, f"{hint}/h0")
    body = b.body()
    h_in, c_in, xt = body.name(f"{hint}/h_in"), body.name(f"{hint}/c_in"), body.name(f"{hint}/xt")
    inner = layer.get("inner_activation", "linear")
    act = layer["activation"]
    if arch == "lstm":
        gates = body.op("Add", [xt, body.op("MatMul", [h_in, body.const(
            built.recurrent.T, f"{hint}/U")], f"{hint}/hu")], f"{hint}/gates")
        i, f, o, g = (_slice(body, gates, k * n, (k + 1) * n, 1, f"{hint}/gate{k}")
                      for k in range(4))
        i, f, o = (activation(body, inner, v) for v in (i, f, o))
        c_out = body.op("Add", [body.op("Mul", [f, c_in], f"{hint}/fc"), body.op(
            "Mul", [i, activation(body, act, g)], f"{hint}/ig")], f"{hint}/c")
        h_out = body.op("Mul", [o, activation(body, act, c_out)], f"{hint}/h")
    elif arch == "gru":
        zr = body.op("Add", [_slice(body, xt, 0, 2 * n, 1, f"{hint}/xzr"), body.op(
            "MatMul", [h_in, body.const(built.recurrent.T, f"{hint}/Uzr")],
            f"{hint}/hzr")], f"{hint}/zr")
        z = activation(body, inner, _slice(body, zr, 0, n, 1, f"{hint}/zpre"))
        r = activation(body, inner, _slice(body, zr, n, 2 * n, 1, f"{hint}/rpre"))
        hh = activation(body, act, body.op("Add", [
            _slice(body, xt, 2 * n, 3 * n, 1, f"{hint}/xh"),
            body.op("MatMul", [body.op("Mul", [r, h_in], f"{hint}/rh"),
                               body.const(built.candidate.T, f"{hint}/Uh")], f"{hint}/rhu")],
            f"{hint}/hpre"))
        h_out = body.op("Add", [body.op("Mul", [z, h_in], f"{hint}/zh"), body.op(
            "Mul", [body.op("Sub", [body.const(1.0), z], f"{hint}/1-z"), hh], f"{hint}/zhh")],
            f"{hint}/h")
        c_out = body.op("Identity", [c_in], f"{hint}/c")
    else:
        h_out = activation(body, act, body.op("Add", [xt, body.op("MatMul", [
            h_in, body.const(built.recurrent.T, f"{hint}/U")], f"{hint}/hu")], f"{hint}/pre"))
        c_out = body.op("Identity", [c_in], f"{hint}/c")
    y_t = body.op("Identity", [h_out], f"{hint}/y")
    step = _subgraph(body, f"{hint}/step", [(h_in, ["N", n]), (c_in, ["N", n]),
                                            (xt, ["N", built.weights.shape[0]])],
                     [(h_out, ["N", n]), (c_out, ["N", n]), (y_t, ["N", n])])
    # onnxruntime dies (SIGFPE) running a Scan over zero steps: an empty sequence takes
    # the other branch, which gives what lwtnn gives: zero states and no steps
    scan = b.body()
    h_last, _, sequence = scan.op("Scan", [h0, h0, x_part], hint, n_outputs=3, body=step,
                                  num_scan_inputs=1, scan_input_axes=[1], scan_output_axes=[1])
    empty = b.body()
    no_steps = _slice(empty, x_part, 0, n, 2, f"{hint}/no_steps")
    h_zero = empty.op("Identity", [h0], f"{hint}/h_zero")
    outputs = [["N", n], ["N", None, n]]
    steps = b.op("Slice", [b.op("Shape", [x], f"{hint}/shape"), b.ints([1]), b.ints([2])],
                 f"{hint}/steps")
    h_last, sequence = b.op(
        "If", [b.op("Squeeze", [b.op("Equal", [steps, b.ints([0])], f"{hint}/is_empty")],
                    f"{hint}/empty")], f"{hint}/scan", n_outputs=2,
        then_branch=_subgraph(empty, f"{hint}/empty", [], list(zip([h_zero, no_steps], outputs))),
        else_branch=_subgraph(scan, f"{hint}/scan", [], list(zip([h_last, sequence], outputs))))
    return (sequence, h_last, None), n


def _subgraph(body: Builder, name: str, inputs: list[tuple[str, list]],
              outputs: list[tuple[str, list]]) -> onnx.GraphProto:
    """A Scan body or If branch from a sub-builder's nodes (constants stay outside)."""
    return helper.make_graph(body.nodes, name.replace("/", "_"),
                             [body.value_info(v, shape) for v, shape in inputs],
                             [body.value_info(v, shape) for v, shape in outputs])


def conv1d(b: Builder, layer: Layer, x: str, n_in: int, hint: str
           ) -> tuple[SequenceResult, int]:
    """Shifted slices of the (zero-padded) sequence times each kernel tap's matrix.

    lwtnn pads ``ceil(pad / 2)`` in front for 'same' and everything in front for
    'causal'; 'valid' sequences shorter than the receptive field are refused by lwtnn,
    so their events are flagged."""
    built = runtime.build_conv1d(layer, n_in)
    kernel = built.weights.shape[2]
    pad = (kernel - 1) * built.dilation
    refused = None
    if built.padding == "valid":
        steps = b.op("Slice", [b.op("Shape", [x], f"{hint}/shape"), b.ints([1]), b.ints([2])],
                     f"{hint}/steps")
        short = b.op("Less", [steps, b.ints([pad + 1])], f"{hint}/short")
        batch = b.op("Slice", [b.op("Shape", [x], f"{hint}/shape"), b.ints([0]), b.ints([1])],
                     f"{hint}/batch")
        refused = b.op("Expand", [b.op("Unsqueeze", [short, b.ints([0])], f"{hint}/short2"),
                                  b.op("Concat", [batch, b.ints([1])], f"{hint}/fshape",
                                       axis=0)], f"{hint}/refused")
        padded = x
    elif pad:
        front = pad if built.padding == "causal" else (pad + 1) // 2
        padded = b.op("Pad", [x, b.ints([0, front, 0, 0, pad - front, 0])], f"{hint}/pad")
    else:
        padded = x
    total = b.op("Add", [_tap(b, padded, built, 0, pad, hint), b.const(built.bias, f"{hint}/b")],
                 f"{hint}/bias")
    for k in range(1, kernel):
        total = b.op("Add", [total, _tap(b, padded, built, k, pad, hint)], f"{hint}/sum{k}")
    out = activation(b, layer["activation"], total, axis=1)
    return (out, _last_step(b, out, built.n_out, hint), refused), built.n_out


def _tap(b: Builder, padded: str, built: runtime.Conv1d, k: int, pad: int, hint: str) -> str:
    start = k * built.dilation
    end = start - pad if start < pad else np.iinfo(np.int64).max
    window = _slice(b, padded, start, end, 1, f"{hint}/tap{k}")
    return b.op("MatMul", [window, b.const(built.weights[:, :, k].T, f"{hint}/W{k}")],
                f"{hint}/tap{k}/matmul")


def _last_step(b: Builder, sequence: str, width: int, hint: str) -> str:
    """The last step ``[N, width]``, zeros for an empty sequence (as lwtnn gives)."""
    zeros = b.op("Unsqueeze", [_zeros(b, sequence, width, f"{hint}/last"), b.ints([1])],
                 f"{hint}/last/z")
    padded = b.op("Concat", [zeros, sequence], f"{hint}/last/cat", axis=1)
    return b.op("Gather", [padded, b.ints(-1)], f"{hint}/last", axis=1)


def embedding(b: Builder, layer: Layer, x: str, n_in: int, hint: str
              ) -> tuple[SequenceResult, int]:
    """Each table replaces one integer-valued variable by a column of the table; events
    with a value that is not an integer in range are refused, as lwtnn refuses them."""
    built = runtime.build_embedding(layer, n_in)
    refused = None
    width = n_in
    for k, (index, table) in enumerate(built.tables):
        if index != width - 1:
            raise Unexportable(
                f"embeds variable {index} of {width}: lwtnn's EmbeddingLayer then copies "
                "the later variables correctly only when a sequence has as many steps as "
                "variables, which no ONNX graph reproduces; only the last variable can be "
                "embedded")
        where = f"{hint}/{k}"
        values = _slice(b, x, index, index + 1, 2, f"{where}/values")
        valid = b.op("And", [
            b.op("Equal", [b.op("Floor", [values], f"{where}/floor"), values], f"{where}/int"),
            b.op("And", [b.op("GreaterOrEqual", [values, b.const(0.0)], f"{where}/ge0"),
                         b.op("Less", [values, b.const(float(table.shape[1]))], f"{where}/lt")],
                 f"{where}/range")], f"{where}/valid")
        safe = b.op("Cast", [b.op("Where", [valid, values, b.const(0.0)], f"{where}/safe")],
                    f"{where}/index", to=7)  # INT64
        rows = b.op("Gather", [b.const(table.T, f"{where}/table"),
                               b.op("Squeeze", [safe, b.ints([2])], f"{where}/idx")],
                    f"{where}/rows", axis=0)
        kept = _slice(b, x, 0, index, 2, f"{where}/kept")
        x = b.op("Concat", [kept, rows], f"{where}/out", axis=2)
        bad = b.op("Greater", [b.op("ReduceSum", [
            b.op("Cast", [b.op("Not", [valid], f"{where}/invalid")], f"{where}/count", to=11),
            b.ints([1])], f"{where}/n_bad", keepdims=0), b.const(np.zeros(1, np.float64),
                                                                 dtype=np.float64)],
            f"{where}/bad")
        refused = bad if refused is None else b.op("Or", [refused, bad], f"{where}/refused")
        width += table.shape[0] - 1
    return (x, _last_step(b, x, width, hint), refused), width


SEQUENCE_LAYERS: dict[str, Callable[[Builder, Layer, str, int, str],
                                    tuple[SequenceResult, int]]] = {
    "lstm": recurrent,
    "gru": recurrent,
    "simplernn": recurrent,
    "conv1d": conv1d,
    "embedding": embedding,
}
