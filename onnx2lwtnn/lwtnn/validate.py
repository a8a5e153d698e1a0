"""Check an lwtnn document the way lwtnn would read, build and run it; report everything.

``validate_network(doc)`` raises ``LwtnnFormatError`` listing every problem as
(JSON path, message). It runs three passes over the document:

1. Numbers. lwtnn's JSON reader (Boost.PropertyTree) rejects NaN/Infinity, and a
   network's weights are almost all of the document: millions of numbers, far too
   many to hand to jsonschema one by one. So every long ``weights``/``bias``/``U``
   list (more than ``SAMPLE`` items) is checked as a whole: its element types are
   collected in C (``set(map(type, items))``) and, when they are all ints/floats,
   its finiteness is decided by one C-level ``sum`` (finite iff no NaN/Infinity;
   only a non-finite sum falls back to numpy to find the bad entries). Every other
   number is checked where it stands. This costs about 20 ns per weight.
2. Structure, with jsonschema, against ``schema/graph.schema.json`` or
   ``schema/sequential.schema.json``, on a *view* of the document in which each
   such all-number list is cut to its first ``SAMPLE`` items: the schema sees every
   key, type and enum, and a sample of each weight list, but not the millions of
   weights pass 1 already checked (the schema asks nothing more of them than being
   numbers). A weight list holding anything else is left whole, so jsonschema points
   at the offending entries. Integers must be JSON integers (Boost refuses
   ``2.0`` where it reads an int), which the schema's type checker enforces. A view
   that ``conforms`` accepts needs no jsonschema (nor its import, which costs about
   as much as numpy's); only one it does not goes to jsonschema, which then says what
   is wrong.
3. Consistency the schema cannot express, from list lengths only: sources and
   layer indices that exist, no cycles, vector vs sequence sources, every layer's
   weight and bias lengths for the input width its node gives it (as lwtnn's
   ``Stack``/``RecurrentStack`` builders check or silently rely on), a layer shared
   by nodes of different widths, output labels matching the output node's size,
   names that lookups by name can tell apart, and ``leakyrelu``/``swish`` given
   without an alpha (lwtnn then uses alpha = NaN).

Which format a document is follows lwtnn's readers (``document_kind``). Documents as
lwtnn's parser reads them (numbers given as strings, keys it ignores) come from
``read.read_document``, which validates them here.
"""
from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Any, Callable, Mapping, Optional

import numpy as np

from .conforms import conforms
from .errors import LwtnnFormatError

SAMPLE = 8
MAX_RECEPTIVE_FIELD = 100_000  # time steps one conv1d output reads (docs/limits.md)
BULK_KEYS = frozenset({"weights", "bias", "U"})  # where a network's millions of numbers live
VECTOR_ARCHITECTURES = ("dense", "normalization", "highway", "maxout")
SEQUENCE_ARCHITECTURES = ("lstm", "gru", "simplernn", "conv1d", "embedding")
GATES = {"lstm": ("i", "f", "c", "o"), "gru": ("z", "r", "h"), "simplernn": ("h",)}
# node type -> (kind of source it needs, is its value a vector, is it a sequence)
NODE_KINDS = {
    "input": (None, True, False),
    "input_sequence": (None, False, True),
    "feed_forward": ("vector", True, False),
    "time_distributed": ("sequence", False, True),
    "sequence": ("sequence", True, True),
    "sum": ("sequence", True, False),
    "concatenate": ("vector", True, False),
    "add": ("vector", True, False),
}
# which activations each architecture uses (others are read but ignored)
USED_ACTIVATIONS = {
    "dense": ("activation",), "highway": ("activation",), "conv1d": ("activation",),
    "simplernn": ("activation",), "lstm": ("activation", "inner_activation"),
    "gru": ("activation", "inner_activation"),
}
Problems = list[tuple[str, str]]


def document_kind(doc: Mapping[str, Any]) -> str:
    """``"graph"`` (LightweightGraph) or ``"sequential"`` (LightweightNeuralNetwork),
    as lwtnn's readers tell them: the sequential format's ``outputs`` is a list of
    labels, the graph format's an object of output nodes (without either, a graph has
    ``nodes``)."""
    outputs = doc.get("outputs")
    if isinstance(outputs, (list, dict)):
        return "sequential" if isinstance(outputs, list) else "graph"
    return "graph" if "nodes" in doc else "sequential"


