"""Graph outputs a classifier adds beside its probabilities -> refused by name, with the
way out, and cut from the graph so that what only feeds them is not listed as well.

skl2onnx writes every classifier with an integer ``label`` output (ArgMax -> the
ONNX-ML ArrayFeatureExtractor of the class list -> Reshape -> Cast) and, by default,
its probabilities as a ZipMap: a list of {class: probability} maps, not a tensor. lwtnn
outputs are float vectors, so neither can be one; the probabilities as a tensor can, and
``convert(outputs=...)`` (``--outputs``) keeps only the outputs asked for.
"""
from __future__ import annotations

from typing import Optional

import networkx as nx

from ..ir import IRGraph, Port
from .base import rewrite
from .fold_ml_scaler import ML_DOMAIN

INTEGER_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                 8: "string", 9: "bool", 12: "uint32", 13: "uint64"}
ZIPMAP_HINT = ("re-export with skl2onnx's option {'zipmap': False} to have the probabilities "
               "as a tensor, then keep only them with --outputs NAME")


@rewrite("Output")
def refuse_classifier_output(ir: IRGraph, node: str) -> bool:
    """An integer (class label) or ZipMap graph output -> refused, naming the way out."""
    port = ir.operand(node, 0)
    if port is None:
        return False
    if _is_zipmap(ir, port):
        ir.refuse(node, f"it is ZipMap '{ir[port.node]['label']}' (ai.onnx.ml): the class "
                        "probabilities as a list of {class: probability} maps, not a tensor; "
                        "lwtnn outputs are float vectors")
        ir[node]["hint"] = ZIPMAP_HINT
    elif ir.op(port.node) != "Const" and not ir.is_float(port):
        dtype = _dtype(ir, port)
        what = ("the predicted class (ArgMax of the class probabilities)"
                if any(ir.op(n) == "ArgMax" for n in nx.ancestors(ir.g, port.node) | {port.node})
                else "not floating-point values")
        ir.refuse(node, f"it holds {dtype} values, {what}; lwtnn outputs are float vectors")
        ir[node]["hint"] = _keep_hint(ir, node)
    else:
        return False
    ir.disconnect(node, 0)  # what only fed it is dead now, not a cause of its own
    return True


def _dtype(ir: IRGraph, port: Port) -> str:
    dtypes = ir[port.node].get("dtypes") or []
    code = dtypes[port.index] if port.index < len(dtypes) else None
    return INTEGER_TYPES.get(code, "non-float")


def _keep_hint(ir: IRGraph, refused: str) -> str:
    """How to convert what can be: the float outputs, or the probabilities of a ZipMap."""
    floats = [ir.attrs(o)["name"] for o in ir.outputs if o != refused and _is_float_tensor(
        ir, ir.operand(o, 0))]
    if floats:
        return f"keep only the float output{'s' * (len(floats) > 1)} with --outputs " + \
            ",".join(floats)
    zipmap = any(ir[o].get("hint") == ZIPMAP_HINT or _is_zipmap(ir, ir.operand(o, 0))
                 for o in ir.outputs)
    return ZIPMAP_HINT if zipmap else ""


def _is_float_tensor(ir: IRGraph, port: Optional[Port]) -> bool:
    return port is not None and ir.is_float(port) and not _is_zipmap(ir, port)


def _is_zipmap(ir: IRGraph, port: Optional[Port]) -> bool:
    return port is not None and ir.op(port.node) == "ZipMap" and ir[port.node]["domain"] == ML_DOMAIN
