"""Mutation testing of the modules that decide numbers, module by module (run by hand,
not in CI): how many small changes to the code (an operator, a constant, a condition) the
test suite notices.

    pip install -e '.[mutation]'
    python benchmarks/mutation.py --list                     # the modules and their tests
    nice -n 19 python benchmarks/mutation.py emit carry      # a few modules
    nice -n 19 python benchmarks/mutation.py --again specs   # survivors, with today's tests
    nice -n 19 python benchmarks/mutation.py --again tmva --only 'onnx2lwtnn.tmva.mlp.*'
    python benchmarks/mutation.py --report emit              # survivors of a finished run

Each module runs in its own copy of the repository (``--work``, default
``/tmp/onnx2lwtnn-mutation/<module>``) with mutmut (3.x): mutmut first runs the module's
tests once to learn which tests call each function, then runs every mutant against only
those tests, stopping at the first failure. The full suite takes minutes, so each module
names the test files that exercise it (``MODULES``); a mutant that none of them reaches is
reported as "no tests", which counts against the score.

``--again`` reuses a finished campaign whose module has not changed since (its sources
in the campaign's copy are byte for byte the repository's): the tests are copied anew and
only the mutants that survived are run again, so tests written for survivors are
measured without running the thousands of mutants already killed.

The score is killed / (mutants - equivalent): ``equivalent_mutants/<module>.json`` lists,
per mutant, why it computes exactly what the original does (benchmarks/README.md gives
the figures).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORK = Path("/tmp/onnx2lwtnn-mutation")


@dataclass(frozen=True)
class Module:
    sources: tuple[str, ...]   # globs under the repository, mutated
    tests: tuple[str, ...]     # test files (or node ids) that exercise them


# Tests that run the command line in a child process that leaves the working directory
# (tests/limited.py: test_hostile, test_limits) cannot run under mutmut, whose mutated
# functions look for its configuration in the working directory.
MODULES = {
    "emit": Module(("onnx2lwtnn/emit.py",),
                   ("tests/test_oracles_exact.py", "tests/test_oracles_promises.py",
                    "tests/test_published.py", "tests/test_sequences.py",
                    "tests/test_carry.py", "tests/test_lwtnn_cpp.py",
                    "tests/lwtnn/test_sequential.py", "tests/test_merge_outputs.py",
                    "tests/test_patterns.py", "tests/test_exporters.py")),
    "exact": Module(("onnx2lwtnn/exact.py", "onnx2lwtnn/rounding.py"),
                    ("tests/test_exact.py", "tests/test_never_a_wrong_number.py",
                     "tests/test_oracles_exact.py", "tests/passes")),
    "fold": Module(("onnx2lwtnn/passes/fold_*.py",),
                   ("tests/passes", "tests/test_never_a_wrong_number.py",
                    "tests/test_fixtures.py", "tests/test_oracles_exact.py",
                    "tests/test_patterns.py", "tests/test_exporters.py",
                    "tests/test_published.py", "tests/test_parametrised.py")),
    "lower": Module(("onnx2lwtnn/passes/lower_*.py", "onnx2lwtnn/passes/fuse_activation.py",
                     "onnx2lwtnn/passes/materialize_layers.py"),
                    ("tests/passes", "tests/test_fixtures.py", "tests/test_sequences.py",
                     "tests/test_oracles_exact.py", "tests/test_patterns.py",
                     "tests/test_exporters.py", "tests/test_published.py",
                     "tests/test_parametrised.py", "tests/test_carry.py")),
    "carry": Module(("onnx2lwtnn/carry.py",),
                    ("tests/test_carry.py", "tests/test_oracles_cost.py",
                     "tests/lwtnn/test_carries.py", "tests/test_published.py",
                     "tests/test_fixtures.py", "tests/test_cost.py")),
    "fix": Module(("onnx2lwtnn/fix.py",),
                  ("tests/test_parametrised.py", "tests/test_correctionlib.py")),
    "specs": Module(("onnx2lwtnn/specs/*.py",),
                    ("tests/test_oracles_exact.py", "tests/test_specs_standardisation.py",
                     "tests/test_published.py", "tests/test_parametrised.py")),
    "check": Module(("onnx2lwtnn/check.py",),
                    ("tests/test_check.py", "tests/test_oracles_promises.py",
                     "tests/test_never_a_wrong_number.py", "tests/test_check_proofs.py",
                     "tests/test_cli.py", "tests/test_bad_inputs.py")),
    "lwtnn": Module(("onnx2lwtnn/lwtnn/activations.py", "onnx2lwtnn/lwtnn/layers.py",
                     "onnx2lwtnn/lwtnn/graph.py", "onnx2lwtnn/lwtnn/network.py",
                     "onnx2lwtnn/lwtnn/sequential.py"),
                    ("tests/lwtnn", "tests/test_run.py", "tests/test_lwtnn_cpp.py")),
    "tmva": Module(("onnx2lwtnn/tmva/*.py",),
                   ("tests/test_tmva.py", "tests/test_oracles_tmva.py")),
    "files": Module(("onnx2lwtnn/files.py",),
                    ("tests/test_files.py", "tests/test_oracles_promises.py",
                     "tests/test_bad_inputs.py", "tests/test_reader_properties.py",
                     "tests/test_cli.py")),
}

# Per module, mutant name -> why it computes exactly what the original does
# (equivalent_mutants/<module>.json, filled in from the survivors of each campaign). A
# listed mutant that a test kills is counted killed, and the listing is stale.
EQUIVALENT_DIR = REPO / "benchmarks" / "equivalent_mutants"


def equivalent(name: str) -> dict[str, str]:
    """The module's listed equivalents: <module>.json and <module>-<part>.json (a large
    module gone through in parts)."""
    paths = [EQUIVALENT_DIR / f"{name}.json", *sorted(EQUIVALENT_DIR.glob(f"{name}-*.json"))]
    return {m: why for path in paths if path.is_file()
            for m, why in json.loads(path.read_text()).items()}


# What is measured is what decides numbers and verdicts, not the wording of messages:
# mutmut leaves alone the lines that only build an error or warning (a raise, a warning,
# a line of message text). The condition that raises is mutated like any other line.
MESSAGE_LINES = [r"^\s*raise\b", r"warnings\.warn\(", r"^\s*f?(\"|')[^\"']*\s"]
ALSO_COPY = ["fixtures", "docs", "README.md", "benchmarks"]
# mutmut's verdicts (its exit codes, mutmut.stats.status_by_exit_code) that mean a test
# noticed the mutant: a failure, a timeout (a mutant that loops), a crash
NOTICED = {"killed", "timeout", "segfault"}

# Tests written for the survivors of earlier campaigns: every module runs them too, and
# its own (tests/test_survivors_<module>.py) where there are some.
SURVIVOR_TESTS = ("tests/test_oracles_mutants.py",)
SAMPLE_FILE = "sample.json"  # in a sampled campaign's folder: the mutants it drew
NO_MUTANT = "no.such.mutant"  # a name mutmut matches to nothing


def module_tests(name: str) -> tuple[str, ...]:
    """The module's tests, then tests/test_survivors_<module>.py and ..._<module>_<part>.py."""
    found = [*REPO.glob(f"tests/test_survivors_{name}.py"),
             *sorted(REPO.glob(f"tests/test_survivors_{name}_*.py"))]
    return MODULES[name].tests + SURVIVOR_TESTS + tuple(str(p.relative_to(REPO)) for p in found)


