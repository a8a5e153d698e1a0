"""Survivors of the tmva campaign in reading a TMVA MLP weights file (issue 26): method.py
(the header: method, variables, targets, classes, ranges, versions), mlp.py (the layout),
convert.py (the lwtnn document) and xmlsafe.py (decoding the XML safely).

Each test writes a small weights file by hand (``_weights_file``) in the layout TMVA's
MethodBase::WriteStateToXML and MethodANNBase::AddWeightsXMLTo write, and asserts what a
user sees: the names in the document, refusals with their key facts, and the numbers,
computed by ``TmvaFile`` (tests/test_oracles_tmva.py), which reads the XML itself.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pytest

from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import ConversionError, ConversionWarning, ModelLoadError
from onnx2lwtnn.errors import VerificationError
from onnx2lwtnn.lwtnn import SEQUENTIAL_INPUT, load_network
from onnx2lwtnn.tmva import TmvaNetwork, convert_tmva, read_network
from onnx2lwtnn.tmva.method import Method
from onnx2lwtnn.tmva.mlp import fast_tanh, read_mlp

from .support import EXACT, FIXTURES
from .test_oracles_tmva import TmvaFile, _edited, _lwtnn, _options_edited, _worst
from .test_oracles_tmva import tmva_fast_tanh

# -- a weights file written by hand -----------------------------------------------------

Weights = Sequence[Sequence[float]]  # one row per neuron: its weights to the next layer


def _attrs(attributes: dict) -> str:
    return " ".join(f'{key}="{value}"' for key, value in attributes.items())


def _variable(name: str, low: float = -1.0, high: float = 1.0) -> dict:
    return {"Expression": name, "Label": name, "Min": f"{low!r}", "Max": f"{high!r}"}


def _layout(layers: Sequence[Weights], outputs: int, nlayers: Optional[str] = None) -> str:
    """MethodANNBase's <Layout>: the neurons of every layer (bias last) with their
    weights, then the output layer's neurons without any."""
    blocks = []
    for index, neurons in enumerate(layers):
        rows = "".join(f'<Neuron NSynapses="{len(w)}">{" ".join(map(repr, w))}</Neuron>'
                       for w in neurons)
        blocks.append(f'<Layer Index="{index}" NNeurons="{len(neurons)}">{rows}</Layer>')
    last = '<Neuron NSynapses="0"/>' * outputs
    blocks.append(f'<Layer Index="{len(layers)}" NNeurons="{outputs}">{last}</Layer>')
    count = str(len(layers) + 1) if nlayers is None else nlayers
    return f'<Layout NLayers="{count}">{"".join(blocks)}</Layout>'


def _weights_file(path: Path, variables: Sequence[dict], layers: Sequence[Weights],
                  outputs: int = 1, *, analysis: str = "Classification",
                  release: Optional[str] = "4.2.1 [262657]", options: Optional[dict] = None,
                  targets: Sequence[dict] = (), classes: Sequence[dict] = (),
                  transforms: str = "", method: Optional[str] = "MLP::MLP",
                  layout: Optional[str] = None, head: str = '<?xml version="1.0"?>\n',
                  encoding: str = "utf-8") -> Path:
    """A TMVA MLP weights file: ``None`` leaves an attribute or an <Info> out."""
    info = {"TMVA Release": release, "AnalysisType": analysis}
    options = {"NeuronType": "sigmoid", "EstimatorType": "MSE", **(options or {})}
    text = "".join([
        head, "<MethodSetup", "" if method is None else f' Method="{method}"', ">",
        "<GeneralInfo>", *(f'<Info name="{k}" value="{v}"/>' for k, v in info.items()
                           if v is not None), "</GeneralInfo>",
        "<Options>", *(f'<Option name="{k}" modified="Yes">{v}</Option>'
                       for k, v in options.items()), "</Options>",
        f'<Variables NVar="{len(variables)}">',
        *(f"<Variable VarIndex=\"{i}\" {_attrs(v)}/>" for i, v in enumerate(variables)),
        "</Variables>",
        f'<Targets NTrgt="{len(targets)}">', *(f"<Target {_attrs(t)}/>" for t in targets),
        "</Targets>",
        f'<Classes NClass="{len(classes)}">', *(f"<Class {_attrs(c)}/>" for c in classes),
        "</Classes>",
        f"<Transformations>{transforms}</Transformations>",
        "<Weights>", _layout(layers, outputs) if layout is None else layout, "</Weights>",
        "</MethodSetup>"])
    path.write_bytes(text.encode(encoding))
    return path


