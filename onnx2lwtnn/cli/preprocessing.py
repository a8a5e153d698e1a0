"""Conversion options for preprocessing kept outside the network: a TMVA weights file's
transformations (``--tmva-weights``) and a parametrised network's fixed parameters
(``--fix NAME=VALUE``, or one network per point of a config's ``parameters`` list with
``--fix-from``)."""
from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

from .. import files
from ..errors import UsageError
from ..files import quote
from ..specs import load, parameter_names
from .common import make_output_dir, run_inputs


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tmva-weights", type=Path, metavar="WEIGHTS.xml",
                        help="fold a TMVA weights file's input transformations (Normalize, "
                             "Decorrelation, PCA) and a regression's inverse target "
                             "transformation in: the ONNX network reads TMVA's transformed "
                             "variables, the lwtnn one the raw ones")
    parser.add_argument("--fix", type=_assignment, action="append", metavar="NAME=VALUE",
                        help="freeze input variable NAME (a signal-hypothesis parameter) at "
                             "the raw VALUE; repeatable")
    parser.add_argument("--fix-from", type=Path, metavar="CONFIG.json",
                        help="one network per point of the config's 'parameters' list, "
                             "written to --output-dir as <model>_<name><value>....json; the "
                             "config is also the variable spec unless --variables is given")


def fixed(args: argparse.Namespace) -> dict[str, float]:
    counts = Counter(name for name, _ in args.fix or [])
    twice = [name for name, count in counts.items() if count > 1]
    if twice:
        raise UsageError(f"--fix {quote(twice[0])} is given twice")
    return dict(args.fix or [])


def refuse_check(args: argparse.Namespace) -> None:
    if getattr(args, "check", False) and (args.tmva_weights or args.fix or args.fix_from):
        raise UsageError("--check compares with the ONNX model, which reads other inputs "
                         "than a network with --tmva-weights or fixed parameters; check the "
                         "conversion without them, or a TMVA MLP with 'onnx2lwtnn tmva'")


def run_fix_from(args: argparse.Namespace, model: Path, spec: Optional[Path],
                 convert_one: Callable[[Path, Optional[Path], dict], dict],
                 write: Callable[[list[tuple[dict, Path]]], None]) -> None:
    """Convert every parameter point first, then write them all at once (``write``
    writes all or nothing): a failure writes nothing. Each network is written to
    ``--output-dir`` under a name made from the point, confined to that folder."""
    if args.output_dir is None or args.output is not None:
        raise UsageError("--fix-from writes one network per parameter point: it needs "
                         "--output-dir DIR (and no -o)")
    make_output_dir(args.output_dir)
    config, where = load(args.fix_from)
    parameter_names(config, where)  # validates the list
    points = config.get("parameters")
    if not points:
        raise UsageError(f"{where}: no 'parameters' list of points to fix")
    spec = spec if spec is not None else args.fix_from
    both = set(fixed(args)) & set(points[0])  # every point names the same parameters
    if both:
        raise UsageError(f"--fix and {where} both fix {quote(sorted(both)[0])}")
    values = [{**fixed(args), **{name: _number(where, name, v) for name, v in point.items()}}
              for point in points]
    targets = [files.name_in(args.output_dir, f"{model.stem}_{_point_name(point)}.json")
               for point in points]
    named: dict[Path, dict] = {}
    for point, target in zip(points, targets):
        if named.setdefault(target, point) is not point:
            raise UsageError(f"{where}: points {_shown(named[target])} and {_shown(point)} "
                             f"would both be written to {target}")
    for target in targets:  # before converting any: a bad name fails at once
        files.check_output(target, run_inputs(args, model))
    write([(convert_one(model, spec, point), target)
           for point, target in zip(values, targets)])


def _point_name(point: dict) -> str:
    return "_".join(f"{name}{json.dumps(value)}" for name, value in point.items())


def _shown(point: dict) -> str:
    return files.quote(json.dumps(point), 80)


def _number(where: str, name: str, value) -> float:
    number = _finite(value) if isinstance(value, (int, float)) else None
    if isinstance(value, bool) or number is None:
        raise UsageError(f"{where}: parameter {quote(name)} has value "
                         f"{quote(json.dumps(value), 40)}, not a finite number")
    return number


def _assignment(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = _finite(float(value)) if sep and name.strip() else None
    except ValueError:
        number = None
    if number is None:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a finite number, got "
                                         f"{quote(text, 80)}")
    return name.strip(), number


def _finite(value) -> Optional[float]:
    """The value as a finite float, or None (NaN, infinities, 1e309, 10**400)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
