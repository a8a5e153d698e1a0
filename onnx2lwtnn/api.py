"""The public Python API: what the CLI calls, and what users can call too."""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import networkx as nx
import numpy as np
import onnx

from . import files
from .build_ir import build_ir
from .carry import carry_shared_values
from .cost import NetworkCost, cost_line, network_cost
from .defaults import CHEAPEST, CORRECTIONLIB, FORMATS, GRAPH, LAYOUTS
from .emit import emit
from . import correctionset
from .check import Preparation, spec_preparation, verify_conversion
from .check_correctionset import Source, verify_correction_set
from .errors import (ConversionError, ConversionWarning, Diagnostic, ReferenceRunError,
                     UsageError, VerificationError)
from .fix import fix_inputs
from .interface import Interface
from .ir import IRGraph, Port
from .legalize import legalize
from .load import load_model, prepare_model
from .lwtnn import validate_network
from .merge import merge_outputs as merge_into, merged_cost
from .model_cost import ir_multiply_adds
from .pipeline import CORRECTIONLIB_PIPELINE, PIPELINE, run_pipeline
from .rounding import round_constants
from .side_by_side import fixed_columns, input_columns, side_by_side
from .specs import read_spec
from .specs.lwtnn_forms import RENAMED_FROM
from .trace import Change, Trace

CARRY_STEP = "carry.carry_shared_values"
CARRY_DOC = ("each value lwtnn would compute twice passed on along one chain of layers, "
             "exactly, where that costs less (the cheapest layout)")

ModelSource = Union[str, os.PathLike, onnx.ModelProto]


@dataclass(frozen=True)
class Conversion:
    """An lwtnn document and what its ONNX model costs per event, to compare with."""

    document: dict[str, Any]
    onnx_multiply_adds: dict[Optional[str], int]  # per output name; None: the whole model
    sources: tuple[Source, ...] = ()  # a CorrectionSet's models (one per fold), for check
    merged_cost: Optional[NetworkCost] = None  # several outputs: the cost merged into one

    @property
    def cost(self) -> NetworkCost:
        """lwtnn's cost per event (a CorrectionSet's: one network's, per correction)."""
        if "corrections" in self.document:
            from .correctionset import read
            return network_cost(read(self.document)[0].branches[0].network)
        return network_cost(self.document)

    def cost_line(self) -> str:
        return cost_line(self.cost, self.onnx_multiply_adds[None], self.merged_cost)


def convert(model: ModelSource, **options: Any) -> dict[str, Any]:
    """Convert an ONNX model (a path or a ModelProto) to an lwtnn document (a dict);
    ``conversion`` tells the options."""
    return conversion(model, **options).document


