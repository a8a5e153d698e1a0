"""Hypothesis strategies: random ONNX models built with ``onnx.helper``, and random damage
to valid models.

``feed_forward_models()`` draws valid feed-forward networks of the kinds the converter
promises to convert exactly: 1 or 2 inputs, 1-4 blocks, widths 1-16, every dense form
(Gemm with transA through a Transpose, transB 0/1 written or left out, alpha, beta, each
bias shape or none; MatMul alone or with Add in either order), every activation lwtnn
has or that is rewritten exactly (Relu, Sigmoid, Tanh, LeakyRelu, Elu, Abs, Softmax,
HardSigmoid, Selu, swish as x * Sigmoid(x)), Concat / Add / Sub merges and feature
Slices, opsets 9, 11, 13 and 17, and a symbolic, unknown or fixed batch dimension.

``damaged_bytes()`` and ``without_a_node()`` break valid models: byte flips, deletions,
insertions and truncations of the serialised file, and a node removed from the graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

OPSETS = (9, 11, 13, 17)
ACTIVATIONS = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Abs", "Softmax",
               "HardSigmoid", "Selu", "swish")
DENSE_FORMS = ("gemm", "gemm_transa", "matmul", "matmul_add", "add_matmul")
BATCHES: tuple[Union[str, int, None], ...] = ("N", None, 1, 4)
INT64_MAX = np.iinfo(np.int64).max
FLOAT = TensorProto.FLOAT

widths = st.integers(1, 16)


def float32s(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats a float32 holds exactly, as ONNX float attributes are stored."""
    return st.floats(low, high).map(lambda v: float(np.float32(v)))


scales = float32s(0.25, 2.0) | float32s(-2.0, -0.25)  # Gemm alpha, beta: away from 0


