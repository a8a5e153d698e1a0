"""After the passes: list every node lwtnn cannot express, all at once, causes first.

A node left in the graph that is not an lwtnn kind is reported with the reason the pass
that recognised it recorded, or, for an op no pass handles, with a hint from
``UNSUPPORTED_HINTS``. Listed after the causes, as ``downstream``: a known op that reads
from an unknown op or an input lwtnn cannot take, a layout op next to an offending op,
and the shape, index and condition arithmetic that only feeds a refused node (a Loop's
trip count, a scatter's indices). Graph inputs must be float vectors or sequences, and
outputs float vectors, of known width; an input or output a pass refused is reported with
its reason. NaN or infinite constants found on loading are causes among the others. A
hint saying the model would convert is kept only where following it on a fresh IR of the
model (``REMEDIES``) makes the passes leave nothing behind.
"""
from __future__ import annotations

import networkx as nx
import numpy as np

from dataclasses import replace
from typing import Callable, Optional, Sequence

from .errors import Diagnostic
from .ir import LWTNN_KINDS, IRGraph, Port
from .passes.base import STANDARD_DOMAINS, handled_ops
from .passes.classifier_outputs import refuse_classifier_output
from .passes.common import reorient_input
from .passes.drop_initial_states import is_zero
from .pipeline import run_pipeline

UNSUPPORTED_HINTS = {
    "MaxPool": "lwtnn has no pooling layers",
    "AveragePool": "lwtnn has no pooling layers",
    "GlobalAveragePool": "lwtnn has no pooling layers",
    "Resize": "lwtnn has no up-sampling",
    "Erf": "GELU (built from Erf) is not an lwtnn activation; swish (SiLU) or ReLU are",
    "Gelu": "GELU is not an lwtnn activation; swish (SiLU) or ReLU are",
    "Softplus": "softplus is not an lwtnn activation",
    "PRelu": "a learned per-feature slope has no lwtnn activation (leakyrelu has one alpha)",
    "Exp": "element-wise exponentials exist in lwtnn only inside softmax, sigmoid and elu",
    "Log": "lwtnn has no logarithm",
    "Pow": "lwtnn has no element-wise power",
    "Sqrt": "lwtnn has no element-wise square root",
    "Clip": "lwtnn has no clipping",
    "Max": "lwtnn has no element-wise maximum with a constant or between tensors",
    "Min": "lwtnn has no element-wise minimum",
    "HardSwish": "hard swish is not an lwtnn activation",
    "Mish": "mish is not an lwtnn activation",
    "ArgMax": "an ArgMax yields an integer index (a classifier's label); lwtnn computes "
              "float values only",
}
ML_DOMAIN = "ai.onnx.ml"
# What each operator of ONNX's standard machine-learning domain computes, to name it.
ML_OPERATORS = {
    "TreeEnsembleClassifier": "a tree ensemble (boosted or random-forest decision trees)",
    "TreeEnsembleRegressor": "a tree ensemble (boosted or random-forest decision trees)",
    "TreeEnsemble": "a tree ensemble (boosted or random-forest decision trees)",
    "ZipMap": "the class probabilities as a list of {class: probability} maps",
    "ArrayFeatureExtractor": "picks entries by index (a classifier's label from its class "
                             "list)",
    "LabelEncoder": "maps labels to other labels",
    "LinearClassifier": "a linear classifier with its label",
    "LinearRegressor": "a linear regression",
    "SVMClassifier": "a support vector machine",
    "SVMRegressor": "a support vector machine",
    "Normalizer": "scales each event by its L1, L2 or max norm",
    "OneHotEncoder": "one-hot encodes categories",
    "Imputer": "replaces missing values",
    "Binarizer": "thresholds values to 0 or 1",
    "CategoryMapper": "maps strings to integers",
    "DictVectorizer": "turns maps into tensors",
    "FeatureVectorizer": "concatenates inputs",
    "Scaler": "(x - offset) * scale",
}


def legalize(ir: IRGraph, constants: Sequence[Diagnostic] = (),
             rebuild: Optional[Callable[[], IRGraph]] = None) -> list[Diagnostic]:
    """Every node of the passed IR lwtnn cannot express, causes first. ``constants`` are
    the model's NaN or infinite constants (found on loading), causes among the others;
    what they spoil when folded is listed under them. ``rebuild`` gives a fresh IR of the
    model: a hint is kept only where following it, done to that IR, makes it convert."""
    problems = _problems(ir)
    if rebuild is not None:  # with non-finite constants left, no remedy makes it convert
        problems = [_checked_hint(p, None if constants else rebuild) for p in problems]
    if constants:
        problems = [replace(p, downstream=True) if NON_FINITE in p.reason else p
                    for p in problems]
        problems = ([p for p in problems if not p.downstream] + list(constants)
                    + [p for p in problems if p.downstream])
    return problems


NON_FINITE = "NaN or infinite"  # in every reason about a non-finite value


