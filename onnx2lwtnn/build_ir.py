"""ModelProto -> IRGraph: the only place that reads ONNX protobufs after loading.

Initializers become ``Const`` nodes (an initializer also listed as a graph input, as old
IR versions write them, is a constant, not an input); graph inputs become ``Input``
nodes; graph outputs become ``Output`` nodes; every other node keeps its ONNX op type.

A node with a subgraph (a Loop's body) also gets it as an IR of its own, in
``subgraphs`` (attribute name -> IRGraph): its formal inputs are its ``inputs``, and each
tensor it reads from the enclosing graph by name is an ``Input`` node of it, listed in its
``outer``, that the node reads as an extra operand after its own (so the enclosing IR
knows what the node depends on). The attribute itself stays as ONNX wrote it.
"""
from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from .ir import IRGraph, Port
from .errors import ModelLoadError
from .load import default_opset


def build_ir(model: onnx.ModelProto) -> IRGraph:
    return _graph_ir(model.graph, default_opset(model), {})


def _graph_ir(graph: onnx.GraphProto, opset: int, outer: dict[str, tuple]) -> IRGraph:
    """The IR of a graph; ``outer`` gives the (shape, type) of the enclosing graphs'
    tensors a subgraph may read."""
    ir = IRGraph(opset=opset)
    types = {**outer, **_value_types(graph)}
    tensors: dict[str, Port] = {}

    for init in graph.initializer:
        tensors[init.name] = ir.add_const(_array(init, f"initializer '{init.name}'"),
                                          label=init.name)
    for value in graph.input:
        if value.name in tensors:
            continue
        shape, dtype = types[value.name]
        node = ir.add("Input", label=value.name, shapes=[shape],
                      attrs={"name": value.name, "dtype": dtype})
        ir.inputs.append(node)
        tensors[value.name] = Port(node)

    for index, proto in enumerate(graph.node):
        operands = [_tensor(ir, tensors, types, name) if name else None for name in proto.input]
        shapes = [types.get(name, (None, 0))[0] if name else None for name in proto.output]
        subgraphs = {a.name: _graph_ir(a.g, opset, types) for a in proto.attribute
                     if a.type == onnx.AttributeProto.GRAPH}
        read = list(dict.fromkeys(n for sub in subgraphs.values() for n in sub.outer))
        operands += [_tensor(ir, tensors, types, name) for name in read]
        node = ir.add(proto.op_type, operands, attrs=_attributes(proto), shapes=shapes,
                      label=proto.name or f"{proto.op_type}_{index}", domain=proto.domain,
                      dtypes=[types.get(name, (None, 0))[1] for name in proto.output],
                      **({"subgraphs": subgraphs, "outer_operands": read} if subgraphs else {}))
        for port, name in enumerate(proto.output):
            if name:
                tensors[name] = Port(node, port)

    for value in graph.output:
        source = _tensor(ir, tensors, types, value.name)
        node = ir.add("Output", [source], label=f"output:{value.name}",
                      attrs={"name": value.name}, shapes=[types.get(value.name, (None, 0))[0]])
        ir.outputs.append(node)
    return ir


def _tensor(ir: IRGraph, tensors: dict[str, Port], types: dict, name: str) -> Port:
    """The port holding a tensor; in a subgraph, a name from an enclosing graph becomes an
    ``Input`` of the subgraph the first time it is read (listed in ``ir.outer``)."""
    if name not in tensors:
        shape, dtype = types.get(name, (None, 0))
        node = ir.add("Input", label=name, shapes=[shape], attrs={"name": name, "dtype": dtype})
        ir.outer[name] = node
        tensors[name] = Port(node)
    return tensors[name]


def _array(tensor: onnx.TensorProto, what: str):
    """A tensor's values, or ModelLoadError when its stored data does not fit its shape."""
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # numpy and onnx raise several types for damaged data
        raise ModelLoadError(f"{what}: its data does not match its type and shape "
                             f"{list(tensor.dims)} ({type(exc).__name__})") from None


def _value_types(graph: onnx.GraphProto) -> dict[str, tuple]:
    """Tensor name -> (shape tuple or None, element type) from the inferred value infos."""
    types = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        shape = None
        if tensor_type.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                          for d in tensor_type.shape.dim)
        types[value.name] = (shape, tensor_type.elem_type)
    return types


def _attributes(proto: onnx.NodeProto) -> dict:
    attrs = {}
    for attr in proto.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = _array(value, f"attribute '{attr.name}' of node '{proto.name}'")
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        attrs[attr.name] = value
    return attrs
