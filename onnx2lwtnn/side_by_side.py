"""Several vector inputs laid side by side as one: correctionlib's ``lwtnn`` node runs a
sequential network, which reads one flat list of variables.

Before the passes, the graph inputs become one ``Input`` of all their variables, in graph
input order, and each former input a ``Select`` of its columns, which the passes fold
into the layers reading it. Each input's preprocessing (from a variable spec) comes
along, exactly. A sequence input has no place in a flat list and is refused.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from .errors import ConversionError, Diagnostic, UsageError
from .exact import Exact
from .interface import Interface
from .ir import IRGraph, Port
from .passes.fold_affine import input_preprocessing

NOT_A_SEQUENCE = ("it is a sequence, and correctionlib's lwtnn node runs a sequential "
                  "network on one flat list of variables")


def side_by_side(ir: IRGraph, interface: Interface) -> Interface:
    """Make the graph's inputs one; returns the interface naming its variables. (A single
    input of rank 3 may still be a vector once the passes flatten it: ``refuse_sequences``
    says, after them.)"""
    if len(ir.inputs) < 2:
        return interface
    refuse_sequences(ir)
    names = [ir.attrs(n)["name"] for n in ir.inputs]
    widths = [ir.features(Port(n)) for n in ir.inputs]
    variables = [v for name, n in zip(names, widths) for v in interface.variables(name, n)]
    seen: set[str] = set()
    twice = next((v.name for v in variables if v.name in seen or seen.add(v.name)), None)
    if twice is not None:
        raise UsageError(f"two inputs both have a variable named '{twice}'; a CorrectionSet's "
                         "inputs are one list of names (name them apart in variables=)")
    offsets, scales = zip(*(input_preprocessing(ir, n) for n in ir.inputs))
    combined_name = ",".join(names)
    shape = ir.shape(Port(ir.inputs[0]))[:-1] + (sum(widths),)
    combined = ir.add("Input", label=combined_name, shapes=[shape],
                      attrs={"name": combined_name, "dtype": ir.attrs(ir.inputs[0])["dtype"],
                             "offset": Exact.concatenate(offsets),
                             "scale": Exact.concatenate(scales)})
    start = 0
    for node, width in zip(ir.inputs, widths):
        select = ir.add("Select", [Port(combined)], label=f"{ir[node]['label']}:columns",
                        shapes=[ir.shape(Port(node))],
                        attrs={"indices": np.arange(start, start + width)})
        ir.redirect(Port(node), Port(select))
        ir.remove(node)
        start += width
    ir.inputs = [combined]
    return dataclasses.replace(interface, input_variables={combined_name: variables},
                               sequence_variables={})


def refuse_sequences(ir: IRGraph) -> None:
    """ConversionError naming every sequence input."""
    sequences = [ir.attrs(n)["name"] for n in ir.inputs if len(ir.shape(Port(n)) or ()) == 3]
    if sequences:
        raise ConversionError([Diagnostic(name, "Input", NOT_A_SEQUENCE) for name in sequences],
                              "correctionlib cannot hold this network")


def input_columns(ir: IRGraph, interface: Interface) -> dict[str, list[str]]:
    """Each vector input's variable names, in order (before they are laid side by side)."""
    return {ir.attrs(n)["name"]: [v.name for v in interface.variables(ir.attrs(n)["name"],
                                                                        ir.features(Port(n)))]
            for n in ir.inputs if ir.features(Port(n)) is not None}


def fixed_columns(columns: Mapping[str, list[str]],
                  values: Mapping[str, float]) -> dict[str, dict[int, float]]:
    """{input: {column: value}} of the fixed variables, in the model's own inputs."""
    return {name: {i: values[v] for i, v in enumerate(names) if v in values}
            for name, names in columns.items() if any(v in values for v in names)}
