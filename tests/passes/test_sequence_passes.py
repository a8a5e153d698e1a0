"""One small hand-built IR graph per sequence pass: what it matches, what it leaves."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.exact import as_floats
from onnx2lwtnn.ir import IRGraph, Port
from onnx2lwtnn.passes import (drop_initial_states, drop_sequence_views, fuse_activation,
                               lower_activations, lower_conv1d, lower_last_step,
                               lower_recurrent, lower_reduce_time)
from onnx2lwtnn.passes.common import sequence_view

RNG = np.random.default_rng(5)
H, F = 3, 2  # hidden units, input features


def sequence_input(shape=("N", "T", F)) -> tuple[IRGraph, Port]:
    ir = IRGraph(opset=13)
    node = ir.add("Input", shapes=[shape], attrs={"name": "tracks", "dtype": 1})
    ir.inputs.append(node)
    return ir, Port(node)


def op(ir: IRGraph, kind: str, operands: list, shape, **attrs) -> Port:
    return Port(ir.add(kind, operands, attrs=attrs, shapes=[shape], label=kind.lower()))


def const(ir: IRGraph, value) -> Port:
    return ir.add_const(np.asarray(value))


def finish(ir: IRGraph, port: Port) -> str:
    node = ir.add("Output", [port], attrs={"name": "y"}, shapes=[ir.shape(port)])
    ir.outputs.append(node)
    return node


def output_source(ir: IRGraph) -> Port:
    return ir.operand(ir.outputs[0], 0)


def recurrent(ir: IRGraph, kind: str, x: Port, gates: int, *extra, layout=0, **attrs) -> str:
    """An ONNX recurrent node reading x, with random W, R, B; returns its node id."""
    operands = [x, const(ir, RNG.normal(size=(1, gates * H, F))),
                const(ir, RNG.normal(size=(1, gates * H, H))),
                const(ir, RNG.normal(size=(1, 2 * gates * H))), *extra]
    shapes = [("T", 1, "N", H), (1, "N", H)] if layout == 0 else [("N", "T", 1, H), ("N", 1, H)]
    return ir.add(kind, operands, attrs={"hidden_size": H, "layout": layout, **attrs},
                  shapes=shapes + [shapes[1]], label=kind)


def last_state(ir: IRGraph, node: str) -> str:
    """Squeeze(Y_h, [0]) -> graph output."""
    return finish(ir, op(ir, "Squeeze", [Port(node, 1), const(ir, [0])], ("N", H)))


def time_major(ir: IRGraph, x: Port) -> Port:
    return op(ir, "Transpose", [x], ("T", "N", F), perm=[1, 0, 2])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- lower_recurrent -------------------------------------------------------------------
def test_lstm_gates_map_from_onnx_iofc_to_lwtnn_components_and_compute_the_same_step():
    ir, x = sequence_input()
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4)
    w, r, b = (ir.const_value(ir.operand(lstm, slot))[0] for slot in (1, 2, 3))
    last_state(ir, lstm)
    assert lower_recurrent.lower_recurrent.run(ir)
    (node,) = ir.nodes("Recurrent")
    attrs = ir.attrs(node)
    assert ir.operand(node, 0) == x
    assert (attrs["architecture"], attrs["activation"], attrs["inner_activation"]) == (
        "lstm", "tanh", "sigmoid")
    assert list(attrs["components"]) == ["i", "f", "c", "o"]
    onnx_order = {"i": 0, "o": 1, "f": 2, "c": 3}
    for gate, k in onnx_order.items():
        rows = slice(k * H, (k + 1) * H)
        np.testing.assert_array_equal(attrs["components"][gate]["weights"], w[rows])
        np.testing.assert_array_equal(attrs["components"][gate]["U"], r[rows])
        np.testing.assert_allclose(attrs["components"][gate]["bias"],
                                   b[:4 * H][rows] + b[4 * H:][rows])
    # two steps by ONNX's equations (gates i, o, f, c stacked) against lwtnn's per component
    steps = RNG.normal(size=(2, F))
    h_onnx, c_onnx = np.zeros(H), np.zeros(H)
    h_lwtnn, c_lwtnn = np.zeros(H), np.zeros(H)
    parts = attrs["components"]
    for xt in steps:
        z = w @ xt + r @ h_onnx + b[:4 * H] + b[4 * H:]
        i, o, f, c = sigmoid(z[:H]), sigmoid(z[H:2 * H]), sigmoid(z[2 * H:3 * H]), np.tanh(z[3 * H:])
        c_onnx = f * c_onnx + i * c
        h_onnx = o * np.tanh(c_onnx)
        gate = {g: p["weights"] @ xt + p["bias"] + p["U"] @ h_lwtnn for g, p in parts.items()}
        c_lwtnn = sigmoid(gate["f"]) * c_lwtnn + sigmoid(gate["i"]) * np.tanh(gate["c"])
        h_lwtnn = sigmoid(gate["o"]) * np.tanh(c_lwtnn)
    np.testing.assert_allclose(h_lwtnn, h_onnx, rtol=1e-12)


def test_y_h_becomes_the_last_step_and_y_a_view_of_the_sequence():
    ir, x = sequence_input()
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4)
    y_reader = op(ir, "Identity", [Port(lstm, 0)], ("T", 1, "N", H))
    last_state(ir, lstm)
    assert lower_recurrent.lower_recurrent.run(ir)
    (node,) = ir.nodes("Recurrent")
    squeeze_operand = ir.operand(output_source(ir).node, 0)
    assert ir.op(ir.operand(squeeze_operand.node, 0).node) == "LastStep"
    assert sequence_view(ir, ir.operand(y_reader.node, 0)) == (Port(node), ("time", 1, "batch",
                                                                           "feature"))


def test_gru_components_are_z_r_h_and_linear_before_reset_1_is_refused_naming_pytorch():
    ir, x = sequence_input()
    gru = recurrent(ir, "GRU", time_major(ir, x), 3)
    w = ir.const_value(ir.operand(gru, 1))[0]
    last_state(ir, gru)
    assert lower_recurrent.lower_recurrent.run(ir)
    attrs = ir.attrs(ir.nodes("Recurrent")[0])
    assert list(attrs["components"]) == ["z", "r", "h"]
    np.testing.assert_array_equal(attrs["components"]["r"]["weights"], w[H:2 * H])

    ir, x = sequence_input()
    gru = recurrent(ir, "GRU", time_major(ir, x), 3, linear_before_reset=1)
    last_state(ir, gru)
    assert not lower_recurrent.lower_recurrent.run(ir)
    assert "linear_before_reset" in ir[gru]["refusal"] and "nn.GRU" in ir[gru]["refusal"]


@pytest.mark.parametrize("onnx_name, lwtnn", [("Relu", "rectified"), ("Tanh", "tanh"),
                                              ("Sigmoid", "sigmoid")])
def test_rnn_activation_maps_to_lwtnn(onnx_name, lwtnn):
    ir, x = sequence_input()
    rnn = recurrent(ir, "RNN", time_major(ir, x), 1, activations=[onnx_name])
    last_state(ir, rnn)
    assert lower_recurrent.lower_recurrent.run(ir)
    attrs = ir.attrs(ir.nodes("Recurrent")[0])
    assert (attrs["architecture"], attrs["activation"], attrs["inner_activation"]) == (
        "simplernn", lwtnn, None)


@pytest.mark.parametrize("kind, gates, extra, attrs, reason", [
    ("RNN", 1, (), {"activations": ["Softsign"]}, "Softsign"),
    ("LSTM", 4, (), {"direction": "reverse"}, "bidirectional"),
    ("LSTM", 4, (), {"clip": 3.0}, "clip"),
    ("LSTM", 4, (), {"input_forget": 1}, "input_forget"),
    ("LSTM", 4, ("seq_lens",), {}, "sequence_lens"),
    ("LSTM", 4, (None, "h0"), {}, "initial"),
    ("LSTM", 4, (None, None, None, "peepholes"), {}, "peephole"),
])
def test_recurrent_configurations_lwtnn_lacks_are_refused_with_a_reason(kind, gates, extra,
                                                                         attrs, reason):
    ir, x = sequence_input()
    values = {"seq_lens": np.array([3], np.int32), "h0": np.ones((1, 1, H)),
              "peepholes": np.ones((1, 3 * H))}
    operands = [None if e is None else const(ir, values[e]) for e in extra]
    node = recurrent(ir, kind, time_major(ir, x), gates, *operands, **attrs)
    last_state(ir, node)
    assert not lower_recurrent.lower_recurrent.run(ir)
    assert reason in ir[node]["refusal"]


def test_a_used_cell_state_is_refused():
    ir, x = sequence_input()
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4)
    finish(ir, Port(lstm, 2))
    assert not lower_recurrent.lower_recurrent.run(ir)
    assert "Y_c" in ir[lstm]["refusal"]


def test_a_time_major_input_read_directly_is_reoriented():
    ir, x = sequence_input(("T", "N", F))
    lstm = recurrent(ir, "LSTM", x, 4)
    other = op(ir, "Identity", [x], ("T", "N", F))
    last_state(ir, lstm)
    assert lower_recurrent.lower_recurrent.run(ir)
    assert ir.shape(x) == ("N", "T", F)
    assert ir.operand(ir.nodes("Recurrent")[0], 0) == x
    assert sequence_view(ir, ir.operand(other.node, 0)) == (x, ("time", "batch", "feature"))


def test_layout_1_reads_the_batch_major_sequence():
    ir, x = sequence_input()
    lstm = recurrent(ir, "LSTM", x, 4, layout=1)
    finish(ir, op(ir, "Squeeze", [Port(lstm, 1), const(ir, [1])], ("N", H)))
    assert lower_recurrent.lower_recurrent.run(ir)
    assert ir.operand(ir.nodes("Recurrent")[0], 0) == x


# -- drop_initial_states ---------------------------------------------------------------
def _legacy_zero_state(ir: IRGraph, x: Port, fill: float) -> Port:
    """Shape -> Gather(0) -> Unsqueeze -> Concat([1], N, [H]) -> ConstantOfShape(fill)."""
    shape = op(ir, "Shape", [x], (3,))
    batch = op(ir, "Gather", [shape, const(ir, 0)], (), axis=0)
    batch = op(ir, "Unsqueeze", [batch, const(ir, [0])], (1,))
    target = op(ir, "Concat", [const(ir, [1]), batch, const(ir, [H])], (3,), axis=0)
    return op(ir, "ConstantOfShape", [target], (1, "N", H),
              value=np.array([fill], np.float32))


@pytest.mark.parametrize("fill, dropped", [(0.0, True), (1.0, False)])
def test_legacy_zero_state_subgraph_is_dropped_and_a_nonzero_one_kept(fill, dropped):
    ir, x = sequence_input()
    state = _legacy_zero_state(ir, x, fill)
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4, None, state, state)
    last_state(ir, lstm)
    assert drop_initial_states.drop_zero_initial_states.run(ir) == dropped
    assert (ir.operand(lstm, 5) is None and ir.operand(lstm, 6) is None) == dropped


def test_dynamo_expand_then_slice_of_zero_is_dropped():
    ir, x = sequence_input()
    shape = op(ir, "Shape", [x], (1,), start=0, end=1)
    target = op(ir, "Concat", [const(ir, [1]), shape, const(ir, [H])], (3,), axis=0)
    zeros = op(ir, "Expand", [const(ir, np.float32(0)), target], (1, "N", H))
    state = op(ir, "Slice", [zeros, const(ir, [0]), const(ir, [1]), const(ir, [0])],
               (1, "N", H))
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4, None, state, state)
    last_state(ir, lstm)
    assert drop_initial_states.drop_zero_initial_states.run(ir)
    assert ir.operand(lstm, 5) is None and ir.operand(lstm, 6) is None


# -- lower_last_step -------------------------------------------------------------------
def _lowered_lstm_y(ir: IRGraph, x: Port) -> tuple[str, Port]:
    """A lowered LSTM and its Y squeezed to [T, N, H] (the Keras-style stacked form)."""
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4)
    y = op(ir, "Squeeze", [Port(lstm, 0), const(ir, [1])], ("T", "N", H))
    return lstm, y


def test_gather_of_the_last_time_step_becomes_a_last_step():
    ir, x = sequence_input()
    _, y = _lowered_lstm_y(ir, x)
    finish(ir, op(ir, "Gather", [y, const(ir, np.int64(-1))], ("N", H), axis=0))
    assert lower_recurrent.lower_recurrent.run(ir)
    assert lower_last_step.gather_last_step.run(ir)
    last = output_source(ir)
    assert ir.op(last.node) == "LastStep" and ir.op(ir.operand(last.node, 0).node) == "Recurrent"


def test_gather_of_another_time_step_is_refused():
    ir, x = sequence_input()
    _, y = _lowered_lstm_y(ir, x)
    gather = op(ir, "Gather", [y, const(ir, np.int64(0))], ("N", H), axis=0)
    finish(ir, gather)
    lower_recurrent.lower_recurrent.run(ir)
    assert not lower_last_step.gather_last_step.run(ir)
    assert "last step" in ir[gather.node]["refusal"]


def test_slice_of_the_last_step_keeps_an_axis_of_size_1():
    ir, x = sequence_input()
    _, y = _lowered_lstm_y(ir, x)
    last = op(ir, "Slice", [y, const(ir, [-1]), const(ir, [2 ** 62]), const(ir, [0])],
              (1, "N", H))
    finish(ir, op(ir, "Squeeze", [last, const(ir, [0])], ("N", H)))
    lower_recurrent.lower_recurrent.run(ir)
    assert lower_last_step.slice_last_step.run(ir)
    unsqueeze = ir.operand(output_source(ir).node, 0)
    assert ir.op(unsqueeze.node) == "Unsqueeze"
    assert ir.op(ir.operand(unsqueeze.node, 0).node) == "LastStep"


def test_the_last_step_of_an_input_sequence_is_refused():
    ir, x = sequence_input()
    gather = op(ir, "Gather", [x, const(ir, np.int64(-1))], ("N", F), axis=1)
    finish(ir, gather)
    assert not lower_last_step.gather_last_step.run(ir)
    assert "recurrent or conv1d" in ir[gather.node]["refusal"]


def test_gather_of_y_h_on_its_direction_axis_becomes_a_squeeze():
    ir, x = sequence_input()
    lstm = recurrent(ir, "LSTM", time_major(ir, x), 4)
    finish(ir, op(ir, "Gather", [Port(lstm, 1), const(ir, np.int64(-1))], ("N", H), axis=0))
    assert lower_last_step.gather_of_singleton_axis.run(ir)
    assert ir.op(output_source(ir).node) == "Squeeze"


@pytest.mark.parametrize("steps, converts", [(1, True), (3, False)])
def test_a_sequence_output_is_its_last_step_only_when_it_has_one_step(steps, converts):
    ir, x = sequence_input((4, steps, F))
    lstm = recurrent(ir, "LSTM", x, 4, layout=1)
    ir[lstm]["shapes"][0] = (4, steps, 1, H)
    output = finish(ir, Port(lstm, 0))
    assert lower_recurrent.lower_recurrent.run(ir)
    lower_last_step.sequence_output.run(ir)
    assert (ir[output]["refusal"] is None) == converts
    if converts:
        assert lower_last_step.vector_output.run(ir)
        assert ir.op(output_source(ir).node) == "LastStep"
    else:
        assert "whole sequence" in ir[output]["refusal"]


# -- lower_reduce_time -----------------------------------------------------------------
def _per_step_relu(ir: IRGraph, x: Port) -> Port:
    """Relu of a sequence, lowered: an Activation applied at every step."""
    op(ir, "Relu", [x], ir.shape(x))
    assert lower_activations.lower_direct.run(ir)
    (node,) = ir.nodes("Activation")
    return Port(node)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_sum_over_time_becomes_a_sequence_sum(keepdims):
    ir, x = sequence_input()
    h = _per_step_relu(ir, x)
    shape = ("N", 1, F) if keepdims else ("N", F)
    pooled = op(ir, "ReduceSum", [h, const(ir, [1])], shape, keepdims=keepdims)
    finish(ir, pooled)
    assert lower_reduce_time.lower_reduce_over_time.run(ir)
    (total,) = ir.nodes("SequenceSum")
    assert ir.operand(total, 0) == h
    assert ir.op(output_source(ir).node) == ("Unsqueeze" if keepdims else "SequenceSum")


def test_reduce_mean_over_a_variable_length_is_refused_naming_sum():
    ir, x = sequence_input()
    mean = op(ir, "ReduceMean", [_per_step_relu(ir, x)], ("N", F), axes=[1], keepdims=0)
    finish(ir, mean)
    assert not lower_reduce_time.lower_reduce_over_time.run(ir)
    assert "ReduceMean" in ir[mean.node]["refusal"] and "sum" in ir[mean.node]["refusal"]


def test_reduce_mean_over_a_fixed_length_is_a_scaled_sum():
    ir, x = sequence_input(("N", 4, F))
    finish(ir, op(ir, "ReduceMean", [_per_step_relu(ir, x)], ("N", F), axes=[1], keepdims=0))
    assert lower_reduce_time.lower_reduce_over_time.run(ir)
    scale = output_source(ir)
    assert ir.op(scale.node) == "Affine"
    np.testing.assert_array_equal(as_floats(ir.attrs(scale.node)["scale"]), [0.25] * F)
    assert ir.op(ir.operand(scale.node, 0).node) == "SequenceSum"


def test_reduce_sum_over_features_is_refused():
    ir, x = sequence_input()
    total = op(ir, "ReduceSum", [_per_step_relu(ir, x), const(ir, [2])], ("N", "T"), keepdims=0)
    finish(ir, total)
    assert not lower_reduce_time.lower_reduce_over_time.run(ir)
    assert "time only" in ir[total.node]["refusal"]


# -- lower_conv1d ----------------------------------------------------------------------
def _conv(ir: IRGraph, x: Port, kernel=3, pads=(1, 1), dilation=1, group=1, stride=1) -> Port:
    channels_first = op(ir, "Transpose", [x], ("N", F, "T"), perm=[0, 2, 1])
    w = const(ir, RNG.normal(size=(4, F // group, kernel)))
    return op(ir, "Conv", [channels_first, w, const(ir, RNG.normal(size=4))], ("N", 4, "T"),
              kernel_shape=[kernel], pads=list(pads), dilations=[dilation], group=group,
              strides=[stride])


@pytest.mark.parametrize("kernel, dilation, pads, padding", [
    (3, 1, (0, 0), "valid"), (3, 1, (2, 0), "causal"), (3, 1, (1, 1), "same"),
    (3, 2, (2, 2), "same"), (3, 2, (4, 0), "causal"), (4, 1, (2, 1), "same"),
])
def test_conv_pads_map_to_lwtnn_padding(kernel, dilation, pads, padding):
    ir, x = sequence_input()
    conv = _conv(ir, x, kernel, pads, dilation)
    finish(ir, op(ir, "Transpose", [conv], ("N", "T", 4), perm=[0, 2, 1]))
    assert lower_conv1d.lower_conv1d.run(ir)
    (node,) = ir.nodes("Conv1d")
    assert (ir.attrs(node)["padding"], ir.attrs(node)["dilation"]) == (padding, dilation)
    assert drop_sequence_views.drop_sequence_view.run(ir)
    assert output_source(ir) == Port(node)


@pytest.mark.parametrize("kernel, pads, group, stride, reason", [
    (3, (1, 0), 1, 1, "pads [1, 0]"),
    (3, (1, 1), 2, 1, "group=2"),
    (3, (1, 1), 1, 2, "strides [2]"),
])
def test_conv_lwtnn_cannot_express_is_refused(kernel, pads, group, stride, reason):
    ir, x = sequence_input()
    conv = _conv(ir, x, kernel, pads, group=group, stride=stride)
    finish(ir, op(ir, "Transpose", [conv], ("N", "T", 4), perm=[0, 2, 1]))
    assert not lower_conv1d.lower_conv1d.run(ir)
    assert reason in ir[conv.node]["refusal"]


def test_relu_after_a_conv_fuses_into_the_layer_but_softmax_does_not():
    ir, x = sequence_input()
    relu = op(ir, "Relu", [_conv(ir, x)], ("N", 4, "T"))
    finish(ir, op(ir, "Transpose", [relu], ("N", "T", 4), perm=[0, 2, 1]))
    assert lower_conv1d.lower_conv1d.run(ir)
    assert ir.attrs(ir.nodes("Conv1d")[0])["activation"] == "rectified"
    assert ir.nodes("Relu") == []

    ir, x = sequence_input()
    finish(ir, op(ir, "Transpose", [_conv(ir, x)], ("N", "T", 4), perm=[0, 2, 1]))
    lower_conv1d.lower_conv1d.run(ir)
    drop_sequence_views.drop_sequence_view.run(ir)
    softmax = ir.add("Activation", [output_source(ir)], attrs={"activation": "softmax"},
                     shapes=[("N", "T", 4)])
    ir.connect(Port(softmax), ir.outputs[0], 0)
    assert not fuse_activation.fuse_into_conv1d.run(ir)
