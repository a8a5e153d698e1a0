"""Issue 3: the published HEP structures, variable specs, masking and shared weights."""
from __future__ import annotations

import json

import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionWarning
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_close, assert_exact, onnx_reference, random_events

# The spec fixtures (published_tf2onnx_masked, varspec_graph, varspec_keras2json) are
# proven against their spec files, read by the test itself, in test_oracles_exact.py.


def test_masked_network_warns_naming_the_mask_value_and_the_changed_case():
    with pytest.warns(ConversionWarning, match=r"mask value -999.*all equal -999"):
        document = convert(FIXTURES / "published_tf2onnx_masked_nospec.onnx")
    model = onnx.load(str(FIXTURES / "published_tf2onnx_masked_nospec.onnx"))
    events = random_events(model, 1000, seed=4)
    assert_close(load_network(document).evaluate(events), onnx_reference(model, events))


@pytest.mark.parametrize("layout, rows, blocks", [("literal", 100, 4), ("cheapest", 106, 3)])
def test_published_refinement_network_holds_the_shared_matrices_once(layout, rows, blocks):
    """In the cheapest layout the layer also passes the running score and the two input
    features the next block reads on, as relu pairs (the last block has no next)."""
    document = convert(FIXTURES / "published_pytorch_refine.onnx", layout=layout)
    model = onnx.load(str(FIXTURES / "published_pytorch_refine.onnx"))
    shared = [layer for layer in document["layers"]
              if len(layer["bias"]) == rows and len(layer["weights"]) == rows * 3]
    assert len(shared) == 1, "the 3 -> 100 refinement layer must be written once"
    index = document["layers"].index(shared[0])
    users = [n for n in document["nodes"] if n.get("layer_index") == index]
    assert len(users) == blocks
    events = random_events(model, 1000, seed=5)
    assert_exact(load_network(document).evaluate(events), model, events)


def _run(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_spec_count_mismatch_names_both_numbers(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"inputs": [{"name": f"v{i}", "offset": 0, "scale": 1}
                                           for i in range(4)]}))
    code, err = _run([str(FIXTURES / "mlp_opset13.onnx"), "-o", str(tmp_path / "o.json"),
                      "--variables", str(spec)], capsys)
    width = onnx.load(str(FIXTURES / "mlp_opset13.onnx")).graph.input[0].type.tensor_type \
        .shape.dim[1].dim_value
    assert code == 2 and "4 variables" in err and f"has {width} features" in err
    assert not (tmp_path / "o.json").exists()


def test_parallel_array_spec_needs_the_convention_flag(tmp_path, capsys):
    model = FIXTURES / "published_tf2onnx_masked_nospec.onnx"
    spec = FIXTURES / "published_tf2onnx_masked.variables.json"
    code, err = _run([str(model), "-o", str(tmp_path / "o.json"), "--variables", str(spec)],
                     capsys)
    assert code == 2 and "--variables-convention" in err and "subtract-divide" in err
    assert not (tmp_path / "o.json").exists()


def test_unknown_input_or_output_name_in_spec(tmp_path, capsys):
    model = FIXTURES / "varspec_graph.onnx"
    spec = json.loads((FIXTURES / "varspec_graph.variables.json").read_text())
    spec["inputs"][0]["name"] = "jets"
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    code, err = _run([str(model), "--variables", str(path)], capsys)
    assert code == 2 and "unknown input 'jets'" in err and "'jet'" in err
    spec = json.loads((FIXTURES / "varspec_graph.variables.json").read_text())
    spec["outputs"][0]["name"] = "nonsense"
    path.write_text(json.dumps(spec))
    code, err = _run([str(model), "--variables", str(path)], capsys)
    assert code == 2 and "unknown output(s) nonsense" in err


def test_subtract_divide_means_the_opposite_of_lwtnn(tmp_path):
    model = FIXTURES / "mlp_opset13.onnx"
    width = len(convert(model)["inputs"][0]["variables"])
    spec = {"variables": [f"v{i}" for i in range(width)], "offset": [2.0] * width,
            "scale": [4.0] * width}
    divided = convert(model, variables=spec, variables_convention="subtract-divide")
    added = convert(model, variables=spec, variables_convention="lwtnn")
    assert divided["inputs"][0]["variables"][0] == {"name": "v0", "offset": -2.0,
                                                    "scale": 0.25}
    assert added["inputs"][0]["variables"][0] == {"name": "v0", "offset": 2.0, "scale": 4.0}


def test_sequence_inputs_take_a_spec_and_check_applies_it(tmp_path, capsys):
    model = FIXTURES / "rnnip_lstm.onnx"
    spec = tmp_path / "spec.json"
    assert main(["template", str(model), "-o", str(spec)]) == 0
    filled = json.loads(spec.read_text())
    assert filled["inputs"] == [] and len(filled["input_sequences"]) == 1
    for i, variable in enumerate(filled["input_sequences"][0]["variables"]):
        variable.update(name=f"trk_{i}", offset=0.5 * i, scale=1.5)
    spec.write_text(json.dumps(filled))
    network = tmp_path / "net.json"
    assert main([str(model), "-o", str(network), "--variables", str(spec)]) == 0
    variables = json.loads(network.read_text())["input_sequences"][0]["variables"]
    assert variables[1] == {"name": "trk_1", "offset": 0.5, "scale": 1.5}
    assert main(["check", str(model), str(network), "--variables", str(spec)]) == 0
    filled["inputs"], filled["input_sequences"] = filled["input_sequences"], []
    spec.write_text(json.dumps(filled))
    capsys.readouterr()
    assert main([str(model), "--variables", str(spec)]) == 2
    assert "belongs under 'input_sequences'" in capsys.readouterr().err
