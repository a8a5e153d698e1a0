"""``onnx2lwtnn MODEL.onnx [...]``: convert one model, or many into a folder."""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

from .. import files
from ..defaults import CHEAPEST, CORRECTIONLIB, FORMATS, GRAPH, LAYOUTS
from ..errors import UsageError
from . import preprocessing
from .common import (EXIT_FAILED, EXIT_OK, add_check_options, add_spec_options,
                     change_printer, guarded, info, make_output_dir, model_run_inputs,
                     model_specs, new_parser, output_path, random_events, run_inputs,
                     write_output)

EXAMPLES = """\
examples:
  onnx2lwtnn model.onnx -o model.json          convert to lwtnn graph JSON
  onnx2lwtnn model.onnx -o model.json --check  convert, then prove it on 1000 events
                                               (every conversion is verified on a
                                               few events before it is written)
  onnx2lwtnn model.onnx --format sequential    LightweightNeuralNetwork JSON on stdout
  onnx2lwtnn model.onnx --format correctionlib -o cset.json
                                               a correctionlib CorrectionSet (CMS):
                                               one correction per output label
  onnx2lwtnn tagger.onnx --format correctionlib --finalizer 'x[0]/(x[0]+x[1])'
                                               one correction: a b-vs-light discriminant
  onnx2lwtnn odd.onnx even.onnx --format correctionlib --fold-input fold \
      --variables odd.json --variables even.json -o cset.json
                                               folds: fold = eventNumber % 2 picks the
                                               network (0: the first model, 1: the second)
  onnx2lwtnn model.onnx --layout literal       one lwtnn node per ONNX construct
  onnx2lwtnn model.onnx -o model.json --variables spec.json
                                               name variables, add preprocessing
  onnx2lwtnn model.onnx -o model.json --variables hepdata.json \\
      --variables-convention subtract-divide   a {variables, offset, scale} spec
                                               meaning (x - offset) / scale
  onnx2lwtnn model.onnx -o model.json --variables norm.json
                                               a mean/std file: (x - mean) / std
  onnx2lwtnn model.onnx -o model.json --tmva-weights TMVA.weights.xml
                                               fold TMVA's input transformations in
  onnx2lwtnn param.onnx --fix-from config.json --output-dir out/
                                               one network per signal hypothesis
  onnx2lwtnn tmva TMVA_MLP.weights.xml -o mlp.json
                                               a TMVA MLP itself, without ROOT
  onnx2lwtnn clf.onnx -o clf.json --outputs probabilities
                                               keep only that output (not the label)
  onnx2lwtnn tagger.onnx -o tagger.json --merge-outputs all
                                               one lwtnn output 'all' with every
                                               output's labels: one compute call
  onnx2lwtnn a.onnx b.onnx --output-dir out/   convert many, one summary
  onnx2lwtnn check model.onnx model.json       compare ONNX and lwtnn outputs
  onnx2lwtnn template model.onnx -o spec.json  write a variable spec to fill in
  onnx2lwtnn inspect model.onnx                interface, and what each node becomes
  onnx2lwtnn ops                               the operators that convert

subcommands: {subcommands} (see onnx2lwtnn SUBCOMMAND --help)
exit codes: 0 success, 1 cannot convert or check failed, 2 usage error
"""


