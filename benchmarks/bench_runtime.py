"""Evaluation speed: onnx2lwtnn's numpy lwtnn runtime against onnxruntime.

100k events through a 65-input, 3x100-hidden (Relu), 1-output (Sigmoid) network, built
with onnx.helper and converted with ``onnx2lwtnn.convert``. In the same run it times
``onnx2lwtnn.lwtnn.load_network(doc).evaluate`` on all events at once and one
onnxruntime ``InferenceSession.run`` on all events (float32, CPUExecutionProvider,
default threads), best of ``--repeat`` each, interleaved. The first call of each and the
set-up (``load_network``, ``InferenceSession``) are timed and printed apart, not in the
events/s figures.

The project's target: the lwtnn runtime reaches at least half of onnxruntime's events
per second. The max |difference| of the two outputs is printed as a sanity check
(lwtnn computes in float64, onnxruntime here in float32).

    python benchmarks/bench_runtime.py [--events 100000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx2lwtnn  # noqa: E402
from onnx2lwtnn.lwtnn import load_network  # noqa: E402
from mlp import build_mlp  # noqa: E402  (beside this script)

TARGET = 0.5
SIZES = (65, 100, 100, 100, 1)


def best_of(times: list[float]) -> str:
    return ", ".join(f"{t:.4f}" for t in times) + f" s  -> best {min(times):.4f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, onnxruntime {ort.__version__}, numpy "
          f"{np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}")
    model, _ = build_mlp(SIZES, output_activation="Sigmoid")
    doc = onnx2lwtnn.convert(model)
    x = np.random.default_rng(1).standard_normal((args.events, SIZES[0])).astype(np.float32)
    print(f"network {' -> '.join(map(str, SIZES))} (Relu, Sigmoid out), "
          f"{args.events:,} events")

    start = time.perf_counter()
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    ort_setup = time.perf_counter() - start
    start = time.perf_counter()
    network = load_network(doc)
    lwt_setup = time.perf_counter() - start
    (input_name,) = network.input_names
    (output_name,) = network.output_labels

    # the first call of each is timed apart: it pays for first-touch memory (lwtnn) and
    # thread-pool start-up (onnxruntime), which the steady-state figures leave out
    start = time.perf_counter()
    session.run(None, {"x": x})
    ort_first = time.perf_counter() - start
    start = time.perf_counter()
    network.evaluate({input_name: x})
    lwt_first = time.perf_counter() - start

    # Each runtime is timed in a block of its own: interleaving them lets one evict the
    # other's caches, which slowed onnxruntime about 2x and flattered the ratio.
    ort_times, lwt_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        (ort_out,) = session.run(None, {"x": x})
        ort_times.append(time.perf_counter() - start)
    for _ in range(args.repeat):
        start = time.perf_counter()
        lwt_out = network.evaluate({input_name: x})[output_name]
        lwt_times.append(time.perf_counter() - start)

    ort_rate = args.events / min(ort_times)
    lwt_rate = args.events / min(lwt_times)
    ratio = lwt_rate / ort_rate
    diff = float(np.max(np.abs(lwt_out - ort_out.astype(np.float64))))
    print(f"setup: InferenceSession {ort_setup:.4f} s, load_network {lwt_setup:.4f} s")
    print(f"first call (not in the figures below): session.run {ort_first:.4f} s, "
          f"evaluate {lwt_first:.4f} s")
    print(f"onnxruntime  session.run: {best_of(ort_times)}  = {ort_rate:,.0f} events/s")
    print(f"onnx2lwtnn.lwtnn evaluate: {best_of(lwt_times)}  = {lwt_rate:,.0f} events/s")
    print(f"ratio lwtnn/onnxruntime events/s = {ratio:.2f}  (target >= {TARGET}: "
          f"{'MET' if ratio >= TARGET else 'NOT MET'})")
    print(f"max |lwtnn - onnxruntime| = {diff:.3g}  (outputs in (0, 1); lwtnn float64, "
          "onnxruntime float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
