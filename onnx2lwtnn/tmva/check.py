"""Prove a converted TMVA MLP: lwtnn against the float64 reference with the exact tanh
(the conversion's own error, held to check's bound), and against TMVA's response
(float32 events, fast tanh), held to the float32 bound and reported for what a user of
TMVA's Reader sees."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..check import (CENTRE_STEPS, DEFAULT_TOLERANCE, FLOAT32_TOLERANCE,
                     centre_values)
from ..lwtnn import SEQUENTIAL_INPUT, load_network
from .convert import TmvaNetwork


@dataclass
class TmvaCheck:
    events: int
    labels: list[str]
    exact: np.ndarray      # per label: max |lwtnn - exact| / max(1, |exact|)
    tmva: np.ndarray       # per label: max |lwtnn - TMVA| / max(1, |TMVA|)
    fast_tanh: bool        # TMVA's response differs by its tanh approximation, not by us
    tolerance: float       # against the exact reference
    tmva_tolerance: float = FLOAT32_TOLERANCE  # against TMVA's float32 response

    @property
    def passed(self) -> bool:
        within = float(self.exact.max()) <= self.tolerance
        return within and (self.fast_tanh or float(self.tmva.max()) <= self.tmva_tolerance)

    def table(self) -> str:
        width = max(len(label) for label in [*self.labels, "label"])
        lines = [f"{'label'.ljust(width)}  vs exact float64  vs TMVA response",
                 *(f"{label.ljust(width)}  {e:16.3g}  {t:16.3g}"
                   for label, e, t in zip(self.labels, self.exact, self.tmva))]
        note = (" (TMVA's fast tanh: a deviation no lwtnn activation removes)"
                if self.fast_tanh else "")
        if self.passed:
            tmva = "" if self.fast_tanh else f" and {self.tmva_tolerance:g} of TMVA's response"
            lines.append(f"PASS: {self.events} events, |diff| / max(1, |ref|) within "
                         f"{self.tolerance:g} of the exact float64 reference{tmva}{note}")
        else:  # the bounds missed, each with how far it is from them
            tmva = ("" if self.fast_tanh else f" and up to {float(self.tmva.max()):.3g} from "
                    f"TMVA's response (bound {self.tmva_tolerance:g})")
            lines.append(f"FAIL: {self.events} events, |diff| / max(1, |ref|) up to "
                         f"{float(self.exact.max()):.3g} from the exact float64 reference "
                         f"(bound {self.tolerance:g}){tmva}{note}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "tolerance": self.tolerance,
                "tmva_tolerance": self.tmva_tolerance, "passed": self.passed,
                "fast_tanh": self.fast_tanh,
                "labels": {label: {"vs_exact": float(e), "vs_tmva": float(t)}
                           for label, e, t in zip(self.labels, self.exact, self.tmva)}}


def check_tmva(network: TmvaNetwork, document: dict, raw: Optional[np.ndarray] = None,
               events: int = 1000, seed: int = 0,
               tolerance: Optional[float] = None) -> TmvaCheck:
    """Compare on ``raw`` events (what one hands TMVA's Reader), or on ``events`` drawn
    inside the training ranges, the last of them at and around the normalisation
    centres; ``tolerance`` (against the exact reference) defaults to check's bound."""
    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    node = _input_node(document)
    if raw is None:
        centres = min(len(CENTRE_STEPS), events // 2)
        raw = np.concatenate([network.training_events(events - centres, seed),
                              centre_values(node, centres)])
    raw = np.asarray(raw, float)
    if raw.ndim != 2 or raw.shape[1] != len(network.method.variables):
        raise ValueError(f"events must be [N, {len(network.method.variables)}]")
    ours = load_network(document).evaluate({node["name"]: raw})
    (lwtnn,) = ours.values()
    return TmvaCheck(len(raw), network.labels, _worst(lwtnn, network.exact(raw)),
                     _worst(lwtnn, network.tmva(raw)), network.mlp.fast_tanh, tolerance)


def _input_node(document: dict) -> dict:
    """The input node the events go into, named and with its variables (offsets,
    scales): a graph's one input node, or a sequential document's one input, whose
    variables are the document's inputs."""
    if "nodes" in document:
        return document["inputs"][0]
    return {"name": SEQUENTIAL_INPUT, "variables": document["inputs"]}


def _worst(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    ours = np.asarray(ours).reshape(reference.shape)
    return np.max(np.abs(ours - reference) / np.maximum(1.0, np.abs(reference)), axis=0)