def validate_network(doc: Mapping[str, Any]) -> None:
    """Raise ``LwtnnFormatError`` listing every problem lwtnn would have with ``doc``."""
    if not isinstance(doc, dict):
        raise LwtnnFormatError(
            [("$", f"an lwtnn document is a JSON object, not {type(doc).__name__}")])
    problems: Problems = []
    view = _sampled_view(doc, "$", problems)
    kind = document_kind(doc)
    nodes = _distinct_nodes(view)
    schemas = _schemas()
    if not conforms(view, schemas[kind], {s["$id"]: s for s in schemas.values()}):
        for error in _validators()[kind].iter_errors(view):  # what is wrong, exactly
            where = list(error.absolute_path)
            if nodes is not None and where[:1] == ["nodes"] and len(where) > 1:
                where[1] = nodes[where[1]]  # the node's index in the document
            problems.append((_path(where), _shorten(error.message)))
    if kind == "graph":
        _GraphChecker(doc, problems).run()
    else:
        _check_sequential(doc, problems)
    if problems:
        raise LwtnnFormatError(problems)


# ------------------------------------------------------------------ pass 1: numbers

def _sampled_view(node: Any, path: str, problems: Problems) -> Any:
    if isinstance(node, dict):
        view = {}
        for key, value in node.items():
            key_path = _key(path, key)
            if key in BULK_KEYS and _is_long_number_list(value):
                _check_finite(value, key_path, problems)
                view[key] = value[:SAMPLE]
            else:
                view[key] = _sampled_view(value, key_path, problems)
        return view
    if isinstance(node, list):
        return [_sampled_view(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, float) and not math.isfinite(node):
        problems.append(
            (path, f"{node} is not a JSON number (lwtnn's reader rejects NaN/Infinity)"))
    return node


def _distinct_nodes(view: Any) -> Optional[list[int]]:
    """Keep in the view only the first of the graph nodes that look alike to the schema
    (the same but for the values of non-negative indices, which it checks alike), and
    return their indices in the document: thousands of nodes cost the schema one each."""
    if not isinstance(view, dict) or not isinstance(view.get("nodes"), list):
        return None
    first: dict[str, int] = {}
    for index, node in enumerate(view["nodes"]):
        first.setdefault(json.dumps(_alike(node), sort_keys=True), index)
    kept = sorted(first.values())
    view["nodes"] = [view["nodes"][index] for index in kept]
    return kept


def _alike(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    return {key: ([_zero(v) for v in value] if key == "sources" and isinstance(value, list)
                  else _zero(value) if key in ("size", "layer_index") else value)
            for key, value in node.items()}


def _zero(value: Any) -> Any:
    return 0 if _index(value) is not None else value


def _is_long_number_list(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > SAMPLE
            and all(t is not bool and issubclass(t, (int, float)) for t in set(map(type, value))))


def _check_finite(items: list, path: str, problems: Problems) -> None:
    try:
        if math.isfinite(sum(items)):
            return
        values = np.array(items, dtype=np.float64)
    except OverflowError:
        problems.append((path, "holds an integer too large for a double"))
        return
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        problems.append((f"{path}[{bad[0]}]", f"{values[bad[0]]} is not a JSON number (lwtnn's "
                         f"reader rejects NaN/Infinity); this list has {bad.size} non-finite "
                         f"entries"))


# --------------------------------------------------------------- pass 2: structure

def _is_int(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.lru_cache(maxsize=None)
def _schemas() -> dict[str, dict]:
    folder = resources.files(__package__) / "schema"
    return {kind: json.loads((folder / f"{kind}.schema.json").read_text(encoding="utf-8"))
            for kind in ("graph", "sequential")}


@functools.lru_cache(maxsize=None)
def _validators() -> dict[str, Any]:
    """jsonschema's validators, for a document ``conforms`` does not accept (loaded only
    then: importing jsonschema costs most of numpy's import again)."""
    from jsonschema import Draft202012Validator, validators
    from referencing import Registry, Resource

    checker = validators.extend(
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int))
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in _schemas().values())
    return {kind: checker(schema, registry=registry) for kind, schema in _schemas().items()}


def _key(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if str(key).isidentifier() else f"{path}[{json.dumps(key)}]"


def _path(parts: Any) -> str:
    return functools.reduce(_key, parts, "$")


def _shorten(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + " ..."


# ------------------------------------------------------------- pass 3: consistency

def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _index(value: Any) -> Optional[int]:
    return value if _is_int(None, value) and value >= 0 else None


def _length(value: Any) -> Optional[int]:
    return len(value) if isinstance(value, list) else None


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


class _LayerSizes:
    """Output width of each layer for a given input width, reporting what lwtnn rejects."""

    def __init__(self, problems: Problems):
        self.problems = problems
        self._cache: dict[tuple[str, int], Optional[int]] = {}

    def size(self, layer: Any, path: str, n_in: int) -> Optional[int]:
        """Output width of ``layer`` (found at ``path``) fed ``n_in`` values."""
        if (path, n_in) not in self._cache:
            check = LAYER_SIZES.get(_str(_dict(layer).get("architecture")))
            self._cache[path, n_in] = check(self, _dict(layer), path, n_in) if check else None
        return self._cache[path, n_in]

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def matrix_rows(self, weights: Any, path: str, n_in: int) -> Optional[int]:
        """Rows of lwtnn's build_matrix(weights, n_in), or None (reported) if impossible."""
        n = _length(weights)
        if n is None:
            return None
        if n_in == 0 or n % n_in:
            self.report(path, f"has {n} entries, not a multiple of the {n_in} inputs it receives")
            return None
        return n // n_in

    def component(self, comp: Any, path: str, n_in: int, needs_u: bool) -> Optional[int]:
        comp = _dict(comp)
        n_out = self.matrix_rows(comp.get("weights"), f"{path}.weights", n_in)
        if n_out is None:
            return None
        n_bias = _length(comp.get("bias"))
        if n_bias is not None and n_bias != n_out:
            self.report(f"{path}.bias", f"has {n_bias} entries for {n_out} outputs")
        n_u = _length(comp.get("U"))
        if n_u is not None and (needs_u or n_u) and n_u != n_out * n_out:
            self.report(f"{path}.U", f"has {n_u} entries, not {n_out} x {n_out}")
        return n_out

    def same_width(self, sizes: dict[str, Optional[int]], what: str) -> Optional[int]:
        known = {path: n for path, n in sizes.items() if n is not None}
        if len(set(known.values())) > 1:
            first_path, first = next(iter(known.items()))
            for path, n in known.items():
                if n != first:
                    self.report(path, f"gives {n} outputs but {first_path} gives {first}: "
                                      f"all {what} must have the same width")
            return None
        return next(iter(known.values()), None) if len(known) == len(sizes) else None


def _dense(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    n_w, n_b = _length(layer.get("weights")), _length(layer.get("bias"))
    n_out = n_in if n_w == 0 else s.matrix_rows(layer.get("weights"), f"{path}.weights", n_in)
    if n_out is not None and n_b and n_b != n_out:
        s.report(f"{path}.bias", f"has {n_b} entries for {n_out} outputs")
    return n_out


def _normalization(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    for key in ("weights", "bias"):
        n = _length(layer.get(key))
        if n and n != n_in:
            s.report(f"{path}.{key}", f"has {n} entries for {n_in} inputs")
    return n_in


def _highway(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    for name in ("t", "carry"):
        comp_path = f"{path}.components.{name}"
        n = s.component(_dict(layer.get("components")).get(name), comp_path, n_in, False)
        if n is not None and n != n_in:
            s.report(f"{comp_path}.weights", f"gives {n} outputs; a highway layer keeps its "
                                             f"{n_in} inputs")
    return n_in


def _maxout(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    sizes = {}
    for k, sub in enumerate(_list(layer.get("sublayers"))):
        sub_path = f"{path}.sublayers[{k}]"
        sizes[f"{sub_path}.weights"] = s.component(sub, sub_path, n_in, False)
    return s.same_width(sizes, "maxout sublayers")


def _recurrent(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    sizes = {}
    for name in GATES[layer["architecture"]]:
        comp_path = f"{path}.components.{name}"
        comp = _dict(layer.get("components")).get(name)
        sizes[f"{comp_path}.weights"] = s.component(comp, comp_path, n_in, True)
    return s.same_width(sizes, f"{layer['architecture']} components")


def _conv1d(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    n_out, n_w = _length(layer.get("bias")), _length(layer.get("weights"))
    if not n_out or n_w is None:
        return None
    if n_in == 0 or n_w % (n_in * n_out):
        s.report(f"{path}.weights", f"has {n_w} entries, not a multiple of {n_out} outputs "
                                    f"x {n_in} inputs (x kernel size)")
        return n_out
    kernel, dilation = n_w // (n_in * n_out), _index(layer.get("dilation_rate"))
    span = None if dilation is None else (kernel - 1) * dilation + 1
    if span is not None and span > MAX_RECEPTIVE_FIELD:
        s.report(f"{path}.dilation_rate", f"{dilation} with a kernel of {kernel} spans "
                 f"{span:,} time steps (lwtnn pads every sequence by that much); the limit "
                 f"is {MAX_RECEPTIVE_FIELD:,}")
    return n_out


def _embedding(s: _LayerSizes, layer: dict, path: str, n_in: int) -> Optional[int]:
    rows = n_in
    for k, sub in enumerate(_list(layer.get("sublayers"))):
        sub = _dict(sub)
        sub_path = f"{path}.sublayers[{k}]"
        index, n_out = _index(sub.get("index")), _index(sub.get("n_out"))
        n_w = _length(sub.get("weights"))
        if index is None or not n_out or n_w is None:
            return None
        if index >= rows:
            s.report(f"{sub_path}.index", f"is {index} but the sequence has {rows} variables here")
        if n_w % n_out:
            s.report(f"{sub_path}.weights", f"has {n_w} entries, not a multiple of n_out={n_out}")
        rows += n_out - 1
    return rows


LAYER_SIZES: dict[str, Callable[[_LayerSizes, dict, str, int], Optional[int]]] = {
    "dense": _dense,
    "normalization": _normalization,
    "highway": _highway,
    "maxout": _maxout,
    "lstm": _recurrent,
    "gru": _recurrent,
    "simplernn": _recurrent,
    "conv1d": _conv1d,
    "embedding": _embedding,
}


def _check_layer_activations(layers: list, problems: Problems) -> None:
    for i, layer in enumerate(layers):
        layer = _dict(layer)
        for key in USED_ACTIVATIONS.get(_str(layer.get("architecture")), ()):
            spec = layer.get(key)
            if spec in ("leakyrelu", "swish"):
                problems.append((f"$.layers[{i}].{key}", f"'{spec}' needs an alpha: write "
                                 f"{{\"function\": \"{spec}\", \"alpha\": ...}} (as a bare string "
                                 f"lwtnn uses alpha = NaN and outputs NaN)"))


def _check_unique_names(items: list, path: str, what: str, problems: Problems) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = _dict(item).get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append((f"{path}[{i}].name", f"{name!r} is also the name of "
                                 f"{path}[{seen[name]}]; lwtnn looks {what} up by name"))
            seen.setdefault(name, i)


def _check_unique_labels(labels: list, path: str, problems: Problems) -> None:
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            continue
        if label in seen:
            problems.append((f"{path}[{i}]", f"{label!r} is also {path}[{seen[label]}]; "
                             "lwtnn returns outputs keyed by label"))
        seen.setdefault(label, i)


class _GraphChecker:
    """Resolves every node's kind and width the way lwtnn's Graph builds them."""

    def __init__(self, doc: dict, problems: Problems):
        self.problems = problems
        self.inputs = _list(doc.get("inputs"))
        self.sequences = _list(doc.get("input_sequences"))
        self.nodes = [_dict(node) for node in _list(doc.get("nodes"))]
        self.layers = _list(doc.get("layers"))
        self.outputs = _dict(doc.get("outputs"))
        self.layer_sizes = _LayerSizes(problems)
        # node index -> (is a vector, is a sequence, width or None)
        self.info: dict[int, tuple[bool, bool, Optional[int]]] = {}
        # (vector or sequence use, layer index) -> [(node, input width)]
        self.layer_uses: dict[tuple[str, int], list[tuple[int, int]]] = {}

    def run(self) -> None:
        for what, items in (("inputs", self.inputs), ("input_sequences", self.sequences)):
            _check_unique_names(items, f"$.{what}", what, self.problems)
            for i, item in enumerate(items):
                _check_unique_names(_list(_dict(item).get("variables")),
                                    f"$.{what}[{i}].variables", "variables", self.problems)
        _check_layer_activations(self.layers, self.problems)
        for index in self._build_order():
            self.info[index] = self._resolve(index)
        self._check_shared_layers()
        self._check_outputs()

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def _edges(self, index: int) -> list[tuple[int, int]]:
        """(position in sources, source node) of a node's node-valued sources."""
        node = self.nodes[index]
        if NODE_KINDS.get(_str(node.get("type")), (None,))[0] is None:
            return []
        return [(k, s) for k, s in enumerate(_list(node.get("sources"))) if _index(s) is not None]

    def _build_order(self) -> list[int]:
        """Nodes sources-first; reports missing sources and cycles."""
        n = len(self.nodes)
        users: dict[int, list[int]] = {}
        waiting = [0] * n
        for index in range(n):
            for k, source in self._edges(index):
                if source >= n:
                    self.report(f"$.nodes[{index}].sources[{k}]",
                                f"node {source} does not exist ($.nodes has {n} entries)")
                else:
                    users.setdefault(source, []).append(index)
                    waiting[index] += 1
        order = [i for i in range(n) if waiting[i] == 0]
        for index in order:
            for user in users.get(index, []):
                waiting[user] -= 1
                if waiting[user] == 0:
                    order.append(user)
        for index in _on_cycles(set(range(n)) - set(order), users):
            self.report(f"$.nodes[{index}].sources", "is part of a cycle (lwtnn: found "
                                                     "cycle in graph)")
        return order

    def _resolve(self, index: int) -> tuple[bool, bool, Optional[int]]:
        node = self.nodes[index]
        kind = _str(node.get("type"))
        if kind not in NODE_KINDS:  # reported by the schema; unknown, so no knock-on reports
            return True, True, None
        needs, is_vector, is_sequence = NODE_KINDS[kind]
        if needs is None:
            return is_vector, is_sequence, self._input_size(index, node)
        widths = []
        for k, source in self._edges(index):
            src_vector, src_sequence, width = self.info.get(source, (True, True, None))
            if not (src_vector if needs == "vector" else src_sequence):
                self.report(f"$.nodes[{index}].sources[{k}]",
                            f"node {source} ({self.nodes[source].get('type')}) is not a "
                            f"{needs}, but a {kind} node needs a {needs} source")
                width = None
            widths.append(width)
        if None in widths or len(widths) != len(_list(node.get("sources"))):
            return is_vector, is_sequence, None
        return is_vector, is_sequence, self._width(index, node, kind, widths)

    def _input_size(self, index: int, node: dict) -> Optional[int]:
        table, what = ((self.inputs, "inputs") if node["type"] == "input"
                       else (self.sequences, "input_sequences"))
        size = _index(node.get("size"))
        source = _index(next(iter(_list(node.get("sources"))), None))
        if source is None:
            return size
        if source >= len(table):
            self.report(f"$.nodes[{index}].sources[0]",
                        f"{what} entry {source} does not exist ($.{what} has {len(table)})")
            return size
        n_vars = _length(_dict(table[source]).get("variables"))
        if size is not None and n_vars is not None and n_vars != size:
            self.report(f"$.nodes[{index}].size",
                        f"is {size} but $.{what}[{source}] has {n_vars} variables")
        return size

    def _width(self, index: int, node: dict, kind: str, widths: list[int]) -> Optional[int]:
        if kind == "concatenate":
            return sum(widths)
        if kind == "add":
            if len(set(widths)) > 1:
                self.report(f"$.nodes[{index}].sources",
                            f"adds nodes of different widths {widths}")
                return None
            return widths[0] if widths else None
        if kind == "sum":
            return widths[0] if widths else None
        return self._layer_width(index, node, kind, widths[0] if widths else None)

    def _layer_width(self, index: int, node: dict, kind: str, n_in: Optional[int]
                     ) -> Optional[int]:
        layer_index = _index(node.get("layer_index"))
        if layer_index is None or n_in is None:
            return None
        if layer_index >= len(self.layers):
            self.report(f"$.nodes[{index}].layer_index", f"layer {layer_index} does not exist "
                                                        f"($.layers has {len(self.layers)})")
            return None
        arch = _str(_dict(self.layers[layer_index]).get("architecture"))
        allowed = SEQUENCE_ARCHITECTURES if kind == "sequence" else VECTOR_ARCHITECTURES
        if arch not in allowed:
            if arch in LAYER_SIZES:
                self.report(f"$.nodes[{index}].layer_index",
                            f"layer {layer_index} is {arch!r}, which a {kind} node cannot run "
                            f"(it takes {', '.join(allowed)})")
            return None
        use = "sequence" if kind == "sequence" else "vector"
        self.layer_uses.setdefault((use, layer_index), []).append((index, n_in))
        return self.layer_sizes.size(self.layers[layer_index], f"$.layers[{layer_index}]", n_in)

    def _check_shared_layers(self) -> None:
        for (_, layer_index), uses in self.layer_uses.items():
            if len({n_in for _, n_in in uses}) > 1:
                described = ", ".join(f"node {i} ({n} inputs)" for i, n in uses)
                self.report(f"$.layers[{layer_index}]",
                            f"is used with different input widths: {described}; lwtnn "
                            f"builds a layer once, for the first node that uses it")

    def _check_outputs(self) -> None:
        for name, output in self.outputs.items():
            path = _key("$.outputs", name)
            output = _dict(output)
            _check_unique_labels(_list(output.get("labels")), f"{path}.labels", self.problems)
            index, labels = _index(output.get("node_index")), _length(output.get("labels"))
            if index is None:
                continue
            if index >= len(self.nodes):
                self.report(f"{path}.node_index",
                            f"node {index} does not exist ($.nodes has {len(self.nodes)})")
                continue
            is_vector, _, width = self.info.get(index, (True, False, None))
            if not is_vector:
                self.report(f"{path}.node_index",
                            f"node {index} ({self.nodes[index].get('type')}) is a sequence; "
                            f"lwtnn's compute() needs a vector node")
            elif width is not None and labels is not None and labels != width:
                self.report(f"{path}.labels",
                            f"has {labels} labels but node {index} has {width} outputs")


def _on_cycles(stuck: set[int], users: dict[int, list[int]]) -> list[int]:
    """The nodes a topological sort left over, minus those merely downstream of a cycle
    (peeled off from the far end, each node once: linear in the graph's size)."""
    stuck = set(stuck)
    waiting = {i: sum(u in stuck for u in users.get(i, [])) for i in stuck}
    readers: dict[int, list[int]] = {}
    for i in stuck:
        for user in users.get(i, []):
            if user in stuck:
                readers.setdefault(user, []).append(i)
    leaves = [i for i, n in waiting.items() if n == 0]
    for leaf in leaves:
        stuck.discard(leaf)
        for source in readers.get(leaf, []):
            waiting[source] -= 1
            if waiting[source] == 0:
                leaves.append(source)
    return sorted(stuck)


def _check_sequential(doc: dict, problems: Problems) -> None:
    inputs = _list(doc.get("inputs"))
    _check_unique_names(inputs, "$.inputs", "inputs", problems)
    layers = _list(doc.get("layers"))
    _check_layer_activations(layers, problems)
    sizes = _LayerSizes(problems)
    width: Optional[int] = len(inputs)
    for i, layer in enumerate(layers):
        arch = _str(_dict(layer).get("architecture"))
        if arch in SEQUENCE_ARCHITECTURES:
            problems.append((f"$.layers[{i}].architecture",
                             f"{arch!r} cannot run in the sequential format (lwtnn's "
                             f"LightweightNeuralNetwork takes {', '.join(VECTOR_ARCHITECTURES)}); "
                             f"use the graph format"))
            width = None
        elif width is not None:
            width = sizes.size(layer, f"$.layers[{i}]", width)
    _check_unique_labels(_list(doc.get("outputs")), "$.outputs", problems)
    n_labels = _length(doc.get("outputs"))
    if width is not None and n_labels is not None and n_labels != width:
        problems.append(("$.outputs", f"has {n_labels} labels but the last layer gives "
                                      f"{width} outputs"))
