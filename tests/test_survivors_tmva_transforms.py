"""Tests for the survivors of the tmva module's mutation campaign (issue 26), part
transforms, fold, response and check: how a weights file's transformations are read,
refused, applied and folded, and how a conversion is proven.

The expected numbers are computed here from TMVA's formulas (VariableNormalizeTransform
``2 (x - min) / (max - min) - 1`` with float ranges, VariableDecorrTransform ``M x``,
VariablePCATransform ``E^T (x - mean)``, the MLP and its softmax), through the reader of
tests/test_oracles_tmva.py, never through onnx2lwtnn.tmva.
"""
from __future__ import annotations

import copy
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning, ModelLoadError, UsageError
from onnx2lwtnn.tmva import TmvaCheck, check_tmva, convert_tmva, read_network
from onnx2lwtnn.tmva import transforms as tf
from onnx2lwtnn.tmva.method import Method

from .support import EXACT, FIXTURES, onnx_float64
from .test_oracles_tmva import TmvaFile, _edited, _lwtnn, _worst

F32 = np.float32


def _transform(root, name: str) -> ElementTree.Element:
    return next(t for t in root.iterfind("Transformations/Transform") if t.get("Name") == name)


def _events(name: str, count: int, seed: int) -> np.ndarray:
    return TmvaFile(FIXTURES / f"{name}.weights.xml").events(count, seed)


# -- a transformation's blocks, each refused with what is wrong in it -----------------------

def _drop(name: str, tag: str):
    def edit(root):
        transform = _transform(root, name)
        for block in transform.findall(tag):
            transform.remove(block)
    return edit


def _set_last(name: str, tag: str, **attributes):
    def edit(root):
        _transform(root, name).findall(tag)[-1].attrib.update(attributes)
    return edit


def _one_number_less(name: str, tag: str):
    def edit(root):
        block = _transform(root, name).findall(tag)[-1]
        block.text = " ".join(block.text.split()[:-1])
    return edit


def _range(index: int, **attributes):
    """The last Normalize class block's range ``index`` changed (None: an attribute
    removed; a missing range: the element removed)."""
    def edit(root):
        ranges = _transform(root, "Normalize").findall("Class")[-1].find("Ranges")
        entry = next(r for r in ranges if r.get("Index") == str(index))
        if attributes.get("missing"):
            ranges.remove(entry)
            return
        for key, value in attributes.items():
            if value is None:
                del entry.attrib[key]
            else:
                entry.set(key, value)
    return edit


NEEDS_MAX_ABOVE_MIN = "2 (x - min) / (max - min) - 1 needs max > min"


