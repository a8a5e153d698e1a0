"""The rough edges a new user hit (issue 12), each with the behaviour that replaced it."""
from __future__ import annotations

import json
import warnings

import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.errors import ConversionWarning, ModelLoadError

from .support import FIXTURES

MASKED = FIXTURES / "published_tf2onnx_masked_nospec.onnx"
MASKED_WITH_SPEC = FIXTURES / "published_tf2onnx_masked.onnx"
MASKED_SPEC = FIXTURES / "published_tf2onnx_masked.variables.json"


def _warnings(*args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        convert(*args, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, ConversionWarning)]


def test_masking_warning_says_the_value_is_raw_without_a_spec():
    (message,) = _warnings(MASKED)
    assert "raw inputs (the values given to lwtnn) all equal -999" in message


def test_masking_warning_says_the_value_is_normalised_with_a_spec():
    (message,) = _warnings(MASKED_WITH_SPEC, variables=MASKED_SPEC,
                           variables_convention="subtract-divide")
    assert "normalised inputs (after the variable spec's offset and scale" in message


def test_lwtnn_json_given_as_the_model_says_the_argument_order(tmp_path):
    network = tmp_path / "net.json"
    network.write_text(json.dumps(convert(FIXTURES / "mlp_opset13.onnx")))
    with pytest.raises(ModelLoadError) as error:
        convert(network)
    message = str(error.value)
    assert message.endswith("this is an lwtnn JSON file; the model comes first: "
                            "onnx2lwtnn check MODEL.onnx NET.json")
    assert "ModelProto" not in message and "Available Fields" not in message
