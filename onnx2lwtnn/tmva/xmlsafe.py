"""Read a TMVA weights file as XML, safely: bounded in size, and with no document type
declaration at all, so no entity (external or recursive) is ever expanded."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Union

from ..errors import ModelLoadError

MAX_BYTES = 64 * 1024 * 1024  # the largest TMVA MLP files seen are a few MB
_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse(path: Union[str, os.PathLike], max_bytes: int = MAX_BYTES) -> ElementTree.Element:
    """The root element of an XML file no larger than ``max_bytes``."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the TMVA weights ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise ModelLoadError(f"{path}: larger than {max_bytes // (1024 * 1024)} MB; not a "
                             "TMVA weights file this tool reads")
    found = _DECLARATIONS.search(data)
    if found:
        raise ModelLoadError(f"{path}: the XML declares a {found.group(1).decode().upper()}; "
                             "TMVA never writes one, and entities are not expanded here")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ModelLoadError(f"{path}: not well-formed XML ({exc})") from None
