"""ONNX file -> a checked, shape-inferred ModelProto.

External data may only come from files inside the model's own folder: locations are
checked before a single byte of them is read, so a hostile model cannot make the tool
read ``../../etc/passwd``.

Constants holding NaN or infinities are refused here, naming them: lwtnn's JSON reader
cannot read such numbers, and nothing downstream would say which tensor they came from.
"""
from __future__ import annotations

import heapq
import math
import os
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
import onnx
from onnx import external_data_helper, helper, numpy_helper

from . import files, limits
from .errors import ConversionError, Diagnostic, FileError, ModelLoadError
from .filekind import NOT_A_MODEL, kind_of

MIN_OPSET = 6


def load_model(path: Union[str, os.PathLike],
               non_finite: Optional[list[Diagnostic]] = None) -> onnx.ModelProto:
    """Read, check and shape-infer an ONNX model, or raise ModelLoadError (ConversionError
    for constants holding NaN or infinities, naming each, unless ``non_finite`` is a list
    to collect them in: a conversion reports them with the graph's other problems)."""
    path = Path(path)
    try:
        data = files.read_bytes(path, "ONNX model", files.MODEL_LIMIT)
    except FileError as exc:
        raise ModelLoadError(str(exc)) from None
    kind = kind_of(data)
    if kind in NOT_A_MODEL:
        raise ModelLoadError(f"{path}: {NOT_A_MODEL[kind]}")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises several unrelated types
        raise ModelLoadError(f"{path}: not an ONNX model ({_one_line(exc)})") from None
    del data
    _load_external_data(model, path)
    return prepare_model(model, path, non_finite)


def prepare_model(model: onnx.ModelProto,
                  where: Union[str, os.PathLike] = "<in-memory model>",
                  non_finite: Optional[list[Diagnostic]] = None) -> onnx.ModelProto:
    """Check a model the way a file is checked (structure, opset, finite constants) and
    shape-infer it; ``where`` names it in errors, ``non_finite`` as in ``load_model``."""
    if not model.HasField("graph") or not model.opset_import:
        raise ModelLoadError(f"{where}: not an ONNX model (no graph or no opset)")
    _check_opset(model, where)
    model = sorted_topologically(model)
    _check_structure(model, where)
    _check_dimensions(model, where, [])  # the declared ones: inference aborts on some
    shapes = _declared_shapes(model)
    problems = non_finite_constants(model)
    if problems and non_finite is None:
        raise ConversionError(problems, f"{len(problems)} constant(s) hold NaN or infinite "
                                        "values")
    if non_finite is not None:
        non_finite.extend(problems)
    _check_sizes(model, shapes)  # names the node asking for too much, a likely cause of
    _check_dimensions(model, where, shapes)  # a run-time tensor too large
    return infer_shapes(model)


