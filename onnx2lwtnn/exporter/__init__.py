"""lwtnn -> ONNX: any lwtnn document as an ONNX model computing what lwtnn computes.

``export(NET.json)`` builds the model in float64 (lwtnn computes in double) or, with
``float32=True``, in float32; it passes ``onnx.checker`` with full shape inference.
A variable's ``default`` replaces a NaN input in the graph itself, as ``run`` (and
lwtnn's NanReplacer) does, so the model and ``run`` agree on events with missing
values; ``target="rivet"`` makes what Rivet's ONNX interface reads (``rivet``).
The inputs and outputs are named after lwtnn's nodes (see ``network``); the variable
names, defaults and output labels are kept as model metadata (``lwtnn.inputs``,
``lwtnn.input_sequences``, ``lwtnn.outputs``: JSON). Layers ONNX cannot express
exactly are refused, every one named, and nothing is written.

This package reads lwtnn documents through ``onnx2lwtnn.lwtnn`` (validation, weight
layouts); ``onnx2lwtnn.lwtnn`` never imports it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Optional, Union

import numpy as np
import onnx
from onnx import helper

from .. import __version__, files
from ..errors import Onnx2LwtnnError, UsageError
from ..lwtnn_file import read_lwtnn
from ..runner import REPLACE
from .builder import Boundary, Builder
from .network import LayerError, Port, build
from .rivet import RIVET, check_rivet, rivet_metadata

TARGETS = (None, RIVET)

OPSET = 21
IR_VERSION = 10
PathLike = Union[str, "os.PathLike[str]"]


class ExportError(Onnx2LwtnnError):
    """An lwtnn document with layers ONNX cannot express exactly; names each one."""

    def __init__(self, where: str, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"{where}: cannot export to ONNX: {len(problems)} layer(s) ONNX cannot "
                 "express exactly:"]
        lines += [f"  {layer}: {reason}" for layer, reason in problems]
        super().__init__("\n".join(lines))


def export(network: Union[PathLike, dict], output: Optional[PathLike] = None, *,
           float32: bool = False, replace: str = "nan",
           target: Optional[str] = None) -> onnx.ModelProto:
    """The ONNX model of an lwtnn document (a path or a parsed dict); written to
    ``output`` if given. ``replace``: the values a variable's default replaces in the
    graph, as ``run`` and lwtnn's NanReplacer do ("nan", or "all": also +-inf);
    ``target="rivet"``: what Rivet's ONNX interface reads (``rivet``). Raises
    ``ExportError`` naming every layer ONNX cannot express, ``ModelLoadError`` for an
    invalid document, ``UsageError`` for options that do not fit it, ``FileError`` for
    unreadable files."""
    where = "the lwtnn document" if isinstance(network, dict) else files.clean(network)
    if replace not in REPLACE:
        raise UsageError(f"unknown replace mode {files.quote(replace)}; use one of "
                         f"{', '.join(REPLACE)}")
    if target not in TARGETS:
        raise UsageError(f"unknown target {files.quote(str(target))}; use one of "
                         f"{', '.join(t for t in TARGETS if t)}")
    if output is not None:
        files.check_output(output, [] if isinstance(network, dict) else [network])
    doc = read_lwtnn(network)
    if target == RIVET:
        check_rivet(doc, where)
    boundary = Boundary(replace, np.float32 if target == RIVET else None)
    builder = Builder(np.float32 if float32 else np.float64, boundary=boundary)
    try:
        exported = build(doc, builder)
    except LayerError as exc:
        raise ExportError(where, exc.problems) from None
    model = _model(exported.builder, exported.inputs, exported.outputs)
    if target == RIVET:
        helper.set_model_props(model, {**_metadata(exported.inputs, exported.outputs),
                                       **rivet_metadata(exported.inputs, exported.outputs)})
    onnx.checker.check_model(model, full_check=True)
    if output is not None:
        files.write_bytes(output, model.SerializeToString(),
                          [] if isinstance(network, dict) else [network])
    return model


def _model(b: Builder, inputs: list[Port], outputs: list[Port]) -> onnx.ModelProto:
    io_type = (b.elem_type if b.boundary.io_type is None
               else helper.np_dtype_to_tensor_dtype(np.dtype(b.boundary.io_type)))
    graph = helper.make_graph(
        b.nodes, "lwtnn",
        [helper.make_tensor_value_info(p.name, io_type, ["N", f"T_{p.name}", len(p.columns)]
                                       if p.sequence else ["N", len(p.columns)])
         for p in inputs],
        [helper.make_tensor_value_info(p.name, io_type, ["N", len(p.columns)])
         for p in outputs],
        initializer=b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="onnx2lwtnn export", producer_version=__version__)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, _metadata(inputs, outputs))
    return model


def _metadata(inputs: list[Port], outputs: list[Port]) -> dict[str, str]:
    """lwtnn's names for the columns of every input and output, and the defaults."""
    def variables(port: Port) -> list[dict[str, Any]]:
        return [{"name": c, **({"default": port.defaults[c]} if c in port.defaults else {})}
                for c in port.columns]
    return {
        "lwtnn.inputs": json.dumps({p.name: variables(p) for p in inputs if not p.sequence}),
        "lwtnn.input_sequences": json.dumps({p.name: variables(p) for p in inputs
                                             if p.sequence}),
        "lwtnn.outputs": json.dumps({p.name: p.columns for p in outputs}),
    }


__all__ = ["export", "ExportError", "OPSET", "TARGETS"]
