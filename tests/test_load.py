"""load.py: reading, checking and shape-inferring ONNX files, external data included."""
from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, external_data_helper, helper, numpy_helper

from onnx2lwtnn import ConversionError, ModelLoadError, convert
from onnx2lwtnn.errors import ConversionWarning
from onnx2lwtnn.load import MIN_OPSET, default_opset, infer_shapes, load_model
from onnx2lwtnn.lwtnn import load_network

from .support import FIXTURES, assert_close, onnx_reference, random_events

FLOAT = TensorProto.FLOAT
NEWEST = onnx.defs.onnx_opset_version()


def mlp(opset: int = 13, *, ir_version=None, initializers_as_inputs=False,
        seed: int = 0) -> onnx.ModelProto:
    """x [N, 4] -> Gemm -> Relu -> Gemm -> y [N, 2], with seeded weights."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
             for name, shape in [("w0", (5, 4)), ("b0", (5,)), ("w1", (2, 5)), ("b1", (2,))]]
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="dense0", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu0"),
             helper.make_node("Gemm", ["r", "w1", "b1"], ["y"], name="dense1", transB=1)]
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["N", 4])]
    if initializers_as_inputs:
        inputs += [helper.make_tensor_value_info(t.name, FLOAT, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, "mlp", inputs,
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    return model


def matches_onnx(document: dict, model: onnx.ModelProto) -> None:
    events = random_events(model, 200, seed=5)
    assert_close(load_network(document).evaluate(events), onnx_reference(model, events))


def quiet_convert(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return convert(source)


# -- opsets ----------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [MIN_OPSET - 1, 1, NEWEST + 1, NEWEST + 100])
def test_opset_outside_the_range_is_refused(tmp_path, opset):
    path = tmp_path / "model.onnx"
    onnx.save(mlp(opset, ir_version=10), str(path))
    with pytest.raises(ModelLoadError, match=f"opset {opset} is outside the supported range "
                                             f"{MIN_OPSET} to {NEWEST}"):
        load_model(path)


@pytest.mark.parametrize("fixture", ["mlp_opset6.onnx", "mlp_opset_newest.onnx"])
def test_opsets_at_the_ends_of_the_range_load(fixture):
    model = load_model(FIXTURES / fixture)
    assert default_opset(model) in (MIN_OPSET, NEWEST)


def test_default_opset_reads_the_default_domain_in_either_spelling():
    model = mlp(11)
    assert default_opset(model) == 11
    model.opset_import[0].domain = "ai.onnx"
    model.opset_import.insert(0, helper.make_opsetid("com.example", 3))
    assert default_opset(model) == 11


# -- initializers listed as inputs (IR version < 4 writes them so) ---------------------
def test_initializer_also_listed_as_input_is_a_constant(tmp_path):
    model = mlp(7, ir_version=3, initializers_as_inputs=True)
    onnx.checker.check_model(model)
    path = tmp_path / "ir3.onnx"
    onnx.save(model, str(path))
    loaded = load_model(path)
    assert [v.name for v in loaded.graph.input] == ["x", "w0", "b0", "w1", "b1"]
    document = quiet_convert(path)
    assert [i["name"] for i in document["inputs"]] == ["x"]
    assert len(document["inputs"][0]["variables"]) == 4
    matches_onnx(document, model)


# -- external data -----------------------------------------------------------------------
def save_external(model: onnx.ModelProto, folder, location="weights.bin"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / os.path.dirname(location)).mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # saving as external data rewrites the model it is given
    onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return path


@pytest.mark.parametrize("location", ["weights.bin", "data/weights.bin"])
def test_external_data_inside_the_folder_is_loaded(tmp_path, location):
    model = mlp()
    path = save_external(model, tmp_path / "model", location)
    on_disk = onnx.load(str(path), load_external_data=False)
    assert all(external_data_helper.uses_external_data(t) for t in on_disk.graph.initializer)
    assert (tmp_path / "model" / location).stat().st_size > 0

    loaded = load_model(path)
    assert not any(external_data_helper.uses_external_data(t) for t in loaded.graph.initializer)
    for ours, theirs in zip(loaded.graph.initializer, model.graph.initializer):
        np.testing.assert_array_equal(numpy_helper.to_array(ours), numpy_helper.to_array(theirs))
    document = quiet_convert(path)
    assert document == quiet_convert(model)
    matches_onnx(document, model)


def test_external_data_is_found_from_any_working_directory(tmp_path, monkeypatch):
    model = mlp(seed=3)
    save_external(model, tmp_path / "nested" / "model")
    monkeypatch.chdir(tmp_path)
    assert quiet_convert(os.path.join("nested", "model", "model.onnx")) == quiet_convert(model)


def _relocated(path, location=None, **entries):
    model = onnx.load(str(path), load_external_data=False)
    tensor = model.graph.initializer[0]
    for entry in tensor.external_data:
        if entry.key == "location" and location is not None:
            entry.value = location
        if entry.key in entries:
            entry.value = str(entries.pop(entry.key))
    onnx.save(model, str(path))
    return path


def test_external_data_without_a_location_is_refused(tmp_path):
    path = save_external(mlp(), tmp_path)
    model = onnx.load(str(path), load_external_data=False)
    entries = [e for e in model.graph.initializer[0].external_data if e.key != "location"]
    del model.graph.initializer[0].external_data[:]
    model.graph.initializer[0].external_data.extend(entries)
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match="tensor 'w0' is stored as external data but "
                                             "names no file"):
        load_model(path)


@pytest.mark.parametrize("location", ["we\0ights.bin", "a" * 5000],
                         ids=["nul-byte", "name-too-long"])
def test_unusable_external_data_location_is_refused(tmp_path, location):
    path = _relocated(save_external(mlp(), tmp_path), location)
    with pytest.raises(ModelLoadError, match="tensor 'w0' has an unusable external data "
                                             "location") as error:
        load_model(path)
    assert len(str(error.value)) < 400


@pytest.mark.parametrize("location", [".", "", "..", "/"], ids=["dot", "empty", "up", "root"])
def test_external_data_naming_a_folder_is_refused(tmp_path, location):
    path = _relocated(save_external(mlp(), tmp_path / "model"), location)
    with pytest.raises(ModelLoadError, match="tensor 'w0'"):
        load_model(path)


def test_external_data_fifo_inside_the_folder_is_refused_without_hanging(tmp_path):
    path = save_external(mlp(), tmp_path)
    os.mkfifo(tmp_path / "pipe.bin")
    _relocated(path, "pipe.bin")
    with pytest.raises(ModelLoadError, match="'pipe.bin', which is not a regular file"):
        load_model(path)


@pytest.mark.parametrize("entries, problem", [
    ({"length": 10**6}, "length 1000000 bytes does not match the declared shape"),
    ({"offset": 10**6}, r"needs bytes 1000000 to 1000080 of 'weights.bin', which has"),
    ({"offset": "abc"}, "offset or length is not a number"),
    ({"length": 4}, "length 4 bytes does not match the declared shape"),
    ({"offset": -8}, "negative external data offset"),
])
def test_external_data_offsets_that_do_not_fit_are_refused(tmp_path, entries, problem):
    path = _relocated(save_external(mlp(), tmp_path), **entries)
    with pytest.raises(ModelLoadError, match=problem):
        load_model(path)


# -- checks ----------------------------------------------------------------------------
def test_checker_message_is_one_line(tmp_path):
    model = mlp()
    model.graph.node[1].input[0] = "nothere"
    path = tmp_path / "dangling.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError) as error:
        load_model(path)
    message = str(error.value)
    assert "\n" not in message and "invalid ONNX model" in message and "'nothere'" in message


def test_undeclared_custom_domains_are_imported_for_the_checker_only(tmp_path):
    nodes = [helper.make_node("Quant", ["x"], ["q"], name="quant", domain="org.undeclared"),
             helper.make_node("Relu", ["q"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "quant.onnx"
    onnx.save(model, str(path))
    loaded = load_model(path)
    assert [o.domain for o in loaded.opset_import] == [""]

    model.graph.node[1].input[0] = "zzz"  # still checked: build_ir relies on it
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match="invalid ONNX model: .*'zzz'"):
        load_model(path)


def test_unused_non_finite_initializer_is_left_alone(tmp_path):
    model = mlp()
    model.graph.initializer.append(numpy_helper.from_array(np.array([np.nan], np.float32),
                                                           "unused"))
    path = tmp_path / "unused.onnx"
    onnx.save(model, str(path))
    matches_onnx(quiet_convert(path), mlp())


def test_non_finite_constants_are_a_conversion_error_naming_each(tmp_path):
    model = mlp()
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(
        np.full((5, 4), np.inf, np.float32), "w0"))
    model.graph.node[0].attribute.append(helper.make_attribute("alpha", float("nan")))
    path = tmp_path / "nan.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ConversionError) as error:
        load_model(path)
    named = {(d.node, d.op_type) for d in error.value.diagnostics}
    assert named == {("w0", "initializer"), ("dense0", "Gemm")}


# -- shape inference -------------------------------------------------------------------
def test_loaded_model_carries_inferred_shapes(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(mlp(), str(path))
    shapes = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
              for v in load_model(path).graph.value_info}
    assert shapes == {"h": ["N", 5], "r": ["N", 5]}


def test_stale_declared_shapes_give_way_to_inferred_ones(tmp_path):
    """A value_info contradicting the graph (as left by editing a model after export) is
    replaced by the inferred shape instead of being trusted."""
    model = mlp()
    model.graph.value_info.append(helper.make_tensor_value_info("r", FLOAT, ["N", 16]))
    before = model.SerializeToString()
    inferred = infer_shapes(model)
    assert model.SerializeToString() == before  # the caller's model is not modified
    shapes = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
              for v in inferred.graph.value_info}
    assert shapes["r"] == ["N", 5]
    path = tmp_path / "stale.onnx"
    onnx.save(model, str(path))
    matches_onnx(quiet_convert(path), mlp())


def test_shape_inference_failure_leaves_shapes_unknown_without_raising():
    model = mlp()
    model.graph.node[0].op_type = "NoSuchOp"  # no schema: inference cannot run it
    inferred = infer_shapes(model)
    assert [n.op_type for n in inferred.graph.node][0] == "NoSuchOp"


def test_initializer_whose_data_does_not_fit_its_shape_is_a_load_error():
    model = mlp()
    damaged = model.graph.initializer[1]  # b0: 5 floats
    damaged.raw_data = np.zeros(7, np.float32).tobytes()
    with pytest.raises(ModelLoadError) as caught:
        convert(model)
    assert str(caught.value) == ("initializer 'b0': its data does not match its type and "
                                 "shape [5] (ValueError)")


def test_nodes_out_of_topological_order_are_sorted_and_a_sorted_model_kept_as_is():
    from onnx2lwtnn.load import sorted_topologically
    model = mlp()
    assert sorted_topologically(model) is model
    nodes = list(model.graph.node)[::-1]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    fixed = sorted_topologically(model)
    assert [n.name for n in fixed.graph.node] == [n.name for n in nodes[::-1]]
    assert [n.name for n in model.graph.node] == [n.name for n in nodes]  # caller's untouched
