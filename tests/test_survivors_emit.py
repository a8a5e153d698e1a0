"""onnx2lwtnn.emit, where its mutation campaign found the suite silent: why the
sequential format refuses a network, as the user reads it."""
from __future__ import annotations

import warnings

import pytest

from onnx2lwtnn.api import conversion
from onnx2lwtnn.errors import ConversionError, ConversionWarning

from .support import FIXTURES

TWO_TASKS = FIXTURES / "multi_task_two_heads.onnx"   # x -> trunk -> score, energy


def test_sequential_refusal_names_the_concatenation_that_merges_branches():
    """Two heads merged into one output, laid out literally, end in a concatenation of two
    branches: the refusal says which node merges them (a hand-known label, the merged
    output's name), not merely that some tensor has two readers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        with pytest.raises(ConversionError) as refused:
            conversion(TWO_TASKS, format="sequential", merge_outputs="both", layout="literal")
    assert "node 'both:merged' merges branches" in str(refused.value)
