"""Every hint in docs/faq.md holds: for each entry that tells a user what to do, a model
refused with that message, and the same model with the hint followed (edited as the hint
says, or re-exported that way), which converts. Entries that give no hint (a limit of
lwtnn, a fact, a bug report) are listed as such, and every entry of the FAQ must be in one
list or the other, so a new hint cannot go in untested."""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.errors import Onnx2LwtnnError

from .support import FIXTURES, REPO

FAQ = REPO / "docs" / "faq.md"
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
RNG = np.random.default_rng(2024)


def _model(nodes, inputs, outputs, inits=(), opset=13, ir_version=None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in
                               dict(inits).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    return model


def _vector(name, width):
    return helper.make_tensor_value_info(name, FLOAT, ["N", width])


def _dense(after: str = "", weight=None, opset: int = 13, **attrs) -> onnx.ModelProto:
    """x [N, 3] -> Gemm -> ``after`` (an op of one operand, if any) -> y [N, 2]."""
    w = RNG.normal(size=(2, 3)).astype(np.float32) if weight is None else weight
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h" if after else "y"], transB=1,
                              name="dense")]
    if after:
        nodes.append(helper.make_node(after, ["h"], ["y"], name="after", **attrs))
    return _model(nodes, [_vector("x", 3)], [_vector("y", 2)], {"W": w}, opset=opset)


def _fixture(name: str) -> onnx.ModelProto:
    return onnx.load(str(FIXTURES / f"{name}.onnx"))


def _edited(name: str, edit: Callable[[onnx.ModelProto], None]) -> onnx.ModelProto:
    model = _fixture(name)
    edit(model)
    return model


def _node(model: onnx.ModelProto, op: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.op_type == op)


def _set_attr(node: onnx.NodeProto, **attrs) -> None:
    kept = [a for a in node.attribute if a.name not in attrs]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(k, v) for k, v in attrs.items()])


def _drop_input(op: str, slot: int) -> Callable[[onnx.ModelProto], None]:
    def edit(model):
        _node(model, op).input[slot] = ""
    return edit


def _gelu_then(final: str) -> onnx.ModelProto:
    """x -> Gemm -> GELU written with Erf (or ``final`` instead of the GELU) -> y."""
    inits = {"W": RNG.normal(size=(2, 3)).astype(np.float32),
             "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], transB=1, name="dense")]
    if final == "gelu":
        nodes += [helper.make_node("Div", ["h", "sqrt2"], ["s"]),
                  helper.make_node("Erf", ["s"], ["e"], name="erf"),
                  helper.make_node("Add", ["e", "one"], ["e1"]),
                  helper.make_node("Mul", ["h", "e1"], ["m"]),
                  helper.make_node("Mul", ["m", "half"], ["y"])]
    else:
        nodes.append(helper.make_node(final, ["h"], ["y"]))
    return _model(nodes, [_vector("x", 3)], [_vector("y", 2)], inits)


def _classifier() -> onnx.ModelProto:
    """x -> Gemm -> Softmax -> probabilities, ArgMax -> label (int64)."""
    nodes = [helper.make_node("Gemm", ["x", "W"], ["s"], transB=1),
             helper.make_node("Softmax", ["s"], ["probabilities"]),
             helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)]
    return _model(nodes, [_vector("x", 3)],
                  [helper.make_tensor_value_info("label", INT64, ["N"]),
                   _vector("probabilities", 2)], {"W": RNG.normal(size=(2, 3))
                                                  .astype(np.float32)})


def _reciprocal(divide: bool) -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], transB=1)]
    nodes.append(helper.make_node("Div", ["c", "h"], ["y"]) if divide
                 else helper.make_node("Identity", ["h"], ["y"]))
    return _model(nodes, [_vector("x", 3)], [_vector("y", 2)],
                  {"W": RNG.normal(size=(2, 3)).astype(np.float32), "c": np.float32(2)})


def _integer_input(cast: bool) -> onnx.ModelProto:
    """An int64 input cast to float inside the model, or the float input from the cast on."""
    w = RNG.normal(size=(2, 3)).astype(np.float32)
    if cast:
        nodes = [helper.make_node("Cast", ["x"], ["xf"], to=FLOAT),
                 helper.make_node("Gemm", ["xf", "W"], ["y"], transB=1)]
        inputs = [helper.make_tensor_value_info("x", INT64, ["N", 3])]
    else:
        nodes, inputs = [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], [_vector("x", 3)]
    return _model(nodes, inputs, [_vector("y", 2)], {"W": w})


