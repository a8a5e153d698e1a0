"""lwtnn's own spec forms, and the parallel offset/scale arrays analyses publish.

- lwtnn's graph spec, as kerasfunc2json takes it: ``{"inputs": [{"name", "variables":
  [{"name", "offset", "scale", "default"?}]}], "input_sequences": [the same, for
  sequence inputs], "outputs": [{"name", "labels"}]}``; an output entry with
  ``"onnx_output": "39"`` renames ONNX output ``39`` to its ``name``;
- lwtnn's sequential spec, as keras2json takes it: ``{"inputs": [{"name", "offset",
  "scale", "default"?}], "class_labels": [...], "miscellaneous": {...}}``;
- ``{"variables": [...], "offset": [...], "scale": [...]}``, whose meaning must be
  stated, because the two conventions in use are opposite: ``subtract-divide`` is
  ``(x - offset) / scale``, ``lwtnn`` is lwtnn's own ``(x + offset) * scale``.
"""
from __future__ import annotations

from typing import Optional

from ..errors import UsageError
from ..interface import Interface
from .common import (LWTNN, SUBTRACT_DIVIDE, check_input, named_variables, one_input,
                     single_input, variable)

RENAMED_FROM = "onnx_output"  # in a graph spec's output entry: the ONNX output it renames


def is_lwtnn_spec(spec: dict) -> bool:
    return "inputs" in spec


def read_lwtnn_spec(spec: dict, where: str, convention: Optional[str],
                    input_widths: dict[str, int], sequences: frozenset) -> Interface:
    if convention == SUBTRACT_DIVIDE:
        raise UsageError(f"{where}: an lwtnn variable spec always means (x + offset) * "
                         "scale; variables_convention='subtract-divide' applies only to "
                         "the {variables, offset, scale} form")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list):
        raise UsageError(f"{where}: not a variable spec ('inputs' is not a list)")
    graph_form = "input_sequences" in spec or "outputs" in spec
    if graph_form or (inputs and all(isinstance(i, dict) and "variables" in i for i in inputs)):
        return _graph_spec(spec, where, input_widths, sequences)
    return _sequential_spec(spec, where, input_widths, sequences)


def is_offset_arrays(spec: dict) -> bool:
    return "offset" in spec


def _graph_spec(spec: dict, where: str, input_widths: dict[str, int],
                sequences: frozenset) -> Interface:
    interface = Interface()
    for key, is_sequence in (("inputs", False), ("input_sequences", True)):
        for node in spec.get(key, []):
            name = node.get("name")
            variables = [variable(v, where, LWTNN) for v in node["variables"]]
            check_input(where, name, len(variables), input_widths)
            if (name in sequences) != is_sequence:
                right = "input_sequences" if name in sequences else "inputs"
                raise UsageError(f"{where}: input '{name}' belongs under '{right}'")
            named_variables(interface, name, sequences)[name] = variables
    for output in spec.get("outputs", []):
        onnx_name = output.get(RENAMED_FROM, output["name"])
        interface.output_labels[onnx_name] = [str(label) for label in output["labels"]]
        if onnx_name != output["name"]:
            interface.output_names[onnx_name] = output["name"]
    return interface


def _sequential_spec(spec: dict, where: str, input_widths: dict[str, int],
                     sequences: frozenset) -> Interface:
    name = single_input(where, input_widths)
    variables = [variable(v, where, LWTNN) for v in spec["inputs"]]
    check_input(where, name, len(variables), input_widths)
    interface = Interface(miscellaneous=dict(spec.get("miscellaneous", {})))
    named_variables(interface, name, sequences)[name] = variables
    if "class_labels" in spec:
        interface.default_labels = [str(label) for label in spec["class_labels"]]
    return interface


def read_offset_arrays(spec: dict, where: str, convention: Optional[str],
                       input_widths: dict[str, int], sequences: frozenset) -> Interface:
    if convention is None:
        raise UsageError(f"{where}: a {{variables, offset, scale}} spec needs "
                         "variables_convention=: 'subtract-divide' if the analysis computes "
                         "(x - offset) / scale, 'lwtnn' if it computes (x + offset) * scale")
    names, offsets, scales = (spec.get(k) for k in ("variables", "offset", "scale"))
    lengths = {len(a) if isinstance(a, list) else None for a in (names, offsets, scales)}
    if len(lengths) != 1 or None in lengths:
        raise UsageError(f"{where}: 'variables', 'offset' and 'scale' must be lists of one "
                         "length")
    entries = [{"name": n, "offset": o, "scale": s} for n, o, s in zip(names, offsets, scales)]
    return one_input(where, [variable(e, where, convention) for e in entries],
                     input_widths, sequences)


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
