"""TMVA's response computed by the test itself, from the formulas in ROOT's TMVA sources
(issue 26), not by onnx2lwtnn.tmva: the weights file is read here with ElementTree and
evaluated as ``TMVA::Reader`` does:

- the transformations in the file's order, each with its last ``<Class>`` block (all
  classes): Normalize ``2 (x - min) / (max - min) - 1``; Decorrelation ``x' = M x``; PCA
  ``p_i = sum_j (x_j - mean_j) E[j][i]``;
- MethodANNBase reads each weight into a ``Float_t``, and VariableNormalizeTransform its
  ranges into floats (decorrelation and PCA matrices are doubles);
- MethodMLP: the last neuron of every layer but the output one is a bias fixed at 1,
  neuron j's weights go to each non-bias neuron of the next layer; hidden neurons apply
  NeuronType, output neurons a sigmoid for a classifier trained with EstimatorType=CE and
  nothing otherwise; a multiclass response is the outputs' softmax; a regression's output
  goes back through the inverse Normalize of its target;
- TActivationTanh::fast_tanh: a rational approximation computed in float, +-1 beyond
  |x| > 4.97 (TMVA >= 4.2.1).

An exact conversion to lwtnn computes this response with the exact tanh, in double: it
must agree to the promised 1e-9.
"""
from __future__ import annotations

import json
import struct
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np
import onnx
import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning
from onnx2lwtnn.lwtnn import load_network
from onnx2lwtnn.tmva import convert_tmva
from onnx2lwtnn.tmva.mlp import fast_tanh

from .support import EXACT, FIXTURES, onnx_float64, require_shared

PROMISED = 1e-9  # check's default bound (README, docs/check.md), which the tmva command keeps

FIXTURE_FILES = ["tmva_norm_decorr", "tmva_multiclass", "tmva_pca_regression"]
REAL = ["mu2e_trkqual", "pallabidas_regression", "fsimone91_mlp", "privdonut_none"]


# -- TActivationTanh::fast_tanh, one float operation at a time ---------------------------

