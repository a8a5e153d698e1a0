"""Prove a conversion: evaluate the ONNX model and the lwtnn network on the same events
and report, per output label, how far apart they are, the way ATLAS validates taggers.

lwtnn computes in double, so the reference is the ONNX graph evaluated in float64
(``reference.float64_copy``); a model no runtime here evaluates in float64 is compared
with its float32 evaluation at the float32 bound, and the report says so. The float32
runtime's difference is reported beside, as what a float32 deployment of the ONNX model
sees, without deciding the verdict.

Random events are drawn in raw units (the lwtnn input's ``(x + offset) * scale`` maps
them to unit normal values), so preprocessing folded into the input is exercised. When
the network was converted with a variable spec, the ONNX model is fed the spec's
preprocessed values, as the analysis would; that proves the conversion, not the spec.
The spec is proven only by reference outputs computed elsewhere from raw inputs
(``out_<output>`` arrays in a .npz, or columns named by output labels in a .csv),
which lwtnn must reproduce on those raw inputs.

Messages name the Python arguments (``variables=``); the CLI passes its own flag names.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import onnx

from . import files, lwtnn_cpp
from .defaults import DEFAULT_REFERENCE_TOLERANCE, DEFAULT_TOLERANCE, FLOAT32_TOLERANCE
from .errors import ReferenceRunError, UsageError
from .event_files import listed, parse_cell
from .interface import Interface
from .load import load_model
from .lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, EvaluationError, build_network
from .lwtnn.network import Network
from .lwtnn.sequential import sequential_form
from .lwtnn_file import read_lwtnn
from .npz_files import input_arrays
from .reference import FLOAT32, FLOAT64, TIME, OnnxModel
from .specs import LWTNN, SUBTRACT_DIVIDE, load as load_spec, read_spec
from .specs.lwtnn_forms import is_offset_arrays

EVALUATOR_AGREEMENT = 1e-3  # float64 reference evaluator vs float32 onnxruntime, at most
CPP_AGREEMENT = 1e-12  # lwtnn's C++ vs onnx2lwtnn.lwtnn: two implementations of one thing
THRESHOLDS = (1e-12, 1e-10, 1e-8, 1e-7, 1e-6, 1e-5)
MAX_SEQUENCE_LENGTH = 30
CHUNK = 10_000
# Drawn events end with these: every variable at its normalisation centre (where lwtnn's
# (x + offset) * scale is 0), and that many standard deviations (1 / scale) away, where
# an offset that is off by a little is multiplied by a large scale and shows.
CENTRE_STEPS = (0.0, 1.0, -1.0, 3.0, -3.0)
CENTRE_SEQUENCE_LENGTH = 5
VERIFICATION_EVENTS = 64 + len(CENTRE_STEPS)
PathLike = Union[str, os.PathLike]
OUTPUT_PREFIX = "out_"

PYTHON_NAMES = {"variables": "variables=", "variables_convention": "variables_convention=",
                "inputs": "inputs=", "tolerance": "tolerance=", "inputs_side": "inputs_side="}
# which side of a variable spec's preprocessing the events of ``inputs=`` are on: raw,
# as lwtnn is fed, or as the ONNX graph is fed (what an onnxruntime dump holds)
RAW_SIDE, ONNX_SIDE = "raw", "onnx"
INPUT_SIDES = (RAW_SIDE, ONNX_SIDE)
OTHER_CONVENTION = {LWTNN: SUBTRACT_DIVIDE, SUBTRACT_DIVIDE: LWTNN}


@dataclass
class LabelComparison:
    output: str
    label: str
    max_abs: float
    max_rel: float              # max |diff| / max(1, |reference|)
    fractions: dict[float, float]  # threshold -> fraction of events beyond it (relative)
    passed: bool
    float32_max_rel: Optional[float] = None  # the same against the float32 runtime


@dataclass
class PublishedComparison:
    """lwtnn on the raw inputs against reference outputs computed elsewhere."""

    n_events: int
    tolerance: float
    max_rel: float
    worst: str                  # "output/label" of max_rel
    passed: bool
    side: str = RAW_SIDE        # of the spec's preprocessing the given inputs are on
    # when they fail: the arguments under which the ONNX model gives the outputs ({} if
    # none of those tried does; None if nothing was tried)
    matches: Optional[dict[str, str]] = None


@dataclass
class CppComparison:
    """lwtnn's own C++ (correctionlib's lwtnn node) on the same events, or why it did not
    run (``skipped``)."""

    version: Optional[str] = None   # correctionlib's
    vs_numpy: float = 0.0           # max |C++ - numpy lwtnn| / max(1, |numpy lwtnn|)
    vs_reference: float = 0.0       # max |C++ - reference| / max(1, |reference|)
    skipped: str = ""               # why it did not run
    refused: str = ""               # what lwtnn's C++ said of a network the numpy one ran

    @property
    def passed(self) -> bool:
        return bool(self.skipped) or self.vs_numpy <= CPP_AGREEMENT  # NaN fails

    def line(self) -> str:
        if self.skipped:
            return f"lwtnn C++: not run ({self.skipped})"
        if self.refused:
            return (f"lwtnn C++ (correctionlib {self.version}): FAIL: lwtnn's C++ refused "
                    f"the network onnx2lwtnn.lwtnn ran: {self.refused}")
        if not self.passed:
            return (f"lwtnn C++ (correctionlib {self.version}): FAIL: lwtnn's C++ and "
                    f"onnx2lwtnn.lwtnn (numpy) disagree by up to {self.vs_numpy:.3g} "
                    f"(bound {CPP_AGREEMENT:g}); {self.vs_reference:.3g} from the reference")
        return (f"lwtnn C++ (correctionlib {self.version}): PASS: within "
                f"{self.vs_numpy:.3g} of onnx2lwtnn.lwtnn (bound {CPP_AGREEMENT:g}) and "
                f"{self.vs_reference:.3g} of the reference")


@dataclass
class CheckReport:
    n_events: int
    backend: str                # what computed the reference, e.g. "onnxruntime float64"
    tolerance: float
    rows: list[LabelComparison] = field(default_factory=list)
    refused_by_lwtnn: int = 0
    preprocessed: bool = False  # the lwtnn inputs carry an offset or scale
    spec: bool = False          # a variable spec preprocessed the ONNX side's inputs
    float32_backend: Optional[str] = None
    fallback: str = ""          # why the reference is not float64
    published: Optional[PublishedComparison] = None
    hints: bool = True          # suggest what the user may have left out (not in verify)
    cpp: Optional[CppComparison] = None

    @property
    def conversion_passed(self) -> bool:
        return all(row.passed for row in self.rows) and (self.cpp is None or self.cpp.passed)

    @property
    def passed(self) -> bool:
        return self.conversion_passed and (self.published is None or self.published.passed)

    def table(self, names: Mapping[str, str] = PYTHON_NAMES) -> str:
        """The report as text; ``names``: how to name the arguments in hints."""
        float32 = self.float32_backend is not None
        header = (["output", "label", "max |diff|", "max rel"]
                  + [f">{t:g}" for t in THRESHOLDS] + (["float32 rel"] if float32 else []))
        lines = [header] + [[r.output, r.label, f"{r.max_abs:.3g}", f"{r.max_rel:.3g}"]
                            + [f"{r.fractions[t]:.2%}" for t in THRESHOLDS]
                            + ([f"{r.float32_max_rel:.3g}"] if float32 else [])
                            for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                for line in lines]
        verdict = "PASS" if self.conversion_passed else "FAIL"
        text.append(f"{verdict}: {self.n_events} events, reference {self.backend}, tolerance "
                    f"{self.tolerance:g} * max(1, |reference|)")
        if self.cpp is not None:
            text.append(self.cpp.line())
        text += self._notes(names)
        return "\n".join(text)

    def _notes(self, names: Mapping[str, str]) -> list[str]:
        notes = []
        if self.fallback:
            notes.append(f"note: {self.fallback}; compared in float32 at the float32 bound")
        if self.float32_backend is not None and self.rows:
            worst = max(row.float32_max_rel for row in self.rows)
            meaning = ("the rounding a float32 deployment of the ONNX model sees; "
                       if self.conversion_passed else "")
            notes.append(f"float32 rel: lwtnn against {self.float32_backend}, up to "
                         f"{worst:.3g}: {meaning}not part of the verdict")
        if not self.conversion_passed and self.preprocessed and not self.spec and self.hints:
            notes.append(f"hint: if the network was converted with {names['variables']}, "
                         f"give check the same {names['variables']} (and "
                         f"{names['variables_convention']})")
        if self.published is not None:
            notes.append(self._published_line(names))
        elif self.spec:
            notes.append(f"note: the variable spec was applied to both sides, so this "
                         "proves the conversion, not the spec; give "
                         f"{names['inputs']} with reference outputs (out_<output> arrays or "
                         "columns named by output labels) to validate the spec")
        if self.refused_by_lwtnn:
            notes.append(f"note: {self.refused_by_lwtnn} drawn events were refused by lwtnn "
                         "(e.g. sequences too short for a 'valid' conv1d) and left out")
        return notes

    def _published_line(self, names: Mapping[str, str]) -> str:
        result = self.published
        inputs = "raw" if result.side == RAW_SIDE else "ONNX-side"
        line = (f"reference outputs: {'PASS' if result.passed else 'FAIL'}: lwtnn on the "
                f"{inputs} inputs differs from the {result.n_events} events' given outputs "
                f"by up to {result.max_rel:.3g} relative (at {result.worst}; tolerance "
                f"{result.tolerance:g})")
        if result.passed and self.spec and result.side == ONNX_SIDE:
            return (f"{line}\nnote: lwtnn's raw inputs were derived from the ONNX-side ones "
                    "with the variable spec, so this proves the network gives these outputs, "
                    "not the spec; raw inputs with reference outputs validate the spec")
        if result.passed or not self.conversion_passed:
            return line
        if result.matches:
            return f"{line}\n{_matching(result.matches, result.side, names)}"
        if self.spec:
            tried = "" if result.matches is None else (
                " (neither the other side of its preprocessing nor the other convention "
                "gives them either)")
            cause = (f"the variable spec ({names['variables']}, {names['variables_convention']}) "
                     "is the likely cause: the network computes the ONNX model with it, but "
                     f"the reference outputs were not computed with this preprocessing{tried}")
        else:
            cause = (f"the network computes the ONNX model exactly, so its inputs likely need "
                     f"preprocessing the model does not contain: a variable spec "
                     f"({names['variables']})")
        return f"{line}\n{cause}"

    def to_json(self) -> dict[str, Any]:
        """A dict: other reports (e.g. cost) may add their own keys."""
        validated = self.published is not None and self.published.side == RAW_SIDE
        return {"passed": self.passed, "conversion_passed": self.conversion_passed,
                "events": self.n_events, "reference": self.backend,
                "tolerance": self.tolerance, "float32_reference": self.float32_backend,
                "fallback": self.fallback or None, "refused_by_lwtnn": self.refused_by_lwtnn,
                "spec_validated": None if not self.spec else validated,
                "reference_outputs": (None if self.published is None
                                      else asdict(self.published)),
                "lwtnn_cpp": None if self.cpp is None else {**asdict(self.cpp),
                                                            "passed": self.cpp.passed},
                "labels": [{**asdict(row), "fractions": {f"{t:g}": f
                                                         for t, f in row.fractions.items()}}
                           for row in self.rows]}


@dataclass
class Events:
    """Raw-unit events as lwtnn takes them: vectors [n, F] and per-event sequences, and
    any reference outputs given with them (output -> [n, labels])."""

    vectors: dict[str, np.ndarray]
    sequences: dict[str, list[np.ndarray]]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter({**self.vectors, **self.sequences}.values())))

    def select(self, chosen: np.ndarray) -> "Events":
        return Events({k: v[chosen] for k, v in self.vectors.items()},
                      {k: [v[i] for i in chosen] for k, v in self.sequences.items()},
                      {k: v[chosen] for k, v in self.outputs.items()})


def check(model: Union[PathLike, onnx.ModelProto], network: Union[PathLike, dict], *,
          variables: Union[PathLike, dict, None] = None,
          variables_convention: Optional[str] = None, events: int = 1000,
          inputs: Optional[PathLike] = None, tolerance: Optional[float] = None,
          reference_tolerance: float = DEFAULT_REFERENCE_TOLERANCE, seed: int = 0,
          outputs: Optional[Sequence[str]] = None,
          progress: Optional[Callable[[int, int], None]] = None,
          merge_outputs: Optional[str] = None,
          inputs_side: str = RAW_SIDE) -> CheckReport:
    """Compare the ONNX model and the lwtnn network (graph or sequential) on the same
    events; ``variables``/``variables_convention`` (the spec the network was converted
    with), ``outputs`` (the outputs it computes) and ``merge_outputs`` (the output
    holding them all) as given to ``convert()``.
    ``tolerance`` defaults to DEFAULT_TOLERANCE against a float64 reference,
    FLOAT32_TOLERANCE where only float32 evaluation exists. ``inputs_side``: the events
    of ``inputs`` are raw (``"raw"``, what lwtnn is fed) or already preprocessed by the
    spec (``"onnx"``, what the ONNX graph is fed, as onnxruntime dumps hold them)."""
    if inputs_side not in INPUT_SIDES:
        raise UsageError(f"inputs_side='{inputs_side}' is not one of {', '.join(INPUT_SIDES)}")
    proto = model if isinstance(model, onnx.ModelProto) else load_model(model)
    document = read_network(network)
    net = build_network(document)
    reference, float32, fallback = _onnx_models(proto, outputs)
    interface = (Interface() if variables is None
                 else _read_spec(variables, variables_convention, document, reference))
    view = graph_view(document, reference, interface, outputs, merge_outputs)
    if inputs is None:
        drawn = draw_events(view, events, seed, _fixed_length(reference))
    elif inputs_side == ONNX_SIDE:
        drawn = _raw_from_onnx_side(read_events(inputs, view), interface, inputs)
    else:
        drawn = read_events(inputs, view)
    report, ours, kept, expected = _compare_all(net, view, drawn, (reference, float32, fallback),
                                                spec_preparation(interface), tolerance, progress)
    report.spec = variables is not None
    report.cpp = _compare_cpp(document, view, kept, ours, expected)
    if kept.outputs:
        report.published = _compare_published(ours, kept, view, reference_tolerance)
        report.published.side = inputs_side
        if report.spec and report.conversion_passed and not report.published.passed:
            given = kept if inputs_side == RAW_SIDE else _fed(kept, spec_preparation(interface))
            others = _other_readings(variables, variables_convention, document, reference,
                                     interface, inputs_side)
            report.published.matches = _matching_reading(reference, given, view, others,
                                                         reference_tolerance)
    return report


def verify_conversion(model: onnx.ModelProto, document: dict, preparation: Optional[Preparation] = None,
           *, interface: Optional[Interface] = None, outputs: Optional[Sequence[str]] = None,
           events: int = VERIFICATION_EVENTS, seed: int = 0,
           merge_outputs: Optional[str] = None) -> CheckReport:
    """What every conversion does before it writes: ``check`` on a few events (random
    ones, and events at and around each input's normalisation centre, where a folded
    offset that is off shows most) against the float64 reference, at the default bound.
    ``preparation`` says what the ONNX model is fed (a spec's preprocessing, fixed
    parameters, TMVA's transformations); ``document`` is one the converter validated. ReferenceRunError when no runtime here
    evaluates the model in float64 that can be trusted: then nothing is verified."""
    reference = OnnxModel(model, FLOAT64, outputs)
    # a float32 onnxruntime beside the onnx package's evaluator vouches for it (as check's
    # does); a float32 run of that same evaluator could not, so none is built
    float32 = None
    if not reference.backend.startswith("onnxruntime"):
        try:
            float32 = OnnxModel(model, FLOAT32, outputs, backends=("onnxruntime",))
        except ReferenceRunError:
            pass
    view = graph_view(document, reference, interface or Interface(), outputs, merge_outputs)
    drawn = draw_events(view, events, seed, _fixed_length(reference))
    report = _compare_all(build_network(document), view, drawn, (reference, float32, ""),
                          preparation or Preparation(), None, None)[0]
    if report.fallback:
        raise ReferenceRunError(report.fallback)
    report.hints = False
    return report


def _compare_all(net: Network, view: dict, drawn: Events,
                 models: tuple[OnnxModel, Optional[OnnxModel], str], preparation: Preparation,
                 tolerance: Optional[float],
                 progress: Optional[Callable[[int, int], None]]
                 ) -> tuple[CheckReport, dict[str, np.ndarray], Events, dict[str, np.ndarray]]:
    """lwtnn against the reference (and the float32 runtime, when given) on ``drawn``;
    also lwtnn's outputs, the events it did not refuse and the reference's outputs."""
    reference, float32, fallback = models
    ours, refused = _evaluate_lwtnn(net, view, drawn)
    kept = np.setdiff1d(np.arange(len(drawn)), refused)
    if not len(kept):
        raise UsageError(f"no event to compare: of the {len(drawn)} event(s), lwtnn refused "
                         f"{len(refused)} (e.g. sequences too short for a 'valid' conv1d)")
    drawn, ours = drawn.select(kept), {k: v[kept] for k, v in ours.items()}
    expected = _merged(view, _evaluate_onnx(reference, drawn, preparation, progress))
    deployed = None if float32 is None else _merged(
        view, _evaluate_onnx(float32, drawn, preparation, None))
    distrust = _distrust(reference, expected, float32, deployed, view)
    if distrust:  # compare with what runs the model as it stands
        reference, expected, float32, deployed, fallback = (float32, deployed, None, None,
                                                             distrust)
    if tolerance is None:
        tolerance = FLOAT32_TOLERANCE if fallback else DEFAULT_TOLERANCE
    report = CheckReport(len(drawn), reference.backend, tolerance, refused_by_lwtnn=len(refused),
                         preprocessed=_has_preprocessing(view),
                         float32_backend=None if float32 is None else float32.backend,
                         fallback=fallback)
    for name, labels in view["outputs"].items():
        onnx_name = view["onnx_outputs"][name]
        for column, label in enumerate(labels["labels"]):
            row = _compare(name, label, ours[name][:, column],
                           expected[onnx_name][:, column], tolerance)
            if deployed is not None:
                row.float32_max_rel = _max_rel(ours[name][:, column],
                                               deployed[onnx_name][:, column])
            report.rows.append(row)
    return report, ours, drawn, expected


def _merged(view: dict, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ONNX outputs, and a merged lwtnn output's counterpart: them side by side."""
    merged = view.get("merged")
    if merged is None:
        return outputs
    return {**outputs, merged: np.concatenate([outputs[o] for o in view["merged_from"]],
                                              axis=1)}


def _onnx_models(proto: onnx.ModelProto, outputs: Optional[Sequence[str]] = None
                 ) -> tuple[OnnxModel, Optional[OnnxModel], str]:
    """(the reference, the float32 runtime beside it or None, why the reference is not
    float64 or ""), computing ``outputs`` (all by default). ReferenceRunError when
    nothing here evaluates the model."""
    try:
        reference = OnnxModel(proto, FLOAT64, outputs)
    except ReferenceRunError as float64_failure:
        try:
            return OnnxModel(proto, FLOAT32, outputs), None, str(float64_failure)
        except ReferenceRunError as exc:
            raise ReferenceRunError(f"{exc}, so the conversion cannot be checked here") from None
    try:
        return reference, OnnxModel(proto, FLOAT32, outputs), ""
    except ReferenceRunError:
        return reference, None, ""


def _distrust(reference: OnnxModel, expected: dict[str, np.ndarray],
              float32: Optional[OnnxModel], deployed: Optional[dict[str, np.ndarray]],
              view: dict) -> str:
    """Why the float64 evaluation is not to be trusted, or "": the onnx package's
    reference evaluator runs ops onnxruntime will not run in double, and where it
    disagrees with onnxruntime's float32 beyond float32 rounding, one of them is wrong
    about the model, and it is the one few deploy."""
    if (deployed is None or not reference.backend.startswith("onnx.reference")
            or not float32.backend.startswith("onnxruntime")):
        return ""
    worst = max((_max_rel(expected[name], deployed[name])
                 for name in view["onnx_outputs"].values()), default=0.0)
    if not worst > EVALUATOR_AGREEMENT:  # NaN too
        return ""
    return (f"{reference.backend} disagrees with {float32.backend} by up to {worst:.3g}, "
            "beyond float32 rounding, so it is not trusted")


def _compare_cpp(document: dict, view: dict, events: Events, ours: dict[str, np.ndarray],
                 expected: dict[str, np.ndarray]) -> CppComparison:
    """lwtnn's own C++ on the same events, where correctionlib can run the network: a
    sequential document, or a graph that is one chain."""
    version = lwtnn_cpp.version()
    if version is None:
        return CppComparison(skipped="correctionlib >= 2.9, which ships lwtnn's C++, is not "
                                     "installed: pip install correctionlib")
    network = document if "nodes" not in document else sequential_form(document)
    if network is None:
        return CppComparison(version, skipped="correctionlib runs lwtnn's sequential "
                                              "networks, and this graph is not one chain")
    (name,), (output,) = [node["name"] for node in view["inputs"]], list(view["outputs"])
    try:
        theirs = lwtnn_cpp.evaluate(network, events.vectors[name])
    except lwtnn_cpp.CppRunError as exc:
        return CppComparison(version, float("nan"), float("nan"), refused=str(exc))
    reference = expected[view["onnx_outputs"][output]]
    return CppComparison(version, _max_rel(theirs, ours[output]), _max_rel(theirs, reference))


def _max_rel(ours: np.ndarray, ref: np.ndarray) -> float:
    return float((np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))).max(initial=0.0))


