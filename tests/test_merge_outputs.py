"""--merge-outputs: one lwtnn output, one compute call, the shared trunk evaluated once,
the same numbers as the unmerged outputs."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from onnx2lwtnn.api import conversion
from onnx2lwtnn.check import check
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning, UsageError
from onnx2lwtnn.lwtnn import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, load_network

from .support import FIXTURES

TWO_TASKS = FIXTURES / "multi_task_two_heads.onnx"   # score (Sigmoid), energy (linear)
SOFTMAX_HEAD = FIXTURES / "multi_two_outputs.onnx"    # score (Sigmoid), probs (Softmax)


def _convert(model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return conversion(model, **options)


def _evaluations(document: dict) -> dict[int, int]:
    """How often one event's compute calls evaluate each node (every output, uncached)."""
    counts: dict[int, int] = {}
    for output in document["outputs"].values():
        stack = [output["node_index"]]
        while stack:
            index = stack.pop()
            counts[index] = counts.get(index, 0) + 1
            node = document["nodes"][index]
            if node["type"] not in ("input", "input_sequence"):
                stack.extend(node["sources"])
    return counts


def _trunk_nodes(document: dict) -> list[int]:
    """The nodes computing the two 64-wide hidden layers."""
    return [i for i, node in enumerate(document["nodes"]) if node.get("layer_index") is not None
            and len(document["layers"][node["layer_index"]].get("bias", ())) == 64]


def test_merged_outputs_evaluate_the_trunk_once_per_event():
    unmerged = _convert(TWO_TASKS).document
    merged = _convert(TWO_TASKS, merge_outputs="all").document
    assert list(merged["outputs"]) == ["all"]
    assert merged["outputs"]["all"]["labels"] == ["score_0", "energy_0"]
    before, after = _evaluations(unmerged), _evaluations(merged)
    assert [before[i] for i in _trunk_nodes(unmerged)] == [2, 2]  # once per output's call
    assert [after[i] for i in _trunk_nodes(merged)] == [1, 1]
    assert set(after.values()) == {1}  # nothing, the input included, is evaluated twice
    assert sum(after.values()) < sum(before.values())


def test_merged_outputs_are_the_unmerged_outputs():
    merged = _convert(TWO_TASKS, merge_outputs="all").document
    x = np.random.default_rng(7).normal(size=(2000, 20))
    apart = load_network(_convert(TWO_TASKS).document).evaluate({"x": x})
    together = load_network(merged).evaluate({"x": x})["all"]
    # the same arithmetic (lwtnn's C++ gives the same bits, benchmarks/README.md); only
    # numpy's matrix products may group a sum differently
    np.testing.assert_allclose(together, np.hstack([apart["score"], apart["energy"]]),
                               rtol=4e-15, atol=4e-15)
    assert check(TWO_TASKS, merged, merge_outputs="all", events=300).passed


def test_a_merged_network_with_one_chain_fits_the_sequential_format():
    graph = _convert(TWO_TASKS, merge_outputs="all").document
    sequential = _convert(TWO_TASKS, merge_outputs="all", format="sequential").document
    assert sequential["outputs"] == ["score_0", "energy_0"]
    x = np.random.default_rng(8).normal(size=(500, 20))
    np.testing.assert_array_equal(
        load_network(sequential).evaluate({SEQUENTIAL_INPUT: x})[SEQUENTIAL_OUTPUT],
        load_network(graph).evaluate({"x": x})["all"])
    assert check(TWO_TASKS, sequential, merge_outputs="all", events=200).passed


def test_a_softmax_head_is_merged_too_though_its_trunk_is_computed_per_head():
    """Softmax is not element-wise, so nothing can pass through it: the merged output
    concatenates the heads, one call, each head computing the trunk."""
    merged = _convert(SOFTMAX_HEAD, merge_outputs="both")
    assert merged.document["outputs"]["both"]["labels"] == [
        "score_0", "probs_0", "probs_1", "probs_2"]
    assert merged.cost.total.calls == 1
    assert check(SOFTMAX_HEAD, merged.document, merge_outputs="both", events=200).passed


