"""The lowering passes (ONNX ops -> lwtnn layers), where their mutation campaign found the
suite silent: activation attributes, a conv's bias added from the left, the refusals of
convolutions and recurrent layers lwtnn cannot run (and what they name), swish forms,
element-wise functions that become correctionlib input transforms, feature assignments
built from the batch size, selections, and recurrent layers built from a Loop.

Each model is converted without the built-in verification; the oracle is the float64 ONNX
reference (tests/support.py), a formula written in the test, or the refusal the docs
promise for what lwtnn lacks."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.api import conversion
from onnx2lwtnn.errors import ConversionError
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_exact

FLOAT = TensorProto.FLOAT
RNG = np.random.default_rng(26)


@pytest.fixture(autouse=True)
def _same_draws_whichever_tests_run():
    """Each test draws the same numbers however tests are selected (mutmut runs some)."""
    global RNG
    RNG = np.random.default_rng(26)


def _model(nodes, initializers: dict, inputs: list, outputs: list,
           opset: int = 17) -> onnx.ModelProto:
    """A checked model; inputs and outputs are (name, shape) pairs."""
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _weights(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def _events(width: int, n: int = 40) -> dict[str, np.ndarray]:
    return {"x": (RNG.normal(size=(n, width)) * 2).astype(np.float32)}


def _sequences(features: int, n: int = 12) -> dict[str, list]:
    return {"x": [RNG.normal(size=(int(t), features)).astype(np.float32)
                  for t in RNG.integers(4, 9, size=n)]}


def _converts_exactly(model: onnx.ModelProto, events=None, sequences=None) -> None:
    document = convert(model, verify=False)
    network = load_network(document)
    assert_exact(network.evaluate(events or {}, sequences), model, events or {}, sequences)


def _refusal(model: onnx.ModelProto) -> str:
    with pytest.raises(ConversionError) as refused:
        convert(model, verify=False)
    return str(refused.value)


# -- activations -------------------------------------------------------------------------

@pytest.mark.parametrize("op, alpha", [("LeakyRelu", 0.3), ("Elu", 0.5)])
def test_an_activation_keeps_the_alpha_the_model_gives(op, alpha):
    """alpha is not the default (0.01, 1.0): lwtnn's activation must carry the model's."""
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
                    helper.make_node(op, ["h"], ["y"], alpha=alpha)],
                   {"w": _weights(3, 4), "b": _weights(3)}, [("x", ["N", 4])],
                   [("y", ["N", 3])])
    _converts_exactly(model, _events(4))


def test_the_activation_table_is_described_as_ops_shows_it():
    """`onnx2lwtnn ops` shows the pass's description, made from its table when the module
    loads; made again, it is the same, with an alpha shown for the ops that take one."""
    from onnx2lwtnn.passes import lower_activations

    described = lower_activations._direct_doc()
    assert described == lower_activations.lower_direct.doc
    for shown in ("Relu -> rectified", "LeakyRelu -> leakyrelu(alpha)", "Elu -> elu(alpha)"):
        assert shown in described


def test_an_activation_with_alpha_reads_the_models_alpha_or_onnx_s_default():
    """The table's entries are made when the module loads (so a conversion alone cannot
    tell a mutated entry maker from the original under mutmut): made here, an entry reads
    the model's alpha, else the ONNX default as a float32."""
    from onnx2lwtnn.passes import lower_activations

    entry = lower_activations._with_alpha("leakyrelu", 0.01)
    assert entry({"alpha": 0.3}) == {"function": "leakyrelu", "alpha": 0.3}
    assert entry({}) == {"function": "leakyrelu", "alpha": float(np.float32(0.01))}


# -- conv1d --------------------------------------------------------------------------------

