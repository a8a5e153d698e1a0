"""Carrying shared values: exact, as cheap in lwtnn as the ONNX model, and invisible for
networks lwtnn would not recompute anything in."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn.api import conversion
from onnx2lwtnn.check import check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning
from onnx2lwtnn.lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, load_network

from .support import FIXTURES, assert_exact, manifest, random_events

sys.path.insert(0, str(FIXTURES / "generators"))
from shared_trunks import fan_in, refine_slices  # noqa: E402
from skip_connections import after_lstm, dense_chain, residual_chain, two_heads  # noqa: E402

REFINE = FIXTURES / "published_pytorch_refine.onnx"
CARRIED = [e for e in manifest() if e["issue"] in (9, 23)]


def _convert(model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return conversion(model, **options)


def _ratio(converted) -> float:
    return converted.cost.total.multiply_adds / converted.onnx_multiply_adds[None]


def _recomputes(document: dict) -> bool:
    """Whether lwtnn's uncached evaluation reaches some non-input node twice."""
    nodes = document["nodes"]
    for output in document["outputs"].values():
        reached: dict[int, int] = {}
        stack = [output["node_index"]]
        while stack:
            index = stack.pop()
            reached[index] = reached.get(index, 0) + 1
            if nodes[index]["type"] not in ("input", "input_sequence"):
                stack.extend(nodes[index]["sources"])
        if any(count > 1 and nodes[i]["type"] not in ("input", "input_sequence")
               for i, count in reached.items()):
            return True
    return False


CONVERTIBLE = [e for e in manifest() if e["expect"] == "convert"]


def _outcome(path, **options):
    """The conversion, or the refusal's message (a fixture may need more than its
    arguments, e.g. a TMVA transformation lwtnn cannot compute)."""
    try:
        return _convert(path, **options)
    except ConversionError as exc:
        return str(exc)


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=[e["name"] for e in CONVERTIBLE])
def test_a_network_lwtnn_recomputes_nothing_in_comes_out_as_it_was(entry):
    options = {key: FIXTURES / value if value in entry["extras"] else value
               for key, value in entry["convert_args"].items()}
    literal = _outcome(FIXTURES / entry["file"], layout="literal", **options)
    cheapest = _outcome(FIXTURES / entry["file"], **options)
    if isinstance(literal, str):
        assert cheapest == literal
    elif _recomputes(literal.document):
        assert cheapest.cost.total.estimate <= literal.cost.total.estimate
    else:
        assert cheapest.document == literal.document


@pytest.mark.parametrize("entry", CARRIED, ids=[e["name"] for e in CARRIED])
def test_skip_connection_fixtures_pass_check(entry):
    path = FIXTURES / entry["file"]
    converted = _convert(path)
    assert check(path, converted.document, events=300).passed
    assert _ratio(converted) <= (3 if entry["name"].startswith("residual_relu") else 10)


DEEP = {
    "relu_12": residual_chain(12),
    "relu_post_12": residual_chain(12, post="Relu"),
    "tanh_10": residual_chain(10, "Tanh"),
    "sigmoid_8": residual_chain(8, "Sigmoid"),
    "elu_8": residual_chain(8, "Elu"),
    "leakyrelu_8": residual_chain(8, "LeakyRelu"),
    "densenet_10": dense_chain(10),
    "two_heads_8": two_heads(8),
}


@pytest.mark.parametrize("name", DEEP)
def test_deep_networks_are_carried_exactly_at_a_bounded_cost(name):
    model = DEEP[name]
    converted = _convert(model)
    literal = _convert(model, layout="literal")
    for output, cost in converted.cost.outputs.items():  # lwtnn computes each by itself
        own = cost.multiply_adds / converted.onnx_multiply_adds[output]
        assert own <= (3 if name.startswith(("relu", "two_heads")) else 10)
    assert _ratio(literal) > 3 * _ratio(converted)
    assert _recomputes(literal.document)
    if not name.startswith("densenet"):  # whose layers that read only x may be recomputed,
        assert not _recomputes(converted.document)  # where that is cheaper than carrying
    events = random_events(model, 500, seed=3)
    assert_exact(load_network(converted.document).evaluate(events), model, events)


def test_values_from_a_sequence_are_read_once_and_carried():
    model = after_lstm(8)
    converted = _convert(model)
    assert _ratio(converted) <= 10 < _ratio(_convert(model, layout="literal"))
    assert check(model, converted.document, events=300).passed


@pytest.mark.parametrize("build, limit, per_layer", [(residual_chain, 3, 2),
                                                      (dense_chain, 10, 3)])