def test_labels_a_spec_names_are_prefixed_by_their_output(tmp_path):
    spec = {"inputs": [{"name": "x", "variables": [{"name": f"v{i}", "offset": 0, "scale": 1}
                                                   for i in range(20)]}],
            "outputs": [{"name": "score", "labels": ["signal"]},
                        {"name": "e_reco", "onnx_output": "energy", "labels": ["GeV"]}]}
    merged = _convert(TWO_TASKS, variables=spec, merge_outputs="heads").document
    assert merged["outputs"]["heads"]["labels"] == ["score_signal", "e_reco_GeV"]


def test_labels_that_would_collide_are_refused():
    spec = {"inputs": [{"name": "x", "variables": [{"name": f"v{i}", "offset": 0, "scale": 1}
                                                   for i in range(20)]}],
            "outputs": [{"name": "score", "labels": ["e_0"]},
                        {"name": "score_e", "onnx_output": "energy", "labels": ["0"]}]}
    with pytest.raises(UsageError, match="'score_e_0'"):
        _convert(TWO_TASKS, variables=spec, merge_outputs="all")
    _convert(TWO_TASKS, variables=spec)  # unmerged, the names are distinct


def test_the_cost_line_gives_each_call_and_the_merged_cost(tmp_path, capsys):
    assert main([str(TWO_TASKS), "-o", str(tmp_path / "apart.json")]) == 0
    apart = capsys.readouterr().err
    assert main([str(TWO_TASKS), "-o", str(tmp_path / "all.json"), "--merge-outputs", "all",
                 "--check", "--events", "100"]) == 0
    merged = capsys.readouterr().err
    estimate = _convert(TWO_TASKS, merge_outputs="all").cost.total.estimate
    assert "2 compute calls, one per output: score about" in apart
    assert f"with --merge-outputs one call: about {float(f'{estimate:.2g}'):,.0f})" in apart
    assert "compute calls" not in merged and "PASS" in merged
    assert main(["check", str(TWO_TASKS), str(tmp_path / "all.json"),
                 "--merge-outputs", "all"]) == 0
    assert main(["check", str(TWO_TASKS), str(tmp_path / "all.json")]) == 2
    assert "--merge-outputs" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["", "  "])
def test_a_merged_output_needs_a_name(name, tmp_path, capsys):
    with pytest.raises(UsageError, match="merge_outputs="):
        _convert(TWO_TASKS, merge_outputs=name)
    assert main([str(TWO_TASKS), "-o", str(tmp_path / "x.json"), "--merge-outputs", name]) == 2
    assert "--merge-outputs" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_a_correction_set_is_not_merged(tmp_path, capsys):
    with pytest.raises(UsageError, match="a CorrectionSet has a correction per label"):
        _convert(TWO_TASKS, format="correctionlib", merge_outputs="all")
    assert main([str(TWO_TASKS), "-o", str(tmp_path / "set.json"), "--format",
                 "correctionlib", "--merge-outputs", "all"]) == 2
    assert "--merge-outputs writes one lwtnn output" in capsys.readouterr().err


def test_a_network_of_one_output_merged_is_that_output_renamed_in_either_format():
    """Merging one output renames it and prefixes its labels: nothing is merged, so the
    sequential format holds it as it holds the unmerged network (it was refused, its
    one-source concatenation taken for a merge of branches)."""
    model = FIXTURES / "mlp_opset13.onnx"  # x -> y (2 labels)
    for fmt in ("graph", "sequential"):
        merged = _convert(model, merge_outputs="all", format=fmt).document
        labels = merged["outputs"] if fmt == "sequential" else merged["outputs"]["all"]["labels"]
        assert labels == ["y_0", "y_1"]
        assert check(model, merged, merge_outputs="all", events=200).passed