@dataclass
class _Builder:
    """One graph under construction: tensors with their widths, and the protos."""

    opset: int
    batch: Union[str, int, None]
    seed: int
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    widths: dict = field(default_factory=dict)
    consumed: set = field(default_factory=set)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def name(self, stem: str) -> str:
        return f"{stem}_{len(self.nodes) + len(self.initializers) + len(self.inputs)}"

    def input(self, width: int) -> str:
        name = self.name("x")
        self.inputs.append(helper.make_tensor_value_info(name, FLOAT, [self.batch, width]))
        self.widths[name] = width
        return name

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("w")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(self, *shape: int) -> str:
        return self.const(self.rng.normal(size=shape) * 0.5)

    def node(self, op: str, inputs: list, width: int, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{out}/{op}", **attrs))
        self.consumed.update(inputs)
        self.widths[out] = width
        return out

    def model(self, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "random", self.inputs,
            [helper.make_tensor_value_info(o, FLOAT, [self.batch, self.widths[o]])
             for o in outputs], self.initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(graph, opset_imports=opsets,
                                 ir_version=helper.find_min_ir_version_for(opsets),
                                 producer_name="onnx2lwtnn-hypothesis")


def _feature_axes(opset: int) -> list[int]:
    """How an op may name the feature axis: negative axes exist from opset 11 on."""
    return [1, -1] if opset >= 11 else [1]


@st.composite
def _dense(draw, b: _Builder, x: str) -> str:
    """A dense layer in one of the forms exporters write."""
    n_in, n_out = b.widths[x], draw(widths)
    form = draw(st.sampled_from(DENSE_FORMS))
    if form.startswith("matmul") or form == "add_matmul":
        mm = b.node("MatMul", [x, b.weight(n_in, n_out)], n_out)
        if form == "matmul":
            return mm
        bias = b.weight(*draw(st.sampled_from([(n_out,), (1, n_out)])))
        return b.node("Add", [mm, bias] if form == "matmul_add" else [bias, mm], n_out)
    attrs = {}
    trans_b = draw(st.sampled_from([0, 1, None]))  # None: left out, meaning 0
    if trans_b is not None:
        attrs["transB"] = trans_b
    weight = b.weight(*((n_out, n_in) if trans_b else (n_in, n_out)))
    if draw(st.booleans()):
        attrs["alpha"] = draw(scales)
    if draw(st.booleans()):
        attrs["beta"] = draw(scales)
    # Gemm's C is optional from opset 11 on.
    bias_forms = ["vector", "row", "one", "scalar"] + (["none"] if b.opset >= 11 else [])
    bias = draw(st.sampled_from(bias_forms))
    shape = {"vector": (n_out,), "row": (1, n_out), "one": (1,), "scalar": (), "none": None}
    operands = [x, weight] + ([] if bias == "none" else [b.weight(*shape[bias])])
    if form == "gemm_transa":
        operands[0] = b.node("Transpose", [x], n_in, perm=[1, 0])
        attrs["transA"] = 1
    return b.node("Gemm", operands, n_out, **attrs)


@st.composite
def _activation(draw, b: _Builder, x: str) -> str:
    kind = draw(st.sampled_from(ACTIVATIONS))
    width = b.widths[x]
    attrs = {}
    if kind == "swish":
        sig = b.node("Sigmoid", [x], width)
        return b.node("Mul", [x, sig] if draw(st.booleans()) else [sig, x], width)
    if kind in ("LeakyRelu", "Elu") and draw(st.booleans()):
        attrs["alpha"] = draw(float32s(0.01, 2.0))
    if kind == "HardSigmoid" and draw(st.booleans()):
        attrs["alpha"] = draw(float32s(0.05, 1.0))
        attrs["beta"] = draw(float32s(0.0, 1.0))
    if kind == "Selu" and draw(st.booleans()):
        attrs["alpha"] = draw(float32s(0.5, 2.0))
        attrs["gamma"] = draw(float32s(0.5, 2.0))
    if kind == "Softmax":
        axis = draw(st.sampled_from([None, *_feature_axes(b.opset)]))
        if axis is not None:
            attrs["axis"] = axis
    return b.node(kind, [x], width, **attrs)


@st.composite
def _slice(draw, b: _Builder, x: str) -> str:
    """A Slice of the feature axis (and maybe the whole batch axis), non-empty."""
    width = b.widths[x]
    start = draw(st.integers(-width, width - 1))
    end = draw(st.sampled_from([width, INT64_MAX, -1, draw(st.integers(-width, width))]))
    step = draw(st.sampled_from([1, 1, 2, -1])) if b.opset >= 10 else 1
    if step < 0:  # backwards, to the start (both spellings) or to index 0 excluded
        start = draw(st.integers(0, width - 1))
        end = draw(st.sampled_from([-INT64_MAX, -1 - width, 0]))
    kept = np.arange(width)[slice(start, end, step)]
    if kept.size == 0:
        start, end, step = 0, width, 1
        kept = np.arange(width)
    axis = draw(st.sampled_from(_feature_axes(b.opset)))
    starts, ends, axes, steps = [start], [end], [axis], [step]
    if draw(st.booleans()):  # the whole batch axis too, as torch writes x[:, a:b]
        starts, ends, axes, steps = [0, start], [INT64_MAX, end], [0, axis], [1, step]
    if b.opset < 10:
        return b.node("Slice", [x], kept.size, starts=starts, ends=ends, axes=axes)
    operands = [x, b.const(starts, np.int64), b.const(ends, np.int64)]
    explicit_steps = steps != [1] * len(steps) or draw(st.booleans())
    if explicit_steps or axes != list(range(len(axes))) or draw(st.booleans()):
        operands.append(b.const(axes, np.int64))
    if explicit_steps:
        operands.append(b.const(steps, np.int64))
    return b.node("Slice", operands, kept.size)


@st.composite
def _merge(draw, b: _Builder, x: str, y: str) -> str:
    kind = draw(st.sampled_from(["Concat", "Add", "Sub"]))
    if kind == "Concat":
        return b.node("Concat", [x, y], b.widths[x] + b.widths[y],
                      axis=draw(st.sampled_from(_feature_axes(b.opset))))
    if b.widths[x] != b.widths[y]:  # a dense layer brings y to x's width
        n_in, n_out = b.widths[y], b.widths[x]
        y = b.node("Gemm", [y, b.weight(n_out, n_in), b.weight(n_out)], n_out, transB=1)
    return b.node(kind, [x, y], b.widths[x])


@st.composite
def feed_forward_models(draw, max_depth: int = 4) -> onnx.ModelProto:
    """A valid feed-forward ONNX model the converter must convert exactly."""
    b = _Builder(opset=draw(st.sampled_from(OPSETS)), batch=draw(st.sampled_from(BATCHES)),
                 seed=draw(st.integers(0, 2**32 - 1)))
    tensors = [b.input(draw(widths)) for _ in range(draw(st.integers(1, 2)))]
    for _ in range(draw(st.integers(1, max_depth))):
        block = draw(st.sampled_from(["dense", "dense", "activation", "slice", "merge"]))
        x = draw(st.sampled_from(tensors))
        if block == "merge":
            y = draw(st.sampled_from(tensors))
            out = draw(_merge(b, x, y))
        elif block == "slice":
            out = draw(_slice(b, x))
        elif block == "activation":
            out = draw(_activation(b, x))
        else:
            out = draw(_dense(b, x))
            if draw(st.booleans()):
                out = draw(_activation(b, out))
        tensors.append(out)
    for value in b.inputs:  # every input feeds something
        if value.name not in b.consumed:
            tensors.append(draw(_dense(b, value.name)))
    computed = {n.output[0] for n in b.nodes}
    outputs = [t for t in tensors if t in computed and t not in b.consumed]
    return b.model(outputs)


# -- damage --------------------------------------------------------------------------
@st.composite
def damaged_bytes(draw, data: bytes) -> bytes:
    """``data`` after 1-8 random byte flips, deletions, insertions or a truncation."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if not buffer:
            break
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "overwrite"]))
        at = draw(st.integers(0, len(buffer) - 1))
        if kind == "flip":
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            buffer[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del buffer[at:at + draw(st.integers(1, 16))]
        elif kind == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del buffer[at:]
    return bytes(buffer)


@st.composite
def without_a_node(draw, model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with one node removed (optionally rewiring its consumers to
    the removed node's first input, as a careless graph surgery would)."""
    damaged = onnx.ModelProto()
    damaged.CopyFrom(model)
    nodes = damaged.graph.node
    if not nodes:
        return damaged
    index = draw(st.integers(0, len(nodes) - 1))
    removed = nodes[index]
    rewire: Optional[str] = removed.input[0] if removed.input and draw(st.booleans()) else None
    outputs = set(removed.output)
    del nodes[index]
    if rewire is not None:
        for node in nodes:
            for i, name in enumerate(node.input):
                if name in outputs:
                    node.input[i] = rewire
        for value in damaged.graph.output:
            if value.name in outputs:
                value.name = rewire
    return damaged