def _conv_over_tracks(conv_inputs: list, after: list, initializers: dict, n_out: int,
                      features: int = 3, **conv_attrs) -> onnx.ModelProto:
    """tracks [N, T, F] -> channels-first -> Conv -> ``after`` (reading 'c', writing 'a')
    -> back to [N, T', n_out] -> summed over time."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("Conv", ["xt"] + conv_inputs, ["c"], **conv_attrs),
             *after,
             helper.make_node("Transpose", ["a"], ["s"], perm=[0, 2, 1]),
             helper.make_node("ReduceSum", ["s", "time"], ["y"], keepdims=0)]
    return _model(nodes, {**initializers, "time": np.array([1], np.int64)},
                  [("x", ["N", "T", features])], [("y", ["N", n_out])])


def test_a_conv_bias_added_from_the_left_is_the_conv_s_bias():
    """Add(constant, conv): the constant is the operand that is not the conv."""
    model = _conv_over_tracks(["w"], [helper.make_node("Add", ["k", "c"], ["a"])],
                              {"w": _weights(2, 3, 3), "k": _weights(1, 2, 1)}, 2)
    _converts_exactly(model, sequences=_sequences(3))


@pytest.mark.parametrize("weight, attrs, named", [
    ((2, 3, 3, 3), {}, "a 2-D convolution (kernel [3, 3])"),
    ((2, 1, 3), {"group": 3}, "group=3: lwtnn's conv1d has no grouped (or depthwise) "
                              "convolution"),
])
def test_a_conv_lwtnn_has_no_layer_for_is_refused_naming_why(weight, attrs, named):
    if len(weight) == 4:  # a 2-D convolution of the tracks seen as [N, F, T, 1]
        after = [helper.make_node("Squeeze", ["c", "last"], ["a"])]
        model = _model([helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
                        helper.make_node("Unsqueeze", ["xt", "last"], ["x4"]),
                        helper.make_node("Conv", ["x4", "w"], ["c"], pads=[1, 1, 1, 1]),
                        *after,
                        helper.make_node("Transpose", ["a"], ["y"], perm=[0, 2, 1])],
                       {"w": _weights(*weight), "last": np.array([3], np.int64)},
                       [("x", ["N", "T", 3])], [("y", ["N", "T", 2])])
    else:
        model = _conv_over_tracks(["w"], [helper.make_node("Identity", ["c"], ["a"])],
                                  {"w": _weights(*weight)}, 2, **attrs)
    assert named in _refusal(model)


def test_a_2d_conv_padding_its_axis_of_one_on_one_side_is_refused():
    """tf2onnx's 2-D form [N, F, 1, T]: padding the axis of size 1 (at its start only)
    changes the output's shape, which no conv1d gives."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("Unsqueeze", ["xt", "two"], ["x4"]),
             helper.make_node("Conv", ["x4", "w"], ["y"], pads=[1, 0, 0, 0])]
    model = _model(nodes, {"w": _weights(2, 3, 1, 1), "two": np.array([2], np.int64)},
                   [("x", ["N", "T", 3])], [("y", ["N", 2, 2, "T"])])
    assert "pad the axis of size 1 of its 2-D form" in _refusal(model)


# -- recurrent layers ----------------------------------------------------------------------

def _lstm(extra_inputs: list, initializers: dict, **attrs) -> onnx.ModelProto:
    hidden, features = 2, 3
    weights = {"W": _weights(1, 4 * hidden, features) * 0.3,
               "R": _weights(1, 4 * hidden, hidden) * 0.3}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R"] + extra_inputs, ["", "h"],
                              hidden_size=hidden, **attrs),
             helper.make_node("Squeeze", ["h", "zero"], ["y"])]
    return _model(nodes, {**weights, "zero": np.array([0], np.int64), **initializers},
                  [("x", ["N", "T", features])], [("y", ["N", hidden])])


def test_an_lstm_with_sequence_lengths_is_refused_naming_them():
    model = _lstm(["", "lens"], {"lens": np.array([3], np.int32)})
    assert ("its sequence_lens input is not supported: lwtnn gives every event a sequence "
            "of its own length") in _refusal(model)


def test_an_lstm_starting_from_a_given_cell_state_is_refused_naming_it():
    model = _lstm(["", "", "", "c0"], {"c0": np.full((1, 1, 2), 0.5, np.float32)})
    assert "its initial state initial_c is not provably zero" in _refusal(model)


def test_an_lstm_whose_cell_and_output_activations_differ_is_refused():
    """lwtnn's lstm has one activation for both: Relu on the cell, Tanh on the output has
    no lwtnn form (converting it would compute other numbers)."""
    model = _lstm([], {}, activations=["Sigmoid", "Relu", "Tanh"])
    assert "its cell activation Relu differs from its output activation Tanh" in \
        _refusal(model)


