"""Prove a CorrectionSet: its corrections against the float64 evaluation of each ONNX
model they were converted from, as ``check`` proves an lwtnn network.

Events are drawn in the raw units of the correction's inputs: unit-normal values where
the network reads them (after its input preprocessing), mapped back through the
network's offsets and scales and, for a transformed input, through the inverse of its
formula, so that ``log(pt)`` sees positive ``pt``; then the centre events. With folds,
each fold's events are drawn from its own network and carry its fold number, and are
compared with its own model. The corrections are evaluated through correctionlib (its
C++, lwtnn's included) where it is installed, else with ``correctionset.evaluate_numpy``;
with correctionlib, the two are also compared with each other.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import onnx

from . import correctionset, lwtnn_cpp, tformula
from .check import (CENTRE_STEPS, DEFAULT_TOLERANCE, FLOAT32_TOLERANCE,
                    VERIFICATION_EVENTS, CheckReport, CppComparison, Events, Preparation,
                    _compare, _evaluate_onnx, _max_rel, _onnx_models)
from .errors import ConversionWarning, ReferenceRunError, UsageError, VerificationError
from .interface import Interface
from .reference import OnnxModel


@dataclass
class Source:
    """A model a CorrectionSet was converted from (one per fold): what its ONNX inputs'
    variables are called (``interface``), what it is fed (``preparation``), and how the
    report names it."""

    model: onnx.ModelProto
    name: str
    interface: Interface
    preparation: Preparation = Preparation()
    outputs: Optional[Sequence[str]] = None
    fixed: frozenset = frozenset()  # variables frozen by fix=, which preparation puts back


def check_correction_set(document: dict, sources: Sequence[Source], *,
                         fold_input: Optional[str] = None, events: int = 1000,
                         seed: int = 0, tolerance: Optional[float] = None,
                         require_float64: bool = False) -> CheckReport:
    """Compare every correction with its models on ``events`` drawn events per fold.
    ``require_float64``: ReferenceRunError where a model has no float64 evaluation
    (verification), instead of comparing at the float32 bound."""
    if events < 1:
        raise UsageError(f"events={events}: no event to compare; give at least one per fold")
    corrections = correctionset.read(document)
    folds = _folds(corrections, sources, fold_input)
    models = []
    for source in sources:
        reference, _, fallback = _onnx_models(source.model)
        if fallback and require_float64:
            raise ReferenceRunError(fallback)
        models.append((reference, fallback))
    fallback = next((f for _, f in models if f), "")
    if tolerance is None:
        tolerance = FLOAT32_TOLERANCE if fallback else DEFAULT_TOLERANCE
    columns, fold_of = _draw(corrections[0], folds, events, seed)
    ours, cpp = _evaluate(document, corrections, columns)
    backend = ", ".join(dict.fromkeys(reference.backend for reference, _ in models))
    report = CheckReport(len(fold_of), backend, tolerance, fallback=fallback, hints=False)
    report.cpp = None if cpp.skipped else cpp
    for k, ((reference, _), source) in enumerate(zip(models, sources)):
        chosen = fold_of == k
        expected = _reference(reference, source, {n: v[chosen] for n, v in columns.items()})
        for correction in corrections:
            branch = correction.branches[k if correction.fold_input else 0]
            final = branch.finalizer
            wanted = tformula.evaluate(tformula.parse(final["expression"]),
                                       [_label(expected, source, label, correction.name)
                                        for label in final["variables"]])
            label = (f"fold {k} ({source.name})" if correction.fold_input
                     else ", ".join(final["variables"]))
            report.rows.append(_compare(correction.name, label, ours[correction.name][chosen],
                                        wanted, tolerance))
    if cpp.version and not cpp.skipped and not cpp.refused:
        cpp.vs_reference = max((row.max_rel for row in report.rows), default=0.0)
    return report


def _folds(corrections: list, sources: Sequence[Source], fold_input: Optional[str]) -> list:
    """The branches of each fold of the first correction, checking that the set's folds
    are the models given."""
    first = corrections[0]
    if first.fold_input != fold_input:
        if first.fold_input is None:
            raise UsageError(f"fold_input= '{fold_input}': the CorrectionSet has no folds")
        raise UsageError(f"the CorrectionSet chooses its network by '{first.fold_input}'; "
                         f"give fold_input='{first.fold_input}' and one model per fold")
    if len(first.branches) != len(sources):
        raise UsageError(f"the CorrectionSet has {len(first.branches)} fold(s) and "
                         f"{len(sources)} model(s) were given; give one model per fold, "
                         "in fold order")
    keys = [branch.key for branch in first.branches]
    if first.fold_input is not None and keys != list(range(len(keys))):
        raise UsageError(f"the folds are keyed {keys}; onnx2lwtnn's are 0, 1, ...")
    return first.branches


def _draw(correction, branches: list, count: int, seed: int
          ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Raw input columns for every fold (``count`` events each, the centre events last)
    and the fold of each event."""
    rng = np.random.default_rng(seed)
    centres = min(len(CENTRE_STEPS), count // 2)
    pieces: dict[str, list[np.ndarray]] = {}
    for k, branch in enumerate(branches):
        unit = np.concatenate([rng.normal(size=(count - centres, len(branch.network["inputs"]))),
                               np.repeat(np.array(CENTRE_STEPS[:centres]).reshape(-1, 1),
                                         len(branch.network["inputs"]), axis=1)])
        for column, variable in enumerate(branch.network["inputs"]):
            pieces.setdefault(variable["name"], []).append(
                _raw(unit[:, column], variable, branch.transforms.get(variable["name"])))
        if correction.fold_input is not None:
            pieces.setdefault(correction.fold_input, []).append(np.full(count, k))
    columns = {name: np.concatenate(parts) for name, parts in pieces.items()}
    missing = [name for name in correction.inputs if name not in columns]
    for name in missing:  # an input no network reads: any value
        columns[name] = np.zeros(count * len(branches))
    fold_of = np.repeat(np.arange(len(branches)), count)
    return columns, fold_of


def _raw(unit: np.ndarray, variable: dict, transform: Optional[str]) -> np.ndarray:
    """Raw values whose preprocessed (and transformed) value is ``unit``, exact floats."""
    scale = variable.get("scale", 1.0)
    value = unit / (scale if scale != 0 else 1.0) - variable.get("offset", 0.0)
    if transform is not None:
        try:
            value = tformula.invert(tformula.parse(transform), value)
        except tformula.FormulaError:
            pass  # a formula no inversion follows: the values as drawn
    return np.asarray(value, dtype=np.float32).astype(np.float64)


def _evaluate(document: dict, corrections: list, columns: Mapping[str, np.ndarray]
              ) -> tuple[dict[str, np.ndarray], CppComparison]:
    """Each correction's values (correctionlib's where it is installed), and how
    correctionlib and the numpy evaluation compare."""
    numpy_values = {c.name: correctionset.evaluate_numpy(c, columns) for c in corrections}
    version = lwtnn_cpp.version()
    if version is None:
        return numpy_values, CppComparison(
            skipped="correctionlib >= 2.9 is not installed (pip install correctionlib); "
                    "evaluated with onnx2lwtnn.lwtnn instead")
    try:
        cpp_values = {c.name: correctionset.evaluate_correctionlib(
                          document, c.name, c.inputs,
                          {**columns, **({c.fold_input: columns[c.fold_input].astype(np.int64)}
                                         if c.fold_input else {})})
                      for c in corrections}
    except Exception as exc:  # correctionlib's RuntimeError, ValueError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return numpy_values, CppComparison(version, float("nan"), float("nan"),
                                           refused=first[:300])
    agreement = max((_max_rel(cpp_values[n], numpy_values[n]) for n in cpp_values), default=0.0)
    return cpp_values, CppComparison(version, agreement, 0.0)


