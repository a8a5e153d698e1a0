"""Generate docs/operators.md from the code: the pass registry and the refusal hints.

    python docs/make_operator_table.py          rewrite docs/operators.md
    python docs/make_operator_table.py --check  exit 1 if docs/operators.md is out of date

Everything comes from ``onnx2lwtnn.ops``, which ``onnx2lwtnn ops`` prints too: supported
operators from the pass registry (op type -> the passes that rewrite it, each with its
one-line description), the known-unsupported ones from
``onnx2lwtnn.legalize.UNSUPPORTED_HINTS``. tests/test_docs.py fails when the committed file
differs from what this script produces.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
OUTPUT = DOCS / "operators.md"
COMMAND = "python docs/make_operator_table.py"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from onnx2lwtnn import ops  # noqa: E402
from onnx2lwtnn.legalize import UNSUPPORTED_HINTS  # noqa: E402
from onnx2lwtnn.passes.base import ANY_OP, Pass  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def _pass_cell(registered: Pass) -> str:
    return f"[`{registered.qualified_name}`](../onnx2lwtnn/passes/{registered.name}.py)"


def render() -> str:
    """The whole of docs/operators.md, as the code stands now."""
    table = ops.supported()
    lines = [
        "# ONNX operators",
        "",
        f"<!-- Generated from the code by `{COMMAND}`; do not edit by hand. -->",
        "",
        "Which ONNX operators onnx2lwtnn understands, read from the pass registry. An",
        "operator listed here is not converted in every use: each pass matches a pattern",
        "(its one-line description says which), and a node that no pass could rewrite into",
        "something lwtnn computes is refused, naming the node and the reason.",
        "",
        f"## Supported: {len(table)} operator types",
        "",
        "| ONNX operator | pass | what it matches and does |",
        "| --- | --- | --- |",
    ]
    for op, passes in table.items():
        for k, registered in enumerate(passes):
            shown = f"`{op}`" if k == 0 else ""
            lines.append(f"| {shown} | {_pass_cell(registered)} | {_cell(registered.doc)} |")

    others = ops.other_passes()
    own_kinds = sorted({op for p in others for op in p.ops if op != ANY_OP})
    lines += [
        "",
        "## Other passes",
        "",
        "Passes that apply to any operator, to the whole graph, or only to the IR's own",
        f"node kinds ({', '.join(f'`{kind}`' for kind in own_kinds)}), which the passes",
        "above produce or which stand for the graph's inputs and outputs.",
        "",
        "| applies to | pass | what it matches and does |",
        "| --- | --- | --- |",
    ]
    for registered in others:
        kinds = (ops.applies_to(registered) if registered.ops in ((), (ANY_OP,)) else
                 ", ".join(f"`{op}`" for op in registered.ops))
        lines.append(f"| {kinds} | {_pass_cell(registered)} | {_cell(registered.doc)} |")

    lines += [
        "",
        "## Passes in the order they are tried",
        "",
        "After any change the sweep starts again from the first (`onnx2lwtnn.pipeline`), so",
        "an earlier pass always sees its pattern before a later one can take it apart.",
        "",
    ]
    lines += [f"{k}. {_pass_cell(registered)}: {_cell(registered.doc)}"
              for k, registered in enumerate(ops.pipeline.PIPELINE, 1)]
    lines += [
        "",
        f"## Known unsupported: {len(UNSUPPORTED_HINTS)} operator types",
        "",
        "Refused with this hint. Any other operator no pass handles is refused as",
        "\"operator not supported by lwtnn\".",
        "",
        "| ONNX operator | why |",
        "| --- | --- |",
    ]
    for op in sorted(UNSUPPORTED_HINTS):
        lines.append(f"| `{op}` | {_cell(UNSUPPORTED_HINTS[op])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/operators.md from the code.")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if docs/operators.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if args.check:
        if current == text:
            print(f"{OUTPUT.relative_to(REPO)} is up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            "docs/operators.md (committed)", "docs/operators.md (generated)"))
        print(f"{OUTPUT.relative_to(REPO)} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1
    if current != text:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(REPO)}")
    else:
        print(f"{OUTPUT.relative_to(REPO)} is already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
