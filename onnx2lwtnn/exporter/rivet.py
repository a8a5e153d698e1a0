"""What Rivet's ONNX interface (``RivetONNXrt``) reads, for ``export --for rivet``.

RivetONNXrt feeds each input as one flat ``std::vector<float>`` (its shape read from
the model, a symbolic batch taken as 1) and reads float outputs, so the model's
inputs and outputs are float32 [N, width], one input per lwtnn input node; inside, it
computes in float64 as lwtnn does (casts at the boundary). Its metadata reader
``retrieve<std::vector<T>>(key)`` splits a value at commas (dropping empty items) and
converts each item with ``boost::lexical_cast``, so the lists here are comma-separated,
without spaces, one item per variable or label:

- ``input_names``, ``output_names``: the model's inputs and outputs, in order;
- ``<input>.variables``, ``<input>.offsets``, ``<input>.scales``, ``<input>.defaults``
  (``nan`` for a variable without a default) for each input node;
- ``<output>.labels`` for each output;
- with one input and one output (lwtnn's sequential format, Rivet's usual case), the
  same without the prefix: ``variables``, ``offsets``, ``scales``, ``defaults``,
  ``labels``.

The JSON metadata of every export (``lwtnn.inputs`` ...) is kept too. Sequences
cannot be fed through RivetONNXrt (a fixed shape per input), and a name holding a
comma (or an empty one) cannot be listed: both are refused.
"""
from __future__ import annotations

from typing import Any, Mapping

from .. import files
from ..errors import UsageError
from ..lwtnn.validate import document_kind

RIVET = "rivet"


def check_rivet(doc: Mapping[str, Any], where: str) -> None:
    """Refuse (UsageError) what RivetONNXrt cannot feed or its metadata cannot list."""
    if document_kind(doc) == "graph" and doc["input_sequences"]:
        raise UsageError(f"{where}: input sequence(s) "
                         f"{', '.join(files.quote(n['name']) for n in doc['input_sequences'])}: "
                         "Rivet's ONNX interface feeds fixed-shape inputs only; export "
                         "without --for rivet")
    for kind, name in _names(doc):
        if not name or "," in name:
            raise UsageError(f"{where}: {kind} {files.quote(name)} cannot be listed in "
                             "Rivet's comma-separated metadata; rename it")


def _names(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    if document_kind(doc) == "sequential":
        return ([("variable", v["name"]) for v in doc["inputs"]]
                + [("output label", label) for label in doc["outputs"]])
    return ([("variable", v["name"]) for node in doc["inputs"] for v in node["variables"]]
            + [(kind, name) for name, out in doc["outputs"].items()
               for kind, name in [("output", name)] + [("output label", label)
                                                       for label in out["labels"]]]
            + [("input", node["name"]) for node in doc["inputs"]])


def rivet_metadata(inputs: list, outputs: list) -> dict[str, str]:
    """The comma-separated lists RivetONNXrt's ``retrieve<std::vector<T>>`` reads
    (``inputs``/``outputs``: the exporter's ports; inputs carry ``variables``)."""
    metadata = {"input_names": _listed(p.name for p in inputs),
                "output_names": _listed(p.name for p in outputs)}
    for port in inputs:
        variables = {v["name"]: v for v in port.variables}
        metadata[f"{port.name}.variables"] = _listed(port.columns)
        for key, field in (("offsets", "offset"), ("scales", "scale")):
            metadata[f"{port.name}.{key}"] = _listed(
                _number(variables[c][field]) for c in port.columns)
        metadata[f"{port.name}.defaults"] = _listed(
            _number(port.defaults.get(c, float("nan"))) for c in port.columns)
    for port in outputs:
        metadata[f"{port.name}.labels"] = _listed(port.columns)
    if len(inputs) == 1 and len(outputs) == 1:
        (single,), (out,) = inputs, outputs
        for key in ("variables", "offsets", "scales", "defaults"):
            metadata[key] = metadata[f"{single.name}.{key}"]
        metadata["labels"] = metadata[f"{out.name}.labels"]
    return metadata


def _listed(items: Any) -> str:
    return ",".join(items)


def _number(value: float) -> str:
    """Shortest text that reads back as the same double (``nan`` for NaN, which
    lexical_cast reads)."""
    value = float(value)
    return "nan" if value != value else repr(value)
