"""Variable specs in, an ``Interface`` (names, preprocessing, labels) out.

Three forms are read:
- lwtnn's graph spec, as kerasfunc2json takes it: ``{"inputs": [{"name", "variables":
  [{"name", "offset", "scale", "default"?}]}], "input_sequences": [the same, for
  sequence inputs], "outputs": [{"name", "labels"}]}``;
- lwtnn's sequential spec, as keras2json takes it: ``{"inputs": [{"name", "offset",
  "scale", "default"?}], "class_labels": [...], "miscellaneous": {...}}``;
- the parallel arrays analyses publish: ``{"variables": [...], "offset": [...],
  "scale": [...]}``, whose meaning must be stated, because the two conventions in use
  are opposite: ``subtract-divide`` is ``(x - offset) / scale``, ``lwtnn`` is lwtnn's
  own ``(x + offset) * scale``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

from .errors import UsageError
from .interface import Interface, Variable

LWTNN, SUBTRACT_DIVIDE = "lwtnn", "subtract-divide"
CONVENTIONS = (LWTNN, SUBTRACT_DIVIDE)


def read_spec(source: Union[str, os.PathLike, dict], convention: Optional[str],
              input_widths: dict[str, int], sequences: frozenset = frozenset()) -> Interface:
    """Parse a spec against the model's inputs (name -> number of features; the names in
    ``sequences`` are sequence inputs, whose width is per time step)."""
    spec, where = _load(source)
    if convention is not None and convention not in CONVENTIONS:
        raise UsageError(f"unknown variables convention '{convention}'; use one of "
                         f"{', '.join(CONVENTIONS)}")
    if "variables" in spec and "inputs" not in spec:
        return _parallel_arrays(spec, where, convention, input_widths, sequences)
    if convention == SUBTRACT_DIVIDE:
        raise UsageError(f"{where}: an lwtnn variable spec always means (x + offset) * "
                         "scale; --variables-convention subtract-divide applies only to "
                         "the {variables, offset, scale} form")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list):
        raise UsageError(f"{where}: not a variable spec (no 'inputs' list and no "
                         "'variables' list)")
    graph_form = "input_sequences" in spec or "outputs" in spec
    if graph_form or (inputs and all(isinstance(i, dict) and "variables" in i for i in inputs)):
        return _graph_spec(spec, where, input_widths, sequences)
    return _sequential_spec(spec, where, input_widths, sequences)


def _graph_spec(spec: dict, where: str, input_widths: dict[str, int],
                sequences: frozenset) -> Interface:
    interface = Interface()
    for key, is_sequence in (("inputs", False), ("input_sequences", True)):
        for node in spec.get(key, []):
            name = node.get("name")
            variables = [_variable(v, where, LWTNN) for v in node["variables"]]
            _check_input(where, name, len(variables), input_widths)
            if (name in sequences) != is_sequence:
                right = "input_sequences" if name in sequences else "inputs"
                raise UsageError(f"{where}: input '{name}' belongs under '{right}'")
            _named_variables(interface, name, sequences)[name] = variables
    for output in spec.get("outputs", []):
        interface.output_labels[output["name"]] = [str(label) for label in output["labels"]]
    return interface


def _sequential_spec(spec: dict, where: str, input_widths: dict[str, int],
                     sequences: frozenset) -> Interface:
    name = _single_input(where, input_widths)
    variables = [_variable(v, where, LWTNN) for v in spec["inputs"]]
    _check_input(where, name, len(variables), input_widths)
    interface = Interface(miscellaneous=dict(spec.get("miscellaneous", {})))
    _named_variables(interface, name, sequences)[name] = variables
    if "class_labels" in spec:
        interface.default_labels = [str(label) for label in spec["class_labels"]]
    return interface


def _parallel_arrays(spec: dict, where: str, convention: Optional[str],
                     input_widths: dict[str, int], sequences: frozenset) -> Interface:
    if convention is None:
        raise UsageError(f"{where}: a {{variables, offset, scale}} spec needs "
                         "--variables-convention: 'subtract-divide' if the analysis computes "
                         "(x - offset) / scale, 'lwtnn' if it computes (x + offset) * scale")
    names, offsets, scales = (spec.get(k) for k in ("variables", "offset", "scale"))
    lengths = {len(a) if isinstance(a, list) else None for a in (names, offsets, scales)}
    if len(lengths) != 1 or None in lengths:
        raise UsageError(f"{where}: 'variables', 'offset' and 'scale' must be lists of one "
                         "length")
    name = _single_input(where, input_widths)
    _check_input(where, name, len(names), input_widths)
    entries = [{"name": n, "offset": o, "scale": s} for n, o, s in zip(names, offsets, scales)]
    interface = Interface()
    _named_variables(interface, name, sequences)[name] = [
        _variable(e, where, convention) for e in entries]
    return interface


def _named_variables(interface: Interface, name: str, sequences: frozenset) -> dict:
    return interface.sequence_variables if name in sequences else interface.input_variables


def _variable(entry: Any, where: str, convention: str) -> Variable:
    try:
        name, offset, scale = str(entry["name"]), float(entry["offset"]), float(entry["scale"])
        default = entry.get("default")
        default = None if default is None else float(default)
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{where}: each variable needs a name and numeric offset and "
                         f"scale; got {json.dumps(entry)[:80]}") from None
    if convention == SUBTRACT_DIVIDE:
        if scale == 0:
            raise UsageError(f"{where}: variable '{name}' has scale 0; (x - offset) / 0 is "
                             "undefined")
        offset, scale = -offset, 1.0 / scale
    return Variable(name, default, offset, scale)


def _check_input(where: str, name: Any, count: int, input_widths: dict[str, int]) -> None:
    if name not in input_widths:
        raise UsageError(f"{where}: unknown input '{name}'; the model's inputs are "
                         f"{', '.join(repr(n) for n in input_widths)}")
    if input_widths[name] is not None and count != input_widths[name]:  # None: unknown
        raise UsageError(f"{where}: the spec has {count} variables for input '{name}', "
                         f"but the ONNX input has {input_widths[name]} features")


def _single_input(where: str, input_widths: dict[str, int]) -> str:
    if len(input_widths) != 1:
        raise UsageError(f"{where}: this spec form describes one input, but the model has "
                         f"{len(input_widths)}; use lwtnn's graph spec form")
    return next(iter(input_widths))


def _load(source: Union[str, os.PathLike, dict]) -> tuple[dict, str]:
    if isinstance(source, dict):
        return source, "variable spec"
    path = Path(source)
    try:
        spec = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the variable spec ({exc.strerror})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: the variable spec is not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{path}: a variable spec is a JSON object")
    return spec, str(path)


def template(document: dict) -> dict:
    """A graph-form variable spec to fill in, from a converted lwtnn document."""
    def nodes(key: str) -> list[dict]:
        return [{"name": node["name"],
                 "variables": [{"name": v["name"], "offset": 0.0, "scale": 1.0}
                               for v in node["variables"]]}
                for node in document.get(key, [])]
    return {"inputs": nodes("inputs"), "input_sequences": nodes("input_sequences"),
            "outputs": [{"name": name, "labels": list(output["labels"])}
                        for name, output in document["outputs"].items()]}
