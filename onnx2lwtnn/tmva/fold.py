"""A TMVA weights file's transformations folded into an ONNX conversion
(``--tmva-weights``): the ONNX network reads TMVA's transformed variables, the lwtnn one
the raw ones.

Before the passes, the leading Normalize steps become the input's ``(x + offset) *
scale``, anything after them a linear ``Dense`` right after the input, and a regression's
inverse target transformation an ``Affine`` before the output, which the passes fold into
the last dense layer. After the passes, ``fold_transformations`` folds that linear Dense
into the dense layers that read it.
"""
from __future__ import annotations

import os
from typing import Union

import numpy as np


from ..check import Preparation
from ..errors import UsageError
from ..interface import Interface, Variable
from ..ir import IRGraph, Port
from ..passes.common import reads_through_matrix
from . import transforms as tf
from .convert import fold_affine_before
from .method import read_method

MARK = "tmva_transformations"


def insert_transformations(ir: IRGraph, path: Union[str, os.PathLike]
                           ) -> tuple[Interface, Preparation]:
    """Put the file's transformations between the graph input and the network; the
    Interface names the variables (and a regression's targets) as TMVA does, and the
    Preparation feeds the ONNX model what the network now computes from raw variables
    (TMVA's transformations, exactly, and its targets' transformation undone)."""
    method = read_method(path)
    transforms = tf.read_transformations(method)
    n = len(method.variables)
    vectors = [node for node in ir.inputs if len(ir.shape(Port(node)) or ()) != 3]
    if len(ir.inputs) != 1 or len(vectors) != 1:
        raise UsageError(f"{method.where}: TMVA's transformations apply to one vector input; "
                         f"the model has {len(ir.inputs)} input(s)")
    node = vectors[0]
    name, shape = ir.attrs(node)["name"], ir.shape(Port(node))
    if shape[-1] != n:
        raise UsageError(f"{method.where}: the file has {n} variables, but input '{name}' "
                         f"has {shape[-1]} features")
    offset, scale, rest = tf.split(transforms, n)
    ir.attrs(node)["offset"], ir.attrs(node)["scale"] = offset, scale
    if rest is not None:
        readers = ir.consumers(Port(node))
        dense = ir.add("Dense", [Port(node)], label="TMVA transformations", shapes=[shape],
                       attrs={"weights": rest[0], "bias": rest[1], "activation": "linear"})
        ir[dense][MARK] = True
        for reader, slot in readers:
            ir.connect(Port(dense), reader, slot)
    interface = Interface(input_variables={name: [Variable(v) for v in method.variables]})
    _undo_targets(ir, method, transforms, interface)
    _name_classes(ir, method, interface)
    return interface, _preparation(transforms, len(method.targets))


def _preparation(transforms: list, n_targets: int) -> Preparation:
    def transformed(name: str, raw: np.ndarray) -> np.ndarray:
        return tf.apply(transforms, raw, exact=True)

    target = tf.target_affine(transforms, n_targets)
    if target is None:
        return Preparation(transformed)
    half, middle = (part.rounded() for part in target)
    return Preparation(transformed, lambda name, y: y * half + middle)


def _name_classes(ir: IRGraph, method, interface: Interface) -> None:
    """A multiclass network's single output of one value per class is labelled by class."""
    if method.analysis != "Multiclass" or len(ir.outputs) != 1:
        return
    output = ir.outputs[0]
    if ir.features(ir.operand(output, 0)) == len(method.classes):
        interface.output_labels[ir.attrs(output)["name"]] = list(method.classes)


def _undo_targets(ir: IRGraph, method, transforms: list, interface: Interface) -> None:
    target = tf.target_affine(transforms, len(method.targets))
    if target is None:
        return
    if len(ir.outputs) != 1:
        raise UsageError(f"{method.where}: a regression's targets are one output; the model "
                         f"has {len(ir.outputs)}")
    output = ir.outputs[0]
    source = ir.operand(output, 0)
    width = ir.features(source)
    if width != len(method.targets):
        raise UsageError(f"{method.where}: the file has {len(method.targets)} regression "
                         f"target(s), but the model's output has {width} values")
    affine = ir.add("Affine", [source], label="TMVA inverse target transformation",
                    shapes=[ir.shape(source)], attrs={"scale": target[0], "shift": target[1]})
    ir.connect(Port(affine), output, 0)
    interface.output_labels[ir.attrs(output)["name"]] = list(method.targets)


def fold_transformations(ir: IRGraph) -> None:
    """Fold the inserted linear map into every dense layer reading it; where something
    else reads it, it stays a linear layer of its own (exact, one layer more)."""
    for node in [n for n in ir.nodes("Dense") if ir[n].get(MARK)]:
        attrs = ir.attrs(node)
        readers = ir.consumers(Port(node))
        if attrs["activation"] != "linear" or not all(reads_through_matrix(ir, reader)
                                                      for reader, _ in readers):
            ir.warnings.append("TMVA's linear transformations stay a layer of their own: "
                               "something other than a dense layer reads them")
            continue
        for reader, _ in readers:
            reader_attrs = ir.attrs(reader)
            reader_attrs["weights"], reader_attrs["bias"] = fold_affine_before(
                reader_attrs["weights"], reader_attrs["bias"], attrs["weights"],
                attrs["bias"])
        ir.replace(node, ir.operand(node, 0))
