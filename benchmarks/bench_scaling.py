"""Conversion time against graph size: long chains and wide Sums must stay near-linear.

Two families of models, built here with ``onnx.helper``:

- **chain**: n nodes, Gemm (4x4) and Tanh alternating, one after another;
- **sum**: one ``Sum`` reading the same Relu output n times.

Each model is converted with ``onnx2lwtnn.convert`` (best of ``--repeat``) and the time
is printed with its cost per node and its growth against n log n from the smallest size:
a value near 1 (or below) means n log n or better; quadratic growth shows as a ratio
that keeps rising with n. Compare ratios, not seconds: the machines are shared.

    python benchmarks/bench_scaling.py [--chain 1000,10000,100000] [--sum 1000,10000,50000]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx2lwtnn  # noqa: E402

WIDTH = 4


def chain_model(n: int) -> onnx.ModelProto:
    nodes, weights, previous = [], [], "x"
    for i in range(n):
        out = f"t{i}"
        if i % 2 == 0:
            weights.append(numpy_helper.from_array(np.full((WIDTH, WIDTH), 0.1, np.float32),
                                                   f"w{i}"))
            nodes.append(helper.make_node("Gemm", [previous, f"w{i}"], [out], name=f"gemm{i}",
                                          transB=1))
        else:
            nodes.append(helper.make_node("Tanh", [previous], [out], name=f"tanh{i}"))
        previous = out
    return _model(nodes, previous, weights)


def sum_model(n: int) -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Sum", ["r"] * n, ["y"], name="sum")]
    return _model(nodes, "y", [])


def _model(nodes, output: str, weights) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "scaling", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", WIDTH])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", WIDTH])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def timed(path: Path, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        onnx2lwtnn.convert(path)
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, build, sizes: list[int], repeat: int, folder: Path) -> None:
    print(f"\n{name}: n, seconds, microseconds per node, growth / (n log n growth)")
    first = None
    for n in sizes:
        path = folder / f"{name}_{n}.onnx"
        onnx.save(build(n), str(path))
        seconds = timed(path, repeat)
        first = first or (n, seconds)
        nlogn = (n * math.log(n)) / (first[0] * math.log(first[0]))
        print(f"  {n:>7}  {seconds:9.2f}  {1e6 * seconds / n:8.1f}  "
              f"{(seconds / first[1]) / nlogn:5.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chain", default="1000,10000,100000")
    parser.add_argument("--sum", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    onnx2lwtnn.convert  # import the converter before timing
    with tempfile.TemporaryDirectory() as folder:
        for name, build, sizes in (("chain", chain_model, args.chain),
                                   ("sum", sum_model, args.sum)):
            if sizes:
                report(name, build, [int(n) for n in sizes.split(",")], args.repeat,
                       Path(folder))


if __name__ == "__main__":
    main()