def _reference(model: OnnxModel, source: Source,
               columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's outputs for the raw columns, fed as its preparation says."""
    vectors = {}
    for name, shape in model.input_shapes.items():
        width = shape[-1] if shape and isinstance(shape[-1], int) else None
        if width is None:
            raise UsageError(f"ONNX input '{name}' has no fixed width")
        variables = [v.name for v in source.interface.variables(name, width)
                     if v.name not in source.fixed]
        missing = [v for v in variables if v not in columns]
        if missing:
            raise UsageError(f"{source.name} reads {', '.join(missing[:5])}, which the "
                             "CorrectionSet has no input for (a variable spec names them "
                             "otherwise, or they were fixed when it was converted)")
        present = variables
        vectors[name] = np.stack([columns[v] for v in present], axis=1) if present else \
            np.zeros((len(next(iter(columns.values()))), 0))
    events = Events(vectors, {})
    return _evaluate_onnx(model, events, source.preparation, None)


def _label(expected: Mapping[str, np.ndarray], source: Source, label: str,
           correction: str) -> np.ndarray:
    """The reference column of an output label."""
    for name, values in expected.items():
        if source.outputs is not None and name not in source.outputs:
            continue
        labels = source.interface.labels(name, values.shape[1])
        if label in labels:
            return values[:, labels.index(label)]
    raise UsageError(f"correction '{correction}' reads the network output '{label}', which "
                     f"is no label of {source.name}'s outputs (if a variable spec names "
                     "them, give the same spec)")



def verify_correction_set(document: dict, sources: Sequence[Source],
                          fold_input: Optional[str] = None) -> None:
    """What every conversion to a CorrectionSet does before it writes: the check on a few
    events at the default bound; VerificationError if it fails, a ConversionWarning (not
    verified) where no float64 evaluation of a model exists."""
    try:
        report = check_correction_set(document, sources, fold_input=fold_input,
                                      events=VERIFICATION_EVENTS, require_float64=True)
    except ReferenceRunError as exc:
        warnings.warn(f"not verified: {exc}", ConversionWarning, stacklevel=3)
        return
    if not report.passed:
        raise VerificationError(", ".join(s.name for s in sources), report)
