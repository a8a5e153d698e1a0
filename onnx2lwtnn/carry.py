"""Rewrite each output's vector graph as a chain, so that lwtnn computes every value once.

lwtnn evaluates recursively and caches nothing (see ``cost``): a value read twice is
computed twice, with everything under it. Here every layer of an output's vector graph
becomes one *stage* of a chain; a stage reads the stage before it (and the graph inputs,
where reading them again is cheaper than carrying them) and passes on, exactly, every
value that a later stage still needs:

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
rounding of regrouped sums.

Per output, ``cost``'s estimate of lwtnn's time decides between the literal graph and
chains built with different choices, whichever costs least (of forms the estimate cannot
tell apart, the one with fewest multiply-adds):

- whether the chain reads the graph inputs wherever they are needed (lwtnn looks every
  variable of an input up again at each read) or reads them once and carries them;
- whether a linear layer is formed as soon as what it reads is (so a narrow projection
  of a wide input, a feature selection say, is carried instead of the input) or only
  when its turn in the chain comes (a widening one is better carried late);
- which shared subgraphs that read only inputs are recomputed where needed instead of
  carried.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import networkx as nx
import numpy as np

from . import emit
from .cost import Cost, graph_costs
from .ir import IRGraph, Port
from .passes.drop_dead import drop_unreachable

GATE_BIAS = 50.0  # nn_sigmoid returns exactly 0 below -30 and exactly 1 above +30
# the estimate's median error against lwtnn's C++ (benchmarks/README.md): layouts whose
# estimates are closer than this are not told apart by it
ESTIMATE_RESOLUTION = 0.03
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
    """Give each output that lwtnn would recompute values (or re-read inputs) for its
    cheapest exact form.

    ``free_inputs=False`` always carries the graph inputs, so that a single-input network
    becomes one chain (the sequential format needs that).
    """
    for output in ir.outputs:
        source = ir.operand(output, 0)
        if ir.op(source.node) not in REGION or emit.is_sequence(ir, source.node):
            continue
        if not _recomputes(ir, source.node):
            continue
        _choose(ir, output, free_inputs)
    drop_unreachable.run(ir)  # what the literal graph computed and no output reads now


def _remove(ir: IRGraph, nodes: list[str]) -> None:
    for node in nodes:
        ir.remove(node)


def _recomputes(ir: IRGraph, node: str) -> bool:
    """Whether evaluating ``node`` uncached reaches some node (an input too) twice."""
    paths = {node: 1}
    for current in reversed(ir.nodes()):
        if current not in paths:
            continue
        for pred, _ in _operand_edges(ir, current):
            paths[pred] = paths.get(pred, 0) + paths[current]
    return any(count > 1 for count in paths.values())


def _operand_edges(ir: IRGraph, node: str) -> list[tuple[str, int]]:
    return [(src, key) for src, _, key in ir.g.in_edges(node, keys=True)]


@dataclass(frozen=True)
class _Options:
    """How one chain is built (see the module's docstring)."""

    read_inputs_from: int  # the stage from which inputs are read, not carried (0: all)
    early_linear: bool
    recomputed: frozenset = frozenset()


def _choose(ir: IRGraph, output: str, free_inputs: bool) -> None:
    """Cost the chain built each way; write the cheapest (the literal graph unless a
    chain is cheaper, or a chain is required)."""
    literal = ir.operand(output, 0).node
    costs: dict[Optional[_Options], Optional[Cost]] = {}  # None: the literal graph

    def estimate(options: _Options) -> float:
        if options not in costs:
            costs[options] = _trial_cost(ir, literal, options)
        cost = costs[options]
        return math.inf if cost is None else cost.estimate

    candidates = _recompute_candidates(ir, literal) if free_inputs else []
    region = _region(ir, literal, set())
    stages = _Chain(ir, literal, _Options(0, False)).stages()
    # the stage from which the inputs are read instead of carried: a sequential chain
    # reads them once; after the last stage that reads them, it is all one
    low = 0 if free_inputs else len(stages)
    high = max([low] + [i + 1 for i, layer in enumerate(stages)
                        if any(ir.op(n) == "Input" for n in _read_by(ir, layer, region))])
    projects = any(_projects_leaf(ir, node, region) for node in region)
    for early_linear in (False, True) if projects else (False,):
        read_from = _minimum(lambda r: estimate(_Options(r, early_linear)), low, high)
        recomputed: frozenset = frozenset()
        for candidate in candidates:  # each kept where recomputing it is cheaper
            trial = _Options(read_from, early_linear, recomputed | {candidate})
            if estimate(trial) < estimate(_Options(read_from, early_linear, recomputed)):
                recomputed = trial.recomputed
    if free_inputs:
        costs[None] = _uncached_cost(ir, literal)
    choice = _cheapest(costs)
    if choice is not None:
        built = _build(ir, literal, choice)  # built once already: it is exact
        ir.connect(built.port, output, 0)  # type: ignore[union-attr]


def _trial_cost(ir: IRGraph, root: str, options: _Options) -> Optional[Cost]:
    """What the chain built this way costs (None: it cannot be built exactly); the chain
    itself is removed again."""
    built = _build(ir, root, options)
    if built is None:
        return None
    cost = _uncached_cost(ir, built.port.node)
    _remove(ir, built.created)
    return cost


def _cheapest(costs: dict[Optional[_Options], Optional[Cost]]) -> Optional[_Options]:
    """The least estimate; but among forms within ESTIMATE_RESOLUTION of it, which the
    estimate cannot tell apart, the fewest multiply-adds (what every machine pays)."""
    built = {options: cost for options, cost in costs.items() if cost is not None}
    if not built:
        return None
    least = min(cost.estimate for cost in built.values())
    close = [options for options, cost in built.items()
             if cost.estimate <= least * (1 + ESTIMATE_RESOLUTION)]
    return min(close, key=lambda o: (built[o].multiply_adds, built[o].estimate,
                                     built[o].node_evaluations))


def _linear(ir: IRGraph, node: str) -> bool:
    return ir.op(node) == "Dense" and _function(ir.attrs(node)["activation"]) == "linear"


def _projects_leaf(ir: IRGraph, node: str, region: set[str]) -> bool:
    """A linear layer reading a leaf of the region (an input, say): it can be formed
    with the leaf, before any stage."""
    return node in region and _linear(ir, node) and ir.operand(node, 0).node not in region


def _read_by(ir: IRGraph, layer: str, region: set[str], through_linear: bool = True
             ) -> set[str]:
    """What a stage's matrix may read: its operand and, through the merges (and linear
    layers) that fold into it, what they read."""
    read, stack = set(), [ir.operand(layer, 0).node]
    while stack:
        node = stack.pop()
        if node in read:
            continue
        read.add(node)
        if node in region and (ir.op(node) in MERGES or (through_linear and _linear(ir, node))):
            stack.extend(p.node for p in ir.inputs_of(node))
    return read


def _minimum(f, low: int, high: int) -> int:
    """Where ``f`` is least on low..high, f taken as unimodal (a ternary search, each
    point evaluated once: a few builds where trying every point would take one per
    stage)."""
    seen: dict[int, float] = {}

    def at(x: int) -> float:
        if x not in seen:
            seen[x] = f(x)
        return seen[x]

    while high - low > 2:
        third = (high - low) // 3
        if at(low + third) <= at(high - third):
            high = high - third
        else:
            low = low + third
    return min(range(low, high + 1), key=at)


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
    nodes, layers = [], []
    for node in order:
        entry = {"type": "node",
                 "sources": [index[p.node] for p in ir.inputs_of(node) if p is not None]}
        if ir.op(node) == "Input":
            entry.update(type="input", size=emit.width(ir, node))
        elif ir.op(node) == "Const":
            entry.update(type="input", size=0)
        elif ir.op(node) in emit.LAYER_KINDS:
            entry["type"], entry["layer_index"] = "feed_forward", len(layers)
            layers.append(emit.layer_json(ir, node))
        elif ir.op(node) == "Concatenate":
            entry["type"] = "concatenate"
        nodes.append(entry)
    return graph_costs(nodes, layers)[index[root]]


# ------------------------------------------------------------------ building a chain

@dataclass
class _Built:
    port: Port
    created: list[str] = field(default_factory=list)


def _build(ir: IRGraph, root: str, options: _Options) -> Optional[_Built]:
    chain = _Chain(ir, root, options)
    try:
        return chain.build()
    except _Inexact:
        _remove(ir, chain.created)
        return None


class _Chain:
    """One output's stages, emitted into the IR as they are scheduled."""

    def __init__(self, ir: IRGraph, root: str, options: _Options):
        self.ir, self.root = ir, root
        self.early_linear = options.early_linear
        self.region = _region(ir, root, options.recomputed)
        self.read_inputs_from = options.read_inputs_from
        self.free = {n for n in nx.ancestors(ir.g, root) | {root} if n in options.recomputed}
        self.uses = {n: 0 for n in ir.nodes() if n in self.region}  # ordered: rows are
        for node in self.region:
            for pred, _ in _operand_edges(ir, node):
                self.uses[pred] = self.uses.get(pred, 0) + 1
        self.uses[root] += 1  # the output reads it
        self.unformed = [n for n in self.uses if n in self.region
                         and (ir.op(n) in MERGES or self._early(n))]  # folded when formed
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
        """Form every merge whose operands are all formed (folded, never emitted), and
        with ``early_linear`` every linear layer reading a leaf likewise (in topological
        order, so one pass forms what forming another allows)."""
        for node in list(self.unformed):
            operands = [p.node for p in self.ir.inputs_of(node)]
            if not all(self._formed(p) for p in operands):
                continue
            parts = [self.value(p) for p in operands]
            if self.ir.op(node) == "Concatenate":
                self.values[node] = [e for part in parts for e in part]
            elif self.ir.op(node) == "Dense":
                attrs = self.ir.attrs(node)
                self.values[node] = _affine(attrs["weights"], attrs["bias"], parts[0])
            else:
                self.values[node] = [_sum(column) for column in zip(*parts)]
            for p in operands:
                self.uses[p] -= 1
            self.unformed.remove(node)

    def _early(self, node: str) -> bool:
        """A linear layer formed with the leaf it reads (a projection of an input)."""
        return self.early_linear and _projects_leaf(self.ir, node, self.region)

    def _formed(self, node: str) -> bool:
        return node in self.values or node not in self.region

    def needed(self) -> list[str]:
        """Formed values that something not yet formed still reads."""
        return [n for n, count in self.uses.items() if count > 0 and self._formed(n)]

    # -- stages -----------------------------------------------------------------------
    def build(self) -> _Built:
        self.settle()  # what reads only leaves, with early_linear
        stages = [layer for layer in self.stages() if layer not in self.values]
        for index, layer in enumerate(stages):
            if index == self.read_inputs_from:
                self.read_inputs()
            operand = self.ir.operand(layer, 0).node
            x = self.value(operand)
            self.uses[operand] -= 1
            self.stage(layer, x, stages[index + 1] if index + 1 < len(stages) else None)
            self.settle()
        result = self.value(self.root)
        node = _whole_node(self.ir, result)
        if node is None:
            node = self.emit_rows(result, "linear", f"{self.root}:output")
        return _Built(Port(node), self.created)

    def read_inputs(self) -> None:
        """From here on, stages read the graph inputs themselves (their carried copies
        are no longer passed on)."""
        for node in self.ir.inputs:
            if node in self.uses:
                self.free.add(node)
                self.values.pop(node, None)

    def stage(self, layer: str, x: list[Expr], following: Optional[str]) -> None:
        """Emit (or fold) one layer; ``following`` is the next stage, if any."""
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
            if following is not None and layer in _read_by(self.ir, following, self.region,
                                                            through_linear=False):
                self.emit_carried(self.needed(), _nodes(pre), layer)
            # else the next stage computes it beside its own rows (it does not multiply it)
            return
        carried = self.carried_parts(self.needed(), _nodes(pre))
        if not carried and self.keeps_layer(x):
            node = self.add_layer(layer, _whole_node(self.ir, x))
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
        return _whole_node(self.ir, x) is not None

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


def _whole_node(ir: IRGraph, exprs: list[Expr]) -> Optional[str]:
    """The node whose every element, in order, the expressions are (all of them: not a
    part of a wider node); None otherwise."""
    nodes = {a[0] for e in exprs for a in e}
    if len(nodes) != 1:
        return None
    node = nodes.pop()
    if node == CONST[0] or emit.width(ir, node) != len(exprs):
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


def _distinct_unit_atoms(x: list[Expr]) -> bool:
    """Whether each element is one atom times +-1, no atom twice (W x is then W's own
    entries, signed: nothing to add up or round)."""
    seen = set()
    for e in x:
        if len(e) != 1:
            return False
        (atom, coefficient), = e.items()
        if coefficient not in (1.0, -1.0) or atom in seen or atom == CONST:
            return False
        seen.add(atom)
    return True


def _affine(weights, bias, x: list[Expr]) -> list[Expr]:
    """The rows of ``W x + b`` over the atoms of ``x`` (an activation-only layer: ``x``)."""
    weights = np.asarray(weights, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    if weights.size == 0:
        rows = [dict(e) for e in x]
    elif _distinct_unit_atoms(x):  # the common case, a whole node: W's own entries, exact
        atoms = [next(iter(e)) for e in x]
        signs = np.array([next(iter(e.values())) for e in x])
        rows = [{a: w for a, w in zip(atoms, row.tolist()) if w != 0.0}
                for row in weights * signs]
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
