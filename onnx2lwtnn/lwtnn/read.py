"""An lwtnn document as lwtnn's own parser reads it, before anything walks it.

lwtnn reads JSON through Boost.PropertyTree, which keeps every value as text and
converts it where a number is asked for. So lwtnn accepts what a strict reader would
not, and real files rely on it:

- a number given as a string (``"offset": "-62230.19"``), wherever lwtnn reads a
  number; the text must be what C++'s stream extraction reads in full (ASCII digits,
  an optional sign, point and exponent, surrounding white space; no ``nan``, ``inf``,
  hex or ``1_000``) and within double range;
- a JSON integer, ``true``, ``false`` or ``null`` where lwtnn reads a name (a label
  ``0`` is the label ``"0"``);
- keys it never reads, anywhere: they are dropped here, with one warning naming them
  (a sequential network carrying a stray ``nodes`` key is still sequential).

Which of the two formats a document is follows lwtnn's readers: ``outputs`` is a
list of labels in the sequential format (``parse_json``), an object of output nodes in
the graph format (``parse_json_graph``). Refused here, as lwtnn refuses them: a
number text it cannot read, a number beyond double range, an integer beyond the C++
type lwtnn reads it into, and a string with a lone UTF-16 surrogate (Boost's parser
rejects the escape). ``read_document`` then validates the result (``validate``).
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Callable, Optional, Union

from .errors import LwtnnFormatError, LwtnnFormatWarning
from .validate import _key, document_kind, validate_network

_SPACE = "[ \t\n\v\f\r]*"  # C's isspace: what std::istream skips (never Unicode spaces)
_DOUBLE = re.compile(rf"{_SPACE}[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?{_SPACE}")
_INTEGER = re.compile(rf"{_SPACE}[+-]?[0-9]+{_SPACE}")
INT_RANGE = (-(2**31), 2**31 - 1)   # lwtnn's get<int>
SIZE_RANGE = (0, 2**64 - 1)          # get<std::size_t>
Problems = list[tuple[str, str]]


class _Reader:
    """Walks a document along what lwtnn reads, converting values as Boost would."""

    def __init__(self) -> None:
        self.problems: Problems = []
        self.ignored: list[str] = []

    # values ------------------------------------------------------------------
    def number(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            if not _DOUBLE.fullmatch(value):
                self.problems.append((path, f"{_shown(value)} is not a number lwtnn can read"))
                return value
            text, value = value, float(value)
            if abs(value) == float("inf"):
                self.problems.append((path, f"{_shown(text)} is beyond double precision's "
                                            "range (lwtnn's reader rejects it)"))
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                float(value)
            except OverflowError:
                self.problems.append((path, "an integer beyond double precision's range "
                                            "(lwtnn's reader rejects it)"))
                return 0.0
        return value

    def numbers(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            return value
        kinds = set(map(type, value))
        if str not in kinds and not (int in kinds and _has_huge_int(value)):
            return value  # the common case: a long list of JSON numbers, untouched
        return [self.number(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def integer(self, value: Any, path: str, limits: tuple[int, int] = INT_RANGE) -> Any:
        if isinstance(value, str):
            if not _INTEGER.fullmatch(value):
                self.problems.append((path, f"{_shown(value)} is not an integer lwtnn can "
                                            "read"))
                return value
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and not (
                limits[0] <= value <= limits[1]):
            self.problems.append((path, f"{_shown(value)} is out of the range lwtnn reads "
                                        f"({limits[0]} to {limits[1]})"))
            return limits[1] if value > 0 else limits[0]
        return value

    def size(self, value: Any, path: str) -> Any:
        return self.integer(value, path, SIZE_RANGE)

    def integers(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            return value
        return [self.integer(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def name(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            self.text(value, path)
        return value

    def names(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            return value
        return [self.name(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def text(self, value: str, path: str) -> None:
        if not _encodable(value):
            self.problems.append((path, "holds a lone UTF-16 surrogate (lwtnn's JSON reader "
                                        "rejects it)"))

    def activation(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return self.fields(value, path, ACTIVATION)
        return self.name(value, path)

    # containers --------------------------------------------------------------
    def fields(self, value: Any, path: str, spec: "Spec") -> Any:
        """An object whose keys lwtnn reads are ``spec``'s; others are dropped."""
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            key_path = _key(path, key)
            if key not in spec:
                self.ignored.append(key_path)
                continue
            result[key] = spec[key](self, item, key_path)
        return result

    def each(self, value: Any, path: str, read: "Read") -> Any:
        if not isinstance(value, list):
            return value
        return [read(self, item, f"{path}[{i}]") for i, item in enumerate(value)]

    def mapping(self, value: Any, path: str, read: "Read") -> Any:
        """An object keyed by names (outputs, defaults, components)."""
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            self.text(key, path)
            result[key] = read(self, item, _key(path, key))
        return result