def _constant_output(with_it: bool) -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1),
             helper.make_node("Identity", ["c"], ["version"])]
    outputs = [_vector("y", 2)] + ([helper.make_tensor_value_info("version", FLOAT, [1])]
                                   if with_it else [])
    return _model(nodes if with_it else nodes[:1], [_vector("x", 3)], outputs,
                  {"W": RNG.normal(size=(2, 3)).astype(np.float32),
                   "c": np.array([3.0], np.float32)})


def _training_mode(op: str, training: int) -> onnx.ModelProto:
    if op == "Dropout":
        nodes = [helper.make_node("Dropout", ["x", "ratio", "training"], ["h"]),
                 helper.make_node("Gemm", ["h", "W"], ["y"], transB=1)]
        inits = {"ratio": np.float32(0.2), "training": np.array(bool(training))}
    else:
        nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"],
                                  ["h"] + (["rm", "rv"] if training else []),
                                  training_mode=training),
                 helper.make_node("Gemm", ["h", "W"], ["y"], transB=1)]
        inits = {k: np.full(3, 0.5, np.float32) for k in "gbmv"}
    inits["W"] = RNG.normal(size=(2, 3)).astype(np.float32)
    return _model(nodes, [_vector("x", 3)], [_vector("y", 2)], inits, opset=15)


def _sequence(end: str) -> onnx.ModelProto:
    """tracks [N, T, 2] -> LSTM (layout 1) -> ``end``: "step1" (Gather step 1 of Y),
    "last" (Y_h), "whole" (Y itself as the output)."""
    h = 3
    inits = {"W": RNG.normal(size=(1, 4 * h, 2)).astype(np.float32),
             "R": RNG.normal(size=(1, 4 * h, h)).astype(np.float32),
             "one": np.array(1, np.int64), "axes": np.array([2], np.int64),
             "axes0": np.array([0], np.int64)}
    nodes = [helper.make_node("LSTM", ["tracks", "W", "R"], ["Y", "Y_h"], hidden_size=h,
                              layout=1, name="lstm"),
             helper.make_node("Squeeze", ["Y", "axes"], ["steps"])]
    if end == "step1":
        nodes.append(helper.make_node("Gather", ["steps", "one"], ["y"], axis=1, name="pick"))
    elif end == "last":
        nodes.append(helper.make_node("Squeeze", ["Y_h", "axes0"], ["y"]))
    else:
        nodes[-1].output[0] = "y"
    shape = ["N", "T", h] if end == "whole" else ["N", h]
    return _model(nodes, [helper.make_tensor_value_info("tracks", FLOAT, ["N", "T", 2])],
                  [helper.make_tensor_value_info("y", FLOAT, shape)], inits, opset=14)


def _converts(model, **options) -> bool:
    return bool(convert(model, **options)["outputs"])


