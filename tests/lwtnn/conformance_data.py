"""Where the lwtnn conformance set lives, and how to read it, for the tests."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# /work/main/tests/lwtnn/this_file -> parents[3] is the folder holding the checkout
_SHARED = os.environ.get("ONNX2LWTNN_SHARED")
SHARED_DIR = Path(_SHARED) if _SHARED else Path(__file__).resolve().parents[3] / "shared"
CONFORMANCE_DIR = SHARED_DIR / "lwtnn-conformance"
NETWORKS = sorted(CONFORMANCE_DIR.glob("*.network.json")) if CONFORMANCE_DIR.is_dir() else []
MISSING_REASON = (f"lwtnn conformance folder {CONFORMANCE_DIR} not found "
                  f"(set ONNX2LWTNN_SHARED to the folder holding lwtnn-conformance/)")


def network_params() -> list[Any]:
    """One pytest param per conformance network, or one skipped param naming the folder."""
    if not CONFORMANCE_DIR.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING_REASON), id="missing")]
    return [pytest.param(p, id=p.name[:-len(".network.json")]) for p in NETWORKS]


def expected_path(network: Path) -> Path:
    return network.with_name(network.name.replace(".network.json", ".expected.json"))


def load_events(network: Path) -> list[dict[str, Any]]:
    return json.loads(expected_path(network).read_text())["events"]


def batch(events: list[dict[str, Any]], net: Any) -> tuple[dict, dict]:
    """The events as evaluate() arguments: arrays per input, lists of arrays per sequence."""
    inputs = {name: np.array([[ev["inputs"][name][v] for v in net.input_variables[name]]
                              for ev in events]).reshape(len(events), -1)
              for name in net.input_names}
    sequences = {name: [np.array([ev["input_sequences"][name][v]
                                  for v in net.sequence_variables[name]]).T for ev in events]
                 for name in net.sequence_names}
    return inputs, sequences
