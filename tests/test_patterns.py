"""Issue 24: the expressible patterns real files use (zero-tap conv widening, tf2onnx's 2-D
form of a Keras Conv1D, ...), checked on hand-built graphs against a direct numpy
computation of what ONNX defines; the exporters' own files are fixtures (test_exporters)."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.ir import Port
from onnx2lwtnn.passes import drop_sequence_views, lower_conv1d

from .passes.test_sequence_passes import F, const, finish, op, sequence_input

RNG = np.random.default_rng(24)


def _onnx_conv(x: np.ndarray, w: np.ndarray, pads, dilation: int) -> np.ndarray:
    """ONNX Conv of one [features, time] event: w [out, in, k], pads [start, end]."""
    padded = np.pad(x, [(0, 0), tuple(pads)])
    span = (w.shape[2] - 1) * dilation
    steps = padded.shape[1] - span
    return np.stack([sum(w[:, :, j] @ padded[:, t + j * dilation] for j in range(w.shape[2]))
                     for t in range(steps)], axis=1)


def _lwtnn_same(x: np.ndarray, w: np.ndarray, dilation: int) -> np.ndarray:
    """lwtnn's conv1d 'same' (Conv1dLayer::scan): (P + 1) // 2 zeros before, P // 2 after."""
    total = (w.shape[2] - 1) * dilation
    return _onnx_conv(x, w, [(total + 1) // 2, total // 2], dilation)


@pytest.mark.parametrize("kernel, dilation, pads, taps", [
    (4, 1, (1, 2), (1, 0)),   # Keras / SAME_UPPER 'same', even kernel: one tap in front
    (2, 1, (0, 1), (1, 0)),
    (4, 1, (3, 0), (0, 0)),   # causal: lwtnn's own, nothing added
    (3, 1, (0, 2), (2, 0)),
    (3, 1, (2, 0), (0, 0)),
    (5, 1, (4, 0), (0, 0)),
    (4, 2, (2, 4), (1, 0)),
    (3, 2, (4, 0), (0, 0)),
    (2, 1, (1, 0), (0, 0)),
    (4, 1, (0, 3), (3, 0)),   # all at the end: lwtnn 'same' [3, 3] of three taps more in front
])
def test_pads_adding_up_to_the_span_are_lwtnn_same_of_a_kernel_widened_by_zero_taps(
        kernel, dilation, pads, taps):
    ir, x = sequence_input()
    weights = RNG.normal(size=(4, F, kernel))
    channels_first = op(ir, "Transpose", [x], ("N", F, "T"), perm=[0, 2, 1])
    conv = op(ir, "Conv", [channels_first, const(ir, weights), const(ir, np.zeros(4))],
              ("N", 4, "T"), kernel_shape=[kernel], pads=list(pads), dilations=[dilation])
    finish(ir, op(ir, "Transpose", [conv], ("N", "T", 4), perm=[0, 2, 1]))
    assert lower_conv1d.lower_conv1d.run(ir)
    (node,) = ir.nodes("Conv1d")
    attrs = ir.attrs(node)
    lwtnn_kernel = attrs["weights"]
    assert lwtnn_kernel.shape[2] == kernel + sum(taps)
    if taps != (0, 0):
        assert attrs["padding"] == "same"
        assert np.all(lwtnn_kernel[:, :, :taps[0]] == 0)
        assert np.all(lwtnn_kernel[:, :, kernel + taps[0]:] == 0)
    event = RNG.normal(size=(F, 9))
    if attrs["padding"] == "same":
        np.testing.assert_array_equal(_lwtnn_same(event, lwtnn_kernel, dilation),
                                      _onnx_conv(event, weights, pads, dilation))
    assert drop_sequence_views.drop_sequence_view.run(ir)


@pytest.mark.parametrize("kernel, dilation, pads, reason", [
    (2, 3, (1, 2), "nor 'same' with the kernel widened by zero taps"),  # 3 steps of dilation
    (4, 1, (1, 1), "pads adding up to 3"),   # output one step shorter
    (3, 1, (2, 2), "pads adding up to 2"),   # output one step longer
])
def test_pads_no_zero_taps_can_reach_are_refused(kernel, dilation, pads, reason):
    ir, x = sequence_input()
    channels_first = op(ir, "Transpose", [x], ("N", F, "T"), perm=[0, 2, 1])
    conv = op(ir, "Conv", [channels_first, const(ir, RNG.normal(size=(4, F, kernel)))],
              ("N", 4, "T"), kernel_shape=[kernel], pads=list(pads), dilations=[dilation])
    finish(ir, op(ir, "Transpose", [conv], ("N", "T", 4), perm=[0, 2, 1]))
    assert not lower_conv1d.lower_conv1d.run(ir)
    assert reason in ir[conv.node]["refusal"]


def test_tf2onnx_2d_form_of_a_keras_conv1d_is_a_conv1d_with_its_relu_fused():
    """[N, T, F] -> Unsqueeze(1) -> Transpose(0, 3, 1, 2) -> Conv [1, k] -> Squeeze(2) ->
    Relu -> Transpose(0, 2, 1): what tf2onnx writes for Conv1D(activation='relu')."""
    ir, x = sequence_input()
    wide = op(ir, "Unsqueeze", [x, const(ir, np.array([1]))], ("N", 1, "T", F))
    channels_first = op(ir, "Transpose", [wide], ("N", F, 1, "T"), perm=[0, 3, 1, 2])
    weights = RNG.normal(size=(4, F, 1, 4))
    conv = op(ir, "Conv", [channels_first, const(ir, weights)], ("N", 4, 1, "T"),
              kernel_shape=[1, 4], pads=[0, 1, 0, 2], dilations=[1, 1], strides=[1, 1])
    squeezed = op(ir, "Squeeze", [conv, const(ir, np.array([2]))], ("N", 4, "T"))
    relu = op(ir, "Relu", [squeezed], ("N", 4, "T"))
    finish(ir, op(ir, "Transpose", [relu], ("N", "T", 4), perm=[0, 2, 1]))
    from onnx2lwtnn.pipeline import run_pipeline
    run_pipeline(ir)
    (node,) = ir.nodes("Conv1d")
    assert ir.attrs(node)["activation"] == "rectified"
    assert ir.attrs(node)["padding"] == "same"
    np.testing.assert_array_equal(ir.attrs(node)["weights"][:, :, 1:], weights[:, :, 0, :])
    assert ir.operand(ir.outputs[0], 0) == Port(node)


def test_2d_conv_padding_its_axis_of_one_is_refused():
    ir, x = sequence_input()
    wide = op(ir, "Unsqueeze", [x, const(ir, np.array([1]))], ("N", 1, "T", F))
    channels_first = op(ir, "Transpose", [wide], ("N", F, 1, "T"), perm=[0, 3, 1, 2])
    conv = op(ir, "Conv", [channels_first, const(ir, RNG.normal(size=(4, F, 1, 3)))],
              ("N", 4, 3, "T"), kernel_shape=[1, 3], pads=[1, 1, 1, 1])
    finish(ir, conv)
    assert not lower_conv1d.lower_conv1d.run(ir)
    assert "axis of size 1" in ir[conv.node]["refusal"]


# -- the exporters' own files (fixtures of issue 24) ------------------------------------
from onnx2lwtnn import convert  # noqa: E402
from onnx2lwtnn.check import check  # noqa: E402
from onnx2lwtnn.cli import main  # noqa: E402

from .support import FIXTURES, fixture_entries  # noqa: E402

CONVERTIBLE = fixture_entries("convert", {24})
REFUSED = fixture_entries("refuse", {24})


def _causes(message: str) -> list[str]:
    """The lines of a CLI refusal listed as causes (before 'then, failing because')."""
    lines = message.splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("  then")), len(lines))
    return lines[:end]


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=[e["name"] for e in CONVERTIBLE])
def test_fixture_converts_and_passes_check_at_1e_9(entry):
    path = FIXTURES / entry["file"]
    report = check(path, convert(path, **entry["convert_args"]), events=500, seed=24)
    assert report.passed, report.table()
    assert report.tolerance == 1e-9 and report.rows


