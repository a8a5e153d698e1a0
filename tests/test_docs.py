"""docs/operators.md is generated from the pass registry and must never drift from it."""
from __future__ import annotations

import importlib.util
import re

from onnx2lwtnn.passes.base import handled_ops

from .support import REPO

GENERATOR = REPO / "docs" / "make_operator_table.py"
OPERATORS = REPO / "docs" / "operators.md"
REGENERATE = "run `python docs/make_operator_table.py` and commit docs/operators.md"


def _generator():
    spec = importlib.util.spec_from_file_location("make_operator_table", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_operator_table_is_up_to_date():
    generated = _generator().render()
    assert OPERATORS.exists(), f"docs/operators.md is missing: {REGENERATE}"
    committed = OPERATORS.read_text(encoding="utf-8")
    assert committed == generated, f"docs/operators.md is out of date with the code: {REGENERATE}"


def test_every_handled_op_is_listed():
    _generator()  # imports onnx2lwtnn.pipeline, registering every pass
    text = OPERATORS.read_text(encoding="utf-8")
    supported = re.search(r"^## Supported.*?(?=^## |\Z)", text, re.M | re.S)
    assert supported, f"docs/operators.md has no '## Supported' section: {REGENERATE}"
    listed = set(re.findall(r"^\| `(\w+)` \|", supported.group(0), re.M))
    missing = sorted(set(handled_ops()) - listed)
    assert not missing, f"operators missing from docs/operators.md: {missing}; {REGENERATE}"


def test_check_mode_reports_drift(tmp_path, monkeypatch, capsys):
    generator = _generator()
    stale = tmp_path / "operators.md"
    stale.write_text("# stale\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    monkeypatch.setattr(generator, "REPO", tmp_path)
    assert generator.main(["--check"]) == 1
    assert "make_operator_table.py" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "# stale\n"  # --check never writes
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0


def test_design_note_add_an_activation_example_is_the_code():
    """docs/design.md says a new activation is one DIRECT entry and one fixture line:
    those lines are in the code, and the table is all the registry and ops read."""
    from onnx2lwtnn import ops
    from onnx2lwtnn.passes import lower_activations
    from onnx2lwtnn.passes.base import REGISTRY

    from .support import manifest
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", design, re.S)
    entry, fixture_line = blocks[1], blocks[2]
    assert entry in (REPO / "onnx2lwtnn" / "passes" / "lower_activations.py").read_text()
    assert fixture_line in (REPO / "fixtures" / "generators" / "activations.py").read_text()
    direct = REGISTRY["lower_activations.lower_direct"]
    assert set(direct.ops) == set(lower_activations.DIRECT)
    for op in lower_activations.DIRECT:
        assert ops.operators(op)["supported"][op][0]["pass"] == direct.qualified_name
        assert f"{op} -> " in direct.doc
    assert any(e["name"] == "act_swish_op" and e["expect"] == "convert" for e in manifest())


def test_operators_md_lists_the_pipeline_in_order():
    from onnx2lwtnn.pipeline import PIPELINE
    text = OPERATORS.read_text(encoding="utf-8")
    section = re.search(r"^## Passes in the order.*?(?=^## )", text, re.M | re.S).group(0)
    listed = re.findall(r"^\d+\. \[`([\w.]+)`\]", section, re.M)
    assert listed == [p.qualified_name for p in PIPELINE]


def test_faq_covers_every_known_unsupported_operator():
    from onnx2lwtnn.legalize import UNSUPPORTED_HINTS
    faq = (REPO / "docs" / "faq.md").read_text(encoding="utf-8")
    missing = [op for op in UNSUPPORTED_HINTS if f"`{op}`" not in faq]
    assert not missing, f"docs/faq.md says nothing about {missing}"
