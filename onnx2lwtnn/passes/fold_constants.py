"""Evaluate every node whose operands are all constants (Constant, Transpose of a weight,
Shape arithmetic on static shapes, ConstantOfShape, ...) with the onnx package's
reference evaluator, and replace its outputs by constants. What a node would compute is
sized first (``limits``), and a node over the limits is refused, never computed."""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from ..ir import IRGraph, Port
from ..limits import folding_problem, shape_problem
from .base import ANY_OP, rewrite

NOT_FOLDABLE = frozenset({
    "Input", "Output", "Const", "RandomNormal", "RandomUniform", "RandomNormalLike",
    "RandomUniformLike", "Multinomial", "Bernoulli",
})


@rewrite(ANY_OP)
def fold_constant_node(ir: IRGraph, node: str) -> bool:
    """Any ONNX node with only constant operands -> its computed constant outputs."""
    data = ir[node]
    if data["op"] in NOT_FOLDABLE:
        return False
    operands = ir.inputs_of(node)
    if any(p is not None and ir.op(p.node) != "Const" for p in operands):
        return False
    values = [ir.const_value(p) for p in operands]
    problem = (folding_problem(data["op"], data["attrs"], values)
               or next(filter(None, map(shape_problem, data["shapes"])), None))
    if problem:  # sized before computing: a Range of 10^12 values is never attempted
        ir.refuse(node, f"cannot be computed ahead: it {problem}")
        return False
    try:
        outputs = evaluate_node(ir, node, values)
    except Exception:
        return False  # left for the passes that know the op, or reported as unsupported
    for index, value in enumerate(outputs):
        ir.redirect(Port(node, index), ir.add_const(value, label=f"{data['label']}:{index}"))
    ir.remove(node)
    return True


def evaluate_node(ir: IRGraph, node: str, values: list) -> list[np.ndarray]:
    """The outputs of ``node`` computed from its operands' ``values`` (None: absent)."""
    data = ir[node]
    if data["op"] == "Constant" and isinstance(data["attrs"].get("value"), np.ndarray):
        return [data["attrs"]["value"]]  # no evaluator (0.2 s of imports) for the usual form
    in_names = [f"in{i}" if v is not None else "" for i, v in enumerate(values)]
    out_names = [f"out{i}" for i in range(len(data["shapes"]))]
    proto = helper.make_node(data["op"], in_names, out_names, **_proto_attrs(data["attrs"]))
    evaluator = _evaluator(proto, in_names, out_names, ir.opset)
    feeds = {n: v for n, v in zip(in_names, values) if n}
    return [np.asarray(v) for v in evaluator.run(None, feeds)]


def _evaluator(proto, in_names, out_names, opset: int):
    from onnx.reference import ReferenceEvaluator  # 0.2 s of imports: only when folding

    graph = helper.make_graph(
        [proto], "fold",
        [helper.make_tensor_value_info(n, 0, None) for n in in_names if n],
        [helper.make_tensor_value_info(n, 0, None) for n in out_names])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(model)


def _proto_attrs(attrs: dict) -> dict:
    return {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
            for k, v in attrs.items()}