@pytest.mark.parametrize("entry", REFUSED, ids=[e["name"] for e in REFUSED])
def test_fixture_is_refused_with_its_real_cause_first(entry, tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(FIXTURES / entry["file"]), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    causes = " ".join(_causes(message))
    assert entry["refuse_reason"] in causes
    for node in entry["refuse_nodes"]:
        assert f"'{node}'" in causes


# -- a recurrent cell written as a Loop: what must be proven before it converts ----------
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from onnx2lwtnn.errors import ConversionError  # noqa: E402

HIDDEN = 3


def _rnn_loop(trips: str = "T", condition: str = "counter", reversed_steps: bool = False,
              state_start: float = 0.0) -> onnx.ModelProto:
    """A SimpleRNN over x [N, T, 2] as tf2onnx writes it: Loop(M, cond, i0, h0) whose body
    reads x_t = Gather(X_tm, i), computes tanh(x_t W + h U + b), stacks it and counts.
    ``trips``: "T" (the time length), "3" (a constant) or "" (none); ``condition``:
    "counter" (i + 1 < T), "data" (ReduceSum(h) < 5, depends on the values), "none"."""
    rng = np.random.default_rng(7)
    inits = {"W": rng.normal(size=(F, HIDDEN)), "U": rng.normal(size=(HIDDEN, HIDDEN)),
             "b": rng.normal(size=HIDDEN), "one": np.array(1, np.int64),
             "zero": np.array(0, np.int64), "first": np.array([0], np.int64),
             "second": np.array([1], np.int64), "five": np.array(5.0),
             "three": np.array(3, np.int64), "h_width": np.array([HIDDEN], np.int64),
             "fill": np.array(state_start)}
    inits = {k: numpy_helper.from_array(np.asarray(v, np.float32 if np.asarray(v).dtype.kind
                                                    == "f" else np.int64), k)
             for k, v in inits.items()}
    step = "last" if reversed_steps else "i"
    body_nodes = [
        helper.make_node("Add", ["i", "one"], ["i_next"]),
        helper.make_node("Sub", ["T", "i_next"], ["last"]),
        helper.make_node("Gather", ["X_tm", step], ["x_t"], axis=0),
        helper.make_node("MatMul", ["x_t", "W"], ["xw"]),
        helper.make_node("MatMul", ["h", "U"], ["hu"]),
        helper.make_node("Add", ["xw", "hu"], ["pre"]),
        helper.make_node("Add", ["pre", "b"], ["pre_b"]),
        helper.make_node("Tanh", ["pre_b"], ["h_next"]),
        helper.make_node("Identity", ["h_next"], ["h_scan"]),
    ]
    if condition == "counter":
        body_nodes.append(helper.make_node("Less", ["i_next", "T"], ["cond_out"]))
    elif condition == "data":
        body_nodes += [helper.make_node("ReduceSum", ["h_next"], ["total"], keepdims=0),
                       helper.make_node("Less", ["total", "five"], ["cond_out"])]
    else:
        body_nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    body = helper.make_graph(
        body_nodes, "body",
        [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", HIDDEN])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("i_next", TensorProto.INT64, []),
         helper.make_tensor_value_info("h_next", TensorProto.FLOAT, ["N", HIDDEN]),
         helper.make_tensor_value_info("h_scan", TensorProto.FLOAT, ["N", HIDDEN])])
    nodes = [
        helper.make_node("Transpose", ["x"], ["X_tm"], perm=[1, 0, 2]),
        helper.make_node("Shape", ["X_tm"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["T"], axis=0),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Slice", ["x_shape", "first", "second"], ["batch"]),
        helper.make_node("Concat", ["batch", "h_width"], ["h_shape"], axis=0),
        helper.make_node("Expand", ["fill", "h_shape"], ["h0"]),
        helper.make_node("Less", ["zero", "T"], ["go"]),
        helper.make_node("Loop", [{"T": "T", "3": "three", "": ""}[trips], "go", "zero", "h0"],
                         ["i_end", "h_end", "steps"], body=body, name="rnn_loop"),
        helper.make_node("Gather", ["steps", "minus_one"], ["y"], axis=0),
    ]
    inits["minus_one"] = numpy_helper.from_array(np.array(-1, np.int64), "minus_one")
    graph = helper.make_graph(nodes, "loop_rnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             ["N", "T", F])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             ["N", HIDDEN])],
                              list(inits.values()))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_a_hand_written_loop_rnn_converts_and_matches_onnxruntime():
    import onnxruntime as ort

    from onnx2lwtnn.lwtnn import load_network
    model = _rnn_loop()
    x = np.random.default_rng(3).normal(size=(4, 6, F)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = load_network(convert(model)).evaluate({}, sequences={"x": x})["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("options, reason", [
    (dict(trips="3"), "its trip count is not the number of steps"),
    (dict(trips="", condition="none"), "does not provably end it after the last step"),
    (dict(condition="data"), "its condition may end it before the last step"),
    (dict(reversed_steps=True), "reads the sequence at a step other than the iteration's"),
    (dict(state_start=0.5), "its initial state (carried value 2) is not provably zero"),
])
def test_a_loop_that_may_not_run_once_per_step_forward_is_refused(options, reason):
    with pytest.raises(ConversionError) as caught:
        convert(_rnn_loop(**options))
    (cause, *_) = [d for d in caught.value.diagnostics if not d.downstream]
    assert cause.node == "rnn_loop" and reason in cause.reason, caught.value


# -- constant feature assignment: exact, and what lwtnn's C++ computes ------------------
ASSIGNED = ["torch_dynamo_assign_feature", "torch_dynamo_assign_feature_list",
            "torch_dynamo_select_scatter", "torch_dynamo_assign_slice_zero"]


def test_an_assigned_feature_folds_into_the_next_dense_exactly():
    """x[:, 5] = 1.0 before Linear(W, b): the layer's column 5 is 0 and its bias is
    b + W[:, 5] * 1.0 computed as a rational and rounded once (here: one float addition,
    which IEEE rounds once too, so the two must agree bit for bit)."""
    from fractions import Fraction

    path = FIXTURES / "torch_dynamo_assign_feature.onnx"
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    w = weights["hidden.weight"].astype(np.float64)
    b = weights["hidden.bias"].astype(np.float64)
    layer = convert(path, format="sequential")["layers"][0]
    got_w = np.array(layer["weights"]).reshape(w.shape)
    assert np.all(got_w[:, 5] == 0) and np.array_equal(np.delete(got_w, 5, 1), np.delete(w, 5, 1))
    exact = [float(Fraction(bias) + Fraction(column) * Fraction(1.0))
             for bias, column in zip(b, w[:, 5])]
    assert layer["bias"] == exact


def test_assigned_values_fold_with_one_rounding_not_two():
    """Two features assigned before a Gemm, float32 weights and values chosen so that the
    float sum b + (w1 c1 + w2 c2) rounds twice to another double than the exact
    b + w1 c1 + w2 c2 rounded once: the bias written is the latter."""
    from fractions import Fraction

    b, w1, c1, w2, c2 = (np.float32(v) for v in (
        -0.4033580422401428, -0.29476770758628845, -0.3494226038455963, 0.49702754616737366,
        0.00211371504701674))
    exact = float(Fraction(float(b)) + Fraction(float(w1)) * Fraction(float(c1))
                  + Fraction(float(w2)) * Fraction(float(c2)))
    assert float(b) + (float(w1) * float(c1) + float(w2) * float(c2)) != exact
    inits = [numpy_helper.from_array(np.array([[0, 2]], np.int64), "columns"),
             numpy_helper.from_array(np.array([[c1, c2]], np.float32), "values"),
             numpy_helper.from_array(np.array([[w1, 0.5, w2]], np.float32), "W"),
             numpy_helper.from_array(np.array([b], np.float32), "b")]
    nodes = [helper.make_node("ScatterElements", ["x", "columns", "values"], ["assigned"],
                              axis=1, name="assign"),
             helper.make_node("Gemm", ["assigned", "W", "b"], ["y"], transB=1, name="dense")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (layer,) = convert(model, format="sequential")["layers"]
    assert layer["bias"] == [exact]
    assert layer["weights"] == [0.0, 0.5, 0.0]


@pytest.mark.parametrize("name", ASSIGNED)
def test_lwtnn_cpp_computes_the_onnx_model_of_a_feature_assignment(name):
    """The sequential document run by lwtnn's own C++ (correctionlib) against the ONNX
    model evaluated in float64 by onnxruntime, at check's bound of 1e-9."""
    lwtnn_cpp = pytest.importorskip("onnx2lwtnn.lwtnn_cpp")
    if lwtnn_cpp.version() is None:
        pytest.skip("correctionlib >= 2.9 (lwtnn's C++) is not installed")
    from onnx2lwtnn.reference import FLOAT64, OnnxModel

    path = FIXTURES / f"{name}.onnx"
    document = convert(path, format="sequential")
    events = np.random.default_rng(24).normal(size=(500, 8)) * 2
    theirs = lwtnn_cpp.evaluate(document, events)
    reference = OnnxModel(onnx.load(str(path)), FLOAT64).evaluate({"x": events})["y"]
    worst = float((np.abs(theirs - reference) / np.maximum(1.0, np.abs(reference))).max())
    assert worst <= 1e-9, worst


def test_an_assigned_zero_with_no_dense_after_it_is_the_input_scale():
    document = convert(FIXTURES / "torch_dynamo_assign_zero_no_dense.onnx")
    variables = document["inputs"][0]["variables"]
    assert [v["scale"] for v in variables] == [1.0, 0.0] + [1.0] * 6



# -- refusals: every cause, the non-finite constants among them; hints that hold -------------
def _diagnostics(model, **options) -> list:
    with pytest.raises(ConversionError) as caught:
        convert(model, **options)
    return caught.value.diagnostics


def test_a_masked_transformer_is_refused_for_its_ops_with_the_mask_among_the_causes(
        tmp_path, capsys):
    """The -inf attention mask is one cause; GELU (its Erf), LayerNormalization and the
    attention's products are the others (not hidden behind 'fix the constants')."""
    path = FIXTURES / "torch_dynamo_transformer_masked.onnx"
    assert main([str(path), "-o", str(tmp_path / "out.json")]) == 1
    causes = _causes(capsys.readouterr().err)
    kinds = [line.split()[0] for line in causes]
    assert {"Erf", "LayerNormalization", "MatMul", "initializer"} <= set(kinds), causes
    (mask,) = [line for line in causes if line.startswith("  initializer")]
    assert "holds NaN or infinite values" in mask
    assert len(causes) == 4


def test_a_nan_weight_alone_is_the_one_cause_and_what_it_spoils_is_listed_under_it():
    weight = numpy_helper.from_array(np.full((2, 3), np.nan, np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1, name="dense")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [weight])
    problems = _diagnostics(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)]))
    causes = [str(p) for p in problems if not p.downstream]
    assert causes == ["node 'W' (initializer): holds NaN or infinite values, which lwtnn's "
                      "JSON reader cannot read (JSON has no NaN/Infinity)"]
    assert all(p.node == "dense" for p in problems if p.downstream)


