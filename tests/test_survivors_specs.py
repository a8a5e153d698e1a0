"""onnx2lwtnn.specs, where its mutation campaign found the suite silent: a variable spec
given where the ONNX model goes is recognised by its keys, and named as a spec."""
from __future__ import annotations

import json

import pytest

from onnx2lwtnn.errors import ModelLoadError
from onnx2lwtnn.inspect import inspect

from .support import FIXTURES

SPEC_FORMS = ["check_spec_graph", "check_spec_keras2json", "check_spec_arrays_subtract_divide",
              "prep_mean_std", "prep_keyed_mean_std", "prep_names_only"]


@pytest.mark.parametrize("name", SPEC_FORMS)
def test_a_spec_given_as_the_model_is_named_a_spec(name, tmp_path):
    """Each form the readers take (lwtnn graph and sequential specs, offset arrays,
    mean/std arrays and entries, names only) is told apart from a model."""
    path = tmp_path / "model.onnx"
    path.write_bytes((FIXTURES / f"{name}.variables.json").read_bytes())
    with pytest.raises(ModelLoadError, match="a variable spec, not an ONNX model"):
        inspect(path)


def test_json_without_a_spec_form_is_named_plain_json(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text(json.dumps({"hello": 1, "numbers": [1, 2]}))
    with pytest.raises(ModelLoadError, match="a JSON file, not an ONNX model"):
        inspect(path)
