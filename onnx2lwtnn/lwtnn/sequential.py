"""The sequential format (lwtnn's ``LightweightNeuralNetwork``): one chain of layers.

lwtnn reads this format as a flat list of input variables and a flat list of output
labels, with no node names. To fit the common ``Network`` interface, the variables
form one pseudo-input node named ``SEQUENTIAL_INPUT`` (the empty string) and the
labels one output named ``SEQUENTIAL_OUTPUT`` (``"outputs"``)::

    net.evaluate({"": x})["outputs"]          # x: (n_events, n_variables)
    net.evaluate_event({"": {"pt": 1.0, ...}})  # {"outputs": {label: value}}

Defaults come from the top-level ``defaults`` map if the document has one, otherwise
from the variables' ``default`` entries (lwtnn's ``get_defaults``); they are only
used with ``replace_nan=True``.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from .layers import VECTOR_LAYERS
from .network import InputSpec, Network, SequenceBatch

SEQUENTIAL_INPUT = ""
SEQUENTIAL_OUTPUT = "outputs"


class SequentialNetwork(Network):
    """An lwtnn sequential-format network from a validated document."""

    kind = "sequential"

    def __init__(self, doc: Mapping[str, Any]):
        variables = doc["inputs"]
        if "defaults" in doc:
            defaults = dict(doc["defaults"])
        else:
            defaults = {v["name"]: v["default"] for v in variables if "default" in v}
        self._layers = []
        n_in = len(variables)
        for layer in doc["layers"]:
            compiled = VECTOR_LAYERS[layer["architecture"]](layer, n_in)
            self._layers.append(compiled)
            n_in = compiled.n_out
        super().__init__(
            inputs=[InputSpec.from_json(SEQUENTIAL_INPUT, variables, defaults)],
            sequences=[],
            output_labels={SEQUENTIAL_OUTPUT: list(doc["outputs"])},
            required_inputs=[SEQUENTIAL_INPUT],
            required_sequences=[],
        )

    def _run(self, n_events: int, vectors: dict[str, np.ndarray],
             sequences: dict[str, SequenceBatch]
             ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        x = vectors[SEQUENTIAL_INPUT]
        for layer in self._layers:
            x = layer(x)
        return {SEQUENTIAL_OUTPUT: x}, {}


def sequential_form(graph: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The sequential document computing the same as a validated graph document that is
    one chain (one vector input, feed-forward nodes each reading the one before, one
    output at the end), or None: what ``LightweightNeuralNetwork`` (and so the lwtnn
    C++ inside correctionlib) can run of it."""
    inputs, nodes, outputs = graph["inputs"], graph["nodes"], graph["outputs"]
    if graph.get("input_sequences") or len(inputs) != 1 or len(outputs) != 1:
        return None
    (output,) = outputs.values()
    chain, index = [], output["node_index"]
    while nodes[index]["type"] == "feed_forward":
        chain.append(nodes[index]["layer_index"])
        index = nodes[index]["sources"][0]
    if nodes[index]["type"] != "input" or len(chain) + 1 != len(nodes) or not chain:
        return None
    variables = inputs[0]["variables"]
    return {"inputs": variables, "layers": [graph["layers"][i] for i in reversed(chain)],
            "outputs": list(output["labels"]),
            "defaults": {v["name"]: v["default"] for v in variables if "default" in v}}