def tracked_files() -> list[str]:
    """The repository's files under git, as paths relative to it."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    return [path for path in listed if path and (REPO / path).is_file()]


def _sources(name: str) -> list[str]:
    return sorted({str(path.relative_to(REPO)) for pattern in MODULES[name].sources
                   for path in REPO.glob(pattern)})


def copy_files(folder: Path, paths: list[str]) -> None:
    """``paths`` of the repository copied into ``folder``, folders made."""
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, folder / path)


def prepare(name: str, work: Path) -> Path:
    """A copy of the repository's tracked files with mutmut configured for one module."""
    folder = work / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    copy_files(folder, tracked_files())
    _configure(name, folder)
    return folder


def _configure(name: str, folder: Path) -> None:
    """The repository's pyproject.toml in ``folder`` with mutmut's configuration (today's
    tests of the module) after it."""
    config = ["", "[tool.mutmut]", 'source_paths = ["onnx2lwtnn"]',
              f"only_mutate = {json.dumps(list(MODULES[name].sources))}",
              f"also_copy = {json.dumps(ALSO_COPY)}",
              "pytest_add_cli_args_test_selection = "
              f"{json.dumps(list(module_tests(name)))}",
              f"do_not_mutate_patterns = {json.dumps(MESSAGE_LINES)}",
              # mutmut runs pytest in its own process: no xdist workers
              'pytest_add_cli_args = ["-p", "no:cacheprovider", "-n", "0"]',
              "timeout_multiplier = 5.0", ""]
    (folder / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text()
                                           + "\n".join(config))


