"""A small ONNX graph builder: unique names, typed constants, one call per node.

Everything the exporter writes goes through ``Builder``, so the float type (float64 by
default, float32 with ``--float32``) is decided in one place: every constant is stored
in it and every graph input and output is declared with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass(frozen=True)
class Boundary:
    """What the graph does at its inputs and outputs besides lwtnn's arithmetic: the
    values lwtnn's NanReplacer replaces by defaults (``replace``: "nan", or "all" for
    +-inf too) and the element type of inputs and outputs (``io_type``: None for the
    graph's own float type; ``np.float32`` casts there, computing inside as before)."""

    replace: str = "nan"
    io_type: Optional[type] = None


class Builder:
    """Nodes and initializers of one graph (or of a Scan body, sharing the names)."""

    def __init__(self, dtype: np.dtype, names: Optional[set[str]] = None,
                 constants: Optional[dict] = None, boundary: Boundary = Boundary()):
        self.dtype = np.dtype(dtype)
        self.boundary = boundary
        self.elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names = names if names is not None else set()
        self._constants = constants if constants is not None else {}
        self._suffixes: dict[str, int] = {}  # hint -> the last suffix it was given

    def name(self, hint: str) -> str:
        """A fresh value name based on ``hint`` (``hint``, ``hint_2``, ...; each hint
        remembers its last suffix, so naming never rescans: linear in the graph)."""
        candidate, k = hint, self._suffixes.get(hint, 1)
        if k > 1:
            candidate = f"{hint}_{k}"
        while candidate in self._names:
            k += 1
            candidate = f"{hint}_{k}"
        self._suffixes[hint] = k
        self._names.add(candidate)
        return candidate

    def reserve(self, name: str) -> str:
        """Claim a name given by the document (an input or output name) as it is."""
        self._names.add(name)
        return name

    def const(self, values: Any, hint: str = "c", dtype: Optional[np.dtype] = None) -> str:
        """An initializer holding ``values`` in the graph's float type (or ``dtype``)."""
        array = np.asarray(values, dtype=dtype or self.dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self.name(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def ints(self, values: Sequence[int], hint: str = "i") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint, np.dtype(np.int64))

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", n_outputs: int = 1,
           **attrs: Any) -> Any:
        """Add one node; returns its output name (or names, for ``n_outputs`` > 1)."""
        outputs = [self.name(f"{hint or op_type.lower()}") for _ in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs,
                                           name=self.name(f"{hint or op_type}/node"), **attrs))
        return outputs[0] if n_outputs == 1 else outputs

    def body(self) -> "Builder":
        """A builder for a subgraph (a Scan body): its own nodes, shared names and
        constants, which it reads from the outer graph by name."""
        sub = Builder(self.dtype, self._names, self._constants, self.boundary)
        sub.initializers = self.initializers  # constants land in the outer graph
        sub._suffixes = self._suffixes
        return sub

    def value_info(self, name: str, shape: Sequence[Any]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, self.elem_type, list(shape))


BOOL = TensorProto.BOOL
INT64 = TensorProto.INT64
