"""Real ONNX files written by other tools (../shared/real-models): every feed-forward
file lwtnn can express converts and matches, every other one is refused naming each
offending node."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning
from onnx2lwtnn.lwtnn import load_network

from .support import assert_close, onnx_reference, random_events, require_shared

REPRESENTABLE = [
    "hls4ml-example-models/two_layer_keras.onnx",
    "hls4ml-example-models/two_layer_pytorch.onnx",
    "hls4ml-example-models/three_layer_keras.onnx",
    "hls4ml-example-models/three_layer_pytorch.onnx",
    "hls4ml-example-models/three_layer_bn_keras.onnx",
    "hls4ml-example-models/three_layer_bn_pytorch.onnx",
    "hls4ml-example-models/dense_big_keras.onnx",
    "sofie/Abs.onnx", "sofie/Add.onnx", "sofie/Concat_0D.onnx", "sofie/Elu.onnx",
    "sofie/LinearWithLeakyRelu.onnx", "sofie/LinearWithSelu.onnx",
    "sofie/LinearWithSigmoid.onnx", "sofie/Linear_16.onnx", "sofie/Linear_32.onnx",
    "sofie/Linear_64.onnx", "sofie/Softmax1d.onnx", "sofie/Softmax2d.onnx", "sofie/Tanh.onnx",
]
NOT_REPRESENTABLE = [
    "hls4ml-example-models/bnn_model_fc_1layer.onnx",
    "hls4ml-example-models/branched_model_ch_last.onnx",
    "hls4ml-example-models/conv2d_small_keras.onnx",
    "hls4ml-example-models/conv2d_small_mp_keras.onnx",
    "hls4ml-example-models/separable_conv_model_ch_last.onnx",
    "hls4ml-example-models/tiny_unet_ch_last.onnx",
]
# Ops with no lwtnn equivalent in those files: every node of these must be named.
OFFENDING_OPS = {"Conv", "MaxPool", "Resize", "Quant", "BipolarQuant"}


def _convert_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return convert(path)


def _reference_model(path) -> onnx.ModelProto:
    """The model as a runtime can run it. three_layer_bn_keras applies per-feature
    BatchNormalization to a Transposed [features, batch] tensor, which runtimes reject;
    its Keras meaning is BatchNormalization on the untransposed tensor."""
    model = onnx.load(str(path))
    if path.name != "three_layer_bn_keras.onnx":
        return model
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    for bn in [n for n in nodes if n.op_type == "BatchNormalization"]:
        before = producer[bn.input[0]]
        after = next(n for n in nodes if n.input and n.input[0] == bn.output[0])
        bn.input[0] = before.input[0]
        for user in nodes:
            user.input[:] = [bn.output[0] if i == after.output[0] else i for i in user.input]
        model.graph.node.remove(before)
        model.graph.node.remove(after)
    return model


@pytest.mark.parametrize("relative", REPRESENTABLE)
def test_representable_model_matches_onnx_on_1000_events(relative):
    path = require_shared("real-models", relative)
    network = load_network(_convert_quietly(path))
    reference_model = _reference_model(path)
    events = random_events(reference_model, 1000, seed=1)
    assert_close(network.evaluate(events), onnx_reference(reference_model, events))


@pytest.mark.parametrize("relative", [r for r in REPRESENTABLE if "sofie" in r
                                      or "keras" in r and "bn" not in r])
def test_representable_model_matches_shipped_outputs(relative):
    path = require_shared("real-models", relative)
    npz = path.with_suffix(".npz")
    if not npz.exists():
        pytest.skip(f"{npz.name} absent: no runtime could run {path.name} as it stands")
    data = np.load(npz)
    network = load_network(_convert_quietly(path))
    inputs = {k[3:]: data[k].reshape(-1, data[k].shape[-1]) for k in data.files
              if k.startswith("in_")}
    outputs = {k[4:]: data[k] for k in data.files if k.startswith("out_")}
    assert_close(network.evaluate(inputs), outputs)


@pytest.mark.parametrize("relative", NOT_REPRESENTABLE)
def test_unrepresentable_model_is_refused_naming_every_offending_node(relative, tmp_path,
                                                                     capsys):
    path = require_shared("real-models", relative)
    output = tmp_path / "out.json"
    assert main([str(path), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    assert "Traceback" not in message
    offending = [n.name for n in onnx.load(str(path)).graph.node if n.op_type in OFFENDING_OPS]
    assert offending
    for name in offending:
        assert f"'{name}'" in message, f"{name} not named"


def test_a_model_no_runtime_can_run_is_converted_but_not_claimed_checked(tmp_path, capsys):
    path = require_shared("real-models", "hls4ml-example-models", "three_layer_bn_keras.onnx")
    output = tmp_path / "net.json"
    assert main([str(path), "-o", str(output), "--check"]) == 1
    err = capsys.readouterr().err
    assert "cannot be checked here" in err and "internal error" not in err
    assert "keras2onnx quirk" in err  # the warning that explains the model is shown too
    assert not output.exists()
    assert main([str(path), "-o", str(output)]) == 0
