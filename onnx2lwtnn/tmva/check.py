"""Prove a converted TMVA MLP: lwtnn against the float64 reference with the exact tanh
(the conversion's own error, which must be within the tolerance), and against TMVA's
response (float32 events, fast tanh), reported for what a user of TMVA's Reader sees."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..check import FLOAT32_TOLERANCE
from ..lwtnn import SEQUENTIAL_INPUT, load_network
from .convert import TmvaNetwork


@dataclass
class TmvaCheck:
    events: int
    labels: list[str]
    exact: np.ndarray      # per label: max |lwtnn - exact| / max(1, |exact|)
    tmva: np.ndarray       # per label: max |lwtnn - TMVA| / max(1, |TMVA|)
    fast_tanh: bool        # TMVA's response differs by its tanh approximation, not by us
    tolerance: float

    @property
    def passed(self) -> bool:
        within = float(self.exact.max()) <= self.tolerance
        return within and (self.fast_tanh or float(self.tmva.max()) <= self.tolerance)

    def table(self) -> str:
        width = max(len(label) for label in [*self.labels, "label"])
        lines = [f"{'label'.ljust(width)}  vs exact float64  vs TMVA response",
                 *(f"{label.ljust(width)}  {e:16.3g}  {t:16.3g}"
                   for label, e, t in zip(self.labels, self.exact, self.tmva))]
        note = (" (TMVA's fast tanh: a deviation no lwtnn activation removes)"
                if self.fast_tanh else "")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: {self.events} events, |diff| / max(1, |ref|) within "
                     f"{self.tolerance:g} of the exact reference{note}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "tolerance": self.tolerance, "passed": self.passed,
                "fast_tanh": self.fast_tanh,
                "labels": {label: {"vs_exact": float(e), "vs_tmva": float(t)}
                           for label, e, t in zip(self.labels, self.exact, self.tmva)}}


def check_tmva(network: TmvaNetwork, document: dict, raw: Optional[np.ndarray] = None,
               events: int = 1000, seed: int = 0,
               tolerance: Optional[float] = None) -> TmvaCheck:
    """Compare on ``raw`` events (what one hands TMVA's Reader), or on ``events`` drawn
    inside the training ranges; ``tolerance`` defaults to the float32 bound, which
    TMVA's own (float32) response is held to as well."""
    tolerance = FLOAT32_TOLERANCE if tolerance is None else tolerance
    raw = network.training_events(events, seed) if raw is None else np.asarray(raw, float)
    if raw.ndim != 2 or raw.shape[1] != len(network.method.variables):
        raise ValueError(f"events must be [N, {len(network.method.variables)}]")
    name = document["inputs"][0]["name"] if "nodes" in document else SEQUENTIAL_INPUT
    ours = load_network(document).evaluate({name: raw})
    (lwtnn,) = ours.values()
    return TmvaCheck(len(raw), network.labels, _worst(lwtnn, network.exact(raw)),
                     _worst(lwtnn, network.tmva(raw)), network.mlp.fast_tanh, tolerance)


def _worst(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    ours = np.asarray(ours).reshape(reference.shape)
    return np.max(np.abs(ours - reference) / np.maximum(1.0, np.abs(reference)), axis=0)
