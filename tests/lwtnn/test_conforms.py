"""``conforms`` (validation without importing jsonschema) answers as jsonschema does: on
valid networks, and on every small corruption of them."""
from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from typing import Any, Iterator

import pytest

from onnx2lwtnn.lwtnn import validate
from onnx2lwtnn.lwtnn.conforms import conforms
from onnx2lwtnn.lwtnn.validate import document_kind

from .conformance_data import network_params
from .test_validate import base_doc

REPLACEMENTS = (None, True, False, 0, 1, -1, 2.0, 1.5, "x", "rectified", [], {}, "delete",
                "extra key")
SAMPLED = 150  # corruptions per network (seeded)
BOTH_WAYS = 40  # of them, those it rejects that jsonschema is asked about too (slow)


def _fast(view: Any, kind: str) -> bool:
    schemas = validate._schemas()
    return conforms(view, schemas[kind], {s["$id"]: s for s in schemas.values()})


def _slow(view: Any, kind: str) -> bool:
    return not any(validate._validators()[kind].iter_errors(view))


def _places(node: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every place in a document (a key of an object, one of a list's first 3 items)."""
    items = node.items() if isinstance(node, dict) else (
        enumerate(node[:3]) if isinstance(node, list) else ())
    for key, value in items:
        yield path + (key,)
        yield from _places(value, path + (key,))


def _corrupted(view: Any, place: tuple, replacement: Any) -> Any:
    """A copy of ``view`` with ``replacement`` at ``place`` (or that key deleted, or an
    unexpected key added to the object there); None where that does not apply."""
    corrupted = copy.deepcopy(view)
    parent = corrupted
    for key in place[:-1]:
        parent = parent[key]
    if replacement == "delete":
        if not isinstance(parent, dict):
            return None
        del parent[place[-1]]
    elif replacement == "extra key":
        if not isinstance(parent[place[-1]], dict):
            return None
        parent[place[-1]]["unexpected"] = 1
    else:
        parent[place[-1]] = replacement
    return corrupted


def _view(doc: Any) -> tuple[Any, str]:
    if not isinstance(doc, dict):
        doc = json.loads(doc.read_text())
    return validate._sampled_view(doc, "$", []), document_kind(doc)


def _documents() -> list[Any]:
    sequential = {"inputs": [{"name": "a", "offset": 0, "scale": 1}],
                  "layers": [{"architecture": "dense", "activation": "sigmoid",
                              "weights": [1.0, 2.0], "bias": [0.5, 0.5]}],
                  "outputs": ["p", "q"], "defaults": {"a": 1.5}}
    return [pytest.param(base_doc(), id="every-node-type"),
            pytest.param(sequential, id="sequential"), *network_params()]


@pytest.mark.parametrize("doc", _documents())
def test_valid_networks_need_no_jsonschema(doc):
    view, kind = _view(doc)
    assert _fast(view, kind) and _slow(view, kind)


@pytest.mark.parametrize("doc", _documents())
def test_every_corruption_is_judged_as_jsonschema_judges_it(doc):
    """What it accepts jsonschema accepts (else a broken network would pass); what it
    rejects, jsonschema rejects too (else valid networks would pay for jsonschema)."""
    view, kind = _view(doc)
    changes = [(place, r) for place in _places(view) for r in REPLACEMENTS]
    changes = random.Random(22).sample(changes, min(SAMPLED, len(changes)))
    corrupted = [c for c in (_corrupted(view, *change) for change in changes) if c is not None]
    fast = [_fast(c, kind) for c in corrupted]
    accepted = [c for c, ok in zip(corrupted, fast) if ok]
    rejected = [c for c, ok in zip(corrupted, fast) if not ok]
    assert len(rejected) > len(corrupted) / 4  # the corruptions do break networks
    assert all(_slow(c, kind) for c in accepted), "accepted what jsonschema refuses"
    assert not any(_slow(c, kind) for c in rejected[:BOTH_WAYS]), "refused a valid one"


def test_run_on_a_valid_network_does_not_load_jsonschema(tmp_path):
    network = tmp_path / "net.json"
    network.write_text(json.dumps(base_doc()))
    code = ("import sys\nfrom onnx2lwtnn.lwtnn import load_network\n"
            f"load_network({str(network)!r})\n"
            "assert 'jsonschema' not in sys.modules, 'jsonschema loaded'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-300:]


@pytest.mark.parametrize("value, schema, expected", [
    (True, {"const": 1}, False), (1, {"enum": [True]}, False), (1.0, {"const": 1}, True),
    ([1, True], {"const": [1, True]}, True), ({"a": 1}, {"const": {"a": True}}, False),
    (2.0, {"type": "integer"}, False), (True, {"type": "number"}, False),
    (-1, {"maximum": 0}, False),  # a keyword it does not read: jsonschema decides
    ("x", {"$ref": "other.json#/a"}, False),  # a schema it does not have: likewise
])
def test_what_it_answers_itself(value, schema, expected):
    assert conforms(value, schema, {}) is expected
