"""Sequence networks (issue 5): every sequence fixture converts and matches its ONNX model
on 500 events of random lengths, or is refused naming every offending node; and the real
recurrent and conv1d files in ../shared/real-models do the same."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.build_ir import build_ir
from onnx2lwtnn.cli import main
from onnx2lwtnn.emit import emit
from onnx2lwtnn.interface import Interface, Variable
from onnx2lwtnn.load import load_model
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.pipeline import run_pipeline

from .support import (FIXTURES, assert_close, fixture_entries, onnx_sequence_reference,
                      random_sequences, require_shared, sequence_inputs, sequence_lengths)

SEQUENCE_ISSUES = {5}
CONVERTIBLE = fixture_entries("convert", SEQUENCE_ISSUES)
REFUSED = fixture_entries("refuse", SEQUENCE_ISSUES)
# cover tag -> the lwtnn node type and layer architecture the conversion must contain
EXPECTED_LAYERS = {"LSTM": ("sequence", "lstm"), "GRU": ("sequence", "gru"),
                   "RNN": ("sequence", "simplernn"), "conv1d": ("sequence", "conv1d"),
                   "rank3:MatMul": ("time_distributed", "dense")}


def _ids(entries):
    return [e["name"] for e in entries]


def _layers_by_node_type(document: dict) -> set[tuple[str, str]]:
    return {(n["type"], document["layers"][n["layer_index"]]["architecture"])
            for n in document["nodes"] if "layer_index" in n}


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=_ids(CONVERTIBLE))
def test_sequence_fixture_matches_onnx_on_500_events_of_random_length(entry):
    path = FIXTURES / entry["file"]
    document = convert(path)
    model = onnx.load(str(path))
    sequences = random_sequences(model, 500, seed=11, lengths=sequence_lengths(entry))
    lengths = {len(s) for s in next(iter(sequences.values()))}
    assert len(lengths) > 10  # the events really differ in length
    ours = load_network(document).evaluate({}, sequences)
    assert_close(ours, onnx_sequence_reference(model, sequences))


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=_ids(CONVERTIBLE))
def test_sequence_fixture_becomes_the_lwtnn_nodes_it_stands_for(entry):
    document = convert(FIXTURES / entry["file"])
    (name, shape), = sequence_inputs(onnx.load(str(FIXTURES / entry["file"]))).items()
    assert document["inputs"] == []
    assert [s["name"] for s in document["input_sequences"]] == [name]
    assert [v["name"] for v in document["input_sequences"][0]["variables"]] == [
        f"{name}_{i}" for i in range(shape[-1])]
    layers = _layers_by_node_type(document)
    for tag, expected in EXPECTED_LAYERS.items():
        assert (expected in layers) == (tag in entry["covers"]), (tag, layers)
    sums = [n for n in document["nodes"] if n["type"] == "sum"]
    assert len(sums) == ("ReduceSum" in entry["covers"])
    for tag in entry["covers"]:
        if tag.startswith("padding:"):
            assert any(layer.get("padding") == tag.split(":")[1] for layer in document["layers"])


@pytest.mark.parametrize("entry", REFUSED, ids=_ids(REFUSED))
def test_sequence_fixture_is_refused_naming_every_offending_node(entry, tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(FIXTURES / entry["file"]), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    assert "Traceback" not in message
    assert entry["refuse_reason"] in message
    for node in entry["refuse_nodes"]:
        assert f"'{node}'" in message


def test_sequence_variables_can_be_named_by_the_interface():
    names = [Variable(f"track_{v}") for v in ("pt", "eta", "phi", "d0", "z0", "q")]
    ir = build_ir(load_model(FIXTURES / "dips_deepsets.onnx"))
    run_pipeline(ir)
    document = emit(ir, Interface(sequence_variables={"tracks": names}))
    assert [v["name"] for v in document["input_sequences"][0]["variables"]] == [
        v.name for v in names]


def test_the_sequential_format_refuses_sequences(tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(FIXTURES / "dips_deepsets.onnx"), "-o", str(output),
                 "--format", "sequential"]) == 1
    assert "sequence" in capsys.readouterr().err and not output.exists()


# -- ../shared/real-models ----------------------------------------------------------------
# SOFIE's single-layer recurrent files output the full Y [T, 1, N, H] (layout 1: [N, T, 1,
# H]) besides Y_h. lwtnn outputs are vectors, so Y can be one only when its one time step
# is also the last (T fixed at 1); with T > 1 it is a sequence and the file is refused.
SOFIE_CONVERTS = ["GRUBatchwise", "GRUDefaults", "GRUInitialBias", "LSTMBatchwise",
                  "RNNBatchwise"]
SOFIE_REFUSED = {  # file -> (offending node or output, reason)
    "GRUSeqLength": ("Y", "whole sequence (2 time steps)"),
    "LSTMDefaults": ("Y", "whole sequence (3 time steps)"),
    "LSTMInitialBias": ("Y", "whole sequence (3 time steps)"),
    "RNNDefaults": ("Y", "whole sequence (3 time steps)"),
    "RNNSeqLength": ("Y", "whole sequence (2 time steps)"),
    "RNNSequence": ("RNN_0", "sequence_lens"),
    "RNNSequenceBatchwise": ("RNN_0", "sequence_lens"),
}


def _sofie_layout(model: onnx.ModelProto) -> int:
    (node,) = model.graph.node
    return next((a.i for a in node.attribute if a.name == "layout"), 0)


def _sofie_batch_axes(layout: int) -> dict[str, int]:
    """Where the batch axis is in Y [T, 1, N, H] / Y_h [1, N, H] (layout 0), else first."""
    return {"Y": 2, "Y_h": 1} if layout == 0 else {}


@pytest.mark.parametrize("name", SOFIE_CONVERTS)
def test_sofie_recurrent_file_matches_its_shipped_outputs(name):
    path = require_shared("real-models", "sofie", f"{name}.onnx")
    data = np.load(path.with_suffix(".npz"))
    layout = _sofie_layout(onnx.load(str(path)))
    inputs = data["in_X"].transpose(1, 0, 2) if layout == 0 else data["in_X"]
    ours = load_network(convert(path)).evaluate({}, {"X": inputs})
    reference = {k[4:]: np.moveaxis(data[k], _sofie_batch_axes(layout).get(k[4:], 0), 0)
                 for k in data.files if k.startswith("out_")}
    assert_close(ours, reference)


@pytest.mark.parametrize("name", SOFIE_CONVERTS)
def test_sofie_recurrent_file_matches_onnx_on_random_events(name):
    path = require_shared("real-models", "sofie", f"{name}.onnx")
    model = onnx.load(str(path))
    layout = _sofie_layout(model)
    steps = sequence_inputs(model)["X"][0 if layout == 0 else 1]
    sequences = random_sequences(model, 60, seed=3, lengths=(steps, steps))
    ours = load_network(convert(path)).evaluate({}, sequences)
    reference = onnx_sequence_reference(model, sequences, ("X",) if layout == 0 else (),
                                        _sofie_batch_axes(layout))
    assert_close(ours, reference)


@pytest.mark.parametrize("name", sorted(SOFIE_REFUSED))
def test_sofie_recurrent_file_lwtnn_cannot_express_is_refused(name, tmp_path, capsys):
    path = require_shared("real-models", "sofie", f"{name}.onnx")
    output = tmp_path / "out.json"
    assert main([str(path), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    offender, reason = SOFIE_REFUSED[name]
    assert not output.exists() and "Traceback" not in message
    assert f"'{offender}'" in message and reason in message


def test_hls4ml_conv1d_is_refused_for_its_flatten_not_its_keras_same_padding(tmp_path,
                                                                          capsys):
    """conv1d_small_keras: kernel 4, Keras 'same' pads [1, 2] (lwtnn's 'same' of the kernel
    widened by a zero tap), then a Flatten of the [1, 10, 1] sequence: the one blocker."""
    path = require_shared("real-models", "hls4ml-example-models", "conv1d_small_keras.onnx")
    output = tmp_path / "out.json"
    assert main([str(path), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    assert message.splitlines()[1:] == [
        "  Flatten '_class__keras_layers_core_Flatten__': it flattens a [batch, 10, 1] "
        "sequence into one vector; lwtnn has no layer that does (a sequence becomes a vector "
        "only as a recurrent or conv1d layer's last step, or as a sum over time)"]


# -- constructs the fixtures leave out, built here with onnx.helper -------------------------
def _model(nodes, inputs, outputs, initializers, opset=13) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k)
                               for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _tracks(length="T", features=3, name="tracks"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", length, features])


def _vector_output(width, name="y"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])


def _lstm_weights(rng, n_in, hidden, gates=4):
    """W, R, B of a forward layer; small enough that float32 rounding in the reference does
    not grow chaotically over 30 steps (compared in float64, the results agree to 1e-14)."""
    return {"W": (rng.normal(size=(1, gates * hidden, n_in)) * 0.3).astype(np.float32),
            "R": (rng.normal(size=(1, gates * hidden, hidden)) * 0.3).astype(np.float32),
            "B": (rng.normal(size=(1, 2 * gates * hidden)) * 0.3).astype(np.float32)}


def _sum_keepdims_then_reshape():
    """Scale the tracks (folded into the input's offsets), a per-step MatMul with the bias
    first, ReduceSum keepdims=1 and a Reshape to [N, 4]."""
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Mul", ["tracks", "s"], ["m"]),
             helper.make_node("MatMul", ["m", "w"], ["h"]),
             helper.make_node("Add", ["b", "h"], ["hb"]),
             helper.make_node("Elu", ["hb"], ["e"], alpha=0.5),
             helper.make_node("ReduceSum", ["e", "axes"], ["p"], keepdims=1),
             helper.make_node("Reshape", ["p", "shape"], ["y"])]
    init = {"s": np.array([0.5, 2.0, -1.0], np.float32),
            "w": rng.normal(size=(3, 4)).astype(np.float32),
            "b": rng.normal(size=4).astype(np.float32), "axes": np.array([1]),
            "shape": np.array([-1, 4])}
    return _model(nodes, [_tracks()], [_vector_output(4)], init)


def _mean_over_a_fixed_length():
    nodes = [helper.make_node("Tanh", ["tracks"], ["t"]),
             helper.make_node("ReduceMean", ["t"], ["y"], axes=[1], keepdims=0)]
    return _model(nodes, [_tracks(length=7)], [_vector_output(3)], {})


def _lstm_hard_sigmoid_step_t_minus_1():
    """Old-Keras LSTM: HardSigmoid gates (alpha 0.2, beta 0.5); fixed length 6, the last
    step read with Gather(T - 1) after Squeeze."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Transpose", ["tracks"], ["x"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", ""], hidden_size=5,
                              activations=["HardSigmoid", "Tanh", "Tanh"],
                              activation_alpha=[0.2], activation_beta=[0.5]),
             helper.make_node("Squeeze", ["Y", "one"], ["s"]),
             helper.make_node("Gather", ["s", "last"], ["y"], axis=0)]
    init = {**_lstm_weights(rng, 3, 5), "one": np.array([1]), "last": np.array(5)}
    return _model(nodes, [_tracks(length=6)], [_vector_output(5)], init)