def parser(subcommands: str = "") -> argparse.ArgumentParser:
    result = new_parser("onnx2lwtnn", "Convert ONNX neural networks to lwtnn JSON, exactly: "
                        "anything lwtnn cannot express is refused, naming every offending "
                        "node.", EXAMPLES.replace("{subcommands}", subcommands))
    result.add_argument("models", type=Path, nargs="+", metavar="MODEL.onnx")
    result.add_argument("-o", "--output", type=output_path,
                        help="where to write the lwtnn JSON (default, or '-': stdout)")
    result.add_argument("--output-dir", type=Path,
                        help="convert every MODEL into DIR/<model name>.json")
    result.add_argument("--format", choices=FORMATS, default=GRAPH,
                        help="lwtnn graph (LightweightGraph, default) or sequential "
                             "(LightweightNeuralNetwork, single chains only), or "
                             "correctionlib: a CorrectionSet running the network through "
                             "correctionlib's lwtnn node, input transforms (log, exp, sqrt, "
                             "pow, clip, ...) of input features included")
    result.add_argument("--correction-name", metavar="NAME",
                        help="correctionlib: the correction's name (default: the model's file "
                             "stem); NAME_<label> for each label of a model with several")
    result.add_argument("--finalizer", metavar="EXPR",
                        help="correctionlib: one correction whose value is EXPR, a TFormula "
                             "over the output's labels x[0], x[1], ... in order (e.g. "
                             "'x[0]/(x[0]+x[1])'), instead of one correction per label")
    result.add_argument("--fold-input", metavar="NAME",
                        help="correctionlib: the MODELs are the folds of one network (same "
                             "interface); each correction picks model k where the integer "
                             "input NAME is k (0 for the first model). --variables is then "
                             "given once per model, in the same order")
    result.add_argument("--outputs", type=_names, metavar="NAME[,NAME]",
                        help="convert only these graph outputs (and what they read), e.g. a "
                             "classifier's probabilities without its integer label")
    result.add_argument("--merge-outputs", metavar="NAME",
                        help="write one lwtnn output NAME holding every output's labels, "
                             "each prefixed by its output's name (<output>_<label>), so one "
                             "compute call evaluates what the outputs share once (lwtnn "
                             "computes each output by its own call and caches nothing)")
    result.add_argument("--layout", choices=LAYOUTS, default=CHEAPEST,
                        help="cheapest (default): values read twice are passed along a "
                             "chain of layers, exactly, when lwtnn (which caches nothing) "
                             "would otherwise compute them twice; literal: one node per "
                             "ONNX construct, to read against the ONNX file")
    add_spec_options(result, per_model=True)
    preprocessing.add_options(result)
    result.add_argument("--check", action="store_true",
                        help="after converting, compare ONNX and lwtnn outputs on --events "
                             "events with the full report (as 'onnx2lwtnn check'); exit 1 "
                             "if they differ. Without it, every conversion is still "
                             "verified on a few events before it is written")
    result.add_argument("--no-verify", action="store_true",
                        help="UNSAFE: write without verifying the network against the "
                             "float64 ONNX model first")
    add_check_options(result)
    return result


def run(args: argparse.Namespace) -> int:
    preprocessing.refuse_check(args)
    _check_correctionlib_options(args)
    if args.fix_from is not None:
        return _run_fix_from(args)
    specs = model_specs(args, args.models)
    if args.fold_input is not None:
        return _run_folds(args, specs)
    if len(args.models) > 1 or args.output_dir is not None:
        return _run_batch(args, specs)
    model = args.models[0]
    if args.output is not None:
        files.check_output(args.output, model_run_inputs(args, args.output, model))
    return _convert_one(args, model, specs[0], args.output)


def _check_correctionlib_options(args: argparse.Namespace) -> None:
    given = [flag for flag, value in (("--correction-name", args.correction_name),
                                      ("--finalizer", args.finalizer),
                                      ("--fold-input", args.fold_input)) if value is not None]
    if given and args.format != CORRECTIONLIB:
        raise UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                         "--format correctionlib (they shape a CorrectionSet)")
    if args.fold_input is not None and (args.output_dir is not None or args.fix_from):
        raise UsageError("--fold-input writes one CorrectionSet of all the models: give -o "
                         "FILE, not --output-dir or --fix-from")


def _correctionlib_options(args: argparse.Namespace) -> dict:
    if args.format != CORRECTIONLIB:
        return {}
    return {"correction_name": args.correction_name, "finalizer": args.finalizer}


def _convert_one(args: argparse.Namespace, model: Path, spec: Optional[Path],
                 output: Optional[Path], inputs: Sequence[Path] = ()) -> int:
    from ..api import conversion  # the converter: onnx, only when converting
    converted = conversion(model, format=args.format, variables=spec,
                           variables_convention=args.variables_convention,
                           outputs=args.outputs, layout=args.layout,
                           on_change=change_printer(args),
                           tmva_weights=args.tmva_weights, fix=preprocessing.fixed(args),
                           verify=not (args.check or args.no_verify),
                           merge_outputs=args.merge_outputs, **_correctionlib_options(args))
    return _finish(args, [model], [spec], converted, output, inputs)


def _run_folds(args: argparse.Namespace, specs: list[Optional[Path]]) -> int:
    from ..folds import fold_conversion  # noqa: PLC0415 (only for folds)

    if args.output is not None:
        files.check_output(args.output, model_run_inputs(args, args.output, *args.models))
    converted = fold_conversion(args.models, fold_input=args.fold_input,
                                variables=specs,
                                variables_convention=args.variables_convention,
                                outputs=args.outputs, layout=args.layout,
                                on_change=change_printer(args),
                                tmva_weights=args.tmva_weights, fix=preprocessing.fixed(args),
                                verify=not (args.check or args.no_verify),
                                correction_name=args.correction_name,
                                finalizer=args.finalizer, merge_outputs=args.merge_outputs)
    return _finish(args, args.models, specs, converted, args.output)


