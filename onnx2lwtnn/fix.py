"""Parametrised networks: freeze inputs that are signal-hypothesis parameters (``--fix
mGluino=1900``) into the first dense layers' biases, so the lwtnn network takes only the
event variables.

A fixed variable's value goes through the input's own preprocessing first (a
parametrised network usually standardises its parameters too), then its column of every
dense layer reading the input, times that value, joins the layer's bias: all exactly,
rounded once when written.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import UsageError
from .exact import Exact, matmul
from .interface import Interface
from .ir import IRGraph, Port
from .passes.common import reads_through_matrix
from .passes.fold_affine import input_preprocessing


def fix_inputs(ir: IRGraph, interface: Interface,
               values: Mapping[str, float]) -> dict[str, dict[int, float]]:
    """Remove the named variables from their inputs, folding their values in; returns
    {input name: {column: raw value}}, what the ONNX model still reads there."""
    where = _locate(ir, interface, values)
    for node, indices in where.items():
        _fix_one_input(ir, interface, node, indices, [values[name] for name in indices.values()])
    return {ir.attrs(node)["name"]: {column: values[name] for column, name in indices.items()}
            for node, indices in where.items()}


def _locate(ir: IRGraph, interface: Interface, values: Mapping[str, float]) -> dict:
    """{input node: {index: variable name}} for every fixed variable."""
    found: dict[str, dict[int, str]] = {}
    known = []
    for node in ir.inputs:
        name, shape = ir.attrs(node)["name"], ir.shape(Port(node))
        if shape is None or len(shape) != 2:
            continue
        names = [v.name for v in interface.variables(name, shape[-1])]
        known += names
        for index, variable in enumerate(names):
            if variable in values:
                found.setdefault(node, {})[index] = variable
    unknown = [name for name in values if name not in known]
    if unknown:
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise UsageError(f"fix= names unknown parameter(s) "
                         f"{', '.join(repr(u) for u in unknown)}; the inputs' variables are "
                         f"{listed}")
    return found


def _fix_one_input(ir: IRGraph, interface: Interface, node: str, indices: dict[int, str],
                   raw: list[float]) -> None:
    name = ir.attrs(node)["name"]
    readers = ir.consumers(Port(node))
    others = [r for r, _ in readers if not reads_through_matrix(ir, r)]
    if others:
        raise UsageError(f"fix= cannot freeze input '{name}': it is also read by "
                         f"'{ir[others[0]]['label']}' "
                         f"({ir.op(others[0])}), not only by dense layers, so its "
                         f"{', '.join(indices.values())} cannot be folded into a bias")
    attrs, shape = ir.attrs(node), ir.shape(Port(node))
    transformed = [v for i, v in indices.items() if i in attrs.get("transforms", {})]
    if transformed:
        raise UsageError(f"fix= cannot freeze {', '.join(transformed)}: the graph applies a "
                         "function to it before the network (an input transform), which "
                         "the fixed value would have to go through")
    width = shape[-1]
    if len(indices) == width:
        raise UsageError(f"fix= would fix every variable of input '{name}', leaving it none; "
                         "an lwtnn input reads at least one")
    offset, scale = input_preprocessing(ir, node)
    columns = list(indices)
    value = (Exact.of(np.asarray(raw, dtype=np.float64)) + offset.take(columns, axis=0)
             ) * scale.take(columns, axis=0)
    for reader, _ in readers:
        reader_attrs = ir.attrs(reader)
        weights = Exact.of(reader_attrs["weights"])
        reader_attrs["bias"] = (Exact.of(reader_attrs["bias"])
                                + matmul(weights.take(columns, axis=1), value))
        reader_attrs["weights"] = weights.delete(columns, axis=1)
    attrs["offset"], attrs["scale"] = offset.delete(columns, axis=0), scale.delete(columns, axis=0)
    if "transforms" in attrs:  # the transformed features' places once the fixed ones are gone
        attrs["transforms"] = {i - sum(c < i for c in columns): chain
                               for i, chain in attrs["transforms"].items()}
    ir[node]["shapes"][0] = tuple(shape[:-1]) + (width - len(columns),)
    kept = [v for i, v in enumerate(interface.variables(name, width)) if i not in indices]
    interface.input_variables[name] = kept