def _compare(output: str, label: str, ours: np.ndarray, ref: np.ndarray,
             tolerance: float) -> LabelComparison:
    diff = np.abs(ours - ref)
    relative = diff / np.maximum(1.0, np.abs(ref))
    finite = bool(np.all(np.isfinite(ours)) and np.all(np.isfinite(ref)))
    fractions = {t: float(np.mean(relative > t)) if len(diff) else 0.0 for t in THRESHOLDS}
    return LabelComparison(output, label, float(diff.max(initial=0.0)),
                           float(relative.max(initial=0.0)), fractions,
                           finite and bool(np.all(relative <= tolerance)))


def _raw_from_onnx_side(events: Events, interface: Interface, path: PathLike) -> Events:
    """Events the ONNX graph is fed (the spec's (x + offset) * scale applied) as lwtnn's
    raw inputs: x = v / scale - offset."""
    def raw(name: str, values: np.ndarray) -> np.ndarray:
        preprocessing = interface.preprocessing(name)
        if preprocessing is None:
            return values
        offsets, scales = preprocessing
        if np.any(scales == 0):
            raise UsageError(f"{path}: the spec scales a variable of '{name}' by 0, so its "
                             "raw value cannot be recovered from an ONNX-side one")
        return values / scales - offsets

    return _fed(events, Preparation(raw))


