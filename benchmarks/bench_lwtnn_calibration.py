"""Calibrate the cost model (``onnx2lwtnn.cost``) against lwtnn's own C++.

Times ``LightweightGraph::compute`` (one call per output, as a user gets every output)
and ``LightweightNeuralNetwork::compute`` on a spread of generated networks (widths,
depths, input sizes, inputs read by several layers, several outputs), each in the
layouts the converter writes: literal, cheapest, sequential, outputs merged or not. It
then fits the weights of ``Cost.estimate`` to the measured times, prints them beside the
weights the package ships (``cost.WEIGHTS``), and says how well the shipped estimate
orders the layouts of each network as the measured times do.

It needs an lwtnn you built (it builds none): ``LWTNN_DIR`` is where lwtnn's
``include/`` is, and ``liblwtnn.so`` (or ``.a``) in its ``lib/``, ``lib64/``,
``build/lib/`` or the folder itself; Eigen's headers come from ``EIGEN_INCLUDE``, else
``pkg-config eigen3``, else /usr/include/eigen3; ``CXX`` (default ``c++``) compiles the
harness, ``benchmarks/lwtnn_timing.cxx``, with -O2. It measures each thread's CPU time,
interleaving the networks round by round, best of ``--rounds`` in each of ``--passes``.

    LWTNN_DIR=~/lwtnn python benchmarks/bench_lwtnn_calibration.py
    LWTNN_DIR=~/lwtnn python benchmarks/bench_lwtnn_calibration.py --time old.json new.json
    LWTNN_DIR=~/lwtnn python benchmarks/bench_lwtnn_calibration.py --time a.json b.json --values
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "fixtures" / "generators"))

from mlp import build_mlp  # noqa: E402
from onnx2lwtnn.api import conversion  # noqa: E402
from onnx2lwtnn.cost import WEIGHTS, Cost, network_cost  # noqa: E402
from onnx2lwtnn.errors import Onnx2LwtnnError  # noqa: E402
from shared_trunks import fan_in, refine_slices, two_tasks  # noqa: E402
from skip_connections import dense_chain, residual_chain  # noqa: E402

TIE = 0.05  # measured times closer than this are a tie: no order to get right
FEATURES = [f.name for f in fields(Cost)]


@dataclass
class Timed:
    network: str
    layout: str
    path: Path
    cost: Cost
    ns: float = 0.0  # per event, all outputs

    @property
    def estimate(self) -> float:
        return self.cost.estimate


# -- the calibration set -----------------------------------------------------------------

def calibration_networks():
    """(network, model) pairs: ONNX models of every kind of cost."""
    for inputs, sizes in itertools.product((4, 16, 65, 200), ((8,), (32, 32), (100,) * 3,
                                                               (300, 300))):
        yield f"MLP {inputs}-{'-'.join(map(str, sizes))}-1", build_mlp((inputs, *sizes, 1))[0]
    yield "MLP 16-32-50 (50 labels)", build_mlp((16, 32, 50))[0]
    for inputs, blocks in ((12, 1), (12, 4), (65, 1), (65, 4), (200, 4)):
        yield f"refine, {inputs} inputs, {blocks} blocks", refine_slices(inputs, blocks=blocks)
    for inputs, readers in ((4, 2), (16, 4), (65, 2), (65, 4)):
        yield f"fan-in, {inputs} inputs read {readers}x", fan_in(inputs, 16, readers)
    for inner, blocks in (("Relu", 2), ("Relu", 8), ("Tanh", 2), ("Tanh", 8)):
        yield f"residual {inner}, {blocks} blocks", residual_chain(blocks, inner)
    for layers in (4, 10):
        yield f"DenseNet, {layers} layers", dense_chain(layers)
    for inputs, width, act in ((20, 64, "Relu"), (65, 100, "Relu"), (20, 64, "Tanh")):
        yield (f"two outputs, {inputs}-{width}x2 {act}",
               two_tasks(inputs, width, 2, act, name=f"two_tasks_{inputs}_{act}"))


LAYOUTS = {
    "literal": {"layout": "literal"},
    "cheapest": {},
    "sequential": {"format": "sequential"},
    "merged": {"merge_outputs": "all"},
    "merged sequential": {"merge_outputs": "all", "format": "sequential"},
}


def write_layouts(folder: Path) -> list[Timed]:
    """Every network in every layout it converts to (identical documents once)."""
    timed = []
    for index, (network, model) in enumerate(calibration_networks()):
        seen = set()
        for layout, options in LAYOUTS.items():
            if "merge_outputs" in options and len(model.graph.output) < 2:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    document = conversion(model, **options).document
            except Onnx2LwtnnError:
                continue
            text = json.dumps(document)
            if text in seen:
                continue
            seen.add(text)
            path = folder / f"{index:02d}-{layout.replace(' ', '-')}.json"
            path.write_text(text)
            timed.append(Timed(network, layout, path, network_cost(document).total))
    return timed


# -- lwtnn's C++ ---------------------------------------------------------------------------

def build_harness(folder: Path) -> Path:
    root = os.environ.get("LWTNN_DIR")
    if not root:
        sys.exit("bench_lwtnn_calibration: set LWTNN_DIR to an lwtnn you built "
                 "(its include/ and liblwtnn in lib/); see benchmarks/README.md")
    root_path = Path(root).expanduser()
    libraries = [d for d in (root_path / "lib", root_path / "lib64", root_path / "build" / "lib",
                             root_path) if any(d.glob("liblwtnn.*"))]
    if not (root_path / "include" / "lwtnn").is_dir() or not libraries:
        sys.exit(f"bench_lwtnn_calibration: {root_path} has no include/lwtnn or no liblwtnn")
    binary = folder / "lwtnn_timing"
    command = [os.environ.get("CXX", "c++"), "-O2", "-DNDEBUG", "-std=c++17",
               f"-I{root_path / 'include'}", *eigen_flags(), str(HERE / "lwtnn_timing.cxx"),
               f"-L{libraries[0]}", "-llwtnn", f"-Wl,-rpath,{libraries[0]}", "-o", str(binary)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench_lwtnn_calibration: compiling the harness failed:\n{done.stderr}")
    return binary


def eigen_flags() -> list[str]:
    if os.environ.get("EIGEN_INCLUDE"):
        return [f"-I{os.environ['EIGEN_INCLUDE']}"]
    if shutil.which("pkg-config"):
        done = subprocess.run(["pkg-config", "--cflags", "eigen3"], capture_output=True,
                              text=True)
        if done.returncode == 0:
            return done.stdout.split()
    return ["-I/usr/include/eigen3"]


def measure(binary: Path, paths: list[Path], passes: int, rounds: int) -> dict[Path, float]:
    """Best nanoseconds per event of each file over ``passes`` runs of the harness."""
    best: dict[Path, float] = {}
    for _ in range(passes):
        done = subprocess.run([str(binary), "--rounds", str(rounds), "--round-ms", "2",
                               *map(str, paths)], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"bench_lwtnn_calibration: the harness failed: {done.stderr.strip()}")
        for line in done.stdout.splitlines():
            path, ns = line.split("\t")[:2]
            best[Path(path)] = min(best.get(Path(path), float("inf")), float(ns))
    return best


# -- fitting and ordering ----------------------------------------------------------------

def fit_weights(timed: list[Timed]) -> dict[str, float]:
    """Non-negative weights minimising the relative error of time = sum(w * count), as
    dense-equivalent multiply-adds (nanoseconds per unit over nanoseconds per
    multiply-add)."""
    x = np.array([[float(getattr(t.cost, f)) for f in FEATURES] for t in timed])
    y = np.array([t.ns for t in timed])
    active = list(range(len(FEATURES)))
    while True:  # drop features whose least-squares weight is negative, refit
        w = np.linalg.lstsq(x[:, active] / y[:, None], np.ones(len(y)), rcond=None)[0]
        if (w >= 0).all():
            break
        active = [a for a, c in zip(active, w) if c >= 0]
    weights = dict.fromkeys(FEATURES, 0.0)
    weights.update({FEATURES[a]: c for a, c in zip(active, w)})
    per_mac = weights["multiply_adds"]
    return {name: value / per_mac for name, value in weights.items()}


def estimate(cost: Cost, weights: dict[str, float]) -> float:
    return sum(weight * getattr(cost, name) for name, weight in weights.items())


def ns_per_unit(timed: list[Timed], weights: dict[str, float]) -> float:
    """The one scale that turns estimates into nanoseconds (least relative error)."""
    ratios = np.array([estimate(t.cost, weights) / t.ns for t in timed])
    return float(np.sum(ratios) / np.sum(ratios ** 2))


def pairs(timed: list[Timed], weights: dict[str, float], within: bool
          ) -> tuple[int, int, int, int]:
    """(ordered right, pairs, of which ties, ties ordered right) over pairs of layouts of
    one network (``within``) or of any two files; a tie is two times within TIE."""
    right = total = ties = ties_right = 0
    for a, b in itertools.combinations(timed, 2):
        if within and a.network != b.network:
            continue
        total += 1
        ordered = (a.ns < b.ns) == (estimate(a.cost, weights) < estimate(b.cost, weights))
        right += ordered
        if abs(a.ns - b.ns) <= TIE * min(a.ns, b.ns):
            ties += 1
            ties_right += ordered
    return right, total, ties, ties_right


# -- output --------------------------------------------------------------------------------

def report(timed: list[Timed]) -> None:
    fitted = fit_weights(timed)
    scale = ns_per_unit(timed, WEIGHTS)
    print(f"{'network':34s} {'layout':17s} {'us/event':>9} {'events/s':>9} {'MACs':>8} "
          f"{'evals':>5} {'vars':>5} {'calls':>5} {'estimate':>9} {'est/meas':>8}")
    for t in timed:
        predicted = estimate(t.cost, WEIGHTS) * scale
        print(f"{t.network:34s} {t.layout:17s} {t.ns / 1e3:9.2f} {1e9 / t.ns:9,.0f} "
              f"{t.cost.multiply_adds:8,} {t.cost.node_evaluations:5,} "
              f"{t.cost.variables_read:5,} {t.cost.calls:5} {t.estimate:9,.0f} "
              f"{predicted / t.ns:8.2f}")
    print(f"\n{len(timed)} files; one dense-equivalent multiply-add = {scale:.3f} ns here")
    print(f"\n{'weight (dense-equivalent multiply-adds)':40s} {'shipped':>9} {'fitted':>9}")
    for name in FEATURES:
        print(f"{name:40s} {WEIGHTS.get(name, 0.0):9.1f} {fitted[name]:9.1f}")
    for label, weights in (("shipped", WEIGHTS), ("fitted", fitted)):
        s = ns_per_unit(timed, weights)
        errors = np.array([estimate(t.cost, weights) * s / t.ns - 1 for t in timed])
        print(f"\n{label} weights: estimate vs measured time, relative error: median "
              f"{np.median(np.abs(errors)):.1%}, 90th percentile "
              f"{np.percentile(np.abs(errors), 90):.1%}, worst {np.abs(errors).max():.1%}")
        for within, what in ((True, "pairs of layouts of one network"), (False, "all pairs")):
            right, total, ties, ties_right = pairs(timed, weights, within)
            apart = total - ties
            print(f"  {what}: {right - ties_right} of {apart} ordered as measured "
                  f"({(right - ties_right) / apart:.1%}), leaving out {ties} pairs within "
                  f"{TIE:.0%} of each other; all {total}: {right / total:.1%}")


def time_files(binary: Path, paths: list[Path], passes: int, rounds: int) -> None:
    """--time: the given files in one run, each against the first."""
    measured = measure(binary, paths, passes, rounds)
    first = measured[paths[0]]
    print(f"{'file':50s} {'us/event':>9} {'events/s':>10} {'speed-up':>9} {'estimate':>9}")
    for path in paths:
        cost = network_cost(json.loads(path.read_text())).total
        print(f"{str(path):50s} {measured[path] / 1e3:9.2f} {1e9 / measured[path]:10,.0f} "
              f"{first / measured[path]:8.2f}x {cost.estimate:9,.0f}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=3,
                        help="runs of the harness, best taken (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=21,
                        help="timed rounds per run (default %(default)s)")
    parser.add_argument("--time", type=Path, nargs="+", metavar="FILE.json",
                        help="only time these lwtnn files, in one run")
    parser.add_argument("--values", action="store_true",
                        help="with --time: print each file's outputs for the harness's 16 "
                             "events at 17 digits instead (the same events for every file)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the calibration files into DIR and keep them")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        binary = build_harness(Path(scratch))
        if args.time and args.values:
            return subprocess.run([str(binary), "--values", *map(str, args.time)]).returncode
        if args.time:
            time_files(binary, [p.resolve() for p in args.time], args.passes, args.rounds)
            return 0
        folder = (args.keep or Path(scratch)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        timed = write_layouts(folder)
        measured = measure(binary, [t.path for t in timed], args.passes, args.rounds)
        for t in timed:
            t.ns = measured[t.path]
        report(timed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
