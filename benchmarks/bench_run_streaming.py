"""``run`` on files larger than memory should hold: a multi-GB CSV and a 2-million-event
ROOT file, streamed, in bounded memory, matching one in-memory evaluation.

A 67-variable b-tagger-like sequential network (seeded, like the CMS DeepFlavour file's
shape: 67 inputs with defaults -> 100 -> 100 -> 100 -> 5, softmax) is written to a
temporary folder with:

- a CSV of ``--gigabytes`` GB (default 3), written a block of 200,000 events at a time
  (four seeded blocks taking turns: never all in memory), 5% of its cells empty
  (missing: the defaults replace them);
- a ROOT file of ``--root-events`` events (default 2,000,000) in a TTree, if uproot is
  installed.

Each is run by the command line in a child process (``run NET --inputs FILE -o
out.npz`` / ``-o friend.root``), whose peak resident memory (VmHWM) and wall time are
printed with its events/s. The outputs are then compared, block by block, with the
network evaluated in memory on the same regenerated events (``Network.evaluate``), and
the in-memory events/s of one block is printed beside the streamed figure: their ratio
is what reading and writing files costs. **Target (issue 21): resident memory under
500 MB for both, outputs equal to the in-memory evaluation (to 1e-12).**

    python benchmarks/bench_run_streaming.py [--gigabytes 3] [--root-events 2000000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from onnx2lwtnn.runner import read_network  # noqa: E402

N_VARIABLES, BLOCK, DISTINCT = 67, 200_000, 4
CHILD = """
import sys
from onnx2lwtnn.cli import main
code = main(sys.argv[1:])
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def network() -> dict:
    rng = np.random.default_rng(0)
    sizes = [N_VARIABLES, 100, 100, 100, 5]
    layers = [{"architecture": "dense", "activation": "softmax" if k == 3 else "rectified",
               "weights": (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)).ravel().tolist(),
               "bias": rng.normal(0, 0.1, n_out).tolist()}
              for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))]
    names = [f"var{i}" for i in range(N_VARIABLES)]
    return {"inputs": [{"name": n, "offset": -1.0, "scale": 0.5} for n in names],
            "defaults": {n: 0.0 for n in names}, "layers": layers,
            "outputs": ["probb", "probbb", "probc", "probudsg", "probcc"]}


def block(k: int, rows: int) -> np.ndarray:
    """Events of block k (seeded: the same every time it is made; DISTINCT blocks take
    turns, so the file is written at disk speed), 5% missing."""
    rng = np.random.default_rng(1000 + k % DISTINCT)
    x = rng.normal(1.0, 2.0, size=(rows, N_VARIABLES)).round(5)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def write_csv(path: Path, gigabytes: float) -> int:
    """Blocks of rows until the file reaches the size; returns the event count."""
    n_events, target = 0, gigabytes * 1e9
    with open(path, "w") as stream:
        stream.write(",".join(f"var{i}" for i in range(N_VARIABLES)) + "\n")
        texts = ["\n".join(",".join("" if v != v else repr(v) for v in row)
                           for row in block(k, BLOCK).tolist()) + "\n" for k in range(DISTINCT)]
        k = 0
        while stream.tell() < target:
            stream.write(texts[k % DISTINCT])
            n_events += BLOCK
            k += 1
    return n_events


def write_root(path: Path, n_events: int) -> bool:
    try:
        import uproot
    except ImportError:
        return False
    with uproot.recreate(path) as file:
        file.mktree("Events", {f"var{i}": np.float64 for i in range(N_VARIABLES)})
        for k, start in enumerate(range(0, n_events, BLOCK)):
            x = block(k, min(BLOCK, n_events - start))
            file["Events"].extend({f"var{i}": x[:, i] for i in range(N_VARIABLES)})
    return True


def streamed(args: list[str]) -> tuple[float, int]:
    """(seconds, peak resident bytes) of the command line in a child process."""
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                           cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - start
    if child.returncode:
        sys.exit(child.stderr)
    return seconds, int(child.stdout.split()[-1]) * 1024


def compare(outputs, n_events: int, net) -> tuple[float, float]:
    """Max relative difference from the in-memory evaluation, block by block, and the
    in-memory events/s of one block."""
    worst, rate = 0.0, 0.0
    for k, start in enumerate(range(0, n_events, BLOCK)):
        x = block(k, min(BLOCK, n_events - start))
        began = time.perf_counter()
        want = net.evaluate({"": x}, replace_nan=True)["outputs"]
        rate = rate or len(x) / (time.perf_counter() - began)
        got = outputs(start, start + len(x))
        worst = max(worst, float(np.max(np.abs(got - want) / np.maximum(1, np.abs(want)))))
    return worst, rate


def report(what: str, n_events: int, size: int, seconds: float, resident: int,
           worst: float, in_memory: float) -> None:
    rate = n_events / seconds
    print(f"{what}: {n_events:,} events, {size / 1e9:.2f} GB: {seconds:.1f} s, "
          f"{rate:,.0f} events/s streamed ({rate / in_memory:.2f} x the in-memory "
          f"{in_memory:,.0f} events/s of one block), peak resident {resident >> 20} MB "
          f"(target < 500 MB: {'met' if resident < 500 << 20 else 'MISSED'}), max relative "
          f"difference from the in-memory evaluation {worst:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=3.0)
    parser.add_argument("--root-events", type=int, default=2_000_000)
    options = parser.parse_args()
    document = network()
    net = read_network(document)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "net.json").write_text(json.dumps(document))
        began = time.perf_counter()
        n_events = write_csv(folder / "events.csv", options.gigabytes)
        print(f"wrote a {(folder / 'events.csv').stat().st_size / 1e9:.2f} GB CSV of "
              f"{n_events:,} events in {time.perf_counter() - began:.0f} s")
        seconds, resident = streamed(["run", str(folder / "net.json"), "--inputs",
                                      str(folder / "events.csv"), "-o", str(folder / "o.npz")])
        with np.load(folder / "o.npz", mmap_mode="r") as written:
            out = written["outputs"]
            worst, rate = compare(lambda a, b: out[a:b], n_events, net)
        report("CSV -> .npz", n_events, (folder / "events.csv").stat().st_size, seconds,
               resident, worst, rate)
        (folder / "events.csv").unlink()
        if not write_root(folder / "events.root", options.root_events):
            print("ROOT: skipped (uproot is not installed)")
            return
        seconds, resident = streamed(["run", str(folder / "net.json"), "--inputs",
                                      f"{folder / 'events.root'}:Events", "-o",
                                      str(folder / "friend.root")])
        import uproot
        with uproot.open(folder / "friend.root") as file:
            tree = file["lwtnn"]
            out = np.stack([tree[label].array(library="np") for label in document["outputs"]],
                           axis=1)
        worst, rate = compare(lambda a, b: out[a:b], options.root_events, net)
        report("ROOT -> friend tree", options.root_events,
               (folder / "events.root").stat().st_size, seconds, resident, worst, rate)


if __name__ == "__main__":
    main()