Read = Callable[[_Reader, Any, str], Any]
Spec = dict[str, Read]


def _fields(spec: Spec) -> Read:
    return lambda r, value, path: r.fields(value, path, spec)


def _each(read: Read) -> Read:
    return lambda r, value, path: r.each(value, path, read)


def _mapping(read: Read) -> Read:
    return lambda r, value, path: r.mapping(value, path, read)


# What lwtnn 2.14's parse_json.cxx reads, key by key.
_NUMBER, _NUMBERS, _NAME = _Reader.number, _Reader.numbers, _Reader.name
ACTIVATION: Spec = {"function": _NAME, "alpha": _NUMBER}
VARIABLE: Spec = {"name": _NAME, "offset": _NUMBER, "scale": _NUMBER, "default": _NUMBER}
_DENSE: Spec = {"weights": _NUMBERS, "bias": _NUMBERS, "U": _NUMBERS,
                "activation": _Reader.activation}
SUBLAYER: Spec = {**_DENSE, "index": _Reader.integer, "n_out": _Reader.integer,
                  "architecture": _NAME}  # maxout sublayers' architecture: written by
#                                           lwtnn's converters, read by nobody, harmless
LAYER: Spec = {**_DENSE, "architecture": _NAME, "inner_activation": _Reader.activation,
               "components": _mapping(_fields(_DENSE)), "sublayers": _each(_fields(SUBLAYER)),
               "dilation_rate": _Reader.size, "padding": _NAME}
INPUT_NODE: Spec = {"name": _NAME, "variables": _each(_fields(VARIABLE))}
NODE: Spec = {"type": _NAME, "sources": _Reader.integers, "size": _Reader.integer,
              "layer_index": _Reader.integer}
OUTPUT: Spec = {"labels": _Reader.names, "node_index": _Reader.integer}
FORMATS: dict[str, Spec] = {
    "graph": {"inputs": _each(_fields(INPUT_NODE)), "input_sequences": _each(_fields(INPUT_NODE)),
              "nodes": _each(_fields(NODE)), "layers": _each(_fields(LAYER)),
              "outputs": _mapping(_fields(OUTPUT))},
    "sequential": {"inputs": _each(_fields(VARIABLE)), "layers": _each(_fields(LAYER)),
                   "outputs": _Reader.names, "defaults": _mapping(_NUMBER),
                   "miscellaneous": _mapping(_NAME)},
}


def as_lwtnn_reads(doc: Any) -> tuple[Union[dict, Any], list[str]]:
    """The document with its values converted as lwtnn converts them and the keys it
    ignores dropped, and the JSON paths of those keys. Raises ``LwtnnFormatError`` for
    values lwtnn's reader rejects."""
    if not isinstance(doc, dict):
        return doc, []
    reader = _Reader()
    converted = reader.fields(doc, "$", FORMATS[document_kind(doc)])
    if reader.problems:
        raise LwtnnFormatError(reader.problems)
    return converted, reader.ignored


def read_document(doc: Any, where: Optional[str] = None) -> dict:
    """A parsed lwtnn document (graph or sequential) as lwtnn reads it, validated
    (``validate_network``): what every command walks. The keys lwtnn ignores are
    dropped with one ``LwtnnFormatWarning`` naming them (``where``: the file)."""
    converted, ignored = as_lwtnn_reads(doc)
    validate_network(converted)
    if ignored:
        warnings.warn(LwtnnFormatWarning(_ignored_message(ignored, where)), stacklevel=2)
    return converted


def _ignored_message(paths: list[str], where: Optional[str], shown: int = 8) -> str:
    listed = ", ".join(paths[:shown]) + (f" and {len(paths) - shown} more"
                                         if len(paths) > shown else "")
    prefix = f"{where}: " if where else ""
    return f"{prefix}lwtnn ignores {listed}; so does onnx2lwtnn"


def _has_huge_int(values: list) -> bool:
    return any(type(v) is int and v.bit_length() > 1023 for v in values)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: Any, limit: int = 40) -> str:
    """A value from the document, short (the command line escapes what it prints)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
