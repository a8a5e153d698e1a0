"""The folds of a network as one CorrectionSet: analyses train a network on some events
and apply it to the others (ATLAS ships even/odd pairs), and every framework chooses the
fold by hand. Here the k-th model is the k-th branch of a ``category`` node on an integer
input, in every correction.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from .api import Conversion, ModelSource, conversion
from .check_correctionset import verify_correction_set
from .correctionset import fold
from .defaults import CORRECTIONLIB
from .errors import UsageError

Spec = Union[str, os.PathLike, dict, None]


def fold_conversion(models: Sequence[ModelSource], *, fold_input: str,
                    variables: Optional[Sequence[Spec]] = None,
                    correction_name: Optional[str] = None, verify: bool = True,
                    **options: Any) -> Conversion:
    """One CorrectionSet of several models with one interface (names and widths), model k
    computing the events whose ``fold_input`` is k. ``variables``: none, or one spec per
    model, in model order (folds are normalised differently). ``correction_name``
    defaults to what the models' file names share (``higp_even``, ``higp_odd``:
    ``higp``). The other options are ``conversion``'s; the set is verified against every
    fold's own model."""
    if len(models) < 2:
        raise UsageError("fold_input= takes two models or more, one per fold")
    if not fold_input:
        raise UsageError("fold_input= is empty; name the integer input choosing the fold")
    specs = list(variables) if variables is not None else [None] * len(models)
    if len(specs) != len(models):
        raise UsageError(f"variables= gives {len(specs)} spec(s) for {len(models)} folds; give "
                         "one per model, in model order (folds are normalised differently)")
    name = correction_name if correction_name is not None else _shared_stem(models)
    converted = [conversion(model, format=CORRECTIONLIB, variables=spec, verify=False,
                            correction_name=name, **options)
                 for model, spec in zip(models, specs)]
    sources = tuple(source for c in converted for source in c.sources)
    document = fold([c.document for c in converted], fold_input, [s.name for s in sources])
    if verify:
        verify_correction_set(document, sources, fold_input)
    return Conversion(document, converted[0].onnx_multiply_adds, sources)


def _shared_stem(models: Sequence[ModelSource]) -> str:
    """What the models' file names start with, without a trailing separator."""
    stems = [Path(m).stem if isinstance(m, (str, os.PathLike)) else "" for m in models]
    shared = os.path.commonprefix(stems).rstrip("_-. ")
    if not shared:
        raise UsageError("the models' file names share no beginning to name the corrections "
                         "after; give correction_name=")
    return shared