def _other_readings(variables: Union[PathLike, dict], convention: Optional[str],
                    document: dict, model: OnnxModel, interface: Interface,
                    side: str) -> list[tuple[dict[str, str], Preparation]]:
    """The other ways to read the given inputs, each as the arguments that say it and
    what the ONNX model is then fed for inputs as given: the other side of the spec's
    preprocessing, and, for {variables, offset, scale} arrays, the other convention."""
    other_side = ONNX_SIDE if side == RAW_SIDE else RAW_SIDE
    readings = [({"inputs_side": other_side},
                 spec_preparation(interface) if other_side == RAW_SIDE else Preparation())]
    if convention in OTHER_CONVENTION and is_offset_arrays(load_spec(variables)[0]):
        other = OTHER_CONVENTION[convention]
        arguments = ({"variables_convention": other} if side == RAW_SIDE
                     else {"inputs_side": RAW_SIDE, "variables_convention": other})
        readings.append((arguments, spec_preparation(
            _read_spec(variables, other, document, model))))
    return readings


def _matching_reading(model: OnnxModel, given: Events, view: dict,
                      readings: list[tuple[dict[str, str], Preparation]],
                      tolerance: float) -> dict[str, str]:
    """The first reading of the inputs as given under which the ONNX model gives their
    reference outputs, or {}."""
    for arguments, preparation in readings:
        outputs = _merged(view, _evaluate_onnx(model, given, preparation, None))
        if all(_max_rel(outputs[view["onnx_outputs"][name]], values) <= tolerance
               for name, values in given.outputs.items()):
            return arguments
    return {}


