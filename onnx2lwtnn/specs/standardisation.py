"""Mean/std files, the way trainings save their input standardisation ``(x - mean) /
std``, and names-only lists. Their keys say what they mean, so they need no
``--variables-convention``:

- parallel arrays: ``{"variables"|"branches": [names], "mean": [...], "std"|"stddev":
  [...]}``, the numbers possibly nested under ``"normalization"``;
- one entry per variable: ``{"<name>": {"mean": m, "std"|"stddev": s}}`` or umami's
  ``{"<name>": {"shift": m, "scale": s, "default"?: d}}``, possibly under
  ``"normalization"``;
- names only: ``{"variables"|"branches": [names]}``, no preprocessing;
- a parametrised network's config (ATLAS SUSY-2018-30 style) adds ``"parameters":
  [{"mGluino": 1900, ...}, ...]``: the network's inputs are the named variables followed
  by the parameters (in the points' key order), which the arrays may or may not cover.
"""
from __future__ import annotations

from typing import Any, Optional

from ..errors import UsageError
from ..interface import Interface, Variable
from .common import LWTNN, one_input, standardised

NAME_KEYS = ("variables", "branches")
NUMBER_GROUPS = ("normalization", "normalisation")
PAIRS = (("mean", "std"), ("mean", "stddev"), ("shift", "scale"))
PARAMETERS = "parameters"


def is_standardisation(spec: dict) -> bool:
    return (_names(spec) is not None or _pair(_numbers(spec)) is not None
            or bool(_per_variable(_numbers(spec))))


def read_standardisation(spec: dict, where: str, convention: Optional[str],
                         input_widths: dict[str, int], sequences: frozenset) -> Interface:
    if convention == LWTNN:
        raise UsageError(f"{where}: a mean/std spec means (x - mean) / std; "
                         "variables_convention='lwtnn' contradicts it")
    names, numbers = _names(spec), _numbers(spec)
    pair = _pair(numbers)
    _refuse_unknown_keys(spec, where, numbers, pair)
    parameters = [n for n in parameter_names(spec, where) if n not in (names or ())]
    if pair is not None:
        if names is None:
            raise UsageError(f"{where}: '{pair[0]}' and '{pair[1]}' lists need the variable "
                             f"names under 'variables' or 'branches'")
        if parameters and len(numbers[pair[0]]) == len(names) + len(parameters):
            names, parameters = names + parameters, []  # the parameters are scaled too
        variables = _from_arrays(where, names, numbers, pair)
    elif _per_variable(numbers):
        variables = _from_entries(where, names, _per_variable(numbers))
    else:
        variables = [Variable(name) for name in names]
    named = {v.name for v in variables}
    variables += [Variable(name) for name in parameters if name not in named]
    return one_input(where, variables, input_widths, sequences)


def parameter_names(spec: dict, where: str) -> list[str]:
    """The parameters of a parametrised network's config, in its points' key order."""
    points = spec.get(PARAMETERS)
    if points is None:
        return []
    if not (isinstance(points, list) and points and all(isinstance(p, dict) for p in points)):
        raise UsageError(f"{where}: 'parameters' must be a list of {{name: value}} points")
    names = list(points[0])
    if any(list(p) != names for p in points):
        raise UsageError(f"{where}: every parameter point must name the same parameters "
                         f"({', '.join(names)}) in the same order")
    return names


def _refuse_unknown_keys(spec: dict, where: str, numbers: dict,
                         pair: Optional[tuple[str, str]]) -> None:
    """A key this form does not know (a misspelt 'std', an 'offset' list) would otherwise
    be ignored silently, and the network would get the wrong inputs."""
    known = {*NAME_KEYS, *NUMBER_GROUPS, PARAMETERS, *(pair or ()), *_per_variable(numbers)}
    keys = [*spec, *(numbers if numbers is not spec else ())]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a mean/std "
                         f"spec has {' or '.join(NAME_KEYS)} names and "
                         f"{', '.join('/'.join(p) for p in PAIRS)} numbers")


def _names(spec: dict) -> Optional[list[str]]:
    for key in NAME_KEYS:
        names = spec.get(key)
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    return None


def _numbers(spec: dict) -> dict:
    for key in NUMBER_GROUPS:
        if isinstance(spec.get(key), dict):
            return spec[key]
    return spec


def _pair(numbers: dict) -> Optional[tuple[str, str]]:
    """The (centre, spread) keys of parallel arrays, if ``numbers`` holds such lists."""
    for pair in PAIRS:
        if all(isinstance(numbers.get(key), list) for key in pair):
            return pair
    return None


def _per_variable(numbers: dict) -> dict[str, dict]:
    """``{name: {centre, spread}}`` entries, when every dict-valued key is one."""
    entries = {k: v for k, v in numbers.items() if isinstance(v, dict)}
    if entries and all(_entry_pair(v) is not None for v in entries.values()):
        return entries
    return {}


def _entry_pair(entry: dict) -> Optional[tuple[str, str]]:
    return next((pair for pair in PAIRS if all(key in entry for key in pair)), None)


def _from_arrays(where: str, names: list[str], numbers: dict,
                 pair: tuple[str, str]) -> list[Variable]:
    centres, spreads = numbers[pair[0]], numbers[pair[1]]
    for key, values in zip(pair, (centres, spreads)):
        if len(values) != len(names):
            raise UsageError(f"{where}: '{key}' has {len(values)} values for "
                             f"{len(names)} variables")
    return [standardised(where, name, _number(where, name, pair[0], c),
                         _number(where, name, pair[1], s), spread_key=pair[1])
            for name, c, s in zip(names, centres, spreads)]


def _from_entries(where: str, names: Optional[list[str]],
                  entries: dict[str, dict]) -> list[Variable]:
    if names is None:
        names = list(entries)
    missing = [n for n in names if n not in entries]
    if missing:
        raise UsageError(f"{where}: no mean/std entry for variable(s) {', '.join(missing)}")
    variables = []
    for name in names:
        entry = entries[name]
        centre, spread = _entry_pair(entry)
        default = entry.get("default")
        variables.append(standardised(
            where, name, _number(where, name, centre, entry[centre]),
            _number(where, name, spread, entry[spread]),
            None if default is None else _number(where, name, "default", default),
            spread_key=spread))
    return variables


def _number(where: str, name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: variable '{name}': '{key}' is not a number "
                         f"({value!r})")
    return float(value)
