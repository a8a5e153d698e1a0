"""What converted networks cost in lwtnn's C++, per event, against the ONNX model.

lwtnn evaluates recursively and caches nothing, so a value read twice is computed twice
(``onnx2lwtnn.cost``). For every fixture that converts, every ../shared real model that
converts, residual chains of 1..40 blocks (relu and tanh inner activations) and
DenseNet-style chains of 1..12 layers, this prints lwtnn's multiply-adds per event over
the ONNX model's, and lwtnn's node evaluations, for ``--layout literal`` (one node per ONNX
construct) and the default ``--layout cheapest``, and for both the calibrated estimate of
lwtnn's time in dense-equivalent multiply-adds (``Cost.estimate``: input reads, node
evaluations, values and labels weighed by ``benchmarks/bench_lwtnn_calibration.py``).
The targets (issue 9): cheapest at most 3x for relu residual chains and the refine
fixture, at most 10x for everything else, and node evaluations linear in depth. These
are counts, not timings: they are the same on every machine.

    python benchmarks/bench_lwtnn_cost.py [--depths 1,2,4,8,16,20,30,40] [--skip-fixtures]
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "fixtures" / "generators"))

from onnx2lwtnn.api import conversion  # noqa: E402
from onnx2lwtnn.errors import Onnx2LwtnnError  # noqa: E402
from skip_connections import dense_chain, residual_chain  # noqa: E402

FIXTURES = REPO / "fixtures"
SHARED = REPO.parent / "shared" / "real-models"
DEFAULT_DEPTHS = (1, 2, 4, 8, 12, 16, 20, 30, 40)
DENSE_DEPTHS = (1, 2, 4, 6, 8, 10, 12)


def measure(model, **options) -> dict:
    """Both layouts' cost of one model, or None when it does not convert."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            literal = conversion(model, layout="literal", **options)
            cheapest = conversion(model, **options)
        except Onnx2LwtnnError:
            return None
    onnx = cheapest.onnx_multiply_adds[None]
    return {"onnx": onnx,
            "literal": literal.cost.total, "cheapest": cheapest.cost.total,
            "worst_output": max(c.multiply_adds / max(cheapest.onnx_multiply_adds[name], 1)
                                for name, c in cheapest.cost.outputs.items())}


def row(name: str, result: dict, limit: float) -> tuple[str, bool]:
    onnx = max(result["onnx"], 1)
    literal, cheapest = result["literal"], result["cheapest"]
    ratio = cheapest.multiply_adds / onnx
    ok = ratio <= limit or result["worst_output"] <= limit
    text = (f"{name:46s} {result['onnx']:>10,} {literal.multiply_adds / onnx:>12.3g}x "
            f"{ratio:>8.2f}x {literal.node_evaluations:>16,} {cheapest.node_evaluations:>8,}"
            f" {_number(literal.estimate):>15} {_number(cheapest.estimate):>10}"
            f"  {'ok' if ok else f'OVER {limit:g}x'}")
    return text, ok


def _number(value: float) -> str:
    return f"{value:,.0f}" if value < 1e9 else f"{value:.3g}"


HEADER = (f"{'network':46s} {'ONNX MACs':>10} {'literal':>13} {'cheapest':>9} "
          f"{'literal evals':>16} {'evals':>8} {'literal estimate':>15} {'estimate':>10}")


def fixture_models():
    entries = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
    for entry in entries:
        if entry["expect"] != "convert":
            continue
        options = {key: FIXTURES / value if value in entry["extras"] else value
                   for key, value in entry["convert_args"].items()}
        limit = 3 if entry["name"].startswith(("residual_relu", "published_pytorch_refine")) \
            else 10
        yield f"fixtures/{entry['file']}", FIXTURES / entry["file"], options, limit


def shared_models():
    if not SHARED.is_dir():
        print(f"({SHARED} is absent: no real models)")
        return
    for path in sorted(SHARED.rglob("*.onnx")):
        yield f"shared/{path.relative_to(SHARED)}", path, {}, 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", default=",".join(map(str, DEFAULT_DEPTHS)),
                        help="residual chain depths (default %(default)s)")
    parser.add_argument("--skip-fixtures", action="store_true",
                        help="only the residual and DenseNet-style chains")
    args = parser.parse_args()
    failures = 0
    print(HEADER)
    if not args.skip_fixtures:
        converted = refused = 0
        for name, model, options, limit in [*fixture_models(), *shared_models()]:
            result = measure(model, **options)
            if result is None:
                refused += 1
                continue
            converted += 1
            text, ok = row(name, result, limit)
            failures += not ok
            print(text)
        print(f"({converted} converted; {refused} refused, which have no cost)\n")
    for inner, limit in (("Relu", 3), ("Tanh", 10)):
        for depth in map(int, args.depths.split(",")):
            text, ok = row(f"residual chain, {inner}, {depth} blocks",
                           measure(residual_chain(depth, inner)), limit)
            failures += not ok
            print(text)
    for depth in DENSE_DEPTHS:
        text, ok = row(f"DenseNet-style chain, {depth} layers", measure(dense_chain(depth)), 10)
        failures += not ok
        print(text)
    print(f"\n{failures} over their target" if failures else "\nall within their targets")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
