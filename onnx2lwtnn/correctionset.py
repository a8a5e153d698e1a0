"""IR (after the passes) -> a correctionlib CorrectionSet (schema v2) whose corrections
run the network through correctionlib's ``lwtnn`` node, lwtnn's own C++.

One correction per output label: its value is that label (or ``finalizer``, a TFormula
over ``x[0], x[1], ...`` in label order). Its inputs are the network's variables (real,
in order); its content is the ``transform`` nodes of the input transforms the network
starts with (``input_transforms``), then the ``lwtnn`` node holding our sequential form
of the network (``emit``'s, carried into one chain). ``fold`` puts several such sets, one
per fold of an analysis, under a ``category`` node on an integer input.

The file is checked with our own schema (shipped with the package) and, where
correctionlib is installed, by correctionlib's own model and C++ reader too. ``read``
takes a CorrectionSet apart again (for ``check`` and ``inspect``), and ``evaluate_numpy``
computes one without correctionlib: the formulas with ``tformula``, the network with
``onnx2lwtnn.lwtnn``.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from jsonschema import Draft202012Validator

from . import input_transforms, lwtnn_cpp, tformula
from .defaults import SEQUENTIAL
from .emit import emit
from .errors import ModelLoadError, UsageError
from .interface import Interface
from .ir import IRGraph
from .lwtnn import load_network
from .lwtnn.sequential import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT
from .passes.drop_dead import drop_unreachable
from .side_by_side import refuse_sequences

SCHEMA_VERSION = 2
VALUE = "value"  # the output of a correction whose finalizer combines labels


@dataclass(frozen=True)
class Naming:
    """What the corrections are called and say: ``name`` (alone for one value, else the
    prefix of ``<name>_<label>``), an optional ``finalizer`` TFormula over the labels,
    and the ``description`` naming the source model."""

    name: str
    description: str
    finalizer: Optional[str] = None


# -- writing --------------------------------------------------------------------------------
def naming(model: Any, proto: Any, name: Optional[str] = None,
           finalizer: Optional[str] = None) -> Naming:
    """A model's corrections' names and description: the file stem unless ``name``, and
    the file (or, for an in-memory model, its serialised bytes) by its sha256."""
    from . import __version__

    if isinstance(model, (str, os.PathLike)):
        digest, stem, source = _sha256(model), Path(model).stem, Path(model).name
    else:
        digest = hashlib.sha256(proto.SerializeToString()).hexdigest()
        stem, source = "model", "an in-memory ONNX model"
    name = stem if name is None else name
    if not name:
        raise UsageError("correction_name= is empty; a correction needs a name")
    return Naming(name, f"converted by onnx2lwtnn {__version__} from {source} (sha256 "
                        f"{digest})", finalizer)


def _sha256(path: Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(ir: IRGraph, interface: Interface, naming: Naming,
          columns: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The CorrectionSet of a converted IR; ``columns`` names each ONNX input's variables
    (the inputs' descriptions say where each comes from)."""
    refuse_sequences(ir)
    sources = {v: f"feature {i} of ONNX input '{name}'"
               for name, names in columns.items() for i, v in enumerate(names)}
    networks = [_output_network(ir, interface, output) for output in ir.outputs]
    labels = [label for network, _ in networks for label in network["outputs"]]
    if naming.finalizer is not None and len(networks) != 1:
        raise UsageError(f"finalizer= combines the labels of one output, and the model has "
                         f"{len(networks)}; choose one with outputs=")
    corrections = []
    for network, transforms in networks:
        inputs = [{"name": v["name"], "type": "real",
                   "description": _input_description(v["name"], sources, transforms)}
                  for v in network["inputs"]]
        content = lambda finalizer: _with_transforms(  # noqa: E731
            {"nodetype": "lwtnn", "opaque": network, "finalizer": finalizer}, transforms)
        if naming.finalizer is not None:
            corrections.append(_correction(
                naming.name, naming.description, inputs,
                {"name": VALUE, "type": "real",
                 "description": f"{naming.finalizer} of the outputs "
                                f"{', '.join(network['outputs'])} (x[0], x[1], ...)"},
                content(formula(naming.finalizer, network["outputs"]))))
            continue
        for label in network["outputs"]:
            name = naming.name if len(labels) == 1 else f"{naming.name}_{label}"
            corrections.append(_correction(
                name, naming.description, inputs,
                {"name": label, "type": "real", "description": f"the network's output {label}"},
                content(formula("x", [label]))))
    _unique([c["name"] for c in corrections], "corrections")
    return {"schema_version": SCHEMA_VERSION, "description": naming.description,
            "corrections": corrections}