# -- swish ---------------------------------------------------------------------------------

def _swish(gate_input: list, initializers: dict) -> onnx.ModelProto:
    """y = h * Sigmoid(``gate_input`` of h), h = Gemm(x)."""
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), *gate_input,
             helper.make_node("Sigmoid", ["s"], ["g"]),
             helper.make_node("Mul", ["h", "g"], ["y"])]
    return _model(nodes, {"w": _weights(2, 4), "b": _weights(2), **initializers},
                  [("x", ["N", 4])], [("y", ["N", 2])])


def test_swish_of_a_scaled_input_written_as_a_division():
    """Sigmoid(h / 0.5): found once the division is an Affine and the Sigmoid an lwtnn
    activation."""
    model = _swish([helper.make_node("Div", ["h", "d"], ["s"])],
                   {"d": np.array(0.5, np.float32)})
    _converts_exactly(model, _events(4))


def test_a_gate_scaled_per_feature_is_no_swish():
    """h * Sigmoid(h * [1.5, -0.5]): swish has one alpha, so this is refused."""
    model = _swish([helper.make_node("Mul", ["h", "k"], ["s"])],
                   {"k": np.array([1.5, -0.5], np.float32)})
    assert "only x * sigmoid(b x), i.e. swish, is" in _refusal(model)


# -- input transforms (--format correctionlib) -----------------------------------------

def _correctionlib_outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """correctionlib's own evaluation of the CorrectionSet written for ``model`` (one
    output, inputs x_0, x_1, ...)."""
    correctionlib = pytest.importorskip("correctionlib")
    document = conversion(model, format="correctionlib", verify=False).document
    (evaluator,) = correctionlib.CorrectionSet.from_string(json.dumps(document)).values()
    return np.array([[evaluator.evaluate(*map(float, row))] for row in x])


