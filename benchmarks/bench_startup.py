"""How soon a command starts: ``onnx2lwtnn --version``, ``--help`` and ``run`` on a tiny
network against ``python -c "import numpy"``, the least a command that computes can take.

Issue 22's target: ``--version`` and ``run`` within 2x ``import numpy`` (only commands
that convert load onnx, about 6x numpy). Commands run in fresh processes, taking turns
(numpy, --version, run, ...) so that load on a shared machine hits all alike; medians
of ``--repeat`` runs are compared, wall and CPU time, and ``import onnx`` is shown for
scale. Run it with the installed console script (``pip install .``: compiled bytecode,
no editable-install finder), as users start it.

    python benchmarks/bench_startup.py [--repeat 20]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_verify import timed  # noqa: E402  (beside this script)

TARGET = 2.0
NETWORK = {"inputs": [{"name": "x_0", "offset": 0, "scale": 1}],
           "layers": [{"architecture": "dense", "activation": "linear", "weights": [2.0],
                       "bias": [0.0]}],
           "outputs": ["y"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    script = shutil.which("onnx2lwtnn", path=str(Path(sys.executable).parent))
    tool = [script] if script else [sys.executable, "-m", "onnx2lwtnn"]
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as folder:
        network, events = Path(folder) / "net.json", Path(folder) / "events.csv"
        network.write_text(json.dumps(NETWORK))
        events.write_text("x_0\n1\n2\n")
        commands = {"import numpy": [sys.executable, "-c", "import numpy"],
                    "onnx2lwtnn --version": [*tool, "--version"],
                    "onnx2lwtnn run": [*tool, "run", str(network), "--inputs", str(events)],
                    "onnx2lwtnn --help": [*tool, "--help"],
                    "import onnx": [sys.executable, "-c", "import onnx"]}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(timed(command))
    print(f"{' '.join(tool)}: medians of {args.repeat} runs each (seconds)")
    for kind, column in (("wall", 0), ("CPU", 1)):
        median = {name: statistics.median(t[column] for t in values)
                  for name, values in times.items()}
        floor = median["import numpy"]
        for name in commands:
            ratio = median[name] / floor
            verdict = "" if name not in ("onnx2lwtnn --version", "onnx2lwtnn run") else (
                f"  (target <= {TARGET:g}x: {'MET' if ratio <= TARGET else 'NOT MET'})")
            print(f"  {kind:<4} {name:<22} {median[name]:.3f}  {ratio:.2f}x numpy{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
