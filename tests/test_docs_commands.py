"""Every command output the docs show is what the command prints today (issue 22).

The README, user guide, worked example and FAQ show output in two forms, and both are
run here, each doc's blocks in order in one folder (``fixtures/`` reachable as there):

- a ```console block: ``$ command`` lines, each followed by its output (stdout and
  stderr as a terminal shows them). ``onnx2lwtnn`` and ``python -m onnx2lwtnn`` run;
  any other command must be declared not run here by the line
  ``<!-- not run: <why> -->`` before the block, or the test fails, naming it;
- a ```text block right after a ```python block: what that code printed.

Shown and printed lines compare text for text; integers (counts, sizes, events) and
bounds (1e-09) exactly, other numbers (differences, rounding) as numbers of any value; a
``...`` line stands for any lines. A block without a language is refused: output shown without the
command that makes it cannot be checked.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import FIXTURES, REPO

DOCS = [REPO / "README.md", *(REPO / "docs" / name for name in
                              ("user-guide.md", "worked-example.md", "faq.md"))]
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.M | re.S)
NOT_RUN = re.compile(r"<!-- not run: .+ -->\s*$")
OURS = (("onnx2lwtnn",), ("python", "-m", "onnx2lwtnn"))
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)")
EXACT = re.compile(r"\d[\d,]*$|1e[-+]?\d+$")  # counts, and bounds such as 1e-09
TIMEOUT = 600


@dataclass
class Block:
    doc: Path
    line: int           # where the fence opens, 1-based
    language: str
    text: str
    not_run: bool       # declared not run here (<!-- not run: ... --> before it)
    after_python: str   # the code of the python block just before a text block, or ""

    def __str__(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found, previous = [], None
    for match in FENCE.finditer(text):
        before = text[:match.start()]
        between = "" if previous is None else text[previous.end():match.start()]
        block = Block(doc, before.count("\n") + 1, match[1], match[2],
                      bool(NOT_RUN.search(before.rstrip("\n").rsplit("\n", 1)[-1])),
                      "")
        if (match[1] == "text" and previous is not None and previous[1] == "python"
                and "```" not in between):
            block.after_python = previous[2]
        found.append(block)
        previous = match
    return found


def sessions(block: Block) -> list[tuple[str, list[str]]]:
    """A console block as (command, shown output lines), continuation lines joined."""
    result: list[tuple[str, list[str]]] = []
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            raise AssertionError(f"{block}: console output before any '$ ' command: {line!r}")
        command = line[2:]
        while command.endswith("\\"):
            index += 1
            command = command[:-1] + " " + lines[index].strip()
        index += 1
        shown = []
        while index < len(lines) and not lines[index].startswith("$ "):
            shown.append(lines[index])
            index += 1
        result.append((command, shown))
    return result


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    for prefix in OURS:
        if tuple(words[:len(prefix)]) == prefix:
            return [sys.executable, "-m", "onnx2lwtnn", *words[len(prefix):]]
    return []


def _pattern(shown: str) -> re.Pattern:
    parts, end = [], 0
    for number in NUMBER.finditer(shown):
        parts.append(re.escape(shown[end:number.start()]))
        token = number.group()
        parts.append(re.escape(token) if EXACT.match(token) else NUMBER.pattern)
        end = number.end()
    parts.append(re.escape(shown[end:]))
    return re.compile("".join(parts).rstrip() + r"\s*$")


def matches(shown: list[str], printed: list[str]) -> bool:
    """Whether the printed lines are the shown ones (numbers and '...' as said above)."""
    if not shown:
        return not printed
    if shown[0].strip() == "...":
        return any(matches(shown[1:], printed[k:]) for k in range(len(printed) + 1))
    return bool(printed) and bool(_pattern(shown[0]).match(printed[0])) \
        and matches(shown[1:], printed[1:])


def _run(argv: list[str], folder: Path) -> list[str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"}
    done = subprocess.run(argv, cwd=folder, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=environment,
                          timeout=TIMEOUT)
    return done.stdout.splitlines()


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_output_the_doc_shows_is_printed(doc, tmp_path):
    (tmp_path / "fixtures").symlink_to(FIXTURES, target_is_directory=True)
    problems = []
    for block in blocks(doc):
        if block.language == "":
            problems.append(f"{block}: a block without a language: show output in a "
                            "console block with its command (or name the language)")
        elif block.language == "console" and not block.not_run:
            for command, shown in sessions(block):
                argv = _argv(command)
                if not argv:
                    problems.append(f"{block}: '{command}' is not an onnx2lwtnn command; "
                                    "declare the block <!-- not run: why --> if it cannot "
                                    "run here")
                    continue
                printed = _run(argv, tmp_path)
                if not matches(shown, printed):
                    problems.append(f"{block}: $ {command}\nshown:\n" + "\n".join(shown)
                                    + "\nprinted:\n" + "\n".join(printed))
        elif block.after_python and not block.not_run:
            script = tmp_path / "shown.py"
            script.write_text(block.after_python)
            printed = _run([sys.executable, str(script)], tmp_path)
            shown = block.text.splitlines()
            if not matches(shown, printed):
                problems.append(f"{block}: the python block before it\nshown:\n"
                                + "\n".join(shown) + "\nprinted:\n" + "\n".join(printed))
    assert not problems, "\n\n".join(problems)


def test_the_matching_is_strict_where_it_must_be():
    assert matches(["max 2.22e-15, 19.30%"], ["max 1.78e-15, 0.00%"])
    assert not matches(["tolerance 1e-05"], ["tolerance 1e-09"])
    assert not matches(["PASS: 1000 events"], ["PASS: 999 events"])
    assert not matches(["18,752 multiply-adds"], ["18,753 multiply-adds"])
    assert not matches(["PASS: a"], ["FAIL: a"])
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert not matches(["a"], [])
