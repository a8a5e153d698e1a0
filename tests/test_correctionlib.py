"""CorrectionSet output (--format correctionlib): networks in correctionlib's lwtnn node,
input transforms (log, exp, ...) as transform nodes, folds as category nodes, all proven
against the float64 ONNX reference, through correctionlib's C++ where it is installed and
through onnx2lwtnn's numpy evaluation where it is not."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest

from onnx2lwtnn import correctionset, fold_conversion, lwtnn_cpp, tformula
from onnx2lwtnn.api import conversion
from onnx2lwtnn.check_correctionset import check_correction_set
from onnx2lwtnn.errors import (ConversionError, ConversionWarning, ModelLoadError,
                               UsageError)

from .support import FIXTURES

CORRECTIONLIB = lwtnn_cpp.version() is not None
needs_correctionlib = pytest.mark.skipif(
    not CORRECTIONLIB, reason="correctionlib >= 2.9 is not installed (pip install '.[test]')")
BOUND = 1e-9  # check's: |value - float64 reference| / max(1, |reference|)
ODD, EVEN = FIXTURES / "cset_fold_odd.onnx", FIXTURES / "cset_fold_even.onnx"
ODD_SPEC, EVEN_SPEC = (FIXTURES / "cset_fold_odd.variables.json",
                       FIXTURES / "cset_fold_even.variables.json")
# (fixture, conversion options): the refine network, HIGP-style spec'd folds, log inputs,
# every transform, several inputs, several outputs, a parametrised network with --fix
CONVERTED = [
    ("published_pytorch_refine", {}),
    ("cset_fold_odd", {"variables": ODD_SPEC}),
    ("cset_fold_even", {"variables": EVEN_SPEC}),
    ("cset_log_inputs", {}),
    ("cset_input_transforms", {}),
    ("multi_concat_inputs", {}),
    ("multi_two_outputs", {}),
    ("prep_susy_parametrised", {"variables": FIXTURES / "prep_susy_parametrised.config.json",
                                "fix": {"isGtt": 1.0, "mGluino": 1900.0, "mLSP": 1400.0}}),
]


def _correction_set(name: str, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return conversion(FIXTURES / f"{name}.onnx", format="correctionlib", **options)


@pytest.mark.parametrize("name, options", CONVERTED, ids=[c[0] for c in CONVERTED])
def test_correction_set_matches_the_float64_reference(name, options):
    converted = _correction_set(name, **options)
    correctionset.validate(converted.document)  # ours, and correctionlib's where installed
    report = check_correction_set(converted.document, converted.sources, events=2000, seed=5)
    assert report.passed, report.table()
    assert max(row.max_rel for row in report.rows) <= BOUND
    assert report.backend.startswith("onnxruntime float64")
    if CORRECTIONLIB:  # the verdict is correctionlib's own evaluation, checked by numpy's
        assert report.cpp is not None and report.cpp.vs_numpy <= 1e-12, report.table()


@needs_correctionlib
def test_correctionlib_loads_and_evaluates_what_is_written():
    import correctionlib

    document = _correction_set("cset_log_inputs").document
    cset = correctionlib.CorrectionSet.from_string(json.dumps(document))
    assert sorted(cset) == ["cset_log_inputs_scores_0", "cset_log_inputs_scores_1",
                            "cset_log_inputs_scores_2"]
    inputs = [v.name for v in cset["cset_log_inputs_scores_0"].inputs]
    assert inputs == [f"x_{i}" for i in range(6)]
    values = [cset[name].evaluate(*([2.0] * 6)) for name in sorted(cset)]
    assert sum(values) == pytest.approx(1.0, abs=1e-12)  # the three softmax scores


def test_log_inputs_become_transform_nodes_with_exact_constants():
    document = _correction_set("cset_input_transforms").document
    (correction,) = correctionset.read(document)
    transforms = correction.branches[0].transforms
    assert transforms == {
        "x_0": "log(x)", "x_1": "exp(-x)", "x_2": "sqrt(abs(x))", "x_3": "pow(x,2)",
        "x_4": "min(max(x,-1),1)", "x_5": "max(x,0.5)", "x_6": "min(x,3)",
        # (x - 3) / 2, exactly; 1e-3 as the float32 the graph holds
        "x_7": f"log(max((x+(-3))*0.5,{tformula.number(float(np.float32(1e-3)))}))"}
    network = correction.branches[0].network
    assert [v["name"] for v in network["inputs"]] == [f"x_{i}" for i in range(8)]
    assert all((v["offset"], v["scale"]) == (0.0, 1.0) for v in network["inputs"])


def test_a_mean_before_a_log_is_written_as_the_model_holds_it(tmp_path):
    from onnx import TensorProto, helper

    mean, std = np.float32(91.1876), np.float32(2.4952)
    graph = helper.make_graph(
        [helper.make_node("Sub", ["x", "mean"], ["c"]), helper.make_node("Div", ["c", "std"], ["s"]),
         helper.make_node("Abs", ["s"], ["a"]), helper.make_node("Log", ["a"], ["l"]),
         helper.make_node("Gemm", ["l", "w", "b"], ["y"], transB=1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor("mean", TensorProto.FLOAT, [1], [mean]),
         helper.make_tensor("std", TensorProto.FLOAT, [1], [std]),
         helper.make_tensor("w", TensorProto.FLOAT, [1, 1], [0.75]),
         helper.make_tensor("b", TensorProto.FLOAT, [1], [0.25])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    path = tmp_path / "z_mass.onnx"
    onnx.save(model, path)
    converted = conversion(path, format="correctionlib")
    (correction,) = correctionset.read(converted.document)
    assert correction.branches[0].transforms == {
        "x_0": f"log(abs((x+({tformula.number(-float(mean))}))/{tformula.number(float(std))}))"}
    assert correction.name == "z_mass"
    report = check_correction_set(converted.document, converted.sources, events=3000)
    assert report.passed and max(r.max_rel for r in report.rows) <= 1e-15, report.table()


def test_lwtnn_json_refuses_a_log_and_names_correctionlib():
    with pytest.raises(ConversionError) as caught:
        conversion(FIXTURES / "cset_log_inputs.onnx")
    message = str(caught.value)
    assert "prep/log" in message and "--format correctionlib" in message


def test_a_feature_read_raw_and_through_a_log_is_refused(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Log", ["x"], ["l"]),
         helper.make_node("Concat", ["x", "l"], ["c"], axis=1),
         helper.make_node("Gemm", ["c", "w"], ["y"], transB=1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 4], [1.0, 2.0, 3.0, 4.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    with pytest.raises(ConversionError, match="also read without it"):
        conversion(model, format="correctionlib")


def test_several_outputs_give_one_correction_per_label():
    document = _correction_set("multi_two_outputs").document
    names = [c["name"] for c in document["corrections"]]
    assert len(names) == len(set(names)) > 2
    assert all(name.startswith("multi_two_outputs_") for name in names)


def test_a_model_with_one_value_gives_one_correction_named_after_it():
    document = _correction_set("cset_input_transforms", correction_name="tagger").document
    assert [c["name"] for c in document["corrections"]] == ["tagger"]
    correction = document["corrections"][0]
    assert correction["output"]["type"] == "real"
    assert "sha256" in correction["description"] and "onnx2lwtnn" in correction["description"]
    assert "cset_input_transforms.onnx" in correction["description"]
    assert correction["inputs"][0]["description"].startswith("feature 0 of ONNX input 'x'")


def test_the_finalizer_combines_labels():
    converted = _correction_set("cset_fold_odd", variables=ODD_SPEC, correction_name="disc",
                                finalizer="x[0]/(x[0]+x[1])")
    (correction,) = converted.document["corrections"]
    assert correction["name"] == "disc"
    report = check_correction_set(converted.document, converted.sources, events=1000)
    assert report.passed and max(r.max_rel for r in report.rows) <= BOUND, report.table()


@pytest.mark.parametrize("finalizer, complaint", [
    ("x[0]/(x[0]+", "expected"), ("x[3]", "x[0] to x[2]"), ("x**2", "expected"),
    ("2.5E3*x", "unexpected")])
def test_a_finalizer_correctionlib_cannot_read_is_refused_before_writing(finalizer, complaint):
    with pytest.raises(UsageError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        _correction_set("cset_log_inputs", finalizer=finalizer)


def test_sequence_inputs_are_refused_with_one_reason():
    with pytest.raises(ConversionError) as caught:
        _correction_set("rnn_simple")
    (diagnostic,) = caught.value.diagnostics
    assert "sequence" in diagnostic.reason and "flat list of variables" in diagnostic.reason


def test_several_inputs_are_laid_side_by_side():
    document = _correction_set("multi_concat_inputs").document
    names = [v["name"] for v in document["corrections"][0]["inputs"]]
    sources = [v["description"] for v in document["corrections"][0]["inputs"]]
    assert len(names) == len(set(names)) > 2
    assert len({s.split("'")[1] for s in sources}) == 2  # from both ONNX inputs, in order


def test_fixing_a_transformed_variable_is_refused():
    with pytest.raises(UsageError, match="input transform"):
        _correction_set("cset_log_inputs", fix={"x_0": 3.0})
    fixed = _correction_set("cset_log_inputs", fix={"x_5": 3.0}).document  # not transformed
    (correction, *_) = correctionset.read(fixed)
    assert set(correction.branches[0].transforms) == {"x_0", "x_1"}
    assert "x_5" not in correction.inputs


def test_written_and_verified_without_correctionlib(monkeypatch):
    monkeypatch.setattr(lwtnn_cpp, "version", lambda: None)
    converted = _correction_set("cset_log_inputs")
    correctionset.validate(converted.document)  # our schema alone
    report = check_correction_set(converted.document, converted.sources, events=500)
    assert report.passed and report.cpp is None, report.table()


def test_our_schema_refuses_what_correctionlib_would():
    document = _correction_set("cset_log_inputs").document
    broken = json.loads(json.dumps(document))
    broken["corrections"][0]["output"]["type"] = "int"
    with pytest.raises(ModelLoadError, match="output"):
        correctionset.validate(broken)
    broken = json.loads(json.dumps(document))
    del broken["corrections"][0]["data"]["content"]["content"]["finalizer"]
    with pytest.raises(ModelLoadError):
        correctionset.validate(broken)


# -- folds ----------------------------------------------------------------------------------
def _folds(**options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        return fold_conversion([ODD, EVEN], fold_input="fold", variables=[ODD_SPEC, EVEN_SPEC],
                               **options)


def test_folds_match_each_fold_s_own_model():
    converted = _folds()
    document = converted.document
    assert [c["name"] for c in document["corrections"]] == [
        f"cset_fold_scores_{i}" for i in range(3)]
    fold = document["corrections"][0]["inputs"][-1]
    assert fold["name"] == "fold" and fold["type"] == "int"
    assert "0 for" in fold["description"] and "cset_fold_odd.onnx" in fold["description"]
    report = check_correction_set(document, converted.sources, fold_input="fold", events=2000)
    assert report.passed and max(r.max_rel for r in report.rows) <= BOUND, report.table()
    assert len(report.rows) == 6 and report.n_events == 4000


def test_folds_pick_their_own_network():
    """Events of fold 0 evaluated as fold 1 are far from fold 0's model: the category
    node really chooses, and each branch is its own network."""
    converted = _folds()
    swapped = json.loads(json.dumps(converted.document))
    for correction in swapped["corrections"]:
        branches = correction["data"]["content"]
        branches[0]["key"], branches[1]["key"] = 1, 0
        branches.reverse()
    report = check_correction_set(swapped, converted.sources, fold_input="fold", events=200)
    assert not report.passed
    assert min(r.max_rel for r in report.rows) > 1e-3


def test_folds_need_one_spec_per_model_and_one_interface():
    with pytest.raises(UsageError, match="one per model"):
        fold_conversion([ODD, EVEN], fold_input="fold", variables=[ODD_SPEC])
    with pytest.raises(UsageError, match="same interface"):
        fold_conversion([ODD, FIXTURES / "cset_log_inputs.onnx"], fold_input="fold",
                        variables=[ODD_SPEC, None], correction_name="c")
    with pytest.raises(UsageError, match="also the name of a variable"):
        fold_conversion([ODD, EVEN], fold_input="met", variables=[ODD_SPEC, EVEN_SPEC])


@needs_correctionlib
def test_correctionlib_refuses_an_unknown_fold():
    import correctionlib

    cset = correctionlib.CorrectionSet.from_string(json.dumps(_folds().document))
    correction = cset["cset_fold_scores_0"]
    correction.evaluate(*([1.0] * 8), 1)
    with pytest.raises(Exception):
        correction.evaluate(*([1.0] * 8), 2)


# -- TFormula -------------------------------------------------------------------------------
EXPRESSIONS = ["log10(x)", "tanh(x)", "atan2(x,y)", "x>=1", "-x^2", "-2^2", "2^3^2", "x-1",
               "2*-1", "x--1", "x[1]/(x[0]+x[1])", "x/y/2", "1 - 2 - 3", "x == 1 || y > 0",
               "max(x,y)", "pow(x, 2)", "x*y+2/x-y^2^0.5", "-x*-y", "x&&y||0", "x<y==1",
               "exp(-x)*log(abs(y))", "1e-3*x", "2.5e3"]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_tformula_reads_writes_and_evaluates_as_correctionlib(expression):
    a, b = np.array([0.5, 2.0, -3.0]), np.array([3.0, -1.0, 0.25])
    tree = tformula.parse(expression)
    assert tformula.parse(tformula.render(tree)) == tree
    ours = tformula.evaluate(tree, [a, b])
    if CORRECTIONLIB:
        theirs = _correctionlib_formula(expression, a, b)
        again = _correctionlib_formula(tformula.render(tree), a, b)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(again, theirs)


def _correctionlib_formula(expression: str, *columns) -> np.ndarray:
    import correctionlib

    names = [f"v{i}" for i in range(len(columns))]
    document = {"schema_version": 2, "corrections": [{
        "name": "f", "version": 1, "inputs": [{"name": n, "type": "real"} for n in names],
        "output": {"name": "o", "type": "real"},
        "data": {"nodetype": "formula", "parser": "TFormula", "expression": expression,
                 "variables": names}}]}
    return correctionlib.CorrectionSet.from_string(json.dumps(document))["f"].evaluate(*columns)


@needs_correctionlib
def test_numbers_read_back_as_the_same_double():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(size=200) * 10.0 ** rng.integers(-300, 300, 200),
                             [5e-324, 1.7976931348623157e308, -0.1, 1e22, 123456789.0]])
    expression = "+".join(f"{tformula.render(tformula.Num(float(v)))}*x[{i}]"
                          for i, v in enumerate(values[:60]))
    columns = [np.array([1.0 if j == i else 0.0 for j in range(60)]) for i in range(60)]
    got = _correctionlib_formula(expression, *columns)
    assert "e+" not in expression
    np.testing.assert_array_equal(got, values[:60])
    for value in values:
        assert float(tformula.evaluate(tformula.parse(tformula.number(value)), [])) == value


def test_inverting_a_transform_lands_in_its_domain():
    for expression in ("log(x)", "log(max((x+(-3))/2,0.001))", "sqrt(abs(x))", "exp(-x)",
                       "pow(x,2)", "log((x+1)*0.5)"):
        tree = tformula.parse(expression)
        target = np.linspace(-3, 3, 25)
        raw = tformula.invert(tree, target)
        assert np.all(np.isfinite(tformula.evaluate(tree, [raw]))), expression


# -- the command line -----------------------------------------------------------------------
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "onnx2lwtnn", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_converts_checks_and_inspects_a_correction_set(tmp_path):
    target = tmp_path / "cset.json"
    done = _cli(FIXTURES / "cset_log_inputs.onnx", "--format", "correctionlib", "-o", target)
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["schema_version"] == 2
    checked = _cli("check", FIXTURES / "cset_log_inputs.onnx", target, "--events", "300")
    assert checked.returncode == 0 and "PASS" in checked.stdout, checked.stdout + checked.stderr
    shown = _cli("inspect", target)
    assert shown.returncode == 0, shown.stderr
    assert "transform x_0 -> log(x+1)" in shown.stdout
    assert "correction 'cset_log_inputs_scores_2'" in shown.stdout


def test_cli_folds(tmp_path):
    target = tmp_path / "folds.json"
    done = _cli(ODD, EVEN, "--format", "correctionlib", "--fold-input", "fold",
                "--variables", ODD_SPEC, "--variables", EVEN_SPEC, "--correction-name", "dnn",
                "-o", target)
    assert done.returncode == 0, done.stderr
    checked = _cli("check", ODD, EVEN, target, "--fold-input", "fold", "--variables", ODD_SPEC,
                   "--variables", EVEN_SPEC, "--events", "200")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "fold 1 (" in checked.stdout
    wrong = _cli("check", ODD, EVEN, target, "--fold-input", "fold", "--variables", EVEN_SPEC,
                 "--variables", ODD_SPEC, "--events", "200")
    assert wrong.returncode == 1 and "FAIL" in wrong.stdout


@pytest.mark.parametrize("args, message", [
    (["--finalizer", "x"], "--finalizer needs --format correctionlib"),
    (["--variables", ODD_SPEC, "--variables", EVEN_SPEC], "1 model(s) and 2 --variables"),
    (["--format", "correctionlib", "--fold-input", "fold"], "two models or more"),
])
def test_cli_usage_errors(args, message):
    done = _cli(ODD, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_sequence_network_in_one_line():
    done = _cli(FIXTURES / "rnn_simple.onnx", "--format", "correctionlib")
    assert done.returncode == 1 and "flat list of variables" in done.stderr
    assert done.stdout == ""


def test_cli_check_names_a_variable_the_set_does_not_have(tmp_path):
    target = tmp_path / "fixed.json"
    config = FIXTURES / "prep_susy_parametrised.config.json"
    done = _cli(FIXTURES / "prep_susy_parametrised.onnx", "--format", "correctionlib",
                "--variables", config, "--fix", "isGtt=1", "--fix", "mGluino=1900",
                "--fix", "mLSP=1400", "-o", target)
    assert done.returncode == 0, done.stderr
    checked = _cli("check", FIXTURES / "prep_susy_parametrised.onnx", target, "--variables",
                   config)
    assert checked.returncode == 2 and "isGtt" in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