@pytest.mark.parametrize("name, edit, reason", [
    ("tmva_norm_decorr", _drop("Decorrelation", "Matrix"),
     "Decorrelation has no class blocks"),
    ("tmva_norm_decorr", _set_last("Decorrelation", "Matrix", Rows="four"),
     "<Matrix> has no integer Rows (found 'four')"),
    ("tmva_norm_decorr", _set_last("Decorrelation", "Matrix", Columns="four"),
     "<Matrix> has no integer Columns (found 'four')"),
    ("tmva_norm_decorr", _one_number_less("Decorrelation", "Matrix"),
     "Decorrelation matrix: expected 16 numbers, found 15"),
    ("tmva_pca_regression", _drop("PCA", "Statistics"), "PCA has no class blocks"),
    ("tmva_pca_regression", _drop("PCA", "Eigenvectors"), "PCA has no class blocks"),
    ("tmva_pca_regression", _one_number_less("PCA", "Statistics"),
     "PCA means: expected 3 numbers, found 2"),
    ("tmva_pca_regression", _one_number_less("PCA", "Eigenvectors"),
     "PCA eigenvectors: expected 9 numbers, found 8"),
    ("tmva_norm_decorr", _drop("Normalize", "Class"), "Normalize has no class blocks"),
    ("tmva_norm_decorr", _range(2, Index="two"), "<Range> has no integer Index (found 'two')"),
    ("tmva_norm_decorr", _range(3, Index="4"), "Normalize: range index 4 outside its selection"),
    ("tmva_norm_decorr", _range(1, Min="1", Max=None),
     f"Normalize: variable 'eta_lead' has range [1.0, nan]; {NEEDS_MAX_ABOVE_MIN}"),
    ("tmva_norm_decorr", _range(1, missing=True),
     f"Normalize: variable 'eta_lead' has range [nan, nan]; {NEEDS_MAX_ABOVE_MIN}"),
    ("tmva_norm_decorr", _range(2, Min="1", Max="0"),
     f"Normalize: variable 'm_jj' has range [1.0, 0.0]; {NEEDS_MAX_ABOVE_MIN}"),
    ("tmva_norm_decorr", _range(0, Min="1", Max="1e39"),  # beyond float: inf
     f"Normalize: variable 'pt_lead' has range [1.0, inf]; {NEEDS_MAX_ABOVE_MIN}"),
    ("tmva_pca_regression", _range(3, Min="90", Max="90"),
     f"Normalize: target 'fvalue' has range [90.0, 90.0]; {NEEDS_MAX_ABOVE_MIN}"),
])
def test_a_broken_transformation_block_is_refused_saying_what_is_wrong(name, edit, reason,
                                                                       tmp_path):
    path, _ = _edited(name, tmp_path, edit)
    with pytest.raises(ModelLoadError) as caught:
        read_network(path)
    assert str(caught.value) == f"{path}: {reason}"


def test_transformations_are_named_as_the_file_names_them():
    for name in ["tmva_norm_decorr", "tmva_pca_regression", "tmva_multiclass"]:
        path = FIXTURES / f"{name}.weights.xml"
        root = ElementTree.parse(path).getroot()
        assert [t.name for t in read_network(path).transforms] == [
            t.get("Name") for t in root.iterfind("Transformations/Transform")]


# -- which transformations are read, and every refused one named --------------------------

def _transformations(*names):
    """The file's transformations replaced by copies of its Normalize under ``names``
    (None: without a Name)."""
    def edit(root):
        parent = root.find("Transformations")
        normalize = _transform(root, "Normalize")
        for transform in list(parent):
            parent.remove(transform)
        for name in names:
            transform = copy.deepcopy(normalize)
            if name is None:
                del transform.attrib["Name"]
            else:
                transform.set("Name", name)
            parent.append(transform)
    return edit


UNKNOWN = ("this TMVA transformation is not one this tool knows (Normalize, Decorrelation "
           "and PCA are)")


def test_every_transformation_lwtnn_cannot_compute_is_named_at_once(tmp_path):
    path, _ = _edited("tmva_norm_decorr", tmp_path,
                      _transformations("Gauss", "Normalize", None, "Rearrange"))
    with pytest.raises(ConversionError) as caught:
        read_network(path)
    error = caught.value
    assert error.summary == "3 TMVA transformation(s) cannot be expressed in lwtnn"
    assert [(d.node, d.op_type) for d in error.diagnostics] == [
        ("0: Gauss", "TMVA transformation"), ("2: ", "TMVA transformation"),
        ("3: Rearrange", "TMVA transformation")]
    assert "cumulative distribution" in error.diagnostics[0].reason
    assert [d.reason for d in error.diagnostics[1:]] == [UNKNOWN, UNKNOWN]


def _unnamed_first_variable(root) -> None:
    """The first variable without a name; the selections name it by its empty Label and
    Expression, every other input by one of the two only."""
    root.find("Variables/Variable").attrib.update(Label="", Expression="")
    for selection in root.iterfind("Transformations/Transform/Selection/Input"):
        for i, entry in enumerate(selection.iterfind("Input")):
            if i == 0:
                entry.attrib.update(Label="", Expression="")
            else:
                del entry.attrib["Label" if i % 2 else "Expression"]