def _matching(matches: dict[str, str], side: str, names: Mapping[str, str]) -> str:
    """What reading of the inputs the reference outputs match, as the arguments to give."""
    arguments = " ".join(f"{names[key]}'{value}'" if names[key].endswith("=")
                         else f"{names[key]} {value}" for key, value in matches.items())
    if "variables_convention" in matches:
        why = ("the spec's offsets and scales mean the other convention: convert (and "
               "check) with it" + ("; and the inputs look raw" if side == ONNX_SIDE else ""))
    elif side == RAW_SIDE:
        why = ("the inputs look ONNX-side, already preprocessed (as onnxruntime dumps hold "
               "them); or, if they are raw, the network needs no variable spec")
    else:
        why = "the inputs look raw: the spec's preprocessing is still to be applied to them"
    return f"they match the ONNX model with {arguments}: {why}"


def _compare_published(ours: dict[str, np.ndarray], events: Events, view: dict,
                       tolerance: float) -> PublishedComparison:
    worst, where, finite = 0.0, "", True
    for name, given in events.outputs.items():
        for column, label in enumerate(view["outputs"][name]["labels"]):
            mine, theirs = ours[name][:, column], given[:, column]
            finite &= bool(np.all(np.isfinite(mine)))
            rel = _max_rel(mine, theirs)
            if rel >= worst:
                worst, where = rel, f"{name}/{label}"
    return PublishedComparison(len(events), tolerance, worst, where,
                               finite and worst <= tolerance)


