"""Read an lwtnn JSON file (or an already parsed document) into a runnable network."""
from __future__ import annotations

import json
import os
from typing import Any, Union

from .graph import GraphNetwork
from .network import Network
from .sequential import SequentialNetwork
from .validate import document_kind, validate_network

NETWORK_KINDS = {"graph": GraphNetwork, "sequential": SequentialNetwork}


def load_network(source: Union[str, "os.PathLike[str]", dict[str, Any]], *,
                 validated: bool = False) -> Network:
    """A ``GraphNetwork`` or ``SequentialNetwork`` from a path or a parsed document.

    The document is validated first (``LwtnnFormatError`` lists every problem), unless
    ``validated`` says that was just done (a document the converter wrote: about a
    second for ten million weights); the format is recognised by the graph format's
    ``nodes`` key.
    """
    if isinstance(source, dict):
        doc = source
    else:
        with open(source, encoding="utf-8") as stream:
            doc = json.load(stream)
    if not validated:
        validate_network(doc)
    return NETWORK_KINDS[document_kind(doc)](doc)
