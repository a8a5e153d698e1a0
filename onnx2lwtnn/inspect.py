"""What is in a model or a network file, without writing anything.

For an ONNX model: producer, opsets, inputs and outputs, parameter count, an operator
histogram, the lwtnn interface a conversion gives (input nodes and variable names,
outputs and labels), lwtnn's cost per event beside the model's (``cost``) and, for every
node, what it becomes in lwtnn (following the passes' changes, see ``trace``) or why it
cannot. For an lwtnn JSON file: its interface, nodes, layers and cost. ``inspect`` returns plain data (what ``--json`` prints);
``render`` turns it into text.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from typing import Any, Optional, Union

import numpy as np
import onnx

from . import files
from .cost import cost_line, network_cost
from .defaults import CHEAPEST
from .errors import ConversionError, ConversionWarning
from .filekind import JSON, LWTNN, file_kind
from .interface import Interface
from .load import load_model, prepare_model
from .lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT
from .lwtnn.validate import document_kind
from .lwtnn_file import read_lwtnn
from .trace import Change

Report = dict[str, Any]

CARRIED = "Carried"  # a merge the cheapest layout folded into its chain's weights
# What each IR kind left at the end is, in lwtnn's terms.
LWTNN_FORMS = {
    "Dense": "dense layer", "Normalization": "normalization layer",
    "Concatenate": "concatenate node", "VectorSum": "add node",
    "Recurrent": "recurrent layer", "Conv1d": "conv1d layer", "SequenceSum": "sum node",
    "LastStep": "last step of a sequence node", "Input": "input", "Highway": "highway layer",
    CARRIED: "folded into the weights of the chain's layers (the default layout; "
             "--layout literal keeps it as a node)",
}
ELEMENT_TYPES = {value: name.lower() for name, value in onnx.TensorProto.DataType.items()}


def inspect(source: Union[str, os.PathLike, onnx.ModelProto], layout: str = CHEAPEST) -> Report:
    """Describe an ONNX model (a path or a ModelProto), as converted with ``layout``, or
    an lwtnn JSON file."""
    if isinstance(source, onnx.ModelProto):
        return inspect_model(source, layout)
    kind = file_kind(source)
    if kind == LWTNN:
        return inspect_network(source)
    if kind == JSON:
        document = files.read_json(source, "JSON file", files.NETWORK_LIMIT)
        if "corrections" in document:
            return inspect_correction_set(document, str(source))
    return inspect_model(source, layout)


def inspect_model(model: Union[str, os.PathLike, onnx.ModelProto],
                  layout: str = CHEAPEST) -> Report:
    from .api import conversion  # the converter, loaded only for ONNX models
    from .model_cost import onnx_multiply_adds

    if isinstance(model, onnx.ModelProto):
        proto, where = prepare_model(model), "<in-memory model>"
    else:
        proto, where = load_model(model), str(model)
    changes: list[Change] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        try:
            converted, problems = conversion(proto, on_change=changes.append,
                                             layout=layout), []
        except ConversionError as exc:
            converted, problems = None, exc.diagnostics
    if converted is not None:
        document = converted.document
        cost = {**converted.cost.to_json(converted.onnx_multiply_adds[None]),
                "line": converted.cost_line()}
    else:
        document, onnx_cost = None, onnx_multiply_adds(proto)[None]
        cost = {"onnx_multiply_adds": onnx_cost,
                "line": f"lwtnn cost per event: none, it does not convert (the ONNX model: "
                        f"{onnx_cost:,} multiply-adds)"}
    graph = proto.graph
    constants = {init.name for init in graph.initializer}
    return {
        "file": where,
        "kind": "onnx",
        "producer": " ".join(filter(None, (proto.producer_name, proto.producer_version))),
        "ir_version": proto.ir_version,
        "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "inputs": [_tensor(v) for v in graph.input if v.name not in constants],
        "outputs": [_tensor(v) for v in graph.output],
        "parameters": int(sum(np.prod(init.dims, dtype=np.int64) for init in graph.initializer)),
        "initializers": len(graph.initializer),
        "operators": dict(Counter(node.op_type for node in graph.node).most_common()),
        "converts": document is not None,
        "interface": (_document_interface(document) if document is not None
                      else _default_interface(proto)),
        "cost": cost,
        "nodes": _fates(proto, changes, problems),
        "refusals": [str(problem) for problem in problems],
        "warnings": [str(w.message) for w in caught if issubclass(w.category, ConversionWarning)],
    }


def inspect_network(network: Union[str, os.PathLike, dict]) -> Report:
    """Describe an lwtnn JSON document: interface, node kinds, layers."""
    where = "<in-memory network>" if isinstance(network, dict) else str(network)
    document = read_lwtnn(network)
    kind = document_kind(document)
    cost = network_cost(document)
    layers = [{"architecture": layer.get("architecture", "?"),
               "activation": _activation(layer.get("activation")),
               "parameters": _count_numbers(layer)}
              for layer in document.get("layers", [])]
    return {
        "file": where,
        "kind": f"lwtnn {kind}",
        "interface": _document_interface(document),
        "node_types": dict(Counter(n.get("type", "?") for n in document.get("nodes", []))),
        "layers": layers,
        "parameters": sum(layer["parameters"] for layer in layers),
        "cost": {**cost.to_json(), "line": cost_line(cost)},
    }


def inspect_correction_set(document: dict, where: str = "<in-memory CorrectionSet>") -> Report:
    """Describe a CorrectionSet of lwtnn networks (as ``--format correctionlib`` writes
    them): each correction's inputs, fold input, and per network its transforms, layers
    and finalizer."""
    from . import correctionset

    correctionset.validate(document, where)
    corrections = []
    for correction, data in zip(correctionset.read(document, where), document["corrections"]):
        corrections.append({
            "name": correction.name, "description": correction.description,
            "inputs": [{"name": v["name"], "type": v["type"],
                        "description": v.get("description") or ""} for v in data["inputs"]],
            "output": data["output"]["name"], "fold_input": correction.fold_input,
            "networks": [{"fold": branch.key, "transforms": branch.transforms,
                          "finalizer": {"expression": branch.finalizer["expression"],
                                        "variables": branch.finalizer["variables"]},
                          **_network_summary(branch.network)}
                         for branch in correction.branches]})
    return {"file": where, "kind": "correctionlib CorrectionSet",
            "description": document.get("description") or "", "corrections": corrections}


def _network_summary(network: dict) -> dict:
    summary = inspect_network(network)
    return {"layers": summary["layers"], "parameters": summary["parameters"],
            "outputs": list(network["outputs"]), "cost": summary["cost"]["line"]}


# -- the interface -------------------------------------------------------------------
def _document_interface(document: dict) -> dict:
    """{inputs, input_sequences: [{name, variables}], outputs: [{name, labels}]}."""
    if document_kind(document) == "sequential":
        return {"inputs": [{"name": SEQUENTIAL_INPUT,
                            "variables": [v["name"] for v in document["inputs"]]}],
                "input_sequences": [],
                "outputs": [{"name": SEQUENTIAL_OUTPUT, "labels": list(document["outputs"])}]}
    nodes = {key: [{"name": node["name"], "variables": [v["name"] for v in node["variables"]]}
                   for node in document.get(key, [])]
             for key in ("inputs", "input_sequences")}
    return {**nodes, "outputs": [{"name": name, "labels": list(output["labels"])}
                                 for name, output in document["outputs"].items()]}


def _default_interface(proto: onnx.ModelProto) -> dict:
    """The names a conversion would give, for a model that does not convert: from the
    declared shapes, by the same rule (``Interface``)."""
    names = Interface()
    constants = {init.name for init in proto.graph.initializer}
    interface: dict[str, list] = {"inputs": [], "input_sequences": [], "outputs": []}
    for value in proto.graph.input:
        if value.name in constants:
            continue
        shape = _tensor(value)["shape"]
        width = _width(shape)
        sequence = shape is not None and len(shape) == 3
        variables = ([] if width is None else
                     [v.name for v in names.variables(value.name, width, sequence)])
        interface["input_sequences" if sequence else "inputs"].append(
            {"name": value.name, "variables": variables})
    for value in proto.graph.output:
        width = _width(_tensor(value)["shape"])
        interface["outputs"].append(
            {"name": value.name, "labels": [] if width is None else names.labels(value.name, width)})
    return interface


# -- what each node becomes ----------------------------------------------------------
def _fates(proto: onnx.ModelProto, changes: list[Change], problems: list) -> list[dict]:
    """For each ONNX node (labelled as ``build_ir`` labels it): the lwtnn form it ends
    in, with the passes that took it there, or why it is refused."""
    from .api import CARRY_STEP
    state: dict[str, tuple] = {}  # label -> ("here", op) or ("gone", (label, op) or None)
    steps: dict[str, list[str]] = {}
    carried: dict[str, str] = {}  # a chain node's label ('Gemm_3:carries') -> the node's
    for change in changes:
        if change.step == CARRY_STEP:
            carried.update((label, change.node) for label, _ in change.now_read)
        for label, op in change.removed:
            if label != change.node and change.node:  # taken into the rewritten node
                state[label] = ("gone", (change.node, change.op))
            elif change.step == CARRY_STEP and not change.now_read:  # no node of its own
                state[label] = ("here", CARRIED)
            else:
                state[label] = ("gone", change.now_read[0] if change.now_read else None)
        for label, op in change.now_read:
            state[label] = ("here", op)
        for label in ({change.node} | {label for label, _ in change.removed}) - {""}:
            steps.setdefault(label, []).append(change.step)
    refused = {problem.node: problem for problem in problems}
    ends: dict[str, Optional[tuple]] = {}  # label -> where it ends, for every label walked

    def resolve(label: str, op: str) -> Optional[tuple]:
        """Follow a node's replacements to the node it ends in (label, op), or None;
        each label is walked once, so a chain of n replaced nodes costs n, not n^2."""
        walked: list[str] = []
        while label not in ends:
            where, value = state.get(label, ("here", op))
            if where == "here" or label in walked:  # (a cycle ends where it closes)
                ends[label] = (label, value if where == "here" else op)
                break
            walked.append(label)
            if value is None:
                ends[label] = None
                break
            label, op = value
        for step in walked:
            ends[step] = ends[label]
        return ends[label]

    labels = [node.name or f"{node.op_type}_{index}"
              for index, node in enumerate(proto.graph.node)]
    where = {label: resolve(label, node.op_type)
             for label, node in zip(labels, proto.graph.node)}
    where = _read_for(proto, labels, where)
    fates = []
    for label, node in zip(labels, proto.graph.node):
        fate: dict[str, Any] = {"node": label, "op": node.op_type,
                                "passes": list(dict.fromkeys(steps.get(label, [])))}
        if label in refused:
            problem = refused[label]
            fate["refused"] = problem.reason + (f" ({problem.hint})" if problem.hint else "")
        else:
            end = where[label]
            fate["becomes"] = ("nothing (nothing reads it)" if end is None else
                               _form(CARRIED) if end[1] == CARRIED else
                               "a constant, folded" if end[1] == "Const" else
                               _form(end[1]) if carried.get(end[0], end[0]) == label else
                               f"part of {_form(end[1])} '{carried.get(end[0], end[0])}'")
        fates.append(fate)
    return fates


def _read_for(proto: onnx.ModelProto, labels: list[str],
              ends: dict[str, Optional[tuple]]) -> dict[str, Optional[tuple]]:
    """``ends`` (where each node ends, None for nothing), where a node the passes
    dropped with no successor but an ONNX node reads ends as its first reader that ends
    somewhere: a view the readers now look through (the Transpose to an LSTM's
    time-major layout) or an operand a rewrite computes itself (the Sigmoid of
    x * Sigmoid(x), now a swish) is part of what its reader became; only a node nothing
    reads is nothing."""
    readers: dict[str, list[str]] = {}
    for label, node in zip(labels, proto.graph.node):
        for name in node.input:
            readers.setdefault(name, []).append(label)
    found = dict(ends)
    for label, node in reversed(list(zip(labels, proto.graph.node))):  # readers first
        if found[label] is None:  # (ONNX requires nodes in topological order)
            found[label] = next((found[reader] for name in node.output
                                 for reader in readers.get(name, []) if found[reader]), None)
    return found


def _form(op: str) -> str:
    return LWTNN_FORMS.get(op, op)


# -- small readers -------------------------------------------------------------------
def _tensor(value: onnx.ValueInfoProto) -> dict:
    tensor_type = value.type.tensor_type
    shape = None
    if tensor_type.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in tensor_type.shape.dim]
    return {"name": value.name, "type": ELEMENT_TYPES.get(tensor_type.elem_type, "?"),
            "shape": shape}


def _width(shape: Optional[list]) -> Optional[int]:
    return shape[-1] if shape and isinstance(shape[-1], int) else None


def _activation(spec: Any) -> Optional[str]:
    if isinstance(spec, dict):
        return f"{spec.get('function')}(alpha={spec.get('alpha')})"
    return spec


def _count_numbers(value: Any) -> int:
    """How many numbers a layer holds (weights, biases, every component's)."""
    if isinstance(value, dict):
        return sum(_count_numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(1 if isinstance(v, (int, float)) else _count_numbers(v) for v in value)
    return 0


# -- text ----------------------------------------------------------------------------
def render(report: Report) -> str:
    """The report as a person reads it."""
    if report["kind"] == "correctionlib CorrectionSet":
        return _render_correction_set(report)
    kind = "ONNX model" if report["kind"] == "onnx" else f"{report['kind']} network"
    lines = [f"{report['file']}: {kind}"]
    if report["kind"] == "onnx":
        opsets = ", ".join(f"{d} {v}" for d, v in report["opsets"].items())
        lines[0] += (f" (producer {report['producer'] or 'unknown'}, IR version "
                     f"{report['ir_version']}, opset {opsets})")
        lines.append("inputs:")
        lines += [f"  {_tensor_line(t)}" for t in report["inputs"]]
        lines.append("outputs:")
        lines += [f"  {_tensor_line(t)}" for t in report["outputs"]]
        lines.append(f"parameters: {report['parameters']:,} in {report['initializers']} "
                     "initializers")
        lines.append("operators: " + ", ".join(f"{n} {op}" for op, n in
                                               report["operators"].items()))
    heading = ("lwtnn interface:" if report["kind"] != "onnx" else
               "lwtnn interface (graph format):" if report["converts"] else
               "lwtnn interface it would have (names only; it does not convert):")
    lines += [heading, *_interface_lines(report["interface"]), report["cost"]["line"]]
    if report["kind"] == "onnx":
        lines.append("nodes (ONNX node -> what it becomes in lwtnn):")
        lines += _table([(f["op"], f["node"],
                          f"REFUSED: {f['refused']}" if "refused" in f else
                          f"-> {f['becomes']}" + (f"  ({', '.join(f['passes'])})"
                                                  if f["passes"] else ""))
                         for f in report["nodes"]])
        lines += [f"warning: {w}" for w in report["warnings"]]
        lines.append("converts: yes" if report["converts"] else
                     f"converts: no, {len(report['refusals'])} problem(s):")
        lines += [f"  - {r}" for r in report["refusals"]]
    else:
        if report["node_types"]:  # a sequential file has layers only
            lines.append("nodes: " + ", ".join(f"{n} {t}"
                                               for t, n in report["node_types"].items()))
        lines.append(f"layers: {len(report['layers'])}, {report['parameters']:,} parameters")
        lines += _table([(str(i), layer["architecture"], layer["activation"] or "",
                          f"{layer['parameters']:,} parameters")
                         for i, layer in enumerate(report["layers"])])
    return "\n".join(lines)


def _render_correction_set(report: Report) -> str:
    lines = [f"{report['file']}: correctionlib CorrectionSet, {len(report['corrections'])} "
             f"correction(s)", f"  {report['description']}"]
    for correction in report["corrections"]:
        lines.append(f"correction '{correction['name']}' -> {correction['output']}")
        lines.append(f"  inputs ({len(correction['inputs'])}):")
        lines += _table([(v["name"], v["type"], v["description"]) for v in correction["inputs"]])
        for network in correction["networks"]:
            where = "" if network["fold"] is None else \
                f" for {correction['fold_input']} = {network['fold']}"
            lines.append(f"  network{where}: {len(network['layers'])} layers, "
                         f"{network['parameters']:,} parameters, outputs "
                         f"{' '.join(network['outputs'])}")
            lines += [f"    transform {name} -> {expression}"
                      for name, expression in network["transforms"].items()]
            lines += _table([(str(i), layer["architecture"], layer["activation"] or "",
                              f"{layer['parameters']:,} parameters")
                             for i, layer in enumerate(network["layers"])])
            final = network["finalizer"]
            lines.append(f"    value: {final['expression']} of "
                         f"{', '.join(final['variables'])} (x[0], x[1], ...)")
            lines.append(f"    {network['cost']}")
    return "\n".join(lines)


def _tensor_line(tensor: dict) -> str:
    shape = "?" if tensor["shape"] is None else \
        "[" + ", ".join("?" if d is None else str(d) for d in tensor["shape"]) + "]"
    return f"{tensor['name']}  {tensor['type']} {shape}"


def _interface_lines(interface: dict) -> list[str]:
    lines = []
    for key, kind in (("inputs", "input"), ("input_sequences", "input sequence")):
        for node in interface[key]:
            shown = "''" if node["name"] == SEQUENTIAL_INPUT else f"'{node['name']}'"
            lines.append(f"  {kind} {shown}: {_names(node['variables'], 'variables')}")
    for output in interface["outputs"]:
        lines.append(f"  output '{output['name']}': {_names(output['labels'], 'labels')}")
    return lines


def _names(names: list[str], what: str, shown: int = 4) -> str:
    if not names:
        return f"{what} unknown (the width is not fixed)"
    listed = names if len(names) <= shown + 1 else [*names[:shown - 1], "...", names[-1]]
    return f"{len(names)} {what[:-1] if len(names) == 1 else what}: {' '.join(listed)}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Aligned columns, the last one as long as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return ["  " + "  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]).rstrip()
            for row in rows]
