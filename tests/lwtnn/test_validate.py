"""Document validation: the conformance networks pass, broken documents name the place."""
from __future__ import annotations

import copy
import json
from importlib import resources

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from onnx2lwtnn.lwtnn import LwtnnFormatError, load_network, validate_network
from onnx2lwtnn.lwtnn import validate
from onnx2lwtnn.lwtnn.validate import SAMPLE, document_kind

from .conformance_data import network_params


def base_doc():
    """A small valid graph using every node type."""
    lstm = {"architecture": "lstm", "activation": "tanh", "inner_activation": "sigmoid",
            "components": {g: {"weights": [0.1] * 6, "bias": [0.0] * 2, "U": [0.2] * 4}
                           for g in "ifco"}}
    return {
        "inputs": [{"name": "jet", "variables": [
            {"name": "pt", "offset": 0.0, "scale": 1.0, "default": 1.0},
            {"name": "eta", "offset": 1.0, "scale": 2.0}]}],
        "input_sequences": [{"name": "trk", "variables": [
            {"name": f"t{i}", "offset": 0, "scale": 1} for i in range(3)]}],
        "nodes": [
            {"type": "input", "sources": [0], "size": 2},                          # 0
            {"type": "input_sequence", "sources": [0], "size": 3},                 # 1
            {"type": "time_distributed", "sources": [1], "layer_index": 0},        # 2
            {"type": "sequence", "sources": [2], "layer_index": 1},                # 3
            {"type": "sum", "sources": [2]},                                       # 4
            {"type": "concatenate", "sources": [0, 3, 4]},                         # 5
            {"type": "feed_forward", "sources": [5], "layer_index": 2},            # 6
            {"type": "add", "sources": [6, 6]},                                    # 7
        ],
        "layers": [
            {"architecture": "dense", "weights": [0.5] * 9, "bias": [0.1] * 3,
             "activation": "rectified"},
            lstm,
            {"architecture": "dense", "weights": [0.01] * 21, "bias": [0.0] * 3,
             "activation": {"function": "leakyrelu", "alpha": 0.1}},
        ],
        "outputs": {"out": {"node_index": 7, "labels": ["a", "b", "c"]},
                    "seq": {"node_index": 3, "labels": ["h0", "h1"]}},
    }


def problems(doc):
    with pytest.raises(LwtnnFormatError) as info:
        validate_network(doc)
    return info.value.problems


def assert_problem(doc, path, fragment):
    found = problems(doc)
    assert any(p == path and fragment in m for p, m in found), found


def broken(mutate):
    doc = base_doc()
    mutate(doc)
    return doc


@pytest.mark.parametrize("network", network_params())
def test_conformance_networks_validate(network):
    doc = json.loads(network.read_text())
    assert document_kind(doc) == "graph"
    validate_network(doc)