def test_an_input_named_by_one_attribute_is_not_the_unnamed_variable(tmp_path):
    path, original = _edited("tmva_norm_decorr", tmp_path, _unnamed_first_variable)
    tmva = TmvaFile(original)
    raw = tmva.events(300, seed=51)
    assert [t.variables for t in read_network(path).transforms] == [[0, 1, 2, 3]] * 2
    assert _worst(_lwtnn(convert_tmva(path), raw), tmva.response(raw)) <= EXACT


def _stale_names(root) -> None:
    """Each Normalize input named by a right Label and a stale Expression, or the other
    way round."""
    for i, entry in enumerate(_transform(root, "Normalize").iterfind("Selection/Input/Input")):
        entry.set("Expression" if i % 2 else "Label", f"stale_{i}")


def test_an_input_is_found_by_its_label_or_its_expression(tmp_path):
    """TMVA's VariableTransformBase: the first variable whose label or expression is the
    input's."""
    path, original = _edited("tmva_norm_decorr", tmp_path, _stale_names)
    tmva = TmvaFile(original)
    raw = tmva.events(300, seed=52)
    assert read_network(path).transforms[0].variables == [0, 1, 2, 3]
    assert _worst(_lwtnn(convert_tmva(path), raw), tmva.response(raw)) <= EXACT


@pytest.mark.parametrize("attributes, named", [
    ({"Expression": "nowhere"}, "'nowhere'"), ({"Label": "nowhere"}, "'nowhere'"), ({}, "''")])
def test_an_input_the_file_does_not_declare_is_refused_by_the_name_it_gives(attributes,
                                                                            named, tmp_path):
    def edit(root):
        entry = _transform(root, "Normalize").find("Selection/Input/Input")
        entry.attrib.clear()
        entry.attrib.update(Type="Variable", **attributes)
    path, _ = _edited("tmva_norm_decorr", tmp_path, edit)
    with pytest.raises(ModelLoadError) as caught:
        read_network(path)
    assert str(caught.value) == (f"{path}: a transformation selects variable {named}, which "
                                 "the file does not declare")


def test_a_method_without_its_file_has_no_transformations():
    method = Method(where="header only", method="MLP", title="MLP", version=0,
                    analysis="Classification", options={}, variables=["a"], labels=["a"],
                    ranges=np.array([[0.0, 1.0]]))
    assert tf.read_transformations(method) == []


def _normalized(x: np.ndarray, low, high) -> np.ndarray:
    low, high = (np.asarray(v, F32).astype(np.float64) for v in (low, high))
    return 2.0 * (x - low) / (high - low) - 1.0


def test_sixteen_transformations_are_read_and_seventeen_refused(tmp_path):
    """Sixteen Normalize steps in a row, each over the last class block's ranges."""
    path, original = _edited("tmva_norm_decorr", tmp_path, _transformations(*["Normalize"] * 16))
    tmva = TmvaFile(original)
    ranges = _transform(ElementTree.parse(original).getroot(), "Normalize").findall("Class")[-1]
    low = [float(r.get("Min")) for r in ranges.iter("Range")]
    high = [float(r.get("Max")) for r in ranges.iter("Range")]
    raw = tmva.events(200, seed=40)
    x = raw
    for _ in range(16):
        x = _normalized(x, low, high)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert_tmva(path, verify=False)
    assert _worst(_lwtnn(document, raw), tmva.network(x)) <= EXACT
    path, _ = _edited("tmva_norm_decorr", tmp_path, _transformations(*["Normalize"] * 17))
    with pytest.raises(ModelLoadError, match="17 transformations"):
        read_network(path)


# -- transformations on some of the variables, chained, or on none --------------------------

DECORRELATED = [0, 2]  # pt_lead, m_jj
NORMALIZED = [1, 3]    # eta_lead, dphi_jj
MATRIX = np.array([[2.0, 1.0], [0.5, 3.0]])
LOW, HIGH = [-7.5, -2.75], [6.5, 5.25]