# -- the lwtnn document under the ONNX model's names -----------------------------------

def graph_view(document: dict, model: OnnxModel, interface: Interface,
               outputs: Optional[Sequence[str]] = None, merged: Optional[str] = None) -> dict:
    """The document's inputs and outputs in the graph form: a graph document as it is, a
    sequential one (an unnamed input of variables, a list of labels) as the model's
    single input and its one output (``outputs``, else the only one, else the one whose
    default labels it has, else ``merged``); ``onnx_outputs`` maps each output to the
    ONNX output it computes (a spec may rename it; ``merged`` computes them all, side by
    side, ``merged_from``). UsageError if the document does not belong to the model."""
    onnx_outputs = list(outputs or model.output_names)
    if merged is None:
        return _view(document, model, interface, onnx_outputs)
    return {**_view(document, model, interface, [merged], merged=True), "merged": merged,
            "merged_from": onnx_outputs}


def _view(document: dict, model: OnnxModel, interface: Interface, onnx_outputs: list[str],
          merged: bool = False) -> dict:
    """``graph_view`` for the outputs ``onnx_outputs`` (``merged``: one output holding all,
    named as it is)."""
    onnx_inputs = set(model.input_shapes)
    if "nodes" not in document:
        labels = document["outputs"]
        if len(onnx_outputs) > 1:
            onnx_outputs = [o for o in onnx_outputs
                            if labels == [f"{o}_{i}" for i in range(len(labels))]]
        if len(onnx_inputs) != 1 or len(onnx_outputs) != 1:
            raise UsageError(
                "the lwtnn network does not belong to this ONNX model: a sequential network "
                f"has one input and one output, the model has inputs {sorted(onnx_inputs)} "
                f"and outputs {model.output_names}; name the output it computes with "
                "outputs=")
        (name,), (output,) = onnx_inputs, onnx_outputs
        return {"inputs": [{"name": name, "variables": document["inputs"]}],
                "input_sequences": [], "outputs": {output: {"labels": labels}},
                "onnx_outputs": {output: output},
                "lwtnn_names": {name: SEQUENTIAL_INPUT, output: SEQUENTIAL_OUTPUT}}
    view = document_view(document)
    lwtnn_inputs = set(_input_widths(view))
    renamed = {name if merged else interface.output_name(name): name for name in onnx_outputs}
    if onnx_inputs != lwtnn_inputs or not set(view["outputs"]) <= set(renamed):
        raise UsageError(
            "the lwtnn network does not belong to this ONNX model: inputs "
            f"{sorted(lwtnn_inputs)} vs {sorted(onnx_inputs)}, outputs "
            f"{sorted(view['outputs'])} vs {sorted(renamed)}"
            + ("" if set(view["outputs"]) <= set(renamed) or interface.output_names
               or merged else " (if a variable spec renamed outputs, give check that spec; "
               "if they were merged into one, merge_outputs= with its name)"))
    view["onnx_outputs"] = {name: renamed[name] for name in view["outputs"]}
    return view


