"""What a file is, from its content rather than its name.

Users swap arguments and give the lwtnn JSON where the ONNX model goes; the protobuf
parser then answers with a page about ``onnx.ModelProto`` fields. Looking at the first
bytes lets every reader say instead what the file is and which command it belongs to.
"""
from __future__ import annotations

import codecs
import json
import os
from typing import Union

from . import files
from .errors import Onnx2LwtnnError
from .specs import is_spec

ONNX, LWTNN, SPEC, JSON, TMVA, XML = "onnx", "lwtnn", "spec", "json", "tmva", "xml"
SNIFF_BYTES = 1 << 16  # what is_binary reads: an ONNX model's header, node names included
NOT_A_NETWORK = ("a binary file, not an lwtnn JSON file; if it is the ONNX model, it comes "
                 "first: onnx2lwtnn check MODEL.onnx NET.json")
# what a file given where an ONNX model goes is, and where it goes instead
NOT_A_MODEL = {
    LWTNN: "an lwtnn JSON network, not an ONNX model: run it with 'onnx2lwtnn run NET.json "
           "--inputs EVENTS', or compare it with its model with 'onnx2lwtnn check "
           "MODEL.onnx NET.json' (the model comes first)",
    SPEC: "a variable spec, not an ONNX model: give it with --variables "
          "('onnx2lwtnn MODEL.onnx --variables SPEC.json')",
    TMVA: "a TMVA weights file, not an ONNX model: convert it with 'onnx2lwtnn tmva "
          "WEIGHTS.xml' (or fold its transformations into an ONNX model's conversion with "
          "--tmva-weights)",
    JSON: "a JSON file, not an ONNX model",
    XML: "an XML file, not an ONNX model",
}


def kind_of(data: bytes) -> str:
    """``LWTNN`` for an lwtnn network (graph or sequential), ``SPEC`` for a variable spec,
    ``JSON`` for any other JSON object, ``TMVA`` for a TMVA weights file, ``XML`` for
    other XML, else ``ONNX`` (whose reader then says whether it really is one)."""
    start = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        return TMVA if b"<MethodSetup" in data[:4096] else XML
    if not start.startswith(b"{"):
        return ONNX
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError:
        return JSON  # broken JSON is still not a protobuf
    if isinstance(document, dict) and "layers" in document and "inputs" in document:
        return LWTNN
    return SPEC if isinstance(document, dict) and is_spec(document) else JSON


def file_kind(path: Union[str, os.PathLike]) -> str:
    """``kind_of`` a file, read under the file policy (regular files, size limits)."""
    return kind_of(files.read_bytes(path, "file", files.MODEL_LIMIT))


def is_binary(path: Union[str, os.PathLike]) -> bool:
    """Whether a readable file does not start as UTF-8 text (an ONNX model given where
    JSON goes). Only its first ``SNIFF_BYTES`` are read: the file may be one refused for
    its size (a 1 GB network took 8 s and 2 GB of memory to call text)."""
    try:
        with files.open_regular(path, "file") as stream:
            head = stream.read(SNIFF_BYTES)
    except (Onnx2LwtnnError, OSError):
        return False
    try:
        # a character cut by the end of the head is not a decoding error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False
