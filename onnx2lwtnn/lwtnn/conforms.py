"""Whether a JSON value conforms to a shipped schema, decided without jsonschema.

Importing jsonschema costs about three quarters of importing numpy, most of what
``onnx2lwtnn run`` spends before it reads a file beyond numpy itself, and a valid
network needs no error messages. So ``validate`` first asks this reader of the keywords
our schemas use; a document it does not accept goes to jsonschema, which decides and
says what is wrong. It therefore only ever answers yes where jsonschema would: a keyword
it does not read makes the answer no (jsonschema decides), integers are JSON integers
(not ``2.0``, not booleans, as ``validate``'s type checker has it), and ``const`` and
``enum`` tell ``true`` from ``1``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import urljoin

Schema = Any  # a JSON Schema: a dict, or true / false
# keywords that say nothing about the instance (``then``/``else`` are read with ``if``)
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "then", "else"})
TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


class _Unread(Exception):
    """A keyword (or form of one) this reader does not know."""


def conforms(instance: Any, schema: Schema, schemas: Mapping[str, Schema]) -> bool:
    """Whether ``instance`` is valid under ``schema``; ``schemas``: every schema a
    ``$ref`` may name, by ``$id``. False also where this reader cannot tell."""
    try:
        return _Reader(schemas).conforms(instance, schema, schema)
    except _Unread:
        return False


class _Reader:
    def __init__(self, schemas: Mapping[str, Schema]):
        self.schemas = schemas
        self._targets: dict[tuple[str, str], tuple[Schema, Schema]] = {}

    def conforms(self, value: Any, schema: Schema, root: Schema) -> bool:
        """``root``: the schema document ``schema`` is in (its ``$ref``s start there)."""
        if isinstance(schema, bool):
            return schema
        for keyword, argument in schema.items():
            if keyword in ANNOTATIONS:
                continue
            check = KEYWORDS.get(keyword)
            if check is None:
                raise _Unread(keyword)
            if not check(self, value, argument, schema, root):
                return False
        return True

    def ref(self, value: Any, reference: str, root: Schema) -> bool:
        key = (root.get("$id", ""), reference)
        if key not in self._targets:  # (resolved once: a network reads $defs hundreds
            self._targets[key] = self._resolve(*key)  # of times)
        schema, target = self._targets[key]
        return self.conforms(value, schema, target)

    def _resolve(self, base: str, reference: str) -> tuple[Schema, Schema]:
        """(the schema ``reference`` names, the schema document it is in)."""
        address, _, pointer = urljoin(base, reference).partition("#")
        target = self.schemas.get(address)
        if target is None or (pointer and not pointer.startswith("/")):
            raise _Unread(f"$ref {reference}")
        schema = target
        for token in filter(None, pointer.split("/")):
            schema = schema[token.replace("~1", "/").replace("~0", "~")]
        return schema, target


def _type(reader: _Reader, value: Any, names: Any, schema: dict, root: Schema) -> bool:
    names = [names] if isinstance(names, str) else names
    if not all(name in TYPES for name in names):
        raise _Unread(f"type {names}")
    return any(TYPES[name](value) for name in names)


def _properties(reader: _Reader, value: Any, properties: dict, schema: dict,
                root: Schema) -> bool:
    return not isinstance(value, dict) or all(
        reader.conforms(value[key], sub, root) for key, sub in properties.items()
        if key in value)


def _additional(reader: _Reader, value: Any, sub: Schema, schema: dict, root: Schema) -> bool:
    if "patternProperties" in schema:
        raise _Unread("additionalProperties beside patternProperties")
    named = schema.get("properties", {})
    return not isinstance(value, dict) or all(
        reader.conforms(item, sub, root) for key, item in value.items() if key not in named)


def _items(reader: _Reader, value: Any, sub: Schema, schema: dict, root: Schema) -> bool:
    if "prefixItems" in schema or not isinstance(sub, (dict, bool)):
        raise _Unread("items beside prefixItems, or as a list")
    return not isinstance(value, list) or all(reader.conforms(item, sub, root)
                                              for item in value)


def _if(reader: _Reader, value: Any, condition: Schema, schema: dict, root: Schema) -> bool:
    branch = "then" if reader.conforms(value, condition, root) else "else"
    return reader.conforms(value, schema.get(branch, True), root)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return a == b


def _number(value: Any) -> bool:
    return TYPES["number"](value)


KEYWORDS: dict[str, Callable[[_Reader, Any, Any, dict, Schema], bool]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": lambda r, v, names, s, root: not isinstance(v, dict) or all(
        name in v for name in names),
    "items": _items,
    "minItems": lambda r, v, n, s, root: not isinstance(v, list) or len(v) >= n,
    "maxItems": lambda r, v, n, s, root: not isinstance(v, list) or len(v) <= n,
    "minimum": lambda r, v, m, s, root: not _number(v) or v >= m,
    "const": lambda r, v, c, s, root: _equal(v, c),
    "enum": lambda r, v, options, s, root: any(_equal(v, o) for o in options),
    "if": _if,
    "allOf": lambda r, v, subs, s, root: all(r.conforms(v, sub, root) for sub in subs),
    "$ref": lambda r, v, reference, s, root: r.ref(v, reference, root),
    "propertyNames": lambda r, v, sub, s, root: not isinstance(v, dict) or all(
        r.conforms(key, sub, root) for key in v),
}