def _finish(args: argparse.Namespace, models: Sequence[Path], specs: list[Optional[Path]],
            converted, output: Optional[Path], inputs: Sequence[Path] = ()) -> int:
    """Prove with --check (nothing written if it fails), write, say what it costs."""
    from ..api import to_json
    document = converted.document
    if args.check and not _checked(args, models, converted, specs):
        return EXIT_FAILED  # nothing written: the conversion is not proven
    write_output(args, output, to_json(document), run_inputs(args, *models, *inputs))
    info(args, converted.cost_line())
    return EXIT_OK


def _checked(args: argparse.Namespace, models: Sequence[Path], converted,
             specs: list[Optional[Path]]) -> bool:
    """--check: the full report on stderr; whether it passed."""
    from .check import cli_names, report_check
    if args.format != CORRECTIONLIB:
        return report_check(args, models[0], converted.document, sys.stderr, specs[0])
    from ..check_correctionset import check_correction_set  # noqa: PLC0415

    report = check_correction_set(converted.document, converted.sources,
                                  fold_input=args.fold_input,
                                  events=random_events(args), seed=args.seed,
                                  tolerance=args.tolerance)
    print(files.printable(report.table(cli_names())), file=sys.stderr)
    return report.passed


def _run_fix_from(args: argparse.Namespace) -> int:
    if len(args.models) != 1:
        raise UsageError("--fix-from takes one model")

    from ..api import conversion, to_json
    (spec,) = model_specs(args, args.models)

    def convert_one(model: Path, spec: Path, values: dict) -> dict:
        return conversion(model, format=args.format, variables=spec,
                          variables_convention=args.variables_convention,
                          outputs=args.outputs, tmva_weights=args.tmva_weights,
                          fix=values, verify=not args.no_verify,
                          merge_outputs=args.merge_outputs,
                          **_correctionlib_options(args)).document

    def write(documents: list[tuple[dict, Path]]) -> None:
        files.write_all([(target, to_json(document).encode()) for document, target in documents],
                        run_inputs(args, args.models[0]))
        for _, target in documents:
            info(args, f"wrote {target}")

    preprocessing.run_fix_from(args, args.models[0], spec, convert_one, write)
    return EXIT_OK


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one output")
    return names


def _run_batch(args: argparse.Namespace, specs: list[Optional[Path]]) -> int:
    if args.output is not None or args.output_dir is None:
        raise UsageError("several models need --output-dir DIR (and no -o)")
    targets = [(model, args.output_dir / f"{model.stem}.json") for model in args.models]
    files.check_distinct_outputs(targets)
    make_output_dir(args.output_dir)
    for _, target in targets:  # before converting any: no model is overwritten
        files.check_output(target, model_run_inputs(args, target, *args.models))
    results, warned = [], defaultdict(list)
    for (model, target), spec in zip(targets, specs):
        errors: list[str] = []
        warnings: list[str] = []
        code = guarded(lambda a, m=model, s=spec, t=target: _convert_one(a, m, s, t, args.models),
                       args, str(model), errors, warnings)
        for message in warnings:
            warned[message].append(files.clean(model))
        status = (f"ok -> {files.clean(target)}" if code == EXIT_OK else
                  f"FAILED: {_reason(errors, model)}" if errors else "FAILED: the check failed")
        results.append((model, code,
                        status + (f" (variables {files.clean(spec)})" if spec else "")))
    width = max(len(files.clean(m)) for m, _, _ in results)
    info(args, "\nsummary:")
    for model, _, status in results:
        info(args, f"  {files.clean(model).ljust(width)}  {status}")
    failed = sum(code != EXIT_OK for _, code, _ in results)
    info(args, f"{len(results) - failed} converted, {failed} failed")
    if warned:  # each text once, with the models it is about (as pytest's summary)
        info(args, "warnings:")
        for message, models in warned.items():
            info(args, f"  {', '.join(models)}: {message}")
    return EXIT_FAILED if failed else EXIT_OK


def _reason(errors: list[str], model: Path) -> str:
    """The first line of the error, without the 'onnx2lwtnn: MODEL: ' it starts with."""
    first = errors[0].splitlines()[0].removeprefix("onnx2lwtnn: ")
    return first.removeprefix(f"{model}: ").removeprefix("error: ")
