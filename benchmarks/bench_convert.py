"""Conversion speed: a ~10-million-parameter MLP, ONNX -> lwtnn JSON file.

Compares, in the same run, (a) what the CLI does, ``onnx2lwtnn.convert(path)`` then
``onnx2lwtnn.write_json(doc, out)``, against (b) the least any converter must do:
``json.dumps`` of the same weights and biases as Python float lists, written to a
file. The project's target is (a) within 1.5x of (b). Each is repeated (best of
``--repeat``, interleaved a, b, a, b, ... so that drift on a shared machine hits both)
and every raw time is printed.

A per-stage breakdown of (a) follows, timed by calling the internal stages the way
``api.convert`` does. It is only a guide to where the time goes: the headline number
is the public API above.

    python benchmarks/bench_convert.py [--repeat 3] [--sizes 1000,2000,2000,2000,100]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx2lwtnn  # noqa: E402
from mlp import build_mlp  # noqa: E402  (beside this script)

TARGET = 1.5
DEFAULT_SIZES = (1000, 2000, 2000, 2000, 100)  # 10.2 M parameters


def full_conversion(model_path: Path, out: Path) -> None:
    """(a): what ``onnx2lwtnn model.onnx -o out.json`` does."""
    doc = onnx2lwtnn.convert(model_path)
    onnx2lwtnn.write_json(doc, out)


def baseline(arrays: list[np.ndarray], out: Path) -> None:
    """(b): the same numbers as float64 Python lists, json.dumps'ed into a file."""
    lists = [a.astype(np.float64).ravel().tolist() for a in arrays]
    text = json.dumps(lists)
    with open(out, "w") as stream:
        stream.write(text)


def timed(func, *args) -> float:
    gc.collect()
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def stage_breakdown(model_path: Path, out: Path) -> dict[str, float]:
    """One run of the stages of ``api.convert`` + ``write_json``, timed one by one."""
    from onnx2lwtnn import api, build_ir, check, emit, legalize, load, pipeline, rounding
    from onnx2lwtnn.defaults import GRAPH
    from onnx2lwtnn.interface import Interface
    from onnx2lwtnn.lwtnn import validate_network

    times: dict[str, float] = {}

    def stage(name, func, *args):
        start = time.perf_counter()
        result = func(*args)
        times[name] = time.perf_counter() - start
        return result

    gc.collect()
    proto = stage("load + check + shape inference", load.load_model, model_path)
    ir = stage("build IR", build_ir.build_ir, proto)
    stage("pipeline (passes)", pipeline.run_pipeline, ir)
    problems = stage("legalize", legalize.legalize, ir)
    assert not problems, problems
    stage("round folded constants", rounding.round_constants, ir)
    doc = stage("emit", emit.emit, ir, Interface(), GRAPH)
    stage("validate", validate_network, doc)
    stage("verify (float64 ONNX)", check.verify_conversion, proto, doc)
    text = stage("serialise (to_json)", api.to_json, doc)

    def write(path: Path, data: str) -> None:
        with open(path, "w") as stream:
            stream.write(data)

    stage("write file", write, out, text)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="layer widths, input first (default %(default)s)")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))

    print(f"python {platform.python_version()}, onnx {onnx.__version__}, numpy "
          f"{np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}")
    with tempfile.TemporaryDirectory(prefix="bench_convert_") as folder:
        folder = Path(folder)
        model, arrays = build_mlp(sizes)
        n_params = sum(a.size for a in arrays)
        model_path = folder / "mlp.onnx"
        onnx.save(model, str(model_path))
        del model
        print(f"MLP {' -> '.join(map(str, sizes))}: {n_params:,} parameters, "
              f"ONNX file {model_path.stat().st_size / 1e6:.1f} MB")

        out_a, out_b = folder / "converted.json", folder / "baseline.json"
        times_a, times_b = [], []
        for _ in range(args.repeat):
            times_a.append(timed(full_conversion, model_path, out_a))
            times_b.append(timed(baseline, arrays, out_b))
        print(f"output sizes: converted {out_a.stat().st_size / 1e6:.1f} MB, "
              f"baseline {out_b.stat().st_size / 1e6:.1f} MB")

        best_a, best_b = min(times_a), min(times_b)
        ratio = best_a / best_b
        print()
        print("(a) convert + write_json: " + ", ".join(f"{t:.3f}" for t in times_a)
              + f" s  -> best {best_a:.3f} s")
        print("(b) json.dumps baseline:  " + ", ".join(f"{t:.3f}" for t in times_b)
              + f" s  -> best {best_b:.3f} s")
        print(f"ratio (a)/(b) = {ratio:.2f}  (target <= {TARGET}: "
              f"{'MET' if ratio <= TARGET else 'NOT MET'})")

        print()
        print(f"per-stage breakdown of (a) (best of {args.repeat} per stage; a guide only):")
        runs = [stage_breakdown(model_path, out_a) for _ in range(args.repeat)]
        total = 0.0
        for name in runs[0]:
            best = min(run[name] for run in runs)
            total += best
            print(f"  {name:<32} {best:8.3f} s  {best / best_b:6.2f} x (b)")
        print(f"  {'sum of stages':<32} {total:8.3f} s  {total / best_b:6.2f} x (b)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