# FAQ entry (the words it starts with) -> (the refused model, the part of the message the
# entry is about, the model with its hint followed, convert() options for both: the
# sequential format's entry asks for it, the outputs entries follow the hint with them).
BACKED = {
    '"opset N is outside the supported range"': (
        lambda: _opset(5), "outside the supported range", lambda: _opset(13), {}),
    '"holds NaN or infinite values, which lwtnn\'s JSON reader cannot read"': (
        lambda: _dense(weight=np.full((2, 3), np.nan, np.float32)), "holds NaN or infinite",
        lambda: _dense(), {}),
    "`Gelu`, `Erf`": (lambda: _gelu_then("gelu"), "GELU", lambda: _gelu_then("Relu"), {}),
    "`Softplus`, `HardSwish`, `Mish`": (lambda: _dense("Softplus"), "softplus",
                                        lambda: _dense("Sigmoid"), {}),
    "`PRelu`": (lambda: _fixture("refuse_prelu"), "PRelu",
                lambda: _edited("refuse_prelu", _prelu_to_leaky), {}),
    "`ArgMax`": (_classifier, "ArgMax", _classifier, {"outputs": ["probabilities"]}),
    "`Exp`, `Log`, `Pow`, `Sqrt`": (lambda: _dense("Exp"), "exponentials",
                                    lambda: _dense(), {}),
    "custom domain (`com.microsoft`, `qonnx`, ...)": (
        lambda: _fixture("refuse_custom_domain"), "custom operator domain",
        lambda: _edited("refuse_custom_domain", _custom_to_standard), {}),
    '"Softmax over axis N mixes events"': (
        lambda: _fixture("refuse_softmax_batch_axis"), "mixes events",
        lambda: _edited("refuse_softmax_batch_axis",
                        lambda m: _set_attr(_node(m, "Softmax"), axis=-1)), {}),
    '"Dropout in training mode"': (lambda: _training_mode("Dropout", 1), "training mode",
                                   lambda: _training_mode("Dropout", 0), {}),
    '"dividing a constant by the network\'s values is not an lwtnn layer"': (
        lambda: _reciprocal(True), "dividing a constant", lambda: _reciprocal(False), {}),
    '"integer or string inputs cannot be fed to lwtnn"': (
        lambda: _integer_input(True), "integer or string inputs",
        lambda: _integer_input(False), {}),
    '"the feature dimension \'n\' is dynamic"': (
        lambda: _model([helper.make_node("Relu", ["x"], ["y"])],
                       [helper.make_tensor_value_info("x", FLOAT, ["N", "F"])],
                       [helper.make_tensor_value_info("y", FLOAT, ["N", "F"])]),
        "is dynamic",
        lambda: _model([helper.make_node("Relu", ["x"], ["y"])], [_vector("x", 3)],
                       [_vector("y", 3)]), {}),
    '"it is a constant: it depends on no input"': (
        lambda: _constant_output(True), "it is a constant", lambda: _constant_output(False),
        {}),
    '"the output momentum reads none of these nodes': (
        lambda: _fixture("hades_pid"), "the output momentum reads none of these nodes",
        lambda: _fixture("hades_pid"), {"outputs": ["momentum"]}),
    '"it holds int64 values ..."': (
        lambda: _fixture("skl2onnx_mlp_classifier_zipmap"), "it is ZipMap",
        lambda: _fixture("skl2onnx_mlp_classifier"), {"outputs": ["probabilities"]}),
    '"it is a channels-first sequence [N, F features, T steps]"': (
        lambda: _fixture("refuse_channels_first_input"), "channels-first sequence",
        lambda: _edited("refuse_channels_first_input", _declared_time_major), {}),
    '"direction \'bidirectional\'"': (
        lambda: _fixture("lstm_bidirectional"), "bidirectional", lambda: _sequence("last"), {}),
    '"its sequence_lens input is not supported"': (
        lambda: _fixture("lstm_sequence_lens"), "sequence_lens",
        lambda: _edited("lstm_sequence_lens", _drop_input("LSTM", 4)), {}),
    '"its initial state initial_h is not provably zero"': (
        lambda: _fixture("lstm_initial_state"), "not provably zero",
        lambda: _edited("lstm_initial_state", _drop_initial_states), {}),
    '"its peephole weights"': (
        lambda: _fixture("lstm_peepholes"), "peephole",
        lambda: _edited("lstm_peepholes", _drop_input("LSTM", 7)), {}),
    "GRU with `linear_before_reset=1`": (
        lambda: _fixture("gru_pytorch"), "linear_before_reset=1",
        lambda: _edited("gru_pytorch",
                        lambda m: _set_attr(_node(m, "GRU"), linear_before_reset=0)), {}),
    '"its body is a GRU cell with reset_after=True"': (
        lambda: _fixture("tf2onnx_keras3_gru_reset_after"), "reset_after=True",
        lambda: _fixture("tf2onnx_keras3_gru"), {}),
    '"ReduceMean over the time axis of a variable-length sequence has no exact lwtnn': (
        lambda: _fixture("deepsets_reducemean"), "ReduceMean over the time axis",
        lambda: _edited("deepsets_reducemean", _mean_to_sum), {}),
    '"Gather picks time step k"': (lambda: _sequence("step1"), "picks time step",
                                   lambda: _sequence("last"), {}),
    '"it is a whole sequence ... lwtnn graph outputs are vectors"': (
        lambda: _sequence("whole"), "whole sequence", lambda: _sequence("last"), {}),
    "Conv pads or strides lwtnn does not have": (
        lambda: _fixture("conv1d_bad_pads"), "pads [1, 0]",
        lambda: _edited("conv1d_bad_pads", lambda m: _set_attr(_node(m, "Conv"),
                                                               pads=[1, 1])), {}),
    '"its indices pick events': (
        lambda: _fixture("torch_legacy_assign_feature"), "its indices pick events",
        lambda: _fixture("torch_dynamo_assign_feature"), {}),
    '"the network is not a single chain, so the sequential format cannot hold it"': (
        lambda: _fixture("multi_two_outputs"), "not a single chain",
        lambda: _fixture("multi_two_outputs"), {"format": "graph"}),
}
REFUSED_WITH = {'"the network is not a single chain, so the sequential format cannot hold it"':
                {"format": "sequential"}}