def test_cost_ratio_stays_flat_and_node_evaluations_grow_linearly_with_depth(build, limit,
                                                                            per_layer):
    # per layer: a stage, or (DenseNet, where re-reading the input gets cheaper than
    # carrying it) a stage, the input read and their concatenation
    evaluations = [_convert(build(depth)).cost.total.node_evaluations
                   for depth in range(6, 13)]
    assert evaluations == sorted(evaluations)
    assert all(n <= per_layer * depth + 5 for depth, n in zip(range(6, 13), evaluations))
    assert _ratio(_convert(build(10))) <= limit


def test_the_refine_network_costs_what_the_onnx_model_costs_and_reads_its_input_once():
    assert _ratio(_convert(REFINE, layout="literal")) > 10
    for fmt in ("graph", "sequential"):  # the 2-feature slice is carried, not the input
        converted = _convert(REFINE, format=fmt)
        assert _ratio(converted) <= 1.15
        assert converted.cost.total.variables_read == 65


@pytest.mark.parametrize("inputs", [12, 65, 200])
def test_a_narrow_slice_of_a_wide_input_is_carried_instead_of_read_by_every_block(inputs):
    model = refine_slices(inputs, width=32, blocks=4, refine_width=32)
    literal = _convert(model, layout="literal")
    # block k reads x through the slice once and through s twice: 2^(blocks + 1) - 1 reads
    assert literal.cost.total.variables_read == 31 * inputs
    for fmt in ("graph", "sequential"):
        converted = _convert(model, format=fmt)
        assert converted.cost.total.variables_read == inputs  # read once
        assert _ratio(converted) <= 1.5
        assert converted.cost.total.estimate < literal.cost.total.estimate / 5
        assert check(model, converted.document, events=300).passed


def test_an_input_is_read_again_where_that_is_cheaper_than_carrying_it():
    """Four branches read 16 inputs: carrying them through a branch as relu pairs costs
    more than looking 16 variables up again, so the network stays as it is; two branches
    reading 65 inputs are cheaper chained, the input read once."""
    narrow, wide = fan_in(16, 16, 4), fan_in(65, 16, 2)
    assert _convert(narrow).document == _convert(narrow, layout="literal").document
    chained, literal = _convert(wide), _convert(wide, layout="literal")
    assert (chained.cost.total.variables_read, literal.cost.total.variables_read) == (65, 130)
    assert chained.cost.total.estimate < literal.cost.total.estimate
    assert check(wide, chained.document, events=300).passed


def test_an_output_that_is_part_of_a_node_reads_only_that_part():
    """Slice(Concat(x, x)) keeps x[0]: the chain's result is the first element of the
    input node, which must not be taken for the whole (2-wide) input (hypothesis found
    it)."""
    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "x"], ["joined"], axis=1),
         helper.make_node("Slice", ["joined", "starts", "ends", "axes", "steps"], ["y"])],
        "part", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([value], np.int64), name) for name, value in
         (("starts", 0), ("ends", -2 ** 63 + 1), ("axes", 1), ("steps", -1))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    document = _convert(model).document
    assert document["outputs"]["y"]["labels"] == ["y_0"]
    x = np.random.default_rng(2).normal(size=(50, 2))
    np.testing.assert_array_equal(load_network(document).evaluate({"x": x})["y"], x[:, :1])


@pytest.mark.parametrize("inner", ["Relu", "Tanh"])
def test_a_carried_chain_is_a_sequential_network(inner):
    model = residual_chain(6, inner)
    graph = _convert(model).document
    sequential = _convert(model, format="sequential").document
    x = np.random.default_rng(4).normal(size=(300, 16))
    np.testing.assert_allclose(
        load_network(sequential).evaluate({SEQUENTIAL_INPUT: x})[SEQUENTIAL_OUTPUT],
        load_network(graph).evaluate({"x": x})["y"], rtol=1e-12, atol=1e-12)
    with pytest.raises(ConversionError, match="single chain"):
        _convert(model, format="sequential", layout="literal")


def test_layout_literal_on_the_command_line(tmp_path, capsys):
    literal, cheapest = tmp_path / "literal.json", tmp_path / "cheapest.json"
    assert main([str(REFINE), "-o", str(literal), "--layout", "literal"]) == 0
    assert "15.0x the ONNX model's multiply-adds" in capsys.readouterr().err
    assert main([str(REFINE), "-o", str(cheapest)]) == 0
    assert "1.1x the ONNX model's multiply-adds" in capsys.readouterr().err
    assert main(["check", str(REFINE), str(cheapest)]) == 0
    assert main([str(REFINE), "--layout", "cached"]) == 2
