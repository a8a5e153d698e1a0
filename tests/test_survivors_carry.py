"""Tests for the carry module's surviving mutants (issue 26): what the chain is named in
the conversion's report, and where the stage reading the inputs is searched for."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from onnx import numpy_helper

from onnx2lwtnn.api import conversion
from onnx2lwtnn.carry import _minimum
from onnx2lwtnn.lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, load_network

from .support import FIXTURES, assert_exact, onnx_float64, random_events

sys.path.insert(0, str(FIXTURES / "generators"))
from helper_graphs import GraphBuilder  # noqa: E402
from skip_connections import (WIDTH, _block, _gemm, dense_chain,  # noqa: E402
                              residual_chain)

CARRY_STEP = "carry.carry_shared_values"


def _convert(model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return conversion(model, **options)


def normalised_with_skips(width: int = 16):
    """h = tanh(Gemm(x)); n = h * s + c (a normalization layer, read twice);
    y = Gemm(tanh(Gemm(n)) + n + h): h must pass the normalization stage."""
    b = GraphBuilder("normalised_with_skips")
    x = b.input("x", ["N", width])
    h = b.node("Tanh", [_gemm(b, x, width, width, "g0")], "t0")
    scaled = b.node("Mul", [h, b.const("s", np.linspace(0.5, 2.0, width))], "mul")
    n = b.node("Add", [scaled, b.const("c", np.linspace(-1.0, 1.0, width))], "add")
    m = b.node("Tanh", [_gemm(b, n, width, width, "g1")], "t1")
    total = b.node("Add", [b.node("Add", [m, n], "a1"), h], "a2")
    _gemm(b, total, width, 2, "head", out="y")
    b.output("y", ["N", 2])
    return b.model(13)


def test_values_pass_a_normalization_stage_into_a_sequential_network():
    """The sequential format needs one chain: the values the normalization layer does not
    scale are carried through it (scaled by 1), and the chain computes the ONNX model's
    numbers."""
    model = normalised_with_skips()
    document = _convert(model, format="sequential").document
    assert "normalization" in [layer["architecture"] for layer in document["layers"]]
    events = random_events(model, 200, seed=5)
    ours = load_network(document).evaluate({SEQUENTIAL_INPUT: events["x"]})
    np.testing.assert_allclose(ours[SEQUENTIAL_OUTPUT], onnx_float64(model, events)["y"],
                               rtol=1e-9, atol=1e-12)


def side_projection_residual(depth: int = 4, width: int = 16, side: int = 2):
    """A residual tanh chain over z that reads, at every stage, a = relu(side(x)): the
    layers side (x only) and g0 (z only) are shared and read nothing shared."""
    b = GraphBuilder("side_projection_residual")
    z, x = b.input("z", ["N", width]), b.input("x", ["N", side])
    a = b.node("Relu", [_gemm(b, x, side, side, "side")], "side_relu")
    h = b.node("Tanh", [_gemm(b, z, width, width, "g0")], "t0")
    for k in range(1, depth):
        joined = b.node("Concat", [h, a], f"cat{k}", axis=1)
        inner = b.node("Tanh", [_gemm(b, joined, width + side, width, f"g{k}")], f"t{k}")
        h = b.node("Add", [h, inner], f"skip{k}")
    _gemm(b, b.node("Concat", [h, a], "catlast", axis=1), width + side, 2, "head", out="y")
    b.output("y", ["N", 2])
    return b.model(13)


def _readers_of_layer(document: dict, weights: np.ndarray) -> list[int]:
    """How many nodes read each node computing a dense layer with these weights."""
    nodes, layers = document["nodes"], document["layers"]
    computing = [i for i, node in enumerate(nodes) if node["type"] == "feed_forward"
                 and sorted(layers[node["layer_index"]].get("weights", []))
                 == sorted(weights.ravel().tolist())]
    return [sum(i in node.get("sources", ()) for node in nodes if node["type"] != "input")
            for i in computing]


def test_a_shared_layer_reading_only_an_input_is_recomputed_where_that_is_cheaper():
    """Carrying a = relu(side(x)) (and g0's values) through every tanh stage costs highway
    rows with two transcendentals each; recomputing them costs a 2x2 layer and a
    2-variable lookup per read (the estimate: 6% less, beyond its 3% resolution). So each
    is one node read by several stages, and the chain still computes the ONNX numbers."""
    model = side_projection_residual()
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    converted = _convert(model)
    literal = _convert(model, layout="literal")
    assert converted.cost.total.estimate < literal.cost.total.estimate
    for name in ("side.weight", "g0.weight"):
        readers = _readers_of_layer(converted.document, initializers[name])
        assert len(readers) == 1 and readers[0] > 1, (name, readers)
    events = random_events(model, 200, seed=6)
    assert_exact(load_network(converted.document).evaluate(events), model, events)


def deep_and_shallow():
    """d1 = relu(x W1) (16 -> 2) feeds a deep branch d2, d3 (2 -> 2 each) and a shallow,
    wide one s (2 -> 8); y = head(d3, s) (10 -> 1)."""
    b = GraphBuilder("deep_and_shallow")
    x = b.input("x", ["N", 16])
    d1 = b.node("Relu", [_gemm(b, x, 16, 2, "d1")], "d1_relu")
    d2 = b.node("Relu", [_gemm(b, d1, 2, 2, "d2")], "d2_relu")
    d3 = b.node("Relu", [_gemm(b, d2, 2, 2, "d3")], "d3_relu")
    s = b.node("Relu", [_gemm(b, d1, 2, 8, "s")], "s_relu")
    _gemm(b, b.node("Concat", [d3, s], "cat", axis=1), 10, 1, "head", out="y")
    b.output("y", ["N", 1])
    return b.model(13)


@pytest.mark.parametrize("fmt", ["graph", "sequential"])
def test_the_deep_branch_is_computed_first_so_the_narrow_value_is_carried(fmt):
    """Deepest operand first: d1 (32 multiply-adds), d2 with d1 carried (4 rows x 2),
    d3 with d1 carried (4 x 4), s with d3 carried (10 x 4), the head (10): 106, where
    making s first would carry its 8 values over d2 and d3 (10 x 10 each: 262)."""
    model = deep_and_shallow()
    converted = _convert(model, format=fmt)
    assert converted.cost.total.multiply_adds == 32 + 8 + 16 + 40 + 10
    if fmt == "graph":
        assert converted.cost.total.node_evaluations == 6  # head, s, d3, d2, d1, x
        events = random_events(model, 200, seed=7)
        assert_exact(load_network(converted.document).evaluate(events), model, events)


def test_a_densenet_whose_every_layer_reads_the_input_carries_it_from_the_start():
    """dense_chain(5, growth 8): every layer and the head read x (8), so x is read once
    and carried as relu pairs (16 rows) beside the features made so far (8 each): stage k
    reads the stage before it, 8 + 8 k + 16 rows of 8 (k + 2) columns (stage 0 reads x:
    24 x 8), the head one row of 56: 192 + 768 + 1280 + 1920 + 2688 + 56 = 6904
    multiply-adds in x, five stages and the head (7 node evaluations)."""
    model = dense_chain(5, 8)
    total = _convert(model).cost.total
    assert (total.multiply_adds, total.node_evaluations) == (6904, 7)


def widening_projection(depth: int = 3, side: int = 2, width: int = 16):
    """p = x W (a linear 2 -> 16 projection of the input), read by every tanh stage and
    the head beside the stage before."""
    b = GraphBuilder("widening_projection")
    x = b.input("x", ["N", side])
    p = _gemm(b, x, side, width, "proj")
    h = b.node("Tanh", [_gemm(b, p, width, width, "g0")], "t0")
    for k in range(1, depth):
        joined = b.node("Concat", [h, p], f"cat{k}", axis=1)
        h = b.node("Tanh", [_gemm(b, joined, 2 * width, width, f"g{k}")], f"t{k}")
    _gemm(b, b.node("Concat", [h, p], "catlast", axis=1), 2 * width, 2, "head", out="y")
    b.output("y", ["N", 2])
    return b.model(13)


def test_a_widening_projection_of_the_input_becomes_one_sequential_chain():
    """Laid out with the projection formed when its stage comes (not with the input), the
    network is one exact chain: the sequential format holds it, with the ONNX numbers."""
    model = widening_projection()
    document = _convert(model, format="sequential").document
    events = random_events(model, 200, seed=9)
    ours = load_network(document).evaluate({SEQUENTIAL_INPUT: events["x"]})
    np.testing.assert_allclose(ours[SEQUENTIAL_OUTPUT], onnx_float64(model, events)["y"],
                               rtol=1e-9, atol=1e-12)


def input_and_residual():
    """Two outputs: the input as it is (no layer), then a residual tanh chain of it."""
    b = GraphBuilder("input_and_residual")
    h = x = b.input("x", ["N", WIDTH])
    b.node("Identity", [x], "copy", out="x_copy")
    for k in range(2):
        h = _block(b, h, k, "Tanh", None)
    _gemm(b, h, WIDTH, 2, "head/Gemm", out="y")
    b.output("x_copy", ["N", WIDTH])
    b.output("y", ["N", 2])
    return b.model(13)


def _reached_twice(document: dict, output: str) -> list[int]:
    """The non-input nodes lwtnn's recursive, uncached evaluation of an output reaches
    more than once (a walk of the document, as in test_carry)."""
    nodes, reached = document["nodes"], {}
    stack = [document["outputs"][output]["node_index"]]
    while stack:
        index = stack.pop()
        reached[index] = reached.get(index, 0) + 1
        if nodes[index]["type"] != "input":
            stack.extend(nodes[index]["sources"])
    return [i for i, n in reached.items() if n > 1 and nodes[i]["type"] != "input"]


def test_an_output_that_is_an_input_does_not_stop_the_next_output_being_carried():
    model = input_and_residual()
    document = _convert(model).document
    assert _reached_twice(document, "y") == []
    events = random_events(model, 200, seed=8)
    assert_exact(load_network(document).evaluate(events), model, events)


def _carry_report(model) -> dict[str, tuple]:
    """Per ONNX node the chain replaced, the (label, op) of the nodes now standing for it."""
    changes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion(model, on_change=changes.append)
    return {c.node: c.now_read for c in changes if c.step == CARRY_STEP}


def test_the_report_names_each_chain_node_after_the_layer_it_computes():
    """A tanh layer whose input is carried past it becomes a linear dense stage, named
    '<layer>:carries', and a highway applying tanh, '<layer>:activates' (as api's
    _report_carry documents); the linear layer after it, one '<layer>:carries' stage."""
    report = _carry_report(residual_chain(2, "Tanh"))
    for k in range(2):
        gemm0, gemm1 = f"block{k}/Gemm0", f"block{k}/Gemm1"
        assert report[gemm0] == ((f"{gemm0}:carries", "Dense"),
                                 (f"{gemm0}:activates", "Highway")), report
        assert report[gemm1] == ((f"{gemm1}:carries", "Dense"),), report


@pytest.mark.parametrize("size", range(1, 14))
def test_the_least_point_of_a_unimodal_cost_is_found_within_the_range(size):
    """The search evaluates only points of low..high and finds the least of a unimodal
    function, wherever it lies."""
    for least in range(size + 1):
        def cost(x: int, least: int = least) -> int:
            assert 0 <= x <= size, f"evaluated outside 0..{size}: {x}"
            return (x - least) ** 2
        assert _minimum(cost, 0, size) == least
