"""lwtnn's own C++, through the ``correctionlib`` wheel: a second evaluation of lwtnn
networks that shares nothing with ``onnx2lwtnn.lwtnn``.

correctionlib 2.9.0 and later compile lwtnn's ``lwt::parse_json`` and
``LightweightNeuralNetwork`` into a correction node of type ``lwtnn``, so every network
with a sequential form can be run by the real C++ without building it. correctionlib is
optional: ``version()`` is None without it.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import numpy as np

MINIMUM_VERSION = (2, 9)


class CppRunError(RuntimeError):
    """lwtnn's C++ (or correctionlib around it) refused the network or its inputs."""


def version() -> Optional[str]:
    """correctionlib's version when it is importable and has the lwtnn node, else None."""
    try:
        import correctionlib
    except ImportError:
        return None
    release = tuple(int(part) for part in correctionlib.__version__.split(".")[:2]
                    if part.isdigit())
    return correctionlib.__version__ if release >= MINIMUM_VERSION else None


def correction(name: str, network: Mapping[str, Any], finalizer: str,
               labels: list[str]) -> dict[str, Any]:
    """A schema-v2 correction whose value is ``finalizer`` (TFormula over ``x[i]``, the
    i-th of ``labels``) of the sequential ``network``'s outputs; its inputs are the
    network's variables, in order."""
    return {"name": name, "version": 1,
            "inputs": [{"name": v["name"], "type": "real"} for v in network["inputs"]],
            "output": {"name": "value", "type": "real"},
            "data": {"nodetype": "lwtnn", "opaque": dict(network),
                     "finalizer": {"nodetype": "formula", "parser": "TFormula",
                                   "expression": finalizer, "variables": list(labels)}}}


def evaluate(network: Mapping[str, Any], inputs: np.ndarray) -> np.ndarray:
    """lwtnn's C++ outputs [events, labels] of a sequential document on raw inputs
    [events, variables] (no NaN replacement: correctionlib does not apply defaults)."""
    import correctionlib

    labels = list(network["outputs"])
    corrections = [correction(f"output_{i}", network, "x", [label])
                   for i, label in enumerate(labels)]
    try:
        cset = correctionlib.CorrectionSet.from_string(
            json.dumps({"schema_version": 2, "corrections": corrections}))
        columns = [np.ascontiguousarray(inputs[:, i], dtype=np.float64)
                   for i in range(inputs.shape[1])]
        values = [np.asarray(cset[c["name"]].evaluate(*columns), dtype=np.float64)
                  for c in corrections]
    except Exception as exc:  # correctionlib raises RuntimeError, ValueError, pydantic's
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CppRunError(first_line[:300]) from None
    return np.stack(values, axis=1).reshape(len(inputs), len(labels))