def _dense(n_in: int, n_out: int, seed: int) -> list[list[float]]:
    """n_in + 1 neurons (the bias last) with float32 weights to n_out neurons."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n_in + 1, n_out)).astype(np.float32).astype(float).tolist()


def _normalize(selected: Sequence[dict], ranges: Sequence[tuple[float, float]]) -> str:
    """A Normalize transformation of the selected inputs ({Type, Label, Expression}),
    with one class block (all classes) of their ranges."""
    inputs = "".join(f"<Input {_attrs(s)}/>" for s in selected)
    rows = "".join(f'<Range Index="{i}" Min="{low!r}" Max="{high!r}"/>'
                   for i, (low, high) in enumerate(ranges))
    return (f'<Transform Name="Normalize"><Selection><Input NInputs="{len(selected)}">{inputs}'
            f'</Input><Output NOutputs="{len(selected)}">{inputs.replace("Input", "Output")}'
            f'</Output></Selection><Class ClassIndex="0"><Ranges>{rows}</Ranges></Class>'
            "</Transform>")


def _selected(kind: str, name: str) -> dict:
    return {"Type": kind, "Label": name, "Expression": name}


def _converted(path, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # the fast tanh's deviation
        return convert_tmva(path, **options)


def _refusal(path, error=ModelLoadError) -> str:
    with pytest.raises(error) as caught:
        read_network(path)
    return str(caught.value)


def _agrees_with_tmva(path, document: dict, count: int = 200) -> bool:
    tmva = TmvaFile(path)
    raw = tmva.events(count, seed=26)
    return _worst(_lwtnn(document, raw), tmva.response(raw)) <= EXACT


# -- names: variables, targets and classes ------------------------------------------------

def test_names_fall_back_from_expression_to_label_to_nothing(tmp_path):
    """TMVA names a variable or target by its Expression, else its Label (as the Reader
    books it); one with neither is named '', and so is a class without a Name."""
    variables = [_variable("e0"), {"Label": "l1", "Min": "-1", "Max": "1"},
                 {"Min": "-1", "Max": "1"}]
    targets = [{"Label": "target_label"}, {}]
    normalize = _normalize([_selected("Target", "target_label"),
                            {"Type": "Target", "Label": "", "Expression": ""}],
                           [(0.0, 2.0), (-4.0, 4.0)])
    path = _weights_file(tmp_path / "regression.xml", variables, [_dense(3, 2, 1)], 2,
                         analysis="Regression", targets=targets, transforms=normalize,
                         classes=[{"Name": "Regression"}])
    document = _converted(path)
    assert [v["name"] for v in document["inputs"][0]["variables"]] == ["e0", "l1", ""]
    assert document["outputs"]["MLP"]["labels"] == ["target_label", ""]

    classes = [{"Name": "light"}, {}, {"Name": "bottom"}]
    path = _weights_file(tmp_path / "multiclass.xml", variables[:1], [_dense(1, 3, 2)], 3,
                         analysis="Multiclass", classes=classes)
    assert _converted(path)["outputs"]["MLP"]["labels"] == ["light", "", "bottom"]


@pytest.mark.parametrize("kind", ["variables", "targets", "classes"])
def test_two_inputs_or_outputs_of_one_name_are_refused(kind, tmp_path):
    """lwtnn looks variables and labels up by name: twice the same name is refused,
    naming the file, what is named twice, and the name."""
    twice = {"variables": [_variable("x"), _variable("y"), _variable("x")],
             "targets": [{"Expression": "x"}, {"Label": "x"}],
             "classes": [{"Name": "x"}, {"Name": "y"}, {"Name": "x"}]}
    variables = twice["variables"] if kind == "variables" else [_variable("x")]
    path = _weights_file(tmp_path / "twice.xml", variables, [_dense(len(variables), 1, 3)],
                         targets=twice["targets"] if kind == "targets" else (),
                         classes=twice["classes"] if kind == "classes" else ())
    assert _refusal(path).startswith(f"{path}: two {kind} are named 'x'; ")


def test_a_selection_names_only_what_the_file_declares(tmp_path):
    """A variable without a Label is selected by its expression; a selection entry naming
    nothing selects nothing the file declares and is refused."""
    variables = [{"Expression": "a", "Min": "0", "Max": "4"}, _variable("b")]
    layers = [_dense(2, 1, 4)]
    by_label = _normalize([{"Type": "Variable", "Label": "a"}, _selected("Variable", "b")],
                          [(0.0, 4.0), (-1.0, 1.0)])
    path = _weights_file(tmp_path / "label.xml", variables, layers, transforms=by_label)
    assert _agrees_with_tmva(path, _converted(path))
    unnamed = _normalize([{"Type": "Variable"}], [(0.0, 4.0)])
    path = _weights_file(tmp_path / "unnamed.xml", variables, layers, transforms=unnamed)
    assert "selects variable ''" in _refusal(path)


# -- training ranges --------------------------------------------------------------------

@pytest.mark.parametrize("attributes, shown", [
    ({"Expression": "e", "Label": "l", "Max": "1"}, "variable 'e' has no numeric Min"),
    ({"Label": "l", "Min": "0", "Max": "x"}, "variable 'l' has no numeric Min"),
    ({"Min": "2", "Max": "1"}, "variable '' has training range [2, 1]"),
    ({"Expression": "e", "Min": "0", "Max": "1e39"}, "variable 'e' has training range [0, inf]"),
    ({"Label": "l", "Min": "-1e39", "Max": "0"}, "variable 'l' has training range [-inf, 0]"),
    ({"Expression": "e", "Min": "nan", "Max": "0"}, "variable 'e' has training range [nan, 0]")])
def test_a_training_range_must_be_two_finite_floats_in_order(attributes, shown, tmp_path):
    """MethodBase reads each variable's Min and Max as float: one missing, not a number,
    beyond float's range (1e39) or above the other is refused, naming the variable by
    its expression, else its label; and with no numpy overflow warning on the way."""
    path = _weights_file(tmp_path / "range.xml", [_variable("x"), attributes], [_dense(2, 1, 5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        message = _refusal(path)
    assert message.startswith(f"{path}: {shown}")


def test_a_variable_trained_on_one_value_is_read(tmp_path):
    """Min == Max is a range (a variable that was constant): the events drawn for the
    proof are all that value."""
    path = _weights_file(tmp_path / "constant.xml", [_variable("x", 3.0, 3.0), _variable("y")],
                         [_dense(2, 1, 6)])
    network = read_network(path)
    assert np.all(network.training_events(50)[:, 0] == 3.0)
    assert _agrees_with_tmva(path, _converted(path))


@pytest.mark.parametrize("count, refused", [(1000, False), (1001, True)])
def test_a_file_reads_at_most_a_thousand_variables(count, refused, tmp_path):
    variables = [_variable(f"x{i}") for i in range(count)]
    path = _weights_file(tmp_path / "wide.xml", variables, [[[0.5]] * (count + 1)])
    if refused:
        assert "1,001 variables; TMVA files are limited to" in _refusal(path)
    else:
        assert len(read_network(path).method.variables) == 1000


def test_events_for_the_proof_lie_inside_the_training_ranges(tmp_path):
    ranges = [(10.0, 20.0), (-30.0, -5.0), (-2.0, 7.0)]
    variables = [_variable(f"x{i}", low, high) for i, (low, high) in enumerate(ranges)]
    path = _weights_file(tmp_path / "ranges.xml", variables, [_dense(3, 1, 7)])
    network = read_network(path)
    events = network.training_events(2000)
    low, high = np.array(ranges).T
    assert np.all((events >= low) & (events <= high))
    assert np.all(events.min(axis=0) < low + 0.05 * (high - low))  # spread over them
    assert np.array_equal(events, network.training_events(2000, seed=0))


# -- the header: method, release, options ------------------------------------------------

def test_a_file_naming_no_method_is_not_an_mlp(tmp_path):
    path = _weights_file(tmp_path / "nameless.xml", [_variable("x")], [_dense(1, 1, 8)],
                         method=None)
    with pytest.raises(ConversionError, match="not a TMVA MLP") as caught:
        read_network(path)
    (diagnostic,) = caught.value.diagnostics
    assert str(diagnostic).startswith("node '' (TMVA ): ")  # no method, no title


@pytest.mark.parametrize("release", [None, "no value"])
def test_a_file_recording_no_release_is_an_older_tmva_without_the_fast_tanh(release, tmp_path):
    """No <Info name="TMVA Release">, or one without a value: TMVA before 4.2.1 (the exact
    tanh), converted without a warning."""
    path = _weights_file(tmp_path / "old.xml", [_variable("x"), _variable("y")],
                         [_dense(2, 3, 9), _dense(3, 1, 10)], options={"NeuronType": "tanh"},
                         release=None)
    if release == "no value":
        text = path.read_text().replace("<GeneralInfo>",
                                        '<GeneralInfo><Info name="TMVA Release"/>')
        path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConversionWarning)
        document = convert_tmva(path)
    raw = np.random.default_rng(11).uniform(-1, 1, (100, 2))
    layers = [np.array(_dense(2, 3, 9)), np.array(_dense(3, 1, 10))]
    hidden = np.tanh(np.hstack([raw, np.ones((100, 1))]) @ layers[0])
    expected = np.hstack([hidden, np.ones((100, 1))]) @ layers[1]
    assert _worst(_lwtnn(document, raw), expected) <= EXACT


def test_an_empty_neuron_type_is_refused_as_written(tmp_path):
    path = _weights_file(tmp_path / "empty.xml", [_variable("x")], [_dense(1, 1, 12)],
                         options={"NeuronType": ""})
    with pytest.raises(ConversionError, match="NeuronType= has no lwtnn activation"):
        read_network(path)


def test_a_file_that_is_not_tmvas_is_refused_naming_it(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<Other/>")
    assert _refusal(path) == (f"{path}: not a TMVA weights file (the root element is "
                              "<Other>, not <MethodSetup>)")


# -- the layout ---------------------------------------------------------------------------

@pytest.mark.parametrize("edit, shown", [
    (lambda t: t.replace('NNeurons="2"', "", 1), "<Layer> has no integer NNeurons (found None)"),
    (lambda t: t.replace('Index="1"', 'Index="one"'), "<Layer> has no integer Index (found 'one')"),
    (lambda t: t.replace('NLayers="3"', 'NLayers="three"'),
     "<Layout> has no integer NLayers (found 'three')"),
    (lambda t: t.replace('NLayers="3"', 'NLayers="4"'), "<Layout> declares 4 layers and holds 3"),
    (lambda t: t.replace("-0.5</Neuron>", "</Neuron>"),
     "layer 1 neuron 1: expected 1 numbers, found 0"),
    (lambda t: t.replace("-0.5</Neuron>", "0.25 -0.5</Neuron>"),
     "layer 1 neuron 1: expected 1 numbers, found 2"),
    (lambda t: t.replace("-0.5</Neuron>", "nan</Neuron>"),
     "layer 1 neuron 1: holds non-finite numbers")])
def test_a_broken_layout_is_refused_naming_what_is_wrong(edit, shown, tmp_path):
    """One input (and its bias) to one hidden neuron (and its bias) to one output: each
    neuron lists one weight."""
    layout = ('<Layout NLayers="3"><Layer Index="0" NNeurons="2">'
              '<Neuron NSynapses="1">0.5</Neuron><Neuron NSynapses="1">0.125</Neuron></Layer>'
              '<Layer Index="1" NNeurons="2"><Neuron NSynapses="1">2</Neuron>'
              '<Neuron NSynapses="1">-0.5</Neuron></Layer>'
              '<Layer Index="2" NNeurons="1"><Neuron NSynapses="0"/></Layer></Layout>')
    path = _weights_file(tmp_path / "layout.xml", [_variable("x")], [], layout=edit(layout))
    assert _refusal(path).startswith(f"{path}: {shown}")


def test_a_method_without_its_xml_has_no_layout():
    """A Method built by hand, without the parsed file: no <Weights><Layout> to read."""
    method = Method(where="by hand", method="MLP", title="MLP", version=0,
                    analysis="Classification", options={}, variables=["x"], labels=["x"],
                    ranges=np.array([[0.0, 1.0]]))
    with pytest.raises(ModelLoadError, match="by hand: no <Weights><Layout>"):
        read_mlp(method)


def test_a_network_without_hidden_layers_is_one_dense_layer(tmp_path):
    """Two layers (inputs and outputs) are an MLP: its response is the one dense layer
    (a sigmoid output, trained with CE)."""
    path = _weights_file(tmp_path / "flat.xml", [_variable("x"), _variable("y")],
                         [_dense(2, 1, 13)], options={"EstimatorType": "CE"})
    document = _converted(path)
    assert len(document["layers"]) == 1
    assert _agrees_with_tmva(path, document)


def test_identical_hidden_layers_are_written_once(tmp_path):
    """Four dense layers of which the second and third are the same (weights, bias,
    activation and input width): the document holds three layers, the third node
    reusing the second's."""
    square = _dense(2, 2, 14)
    path = _weights_file(tmp_path / "twice.xml", [_variable(n) for n in "xyz"],
                         [_dense(3, 2, 15), square, square, _dense(2, 1, 16)])
    document = _converted(path)
    assert len(document["layers"]) == 3
    assert [n.get("layer_index") for n in document["nodes"]] == [None, 0, 1, 1, 2]
    assert _agrees_with_tmva(path, document)