def sorted_topologically(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its nodes in an order where each comes after what it reads.

    ONNX requires that order, but some published files lack it (a CMS DeepDoubleB model
    that onnxruntime, which sorts for itself, runs): the nodes are reordered, keeping
    their order wherever it already is right. A model already sorted is returned as is;
    one with a cycle or an undefined tensor is left for the checker to name.
    """
    nodes = model.graph.node
    producer = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    waits_for = [{producer[name] for name in node.input if name in producer} - {index}
                 for index, node in enumerate(nodes)]
    if all(all(p < index for p in deps) for index, deps in enumerate(waits_for)):
        return model
    readers: dict[int, list[int]] = {index: [] for index in range(len(nodes))}
    for index, deps in enumerate(waits_for):
        for dep in deps:
            readers[dep].append(index)
    pending = [len(deps) for deps in waits_for]
    ready = [index for index, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers[index]:
            pending[reader] -= 1
            if pending[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) != len(nodes):
        return model  # a cycle: the checker says so
    result = onnx.ModelProto()
    result.CopyFrom(model)
    del result.graph.node[:]
    result.graph.node.extend(nodes[index] for index in order)
    return result


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference with data propagation, so Reshape targets built from Shape fold.

    Shapes the file declares for intermediate tensors (``value_info``) are kept only if
    they agree with what inference derives from the graph: an exporter's stale or wrong
    annotation (a dense layer edited out after export, say) would otherwise be trusted by
    every pass. When they disagree they are dropped and the graph's own shapes are used,
    as onnxruntime does. The caller's model is never modified.
    """
    work = onnx.ModelProto()
    work.CopyFrom(model)
    added = _import_undeclared_domains(work)
    try:
        inferred = onnx.shape_inference.infer_shapes(work, strict_mode=True, data_prop=True)
    except Exception:
        del work.graph.value_info[:]
        try:
            inferred = onnx.shape_inference.infer_shapes(work, data_prop=True)
        except Exception:
            inferred = work  # shapes stay unknown; passes that need them refuse with a reason
    _drop_imports(inferred, added)
    return inferred


def _check_dimensions(model: onnx.ModelProto, where: Union[str, os.PathLike],
                      shapes: list[tuple[str, Optional[tuple]]]) -> None:
    """Refuse a tensor computed at run time (as the file declares it, and as ``shapes``
    infer it) with a dimension per event over the ``dimension`` limit, or with a negative
    one (onnx's shape inference aborts the process on some): the conversion names each
    variable, label or step one by one, so a 79-byte model declaring an input of 10^9
    variables would otherwise grow without bound. A fixed batch (the first of two or more
    dimensions) is never built (hls4ml exports fix it at 789,444)."""
    graph = model.graph
    constants = _constants(graph).keys()
    constants |= _constant_producers(graph, constants).keys()
    declared = [(v.name, tuple(d.dim_value if d.HasField("dim_value") else d.dim_param or None
                               for d in v.type.tensor_type.shape.dim))
                for v in (*graph.input, *graph.output, *graph.value_info)]
    most = limits.limit("dimension")
    for name, shape in [*declared, *shapes]:
        if name in constants or shape is None:
            continue
        fixed = [d for d in shape if isinstance(d, int)]
        per_event = [d for d in shape[1:] if isinstance(d, int)] if len(shape) > 1 else fixed
        if all(d >= 0 for d in fixed) and all(d <= most for d in per_event):
            continue
        dims = ", ".join("?" if d is None else str(d) for d in shape)
        shown = f"{files.quote(name)} has shape [{dims}]"
        if min(fixed) < 0:
            raise ModelLoadError(f"{where}: tensor {shown}: a negative dimension")
        raise ModelLoadError(f"{where}: tensor {shown}; dimensions of tensors computed at "
                             f"run time (but a batch) are limited to {limits.bound('dimension')}")


def _constants(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Initializers and Constant nodes' values, by tensor name."""
    constants = {init.name: init for init in graph.initializer}
    constants.update({n.output[0]: a.t for n in graph.node if n.op_type == "Constant"
                      for a in n.attribute if a.name == "value"})
    return constants


def _check_sizes(model: onnx.ModelProto, shapes: list[tuple[str, Optional[tuple]]]) -> None:
    """Refuse, naming each node, what would make shape inference or constant folding
    compute too much (``limits``): sized from the constants and from ``shapes``, the
    tensors' shapes from ``_declared_shapes``."""
    graph = model.graph
    constants = _constants(graph)
    problems: dict[int, str] = {}  # node index -> the first reason found
    producers = _constant_producers(graph, set(constants))
    folded = set(producers.values())  # a node reading run-time values is never computed
    for index, node in enumerate(graph.node):
        if (node.op_type in limits.SIZED_OPS and node.domain in ("", "ai.onnx")
                and index in folded):
            values = [_small_value(constants.get(name)) for name in node.input]
            problem = limits.folding_problem(node.op_type, _plain_attrs(node), values)
            if problem:
                problems[index] = problem
    for name, shape in shapes:
        problem = limits.shape_problem(shape)
        if problem and name in producers:
            problems.setdefault(producers[name], f"output '{files.clean(name)}' {problem}")
    if problems:
        flagged = {out for index in problems for out in graph.node[index].output}
        diagnostics = [Diagnostic(_label(graph.node[i], i), graph.node[i].op_type, reason,
                                  downstream=bool(flagged & set(graph.node[i].input)))
                       for i, reason in sorted(problems.items())]
        raise ConversionError(diagnostics, f"{len(diagnostics)} node(s) would compute more "
                                           "than the converter's limits allow")


def _constant_producers(graph: onnx.GraphProto, constants: Iterable[str]) -> dict[str, int]:
    """Tensor name -> index of the node making it, for tensors computed from constants
    alone (what folding would compute); run-time tensors may be large with a fixed batch."""
    constants, producers = set(constants), {}
    for index, node in enumerate(graph.node):
        if all(name in constants for name in node.input if name):
            constants.update(node.output)
            producers.update((out, index) for out in node.output)
    return producers


def _label(node: onnx.NodeProto, index: int) -> str:
    return files.clean(node.name or f"{node.op_type}_{index}")


def _small_value(tensor) -> Optional[np.ndarray]:
    """The value of a small constant (the operands that size an op), else None."""
    if tensor is None or math.prod(tensor.dims) > 64:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:
        return None


def _plain_attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute
            if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS,
                          onnx.AttributeProto.FLOAT)}