@pytest.mark.parametrize("name", ["graph", "sequential"])
def test_schemas_are_valid_draft_2020_12(name):
    schema = json.loads((resources.files("onnx2lwtnn.lwtnn") / "schema" /
                         f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_base_doc_is_valid_and_runs():
    validate_network(base_doc())
    net = load_network(base_doc())
    out = net.evaluate({"jet": np.ones((2, 2))}, {"trk": [np.ones((3, 3)), np.ones((1, 3))]})
    assert out["out"].shape == (2, 3) and out["seq"].shape == (2, 2)


@pytest.mark.parametrize("mutate, path, fragment", [
    (lambda d: d.pop("input_sequences"), "$", "'input_sequences' is a required property"),
    (lambda d: d["nodes"][6].update(type="dense"), "$.nodes[6].type", "is not one of"),
    (lambda d: d["layers"][0].update(activation="gelu"), "$.layers[0].activation",
     "'gelu' is not one of"),
    (lambda d: d["layers"][2].update(activation={"function": "selu", "alpha": 1}),
     "$.layers[2].activation.function", "'selu' is not one of"),
    (lambda d: d["layers"][2].update(activation={"function": "elu"}),
     "$.layers[2].activation", "'alpha' is a required property"),
    (lambda d: d["layers"][2].update(activation="leakyrelu"), "$.layers[2].activation",
     "needs an alpha"),
    (lambda d: d["layers"][0].update(architecture="conv2d"), "$.layers[0].architecture",
     "is not one of"),
    (lambda d: d["layers"][0].pop("activation"), "$.layers[0]",
     "'activation' is a required property"),
    (lambda d: d["layers"][2]["weights"].pop(), "$.layers[2].weights",
     "has 20 entries, not a multiple of the 7 inputs"),
    (lambda d: d["layers"][2]["bias"].pop(), "$.layers[2].bias", "has 2 entries for 3 outputs"),
    (lambda d: d["layers"][1]["components"]["f"]["U"].pop(), "$.layers[1].components.f.U",
     "has 3 entries, not 2 x 2"),
    (lambda d: d["layers"][1]["components"]["o"].pop("U"), "$.layers[1].components.o",
     "'U' is a required property"),
    (lambda d: d["layers"][1]["components"].pop("c"), "$.layers[1].components",
     "'c' is a required property"),
    (lambda d: d["layers"][1]["components"].update(x={"weights": [], "bias": []}),
     "$.layers[1].components", "'x' is not one of"),
    (lambda d: d["nodes"][5]["sources"].append(12), "$.nodes[5].sources[3]",
     "node 12 does not exist"),
    (lambda d: d["nodes"][0].update(sources=[3]), "$.nodes[0].sources[0]",
     "inputs entry 3 does not exist"),
    (lambda d: d["nodes"][0].update(size=3), "$.nodes[0].size", "is 3 but $.inputs[0] has 2"),
    (lambda d: d["nodes"][0].update(size=2.0), "$.nodes[0].size", "is not of type 'integer'"),
    (lambda d: d["nodes"][0].update(sources=[-1]), "$.nodes[0].sources[0]",
     "less than the minimum of 0"),
    (lambda d: d["nodes"][6].update(layer_index=3), "$.nodes[6].layer_index",
     "layer 3 does not exist"),
    (lambda d: d["nodes"][6].update(sources=[1]), "$.nodes[6].sources[0]",
     "node 1 (input_sequence) is not a vector"),
    (lambda d: d["nodes"][4].update(sources=[0]), "$.nodes[4].sources[0]",
     "node 0 (input) is not a sequence"),
    (lambda d: d["nodes"][4].update(sources=[1, 2]), "$.nodes[4].sources",
     "is too long"),
    (lambda d: d["nodes"][7].update(sources=[6, 0]), "$.nodes[7].sources",
     "adds nodes of different widths [3, 2]"),
    (lambda d: d["nodes"][2].update(layer_index=1), "$.nodes[2].layer_index",
     "layer 1 is 'lstm', which a time_distributed node cannot run"),
    (lambda d: d["nodes"][3].update(layer_index=0), "$.nodes[3].layer_index",
     "layer 0 is 'dense', which a sequence node cannot run"),
    (lambda d: d["outputs"]["out"]["labels"].pop(), "$.outputs.out.labels",
     "has 2 labels but node 7 has 3 outputs"),
    (lambda d: d["outputs"].update(bad={"node_index": 2, "labels": []}),
     "$.outputs.bad.node_index", "node 2 (time_distributed) is a sequence"),
    (lambda d: d["outputs"].update({"b d": {"node_index": 9, "labels": []}}),
     '$.outputs["b d"].node_index', "node 9 does not exist"),
    (lambda d: d["inputs"][0]["variables"][1].update(offset=float("nan")),
     "$.inputs[0].variables[1].offset", "is not a JSON number"),
    (lambda d: d["layers"][0]["bias"].__setitem__(1, float("inf")), "$.layers[0].bias[1]",
     "is not a JSON number"),
    (lambda d: d["layers"][2]["weights"].__setitem__(17, float("-inf")),
     "$.layers[2].weights[17]", "is not a JSON number"),
    (lambda d: d["layers"][2]["weights"].__setitem__(17, True), "$.layers[2].weights[17]",
     "True is not of type 'number'"),
    (lambda d: d["layers"][2]["weights"].__setitem__(15, "0.5"), "$.layers[2].weights[15]",
     "'0.5' is not of type 'number'"),
    (lambda d: d["input_sequences"][0].update(variables=[]), "$.input_sequences[0].variables",
     "should be non-empty"),
    (lambda d: d["inputs"][0]["variables"][1].update(name="pt"),
     "$.inputs[0].variables[1].name", "'pt' is also the name of"),
    (lambda d: d["layers"][0].update(padding="full"), None, None),
])
def test_broken_documents_name_the_place(mutate, path, fragment):
    doc = broken(mutate)
    if path is None:  # keys an architecture does not use are ignored, as by lwtnn
        validate_network(doc)
    else:
        assert_problem(doc, path, fragment)


def test_all_problems_are_reported_together():
    def mutate(d):
        d.pop("outputs")
        d["layers"][0]["weights"].pop()
        d["layers"][1].update(activation="gelu")
        d["inputs"][0]["variables"][0]["scale"] = float("nan")
    found = dict(problems(broken(mutate)))
    assert set(found) == {"$", "$.layers[0].weights", "$.layers[1].activation",
                          "$.inputs[0].variables[0].scale"}
    with pytest.raises(LwtnnFormatError, match=r"and 3 more problem\(s\)"):
        validate_network(broken(mutate))


def test_cycles_are_reported_on_the_cycle_only():
    doc = broken(lambda d: d["nodes"][2].update(sources=[3]))
    found = [p for p, m in problems(doc) if "cycle" in m]
    assert found == ["$.nodes[2].sources", "$.nodes[3].sources"]


def test_forward_references_are_fine():
    doc = base_doc()
    order = [7, 6, 5, 4, 3, 2, 1, 0]  # reverse the node list, renumbering sources
    doc["nodes"] = [dict(doc["nodes"][i]) for i in order]
    for node in doc["nodes"]:
        if node["type"] not in ("input", "input_sequence"):
            node["sources"] = [order.index(s) for s in node["sources"]]
    for out in doc["outputs"].values():
        out["node_index"] = order.index(out["node_index"])
    out = load_network(doc).evaluate({"jet": np.ones((1, 2))}, {"trk": [np.ones((2, 3))]})
    ref = load_network(base_doc()).evaluate({"jet": np.ones((1, 2))}, {"trk": [np.ones((2, 3))]})
    assert out.keys() == ref.keys()
    for name in out:
        np.testing.assert_array_equal(out[name], ref[name])


def test_a_layer_shared_by_nodes_of_different_widths():
    def mutate(d):
        d["nodes"].append({"type": "feed_forward", "sources": [0], "layer_index": 2})
    assert_problem(broken(mutate), "$.layers[2]", "is used with different input widths")


def test_not_an_object():
    with pytest.raises(LwtnnFormatError, match="is a JSON object"):
        validate_network([1, 2])


def test_document_kind():
    assert document_kind(base_doc()) == "graph"
    assert document_kind({"inputs": [], "layers": [], "outputs": []}) == "sequential"


def test_load_network_reads_files_and_rejects_nan_literals(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(base_doc()))
    assert load_network(path).output_labels["out"] == ["a", "b", "c"]
    assert load_network(str(path)).input_names == ["jet"]
    path.write_text(json.dumps(base_doc()).replace('"offset": 1.0', '"offset": NaN'))
    with pytest.raises(LwtnnFormatError, match=r"\$\.inputs\[0\]\.variables\[1\]\.offset"):
        load_network(path)


def big_dense_doc(n_in, n_out):
    weights = np.linspace(-1, 1, n_in * n_out).tolist()
    return {
        "inputs": [{"name": "x", "variables": [{"name": f"v{i}", "offset": 0, "scale": 1}
                                               for i in range(n_in)]}],
        "input_sequences": [],
        "nodes": [{"type": "input", "sources": [0], "size": n_in},
                  {"type": "feed_forward", "sources": [0], "layer_index": 0}],
        "layers": [{"architecture": "dense", "weights": weights, "bias": [0.0] * n_out,
                    "activation": "sigmoid"}],
        "outputs": {"y": {"node_index": 1, "labels": [f"y{i}" for i in range(n_out)]}},
    }


def test_long_weight_lists_are_not_iterated_by_jsonschema(monkeypatch):
    """The structural check (``conforms``, and jsonschema where it does not accept) sees a
    sample of each long weight list, never the million weights; the finiteness of the
    rest is decided in bulk (a structural check: timings belong in benchmarks, where a
    loaded machine cannot fail them)."""
    seen = []
    original = validate.conforms

    def recording(view, schema, schemas):
        seen.append(len(view["layers"][0]["weights"]))
        return original(view, schema, schemas)

    monkeypatch.setattr(validate, "conforms", recording)
    doc = big_dense_doc(1000, 1000)  # a million weights
    validate_network(doc)
    assert seen == [SAMPLE]
    doc["layers"][0]["weights"][999_998] = float("nan")
    doc["layers"][0]["weights"][999_999] = float("nan")
    assert_problem(doc, "$.layers[0].weights[999998]", "this list has 2 non-finite entries")


def test_a_sampled_list_still_gets_its_items_type_checked():
    doc = big_dense_doc(4, 2 * SAMPLE)
    doc["layers"][0]["weights"][3 * SAMPLE] = None
    assert_problem(doc, f"$.layers[0].weights[{3 * SAMPLE}]", "None is not of type 'number'")


def test_documents_are_not_modified():
    doc = base_doc()
    before = copy.deepcopy(doc)
    validate_network(doc)
    assert doc == before


def test_long_source_lists_are_checked_in_full():
    doc = base_doc()
    doc["nodes"][5]["sources"] = [0] * (SAMPLE + 3) + [-1]
    assert_problem(doc, f"$.nodes[5].sources[{SAMPLE + 3}]", "less than the minimum of 0")
