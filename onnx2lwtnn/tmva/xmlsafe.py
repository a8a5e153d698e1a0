"""Read a TMVA weights file as XML, safely: through the file policy (a regular file,
bounded in size), decoded here (byte-order mark, else the XML declaration's encoding,
else UTF-8) and then required to hold no document type declaration at all, whatever its
encoding, so no entity (external or recursive) is ever expanded."""
from __future__ import annotations

import codecs
import os
import re
import xml.etree.ElementTree as ElementTree
from typing import Union

from .. import files
from ..errors import ModelLoadError

MAX_BYTES = 64 * 1024 * 1024  # the largest TMVA MLP files seen are a few MB
_DECLARATIONS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"\A<\?xml[^>]*\?>")
_ENCODING = re.compile(rb"\A<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
# What a file's first bytes say its encoding is (XML 1.0, appendix F)
_MARKS = ((codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF32_LE, "utf-32"),
          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_BE, "utf-16"),
          (codecs.BOM_UTF16_LE, "utf-16"), (b"\0\0\0<", "utf-32-be"),
          (b"<\0\0\0", "utf-32-le"), (b"\0<\0?", "utf-16-be"), (b"<\0?\0", "utf-16-le"))


def parse(path: Union[str, os.PathLike], max_bytes: int = MAX_BYTES) -> ElementTree.Element:
    """The root element of an XML file no larger than ``max_bytes``."""
    data = files.read_bytes(path, "TMVA weights file", max_bytes)
    text = _decoded(path, data)
    found = _DECLARATIONS.search(text)
    if found:
        raise ModelLoadError(f"{path}: the XML declares a {found.group(1).upper()}; "
                             "TMVA never writes one, and entities are not expanded here")
    try:  # the text is decoded already: its declaration must not make expat decode again
        return ElementTree.fromstring(_XML_DECLARATION.sub("", text, count=1))
    except ElementTree.ParseError as exc:
        raise ModelLoadError(f"{path}: not well-formed XML ({exc})") from None


def _decoded(path: Union[str, os.PathLike], data: bytes) -> str:
    encoding = next((name for mark, name in _MARKS if data.startswith(mark)), None)
    if encoding is None:
        declared = _ENCODING.match(data)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        text = data.decode(encoding)
    except LookupError:  # unknown, or not a text encoding (rot13)
        raise ModelLoadError(f"{path}: the XML declares encoding {files.quote(encoding)}, "
                             "which this Python does not know") from None
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{path}: not {encoding} text as its XML says (byte "
                             f"{exc.start})") from None
    return text.lstrip("\ufeff")
