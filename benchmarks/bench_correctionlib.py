#!/usr/bin/env python3
"""Events per second of a converted CorrectionSet: one process against a 2-worker
distributed.LocalCluster, on 10 million events in partitions.

The correction is the two-fold HIGP-style network of the fixtures (8 inputs, 16-16-3
dense ReLU/softmax, a fold input) as ``--format correctionlib --fold-input`` writes it,
and, for the cost of input transforms, the ``log(pt + 1)`` fixture. Each partition's
events are made from a seed (as a worker would read them from a file); timings are wall
clock, best of ``--repeat``, all measured in one run, so compare the ratios:

- one process: correctionlib on numpy columns, partition after partition, the events
  already in memory (the evaluation alone), and making them too (the same work as a
  worker's task);
- the cluster: dask-awkward partitions (``dak.from_map``) made and evaluated on two
  worker processes of one thread each.

    python benchmarks/bench_correctionlib.py                 # 10,000,000 events
    python benchmarks/bench_correctionlib.py --events 1000000 --partitions 10

Needs ``pip install ".[dask]"``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "fixtures"
VARIABLES = ["lep_pt", "lep_eta", "met", "mjj", "detajj", "n_jets", "ht", "dr_ll"]


def correction_sets() -> dict[str, str]:
    from onnx2lwtnn import fold_conversion
    from onnx2lwtnn.api import conversion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds = fold_conversion([FIXTURES / "cset_fold_odd.onnx",
                                 FIXTURES / "cset_fold_even.onnx"],
                                fold_input="fold", correction_name="dnn",
                                variables=[FIXTURES / "cset_fold_odd.variables.json",
                                           FIXTURES / "cset_fold_even.variables.json"])
        logs = conversion(FIXTURES / "cset_log_inputs.onnx", format="correctionlib")
    return {"folds": json.dumps(folds.document), "log inputs": json.dumps(logs.document)}


def make_partition(spec: tuple) -> "ak.Array":
    """One partition of events, from its seed: the fold network's variables, positive
    (the log network reads the first six), and the event number."""
    import awkward as ak

    index, size = spec
    rng = np.random.default_rng(index)
    columns = {name: np.abs(rng.normal(50.0, 30.0, size)) for name in VARIABLES}
    columns["event"] = np.arange(index * size, (index + 1) * size)
    return ak.zip(columns)


def arguments(kind: str, events) -> list:
    if kind == "folds":
        return [events[name] for name in VARIABLES] + [events["event"] % 2]
    return [events[name] for name in VARIABLES[:6]]


def one_process(text: str, kind: str, name: str, specs: list, repeat: int) -> tuple:
    import correctionlib

    correction = correctionlib.CorrectionSet.from_string(text)[name]
    made = [make_partition(spec) for spec in specs]
    numpy_parts = [{k: np.asarray(p[k]) for k in p.fields} for p in made]
    evaluate = best(repeat, lambda: [correction.evaluate(*arguments(kind, p))
                                     for p in numpy_parts])
    make_and_evaluate = best(repeat, lambda: [
        correction.evaluate(*arguments(kind, {k: np.asarray(v) for k, v in zip(
            p.fields, (p[k] for k in p.fields))}))
        for p in (make_partition(spec) for spec in specs)])
    return evaluate, make_and_evaluate


def cluster(text: str, kind: str, name: str, specs: list, repeat: int, workers: int) -> float:
    import correctionlib
    import dask_awkward as dak
    from distributed import Client, LocalCluster

    correction = correctionlib.CorrectionSet.from_string(text)[name]
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local, Client(local):
        def run():
            events = dak.from_map(make_partition, specs)
            return dak.sum(correction.evaluate(*arguments(kind, events))).compute()
        run()  # warm: workers import correctionlib and receive the correction
        return best(repeat, run)


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    import correctionlib

    size = args.events // args.partitions
    specs = [(i, size) for i in range(args.partitions)]
    total = size * args.partitions
    print(f"correctionlib {correctionlib.__version__}, {total:,} events in "
          f"{args.partitions} partitions of {size:,}; best of {args.repeat}")
    for kind, text in correction_sets().items():
        name = json.loads(text)["corrections"][0]["name"]
        evaluate, made = one_process(text, kind, name, specs, args.repeat)
        spread = cluster(text, kind, name, specs, args.repeat, args.workers)
        print(f"{kind} ({name}):")
        print(f"  one process, evaluation only     {total / evaluate:>12,.0f} events/s")
        print(f"  one process, make + evaluate     {total / made:>12,.0f} events/s")
        print(f"  LocalCluster, {args.workers} workers, make + evaluate "
              f"{total / spread:>12,.0f} events/s  ({made / spread:.2f}x one process)")


if __name__ == "__main__":
    main()
