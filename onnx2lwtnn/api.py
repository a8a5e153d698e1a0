"""The public Python API: what the CLI calls, and what users can call too."""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import onnx

from .build_ir import build_ir
from .emit import GRAPH, emit
from .errors import ConversionError, ConversionWarning
from .interface import Interface
from .legalize import legalize
from .load import infer_shapes, load_model
from .lwtnn import validate_network
from .pipeline import run_pipeline

ModelSource = Union[str, os.PathLike, onnx.ModelProto]


def convert(model: ModelSource, *, format: str = GRAPH,
            interface: Optional[Interface] = None) -> dict[str, Any]:
    """Convert an ONNX model (a path or a ModelProto) to an lwtnn document (a dict).

    Raises ModelLoadError for an unreadable or invalid file and ConversionError, listing
    every offending node, for a model lwtnn cannot express exactly.
    """
    proto = infer_shapes(model) if isinstance(model, onnx.ModelProto) else load_model(model)
    ir = build_ir(proto)
    run_pipeline(ir)
    problems = legalize(ir)
    if problems:
        raise ConversionError(problems)
    document = emit(ir, interface or Interface(), format)
    validate_network(document)
    for message in ir.warnings:
        warnings.warn(message, ConversionWarning, stacklevel=2)
    return document


def to_json(document: dict[str, Any]) -> str:
    """Serialise as lwtnn reads it: plain JSON numbers, float64 round-trip exact."""
    return json.dumps(document, allow_nan=False) + "\n"


def write_json(document: dict[str, Any], path: Union[str, os.PathLike]) -> None:
    """Write atomically: a temporary file in the same folder, renamed over the target."""
    path = Path(path)
    text = to_json(document)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
