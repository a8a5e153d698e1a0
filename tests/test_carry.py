"""Carrying shared values: exact, as cheap in lwtnn as the ONNX model, and invisible for
networks lwtnn would not recompute anything in."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from onnx2lwtnn.api import conversion
from onnx2lwtnn.check import check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning
from onnx2lwtnn.lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, load_network

from .support import FIXTURES, assert_exact, manifest, random_events

sys.path.insert(0, str(FIXTURES / "generators"))
from skip_connections import after_lstm, dense_chain, residual_chain, two_heads  # noqa: E402

REFINE = FIXTURES / "published_pytorch_refine.onnx"
CARRIED = [e for e in manifest() if e["issue"] == 9]


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
        assert cheapest.cost.total.multiply_adds <= literal.cost.total.multiply_adds
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
    events = random_events(model, 500, seed=3)
    assert_exact(load_network(converted.document).evaluate(events), model, events)


def test_values_from_a_sequence_are_read_once_and_carried():
    model = after_lstm(8)
    converted = _convert(model)
    assert _ratio(converted) <= 10 < _ratio(_convert(model, layout="literal"))
    assert check(model, converted.document, events=300).passed


@pytest.mark.parametrize("build, limit", [(residual_chain, 3), (dense_chain, 10)])
def test_cost_ratio_and_node_evaluations_stay_flat_with_depth(build, limit):
    costs = [_convert(build(depth)).cost.total for depth in range(6, 11)]
    steps = {b.node_evaluations - a.node_evaluations for a, b in zip(costs, costs[1:])}
    assert len(steps) == 1  # linear in depth
    assert _ratio(_convert(build(10))) <= limit


def test_the_refine_network_costs_what_the_onnx_model_costs():
    assert _ratio(_convert(REFINE, layout="literal")) > 10
    assert _ratio(_convert(REFINE)) <= 1.1


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
    assert "15.0x the ONNX model" in capsys.readouterr().err
    assert main([str(REFINE), "-o", str(cheapest)]) == 0
    assert "1.0x the ONNX model" in capsys.readouterr().err
    assert main(["check", str(REFINE), str(cheapest)]) == 0
    assert main([str(REFINE), "--layout", "cached"]) == 2
