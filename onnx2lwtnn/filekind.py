"""What a file is, from its content rather than its name.

Users swap arguments and give the lwtnn JSON where the ONNX model goes; the protobuf
parser then answers with a page about ``onnx.ModelProto`` fields. Looking at the first
bytes lets every reader say instead what the file is and which command it belongs to.
"""
from __future__ import annotations

import json
import os
from typing import Union

from . import files
from .errors import Onnx2LwtnnError

ONNX, LWTNN, JSON = "onnx", "lwtnn", "json"
SWAPPED_ARGUMENTS = ("this is an lwtnn JSON file; the model comes first: "
                     "onnx2lwtnn check MODEL.onnx NET.json")
NOT_A_NETWORK = ("a binary file, not an lwtnn JSON file; if it is the ONNX model, it comes "
                 "first: onnx2lwtnn check MODEL.onnx NET.json")


def kind_of(data: bytes) -> str:
    """``LWTNN`` for an lwtnn network (graph or sequential), ``JSON`` for any other JSON
    object, else ``ONNX`` (whose reader then says whether it really is one)."""
    if not data[:64].lstrip().startswith(b"{"):
        return ONNX
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError:
        return JSON  # broken JSON is still not a protobuf
    if isinstance(document, dict) and "layers" in document and "inputs" in document:
        return LWTNN
    return JSON


def file_kind(path: Union[str, os.PathLike]) -> str:
    """``kind_of`` a file, read under the file policy (regular files, size limits)."""
    return kind_of(files.read_bytes(path, "file", files.MODEL_LIMIT))


def is_binary(path: Union[str, os.PathLike]) -> bool:
    """Whether a readable file is not UTF-8 text (an ONNX model given where JSON goes)."""
    try:
        files.read_bytes(path, "file", files.MODEL_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        return True
    except Onnx2LwtnnError:
        return False
    return False