def _changed(name: str, work: Path) -> list[str]:
    """The module's sources that differ from those of its campaign in ``work``."""
    folder = work / name
    return [path for path in _sources(name) if not (folder / path).is_file()
            or (folder / path).read_bytes() != (REPO / path).read_bytes()]


def refresh(name: str, work: Path) -> list[str]:
    """Today's repository copied into a finished campaign of a module whose sources have
    not changed (mutmut configured for today's tests); the survivors' names, to be run
    again."""
    folder = work / name
    changed = _changed(name, work)
    if changed:
        raise SystemExit(f"{name}: {', '.join(changed)} changed since the campaign in "
                         f"{folder}; run it again in full")
    tracked = tracked_files()
    copy_files(folder, tracked)
    _configure(name, folder)
    # mutmut copies the package's other Python files into mutants/ at every run, but not
    # its data files (the JSON schemas)
    copy_files(folder / "mutants", [path for path in tracked
                               if path.startswith("onnx2lwtnn/") and not path.endswith(".py")])
    return summary(name, work)["survived"]


def _mutmut() -> str:
    return shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))


def run(name: str, work: Path, children: int, mutants: tuple[str, ...] = ()) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([_mutmut(), "run", "--max-children", str(children), *mutants],
                   cwd=work / name, env=env, check=False)


def _metas(name: str, work: Path) -> list[Path]:
    return list((work / name / "mutants").rglob("*.py.meta"))


def exit_codes(name: str, work: Path) -> dict[str, int | None]:
    """Mutant name -> mutmut's exit code (None: not run), from the run's meta files."""
    codes: dict[str, int | None] = {}
    for meta in _metas(name, work):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def keep_verdicts(name: str, work: Path, before: dict[str, int | None]) -> None:
    """mutmut forgets every verdict when the test selection changes (as it does when a
    module's first tests/test_survivors_<module>.py appears) and runs only the mutants
    named: the others keep the campaign's verdict, on sources byte for byte today's."""
    for meta in _metas(name, work):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        codes.update({m: before[m] for m, code in codes.items()
                      if code is None and before.get(m) is not None})
        meta.write_text(json.dumps(data))


def outcomes(name: str, work: Path) -> dict[str, str]:
    """Mutant name -> mutmut's verdict, from the run's meta files."""
    from mutmut.stats import status_by_exit_code
    return {m: status_by_exit_code[code] for m, code in exit_codes(name, work).items()}


def summary(name: str, work: Path) -> dict:
    """The campaign's figures over the mutants it ran (all of them, or its sample)."""
    everything = outcomes(name, work)
    chosen = sampled(name, work)
    verdicts = everything if chosen is None else {m: everything[m] for m in chosen
                                                  if m in everything}
    ran = {m: v for m, v in verdicts.items() if v != "not checked"}
    listed = equivalent(name)
    killed = [m for m, v in ran.items() if v in NOTICED]
    settled = [m for m, v in ran.items() if m in listed and v not in NOTICED]
    survived = sorted(m for m, v in ran.items() if m not in settled and v not in NOTICED)
    counted = len(ran) - len(settled)
    return {"module": name, "mutants": len(verdicts), "killed": len(killed),
            "equivalent": len(settled), "survived": survived,
            "not_run": len(verdicts) - len(ran),
            "sample_of": None if chosen is None else len(everything),
            "stale": sorted(m for m in killed if m in listed),
            "score": len(killed) / counted if counted else None}


