"""What the ONNX model itself costs per event: the yardstick for ``cost.network_cost``.

Counted as ``cost`` counts lwtnn layers, so the two compare: the entries of each weight
matrix a node multiplies by (Gemm, MatMul, Conv per output step, LSTM/GRU/RNN ``W`` and
``R`` per time step) and one per element-wise multiplication by a constant
(BatchNormalization, Mul, Div). Each node is counted once: a runtime that evaluates the
model once computes every node once, whatever reads it.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Optional, Union

import networkx as nx
import onnx

from .build_ir import build_ir
from .ir import IRGraph, Port
from .load import load_model, prepare_model


def onnx_multiply_adds(model: Union[str, os.PathLike, onnx.ModelProto]
                       ) -> dict[Optional[str], int]:
    """Per ONNX output, the multiply-adds of the nodes it depends on; key ``None`` holds
    the whole model's (every node once). ``model`` is a path or a ModelProto."""
    proto = prepare_model(model) if isinstance(model, onnx.ModelProto) else load_model(model)
    return ir_multiply_adds(build_ir(proto))


def ir_multiply_adds(ir: IRGraph) -> dict[Optional[str], int]:
    """``onnx_multiply_adds`` of an IR fresh from ``build_ir``, before any pass."""
    own = {node: _COUNTERS.get(ir.op(node), _nothing)(ir, node) for node in ir.nodes()}
    per_output: dict[Optional[str], int] = {
        ir.attrs(out)["name"]: sum(own[n] for n in nx.ancestors(ir.g, out))
        for out in ir.outputs}
    per_output[None] = sum(own.values())
    return per_output


def _size(ir: IRGraph, port: Optional[Port]) -> int:
    """Number of elements of a tensor, 0 when its shape is not fully known."""
    if port is None:
        return 0
    value = ir.const_value(port)
    shape = value.shape if value is not None else ir.shape(port)
    if shape is None or not all(isinstance(d, int) for d in shape):
        return 0
    return math.prod(shape)


def _last_dim(ir: IRGraph, port: Optional[Port]) -> int:
    shape = None if port is None else ir.shape(port)
    return shape[-1] if shape and isinstance(shape[-1], int) else 0


def _weight(slot: int) -> Callable[[IRGraph, str], int]:
    return lambda ir, node: _size(ir, ir.operand(node, slot))


def _matmul(ir: IRGraph, node: str) -> int:
    """[.., K] x [K, N]: K * N per row (a batched matrix operand counts whole)."""
    return _size(ir, ir.operand(node, 1)) or (_last_dim(ir, ir.operand(node, 0))
                                              * _last_dim(ir, Port(node)))


def _recurrent(ir: IRGraph, node: str) -> int:
    return _size(ir, ir.operand(node, 1)) + _size(ir, ir.operand(node, 2))


def _loop(ir: IRGraph, node: str) -> int:
    """A Loop's body, once (one step of a recurrent cell written as a Loop)."""
    body = ir[node].get("subgraphs", {}).get("body")
    return 0 if body is None else sum(_COUNTERS.get(body.op(n), _nothing)(body, n)
                                      for n in body.nodes())


def _elementwise(ir: IRGraph, node: str) -> int:
    return _last_dim(ir, Port(node))


def _nothing(ir: IRGraph, node: str) -> int:
    return 0


_COUNTERS: dict[str, Callable[[IRGraph, str], int]] = {
    "Gemm": _weight(1), "MatMul": _matmul, "Conv": _weight(1),
    "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent, "Loop": _loop,
    "BatchNormalization": _elementwise, "Mul": _elementwise, "Div": _elementwise,
}