def _f(value: float) -> float:
    """A C float: the double rounded to single precision (for one +, * or / of floats,
    double then single rounding is the single rounding: 53 >= 2 * 24 + 2)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def tmva_fast_tanh(arg: float) -> float:
    if arg > 4.97:
        return 1.0
    if arg < -4.97:
        return -1.0
    arg2 = _f(arg * arg)
    a = _f(arg * _f(135135.0 + _f(arg2 * _f(17325.0 + _f(arg2 * _f(378.0 + arg2))))))
    b = _f(135135.0 + _f(arg2 * _f(62370.0 + _f(arg2 * _f(3150.0 + _f(arg2 * 28.0))))))
    return _f(a / b)


def test_fast_tanh_is_tmvas_to_the_bit():
    x = np.concatenate([np.linspace(-6, 6, 4001), [4.97, -4.97, np.nextafter(4.97, 5),
                                                   np.nextafter(-4.97, -5), 0.0, 1e-30]])
    theirs = np.array([tmva_fast_tanh(float(v)) for v in x])
    assert np.array_equal(fast_tanh(x), theirs)
    assert 5e-5 < np.max(np.abs(theirs - np.tanh(x))) < 1e-3  # what lwtnn cannot follow


# -- the weights file, read here ------------------------------------------------------------

def _numbers(text: str) -> np.ndarray:
    return np.array([float(v) for v in (text or "").split()])


class TmvaFile:
    """A TMVA MLP weights file evaluated from its XML, as TMVA::Reader evaluates it."""

    def __init__(self, path):
        root = ElementTree.parse(path).getroot()
        self.options = {o.get("name"): (o.text or "").strip() for o in root.iter("Option")}
        info = {i.get("name"): i.get("value") for i in root.iter("Info")}
        self.analysis = info["AnalysisType"]
        self.version = tuple(int(p) for p in info["TMVA Release"].split()[0].split("."))
        self.variables = root.findall("Variables/Variable")
        self.transforms = root.findall("Transformations/Transform")
        layers = sorted(root.findall("Weights/Layout/Layer"), key=lambda e: int(e.get("Index")))
        self.layers = [[_numbers(n.text).astype(np.float32).astype(np.float64)
                        for n in layer.findall("Neuron")] for layer in layers]

    # transformations
    def transform(self, x: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            x = getattr(self, "_" + transform.get("Name").lower())(transform, x)
        return x

    @staticmethod
    def _inputs(transform, kind: str) -> list[int]:
        selected = transform.findall("Selection/Input/Input")
        return [i for i, e in enumerate(selected) if e.get("Type") == kind]

    @staticmethod
    def _ranges(transform) -> tuple[np.ndarray, np.ndarray]:
        last = transform.findall("Class")[-1]
        ranges = sorted(last.findall("Ranges/Range"), key=lambda e: int(e.get("Index")))
        return (np.array([float(r.get("Min")) for r in ranges], np.float32).astype(np.float64),
                np.array([float(r.get("Max")) for r in ranges], np.float32).astype(np.float64))

    def _normalize(self, transform, x):
        low, high = self._ranges(transform)
        chosen = self._inputs(transform, "Variable")
        return 2.0 * (x - low[chosen]) / (high[chosen] - low[chosen]) - 1.0

    def _decorrelation(self, transform, x):
        matrix = transform.findall("Matrix")[-1]
        m = _numbers(matrix.text).reshape(int(matrix.get("Rows")), int(matrix.get("Columns")))
        return x @ m.T

    def _pca(self, transform, x):
        means = _numbers(transform.findall("Statistics")[-1].text)
        vectors = transform.findall("Eigenvectors")[-1]
        e = _numbers(vectors.text).reshape(int(vectors.get("NRows")), int(vectors.get("NCols")))
        return (x - means) @ e

    def inverse_target(self, y: np.ndarray) -> np.ndarray:
        for transform in reversed(self.transforms):
            if transform.get("Name") == "Normalize" and self._inputs(transform, "Target"):
                low, high = self._ranges(transform)
                chosen = self._inputs(transform, "Target")
                y = (y + 1.0) * (high[chosen] - low[chosen]) / 2.0 + low[chosen]
        return y

    # the network
    def hidden(self, z: np.ndarray, fast: bool) -> np.ndarray:
        kind = self.options.get("NeuronType", "sigmoid")
        if kind == "tanh":
            return np.vectorize(tmva_fast_tanh)(z) if fast else np.tanh(z)
        return {"sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "ReLU": lambda v: np.maximum(v, 0),
                "linear": lambda v: v}[kind](z)

    def network(self, x: np.ndarray, fast: bool = False) -> np.ndarray:
        values = x
        for index, neurons in enumerate(self.layers[:-1]):
            with_bias = np.hstack([values, np.ones((len(values), 1))])
            z = with_bias @ np.array(neurons)  # neuron j's weights to the next layer
            last = index == len(self.layers) - 2
            values = z if last else self.hidden(z, fast)
        if self.analysis == "Classification" and self.options.get("EstimatorType") == "CE":
            return 1.0 / (1.0 + np.exp(-values))
        if self.analysis == "Multiclass":
            shifted = np.exp(values - values.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
        if self.analysis == "Regression":
            return self.inverse_target(values)
        return values

    def response(self, raw: np.ndarray, fast: bool = False) -> np.ndarray:
        return self.network(self.transform(raw), fast)

    def events(self, count: int, seed: int) -> np.ndarray:
        """Raw values uniform over each variable's training range."""
        low = np.array([float(v.get("Min")) for v in self.variables])
        high = np.array([float(v.get("Max")) for v in self.variables])
        return np.random.default_rng(seed).uniform(low, high, size=(count, len(low)))


def _lwtnn(document: dict, raw: np.ndarray) -> np.ndarray:
    (values,) = load_network(document).evaluate({document["inputs"][0]["name"]: raw}).values()
    return values


def _worst(ours: np.ndarray, expected: np.ndarray) -> float:
    ours = ours.reshape(expected.shape)
    return float(np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected))))