def test_a_multiclass_network_trained_with_ce_is_verified_as_a_softmax(tmp_path):
    """TMVA forces linear outputs for multiclass whatever the estimator: the response the
    conversion is proven against is the softmax of linear outputs, as TMVA's."""
    path, _ = _edited("tmva_multiclass", tmp_path, _options_edited(EstimatorType="CE"))
    document = _converted(path)  # verified
    assert _agrees_with_tmva(path, document)


def test_fast_tanh_computes_on_the_values_it_is_given_whatever_their_float_type():
    values = np.linspace(-6, 6, 801)
    for dtype in (np.float16, np.float32):
        x = values.astype(dtype)
        expected = np.array([tmva_fast_tanh(float(v)) for v in x])
        assert np.array_equal(fast_tanh(x), expected)


# -- the document --------------------------------------------------------------------------

@pytest.mark.parametrize("analysis, outputs, shown", [
    ("Regression", 1, "the output layer has 1 neurons for 2 targets"),
    ("Multiclass", 2, "the output layer has 2 neurons for 3 classes"),
    ("Classification", 2, "the output layer has 2 neurons for 1 outputs")])
def test_one_output_neuron_per_target_class_or_classifier(analysis, outputs, shown, tmp_path):
    targets = [{"Expression": "t0"}, {"Expression": "t1"}] if analysis == "Regression" else ()
    classes = [{"Name": n} for n in ("a", "b", "c")] if analysis == "Multiclass" else ()
    path = _weights_file(tmp_path / "outputs.xml", [_variable("x")], [_dense(1, outputs, 17)],
                         outputs, analysis=analysis, targets=targets, classes=classes)
    assert _refusal(path) == f"{path}: {shown}"