def _checked_hint(problem: Diagnostic, rebuild: Optional[Callable[[], IRGraph]]):
    """The problem, without its hint unless following the hint on a fresh IR (none: it
    cannot be followed to a conversion) makes the model convert."""
    remedy = REMEDIES.get(problem.op_type) if problem.hint else None
    if remedy is None:
        return problem
    fresh = None if rebuild is None else rebuild()
    if fresh is not None and remedy(fresh, problem.node) and not _left_after_passes(fresh):
        return problem
    return replace(problem, hint="")


def _left_after_passes(fresh: IRGraph) -> list[Diagnostic]:
    """The problems left once the passes ran on a remedied IR (none: it converts)."""
    run_pipeline(fresh)
    return _problems(fresh)


def _input_in_time_major_order(ir: IRGraph, name: str) -> bool:
    """The input exported as [batch, time, features] where the model read it [batch,
    features, time]: the same network behind a Transpose."""
    node = next((n for n in ir.inputs if ir.attrs(n)["name"] == name), None)
    return node is not None and reorient_input(ir, Port(node), ("batch", "feature", "time"))


def _without_refused_outputs(ir: IRGraph, name: str) -> bool:
    """The hints of refused classifier outputs followed: a ZipMap's probabilities exported
    as the tensor it reads, and only the float outputs kept (``--outputs``)."""
    for node in ir.outputs:
        port = ir.operand(node, 0)
        if port is not None and ir.op(port.node) == "ZipMap":
            ir.connect(ir.operand(port.node, 0), node, 0)
    refuse_classifier_output.run(ir)
    refused = [n for n in ir.outputs if ir[n]["refusal"]]
    if not refused or len(refused) == len(ir.outputs):
        return False
    for node in refused:
        ir.outputs.remove(node)
        ir.remove(node)
    return True


# Diagnostic op type -> what following its hint does to a fresh IR of the model (False
# where it does not apply).
REMEDIES: dict[str, Callable[[IRGraph, str], bool]] = {
    "Input": _input_in_time_major_order,
    "Output": _without_refused_outputs,
}


def _problems(ir: IRGraph) -> list[Diagnostic]:
    problems = [_interface_problem(ir, node, "input") for node in ir.inputs]
    problems += [_interface_problem(ir, node, "output") for node in ir.outputs]
    known = handled_ops()

    def unknown(node: str) -> bool:
        return ir[node]["domain"] not in STANDARD_DOMAINS or ir.op(node) not in known

    leftover = {n for n, data in ir.iter_ops()
                if data["op"] not in LWTNN_KINDS | {"Input", "Output", "Const"}}
    # Causes: ops lwtnn has no form for, inputs it cannot take, and every refused op but
    # the layout ops around one (an exporter's Transposes fail only because it does).
    # What reads from a cause is listed under it: Shape arithmetic built on a refused
    # layer's output serves that layer, and is not a problem of its own.
    serving = _serving_refused(ir, leftover)
    causes = {n for n in leftover - serving
              if unknown(n) or not _beside_a_cause(ir, n, leftover)}
    causes |= {n for n, p in zip(ir.inputs, problems) if p is not None}
    for node, data in ir.iter_ops():
        if data["op"] in LWTNN_KINDS | {"Input"}:
            problems.append(_non_finite_problem(ir, node))
        if data["op"] in LWTNN_KINDS:
            problems.append(_constant_operand_problem(ir, node))
        if node not in leftover:
            continue
        unknown_op = unknown(node)
        if data["refusal"]:
            reason = data["refusal"]
        elif data["domain"] == ML_DOMAIN:
            what = ML_OPERATORS.get(data["op"], "a classical machine-learning operator")
            reason = (f"{data['op']} is an operator of ai.onnx.ml, ONNX's standard domain for "
                      f"classical machine learning: {what}; lwtnn has no such layer")
        elif data["domain"] not in STANDARD_DOMAINS:
            reason = f"custom operator domain '{data['domain']}' is unknown to lwtnn"
        elif data["op"] in known:
            reason = "its operands do not match any pattern lwtnn can express"
        else:
            reason = "operator not supported by lwtnn"
        downstream = node in serving or not unknown_op and (
            bool(nx.ancestors(ir.g, node) & causes) or _beside_a_cause(ir, node, leftover))
        problems.append(Diagnostic(data["label"], data["op"], reason,
                                   UNSUPPORTED_HINTS.get(data["op"], ""), downstream))
    return [p for p in problems if p is not None]


def _serving_refused(ir: IRGraph, leftover: set) -> set:
    """Nodes that only compute what a refused node reads besides its data: shape, index
    and condition arithmetic, constant fills (a Loop's trip count and zero initial state,
    a scatter's indices, built from the batch size), or a tensor only measured by Shape.
    They would go with that node, so they are listed under it; a node computing from the
    network's float data is never one (it may be a cause of its own)."""
    no_data: dict = {}
    serving: set = set()
    for node in reversed(ir.nodes()):
        readers = [reader for _, reader in ir.g.out_edges(node)]
        if (node in leftover and readers
                and all(r in serving or r in leftover and ir[r]["refusal"] for r in readers)
                and (all(ir.op(r) == "Shape" for r in readers)
                     or _computes_no_data(ir, node, no_data))):
            serving.add(node)
    return serving


