"""A TMVA weights file (``<MethodSetup>``): what it says about the method, its variables,
targets and classes, read without ROOT.

Every number TMVA reads as ``float`` (MLP weights, Normalize ranges) is rounded to
float32 here too, so the converted network holds exactly the values TMVA computes with.
"""
from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .. import limits
from ..errors import ModelLoadError
from ..files import quote
from . import xmlsafe

FAST_TANH_VERSION = (4 << 16) | (2 << 8) | 1  # TMVA 4.2.1 and later: the fast tanh


@dataclass
class Method:
    """The parts of a weights file a conversion reads."""

    where: str                   # how to name the file in messages
    method: str                  # "MLP", "BDT", ...
    title: str                   # the name the Reader books it under
    version: int                 # TMVA's version code, 0 if not recorded
    analysis: str                # "Classification", "Regression" or "Multiclass"
    options: dict[str, str]
    variables: list[str]         # Expression of each variable, in <Variables> order
    labels: list[str]            # Label of each variable
    ranges: np.ndarray           # [NVar, 2] training min and max of each variable
    targets: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    root: Optional[ElementTree.Element] = None

    def option(self, name: str, default: str = "") -> str:
        return self.options.get(name, default)

    def variable_index(self, kind: str, label: str, expression: str) -> int:
        """Index of a transformation's selected variable or target: the first whose
        label or expression is the given label or expression."""
        first = self._first_index[kind]
        index = min(first.get(label, math.inf), first.get(expression, math.inf))
        if index == math.inf:
            raise self.error(f"a transformation selects {kind.lower()} {quote(label)}, "
                             "which the file does not declare")
        return int(index)

    @cached_property
    def _first_index(self) -> dict[str, dict[str, int]]:
        """Kind -> name (label or expression) -> the first index bearing it: a selection
        of thousands of inputs is looked up, not scanned."""
        found: dict[str, dict[str, int]] = {"Variable": {}, "Target": {}}
        for kind, names in (("Variable", zip(self.labels, self.variables)),
                            ("Target", zip(self.targets, self.targets))):
            for index, pair in enumerate(names):
                for name in pair:
                    found[kind].setdefault(name, index)
        return found

    def error(self, reason: str) -> ModelLoadError:
        return ModelLoadError(f"{self.where}: {reason}")


def read_method(path: Union[str, os.PathLike]) -> Method:
    """Parse a TMVA weights file's header: method, variables, targets, classes."""
    where = str(Path(path))
    root = xmlsafe.parse(path)
    if root.tag != "MethodSetup":
        raise ModelLoadError(f"{where}: not a TMVA weights file (the root element is "
                             f"<{root.tag}>, not <MethodSetup>)")
    method, _, title = root.get("Method", "").partition("::")
    info = {i.get("name"): i.get("value", "") for i in root.iterfind("GeneralInfo/Info")}
    options = {o.get("name"): (o.text or "").strip() for o in root.iterfind("Options/Option")}
    variables = root.findall("Variables/Variable")
    if not variables:
        raise ModelLoadError(f"{where}: no <Variables>; a TMVA method reads at least one")
    if len(variables) > limits.limit("tmva-variables"):
        raise ModelLoadError(f"{where}: {len(variables):,} variables; TMVA files are limited "
                             f"to {limits.bound('tmva-variables', 'variables')}")
    names = {"variables": [v.get("Expression") or v.get("Label", "") for v in variables],
             "targets": [t.get("Expression") or t.get("Label", "")
                         for t in root.iterfind("Targets/Target")],
             "classes": [c.get("Name", "") for c in root.iterfind("Classes/Class")]}
    for kind, listed in names.items():
        _distinct(where, kind, listed)
    return Method(
        where=where, method=method, title=title or method,
        version=_version(info.get("TMVA Release", "")),
        analysis=info.get("AnalysisType", "Classification"), options=options,
        variables=names["variables"],
        labels=[v.get("Label") or v.get("Expression", "") for v in variables],
        ranges=_ranges(where, variables), targets=names["targets"], classes=names["classes"],
        root=root)


def numbers(method: Method, element: ElementTree.Element, count: int, what: str,
            dtype: type = np.float64) -> np.ndarray:
    """The ``count`` numbers in an element's text (TMVA writes them space-separated)."""
    text = (element.text or "").split()
    if len(text) != count:
        raise method.error(f"{what}: expected {count} numbers, found {len(text)}")
    try:
        values = np.array([float(t) for t in text], dtype=dtype)
    except ValueError:
        raise method.error(f"{what}: holds something that is not a number") from None
    if not np.all(np.isfinite(values)):
        raise method.error(f"{what}: holds non-finite numbers")
    return values.astype(np.float64)


def integer(method: Method, element: ElementTree.Element, name: str) -> int:
    try:
        return int(element.get(name, ""))
    except ValueError:
        raise method.error(f"<{element.tag}> has no integer {name} "
                           f"(found {element.get(name)!r})") from None


def _distinct(where: str, kind: str, names: list[str]) -> None:
    """Variables, targets and classes become lwtnn's variable names and output labels,
    which it looks up by name: each must be named once."""
    twice = next((name for name, count in Counter(names).items() if count > 1), None)
    if twice is not None:
        raise ModelLoadError(f"{where}: two {kind} are named {quote(twice)}; lwtnn looks "
                             "them up by name")


def _ranges(where: str, variables: list[ElementTree.Element]) -> np.ndarray:
    """[NVar, 2]: each variable's training Min and Max (float32 values, as TMVA keeps
    them), finite and in order: the check draws its events between them."""
    ranges = np.zeros((len(variables), 2))
    for index, variable in enumerate(variables):
        name = quote(variable.get("Expression") or variable.get("Label", ""))
        try:
            low, high = (_float32(variable.get(key, "")) for key in ("Min", "Max"))
        except ValueError:
            raise ModelLoadError(f"{where}: variable {name} has no numeric Min and "
                                 "Max") from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ModelLoadError(f"{where}: variable {name} has training range [{low:g}, "
                                 f"{high:g}]; a range must be finite (in float) with Min <= Max")
        ranges[index] = low, high
    return ranges


def _float32(text: str) -> float:
    with np.errstate(over="ignore"):  # beyond float's range: inf, refused by the caller
        return float(np.float32(float(text)))


def _version(release: str) -> int:
    """TMVA's version code from ``"4.2.1 [262657]"``; 0 when it is not recorded."""
    code = re.search(r"\[(\d+)\]", release)
    if code:
        return int(code.group(1))
    parts = re.match(r"(\d+)\.(\d+)\.(\d+)", release)
    return (int(parts[1]) << 16 | int(parts[2]) << 8 | int(parts[3])) if parts else 0