def test_two_targets_are_each_put_back_in_their_own_units(tmp_path):
    """A regression of two targets normalised over different ranges, from three hidden
    neurons: each output goes back through its own target's inverse Normalize."""
    names = ["x", "y", "z"]
    selected = [_selected("Variable", n) for n in names] + [
        _selected("Target", "t0"), _selected("Target", "t1")]
    ranges = [(-1.0, 1.0)] * 3 + [(0.0, 2.0), (-10.0, 30.0)]
    path = _weights_file(tmp_path / "targets.xml", [_variable(n) for n in names],
                         [_dense(3, 3, 18), _dense(3, 2, 19)], 2, analysis="Regression",
                         targets=[{"Expression": "t0"}, {"Expression": "t1"}],
                         transforms=_normalize(selected, ranges))
    assert _agrees_with_tmva(path, _converted(path))


@pytest.mark.parametrize("verify", [True, False])
def test_a_tmva_network_converts_to_the_sequential_format(verify):
    """The sequential document computes TMVA's response, and is proven like a graph
    (its proof once read a graph's input node: KeyError 'variables')."""
    path = FIXTURES / "tmva_norm_decorr.weights.xml"
    document = _converted(path, format="sequential", verify=verify)
    assert {"inputs", "layers", "outputs"} <= set(document) and "nodes" not in document
    tmva = TmvaFile(path)
    raw = tmva.events(200, seed=29)
    (values,) = load_network(document).evaluate({SEQUENTIAL_INPUT: raw}).values()
    assert _worst(np.asarray(values), tmva.response(raw)) <= EXACT