def _channels_first(then: str) -> onnx.ModelProto:
    """x [N, 3 features, T steps] -> Transpose -> per-step MatMul -> sum over time -> ``then``."""
    inits = [numpy_helper.from_array(np.random.default_rng(1).normal(size=(3, 4))
                                     .astype(np.float32), "W"),
             numpy_helper.from_array(np.array([1], np.int64), "time_axis")]
    nodes = [helper.make_node("Transpose", ["x"], ["steps"], perm=[0, 2, 1], name="to_steps"),
             helper.make_node("MatMul", ["steps", "W"], ["projected"], name="per_step"),
             helper.make_node("ReduceSum", ["projected", "time_axis"], ["pooled"], keepdims=0,
                              name="pool"),
             helper.make_node(then, ["pooled"], ["y"], name="activation")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_the_channels_last_hint_is_given_only_where_following_it_makes_the_model_convert():
    hinted = _diagnostics(_channels_first("Relu"))
    assert [p.hint for p in hinted if p.node == "x"] == [
        "exported with its input in that order, the model converts"]
    unhinted = _diagnostics(_channels_first("Erf"))  # GELU's Erf: still refused after it
    assert [p.hint for p in unhinted if p.node == "x"] == [""]
    assert any(p.op_type == "Erf" and not p.downstream for p in unhinted)


def test_following_the_channels_last_hint_converts_the_model():
    """The hinted model, exported as the hint says (the input [N, T, 3], no Transpose)."""
    model = _channels_first("Relu")
    graph = model.graph
    graph.node[1].input[0] = "x"
    del graph.node[0]
    graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                          ["N", "T", 3]))
    assert convert(model)["outputs"]


