"""The wrong numbers an audit planted in a copy of main (issue 26), planted again: each bug
is applied to its own copy of the repository and the whole suite runs on it; every one
must make the suite fail (run by hand, not in CI: five full runs).

    python benchmarks/planted_bugs.py               # all five, the whole suite each
    python benchmarks/planted_bugs.py --first gates # stop at the first failing test

A bug is a replacement of one exact piece of today's code; where that piece has changed,
the script says so instead of running a suite on code the bug no longer describes.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mutation import REPO, copy_files, tracked_files  # noqa: E402  (beside this script)


@dataclass(frozen=True)
class Bug:
    what: str
    path: str
    old: str
    new: str


BUGS = {
    "bias-key": Bug("the emitter merges layers that share weights but not biases (the bias "
                    "left out of the de-duplication key)", "onnx2lwtnn/emit.py",
                    "np.shape(attrs[\"weights\"]), as_floats(attrs[\"weights\"]).tobytes(),\n"
                    "                   as_floats(attrs[\"bias\"]).tobytes())",
                    "np.shape(attrs[\"weights\"]), as_floats(attrs[\"weights\"]).tobytes())"),
    "bound": Bug("check's default bound loosened from 1e-9 to 1e-6", "onnx2lwtnn/defaults.py",
                 "DEFAULT_TOLERANCE = 1e-9", "DEFAULT_TOLERANCE = 1e-6"),
    "convention": Bug("a keras2json spec read in the opposite convention (offset negated, "
                      "scale inverted)", "onnx2lwtnn/specs/lwtnn_forms.py",
                      "variable(v, where, LWTNN) for v in spec[\"inputs\"]",
                      "variable(v, where, SUBTRACT_DIVIDE) for v in spec[\"inputs\"]"),
    "grew": Bug("the 'file changed while it was read' guard removed", "onnx2lwtnn/files.py",
                "    if grew:\n        raise FileError(f\"{path}: the {what} changed while it "
                "was read\")\n", ""),
    "gates": Bug("highway gates moved inside lwtnn's sigmoid clamp (carried values leak "
                 "~1e-8)", "onnx2lwtnn/carry.py", "GATE_BIAS = 50.0", "GATE_BIAS = 20.0"),
}


def plant(bug: Bug, folder: Path) -> None:
    """Today's tracked files in ``folder``, with ``bug`` applied."""
    copy_files(folder, tracked_files())
    source = (folder / bug.path).read_text()
    if source.count(bug.old) != 1:
        raise SystemExit(f"{bug.path} no longer holds the code this bug replaces "
                         f"({bug.old.splitlines()[0].strip()!r}); update BUGS")
    (folder / bug.path).write_text(source.replace(bug.old, bug.new))


def run_suite(folder: Path, first: bool) -> tuple[int, str]:
    """pytest's exit code and its last line, on the copy in ``folder``."""
    env = {**os.environ, "PYTHONPATH": str(folder),
           "ONNX2LWTNN_SHARED": os.environ.get("ONNX2LWTNN_SHARED",
                                               str(REPO.parent / "shared"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *(["-x"] if first else [])], cwd=folder, env=env,
                          capture_output=True, text=True)
    failed = re.findall(r"^FAILED (\S+)", done.stdout, flags=re.M)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    return done.returncode, "\n".join([summary, *(f"    {test}" for test in failed[:10])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bugs", nargs="*", help=f"of {', '.join(BUGS)} (default: all)")
    parser.add_argument("--first", action="store_true",
                        help="stop each suite at its first failing test")
    args = parser.parse_args(argv)
    unknown = [b for b in args.bugs if b not in BUGS]
    if unknown:
        parser.error(f"unknown bug(s) {', '.join(unknown)}; choose from {', '.join(BUGS)}")
    caught = True
    for name in args.bugs or list(BUGS):
        with tempfile.TemporaryDirectory(prefix=f"planted_{name}_") as folder:
            plant(BUGS[name], Path(folder))
            code, report = run_suite(Path(folder), args.first)
        verdict = "caught" if code == 1 else "NOT CAUGHT" if code == 0 else f"exit {code}"
        caught &= code == 1
        print(f"{name}: {verdict}: {BUGS[name].what}\n  {report}", flush=True)
    return 0 if caught else 1


if __name__ == "__main__":
    sys.exit(main())