def _function_then_dense(function: list, initializers: dict, opset: int = 17):
    """y = w . f(x) + b for an element-wise f of the three raw input features."""
    nodes = [*function, helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    return _model(nodes, {"w": np.array([[0.5, -1.25, 2.0]], np.float32),
                          "b": np.array([0.25], np.float32), **initializers},
                  [("x", ["N", 3])], [("y", ["N", 1])], opset)


@pytest.mark.parametrize("function, initializers", [
    ([helper.make_node("Clip", ["x", "low", "high"], ["f"])],
     {"low": np.array(-0.5, np.float32), "high": np.array(1.5, np.float32)}),
    ([helper.make_node("Clip", ["x", "", "high"], ["f"])], {"high": np.array(0.75, np.float32)}),
    ([helper.make_node("Min", ["x", "c", "d"], ["f"])],
     {"c": np.array([0.5, 2.0, -1.0], np.float32), "d": np.array([1.0, -0.5, 0.0], np.float32)}),
    ([helper.make_node("Max", ["c", "x"], ["f"])], {"c": np.array([0.5, 2.0, -1.0], np.float32)}),
    ([helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Pow", ["a", "p"], ["f"])],
     {"p": np.array([0.5, 2.0, 3.0], np.float32)}),
], ids=["clip", "clip-high-only", "min-of-two", "max", "pow"])
def test_a_function_of_input_features_is_computed_by_correctionlib(function, initializers):
    model = _function_then_dense(function, initializers)
    x = _events(3)["x"]
    assert_exact({"y": _correctionlib_outputs(model, x)}, model, {"x": x})


def test_an_opset_10_clip_reads_its_bounds_from_attributes():
    """Clip(min=-0.5) before opset 11; its max defaults to float32's largest, which bounds
    even an input beyond it. The oracle is the formula, written here."""
    model = _function_then_dense([helper.make_node("Clip", ["x"], ["f"], min=-0.5)], {}, 10)
    x = np.vstack([_events(3)["x"], [[1e39, -1e39, 2.0]]])
    clipped = np.clip(x.astype(np.float64), -0.5, float(np.finfo(np.float32).max))
    expected = clipped @ np.array([0.5, -1.25, 2.0]) + 0.25
    np.testing.assert_allclose(_correctionlib_outputs(model, x)[:, 0], expected, rtol=1e-9)


def test_an_opset_10_clip_with_both_bounds():
    model = _function_then_dense([helper.make_node("Clip", ["x"], ["f"], min=-0.5, max=1.0)],
                                 {}, 10)
    x = _events(3)["x"]
    expected = np.clip(x.astype(np.float64), -0.5, 1.0) @ np.array([0.5, -1.25, 2.0]) + 0.25
    np.testing.assert_allclose(_correctionlib_outputs(model, x)[:, 0], expected, rtol=1e-9)


# -- feature assignment built from the batch size ----------------------------------------

def test_an_assignment_built_from_slices_gathers_and_casts_of_the_shape():
    """x[:, [-4, 3]] = [2, 5], with the index rows expanded to (Gather of the shape at two
    positions) and the value rows to (Slice of the shape, 2); the indices are Cast from
    floats (-4.5 truncates to -4, feature 0), the values from integers."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Concat", ["shape", "two"], ["with_two"], axis=0),
             helper.make_node("Gather", ["with_two", "batch_and_two"], ["index_shape"]),
             helper.make_node("Expand", ["columns", "index_shape"], ["float_indices"]),
             helper.make_node("Cast", ["float_indices"], ["index_rows"],
                              to=TensorProto.INT64),
             helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
             helper.make_node("Concat", ["batch", "two"], ["value_shape"], axis=0),
             helper.make_node("Expand", ["values", "value_shape"], ["integer_rows"]),
             helper.make_node("Cast", ["integer_rows"], ["value_rows"], to=FLOAT),
             helper.make_node("ScatterElements", ["x", "index_rows", "value_rows"],
                              ["assigned"], axis=1),
             helper.make_node("Gemm", ["assigned", "w", "b"], ["y"], transB=1)]
    model = _model(nodes, {"w": _weights(2, 4), "b": _weights(2),
                           "two": np.array([2], np.int64),
                           "batch_and_two": np.array([0, 2], np.int64),
                           "zero": np.array([0], np.int64), "one": np.array([1], np.int64),
                           "columns": np.array([[-4.5, 3.0]], np.float32),
                           "values": np.array([[2, 5]], np.int64)},
                   [("x", ["N", 4])], [("y", ["N", 2])])
    _converts_exactly(model, _events(4))


# -- selections ----------------------------------------------------------------------------

def test_a_slice_of_a_fixed_batch_of_one_keeps_the_event():
    """x[0:1, 1:3] of an input whose batch is fixed at 1 (as many exports write it):
    the batch slice keeps every event, the feature slice is a selection."""
    model = _model([helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"])],
                   {"starts": np.array([0, 1], np.int64), "ends": np.array([1, 3], np.int64),
                    "axes": np.array([0, 1], np.int64)}, [("x", [1, 4])], [("y", [1, 2])])
    _converts_exactly(model, _events(4, n=1))


def test_an_empty_selection_is_refused():
    model = _model([helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["e"]),
                    helper.make_node("Concat", ["x", "e"], ["y"], axis=1)],
                   {"starts": np.array([2], np.int64), "ends": np.array([2], np.int64),
                    "axes": np.array([1], np.int64)}, [("x", ["N", 4])], [("y", ["N", 4])])
    assert "the selection is empty" in _refusal(model)


def test_a_slice_of_every_feature_from_a_negative_start_is_no_slice():
    """Slice(tracks, starts [0, -3], axes [time, features]) of 3 features keeps the whole
    sequence (the feature axis starts at -3, the time axis at 0)."""
    big = np.iinfo(np.int64).max
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["whole"]),
             helper.make_node("MatMul", ["whole", "w"], ["h"]),
             helper.make_node("ReduceSum", ["h", "one"], ["y"], keepdims=0)]
    model = _model(nodes, {"starts": np.array([0, -3], np.int64),
                           "ends": np.array([big, big], np.int64),
                           "axes": np.array([1, 2], np.int64), "one": np.array([1], np.int64),
                           "w": _weights(3, 2)},
                   [("x", ["N", "T", 3])], [("y", ["N", 2])])
    _converts_exactly(model, sequences=_sequences(3))


# -- batch normalisation of a vector seen as [N, C, 1] ---------------------------------

def test_a_batch_norm_of_a_vector_unsqueezed_to_channels_is_an_affine():
    nodes = [helper.make_node("Unsqueeze", ["x", "two"], ["x3"]),
             helper.make_node("BatchNormalization", ["x3", "gamma", "beta", "mean", "var"],
                              ["n3"], epsilon=1e-3),
             helper.make_node("Squeeze", ["n3", "two"], ["n"]),
             helper.make_node("Gemm", ["n", "w", "b"], ["y"], transB=1)]
    model = _model(nodes, {"two": np.array([2], np.int64), "gamma": _weights(4),
                           "beta": _weights(4), "mean": _weights(4),
                           "var": np.abs(_weights(4)) + 0.5, "w": _weights(2, 4),
                           "b": _weights(2)},
                   [("x", ["N", 4])], [("y", ["N", 2])])
    _converts_exactly(model, _events(4))


# -- recurrent layers built from a Loop -----------------------------------------------------

def test_two_loop_rnns_final_states_and_passed_through_biases_can_be_read():
    """tf2onnx's Keras GRU then SimpleRNN, with two more outputs: each Loop's final state
    (carried output 1) plus its own passed-through bias (carried output 4, of 18 and 5
    values): the last steps of the recurrent layers, and the biases each Loop was given."""
    model = onnx.load(str(FIXTURES / "tf2onnx_keras3_gru_sequence_simplernn.onnx"))
    gru, rnn = [n for n in model.graph.node if n.op_type == "Loop"]
    model.graph.initializer.extend([numpy_helper.from_array(np.array([v], np.int64), n)
                                    for n, v in (("zero", 0), ("six", 6))])
    model.graph.node.extend([
        helper.make_node("Add", [rnn.output[1], rnn.output[4]], ["rnn_state"]),
        helper.make_node("Slice", [gru.output[4], "zero", "six"], ["gru_bias"]),
        helper.make_node("Add", [gru.output[1], "gru_bias"], ["gru_state"])])
    model.graph.output.extend([helper.make_tensor_value_info("rnn_state", FLOAT, ["N", 5]),
                               helper.make_tensor_value_info("gru_state", FLOAT, ["N", 6])])
    sequences = {"tracks": _sequences(3)["x"]}
    document = convert(model, verify=False)
    assert_exact(load_network(document).evaluate({}, sequences), model, {}, sequences)


def _keras_loop(name: str) -> tuple[onnx.ModelProto, onnx.GraphProto]:
    """A tf2onnx Keras recurrent fixture and its Loop's body, to edit."""
    model = onnx.load(str(FIXTURES / f"{name}.onnx"))
    (loop,) = [n for n in model.graph.node if n.op_type == "Loop"]
    return model, loop.attribute[0].g


def _body_node(body: onnx.GraphProto, op: str, output_suffix: str) -> onnx.NodeProto:
    (node,) = [n for n in body.node if n.op_type == op and n.output[0].endswith(output_suffix)]
    return node


def test_a_loop_whose_condition_computes_its_step_as_a_difference_is_an_rnn():
    """The Keras SimpleRNN's condition time + 1 < T, with time + 1 written 2 (time + 1) -
    (time + 1): the same loop, over every step."""
    model, body = _keras_loop("tf2onnx_keras3_simplernn")
    less = _body_node(body, "Less", "while/Less:0")
    step = less.input[0]
    body.node.extend([helper.make_node("Add", [step, step], ["twice_step"]),
                      helper.make_node("Sub", ["twice_step", step], ["same_step"])])
    less.input[0] = "same_step"
    body.node.sort(key=lambda n: n.op_type in ("Less", "And"))  # readers after writers
    sequences = {"tracks": _sequences(3)["x"]}
    assert_exact(load_network(convert(model, verify=False)).evaluate({}, sequences), model,
                 {}, sequences)


def test_a_loop_gru_whose_complement_is_of_the_reset_gate_is_refused():
    """z * h + (1 - r) * candidate, r the reset gate: not a GRU, so no lwtnn gru."""
    model, body = _keras_loop("tf2onnx_keras3_gru")
    complement = _body_node(body, "Sub", "/sub:0")
    reset = _body_node(body, "Sigmoid", "/Sigmoid_1:0")
    complement.input[1] = reset.output[0]
    assert "not z * h + (1 - z) * candidate" in _refusal(model)