def _computes_no_data(ir: IRGraph, node: str, memo: dict) -> bool:
    """Whether the node's outputs are integers, booleans or zeros, or are computed from
    those and constants only (an index cast to float, a fill of a constant)."""
    if node not in memo:
        outputs = [Port(node, i) for i in range(len(ir[node]["shapes"]))]
        memo[node] = ir.op(node) != "Input" and (
            all(not ir.is_float(p) or is_zero(ir, p) for p in outputs)
            or all(ir.op(p.node) == "Const" or not ir.is_float(p)
                   or _computes_no_data(ir, p.node, memo)
                   for p in ir.inputs_of(node) if p is not None))
    return memo[node]


LAYOUT_OPS = frozenset({"Transpose", "Squeeze", "Unsqueeze", "Reshape", "Flatten", "Gather"})


def _beside_a_cause(ir: IRGraph, node: str, leftover: set) -> bool:
    """A layout op next to an offending op that is not one: exporters put Transposes and
    Squeezes around a recurrent layer, and they fail only because that layer does."""
    if ir.op(node) not in LAYOUT_OPS:
        return False
    neighbours = set(ir.g.predecessors(node)) | set(ir.g.successors(node))
    return any(n in leftover and ir.op(n) not in LAYOUT_OPS for n in neighbours)


def _interface_problem(ir: IRGraph, node: str, role: str):
    data = ir[node]
    port = ir.operand(node, 0) if role == "output" else None
    name = data["attrs"]["name"]
    if data["refusal"]:
        return Diagnostic(name, role.title(), data["refusal"], data.get("hint", ""))
    shape = data["shapes"][0] if role == "input" else (ir.shape(port) or data["shapes"][0])
    if port is not None and ir.op(port.node) == "Const":
        return Diagnostic(name, "Output", "it is a constant: it depends on no input, and "
                                          "every lwtnn output is computed from the inputs")
    if role == "input" and not ir.is_float(Port(node)):
        return Diagnostic(name, "Input", "integer or string inputs cannot be fed to lwtnn")
    if shape is None:
        return Diagnostic(name, role.title(), "its shape is unknown")
    kinds = "vectors [batch, features]"
    if role == "input":  # rank 3: a sequence, one of lwtnn's input_sequences
        kinds += " or sequences [batch, time, features]"
    if len(shape) not in ((1, 2, 3) if role == "input" else (1, 2)):
        return Diagnostic(name, role.title(), f"rank-{len(shape)} {role}s are not {kinds}")
    if role == "input" and len(shape) == 3 and isinstance(shape[1], int) and not isinstance(
            shape[2], int):
        return Diagnostic(name, "Input", f"it is a channels-first sequence [{shape[0]}, "
                                         f"{shape[1]} features, {shape[2]} steps]; lwtnn "
                                         "sequences are [batch, time, features]",
                          "exported with its input in that order, the model converts")
    if not isinstance(shape[-1], int):
        return Diagnostic(name, role.title(), f"the feature dimension '{shape[-1]}' is "
                                              "dynamic; lwtnn needs a fixed number of features")
    if shape[-1] == 0:
        return Diagnostic(name, role.title(), f"it has no features (shape {list(shape)}); "
                                              "an lwtnn node has at least one value")
    return None



def _non_finite_problem(ir: IRGraph, node: str):
    """lwtnn's JSON reader has no NaN or infinity: a weight folded into one (W / 0) is
    refused here, naming the layer, instead of failing schema validation later."""
    bad = sorted(name for name, value in _arrays(ir.attrs(node))
                 if value.dtype.kind == "f" and not np.isfinite(value).all())
    if not bad:
        return None
    return Diagnostic(ir[node]["label"], ir.op(node), f"its folded {', '.join(bad)} hold NaN or "
                      "infinite values, which lwtnn's JSON reader cannot read")


def _constant_operand_problem(ir: IRGraph, node: str):
    """lwtnn nodes read only inputs and other nodes: a constant operand (a Concat with a
    constant block, say) has no lwtnn source."""
    if not any(port is not None and ir.op(port.node) == "Const" for port in ir.inputs_of(node)):
        return None
    return Diagnostic(ir[node]["label"], ir.op(node), "it reads a constant tensor as data; "
                      "lwtnn nodes read only the inputs and other nodes")


def _arrays(attrs: dict, prefix: str = ""):
    """(name, array) for every array in the attributes, nested dicts included."""
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            yield prefix + key, value
        elif isinstance(value, dict):
            yield from _arrays(value, f"{prefix}{key}.")