def _convert_tmva(path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # the fast tanh's deviation
        return convert_tmva(path, verify=False)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_a_converted_tmva_file_computes_tmvas_response(name):
    path = FIXTURES / f"{name}.weights.xml"
    tmva = TmvaFile(path)
    raw = tmva.events(1000, seed=26)
    assert _worst(_lwtnn(_convert_tmva(path), raw), tmva.response(raw)) <= EXACT


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_tmva_transformations_fold_into_the_onnx_network_exactly(name):
    """The ONNX network of the fixture, fed the transformations computed here."""
    tmva = TmvaFile(FIXTURES / f"{name}.weights.xml")
    model = onnx.load(str(FIXTURES / f"{name}.onnx"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        document = convert(model, tmva_weights=FIXTURES / f"{name}.weights.xml", verify=False)
    raw = tmva.events(1000, seed=27)
    (expected,) = onnx_float64(model, {"x": tmva.transform(raw)}).values()
    if tmva.analysis == "Regression":
        expected = tmva.inverse_target(expected)
    assert _worst(_lwtnn(document, raw), expected) <= EXACT


@pytest.mark.parametrize("name", REAL)
def test_real_tmva_files_compute_tmvas_response(name):
    folder = require_shared("real-models", "tmva")
    tmva, data = TmvaFile(folder / f"{name}.weights.xml"), np.load(folder / f"{name}.npz")
    raw = data["raw_inputs"]
    expected = tmva.response(raw)
    # two emulations written apart from TMVA's sources agree: exactly in double (measured
    # 1e-14), and to float32 arithmetic with TMVA's fast tanh (measured 6e-6: the shared
    # one computes in float32 as TMVA does, this one in double)
    assert _worst(expected, data["exact_tanh_response"].reshape(expected.shape)) <= EXACT
    fast = tmva.version >= (4, 2, 1) and tmva.options.get("NeuronType") == "tanh"
    assert _worst(tmva.response(raw, fast), data["tmva_response"].reshape(expected.shape)) \
        <= 1e-5
    assert _worst(_lwtnn(_convert_tmva(folder / f"{name}.weights.xml"), raw), expected) <= EXACT


# -- what a file names, and which TMVA wrote it -------------------------------------------

def _edited(name: str, folder, edit) -> tuple:
    """A copy of a fixture's weights file changed by ``edit(root)``, and its original."""
    original = FIXTURES / f"{name}.weights.xml"
    tree = ElementTree.parse(original)
    edit(tree.getroot())
    path = folder / f"{name}.weights.xml"
    tree.write(path)
    return path, original


def _renamed(title: str):
    """Expressions and labels apart (the first variable with a label only), the
    transformations' selections naming each input by one of the two (the first without
    a Type), and the method titled ``title``."""
    def edit(root):
        root.set("Method", title)
        for i, variable in enumerate(root.iterfind("Variables/Variable")):
            variable.attrib.update(Label=f"label_{i}", Expression=f"expression_{i}")
        del root.find("Variables/Variable").attrib["Expression"]
        for target in root.iterfind("Targets/Target"):
            target.attrib.update(Label="target_label", Expression="target_expression")
        for selection in root.iterfind("Transformations/Transform/Selection/Input"):
            for i, entry in enumerate(selection.iterfind("Input")):
                kind = entry.attrib.pop("Type")
                entry.attrib.clear()
                if kind == "Target":
                    entry.attrib.update(Type=kind, Expression="target_expression")
                elif i % 2 or i == 0:
                    entry.set("Label", f"label_{i}")
                    if i:
                        entry.set("Type", kind)
                else:
                    entry.attrib.update(Type=kind, Expression=f"expression_{i}")
    return edit


@pytest.mark.parametrize("name, title, output, labels", [
    ("tmva_norm_decorr", "MLP::Tagger", "Tagger", ["Tagger"]),
    ("tmva_multiclass", "MLP", "MLP", ["light", "charm", "bottom"]),
    ("tmva_pca_regression", "MLP::Fit", "Fit", ["target_expression"])])
def test_a_converted_tmva_file_is_named_as_the_file_names_it(name, title, output, labels,
                                                              tmp_path):
    """Variables by expression (a label where there is none), the output by the method's
    title, its labels by target expression, class name or the title; the
    transformations find each input by label or expression."""
    path, original = _edited(name, tmp_path, _renamed(title))
    document = _convert_tmva(path)
    (node,) = document["inputs"]
    assert [v["name"] for v in node["variables"]] == ["label_0"] + [
        f"expression_{i}" for i in range(1, len(node["variables"]))]
    assert list(document["outputs"]) == [output]
    assert document["outputs"][output]["labels"] == labels
    tmva = TmvaFile(original)
    raw = tmva.events(300, seed=28)
    assert _worst(_lwtnn(document, raw), tmva.response(raw)) <= EXACT


@pytest.mark.parametrize("release, fast", [
    ("4.2.1 [262657]", True), ("4.2.1", True), ("[262657]", True), ("4.3.0", True),
    ("4.2.0 [262656]", False), ("4.2.0", False), ("4.1.9", False), ("", False)])
def test_the_fast_tanh_is_tmvas_from_release_4_2_1(release, fast, tmp_path):
    """TActivationTanh::fast_tanh since TMVA 4.2.1 (the release's code in brackets, else
    its dotted version; none recorded: an older TMVA)."""
    def edit(root):
        (info,) = [i for i in root.iterfind("GeneralInfo/Info") if i.get("name") == "TMVA Release"]
        info.set("value", release)
    path, _ = _edited("tmva_pca_regression", tmp_path, edit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        convert_tmva(path)
    assert any("fast rational approximation" in str(w.message) for w in caught) is fast


# -- the tmva command: the proof it reports ----------------------------------------------

def _tmva_command(name: str, tmp_path, capsys, *options) -> tuple[int, str, TmvaFile, np.ndarray]:
    path = FIXTURES / f"{name}.weights.xml"
    tmva = TmvaFile(path)
    raw = tmva.events(40, seed=30)
    events = tmp_path / "events.npz"
    np.savez(events, raw_inputs=raw)
    code = main(["tmva", str(path), "-o", str(tmp_path / "net.json"), "--inputs", str(events),
                 *options])
    return code, capsys.readouterr().err, tmva, raw


@pytest.mark.parametrize("name, fast", [("tmva_pca_regression", True),
                                        ("tmva_multiclass", False)])
def test_the_tmva_command_reports_its_proof_as_json(name, fast, tmp_path, capsys):
    code, err, tmva, raw = _tmva_command(name, tmp_path, capsys, "--json")
    report, _ = json.JSONDecoder().raw_decode(err)  # then the lines after it ('wrote ...')
    assert code == 0 and report["passed"] is True
    assert (report["events"], report["tolerance"], report["tmva_tolerance"],
            report["fast_tanh"]) == (40, PROMISED, 1e-5, fast)
    document = json.loads((tmp_path / "net.json").read_text())
    ours = _lwtnn(document, raw)
    (output,) = document["outputs"].values()
    assert list(report["labels"]) == output["labels"]
    exact = tmva.response(raw)
    ours = ours.reshape(exact.shape)
    for j, label in enumerate(output["labels"]):
        assert report["labels"][label]["vs_exact"] <= PROMISED
        deviation = report["labels"][label]["vs_tmva"]
        assert 0 < deviation < (1e-3 if fast else 1e-5)  # TMVA computes in float32
        assert report["labels"][label]["vs_exact"] == pytest.approx(
            _worst(ours[:, j], exact[:, j]), abs=1e-15)


@pytest.mark.parametrize("name, tail", [
    ("tmva_pca_regression", "within 1e-09 of the exact float64 reference (TMVA's fast tanh: "
                            "a deviation no lwtnn activation removes)"),
    ("tmva_multiclass", "within 1e-09 of the exact float64 reference and 1e-05 of TMVA's "
                        "response")])
def test_the_tmva_command_reports_its_proof_as_a_table(name, tail, tmp_path, capsys):
    code, err, _, _ = _tmva_command(name, tmp_path, capsys)
    document = json.loads((tmp_path / "net.json").read_text())
    (output,) = document["outputs"].values()
    lines = err.splitlines()
    header = next(i for i, line in enumerate(lines) if "vs exact float64" in line)
    assert lines[header].split() == ["label", "vs", "exact", "float64", "vs", "TMVA", "response"]
    rows = lines[header + 1:header + 1 + len(output["labels"])]
    width = max(len(label) for label in output["labels"] + ["label"])  # aligned columns
    assert lines[header].startswith("label".ljust(width) + "  vs exact float64")
    assert [row[:width + 2] for row in rows] == [f"{label.ljust(width)}  "
                                                for label in output["labels"]]
    assert all(len(row.split()) == 3 for row in rows)
    assert lines[header + 1 + len(rows)] == f"PASS: 40 events, |diff| / max(1, |ref|) {tail}"
    assert code == 0


def test_the_tmva_command_writes_nothing_it_cannot_prove(tmp_path, capsys):
    code, err, _, _ = _tmva_command("tmva_multiclass", tmp_path, capsys, "--tolerance", "1e-300")
    assert code == 1 and "FAIL: 40 events" in err
    assert not (tmp_path / "net.json").exists()


def _options_edited(**options):
    """An edit setting each option (``None``: removing it, TMVA's default then holds)."""
    def edit(root):
        parent = root.find("Options")
        for name, value in options.items():
            option = next((o for o in parent if o.get("name") == name), None)
            if option is None:
                option = ElementTree.SubElement(parent, "Option", name=name, modified="Yes")
            if value is None:
                parent.remove(option)
            else:
                option.text = value
    return edit


@pytest.mark.parametrize("name, options", [
    ("tmva_multiclass", {"EstimatorType": "CE"}),      # a softmax all the same
    ("tmva_pca_regression", {"EstimatorType": "CE"}),  # a regression's output is linear
    ("tmva_norm_decorr", {"EstimatorType": None}),     # MSE: no sigmoid on the output
    ("tmva_norm_decorr", {"NeuronType": None})])       # sigmoid hidden neurons
def test_tmva_options_and_their_defaults_decide_the_activations(name, options, tmp_path):
    path, _ = _edited(name, tmp_path, _options_edited(**options))
    tmva = TmvaFile(path)
    raw = tmva.events(300, seed=31)
    assert _worst(_lwtnn(_convert_tmva(path), raw), tmva.response(raw)) <= EXACT


def test_a_neuron_input_other_than_the_sum_is_refused(tmp_path):
    path, _ = _edited("tmva_norm_decorr", tmp_path, _options_edited(NeuronInputType="sqsum"))
    with pytest.raises(ConversionError, match="NeuronInputType=sqsum: only 'sum'"):
        _convert_tmva(path)
