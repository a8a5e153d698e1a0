"""Evaluation speed: onnx2lwtnn's numpy lwtnn runtime against onnxruntime.

100k events through a 65-input, 3x100-hidden (Relu), 1-output (Sigmoid) network, built
with onnx.helper and converted with ``onnx2lwtnn.convert``. In the same run it times
``onnx2lwtnn.lwtnn.load_network(doc).evaluate`` on all events at once and one
onnxruntime ``InferenceSession.run`` on all events (float32, CPUExecutionProvider,
default threads), best of ``--repeat`` each, each in a block of its own (interleaving
them lets one evict the other's caches). The first call of each and the
set-up (``load_network``, ``InferenceSession``) are timed and printed apart, not in the
events/s figures.

The project's target: the lwtnn runtime reaches at least half of onnxruntime's events
per second. The max |difference| of the two outputs is printed as a sanity check
(lwtnn computes in float64, onnxruntime here in float32).

Then an LSTM (12 steps of 5 features, 20k events): onnxruntime against lwtnn on equal
lengths (target >= 0.5x) and lwtnn on ragged lengths against equal ones (target >= 0.8x),
ragged events given as a padded array with lengths and as a list of arrays; the three
lwtnn forms take turns call by call (3 x ``--repeat`` calls each, best taken).

Last, ``run`` end to end, file to file: the SUSY-style refine fixture on 100k events,
from an .npz to an .npz and from a CSV to a CSV, through ``onnx2lwtnn.run`` and through
the command line (a fresh interpreter, so its start-up is included); events/s. And the
LSTM on 100k events from .npz files, ragged (padded, with ``<name>.lengths``) against
equal lengths, the two taking turns.

The lwtnn runtime uses as many threads as numpy's OpenBLAS would (``--threads`` here
to choose), as onnxruntime uses its default threads.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, where this machine sets them, slow numpy's BLAS:
to measure numpy at its best, unset both for this command alone (``env -u
OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_runtime.py``).

    python benchmarks/bench_runtime.py [--events 100000] [--repeat 5] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx2lwtnn  # noqa: E402
from onnx2lwtnn.lwtnn import load_network  # noqa: E402
from onnx2lwtnn.lwtnn.parallel import default_threads  # noqa: E402
from mlp import build_mlp  # noqa: E402  (beside this script)

TARGET = 0.5
SIZES = (65, 100, 100, 100, 1)


def best_of(times: list[float]) -> str:
    shown = ", ".join(f"{t:.4f}" for t in times[:9]) + (", ..." if len(times) > 9 else "")
    return f"{shown} s  -> best {min(times):.4f} s of {len(times)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the lwtnn runtime (default: numpy's BLAS's)")
    args = parser.parse_args()
    threads = args.threads

    print(f"python {platform.python_version()}, onnxruntime {ort.__version__}, numpy "
          f"{np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}; lwtnn runtime "
          f"threads: {threads or default_threads()}")
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
    network.evaluate({input_name: x}, threads=threads)
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
        lwt_out = network.evaluate({input_name: x}, threads=threads)[output_name]
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
    bench_lstm(args.repeat, threads)
    bench_run(args.events, threads)
    return 0


LSTM_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lstm_helper_layout0.onnx"
LSTM_EVENTS, LSTM_STEPS = 20_000, 12


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def bench_lstm(repeat: int, threads: int | None) -> None:
    """[N, 12, 5] -> LSTM(10) -> Gemm -> Sigmoid on 20k events: onnxruntime, then lwtnn
    on the same equal-length events, then on ragged lengths (1 to 23 steps, the same mean
    of 12) given both ways ``evaluate`` takes them: a padded array with each event's
    length (``lengths=``, what ``run`` reads from an .npz), and a list of one array per
    event (which costs a Python object per event to take in)."""
    import onnx
    model = onnx.load(str(LSTM_FIXTURE))
    doc = onnx2lwtnn.convert(model)
    network = load_network(doc)
    (name,) = network.sequence_names
    (output,) = network.output_labels
    rng = np.random.default_rng(2)
    x = rng.standard_normal((LSTM_EVENTS, LSTM_STEPS, 5)).astype(np.float32)
    lengths = rng.integers(1, 2 * LSTM_STEPS, size=LSTM_EVENTS)
    padded = rng.standard_normal((LSTM_EVENTS, lengths.max(), 5)).astype(np.float32)
    ragged = [padded[i, :n] for i, n in enumerate(lengths)]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (input_name,) = [i.name for i in session.get_inputs()]

    def lwtnn(sequence, **kwargs):
        return network.evaluate({}, {name: sequence}, threads=threads, **kwargs)[output]

    session.run(None, {input_name: x})
    lwtnn(x)
    ort_times = timed(lambda: session.run(None, {input_name: x}), repeat)
    # the three lwtnn forms take turns, call by call, so that a burst of load on a shared
    # machine slows all three alike instead of one block of them
    equal_times, padded_times, list_times = zip(*(
        (timed(lambda: lwtnn(x), 1)[0],
         timed(lambda: lwtnn(padded, lengths={name: lengths}), 1)[0],
         timed(lambda: lwtnn(ragged), 1)[0]) for _ in range(3 * repeat)))
    diff = float(np.max(np.abs(lwtnn(x) - session.run(None, {input_name: x})[0])))
    same = np.array_equal(lwtnn(ragged), lwtnn(padded, lengths={name: lengths}))
    rates = [LSTM_EVENTS / min(t) for t in (ort_times, equal_times, padded_times, list_times)]
    print(f"\nLSTM {LSTM_STEPS} steps x 5 features -> 10 -> 1, {LSTM_EVENTS:,} events "
          f"({LSTM_FIXTURE.name})")
    print(f"onnxruntime  session.run: {best_of(ort_times)}  = {rates[0]:,.0f} events/s")
    print(f"lwtnn evaluate, equal lengths: {best_of(equal_times)}  = {rates[1]:,.0f} events/s")
    print(f"lwtnn evaluate, ragged 1-23, padded + lengths: {best_of(padded_times)}  = "
          f"{rates[2]:,.0f} events/s")
    print(f"lwtnn evaluate, ragged 1-23, list of arrays:   {best_of(list_times)}  = "
          f"{rates[3]:,.0f} events/s")
    print(f"ratio lwtnn/onnxruntime = {rates[1] / rates[0]:.2f}  (target >= {TARGET}: "
          f"{'MET' if rates[1] / rates[0] >= TARGET else 'NOT MET'})")
    print(f"ratio ragged/equal, padded + lengths = {rates[2] / rates[1]:.2f}  (target >= 0.8: "
          f"{'MET' if rates[2] / rates[1] >= 0.8 else 'NOT MET'})")
    print(f"ratio ragged/equal, list of arrays = {rates[3] / rates[1]:.2f}  (the same "
          "evaluation, after taking in one Python array per event: see the README)")
    print(f"max |lwtnn - onnxruntime| = {diff:.3g}; ragged forms identical: {same}")


REFINE_FIXTURE = LSTM_FIXTURE.parent / "published_pytorch_refine.onnx"


def bench_run(n_events: int, threads: int | None) -> None:
    """``run`` from file to file on the refine fixture: .npz and CSV, Python and CLI."""
    document = onnx2lwtnn.convert(str(REFINE_FIXTURE))
    (node, variables), = load_network(document).input_variables.items()
    x = np.random.default_rng(3).standard_normal((n_events, len(variables)))
    thread_option = [] if threads is None else ["--threads", str(threads)]
    print(f"\nrun, file to file: {REFINE_FIXTURE.name}, {n_events:,} events "
          f"({len(variables)} variables)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        onnx2lwtnn.write_json(document, folder / "net.json")
        np.savez(folder / "events.npz", **{node: x})
        header = ",".join(variables)
        np.savetxt(folder / "events.csv", x, delimiter=",", header=header, comments="")
        for kind in ("npz", "csv"):
            source, target = folder / f"events.{kind}", folder / f"out.{kind}"
            python = timed(lambda: onnx2lwtnn.run(folder / "net.json", source, target,
                                                  threads=threads), 3)
            cli = timed(lambda: subprocess.run(
                [sys.executable, "-m", "onnx2lwtnn", "run", str(folder / "net.json"),
                 "--inputs", str(source), "-o", str(target), "-q", *thread_option],
                check=True, cwd=Path(__file__).resolve().parents[1]), 3)
            print(f".{kind} -> .{kind}: onnx2lwtnn.run {best_of(python)} = "
                  f"{n_events / min(python):,.0f} events/s; command line {best_of(cli)} = "
                  f"{n_events / min(cli):,.0f} events/s")
        bench_run_sequences(folder, n_events, threads)


def bench_run_sequences(folder: Path, n_events: int, threads: int | None) -> None:
    """``run`` on the LSTM fixture from .npz files: ragged lengths against equal ones."""
    document = onnx2lwtnn.convert(str(LSTM_FIXTURE))
    (name,) = load_network(document).sequence_names
    onnx2lwtnn.write_json(document, folder / "lstm.json")
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 2 * LSTM_STEPS, size=n_events)
    np.savez(folder / "equal.npz", **{name: rng.standard_normal(
        (n_events, LSTM_STEPS, 5)).astype(np.float32)})
    np.savez(folder / "ragged.npz", **{name: rng.standard_normal(
        (n_events, lengths.max(), 5)).astype(np.float32), f"{name}.lengths": lengths})

    def run(kind: str) -> float:
        return timed(lambda: onnx2lwtnn.run(folder / "lstm.json", folder / f"{kind}.npz",
                                            folder / "out.npz", threads=threads), 1)[0]
    equal, ragged = zip(*((run("equal"), run("ragged")) for _ in range(5)))
    print(f"LSTM .npz -> .npz, {n_events:,} events: equal lengths {best_of(equal)} = "
          f"{n_events / min(equal):,.0f} events/s; ragged 1-23 {best_of(ragged)} = "
          f"{n_events / min(ragged):,.0f} events/s; ragged/equal = "
          f"{min(equal) / min(ragged):.2f}")


if __name__ == "__main__":
    sys.exit(main())
