"""Rewrite each output's vector graph as a chain, so that lwtnn computes every value once.

lwtnn evaluates recursively and caches nothing (see ``cost``): a value read twice is
computed twice, with everything under it. Here every layer of an output's vector graph
becomes one *stage* of a chain; a stage reads the stage before it (and the graph inputs,
which are free to read) and passes on, exactly, every value that a later stage still
needs:

- a value is a linear expression over *atoms* (elements of emitted nodes): ``add``,
  ``concatenate`` and feature selections are folded into the matrix of the stage that
  reads them, and a ``linear`` layer is folded into the rows of the values made from it;
- through a ``rectified`` stage a value passes as the pair relu(v), relu(-v) (one row if
  it is known non-negative), read back with [W, -W];
- through any other element-wise activation, a linear stage computes all rows and a
  ``highway`` layer applies the activation: its gate weights are 0 and its gate biases
  +-``GATE_BIAS``, beyond lwtnn's sigmoid clamp, so each gate is exactly 1 or 0 and a
  carried row passes unchanged (a ``normalization`` layer is handled the same way, its
  carried rows scaled by 1).

Every new weight is an original weight times an exact power of two (usually +-1), or a
sum checked to be exact, so the chain differs from the original only by float64
rounding of regrouped sums. Per output, ``cost`` decides: the literal graph, or the chain
with shared input-only subgraphs either carried or recomputed, whichever costs least.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import networkx as nx
import numpy as np

from . import emit
from .cost import Cost, graph_costs, layer_multiply_adds
from .ir import IRGraph, Port
from .passes.drop_dead import drop_unreachable

GATE_BIAS = 50.0  # nn_sigmoid returns exactly 0 below -30 and exactly 1 above +30
REGION = ("Dense", "Normalization", "Concatenate", "VectorSum")
MERGES = ("Concatenate", "VectorSum")
NON_NEGATIVE = frozenset({"rectified", "sigmoid", "softmax", "hard_sigmoid", "abs"})
ELEMENTWISE = frozenset({"tanh", "sigmoid", "hard_sigmoid", "abs", "elu", "leakyrelu",
                         "swish", "rectified", "linear"})
CONST = ("", 0)  # the atom whose coefficient is a bias

Atom = tuple[str, int]
Expr = dict[Atom, float]


class _Inexact(Exception):
    """A rewrite would round a weight: this output keeps its literal graph."""


def carry_shared_values(ir: IRGraph, *, free_inputs: bool = True) -> None:
    """Give each output that lwtnn would recompute values for its cheapest exact form.

    ``free_inputs=False`` carries the graph inputs too, so that a single-input network
    becomes one chain (the sequential format needs that).
    """
    for output in ir.outputs:
        source = ir.operand(output, 0)
        if ir.op(source.node) not in REGION or emit.is_sequence(ir, source.node):
            continue
        if not _recomputes(ir, source.node, free_inputs):
            continue
        _choose(ir, output, free_inputs)
    drop_unreachable.run(ir)  # what the literal graph computed and no output reads now


def _remove(ir: IRGraph, nodes: list[str]) -> None:
    for node in nodes:
        ir.remove(node)


def _recomputes(ir: IRGraph, node: str, free_inputs: bool = True) -> bool:
    """Whether evaluating ``node`` uncached reaches some node twice (inputs count only
    when they are not free to read)."""
    paths = {node: 1}
    for current in reversed(ir.nodes()):
        if current not in paths:
            continue
        for pred, _ in _operand_edges(ir, current):
            paths[pred] = paths.get(pred, 0) + paths[current]
    return any(count > 1 and not (free_inputs and ir.op(n) == "Input")
               for n, count in paths.items())


def _operand_edges(ir: IRGraph, node: str) -> list[tuple[str, int]]:
    return [(src, key) for src, _, key in ir.g.in_edges(node, keys=True)]


def _choose(ir: IRGraph, output: str, free_inputs: bool) -> None:
    """Try the chain, then each shared input-only subgraph recomputed instead of carried;
    keep the cheapest (the literal graph unless the chain is cheaper, or the chain is
    required)."""
    literal = ir.operand(output, 0)
    best_cost = _uncached_cost(ir, literal.node) if free_inputs else None
    best: Optional[_Built] = None
    recomputed: set[str] = set()
    candidates = _recompute_candidates(ir, literal.node) if free_inputs else []
    trials = [frozenset()] + [frozenset({c}) for c in candidates]
    for trial in trials:
        built = _build(ir, literal.node, recomputed | trial, free_inputs)
        if built is None:
            continue
        cost = _uncached_cost(ir, built.port.node)
        if best_cost is None or _cheaper(cost, best_cost):
            if best is not None:
                _remove(ir, best.created)
            best, best_cost, recomputed = built, cost, recomputed | trial
        else:
            _remove(ir, built.created)
    if best is not None:
        ir.connect(best.port, output, 0)


def _cheaper(a: Cost, b: Cost) -> bool:
    return (a.multiply_adds, a.node_evaluations) < (b.multiply_adds, b.node_evaluations)


def _recompute_candidates(ir: IRGraph, root: str) -> list[str]:
    """Shared layers whose own subgraph reads only inputs and shares nothing."""
    region = _region(ir, root, set())
    shared = [n for n in ir.nodes("Dense", "Normalization") if n in region
              and len(ir.consumers(Port(n))) > 1]
    return [n for n in shared
            if all(ir.op(a) == "Input" or (a in region and len(ir.consumers(Port(a))) == 1)
                   for a in nx.ancestors(ir.g, n))]


def _region(ir: IRGraph, root: str, recomputed: set[str]) -> set[str]:
    """The vector layers and merges under ``root``, through which values are carried
    (a recomputed node is read as it is, so its subgraph is not)."""
    region, stack = set(), [root]
    while stack:
        node = stack.pop()
        if (node in region or node in recomputed or ir.op(node) not in REGION
                or emit.is_sequence(ir, node)):
            continue
        region.add(node)
        stack.extend(pred for pred, _ in _operand_edges(ir, node))
    return region


def _uncached_cost(ir: IRGraph, root: str) -> Cost:
    """What lwtnn's recursive evaluation of ``root`` costs, as ``cost`` counts it."""
    under = nx.ancestors(ir.g, root) | {root}
    order = [n for n in ir.nodes() if n in under]
    index = {n: i for i, n in enumerate(order)}
    nodes, layer_costs = [], []
    for node in order:
        entry = {"type": "input" if ir.op(node) in ("Input", "Const") else "node",
                 "sources": [index[p.node] for p in ir.inputs_of(node) if p is not None]}
        if ir.op(node) in emit.LAYER_KINDS:
            entry["type"], entry["layer_index"] = "feed_forward", len(layer_costs)
            layer_costs.append(layer_multiply_adds(emit.layer_json(ir, node)))
        nodes.append(entry)
    return graph_costs(nodes, layer_costs)[index[root]]