def _gru_layout1_then_rnn():
    """A layout-1 GRU (linear_before_reset=0) feeding a layout-1 RNN (onnxruntime has no
    layout 1, and the reference evaluator's RNN knows only Tanh)."""
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("GRU", ["tracks", "Wg", "Rg", "Bg"], ["Yg"], hidden_size=4,
                              layout=1),
             helper.make_node("Squeeze", ["Yg", "two"], ["g"]),
             helper.make_node("RNN", ["g", "Wr", "Rr", "Br"], ["", "Yh"], hidden_size=2,
                              layout=1),
             helper.make_node("Squeeze", ["Yh", "one"], ["y"])]
    gru, rnn = _lstm_weights(rng, 3, 4, 3), _lstm_weights(rng, 4, 2, 1)
    init = {**{k + "g": v for k, v in gru.items()}, **{k + "r": v for k, v in rnn.items()},
            "one": np.array([1]), "two": np.array([2])}
    return _model(nodes, [_tracks()], [_vector_output(2)], init, opset=14)


def _shared_lstm_on_two_inputs():
    """Two sequence inputs read by LSTMs sharing W, R and B; their last states concatenated."""
    rng = np.random.default_rng(4)
    nodes = []
    for side in ("a", "b"):
        nodes += [helper.make_node("Transpose", [side], [f"{side}_t"], perm=[1, 0, 2]),
                  helper.make_node("LSTM", [f"{side}_t", "W", "R", "B"], ["", f"{side}_h"],
                                   hidden_size=4),
                  helper.make_node("Squeeze", [f"{side}_h", "zero"], [f"{side}_v"])]
    nodes.append(helper.make_node("Concat", ["a_v", "b_v"], ["y"], axis=1))
    init = {**_lstm_weights(rng, 3, 4), "zero": np.array([0])}
    return _model(nodes, [_tracks(name="a"), _tracks(name="b")], [_vector_output(8)], init)


HELPER_MODELS = {"sum_keepdims_then_reshape": (_sum_keepdims_then_reshape, (1, 30)),
                 "mean_over_a_fixed_length": (_mean_over_a_fixed_length, (7, 7)),
                 "lstm_hard_sigmoid_step_t_minus_1": (_lstm_hard_sigmoid_step_t_minus_1, (6, 6)),
                 "gru_layout1_then_rnn": (_gru_layout1_then_rnn, (1, 30)),
                 "shared_lstm_on_two_inputs": (_shared_lstm_on_two_inputs, (1, 30))}


@pytest.mark.parametrize("name", sorted(HELPER_MODELS))
def test_sequence_construct_matches_onnx(name):
    build, lengths = HELPER_MODELS[name]
    model = build()
    sequences = random_sequences(model, 200, seed=5, lengths=lengths)
    ours = load_network(convert(model)).evaluate({}, sequences)
    assert_close(ours, onnx_sequence_reference(model, sequences))


def test_identical_recurrent_layers_are_written_once():
    document = convert(_shared_lstm_on_two_inputs())
    assert [n["type"] for n in document["nodes"]].count("sequence") == 2
    assert [layer["architecture"] for layer in document["layers"]] == ["lstm"]
