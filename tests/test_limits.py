"""Resource bombs: tiny models that ask shape inference or constant folding for 10^12
values or iterations are refused, naming the node, before anything is computed.

Each hostile model runs the CLI in a child process under the hostile suite's limits
(tests/limited.py: 20 s of CPU, 1 GB resident), so a regression fails the test instead of
exhausting the machine.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.limits import LIMITS, limit

from .limited import shared_cli
from .support import REPO

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
HUGE = 10**12


def model_of(nodes, inits, out_shape=("N", None)) -> onnx.ModelProto:
    """x [N, 1] + (whatever the nodes compute into 'c') -> y."""
    graph = helper.make_graph(
        [*nodes, helper.make_node("Add", ["x", "c"], ["y"], name="add")], "bomb",
        [helper.make_tensor_value_info("x", FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", FLOAT, list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def loop(trips) -> onnx.ModelProto:
    """A Loop adding 1 to a [1] vector ``trips`` times (no trip count when None)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", FLOAT, [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    inits = {"cond": np.array(True), "v0": np.zeros(1, np.float32)}
    if trips is not None:
        inits["M"] = np.array(trips, np.int64)
    node = helper.make_node("Loop", ["M" if trips is not None else "", "cond", "v0"], ["c"],
                            name="the_loop", body=body)
    return model_of([node], inits, ("N", 1))


BOMBS = {
    "range": lambda: model_of(
        [helper.make_node("Range", ["s", "l", "d"], ["r"], name="big_range"),
         helper.make_node("Cast", ["r"], ["c"], to=FLOAT, name="cast")],
        {"s": np.array(0, np.int64), "l": np.array(HUGE, np.int64), "d": np.array(1, np.int64)}),
    "range-computed-limit": lambda: model_of(
        [helper.make_node("Mul", ["a", "a"], ["l"], name="square"),
         helper.make_node("Range", ["s", "l", "d"], ["r"], name="big_range"),
         helper.make_node("Cast", ["r"], ["c"], to=FLOAT, name="cast")],
        {"a": np.array(10**6, np.int64), "s": np.array(0, np.int64),
         "d": np.array(1, np.int64)}),
    "constant-of-shape": lambda: model_of(
        [helper.make_node("ConstantOfShape", ["shape"], ["c"], name="big_fill")],
        {"shape": np.array([HUGE], np.int64)}),
    "expand": lambda: model_of(
        [helper.make_node("Expand", ["one", "shape"], ["c"], name="big_expand")],
        {"one": np.ones(1, np.float32), "shape": np.array([10**6, 10**6], np.int64)}),
    "tile": lambda: model_of(
        [helper.make_node("Tile", ["one", "reps"], ["c"], name="big_tile")],
        {"one": np.ones((1, 1), np.float32), "reps": np.array([10**6, 10**6], np.int64)}),
    "loop": lambda: loop(HUGE),
    "loop-without-trip-count": lambda: loop(None),
}
EXPECTED = {
    "range": "Range 'big_range': would hold 1,000,000,000,000 values",
    "range-computed-limit": "Range 'big_range': cannot be computed ahead: it would hold "
                            "1,000,000,000,000 values",
    "constant-of-shape": "ConstantOfShape 'big_fill': would hold 1,000,000,000,000 values",
    "expand": "Expand 'big_expand': would hold 1,000,000,000,000 values",
    "tile": "Tile 'big_tile': would hold 1,000,000,000,000 values",
    "loop": f"Loop 'the_loop': would run 1,000,000,000,000 iterations; constant loops are "
            f"limited to {limit('loop-trips'):,} (--limit loop-trips=N raises it)",
    "loop-without-trip-count": "Loop 'the_loop': a Loop without a constant trip count",
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_resource_bombs_are_refused_naming_the_node(tmp_path, bomb):
    path = tmp_path / f"{bomb}.onnx"
    onnx.save(BOMBS[bomb](), str(path))
    assert path.stat().st_size < 1000
    output = tmp_path / "net.json"
    text = shared_cli(REPO)([path, "-o", output], tmp_path).assert_failed((1,))
    assert text.startswith(f"onnx2lwtnn: {path}: cannot convert") and EXPECTED[bomb] in text
    assert not output.exists()


def test_a_small_constant_loop_still_folds():
    document = convert(loop(3))
    assert document["inputs"][0]["variables"][0]["offset"] == 3.0  # x + 3: ran and folded


def test_a_constant_at_the_limit_still_folds():
    side = int(limit('constant-values') ** 0.5) // 4
    model = model_of([helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
                      helper.make_node("ReduceSum", ["big"], ["c"], name="total",
                                       keepdims=0)],
                     {"shape": np.array([side, side], np.int64)}, ("N", 1))
    document = convert(model)
    assert document["inputs"][0]["variables"][0]["offset"] == 0.0  # x + (zeros summed)


def test_every_limit_is_documented_with_its_default():
    text = (REPO / "docs" / "limits.md").read_text()
    for name, entry in LIMITS.items():
        assert f"| `{name}` | {entry.default:,} |" in text, name