def _classifier(then: str) -> onnx.ModelProto:
    """x -> Gemm -> ``then`` -> Softmax -> probabilities, and ArgMax -> label (int64)."""
    inits = [numpy_helper.from_array(np.random.default_rng(2).normal(size=(3, 4))
                                     .astype(np.float32), "W")]
    nodes = [helper.make_node("Gemm", ["x", "W"], ["scores"], name="dense"),
             helper.make_node(then, ["scores"], ["activated"], name="activation"),
             helper.make_node("Softmax", ["activated"], ["probabilities"], name="softmax"),
             helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0,
                              name="argmax")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_the_outputs_hint_is_given_only_where_keeping_those_outputs_converts():
    (label,) = [p for p in _diagnostics(_classifier("Relu")) if p.node == "label"]
    assert label.hint == "keep only the float output with --outputs probabilities"
    assert convert(_classifier("Relu"), outputs=["probabilities"])["outputs"]
    (label,) = [p for p in _diagnostics(_classifier("Erf")) if p.node == "label"]
    assert label.hint == ""


def test_docs_exporters_table_names_every_fixture_of_this_issue():
    text = (FIXTURES.parent / "docs" / "exporters.md").read_text(encoding="utf-8")
    missing = [e["name"] for e in CONVERTIBLE + REFUSED if f"`{e['name']}`" not in text]
    assert not missing, f"docs/exporters.md does not mention {missing}"