# Entries that tell what lwtnn cannot do (no hint), usage mistakes whose fix is shown by
# the CLI's own tests, or verification outcomes to report.
NO_HINT = {
    '"an lwtnn JSON network, not an ONNX model"', '"a variable spec, not an ONNX model"',
    '"a TMVA weights file, not an ONNX model"', '"a JSON file, not an ONNX model"',
    '"N model(s) and 1 --variables', '"array \'out_x\' names no output of the network"',
    '"--events is for random events; with --inputs the events are the file\'s"',
    # check outcomes against reference outputs, each shown by tests/test_friction.py
    '"reference outputs: FAIL ... they match the ONNX model with --inputs-side onnx"',
    '"... they match the ONNX model with --variables-convention subtract-divide"',
    '"the variable spec (--variables, --variables-convention) is the likely cause"',
    "`Conv` (2-D), `MaxPool`, `AveragePool`, `GlobalAveragePool`", "`Resize`",
    'any other ("operator not supported by lwtnn")',
    '"the weight matrix is computed at run time; lwtnn needs constant weights"',
    '"the operand is not a [batch, features] vector"',
    '"the product of two computed tensors is not an lwtnn layer"',
    '"operands are not vectors of one width"', '"Cast to or from a non-float type"',
    '"Slice selects events, not features"', '"rank-4 inputs are not vectors or sequences"',
    '"unknown output(s) score; the model\'s outputs are ..."',
    '"--variables-convention needs --variables"',
    '"it flattens a [batch, T, F] sequence into one vector; lwtnn has no layer that does"',
    '"its body is not a GRU or SimpleRNN cell lwtnn has"',
    '"not written: the converted network does not reproduce the model on the verification',
    '"not verified: no runtime here evaluates the ONNX model in float64 (...)"',
    '"lwtnn C++: not run (...)"', '"lwtnn C++ (correctionlib ...): FAIL"',
}


def _opset(opset: int) -> onnx.ModelProto:
    return _model([helper.make_node("Relu", ["x"], ["y"])], [_vector("x", 3)],
                  [_vector("y", 3)], opset=opset, ir_version=3)


def _prelu_to_leaky(model: onnx.ModelProto) -> None:
    node = _node(model, "PRelu")
    node.op_type = "LeakyRelu"
    del node.input[1:]
    _set_attr(node, alpha=0.1)


def _custom_to_standard(model: onnx.ModelProto) -> None:
    node = next(n for n in model.graph.node if n.domain not in ("", "ai.onnx"))
    node.op_type, node.domain = "Relu", ""
    del node.attribute[:]


def _declared_time_major(model: onnx.ModelProto) -> None:
    """Exported with its input [N, T, F]: the input declared so, its Transpose gone."""
    transpose = _node(model, "Transpose")
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == transpose.output[0]:
                node.input[i] = transpose.input[0]
    model.graph.node.remove(transpose)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    features = dims[1].dim_value
    dims[1].dim_param, dims[2].dim_value = "T", features


def _drop_initial_states(model: onnx.ModelProto) -> None:
    lstm = _node(model, "LSTM")
    for slot in (5, 6):
        if len(lstm.input) > slot:
            lstm.input[slot] = ""


def _mean_to_sum(model: onnx.ModelProto) -> None:
    """ReduceMean(axes=[1]) -> ReduceSum(x, axes) (its axes are an input from opset 13)."""
    node = _node(model, "ReduceMean")
    axes = next(a.ints for a in node.attribute if a.name == "axes")
    node.op_type = "ReduceSum"
    node.input.append(f"{node.name}_axes")
    model.graph.initializer.append(numpy_helper.from_array(np.array(axes, np.int64),
                                                           f"{node.name}_axes"))
    _set_attr(node, keepdims=next((a.i for a in node.attribute if a.name == "keepdims"), 1))
    kept = [a for a in node.attribute if a.name != "axes"]
    del node.attribute[:]
    node.attribute.extend(kept)


def _faq_entries() -> list[str]:
    """The key of every FAQ entry: a paragraph's bold opening, or a table row's first cell."""
    text = FAQ.read_text(encoding="utf-8")
    keys = re.findall(r"^\*\*(\".*?\"|[^*]+)\*\*", text, re.M)
    rows = re.findall(r"^\| (.+?) \| .+ \| .+ \|$", text, re.M)
    return keys + [r for r in rows if r not in ("refused", "---")]


def test_every_faq_entry_is_a_backed_hint_or_gives_none():
    entries = _faq_entries()
    known = list(BACKED) + list(NO_HINT)
    unaccounted = [e for e in entries if not any(e.startswith(k) or k.startswith(e)
                                                 for k in known)]
    assert not unaccounted, f"docs/faq.md entries with no backing test: {unaccounted}"
    stale = [k for k in known if not any(e.startswith(k) or k.startswith(e) for e in entries)]
    assert not stale, f"no longer in docs/faq.md: {stale}"


@pytest.mark.parametrize("entry", list(BACKED))
def test_following_the_faq_hint_makes_the_refused_model_convert(entry):
    refused, words, followed, options = BACKED[entry]
    with pytest.raises(Onnx2LwtnnError) as caught:
        convert(refused(), **REFUSED_WITH.get(entry, {}))
    assert words in str(caught.value)
    assert _converts(followed(), **options)
