"""ONNX file -> a checked, shape-inferred ModelProto.

External data may only come from files inside the model's own folder: locations are
checked before a single byte of them is read, so a hostile model cannot make the tool
read ``../../etc/passwd``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import onnx
from onnx import external_data_helper

from .errors import ModelLoadError

MIN_OPSET = 6


def load_model(path: Union[str, os.PathLike]) -> onnx.ModelProto:
    """Read, check and shape-infer an ONNX model, or raise ModelLoadError."""
    path = Path(path)
    _check_readable(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises several unrelated types
        raise ModelLoadError(f"{path}: not an ONNX model ({_first_line(exc)})") from None
    if not model.HasField("graph") or not model.opset_import:
        raise ModelLoadError(f"{path}: not an ONNX model (no graph or no opset)")
    _load_external_data(model, path)
    _check_opset(model, path)
    if not _custom_domains(model):
        try:
            onnx.checker.check_model(model)
        except Exception as exc:
            raise ModelLoadError(f"{path}: invalid ONNX model: {_first_line(exc)}") from None
    return infer_shapes(model)


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference with data propagation, so Reshape targets built from Shape fold."""
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return model  # shapes stay unknown; passes that need them refuse with a reason


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _custom_domains(model: onnx.ModelProto) -> set[str]:
    """Operator domains the checker cannot know. Their models skip the checker, so that
    conversion can name every custom node instead of failing on the first."""
    return {n.domain for n in model.graph.node} - {"", "ai.onnx"}


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not an ONNX file")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise ModelLoadError(f"{path}: not readable")


def _check_opset(model: onnx.ModelProto, path: Path) -> None:
    opset = default_opset(model)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ModelLoadError(
            f"{path}: opset {opset} is outside the supported range {MIN_OPSET} to {newest}")


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    folder = path.resolve().parent
    tensors = [t for t in external_data_helper._get_all_tensors(model)
               if external_data_helper.uses_external_data(t)]
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or folder not in target.parents:
            raise ModelLoadError(
                f"{path}: tensor '{tensor.name}' points to external data '{location}' "
                "outside the model's folder; refused")
        if not target.is_file():
            raise ModelLoadError(
                f"{path}: tensor '{tensor.name}' needs external data file '{location}', "
                "which is missing")
    if tensors:
        try:
            external_data_helper.load_external_data_for_model(model, str(folder))
        except Exception as exc:
            raise ModelLoadError(f"{path}: cannot read external data: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
