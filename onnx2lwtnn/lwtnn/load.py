"""Read an lwtnn JSON file (or an already parsed document) into a runnable network."""
from __future__ import annotations

import json
import os
from typing import Any, Union

from .graph import GraphNetwork
from .network import Network
from .read import read_document
from .sequential import SequentialNetwork
from .validate import document_kind

NETWORK_KINDS = {"graph": GraphNetwork, "sequential": SequentialNetwork}


def load_network(source: Union[str, "os.PathLike[str]", dict[str, Any]], *,
                 validated: bool = False) -> Network:
    """A ``GraphNetwork`` or ``SequentialNetwork`` from a path or a parsed document.

    The document is read as lwtnn reads it and validated first (``read_document``:
    ``LwtnnFormatError`` lists every problem), unless ``validated`` says that was just
    done (a document the converter wrote: about a second for ten million weights).
    """
    if isinstance(source, dict):
        doc = source
    else:
        with open(source, encoding="utf-8") as stream:
            doc = json.load(stream)
    if validated:
        return build_network(doc)
    return build_network(read_document(doc, None if isinstance(source, dict) else str(source)))


def build_network(document: dict[str, Any]) -> Network:
    """The network of a document ``read_document`` returned (read and validated)."""
    return NETWORK_KINDS[document_kind(document)](document)
