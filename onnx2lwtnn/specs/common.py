"""What every spec reader shares: loading the file, checking it against the model's
inputs, and turning one variable's numbers into lwtnn's ``(x + offset) * scale``."""
from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from typing import Any, Optional, Union

from .. import files
from ..errors import UsageError
from ..interface import Interface, Variable

LWTNN, SUBTRACT_DIVIDE = "lwtnn", "subtract-divide"
CONVENTIONS = (LWTNN, SUBTRACT_DIVIDE)
SpecSource = Union[str, os.PathLike, dict]


def load(source: SpecSource) -> tuple[dict, str]:
    """The parsed spec and how to name it in messages."""
    if isinstance(source, dict):
        return source, "variable spec"
    spec = files.read_json(source, "variable spec", files.SPEC_LIMIT, stdin=True)
    return spec, str(source)


def variable(entry: Any, where: str, convention: str) -> Variable:
    """One ``{"name", "offset", "scale", "default"?}`` entry, read in ``convention``."""
    try:
        name, offset, scale = str(entry["name"]), _number(entry["offset"]), _number(entry["scale"])
        default = entry.get("default")
        default = None if default is None else _number(default)
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{where}: each variable needs a name and numeric offset and "
                         f"scale; got {json.dumps(entry)[:80]}") from None
    if convention == SUBTRACT_DIVIDE:
        return standardised(where, name, offset, scale, default, "scale")
    return Variable(name, default, offset, scale)


def _number(value: Any) -> float:
    """A JSON number, finite: not a string such as "nan", not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    if not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def standardised(where: str, name: str, mean: float, spread: float,
                 default: Optional[float] = None, spread_key: str = "std") -> Variable:
    """``(x - mean) / spread`` as lwtnn's ``(x + offset) * scale``; a spread that is not a
    positive finite number (or a mean that is not finite) has no such meaning."""
    if not math.isfinite(mean):
        raise UsageError(f"{where}: variable '{name}' has a non-finite mean ({mean})")
    if not (math.isfinite(spread) and spread > 0):
        raise UsageError(f"{where}: variable '{name}' has {spread_key} {spread}; "
                         f"(x - mean) / {spread_key} needs a positive finite {spread_key}")
    return Variable(name, default, -mean, 1 / Fraction(spread))


def check_input(where: str, name: Any, count: int, input_widths: dict[str, int]) -> None:
    if name not in input_widths:
        raise UsageError(f"{where}: unknown input '{name}'; the model's inputs are "
                         f"{', '.join(repr(n) for n in input_widths)}")
    if input_widths[name] is not None and count != input_widths[name]:  # None: unknown
        raise UsageError(f"{where}: the spec has {count} variables for input '{name}', "
                         f"but the ONNX input has {input_widths[name]} features")


def single_input(where: str, input_widths: dict[str, int]) -> str:
    if len(input_widths) != 1:
        raise UsageError(f"{where}: this spec form describes one input, but the model has "
                         f"{len(input_widths)}; use lwtnn's graph spec form")
    return next(iter(input_widths))


def named_variables(interface: Interface, name: str, sequences: frozenset) -> dict:
    return interface.sequence_variables if name in sequences else interface.input_variables


def one_input(where: str, variables: list[Variable], input_widths: dict[str, int],
              sequences: frozenset) -> Interface:
    """An Interface giving the model's only input these variables."""
    name = single_input(where, input_widths)
    check_input(where, name, len(variables), input_widths)
    interface = Interface()
    named_variables(interface, name, sequences)[name] = variables
    return interface