def test_the_tmva_command_writes_the_sequential_format(tmp_path, capsys):
    output = tmp_path / "net.json"
    path = FIXTURES / "tmva_multiclass.weights.xml"
    assert main(["tmva", str(path), "--format", "sequential", "-o", str(output)]) == 0
    assert "PASS: 1000 events" in capsys.readouterr().err
    document = json.loads(output.read_text())
    assert document["outputs"] == ["light", "charm", "bottom"]
    tmva = TmvaFile(path)
    raw = tmva.events(200, seed=30)
    (values,) = load_network(document).evaluate({SEQUENTIAL_INPUT: raw}).values()
    assert _worst(np.asarray(values), tmva.response(raw)) <= EXACT


class _MissedReference(TmvaNetwork):
    """A network whose float64 reference the document cannot reproduce."""

    def exact(self, raw: np.ndarray) -> np.ndarray:
        return super().exact(raw) + 1.0


def test_a_conversion_is_verified_by_default_on_checks_verification_events():
    from onnx2lwtnn.check import CENTRE_STEPS
    network = read_network(FIXTURES / "tmva_multiclass.weights.xml")
    missed = _MissedReference(network.method, network.mlp, network.transforms)
    with pytest.raises(VerificationError) as caught:
        convert_tmva(missed)
    assert caught.value.report.events == 64 + len(CENTRE_STEPS)
    assert "FAIL: 69 events" in str(caught.value)