# ------------------------------------------------------------------ building a chain

@dataclass
class _Built:
    port: Port
    created: list[str] = field(default_factory=list)


def _build(ir: IRGraph, root: str, recomputed: set[str], free_inputs: bool
           ) -> Optional[_Built]:
    chain = _Chain(ir, root, recomputed, free_inputs)
    try:
        return chain.build()
    except _Inexact:
        _remove(ir, chain.created)
        return None


class _Chain:
    """One output's stages, emitted into the IR as they are scheduled."""

    def __init__(self, ir: IRGraph, root: str, recomputed: set[str], free_inputs: bool):
        self.ir, self.root = ir, root
        self.region = _region(ir, root, recomputed)
        self.free = {n for n in nx.ancestors(ir.g, root) | {root}
                     if n in recomputed or (free_inputs and ir.op(n) == "Input")}
        self.uses = {n: 0 for n in ir.nodes() if n in self.region}  # ordered: rows are
        for node in self.region:
            for pred, _ in _operand_edges(ir, node):
                self.uses[pred] = self.uses.get(pred, 0) + 1
        self.uses[root] += 1  # the output reads it
        self.values: dict[str, list[Expr]] = {}
        self.non_negative: set[Atom] = set()
        self.previous: Optional[str] = None  # the last stage emitted
        self.created: list[str] = []
        self.leading = tuple((ir.shape(Port(root)) or (None, None))[:-1])  # batch, if any

    # -- order ------------------------------------------------------------------------
    def stages(self) -> list[str]:
        """Layers in an order that computes the deepest operand first, so that shallow
        side values are made late and carried over few stages."""
        depth: dict[str, int] = {}
        for node in self.ir.nodes():
            preds = [p for p, _ in _operand_edges(self.ir, node) if p in self.region]
            depth[node] = max((depth[p] for p in preds), default=0) + (
                self.ir.op(node) in ("Dense", "Normalization"))
        order: list[str] = []
        seen: set[str] = set()
        stack = [(self.root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in seen or node not in self.region:
                continue
            seen.add(node)
            stack.append((node, True))
            operands = [p.node for p in self.ir.inputs_of(node)]
            for pred in sorted(operands, key=lambda p: depth.get(p, 0)):
                stack.append((pred, False))  # popped deepest first
        return [n for n in order if self.ir.op(n) in ("Dense", "Normalization")]

    # -- values -----------------------------------------------------------------------
    def value(self, node: str) -> list[Expr]:
        """The expression of a formed value; a leaf is its own atoms."""
        if node not in self.values:
            width = emit.width(self.ir, node)
            self.values[node] = [{(node, i): 1.0} for i in range(width)]
        return self.values[node]

    def settle(self) -> None:
        """Form every merge whose operands are all formed (folded, never emitted)."""
        changed = True
        while changed:
            changed = False
            for node in self.uses:
                if node not in self.region or node in self.values \
                        or self.ir.op(node) not in MERGES:
                    continue
                operands = [p.node for p in self.ir.inputs_of(node)]
                if not all(self._formed(p) for p in operands):
                    continue
                parts = [self.value(p) for p in operands]
                if self.ir.op(node) == "Concatenate":
                    self.values[node] = [e for part in parts for e in part]
                else:
                    self.values[node] = [_sum(column) for column in zip(*parts)]
                for p in operands:
                    self.uses[p] -= 1
                changed = True

    def _formed(self, node: str) -> bool:
        return node in self.values or node not in self.region

    def needed(self) -> list[str]:
        """Formed values that something not yet formed still reads."""
        return [n for n, count in self.uses.items() if count > 0 and self._formed(n)]

    # -- stages -----------------------------------------------------------------------
    def build(self) -> _Built:
        for layer in self.stages():
            operand = self.ir.operand(layer, 0).node
            x = self.value(operand)
            self.uses[operand] -= 1
            self.stage(layer, x)
            self.settle()
        result = self.value(self.root)
        node = _whole_node(result)
        if node is None:
            node = self.emit_rows(result, "linear", f"{self.root}:output")
        return _Built(Port(node), self.created)

    def stage(self, layer: str, x: list[Expr]) -> None:
        attrs = self.ir.attrs(layer)
        if self.ir.op(layer) == "Normalization":
            activation = "linear"
            pre = [_scale(e, 1.0) for e in x]
        else:
            activation = attrs["activation"]
            pre = _affine(attrs["weights"], attrs["bias"], x)
        kind = _function(activation)
        if kind == "linear" and self.ir.op(layer) == "Dense":
            self.values[layer] = pre  # folded into the rows of what is made from it
            self.settle()
            self.emit_carried(self.needed(), _nodes(pre), layer)
            return
        carried = self.carried_parts(self.needed(), _nodes(pre))
        if not carried and self.keeps_layer(x):
            node = self.add_layer(layer, _whole_node(x))
        else:
            node = self.emit_stage(layer, pre, carried, activation)
        self.values[layer] = [{(node, i): 1.0} for i in range(len(pre))]
        if kind in NON_NEGATIVE:
            self.non_negative |= {(node, i) for i in range(len(pre))}

    def carriable(self, atom: Atom, reading: set[str]) -> bool:
        return atom == CONST or (atom[0] not in self.free and
                                 (atom[0] == self.previous or atom[0] in reading))

    def carried_parts(self, needed: list[str], reading: set[str]
                      ) -> list[tuple[str, int, Expr]]:
        """(value, element, expression) for each needed element the stage must pass on:
        those reading the chain or a leaf read now, and those a linear stage left as a
        weighted sum (which must be computed now, not multiplied by the next weights)."""
        parts = []
        for node in needed:
            for j, expr in enumerate(self.value(node)):
                if any(self.carriable(a, reading) or c not in (1.0, -1.0)
                       for a, c in expr.items()):
                    parts.append((node, j, expr))
        return parts

    def emit_carried(self, needed: list[str], reading: set[str], layer: str) -> None:
        """A linear stage: one row per needed element (its own rows folded in)."""
        parts = self.carried_parts(needed, reading)
        rows, index = [], {}
        for _, _, expr in parts:
            index.setdefault(_key(expr), len(rows))
            if index[_key(expr)] == len(rows):
                rows.append(expr)
        if not rows:
            return
        node = self.emit_rows(rows, "linear", layer)
        for value, j, expr in parts:
            self.values[value][j] = {(node, index[_key(expr)]): 1.0}

    def emit_stage(self, layer: str, pre: list[Expr], carried: list[tuple[str, int, Expr]],
                   activation) -> str:
        kind = _function(activation)
        if carried and kind not in ELEMENTWISE:
            raise _Inexact(f"{kind} is not element-wise: values cannot pass it")
        rows = list(pre)
        where: dict[frozenset, tuple[int, Optional[int]]] = {}
        for _, _, expr in carried:
            key = _key(expr)
            if key in where:
                continue
            if kind == "rectified" and not self.is_non_negative(expr):
                where[key] = (len(rows), len(rows) + 1)
                rows += [expr, _scale(expr, -1.0)]
            else:
                where[key] = (len(rows), None)
                rows.append(expr)
        n_main = len(pre)
        if self.ir.op(layer) == "Dense" and (kind == "rectified" or not carried):
            node = self.emit_rows(rows, activation, layer)
        else:
            node = self.emit_rows(rows, "linear", layer)
            if self.ir.op(layer) == "Normalization":
                node = self.add_elementwise(layer, node, n_main, len(rows))
            else:
                node = self.add_highway(layer, node, activation, n_main, len(rows))
        for value, j, expr in carried:
            plus, minus = where[_key(expr)]
            self.values[value][j] = ({(node, plus): 1.0} if minus is None
                                     else {(node, plus): 1.0, (node, minus): -1.0})
            if kind == "rectified":
                self.non_negative.add((node, plus))
                if minus is not None:
                    self.non_negative.add((node, minus))
        return node

    def is_non_negative(self, expr: Expr) -> bool:
        return all(a in self.non_negative and c > 0 for a, c in expr.items())

    def keeps_layer(self, x: list[Expr]) -> bool:
        """Whether the layer reads exactly one emitted node, whole and in order, so that
        it can be written as it is."""
        return _whole_node(x) is not None

    # -- emitting ---------------------------------------------------------------------
    def emit_rows(self, rows: list[Expr], activation, layer: str) -> str:
        """A dense stage computing ``activation(rows)`` from the atoms they read."""
        parts = []
        for expr in rows:
            for atom in expr:
                if atom != CONST and atom[0] not in parts:
                    parts.append(atom[0])
        if self.previous in parts:  # the chain first, then what is read beside it
            parts.remove(self.previous)
            parts.insert(0, self.previous)
        offsets, width = {}, 0
        for part in parts:
            offsets[part] = width
            width += emit.width(self.ir, part)
        weights = np.zeros((len(rows), width))
        bias = np.zeros(len(rows))
        for r, expr in enumerate(rows):
            for atom, coefficient in expr.items():
                if atom == CONST:
                    bias[r] = coefficient
                else:
                    weights[r, offsets[atom[0]] + atom[1]] = coefficient
        source = parts[0] if len(parts) == 1 else self.add_node(
            "Concatenate", [Port(p) for p in parts], width, f"{layer}:reads", {})
        node = self.add_node("Dense", [Port(source)], len(rows), f"{layer}:carries",
                             {"weights": weights, "bias": bias, "activation": activation})
        self.previous = node
        return node

    def add_highway(self, layer: str, source: str, activation, n_main: int, n: int) -> str:
        gate = np.where(np.arange(n) < n_main, GATE_BIAS, -GATE_BIAS)
        node = self.add_node("Highway", [Port(source)], n, f"{layer}:activates",
                             {"t_weights": np.eye(n), "t_bias": np.zeros(n),
                              "carry_weights": np.zeros((n, n)), "carry_bias": gate,
                              "activation": activation})
        self.previous = node
        return node

    def add_elementwise(self, layer: str, source: str, n_main: int, n: int) -> str:
        attrs = self.ir.attrs(layer)
        weights = np.concatenate([np.asarray(attrs["weights"], float), np.ones(n - n_main)])
        bias = np.concatenate([np.asarray(attrs["bias"], float), np.zeros(n - n_main)])
        node = self.add_node("Normalization", [Port(source)], n, f"{layer}:scales",
                             {"weights": weights, "bias": bias})
        self.previous = node
        return node

    def add_layer(self, layer: str, source: str) -> str:
        """The layer as it is, reading ``source``."""
        node = self.add_node(self.ir.op(layer), [Port(source)], emit.width(self.ir, layer),
                             self.ir[layer]["label"], dict(self.ir.attrs(layer)))
        self.previous = node
        return node

    def add_node(self, op: str, operands: list[Port], width: int, label: str,
                 attrs: dict) -> str:
        node = self.ir.add(op, operands, attrs=attrs, shapes=[self.leading + (width,)],
                           label=label)
        self.created.append(node)
        return node


# ------------------------------------------------------------------ exact arithmetic

def _function(activation) -> str:
    return activation if isinstance(activation, str) else activation["function"]


def _nodes(exprs: list[Expr]) -> set[str]:
    return {a[0] for e in exprs for a in e if a != CONST}


def _key(expr: Expr) -> frozenset:
    """What identifies an expression (node ids need not compare: a damaged file's names
    may not even be text)."""
    return frozenset(expr.items())


def _whole_node(exprs: list[Expr]) -> Optional[str]:
    """The node whose every element, in order, the expressions are; None otherwise."""
    nodes = {a[0] for e in exprs for a in e}
    if len(nodes) != 1:
        return None
    node = nodes.pop()
    if node == CONST[0]:
        return None
    whole = all(e == {(node, i): 1.0} for i, e in enumerate(exprs))
    return node if whole else None


def _sum(exprs) -> Expr:
    total: Expr = {}
    for expr in exprs:
        for atom, coefficient in expr.items():
            total[atom] = _exact_sum(total[atom], coefficient) if atom in total else coefficient
    return {a: c for a, c in total.items() if c != 0.0}


def _exact_sum(a: float, b: float) -> float:
    if Fraction(a) + Fraction(b) != Fraction(a + b):
        raise _Inexact("a regrouped weight would round")
    return a + b


def _scale(expr: Expr, factor: float) -> Expr:
    return {a: c * factor for a, c in expr.items()}


def _exact_product(w: float, c: float) -> float:
    if c in (1.0, -1.0) or math.frexp(c)[0] in (0.5, -0.5):
        return w * c
    if Fraction(w) * Fraction(c) != Fraction(w * c):
        raise _Inexact("a scaled weight would round")
    return w * c


def _affine(weights, bias, x: list[Expr]) -> list[Expr]:
    """The rows of ``W x + b`` over the atoms of ``x`` (an activation-only layer: ``x``)."""
    weights = np.asarray(weights, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if weights.size == 0:
        rows = [dict(e) for e in x]
    else:
        rows = []
        for w_row in weights:
            terms = [{a: _exact_product(float(w), c) for a, c in e.items()}
                     for w, e in zip(w_row, x) if w != 0.0]
            rows.append(_sum(terms))
    for r, b in enumerate(bias if bias.size else ()):
        if b != 0.0:
            rows[r] = _sum([rows[r], {CONST: float(b)}])
    return rows