def conversion(model: ModelSource, *, format: str = GRAPH,
               variables: Union[str, os.PathLike, dict, None] = None,
               variables_convention: Optional[str] = None,
               outputs: Optional[Sequence[str]] = None,
               layout: str = CHEAPEST,
               on_change: Optional[Callable[[Change], None]] = None,
               tmva_weights: Union[str, os.PathLike, None] = None,
               fix: Optional[Mapping[str, float]] = None,
               verify: bool = True, correction_name: Optional[str] = None,
               finalizer: Optional[str] = None,
               merge_outputs: Optional[str] = None) -> Conversion:
    """Convert an ONNX model (a path or a ModelProto) to an lwtnn document.

    ``variables`` is a variable spec (a path or a parsed dict, see ``specs``) naming the
    inputs' variables and outputs' labels and giving the preprocessing the network
    expects; ``variables_convention`` states what a {variables, offset, scale} spec means.
    ``outputs`` names the graph outputs to keep (all by default): the others, and what
    only they read, are dropped (a classifier's integer label, say).
    ``tmva_weights`` is a TMVA weights file whose input transformations (and a
    regression's inverse target transformation) are folded in: the ONNX network reads
    TMVA's transformed variables, the lwtnn one the raw ones. ``fix`` freezes the named
    input variables (a parametrised network's signal hypothesis) at these raw values.
    ``merge_outputs`` names one lwtnn output holding every output's labels (prefixed by
    the output's name), so that one lwtnn call computes what the outputs share once.
    Raises ModelLoadError for an unreadable or invalid file, UsageError for a spec that
    does not fit the model, and ConversionError, listing every offending node, for a
    model lwtnn cannot express exactly. ``on_change`` hears of every change a pass makes
    to the graph (what ``-v`` prints).

    Every conversion is verified before it is returned: the document against the float64
    evaluation of the ONNX model on a few events (``check.verify_conversion``), with a
    VerificationError if they differ. Where nothing here evaluates the model in float64,
    a ConversionWarning says it was not verified. ``verify=False`` skips this (unsafe:
    for when a full ``check`` follows anyway).
    """
    if format not in FORMATS:
        raise UsageError(f"unknown format '{format}'; use one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    if format != CORRECTIONLIB and (correction_name, finalizer) != (None, None):
        raise UsageError("correction_name= and finalizer= make a CorrectionSet: they need "
                         "format='correctionlib'")
    if format == CORRECTIONLIB and merge_outputs is not None:
        raise UsageError("merge_outputs= writes one lwtnn output for the graph or "
                         "sequential format; a CorrectionSet has a correction per label")
    non_finite: list[Diagnostic] = []  # reported with the graph's other problems
    proto = (prepare_model(model, non_finite=non_finite) if isinstance(model, onnx.ModelProto)
             else load_model(model, non_finite))
    ir = _fresh_ir(proto, outputs)
    onnx_cost = ir_multiply_adds(ir)
    interface, preparation = Interface(), Preparation()
    if tmva_weights is not None and variables is not None:
        raise UsageError("tmva_weights= and variables= both give the inputs' names and "
                         "preprocessing; use one")
    if tmva_weights is not None:
        from .tmva.fold import insert_transformations
        interface, preparation = insert_transformations(ir, tmva_weights)
    if variables is not None:
        shapes = {ir.attrs(node)["name"]: ir.shape(Port(node)) or (None,)
                  for node in ir.inputs}
        interface = read_spec(variables, variables_convention,
                              {name: shape[-1] for name, shape in shapes.items()},
                              frozenset(name for name, shape in shapes.items()
                                        if len(shape) == 3))
        _apply_preprocessing(ir, interface)
        preparation = spec_preparation(interface)
    network_interface = interface
    if format == CORRECTIONLIB:
        columns = input_columns(ir, interface)
        network_interface = side_by_side(ir, interface)
    run_pipeline(ir, CORRECTIONLIB_PIPELINE if format == CORRECTIONLIB else PIPELINE,
                 observe=None if on_change is None else Trace(ir, on_change))
    if tmva_weights is not None:
        from .tmva.fold import fold_transformations
        fold_transformations(ir)
    problems = legalize(ir, non_finite, rebuild=lambda: _fresh_ir(proto, outputs))
    if problems:
        def convertible(names: list[str]) -> bool:
            fresh = _fresh_ir(proto, names)
            run_pipeline(fresh, CORRECTIONLIB_PIPELINE if format == CORRECTIONLIB else PIPELINE)
            return not non_finite and not legalize(fresh)

        raise ConversionError(problems,
                              other_outputs=_outputs_without(ir, problems, convertible))
    if fix:
        fixed = fix_inputs(ir, network_interface, fix)
        if format == CORRECTIONLIB:  # in the ONNX inputs, not the one laid side by side
            fixed = fixed_columns(columns, fix)
        preparation = _with_fixed(preparation, fixed)
    _check_labels(ir, interface)
    problems = round_constants(ir)
    if problems:
        raise ConversionError(problems, "a folded constant cannot be written as a double")
    if merge_outputs is not None:
        merge_into(ir, interface, merge_outputs)
    merged = (merged_cost(ir, interface, layout == CHEAPEST)
              if len(ir.outputs) > 1 and format == GRAPH else None)
    if layout == CHEAPEST:
        before = {node: (ir[node]["label"], ir.op(node)) for node in ir.g}
        carry_shared_values(ir, free_inputs=format == GRAPH)
        if on_change is not None:
            _report_carry(ir, before, on_change)
    if format == CORRECTIONLIB:
        document = correctionset.write(ir, network_interface, correctionset.naming(
            model, proto, correction_name, finalizer), columns)
        correctionset.validate(document)
    else:
        document = emit(ir, interface, format)
        validate_network(document)
    for message in ir.warnings:
        warnings.warn(message, ConversionWarning, stacklevel=3)
    sources = ()
    if format == CORRECTIONLIB:
        sources = (Source(proto, _subject(model), interface, preparation, outputs,
                          frozenset(fix or ())),)
        if verify:
            verify_correction_set(document, sources)
    elif verify:
        _verify(proto, document, preparation, interface, outputs, model, merge_outputs)
    return Conversion(document, onnx_cost, sources, merged)


def _subject(model: ModelSource) -> str:
    return "model" if isinstance(model, onnx.ModelProto) else str(model)


def _report_carry(ir: IRGraph, before: dict[str, tuple[str, str]],
                  on_change: Callable[[Change], None]) -> None:
    """What ``carry_shared_values`` did, as changes (-v, inspect): each node it replaced,
    with the chain's nodes made for it (a copy with its label, or nodes named after its
    id and their role, ``<id>:carries``), shown under its label; a merge it folded into
    the chain's weights has none."""
    made = [(ir[node]["label"], ir.op(node)) for node in ir.g if node not in before]
    for node, (label, op) in before.items():
        if node in ir or op == "Const":
            continue
        stages = sorted(((label if made_label == label else label + made_label[len(node):],
                          made_op) for made_label, made_op in made
                         if made_label == label or made_label.startswith(f"{node}:")),
                        key=lambda stage: stage[1] == "Concatenate")  # the layer first
        if stages != [(label, op)]:  # (a layer kept as it is, copied, did not change)
            on_change(Change(CARRY_STEP, CARRY_DOC, label, op, tuple(stages), ((label, op),)))


def _verify(proto: onnx.ModelProto, document: dict, preparation: Preparation,
            interface: Interface, outputs: Optional[Sequence[str]], model: ModelSource,
            merge_outputs: Optional[str]) -> None:
    """The document against the float64 reference before anyone writes it."""
    subject = _subject(model)
    try:
        report = verify_conversion(proto, document, preparation, interface=interface,
                                   outputs=outputs, merge_outputs=merge_outputs)
    except ReferenceRunError as exc:
        warnings.warn(f"not verified: {exc}", ConversionWarning, stacklevel=4)
        return
    if not report.passed:
        raise VerificationError(subject, report)


def _with_fixed(preparation: Preparation, fixed: dict[str, dict[int, float]]) -> Preparation:
    """The ONNX model still reads the fixed parameters: put their raw values back into
    its inputs (before any preprocessing) at their columns."""
    def inputs(name: str, values: np.ndarray) -> np.ndarray:
        for column, value in sorted(fixed.get(name, {}).items()):
            values = np.insert(values, column, value, axis=-1)
        return preparation.inputs(name, values)

    return Preparation(inputs, preparation.outputs)


def _fresh_ir(proto: onnx.ModelProto, outputs: Optional[Sequence[str]]) -> IRGraph:
    """The model's IR before any pass, with only the outputs asked for."""
    ir = build_ir(proto)
    if outputs is not None:
        _keep_outputs(ir, outputs)
    return ir


def _outputs_without(ir: IRGraph, problems: Sequence[Diagnostic],
                     convertible: Callable[[list[str]], bool]) -> list[str]:
    """The outputs that read none of the nodes with problems, when others do and they
    convert on their own (``convertible``: checked on a fresh IR), to name with
    ``outputs=``; else none."""
    labels = {problem.node for problem in problems}
    bad = {node for node in ir.g if ir[node]["label"] in labels}
    clean = [ir.attrs(output)["name"] for output in ir.outputs
             if not bad & (nx.ancestors(ir.g, output) | {output})]
    return clean if clean and len(clean) < len(ir.outputs) and convertible(clean) else []


def _keep_outputs(ir: IRGraph, names: Sequence[str]) -> None:
    """Drop every graph output not named (``drop_dead`` then removes what only they read)."""
    present = [ir.attrs(node)["name"] for node in ir.outputs]
    unknown = [name for name in names if name not in present]
    if unknown or not names:
        raise UsageError(f"no output named {', '.join(unknown) or '(none named)'}; the "
                         f"model's outputs are {', '.join(present)}")
    for node in [n for n in ir.outputs if ir.attrs(n)["name"] not in names]:
        ir.outputs.remove(node)
        ir.remove(node)


def _apply_preprocessing(ir: IRGraph, interface: Interface) -> None:
    """The spec's (x + offset) * scale becomes the inputs' starting preprocessing, which
    normalisation folded from the graph then composes with."""
    for node in ir.inputs:
        preprocessing = interface.exact_preprocessing(ir.attrs(node)["name"])
        if preprocessing is not None:
            ir.attrs(node)["offset"], ir.attrs(node)["scale"] = preprocessing


def _check_labels(ir: IRGraph, interface: Interface) -> None:
    widths = {ir.attrs(n)["name"]: ir.features(ir.operand(n, 0)) for n in ir.outputs}
    unknown = set(interface.output_labels) - set(widths)
    if unknown:
        raise UsageError(f"variable spec: unknown output(s) {', '.join(sorted(unknown))}; "
                         f"the model's outputs are {', '.join(widths)} (to rename one, add "
                         f"\"{RENAMED_FROM}\": \"<its ONNX name>\" to the spec's entry)")
    names = [interface.output_name(name) for name in widths]
    if len(set(names)) != len(names):
        raise UsageError(f"variable spec: two outputs would both be named "
                         f"{next(n for n in names if names.count(n) > 1)!r}")
    if interface.default_labels is not None and len(widths) != 1:
        raise UsageError(f"variable spec: class_labels name one output, but the model has "
                         f"{len(widths)}")
    for name, width in widths.items():
        labels = interface.labels(name, width)
        if len(labels) != width:
            raise UsageError(f"variable spec: {len(labels)} labels for output '{name}', "
                             f"which has {width} values")


def to_json(document: dict[str, Any]) -> str:
    """Serialise as lwtnn reads it: plain JSON numbers, float64 round-trip exact."""
    return json.dumps(document, allow_nan=False) + "\n"


def write_json(document: dict[str, Any], path: Union[str, os.PathLike],
               inputs: Iterable[Union[str, os.PathLike]] = ()) -> None:
    """Write atomically under the output policy of ``files``: never onto one of
    ``inputs``, never a partial file; FileError names the path when it cannot be written."""
    files.write_text(path, to_json(document), inputs)
