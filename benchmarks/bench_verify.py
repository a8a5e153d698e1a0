"""What verifying every conversion costs a user: the command line on the SUSY-size refine
fixture against the import floor of the four runtime dependencies.

Every conversion is verified against the float64 ONNX model before it is written (issue
19); the target is that ``onnx2lwtnn refine.onnx -o refine.json`` takes at most 1.5x
``python -c "import onnx, numpy, networkx, jsonschema"``, the least any command of ours
can take. Commands run in fresh processes, taking turns (floor, verified, unverified,
floor, ...) so that load on a shared machine hits all alike; the best of ``--repeat``
runs of each is compared, and every raw time is printed. CPU time (user + system of the
child process) is printed beside the wall time: on a loaded machine it is the steadier
of the two.

    python benchmarks/bench_verify.py [--repeat 7] [--model fixtures/...onnx]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5
FLOOR = [sys.executable, "-c", "import onnx, numpy, networkx, jsonschema"]


def timed(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``command``."""
    before, start = os.times(), time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, os.times()
    return wall, (after.children_user - before.children_user
                  + after.children_system - before.children_system)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--model", type=Path,
                        default=REPO / "fixtures" / "published_pytorch_refine.onnx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_verify_") as folder:
        output = str(Path(folder) / "net.json")
        convert = [sys.executable, "-m", "onnx2lwtnn", str(args.model), "-o", output, "-q"]
        commands = {"import floor": FLOOR, "convert (verified)": convert,
                    "convert --no-verify": convert + ["--no-verify"]}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command))
    print(f"{args.model.name}, best of {args.repeat} runs each (seconds):")
    for kind, column in (("wall", 0), ("CPU", 1)):
        best = {name: min(t[column] for t in values) for name, values in times.items()}
        for name, values in times.items():
            print(f"  {kind:<4} {name:<22} best {best[name]:.3f}  "
                  f"({', '.join(f'{t[column]:.2f}' for t in values)})")
        ratio = best["convert (verified)"] / best["import floor"]
        print(f"  {kind}: verified conversion / import floor = {ratio:.2f} (target <= "
              f"{TARGET}: {'MET' if ratio <= TARGET else 'NOT MET'}); verification adds "
              f"{best['convert (verified)'] - best['convert --no-verify']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