def document_view(document: dict) -> dict:
    """A graph document's inputs and outputs as ``graph_view`` gives them, before they
    are matched to the ONNX model."""
    return {"inputs": document["inputs"],
            "input_sequences": document.get("input_sequences", []),
            "outputs": document["outputs"], "lwtnn_names": {}}


def _read_spec(variables: Union[PathLike, dict], convention: Optional[str], document: dict,
               model: OnnxModel) -> Interface:
    """The spec the network was converted with, read against the document's inputs (a
    sequential document's one input is the model's)."""
    if "nodes" in document:
        view = document_view(document)
        return read_spec(variables, convention, _input_widths(view),
                         frozenset(n["name"] for n in view["input_sequences"]))
    return read_spec(variables, convention,
                     {name: len(document["inputs"]) for name in model.input_shapes})


def _input_widths(view: dict) -> dict[str, int]:
    return {n["name"]: len(n["variables"]) for n in view["inputs"] + view["input_sequences"]}


def _has_preprocessing(view: dict) -> bool:
    nodes = view["inputs"] + view["input_sequences"]
    return any(v["offset"] != 0 or v["scale"] != 1 for n in nodes for v in n["variables"])


# -- events -------------------------------------------------------------------------------

def draw_events(view: dict, n_events: int, seed: int,
                fixed_length: Optional[int] = None) -> Events:
    """Unit-normal values after lwtnn's preprocessing, mapped back to raw units; the last
    events (up to half of them) are the ``CENTRE_STEPS`` events."""
    rng = np.random.default_rng(seed)
    centres = min(len(CENTRE_STEPS), n_events // 2)
    drawn = n_events - centres
    vectors = {node["name"]: np.concatenate([
                   _raw(rng.normal(size=(drawn, len(node["variables"]))), node),
                   centre_values(node, centres)])
               for node in view["inputs"]}
    sequences = {}  # one length per event for all its sequences, as the ONNX model takes them
    lengths = (np.full(drawn, fixed_length) if fixed_length
               else rng.integers(1, MAX_SEQUENCE_LENGTH + 1, size=drawn))
    for node in view.get("input_sequences", []):
        width, centre_length = len(node["variables"]), fixed_length or CENTRE_SEQUENCE_LENGTH
        sequences[node["name"]] = (
            [_raw(rng.normal(size=(int(t), width)), node) for t in lengths]
            + [_raw(np.full((centre_length, width), step), node)
               for step in CENTRE_STEPS[:centres]])
    return Events(vectors, sequences)


def centre_values(node: dict, count: int) -> np.ndarray:
    """The first ``count`` of the ``CENTRE_STEPS`` events of an lwtnn input node (its
    ``variables`` with offsets and scales), in raw units."""
    steps = np.array(CENTRE_STEPS[:count], dtype=np.float64).reshape(-1, 1)
    return _raw(np.repeat(steps, len(node["variables"]), axis=1), node)


def _node_preprocessing(node: dict) -> tuple[np.ndarray, np.ndarray]:
    """An lwtnn input node's (offsets, scales)."""
    return (np.array([v["offset"] for v in node["variables"]]),
            np.array([v["scale"] for v in node["variables"]]))


def _raw(values: np.ndarray, node: dict) -> np.ndarray:
    offsets, scales = _node_preprocessing(node)
    safe = np.where(scales == 0, 1.0, scales)
    return (values / safe - offsets).astype(np.float32).astype(np.float64)


def read_events(path: PathLike, view: dict) -> Events:
    """Events from a .npz (arrays named by input, optionally ``in_<input>``, and
    reference outputs ``out_<output>``) or a CSV (a column per variable, and reference
    outputs in columns named by output labels)."""
    path = Path(path)
    if path.suffix == ".npz":
        events = _read_npz(path, view)
    elif path.suffix == ".csv":
        events = _read_csv(path, view)
    else:
        raise UsageError(f"{path}: events come in a .npz or a .csv file")
    for name, values in [*events.vectors.items(), *events.outputs.items(),
                         *((k, np.concatenate(v)) for k, v in events.sequences.items())]:
        bad = ~np.isfinite(values)
        if bad.any():
            raise UsageError(f"{path}: '{name}' has {int(bad.sum())} NaN or infinite "
                             "value(s)")
    return events


def _read_npz(path: Path, view: dict) -> Events:
    data = files.read_npz(path, "events file", files.EVENTS_LIMIT)
    expected = {n["name"]: len(n["variables"]) for n in view["inputs"]}
    expected_sequences = {n["name"]: len(n["variables"]) for n in view.get("input_sequences", [])}
    found, found_sequences = input_arrays(data.files, list(expected), list(expected_sequences))
    missing = [n for table in (found, found_sequences) for n, name in table.items()
               if name is None]
    if missing:
        raise UsageError(f"{path}: no array for input(s) {', '.join(sorted(missing))}; it "
                         f"has {', '.join(data.files) or 'none'}")
    vectors = {n: _shaped(path, found[n], data[found[n]], 2, w) for n, w in expected.items()}
    sequences = {n: list(_shaped(path, found_sequences[n], data[found_sequences[n]], 3, w))
                 for n, w in expected_sequences.items()}
    outputs = {}
    for key in (name for name in data.files if name.startswith(OUTPUT_PREFIX)):
        name = _output_named(path, key[len(OUTPUT_PREFIX):], view)
        given = np.asarray(data[key], dtype=np.float64)
        outputs[name] = _shaped(path, key, given.reshape(len(given), -1), 2,
                                len(view["outputs"][name]["labels"]))
    return _same_length(path, Events(vectors, sequences, outputs))


def _output_named(path: Path, name: str, view: dict) -> str:
    """The network's output that ``out_<name>`` holds: named as in the network, or by the
    ONNX output a spec renamed; a name that is neither is an error, not ignored."""
    onnx_names = {onnx_name: output
                  for output, onnx_name in view.get("onnx_outputs", {}).items()}
    if name in view["outputs"] or name in onnx_names:
        return name if name in view["outputs"] else onnx_names[name]
    known = sorted({*view["outputs"], *onnx_names})
    raise UsageError(f"{path}: array {files.quote(OUTPUT_PREFIX + name)} names no output of "
                     f"the network; reference outputs go in "
                     f"{', '.join(OUTPUT_PREFIX + n for n in known)}")


def _shaped(path: Path, name: str, values: np.ndarray, rank: int, width: int) -> np.ndarray:
    """The array as [events, ...]; one event may come without its events axis."""
    if len(values) == 0:
        raise UsageError(f"{path}: array {files.quote(name)} holds no events")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == rank - 1:
        values = values[np.newaxis]
    if values.ndim != rank or values.shape[-1] != width:
        raise UsageError(f"{path}: array '{name}' has shape {values.shape}; expected rank "
                         f"{rank} with {width} features")
    return values


def _same_length(path: Path, events: Events) -> Events:
    counts = {name: len(v) for name, v in
              {**events.vectors, **events.sequences, **events.outputs}.items()}
    if len(set(counts.values())) > 1:
        raise UsageError(f"{path}: the arrays disagree on the number of events: "
                         + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return events


def _read_csv(path: Path, view: dict) -> Events:
    if view.get("input_sequences", []):
        raise UsageError(f"{path}: a CSV holds vector inputs only; give sequences in a .npz")
    text = files.read_text(path, "events file", files.EVENTS_LIMIT)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UsageError(f"{files.clean(path)}: {exc} (a cell may hold at most "
                         f"{csv.field_size_limit():,} characters)") from None
    if len(rows) < 2:
        raise UsageError(f"{path}: needs a header of variable names and at least one event")
    header, body = rows[0], rows[1:]
    _check_table(path, header, body)
    columns = {name: i for i, name in enumerate(header)}
    wanted = [v["name"] for n in view["inputs"] for v in n["variables"]]
    given_outputs = {name: out["labels"] for name, out in view["outputs"].items()
                     if any(label in columns for label in out["labels"])}
    labels = [label for names in given_outputs.values() for label in names]
    missing = [name for name in wanted + labels if name not in columns]
    unknown = [name for name in header if name not in wanted and name not in labels]
    if missing or unknown:
        raise UsageError(f"{path}: columns do not match the network's variables and output "
                         f"labels (missing: {listed(missing) or 'none'}; unknown: "
                         f"{listed(unknown) or 'none'})")
    table = np.array([[parse_cell(files.clean(path), line, name, row[columns[name]])
                       for name in wanted + labels] for line, row in enumerate(body, start=2)])
    vectors, outputs, start = {}, {}, 0
    for name, width in [*((n["name"], len(n["variables"])) for n in view["inputs"]),
                        *((name, len(names)) for name, names in given_outputs.items())]:
        (outputs if name in given_outputs else vectors)[name] = table[:, start:start + width]
        start += width
    return Events(vectors, {}, outputs)


# -- evaluation ---------------------------------------------------------------------------

def _evaluate_lwtnn(net: Network, view: dict,
                    events: Events) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """lwtnn's outputs under the ONNX names, and the events lwtnn refuses."""
    names = view["lwtnn_names"]
    vectors = {names.get(k, k): v for k, v in events.vectors.items()}
    renamed = {lwtnn: onnx_name for onnx_name, lwtnn in names.items()}
    try:
        outputs, refused = net.evaluate(vectors, events.sequences or None), []
    except EvaluationError as refusal:
        outputs, refused = dict(refusal.outputs), refusal.events
    return ({renamed.get(k, k): v for k, v in outputs.items()},
            np.array(refused, dtype=int))


def _evaluate_onnx(model: OnnxModel, events: Events, preparation: Preparation,
                   progress: Optional[Callable[[int, int], None]]) -> dict[str, np.ndarray]:
    """The ONNX outputs, fed what the network expects (``preparation`` of the raw
    events), as lwtnn's outputs compare with them."""
    fed = _fed(events, preparation)
    vectors, sequences = fed.vectors, fed.sequences
    pieces = []
    for start in range(0, len(events), CHUNK):
        chosen = np.arange(start, min(start + CHUNK, len(events)))
        pieces.append(model.evaluate({k: v[chosen] for k, v in vectors.items()},
                                     {k: [v[i] for i in chosen] for k, v in sequences.items()}))
        if progress is not None:
            progress(chosen[-1] + 1, len(events))
    if not pieces:
        return {name: np.empty((0, 0)) for name in model.output_names}
    return {k: preparation.outputs(k, np.concatenate([p[k] for p in pieces])) for k in pieces[0]}


def _fed(events: Events, preparation: Preparation) -> Events:
    """The events with ``preparation``'s inputs applied (outputs as they are)."""
    return Events({name: preparation.inputs(name, v) for name, v in events.vectors.items()},
                  {name: [preparation.inputs(name, steps) for steps in v]
                   for name, v in events.sequences.items()}, events.outputs)


def _unchanged(name: str, values: np.ndarray) -> np.ndarray:
    return values


@dataclass(frozen=True)
class Preparation:
    """What the ONNX model is fed for lwtnn's raw inputs (input name, values -> values)
    and how its outputs become what lwtnn computes (output name, values -> values): a
    variable spec's preprocessing, fixed parameters put back, TMVA's transformations."""

    inputs: Callable[[str, np.ndarray], np.ndarray] = _unchanged
    outputs: Callable[[str, np.ndarray], np.ndarray] = _unchanged


def spec_preparation(interface: Interface) -> Preparation:
    """The ONNX model fed what the network expects: the spec's preprocessed values."""
    preprocessing = {name: interface.preprocessing(name)
                     for name in [*interface.input_variables, *interface.sequence_variables]}
    return Preparation(lambda name, values: preprocessed(values, preprocessing.get(name)))


def preprocessed(values: np.ndarray,
                 preprocessing: Optional[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """lwtnn's (x + offset) * scale, or x where there is none."""
    if preprocessing is None:
        return values
    offsets, scales = preprocessing
    return (values + offsets) * scales


def _fixed_length(model: OnnxModel) -> Optional[int]:
    lengths = {s[model.axis(n, TIME)] for n, s in model.input_shapes.items() if len(s) == 3}
    return next((t for t in lengths if isinstance(t, int) and t > 0), None)


def read_network(network: Union[PathLike, dict]) -> dict:
    """An lwtnn document from a path (or as given), ``-`` for stdin, as lwtnn reads it
    (``read_lwtnn``)."""
    return read_lwtnn(network, stdin=True)


def _check_table(path: Path, header: list[str], body: list[list[str]]) -> None:
    """One column per name, one cell per column in every row."""
    seen: set[str] = set()
    twice = next((name for name in header if name in seen or seen.add(name)), None)
    if twice is not None:
        raise UsageError(f"{path}: column {files.quote(twice)} appears twice in the header")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}: line {number} has {len(row)} cells; the header has "
                             f"{len(header)}")


# -- lwtnn's own test tool -----------------------------------------------------------------

LWTNN_TEST_STEPS = 20  # lwtnn-test-lightweight-graph's generated sequence length


def lwtnn_test_event(document: dict, events: Events) -> Events:
    """Event 0 as ``lwtnn-test-lightweight-graph NET.json FILE`` evaluates it: the vector
    inputs from the file, and the sequences the tool generates itself (its 2-D ramp over
    20 steps, ``x_m * y_m / scale - offset``)."""
    sequences = {}
    for node in document.get("input_sequences", []):
        n_vars = len(node["variables"])
        x_m = np.linspace(-1, 1, n_vars) if n_vars > 1 else np.zeros(1)
        y_m = np.linspace(-1, 1, LWTNN_TEST_STEPS)
        offsets, scales = _node_preprocessing(node)
        sequences[node["name"]] = [np.outer(y_m, x_m) / scales - offsets]
    return Events({k: v[:1] for k, v in events.vectors.items()}, sequences)


def lwtnn_test_inputs(document: dict, event: Events) -> dict[str, dict[str, float]]:
    """The inputs file ``lwtnn-test-lightweight-graph`` reads: node -> variable -> value."""
    return {node["name"]: {v["name"]: float(event.vectors[node["name"]][0, i])
                           for i, v in enumerate(node["variables"])}
            for node in document["inputs"]}


def print_progress(done: int, total: int) -> None:
    print(f"\rchecked {done}/{total} events", end="" if done < total else "\n",
          file=sys.stderr, flush=True)