def formula(expression: str, variables: Sequence[str]) -> dict[str, Any]:
    """A TFormula node over ``variables`` (x[0], x[1], ...); UsageError if correctionlib's
    grammar does not read it or it reads a variable there is not."""
    try:
        read = tformula.variables_read(tformula.parse(expression))
    except tformula.FormulaError as exc:
        raise UsageError(f"finalizer= {expression!r}: {exc}") from None
    if read and max(read) >= len(variables):
        raise UsageError(f"finalizer= {expression!r} reads x[{max(read)}], but the output has "
                         f"{len(variables)} labels ({', '.join(variables)}): x[0] to "
                         f"x[{len(variables) - 1}]")
    return {"nodetype": "formula", "parser": "TFormula", "expression": expression,
            "variables": list(variables)}


def _output_network(ir: IRGraph, interface: Interface,
                    output: str) -> tuple[dict, dict[str, str]]:
    """The sequential network computing one output, and its variables' transforms."""
    single = copy.deepcopy(ir)
    single.outputs = [output]
    for other in [n for n in ir.outputs if n != output]:
        single.remove(other)
    drop_unreachable.run(single)
    network = emit(single, interface, SEQUENTIAL)
    (node,) = single.inputs
    chains = single.attrs(node).get("transforms", {})
    names = [v["name"] for v in network["inputs"]]
    return network, {names[feature]: input_transforms.text(chain)
                     for feature, chain in sorted(chains.items()) if chain}


def _with_transforms(content: dict, transforms: Mapping[str, str]) -> dict:
    for name, expression in reversed(list(transforms.items())):
        content = {"nodetype": "transform", "input": name,
                   "rule": {"nodetype": "formula", "parser": "TFormula",
                            "expression": expression, "variables": [name]},
                   "content": content}
    return content


def _input_description(name: str, sources: Mapping[str, str], transforms: Mapping[str, str]):
    text = sources.get(name, "")
    if name in transforms:
        text += f"{'; ' if text else ''}the network reads {transforms[name]} of it"
    return text


def _correction(name: str, description: str, inputs: list, output: dict, data: dict) -> dict:
    return {"name": name, "description": description, "version": 1, "inputs": inputs,
            "output": output, "data": data}


def fold(sets: Sequence[dict], fold_input: str, models: Sequence[str]) -> dict[str, Any]:
    """One CorrectionSet choosing, by the integer input ``fold_input``, the k-th set's
    correction for k = 0, 1, ...: the folds of a network (trained on some events, applied
    to the others). UsageError unless every set has the same corrections and inputs."""
    first = sets[0]["corrections"]
    for k, other in enumerate(sets[1:], start=1):
        _same_interface(first, other["corrections"], models[0], models[k])
    names = {v["name"] for c in first for v in c["inputs"]}
    if fold_input in names:
        raise UsageError(f"fold_input= '{fold_input}' is also the name of a variable; "
                         "choose another name for the fold")
    which = ", ".join(f"{k} for {model}" for k, model in enumerate(models))
    fold_variable = {"name": fold_input, "type": "int",
                     "description": f"which fold's network computes the event: {which}"}
    description = "folds by " + fold_input + ": " + "; ".join(
        f"{k}: {s['description']}" for k, s in enumerate(sets))
    corrections = []
    for i, correction in enumerate(first):
        branches = [{"key": k, "value": s["corrections"][i]["data"]} for k, s in enumerate(sets)]
        corrections.append({**correction, "description": description,
                            "inputs": [*correction["inputs"], fold_variable],
                            "data": {"nodetype": "category", "input": fold_input,
                                     "content": branches}})
    return {"schema_version": SCHEMA_VERSION, "description": description,
            "corrections": corrections}


def _same_interface(first: list, other: list, name: str, other_name: str) -> None:
    def shape(corrections: list) -> list:
        return [(c["name"], [v["name"] for v in c["inputs"]]) for c in corrections]

    if shape(first) != shape(other):
        mine, theirs = shape(first), shape(other)
        what = ("corrections " + ", ".join(n for n, _ in mine) + " vs " +
                ", ".join(n for n, _ in theirs)) if [n for n, _ in mine] != [
            n for n, _ in theirs] else (
            "inputs " + " ".join(mine[0][1]) + " vs " + " ".join(theirs[0][1]))
        raise UsageError(f"the folds differ: {name} and {other_name} must have the same "
                         f"interface (names and widths), but they have {what}")


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    twice = next((n for n in names if n in seen or seen.add(n)), None)
    if twice is not None:
        raise UsageError(f"two {what} would both be named '{twice}'")


# -- validating -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads((resources.files(__package__) / "schema" /
                         "correctionset.schema.json").read_text())
    return Draft202012Validator(schema)


