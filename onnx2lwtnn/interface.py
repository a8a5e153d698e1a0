"""The names lwtnn sees: input variables and output labels.

By default input ``x`` of width n (a vector, or a sequence of steps of n features) has
variables ``x_0 .. x_{n-1}`` and output ``y`` has
labels ``y_0 ..``; a variable spec (see ``specs``) can name them, add defaults, give
the preprocessing lwtnn applies first, ``(x + offset) * scale``, and rename outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Optional

import numpy as np

from .exact import Exact


@dataclass(frozen=True)
class Variable:
    """An input variable; ``offset`` and ``scale`` are exact (a float, or a Fraction
    such as 1 / std) until the conversion rounds them, once, into the document."""

    name: str
    default: Optional[float] = None
    offset: Real = 0.0
    scale: Real = 1.0


@dataclass
class Interface:
    """Names chosen for each graph input's variables and each graph output's labels."""

    input_variables: dict[str, list[Variable]] = field(default_factory=dict)
    sequence_variables: dict[str, list[Variable]] = field(default_factory=dict)  # per step
    output_labels: dict[str, list[str]] = field(default_factory=dict)  # by ONNX name
    output_names: dict[str, str] = field(default_factory=dict)  # ONNX name -> lwtnn name
    default_labels: Optional[list[str]] = None  # keras2json's class_labels: any one output
    miscellaneous: dict[str, str] = field(default_factory=dict)

    def variables(self, input_name: str, width: int, sequence: bool = False) -> list[Variable]:
        """The variables of a vector input (``sequence``: of each step of a sequence input)."""
        named = (self.sequence_variables if sequence else self.input_variables).get(input_name)
        return named if named is not None else [
            Variable(f"{input_name}_{i}") for i in range(width)]

    def preprocessing(self, input_name: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """The spec's (offsets, scales) for an input (vector or sequence), if it names one,
        as doubles."""
        exact = self.exact_preprocessing(input_name)
        return None if exact is None else (exact[0].rounded(), exact[1].rounded())

    def exact_preprocessing(self, input_name: str) -> Optional[tuple[Exact, Exact]]:
        """The spec's (offsets, scales) for an input, exactly, if it names one."""
        named = self.input_variables.get(input_name, self.sequence_variables.get(input_name))
        if named is None:
            return None
        return (Exact.of(np.array([v.offset for v in named], dtype=object)),
                Exact.of(np.array([v.scale for v in named], dtype=object)))

    def output_name(self, onnx_name: str) -> str:
        """The lwtnn name of an ONNX graph output (its own, unless the spec renames it)."""
        return self.output_names.get(onnx_name, onnx_name)

    def labels(self, output_name: str, width: int) -> list[str]:
        named = self.output_labels.get(output_name, self.default_labels)
        return named if named is not None else [f"{output_name}_{i}" for i in range(width)]