def _select(transform, indices: list[int], root) -> None:
    names = [v.get("Label") for v in root.iterfind("Variables/Variable")]
    entries = transform.find("Selection/Input")
    for entry in list(entries):
        if names.index(entry.get("Label")) not in indices:
            entries.remove(entry)


def _on_some_variables(root) -> None:
    """A Decorrelation of pt_lead and m_jj, then a Normalize of eta_lead and dphi_jj."""
    parent = root.find("Transformations")
    decorrelation, normalize = _transform(root, "Decorrelation"), _transform(root, "Normalize")
    _select(decorrelation, DECORRELATED, root)
    for matrix in decorrelation.findall("Matrix"):
        matrix.attrib.update(Rows="2", Columns="2")
        matrix.text = " ".join(str(v) for v in MATRIX.ravel())
    _select(normalize, NORMALIZED, root)
    for block in normalize.findall("Class"):
        ranges = block.find("Ranges")
        for entry in list(ranges):
            ranges.remove(entry)
        for index, (low, high) in enumerate(zip(LOW, HIGH)):
            ElementTree.SubElement(ranges, "Range", Index=str(index), Min=str(low),
                                   Max=str(high))
    parent[:] = [decorrelation, normalize]


def _decorrelated(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[:, DECORRELATED] = x[:, DECORRELATED] @ MATRIX.T
    return x


def _normalized_some(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[:, NORMALIZED] = _normalized(x[:, NORMALIZED], LOW, HIGH)
    return x


BY_HAND = [_decorrelated, _normalized_some]  # each transformation of the file, in double


def test_transformations_of_some_variables_leave_the_others_as_they_are(tmp_path):
    path, original = _edited("tmva_norm_decorr", tmp_path, _on_some_variables)
    raw = _events("tmva_norm_decorr", 300, seed=41)
    expected = _normalized_some(_decorrelated(raw))
    document = convert_tmva(path, verify=False)
    assert _worst(_lwtnn(document, raw), TmvaFile(original).network(expected)) <= EXACT


def test_each_transformation_computes_in_double_exactly_and_in_float_as_tmva(tmp_path):
    """``exact``: in double from the floats it is handed; TMVA's: every variable held as
    a float, as the Reader's events are."""
    path, _ = _edited("tmva_norm_decorr", tmp_path, _on_some_variables)
    transforms = read_network(path).transforms
    values = _events("tmva_norm_decorr", 300, seed=42)
    for transform, by_hand in zip(transforms, BY_HAND):
        singles = values.astype(F32)
        expected = by_hand(singles.astype(np.float64))
        exact = tf.apply([transform], singles, exact=True)
        assert exact.dtype == np.float64
        np.testing.assert_allclose(exact, expected, rtol=1e-15, atol=1e-15)
        tmva = tf.apply([transform], values, exact=False)  # not floats yet
        assert np.array_equal(tmva, tmva.astype(F32))
        values = by_hand(values)
        assert np.max(np.abs(tmva - values)) <= 1e-6 * np.max(np.abs(values))


def test_a_normalize_of_no_variable_changes_nothing(tmp_path):
    def edit(root):
        normalize = _transform(root, "Normalize")
        normalize.find("Selection/Input")[:] = []
        for ranges in normalize.iter("Ranges"):
            ranges[:] = []
    path, original = _edited("tmva_norm_decorr", tmp_path, edit)
    tmva = TmvaFile(original)
    raw = tmva.events(200, seed=43)
    decorrelation = _transform(ElementTree.parse(original).getroot(), "Decorrelation")
    expected = tmva.network(tmva._decorrelation(decorrelation, raw))
    assert _worst(_lwtnn(convert_tmva(path, verify=False), raw), expected) <= EXACT


def _normalize_first(*ranges):
    """Normalize steps of every variable and the target over ``ranges`` put first."""
    def edit(root):
        parent = root.find("Transformations")
        normalize = _transform(root, "Normalize")
        for position, (low, high) in enumerate(ranges):
            step = copy.deepcopy(normalize)
            for entry in step.iter("Range"):
                entry.attrib.update(Min=str(low), Max=str(high))
            parent.insert(position, step)
    return edit


def test_chained_normalize_steps_of_a_regression_target_are_undone_in_reverse(tmp_path):
    path, _ = _edited("tmva_pca_regression", tmp_path, _normalize_first((-2, 3), (-1.5, 0.5)))
    tmva = TmvaFile(path)
    assert [t.get("Name") for t in tmva.transforms] == ["Normalize", "Normalize", "PCA",
                                                        "Normalize"]
    raw = tmva.events(300, seed=44)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert_tmva(path, verify=False)
    assert _worst(_lwtnn(document, raw), tmva.response(raw)) <= EXACT
    assert _worst(read_network(path).exact(raw), tmva.response(raw)) <= EXACT


# -- the responses: softmax of large values, TMVA's multiclass values as floats ---------------

def _output_weights_times(factor: float):
    def edit(root):
        layers = sorted(root.findall("Weights/Layout/Layer"), key=lambda e: int(e.get("Index")))
        for neuron in layers[-2].iter("Neuron"):
            neuron.text = " ".join(str(float(v) * factor) for v in neuron.text.split())
    return edit


def test_a_softmax_of_values_far_beyond_exps_range_is_still_the_softmax(tmp_path):
    """Values in the thousands, far apart from one event to the next: exp(700) is
    double's limit."""
    path, _ = _edited("tmva_multiclass", tmp_path, _output_weights_times(1000.0))
    tmva = TmvaFile(path)
    raw = tmva.events(300, seed=45)
    expected = tmva.response(raw)
    tmva.analysis = "none"  # the network's values before the softmax
    values = tmva.response(raw)
    assert values.max() > 1000 and np.ptp(values.max(axis=1)) > 1000
    network = read_network(path)
    assert _worst(network.exact(raw), expected) <= EXACT
    assert np.all(np.isfinite(network.tmva(raw)))
    assert _worst(_lwtnn(convert_tmva(path), raw), expected) <= EXACT  # and proven so


def test_tmvas_multiclass_values_are_floats():
    path = FIXTURES / "tmva_multiclass.weights.xml"
    raw = _events("tmva_multiclass", 300, seed=46)
    values = read_network(path).tmva(raw)
    assert np.array_equal(values, values.astype(F32))
    assert _worst(values, TmvaFile(path).response(raw)) <= 1e-6


# -- a file's transformations folded into an ONNX conversion ------------------------------

NORM_DECORR = FIXTURES / "tmva_norm_decorr.weights.xml"


def _model(shape: list, nodes: list, output_shape: list, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "tmva_reader", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("name, labels", [
    ("tmva_multiclass", ["light", "charm", "bottom"]),
    ("tmva_pca_regression", ["fvalue"]),
    ("tmva_norm_decorr", ["score_0"])])  # a classifier's output keeps the ONNX name
def test_the_onnx_output_is_labelled_by_class_or_target(name, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert(FIXTURES / f"{name}.onnx",
                           tmva_weights=FIXTURES / f"{name}.weights.xml", verify=False)
    (output,) = document["outputs"].values()
    assert output["labels"] == labels


def test_the_inverse_target_transformation_is_told_folded_into_the_last_layer():
    changes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        convert(FIXTURES / "tmva_pca_regression.onnx", verify=False, on_change=changes.append,
                tmva_weights=FIXTURES / "tmva_pca_regression.weights.xml")
    (change,) = [c for c in changes if c.op == "Affine"]
    assert change.node == "TMVA inverse target transformation"
    assert [op for _, op in change.now_read] == ["Dense"]


def test_transformations_read_by_an_activation_stay_a_layer_of_their_own():
    """x -> sigmoid -> dense: the transformations cannot fold into the dense layer through
    the sigmoid; they are a linear layer of their own, told, with the sigmoid on it."""
    weights = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2) / 7, "w")
    bias = numpy_helper.from_array(np.array([0.5, -0.25], np.float32), "b")
    model = _model(["N", 4], [helper.make_node("Sigmoid", ["x"], ["s"]),
                              helper.make_node("Gemm", ["s", "w", "b"], ["y"])],
                   ["N", 2], [weights, bias])
    changes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        document = convert(model, tmva_weights=NORM_DECORR, on_change=changes.append)
    assert [str(w.message) for w in caught] == [
        "TMVA's linear transformations stay a layer of their own: something other than a "
        "dense layer reads them"]
    assert ("TMVA transformations", "Dense") in [n for c in changes for n in c.now_read]
    tmva = TmvaFile(NORM_DECORR)
    raw = tmva.events(300, seed=47)
    (expected,) = onnx_float64(model, {"x": tmva.transform(raw)}).values()
    assert _worst(_lwtnn(document, raw), expected) <= EXACT


def test_a_regression_ending_in_an_activation_has_its_target_undone_after_it():
    """x -> dense -> sigmoid: the inverse target transformation cannot fold into the
    dense layer; it is lwtnn's normalisation of the output, in target units."""
    path = FIXTURES / "tmva_pca_regression.weights.xml"
    weights = numpy_helper.from_array(np.array([[0.3], [-0.2], [0.1]], np.float32), "w")
    bias = numpy_helper.from_array(np.array([0.05], np.float32), "b")
    model = _model(["N", 3], [helper.make_node("Gemm", ["x", "w", "b"], ["g"]),
                              helper.make_node("Sigmoid", ["g"], ["y"])],
                   ["N", 1], [weights, bias])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert(model, tmva_weights=path)
    tmva = TmvaFile(path)
    raw = tmva.events(300, seed=50)
    (expected,) = onnx_float64(model, {"x": tmva.transform(raw)}).values()
    assert _worst(_lwtnn(document, raw), tmva.inverse_target(expected)) <= EXACT
    assert document["outputs"]["y"]["labels"] == ["fvalue"]


@pytest.mark.parametrize("shape", [["N", 4], [4]])
def test_a_network_that_passes_its_input_on_computes_the_transformations(shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # they stay a layer of their own
        document = convert(_model(shape, [helper.make_node("Identity", ["x"], ["y"])], shape),
                           tmva_weights=NORM_DECORR)
    tmva = TmvaFile(NORM_DECORR)
    raw = tmva.events(300, seed=48)
    assert _worst(_lwtnn(document, raw), tmva.transform(raw)) <= EXACT


def test_transformations_of_a_sequence_input_are_refused():
    model = _model(["N", 5, 4], [helper.make_node("Identity", ["x"], ["y"])], ["N", 5, 4])
    with pytest.raises(UsageError) as caught:
        convert(model, tmva_weights=NORM_DECORR)
    assert str(caught.value) == (f"{NORM_DECORR}: TMVA's transformations apply to one vector "
                                 "input; the model has 1 input(s)")


# -- the proof of a converted file ----------------------------------------------------------

MULTICLASS = FIXTURES / "tmva_multiclass.weights.xml"
REGRESSION = FIXTURES / "tmva_pca_regression.weights.xml"


def _converted(path, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # the fast tanh's deviation
        return convert_tmva(path, verify=False, **options)


def test_the_check_reports_each_labels_largest_relative_deviation():
    """A document whose first class is off: per label, max |lwtnn - ref| / max(1, |ref|)
    over the events, against the response computed here."""
    document = _converted(MULTICLASS)
    document["layers"][-1]["bias"][0] += 0.5
    tmva = TmvaFile(MULTICLASS)
    raw = tmva.events(200, seed=49)
    ours, expected = _lwtnn(document, raw), tmva.response(raw)
    deviation = np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected)), axis=0)
    report = check_tmva(read_network(MULTICLASS), document, raw=raw)
    assert deviation.shape == (3,) and deviation.min() > 1e-3
    np.testing.assert_allclose(report.exact, deviation, rtol=1e-9)
    assert not report.passed


def test_the_check_draws_a_thousand_events_the_same_each_time():
    network, document = read_network(REGRESSION), _converted(REGRESSION)
    report = check_tmva(network, document)
    assert report.events == 1000
    for again in (check_tmva(network, document), check_tmva(network, document, seed=0)):
        assert np.array_equal(again.tmva, report.tmva)
    assert not np.array_equal(check_tmva(network, document, seed=1).tmva, report.tmva)


@pytest.mark.parametrize("events", [2, 3, 4, 7])
def test_the_checks_last_events_are_at_the_normalisation_centres(events):
    """Half of them at most, and at most one per centre step: those are drawn after the
    events inside the training ranges."""
    network, document = read_network(REGRESSION), _converted(REGRESSION)
    scales = np.array([v["scale"] for v in document["inputs"][0]["variables"]])
    offsets = np.array([v["offset"] for v in document["inputs"][0]["variables"]])
    steps = np.array([0.0, 1.0, -1.0, 3.0, -3.0])[:min(5, events // 2)]
    centres = steps.reshape(-1, 1) / scales - offsets  # (x + offset) * scale = step
    raw = np.concatenate([network.training_events(events - len(steps), seed=0), centres])
    drawn, given = check_tmva(network, document, events=events), check_tmva(network, document,
                                                                          raw=raw)
    assert drawn.events == events
    np.testing.assert_allclose(drawn.tmva, given.tmva, rtol=1e-12, atol=0)


def test_a_sequential_document_is_checked_on_events_around_its_centres(tmp_path):
    """The sequential format's inputs are the variables themselves: the check, and the
    tmva command, draw their centre events from them as from a graph's input node."""
    network, document = read_network(MULTICLASS), _converted(MULTICLASS, format="sequential")
    drawn = check_tmva(network, document, events=20)
    scales = np.array([v["scale"] for v in document["inputs"]])
    offsets = np.array([v["offset"] for v in document["inputs"]])
    centres = np.array([[0.0], [1.0], [-1.0], [3.0], [-3.0]]) / scales - offsets
    raw = np.concatenate([network.training_events(15, seed=0), centres])
    assert drawn.passed and drawn.events == 20
    np.testing.assert_allclose(drawn.tmva, check_tmva(network, document, raw=raw).tmva,
                               rtol=1e-12, atol=0)
    output = tmp_path / "sequential.json"
    assert main(["tmva", str(MULTICLASS), "--format", "sequential", "-o", str(output)]) == 0
    assert output.exists()


@pytest.mark.parametrize("raw", [np.zeros((5, 2)), np.zeros(3)])
def test_the_check_refuses_events_that_are_not_the_files_variables(raw):
    network = read_network(MULTICLASS)
    with pytest.raises(ValueError, match=r"^events must be \[N, 5\]$"):
        check_tmva(network, _converted(MULTICLASS), raw=raw)


@pytest.mark.parametrize("fast_tanh, tail", [
    (True, " (TMVA's fast tanh: a deviation no lwtnn activation removes)"),
    (False, " and up to 0.0003 from TMVA's response (bound 1e-05)")])
def test_a_failed_check_says_how_far_it_is_from_each_bound(fast_tanh, tail):
    report = TmvaCheck(7, ["a", "bb"], np.array([2e-9, 1e-12]), np.array([3e-4, 1e-6]),
                       fast_tanh, tolerance=1e-9)
    assert report.table().splitlines()[-1] == (
        "FAIL: 7 events, |diff| / max(1, |ref|) up to 2e-09 from the exact float64 "
        f"reference (bound 1e-09){tail}")