def _declared_shapes(model: onnx.ModelProto) -> list[tuple[str, Optional[tuple]]]:
    """(tensor name, shape) of every intermediate tensor, from shape inference without
    data propagation (which computes shapes, never values), on a copy of the graph whose
    weights over 1024 values are only declared (as graph inputs), so it costs no copy of
    them, and whose own shape annotations are left out."""
    graph, light = model.graph, onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    light.graph.node.extend(graph.node)
    light.graph.input.extend(graph.input)
    light.graph.output.extend(graph.output)
    declared = {v.name for v in graph.input}
    for init in graph.initializer:
        if math.prod(init.dims) <= 1024:
            light.graph.initializer.append(init)
        elif init.name not in declared:
            light.graph.input.append(helper.make_tensor_value_info(
                init.name, init.data_type, list(init.dims)))
    _import_undeclared_domains(light)
    try:
        inferred = onnx.shape_inference.infer_shapes(light)
    except Exception:
        return []
    return [(v.name, tuple(d.dim_value if d.HasField("dim_value") else None
                           for d in v.type.tensor_type.shape.dim))
            for v in (*inferred.graph.value_info, *inferred.graph.output)
            if v.type.tensor_type.HasField("shape")]


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _check_structure(model: onnx.ModelProto, path: Union[str, os.PathLike]) -> None:
    """The ONNX checker, which build_ir relies on (every input defined, SSA, ...).

    It skips operators of domains it does not know, but refuses domains the model does not
    import, as exporters such as QONNX write them. Those are imported for the check only,
    so that conversion can still name every custom node instead of failing on the first.
    """
    added = _import_undeclared_domains(model)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelLoadError(f"{path}: invalid ONNX model: {_one_line(exc)}") from None
    finally:
        _drop_imports(model, added)


def _import_undeclared_domains(model: onnx.ModelProto) -> list[str]:
    """Import (version 1) every custom operator domain the model uses without importing
    it; returns those domains, for ``_drop_imports``."""
    imported = {o.domain for o in model.opset_import}
    missing = sorted({n.domain for n in model.graph.node} - imported - {"", "ai.onnx"})
    model.opset_import.extend(onnx.helper.make_opsetid(d, 1) for d in missing)
    return missing


def _drop_imports(model: onnx.ModelProto, domains: list[str]) -> None:
    kept = [o for o in model.opset_import if o.domain not in domains]
    del model.opset_import[:]
    model.opset_import.extend(kept)