def test_the_fast_tanh_deviation_of_a_wide_file_is_measured_the_same_every_time(tmp_path):
    """105 variables: the 10,000 events are drawn in chunks; the deviation reported is a
    float64 number the same on every conversion, within what the fast tanh deviates."""
    variables = [_variable(f"x{i}") for i in range(105)]
    path = _weights_file(tmp_path / "wide.xml", variables, [_dense(105, 2, 20), _dense(2, 1, 21)],
                         options={"NeuronType": "tanh"})
    reports = []
    for _ in range(2):
        with pytest.warns(ConversionWarning, match="fast rational approximation") as caught:
            convert_tmva(path, verify=False)
        (message,) = [str(w.message) for w in caught]
        reports.append(message)
        deviation = float(message.split("by up to ")[1].split()[0])
        assert 0 < deviation < 1e-3
    assert reports[0] == reports[1]


# -- XML: encodings and well-formedness -------------------------------------------------

@pytest.mark.parametrize("encoding, head", [
    ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),        # with its byte-order mark
    ("utf-8-sig", '<?xml version="1.0"?>'),
    ("iso-8859-1", '<?xml version="1.0" encoding="ISO-8859-1"?>'),
    ("utf-16-be", '<?xml version="1.0" encoding="UTF-16"?>')])
def test_a_weights_file_is_read_in_the_encoding_it_declares(encoding, head, tmp_path):
    path = _weights_file(tmp_path / "encoded.xml", [_variable("pt_é"), _variable("η")]
                         if encoding != "iso-8859-1" else [_variable("pt_é"), _variable("ñ")],
                         [_dense(2, 1, 22)], head=head, encoding=encoding)
    names = read_network(path).method.variables
    assert names == (["pt_é", "ñ"] if encoding == "iso-8859-1" else ["pt_é", "η"])


def test_a_file_not_in_its_encoding_is_refused_at_the_first_wrong_byte(tmp_path):
    path = _weights_file(tmp_path / "latin.xml", [_variable("pt_é")], [_dense(1, 1, 23)],
                         head="", encoding="iso-8859-1")
    byte = path.read_bytes().index(b"\xe9")
    assert _refusal(path) == f"{path}: not utf-8 text as its XML says (byte {byte})"


def test_an_encoding_python_does_not_know_is_refused_naming_it(tmp_path):
    path = tmp_path / "rot.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="rot13"?><MethodSetup/>')
    assert _refusal(path) == (f"{path}: the XML declares encoding 'rot13', which this "
                              "Python does not know")


@pytest.mark.parametrize("text", [
    '\n<?xml version="1.0"?><MethodSetup/>',   # the declaration must come first
    "XX<MethodSetup/>",                        # nothing before the root element
    "<MethodSetup/>\ufeff"])                   # nor after it
def test_text_outside_the_root_element_is_not_well_formed(text, tmp_path):
    path = tmp_path / "junk.xml"
    path.write_text(text, encoding="utf-8")
    assert _refusal(path).startswith(f"{path}: not well-formed XML")
