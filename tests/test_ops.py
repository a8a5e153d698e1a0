"""ops: the supported operators, from the pass registry, the same source as
docs/operators.md."""
from __future__ import annotations

import re

from onnx2lwtnn import ops
from onnx2lwtnn.legalize import UNSUPPORTED_HINTS
from onnx2lwtnn.passes.base import handled_ops
from onnx2lwtnn.passes.lower_activations import DIRECT

from .support import REPO


def test_supported_operators_are_the_registrys():
    report = ops.operators()
    assert set(report["supported"]) == set(handled_ops())
    assert report["unsupported"] == dict(sorted(UNSUPPORTED_HINTS.items()))
    gemm = report["supported"]["Gemm"]
    assert gemm == [{"pass": "lower_dense.lower_gemm",
                     "matches": "Gemm(x, W, b) with constant W and b -> Dense."}]


def test_every_direct_activation_is_listed_with_its_lwtnn_name():
    report = ops.operators()
    for op in DIRECT:
        (entry,) = report["supported"][op]
        assert entry["pass"] == "lower_activations.lower_direct"
    assert "Swish -> swish(alpha)" in report["supported"]["Swish"][0]["matches"]


def test_ops_text_and_docs_table_list_the_same_operators():
    text = ops.render(ops.operators())
    listed = set(re.findall(r"^  (\w+) +\w+\.\w+: ", text, re.M))
    docs = (REPO / "docs" / "operators.md").read_text()
    supported = re.search(r"^## Supported.*?(?=^## )", docs, re.M | re.S).group(0)
    assert listed == set(re.findall(r"^\| `(\w+)` \|", supported, re.M)) == set(handled_ops())


def test_one_operator():
    text = ops.render(ops.operators("PRelu"))
    assert "PRelu" in text and UNSUPPORTED_HINTS["PRelu"] in text
    assert "lower_dense" not in text


def test_an_operator_no_pass_handles():
    assert "no pass handles it" in ops.render(ops.operators("Foo"))


def test_cli_ops_prints_the_table_and_json(capsys):
    import json

    from onnx2lwtnn.cli import main
    assert main(["ops"]) == 0
    assert capsys.readouterr().out.strip() == ops.render(ops.operators())
    assert main(["ops", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ops.operators()
    assert main(["ops", "Softmax"]) == 0
    out = capsys.readouterr().out
    assert "lower_activations.lower_softmax" in out and "Gemm" not in out
