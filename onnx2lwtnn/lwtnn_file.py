"""The one reader of lwtnn JSON files for every command (run, export, inspect, check).

A path is read under the file policy (``files``: regular files, size limit, strict
JSON), then as lwtnn's own parser reads it and validated (``lwtnn.read_document``),
so no command ever walks a document lwtnn would refuse, one with a cycle or an index
out of range. The keys lwtnn ignores are dropped with one warning naming them.
"""
from __future__ import annotations

import os
from typing import Union

from . import files
from .errors import FileError, ModelLoadError
from .filekind import NOT_A_NETWORK, is_binary
from .lwtnn import LwtnnFormatError, read_document

PathLike = Union[str, "os.PathLike[str]"]


def read_lwtnn(source: Union[PathLike, dict], *, stdin: bool = False) -> dict:
    """An lwtnn document (graph or sequential) from a path (``-`` for stdin where
    ``stdin``) or a parsed dict, as lwtnn reads it. ``FileError`` for a file that
    cannot be read, ``ModelLoadError`` for a document lwtnn would refuse."""
    where = "the lwtnn document" if isinstance(source, dict) else files.clean(source)
    if isinstance(source, dict):
        document = source
    else:
        try:
            document = files.read_json(source, "lwtnn network", files.NETWORK_LIMIT,
                                       stdin=stdin)
        except FileError:
            if str(source) != files.STDIN and is_binary(source):
                raise ModelLoadError(f"{where}: {NOT_A_NETWORK}") from None
            raise
    try:
        return read_document(document, None if isinstance(source, dict) else where)
    except LwtnnFormatError as exc:
        raise ModelLoadError(f"{where}: {exc}") from None
