"""Variable specs in, an ``Interface`` (names, preprocessing, labels) out.

One reader per form, each recognised by its keys (see its module): lwtnn's own graph
and sequential specs and the ``{variables, offset, scale}`` arrays, whose meaning must be
stated (``lwtnn_forms``); mean/std files, per-variable entries, names-only lists and
parametrised networks' configs, which say what they mean (``standardisation``).
"""
from __future__ import annotations

from typing import Callable, Optional

from .. import files
from ..errors import UsageError
from ..interface import Interface
from .common import CONVENTIONS, LWTNN, SUBTRACT_DIVIDE, SpecSource, load
from .lwtnn_forms import (is_lwtnn_spec, is_offset_arrays, read_lwtnn_spec,
                          read_offset_arrays, template)
from .standardisation import is_standardisation, parameter_names, read_standardisation

__all__ = ["CONVENTIONS", "LWTNN", "SUBTRACT_DIVIDE", "read_spec", "template", "load",
           "parameter_names", "is_spec"]

Reader = Callable[[dict, str, Optional[str], dict, frozenset], Interface]
READERS: tuple[tuple[Callable[[dict], bool], Reader], ...] = (
    (is_lwtnn_spec, read_lwtnn_spec),
    (is_offset_arrays, read_offset_arrays),
    (is_standardisation, read_standardisation),
)


def is_spec(document: dict) -> bool:
    """Whether a JSON object has the keys of a spec form this package reads."""
    return any(matches(document) for matches, _ in READERS)


def read_spec(source: SpecSource, convention: Optional[str],
              input_widths: dict[str, Optional[int]],
              sequences: frozenset = frozenset()) -> Interface:
    """Parse a spec against the model's inputs (name -> number of features; the names in
    ``sequences`` are sequence inputs, whose width is per time step)."""
    spec, where = load(source)
    if convention is not None and convention not in CONVENTIONS:
        raise UsageError(f"unknown variables convention '{convention}'; use one of "
                         f"{', '.join(CONVENTIONS)}")
    for matches, reader in READERS:
        if matches(spec):
            try:
                interface = reader(spec, where, convention, input_widths, sequences)
            except (KeyError, TypeError, AttributeError, IndexError) as exc:
                missing = f"no {files.quote(exc.args[0])} entry" if isinstance(exc, KeyError) \
                    else "an entry of the wrong type"
                raise UsageError(f"{where}: not a variable spec this tool can read "
                                 f"({missing})") from None
            _check_unique_names(interface, where)
            return interface
    raise UsageError(f"{where}: not a variable spec: no 'inputs' list, no 'variables' or "
                     "'branches' names, and no mean/std or offset/scale numbers")


def _check_unique_names(interface: Interface, where: str) -> None:
    """lwtnn looks variables and labels up by name: one name twice would silently take
    one value for both."""
    named = [*(("input", node, [v.name for v in variables]) for node, variables in
               {**interface.input_variables, **interface.sequence_variables}.items()),
             *(("output", node, labels) for node, labels in interface.output_labels.items()),
             ("output", "", interface.default_labels or [])]
    for kind, node, names in named:
        seen: set[str] = set()
        twice = next((name for name in names if name in seen or seen.add(name)), None)
        if twice is not None:
            what = "variable" if kind == "input" else "label"
            owner = f"{kind} {files.quote(node)}" if node else "the output"
            raise UsageError(f"{where}: {owner} has the {what} {files.quote(twice)} twice")
