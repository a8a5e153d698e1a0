"""ONNX-ML ``Scaler`` (domain ``ai.onnx.ml``) -> ``Affine``.

scikit-learn pipelines exported by skl2onnx put their StandardScaler, MinMaxScaler or
RobustScaler first as a Scaler node: y = (x - offset) * scale, with one offset and one
scale per feature (or one for all). That is per-feature affine, which ``fold_affine``
folds into lwtnn's input offsets and scales or a neighbouring dense layer.
"""
from __future__ import annotations

import numpy as np

from ..exact import Exact
from ..ir import IRGraph
from .base import rewrite
from .common import is_per_step, per_feature, width
from .lower_activations import add_affine

ML_DOMAIN = "ai.onnx.ml"


@rewrite("Scaler", domain=ML_DOMAIN)
def fold_scaler(ir: IRGraph, node: str) -> bool:
    """Scaler(x) = (x - offset) * scale -> Affine(scale, -offset * scale)."""
    source = ir.operand(node, 0)
    if not is_per_step(ir, source):
        ir.refuse(node, "Scaler of a tensor that is not a [batch, features] vector")
        return False
    attrs, n = ir.attrs(node), width(ir, source)
    offset = per_feature(np.asarray(attrs.get("offset", [0.0]), dtype=np.float32), n)
    scale = per_feature(np.asarray(attrs.get("scale", [1.0]), dtype=np.float32), n)
    if offset is None or scale is None:
        ir.refuse(node, f"its offset ({len(attrs.get('offset', []))} values) or scale "
                        f"({len(attrs.get('scale', []))} values) does not fit the {n} features")
        return False
    scale = Exact.of(scale)
    ir.replace(node, add_affine(ir, source, scale, -Exact.of(offset) * scale, ir[node]["label"]))
    return True