def non_finite_constants(model: onnx.ModelProto) -> list[Diagnostic]:
    """Every used constant (initializer, Constant node, float attribute) holding NaN or an
    infinity: it would end up in the JSON, which lwtnn cannot read. Unused initializers
    are left alone (they never reach the output)."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    problems = []
    for init in graph.initializer:
        if init.name in used and not _all_finite(init):
            problems.append(Diagnostic(init.name, "initializer", _NON_FINITE))
    for index, node in enumerate(graph.node):
        label = node.name or f"{node.op_type}_{index}"
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                finite = _all_finite(attr.t)
            elif attr.type in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.FLOATS):
                finite = bool(np.all(np.isfinite([attr.f, *attr.floats])))
            else:
                continue
            if not finite:
                problems.append(Diagnostic(label, node.op_type,
                                           f"attribute '{attr.name}' {_NON_FINITE}"))
    return problems


_NON_FINITE = ("holds NaN or infinite values, which lwtnn's JSON reader cannot read "
               "(JSON has no NaN/Infinity)")


def _all_finite(tensor: onnx.TensorProto) -> bool:
    try:
        values = numpy_helper.to_array(tensor)
    except Exception:
        return True  # unreadable data: build_ir reports it
    return values.dtype.kind not in "fc" or bool(np.all(np.isfinite(values)))


def _check_opset(model: onnx.ModelProto, path: Union[str, os.PathLike]) -> None:
    """The standard opset must be one we know, if any node uses it: a model of only
    ``ai.onnx.ml`` nodes (old onnxmltools files import nothing else) goes on to have each
    node named for what it is."""
    if all(node.domain not in ("", "ai.onnx") for node in model.graph.node):
        return
    opset = default_opset(model)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ModelLoadError(
            f"{path}: opset {opset} is outside the supported range {MIN_OPSET} to {newest}")


def external_data_files(path: Union[str, os.PathLike]) -> list[Path]:
    """The files an ONNX model's tensors keep their data in (resolved; none for a file
    that is no readable model): what an output must not overwrite."""
    try:
        model = onnx.load_model_from_string(
            files.read_bytes(Path(path), "ONNX model", files.MODEL_LIMIT))
        folder = Path(path).resolve().parent
        return list(dict.fromkeys((folder / location).resolve()
                                  for _, location in _external_tensors(model) if location))
    except Exception:  # loading the model reports what is wrong with it, by name
        return []


def _external_tensors(model: onnx.ModelProto) -> list[tuple[onnx.TensorProto, str]]:
    """Every tensor stored as external data, with its 'location' ("" if it names none)."""
    return [(tensor, next((e.value for e in tensor.external_data if e.key == "location"), ""))
            for tensor in external_data_helper._get_all_tensors(model)
            if external_data_helper.uses_external_data(tensor)]


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read every tensor's external data, after checking all of them: each file inside
    the model's folder, each tensor's bytes inside its file, and the total read no more
    than the files hold (tensors sharing bytes could otherwise make 1 MB of data read as
    gigabytes) and under the model limit."""
    folder = path.resolve().parent
    spans = [_external_span(tensor, location, folder, path)
             for tensor, location in _external_tensors(model)]
    total = sum(length for _, _, _, length in spans)
    held = sum(target.stat().st_size for target in {target for _, target, _, _ in spans})
    if total > held:
        raise ModelLoadError(f"{path}: its tensors read {total:,} bytes of external data "
                             f"from files holding {held:,}: tensors share bytes, which no "
                             "exporter writes; refused")
    if total > files.MODEL_LIMIT:
        raise ModelLoadError(f"{path}: its tensors' external data is {total:,} bytes; the "
                             f"limit is {files.MODEL_LIMIT:,}")
    for tensor, target, offset, length in spans:
        try:
            with open(target, "rb") as stream:
                stream.seek(offset)
                tensor.raw_data = stream.read(length)
        except OSError as exc:
            raise ModelLoadError(f"{path}: cannot read external data {files.quote(target.name)}"
                                 f" ({exc.strerror})") from None
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _external_span(tensor: onnx.TensorProto, location: str, folder: Path,
                   path: Path) -> tuple[onnx.TensorProto, Path, int, int]:
    """(tensor, file, offset, length) of one tensor's external data, checked before a
    byte is read: the file is a regular file inside the model's folder (stat only), and
    offset and length agree with the file and the tensor's declared shape, so a wrong
    length never reads a whole large file."""
    where = f"{path}: tensor {files.quote(tensor.name)}"
    if not location:
        raise ModelLoadError(f"{where} is stored as external data but names no file (no "
                             "'location')")
    shown = files.quote(location, 120)
    unusable = ModelLoadError(f"{where} has an unusable external data location {shown}")
    try:
        target = (folder / location).resolve()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        raise unusable from None
    if os.path.isabs(location) or folder not in target.parents:
        raise ModelLoadError(f"{where} points to external data {shown} outside the model's "
                             "folder; refused")
    try:
        problem = ("" if target.is_file() else "which is not a regular file"
                   if target.exists() else "which is missing")
    except (OSError, ValueError):  # names too long
        raise unusable from None
    if problem:
        raise ModelLoadError(f"{where} needs external data file {shown}, {problem}")
    entries = {e.key: e.value for e in tensor.external_data}
    try:
        offset = int(entries.get("offset") or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError:
        raise ModelLoadError(f"{where}: external data offset or length is not a "
                             "number") from None
    itemsize = _ITEMSIZE.get(tensor.data_type)
    if itemsize is None:
        raise ModelLoadError(f"{where}: external data of element type "
                             f"{ELEMENT_TYPES.get(tensor.data_type, tensor.data_type)} "
                             "cannot be read")
    expected = math.prod(tensor.dims) * itemsize
    size = target.stat().st_size
    if offset < 0 or (length is not None and length < 0):
        raise ModelLoadError(f"{where}: negative external data offset or length")
    if length is not None and length != expected:
        raise ModelLoadError(f"{where}: external data length {length} bytes does not match "
                             f"the declared shape {list(tensor.dims)}, {expected} bytes")
    if offset + expected > size:
        raise ModelLoadError(f"{where}: external data needs bytes {offset} to "
                             f"{offset + expected} of {shown}, which has {size}")
    return tensor, target, offset, expected


ELEMENT_TYPES = {value: name for name, value in onnx.TensorProto.DataType.items()}
# Bytes per element of the types external data can hold (raw little-endian data).
_ITEMSIZE = {t: np.dtype(helper.tensor_dtype_to_np_dtype(t)).itemsize
             for t in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE,
                       onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                       onnx.TensorProto.INT8, onnx.TensorProto.UINT8,
                       onnx.TensorProto.INT16, onnx.TensorProto.UINT16,
                       onnx.TensorProto.INT32, onnx.TensorProto.UINT32,
                       onnx.TensorProto.INT64, onnx.TensorProto.UINT64,
                       onnx.TensorProto.BOOL)}


def _one_line(exc: BaseException) -> str:
    """The error's text on one line: the checker spreads one sentence over several."""
    return _shorten(" ".join(str(exc).split()) or type(exc).__name__, 300)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