def validate(document: Any, where: str = "CorrectionSet") -> None:
    """Our schema, then (where installed) correctionlib's own model and C++ reader; a
    ModelLoadError names the first problem."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = "/".join(map(str, error.absolute_path)) or "(top)"
        raise ModelLoadError(f"{where}: not a CorrectionSet (schema v2): at {path}: "
                             f"{error.message[:300]}")
    for correction in document["corrections"]:
        for branch in _branches(correction, where):
            try:
                load_network(branch.network)
            except Exception as exc:  # LwtnnFormatError: the network lwtnn would refuse
                raise ModelLoadError(f"{where}: correction '{correction['name']}': its lwtnn "
                                     f"network is not one lwtnn reads: {exc}") from None
    if lwtnn_cpp.version() is not None:
        _correctionlib_validate(document, where)


def _correctionlib_validate(document: dict, where: str) -> None:
    from correctionlib import CorrectionSet, schemav2

    try:
        schemav2.CorrectionSet.model_validate(document)
        CorrectionSet.from_string(json.dumps(document))
    except Exception as exc:  # pydantic's ValidationError, the C++ reader's RuntimeError
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise ModelLoadError(f"{where}: correctionlib refuses it: "
                             f"{' '.join(lines[:3])[:400]}") from None


# -- reading --------------------------------------------------------------------------------
@dataclass
class Branch:
    """What one network of a correction computes: the transforms of its inputs, the
    network, and the finalizer over its outputs; ``key``: its fold, or None."""

    key: Optional[int]
    transforms: dict[str, str]
    network: dict
    finalizer: dict


@dataclass
class Correction:
    name: str
    inputs: list[str]
    fold_input: Optional[str]
    branches: list[Branch] = field(default_factory=list)
    description: str = ""


def read(document: dict, where: str = "CorrectionSet") -> list[Correction]:
    """The corrections of a validated CorrectionSet that hold lwtnn networks, taken apart;
    ModelLoadError for any other kind of correction."""
    return [Correction(c["name"], [v["name"] for v in c["inputs"]],
                       c["data"]["input"] if c["data"].get("nodetype") == "category" else None,
                       _branches(c, where), c.get("description") or "")
            for c in document["corrections"]]


def _branches(correction: dict, where: str) -> list[Branch]:
    data = correction["data"]
    if isinstance(data, dict) and data.get("nodetype") == "category":
        return [_branch(item["value"], item["key"], correction["name"], where)
                for item in data["content"]]
    return [_branch(data, None, correction["name"], where)]


def _branch(content: Any, key: Optional[int], name: str, where: str) -> Branch:
    transforms = {}
    while isinstance(content, dict) and content.get("nodetype") == "transform":
        rule = content["rule"]
        if not (isinstance(rule, dict) and rule.get("nodetype") == "formula"
                and rule["variables"] == [content["input"]]):
            break
        transforms[content["input"]] = rule["expression"]
        content = content["content"]
    if not (isinstance(content, dict) and content.get("nodetype") == "lwtnn"):
        raise ModelLoadError(f"{where}: correction '{name}' is not an lwtnn network with "
                             "input transforms (and folds), as onnx2lwtnn writes them")
    return Branch(key, transforms, content["opaque"], content["finalizer"])


# -- evaluating -----------------------------------------------------------------------------
def evaluate_numpy(correction: Correction, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The correction on raw input columns (name -> values), with ``tformula`` and
    ``onnx2lwtnn.lwtnn``: what correctionlib computes, without it."""
    count = len(next(iter(columns.values())))
    result = np.full(count, np.nan)
    for branch in correction.branches:
        chosen = (np.ones(count, dtype=bool) if branch.key is None
                  else np.asarray(columns[correction.fold_input]) == branch.key)
        if not chosen.any():
            continue
        values = {name: np.asarray(columns[name], dtype=np.float64)[chosen]
                  for name in (v["name"] for v in branch.network["inputs"])}
        for name, expression in branch.transforms.items():
            values[name] = tformula.evaluate(tformula.parse(expression), [values[name]])
        matrix = np.stack([values[v["name"]] for v in branch.network["inputs"]], axis=1)
        outputs = load_network(branch.network).evaluate({SEQUENTIAL_INPUT: matrix})
        by_label = dict(zip(branch.network["outputs"], outputs[SEQUENTIAL_OUTPUT].T))
        final = branch.finalizer
        result[chosen] = tformula.evaluate(tformula.parse(final["expression"]),
                                           [by_label[label] for label in final["variables"]])
    return result


def evaluate_correctionlib(document: dict, name: str, inputs: Sequence[str],
                           columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The correction through correctionlib (its C++, lwtnn's included)."""
    import correctionlib

    evaluator = correctionlib.CorrectionSet.from_string(json.dumps(document))[name]
    return np.asarray(evaluator.evaluate(*(columns[n] for n in inputs)), dtype=np.float64)
