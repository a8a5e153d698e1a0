"""What today's exporters write (issue 14): every fixture they made converts and passes
``check``, or is refused naming its one root cause; and the messages that used to send
users the wrong way, pinned on their exact text."""
from __future__ import annotations

import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.check import check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, UsageError

from .support import FIXTURES, fixture_entries

ISSUE = {14}
CONVERTIBLE = fixture_entries("convert", ISSUE)
REFUSED = fixture_entries("refuse", ISSUE)


def _ids(entries):
    return [e["name"] for e in entries]


def _refusal(name: str, **convert_args) -> list[str]:
    """The diagnostics of a refused fixture, one string each."""
    with pytest.raises(ConversionError) as caught:
        convert(FIXTURES / f"{name}.onnx", **convert_args)
    return [str(d) for d in caught.value.diagnostics]


def _causes(message: str) -> list[str]:
    """The lines of a CLI refusal listed as causes (before 'then, failing because')."""
    lines = message.splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("  then")), len(lines))
    return lines[:end]


@pytest.mark.parametrize("entry", CONVERTIBLE, ids=_ids(CONVERTIBLE))
def test_exporter_fixture_converts_and_passes_check(entry):
    path = FIXTURES / entry["file"]
    report = check(path, convert(path, **entry["convert_args"]), events=500, seed=3)
    assert report.passed, report.table()
    assert report.rows


@pytest.mark.parametrize("entry", REFUSED, ids=_ids(REFUSED))
def test_exporter_fixture_is_refused_naming_one_root_cause(entry, tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(FIXTURES / entry["file"]), "-o", str(output)]) == 1
    message = capsys.readouterr().err
    assert not output.exists()
    assert entry["refuse_reason"] in message
    for node in entry["refuse_nodes"]:
        assert f"'{node}'" in message
    assert entry["refuse_reason"] in " ".join(_causes(message))


@pytest.mark.parametrize("opset", [18, 23])
def test_dynamo_gru_scaffolding_is_listed_under_the_gru(opset, tmp_path, capsys):
    path = FIXTURES / f"torch_dynamo_gru_last_step_opset{opset}.onnx"
    assert main([str(path), "-o", str(tmp_path / "out.json")]) == 1
    causes = _causes(capsys.readouterr().err)
    assert len(causes) == 1
    assert causes[0].startswith("  GRU 'node_gru__1': linear_before_reset=1")


def test_ml_operator_is_named_for_what_it_is_not_as_a_custom_domain():
    assert _refusal("ml_opset1_trees") == [
        "node 'trees' (TreeEnsembleRegressor): TreeEnsembleRegressor is an operator of "
        "ai.onnx.ml, ONNX's standard domain for classical machine learning: a tree ensemble "
        "(boosted or random-forest decision trees); lwtnn has no such layer"]


def test_integer_label_output_is_named_with_the_outputs_hint():
    assert _refusal("skl2onnx_mlp_classifier") == [
        "node 'label' (Output): it holds int64 values, the predicted class (ArgMax of the "
        "class probabilities); lwtnn outputs are float vectors; keep only the float output "
        "with --outputs probabilities"]


def test_zipmap_output_is_named_with_the_way_to_a_tensor():
    hint = ("re-export with skl2onnx's option {'zipmap': False} to have the probabilities as "
            "a tensor, then keep only them with --outputs NAME")
    assert _refusal("skl2onnx_mlp_classifier_zipmap") == [
        "node 'output_label' (Output): it holds int64 values, the predicted class (ArgMax of "
        f"the class probabilities); lwtnn outputs are float vectors; {hint}",
        "node 'output_probability' (Output): it is ZipMap 'ZipMap' (ai.onnx.ml): the class "
        "probabilities as a list of {class: probability} maps, not a tensor; lwtnn outputs "
        f"are float vectors; {hint}"]


def test_outputs_keeps_only_the_named_outputs():
    document = convert(FIXTURES / "skl2onnx_mlp_classifier.onnx", outputs=["probabilities"])
    assert [o for o in document["outputs"]] == ["probabilities"]


def test_outputs_naming_an_unknown_output_is_a_usage_error():
    with pytest.raises(UsageError) as caught:
        convert(FIXTURES / "skl2onnx_mlp_classifier.onnx", outputs=["probs"])
    assert str(caught.value) == ("no output named probs; the model's outputs are label, "
                                 "probabilities")


def test_cli_outputs_flag_converts_the_probabilities_and_names_an_unknown_one(tmp_path,
                                                                              capsys):
    model, output = FIXTURES / "skl2onnx_mlp_classifier.onnx", tmp_path / "clf.json"
    assert main([str(model), "-o", str(output), "--outputs", "probabilities", "--check"]) == 0
    assert "PASS" in capsys.readouterr().err
    assert main([str(model), "-o", str(tmp_path / "x.json"), "--outputs", "label,prob"]) == 2
    assert capsys.readouterr().err == (
        "onnx2lwtnn: error: no output named prob; the model's outputs are label, "
        "probabilities\n")


@pytest.mark.parametrize("name, cause", [
    ("refuse_flipped_sequence",
     "  Slice 'flip': Slice with step -1 reverses the sequence in time (how exporters write a "
     "flip for a backward recurrent pass); lwtnn runs its sequences forward only, so reversed "
     "and bidirectional recurrences have no lwtnn form"),
    ("refuse_residual_sequences",
     "  Add 'residual': Add of two sequences step by step (a residual connection); lwtnn adds "
     "vectors only, and has no per-step sum of sequences"),
    ("refuse_channels_first_input",
     "  Input 'x': it is a channels-first sequence [N, 3 features, T steps]; lwtnn sequences "
     "are [batch, time, features] (exported with its input in that order, the model "
     "converts)"),
])
def test_sequence_refusal_names_its_one_real_cause(name, cause, tmp_path, capsys):
    assert main([str(FIXTURES / f"{name}.onnx"), "-o", str(tmp_path / "out.json")]) == 1
    assert _causes(capsys.readouterr().err) == [cause]


def test_docs_exporters_table_names_every_exporter_fixture():
    text = (FIXTURES.parent / "docs" / "exporters.md").read_text()
    missing = [e["name"] for e in CONVERTIBLE + REFUSED if f"`{e['name']}`" not in text]
    assert not missing, f"docs/exporters.md does not mention {missing}"
