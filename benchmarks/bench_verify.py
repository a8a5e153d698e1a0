"""What verifying every conversion costs a user: the command line on the SUSY-size refine
fixture against the import floor of the four runtime dependencies.

Every conversion is verified against the float64 ONNX model before it is written (issue
19); the target is that ``onnx2lwtnn refine.onnx -o refine.json`` takes at most 1.5x
``python -c "import onnx, numpy, networkx, jsonschema"``, the least any command of ours
can take. Commands run in fresh processes, taking turns (floor, verified, unverified,
floor, ...) so that load on a shared machine hits all alike; the best of ``--repeat``
runs of each is compared, and every raw time is printed.

    python benchmarks/bench_verify.py [--repeat 7] [--model fixtures/...onnx]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5
FLOOR = [sys.executable, "-c", "import onnx, numpy, networkx, jsonschema"]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


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
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command))
    best = {name: min(values) for name, values in times.items()}
    print(f"{args.model.name}, best of {args.repeat} runs each (seconds):")
    for name, values in times.items():
        print(f"  {name:<22} best {best[name]:.3f}  ({', '.join(f'{t:.2f}' for t in values)})")
    ratio = best["convert (verified)"] / best["import floor"]
    print(f"verified conversion / import floor = {ratio:.2f} (target <= {TARGET}: "
          f"{'MET' if ratio <= TARGET else 'NOT MET'}); verification adds "
          f"{best['convert (verified)'] - best['convert --no-verify']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
