"""The networks the benchmarks time: a Gemm MLP built with onnx.helper and seeded numpy."""
from __future__ import annotations

from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_mlp(sizes: tuple[int, ...], seed: int = 0, output_activation: Optional[str] = None
              ) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """Gemm (transB=1, weight [out, in]) with Relu between layers, the last layer linear or
    followed by ``output_activation``; symbolic batch, input "x", output "y". Returns the
    model and its initializers as numpy arrays."""
    rng = np.random.default_rng(seed)
    nodes, inits, arrays = [], [], []
    previous = "x"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(n_out)).astype(np.float32)
        arrays += [w, b]
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(b, f"B{k}")]
        last = k == len(sizes) - 2
        activation = output_activation if last else "Relu"
        gemm_out = "y" if last and activation is None else f"g{k}"
        nodes.append(helper.make_node("Gemm", [previous, f"W{k}", f"B{k}"], [gemm_out],
                                      name=f"dense{k}", transB=1))
        if activation is not None:
            previous = "y" if last else f"r{k}"
            nodes.append(helper.make_node(activation, [gemm_out], [previous], name=f"act{k}"))
    graph = helper.make_graph(
        nodes, "bench_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", sizes[-1]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model, arrays