def interval(result: dict, z: float = 1.96) -> str:
    """Wilson's 95% interval of a sampled campaign's score."""
    n = result["killed"] + len(result["survived"])
    if not n:
        return "n/a"
    p = result["killed"] / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return f"{(centre - half) / (1 + z * z / n):.1%} to {(centre + half) / (1 + z * z / n):.1%}"


def sampled(name: str, work: Path) -> list[str] | None:
    """The mutants a sampled campaign drew (None: it runs them all)."""
    path = work / name / SAMPLE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def sample(name: str, work: Path, children: int, size: int, seed: int) -> None:
    """A uniform random sample of ``size`` of the module's mutants run, where all of them
    would take hours: a campaign of today's sources is continued (the mutants it ran are
    not run again), else one is prepared."""
    folder = work / name
    if not (folder / "mutants").is_dir() or _changed(name, work):
        prepare(name, work)
    if not exit_codes(name, work):  # mutmut generates the mutants and learns which tests
        run(name, work, children, (NO_MUTANT,))  # reach each, then finds none to run
    codes = exit_codes(name, work)
    chosen = sorted(random.Random(seed).sample(sorted(codes), min(size, len(codes))))
    (folder / SAMPLE_FILE).write_text(json.dumps(chosen))
    todo = tuple(m for m in chosen if codes[m] is None)
    if todo:
        run(name, work, children, todo)


def show(name: str, work: Path, mutant: str) -> str:
    return subprocess.run([_mutmut(), "show", mutant], cwd=work / name, capture_output=True,
                          text=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--max-children", type=int, default=1,
                        help="mutants tested at once (default 1: the machines are shared)")
    parser.add_argument("--list", action="store_true", help="the modules and their tests")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--again", action="store_true",
                        help="run a finished campaign's survivors again with today's tests "
                        "(refused where the module's sources changed since)")
    action.add_argument("--report", action="store_true",
                        help="summarise finished runs, with each survivor's diff")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="run a uniform random sample of N of each module's mutants "
                        "(continuing a campaign of today's sources)")
    parser.add_argument("--seed", type=int, default=0, help="of --sample (default 0)")
    parser.add_argument("--only", metavar="GLOB", default="*",
                        help="with --again or --report, only the survivors whose names match "
                        "(e.g. 'onnx2lwtnn.tmva.transforms.*': a module gone through in parts)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    chosen = args.modules or list(MODULES)
    if args.list:
        for name in chosen:
            print(f"{name}: {' '.join(MODULES[name].sources)}\n    tests: "
                  f"{' '.join(module_tests(name))}")
        return 0
    for name in chosen:
        if args.again:
            before = exit_codes(name, args.work)
            survivors = fnmatch.filter(refresh(name, args.work), args.only)
            if survivors:
                run(name, args.work, args.max_children, tuple(survivors))
                keep_verdicts(name, args.work, before)
        elif args.sample:
            sample(name, args.work, args.max_children, args.sample, args.seed)
        elif not args.report:
            prepare(name, args.work)
            run(name, args.work, args.max_children)
        result = summary(name, args.work)
        score = "n/a" if result["score"] is None else f"{result['score']:.1%}"
        not_run = f" ({result['not_run']} not run)" if result["not_run"] else ""
        drawn = (f" (a sample of {result['mutants']} of {result['sample_of']}; 95% interval "
                 f"{interval(result)})" if result["sample_of"] else "")
        print(f"{name}: {result['killed']} of {result['mutants']} mutants killed, "
              f"{result['equivalent']} equivalent, {len(result['survived'])} survived"
              f"{not_run}: {score}{drawn}")
        if result["stale"]:
            print(f"    listed as equivalent but killed: {', '.join(result['stale'])}")
        if args.report:
            for mutant in fnmatch.filter(result["survived"], args.only):
                print(show(name, args.work, mutant))
        (args.work / f"{name}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
