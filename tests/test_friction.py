"""A physicist's first hour (issue 22): each friction a new user hit, worst first, as a
test of the behaviour a demanding user expects. Item numbers are the issue's."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx2lwtnn import convert, write_json
from onnx2lwtnn.cli import SUBCOMMANDS, main

from .support import FIXTURES, REPO

HIGP = [FIXTURES / f"higp_{k}.onnx" for k in range(1, 7)]
HIGP_DUMP = FIXTURES / "higp_1.onnxruntime.npz"  # ONNX-side inputs, onnxruntime outputs
HADES = FIXTURES / "hades_pid.onnx"
CHAIN = FIXTURES / "mlp_opset13.onnx"
REFINE = FIXTURES / "published_pytorch_refine.onnx"
MASKED = FIXTURES / "published_tf2onnx_masked_nospec.onnx"
SUBTRACT_DIVIDE = ["--variables-convention", "subtract-divide"]
WIDTH = 6  # CHAIN's input x has 6 variables, x_0 .. x_5


def _events_csv(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(",".join(f"x_{i}" for i in range(WIDTH)) + "\n"
                      + ",".join("1" * WIDTH) + "\n")
    return events


def _spec(model) -> str:
    return str(model.with_name(model.stem + ".variables.json"))


def _higp_network(tmp_path, k: int = 1):
    network = tmp_path / f"higp_{k}.json"
    assert main(["-q", str(HIGP[k - 1]), "-o", str(network), "--variables",
                 _spec(HIGP[k - 1]), *SUBTRACT_DIVIDE]) == 0
    return network


def _check_dump(tmp_path, capsys, *extra) -> tuple[int, str]:
    network = _higp_network(tmp_path)
    capsys.readouterr()
    code = main(["check", str(HIGP[0]), str(network), "--variables", _spec(HIGP[0]),
                 *SUBTRACT_DIVIDE, "--inputs", str(HIGP_DUMP), *extra])
    return code, capsys.readouterr().out


# -- 1. a correct spec blamed for an onnxruntime dump -------------------------------------

def test_1_an_onnxruntime_dump_passes_with_inputs_side_onnx(tmp_path, capsys):
    code, out = _check_dump(tmp_path, capsys, "--inputs-side", "onnx")
    assert code == 0, out
    assert "reference outputs: PASS: lwtnn on the ONNX-side inputs" in out
    assert "so this proves the network gives these outputs, not the spec" in out


def test_1_without_it_the_report_says_the_inputs_look_onnx_side(tmp_path, capsys):
    code, out = _check_dump(tmp_path, capsys)
    assert code == 1
    assert "reference outputs: FAIL" in out
    assert ("they match the ONNX model with --inputs-side onnx: the inputs look ONNX-side, "
            "already preprocessed") in out
    assert "is the likely cause" not in out  # the correct spec is not blamed


def test_1_raw_inputs_said_to_be_onnx_side_are_named_raw(tmp_path, capsys):
    code = main(["check", str(FIXTURES / "check_published.onnx"), str(_published(tmp_path)),
                 "--variables", str(FIXTURES / "check_published.variables.json"),
                 *SUBTRACT_DIVIDE, "--inputs", str(FIXTURES / "check_published.events.csv"),
                 "--inputs-side", "onnx"])
    out = capsys.readouterr().out
    assert code == 1
    assert "they match the ONNX model with --inputs-side raw: the inputs look raw" in out


def test_1_a_merged_output_is_read_under_every_reading(tmp_path):
    import onnxruntime
    from onnx2lwtnn.check import check
    model = FIXTURES / "multi_two_outputs.onnx"  # x (6 variables) -> score, probs
    rng = np.random.default_rng(22)
    spec = {"variables": [f"v{i}" for i in range(WIDTH)],
            "offset": rng.normal(0, 10, WIDTH).tolist(),
            "scale": rng.uniform(1, 5, WIDTH).tolist()}
    fed = rng.normal(size=(30, WIDTH)).astype(np.float32)  # an onnxruntime dump: ONNX-side
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    events = tmp_path / "dump.npz"
    np.savez(events, x=fed, out_all=np.concatenate(session.run(["score", "probs"],
                                                               {"x": fed}), axis=1))
    options = {"variables": spec, "variables_convention": "subtract-divide",
               "merge_outputs": "all"}
    report = check(model, convert(model, **options), inputs=events, **options)
    assert not report.published.passed and report.published.matches == {"inputs_side": "onnx"}


def _published(tmp_path):
    network = tmp_path / "published.json"
    write_json(convert(FIXTURES / "check_published.onnx",
                       variables=FIXTURES / "check_published.variables.json",
                       variables_convention="subtract-divide"), network)
    return network


# -- 2. one spec silently applied to every model of a batch -------------------------------

def _offsets(document: dict) -> list[float]:
    return [v["offset"] for v in document["inputs"][0]["variables"]]


def test_2_one_spec_for_several_models_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    code = main([*map(str, HIGP), "--output-dir", str(out), "--variables", _spec(HIGP[0]),
                 *SUBTRACT_DIVIDE])
    assert code == 2
    err = capsys.readouterr().err
    assert "6 model(s) and 1 --variables: give one spec per model, in model order" in err
    assert "--same-variables" in err and "--variables-beside" in err
    assert not list(out.iterdir())


def test_2_one_spec_per_model_in_model_order(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()  # (item 6 makes it; here the specs are what is tested)
    specs = [arg for model in HIGP for arg in ("--variables", _spec(model))]
    assert main(["-q", *map(str, HIGP), "--output-dir", str(out), *specs,
                 *SUBTRACT_DIVIDE]) == 0
    for model in HIGP:
        written = json.loads((out / f"{model.stem}.json").read_text())
        expected = convert(model, variables=_spec(model), variables_convention="subtract-divide")
        assert _offsets(written) == _offsets(expected)
    assert len({tuple(_offsets(json.loads((out / f"{m.stem}.json").read_text())))
                for m in HIGP}) == len(HIGP)  # six normalisations, not one


def test_2_each_models_spec_beside_it_is_reported_per_model(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*map(str, HIGP), "--output-dir", str(out), "--variables-beside",
                 *SUBTRACT_DIVIDE]) == 0
    summary = capsys.readouterr().err.split("summary:")[1]
    for model in HIGP:
        assert f"ok -> {out / model.stem}.json (variables {_spec(model)})" in summary


def test_2_one_spec_for_all_only_when_asked(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-q", *map(str, HIGP[:2]), "--output-dir", str(out), "--variables",
                 _spec(HIGP[0]), "--same-variables", *SUBTRACT_DIVIDE]) == 0
    first, second = (json.loads((out / f"{m.stem}.json").read_text()) for m in HIGP[:2])
    assert _offsets(first) == _offsets(second)


# -- 3. inspect: where folded normalisation went, and the default layout ------------------

def _after_relu(tmp_path, normalisation: str):
    """Gemm, Relu, then a normalisation (BatchNormalization or Mul+Add), then Gemm: the
    normalisation can only fold into the next dense layer."""
    rng = np.random.default_rng(22)

    def const(name, shape, positive=False):
        values = rng.uniform(0.5, 2.0, shape) if positive else rng.normal(size=shape)
        return helper.make_tensor(name, TensorProto.FLOAT, shape,
                                  values.astype(np.float32).ravel())

    initializers = [const("w0", [8, 4]), const("b0", [8]), const("w1", [2, 8]),
                    const("b1", [2]), const("scale", [8], True), const("shift", [8]),
                    const("mean", [8]), const("var", [8], True)]
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], "d0/Gemm", transB=1),
             helper.make_node("Relu", ["h"], ["r"], "d0/Relu")]
    if normalisation == "bn":
        nodes.append(helper.make_node("BatchNormalization", ["r", "scale", "shift", "mean",
                                                             "var"], ["n"], "bn/BN"))
    else:
        nodes += [helper.make_node("Mul", ["r", "scale"], ["m"], "bn/mul"),
                  helper.make_node("Add", ["m", "shift"], ["n"], "bn/add")]
    nodes.append(helper.make_node("Gemm", ["n", "w1", "b1"], ["y"], "d1/Gemm", transB=1))
    graph = helper.make_graph(
        nodes, "after_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], initializers)
    path = tmp_path / f"{normalisation}_after_relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("normalisation, nodes", [("bn", ["bn/BN"]),
                                                  ("mul_add", ["bn/mul", "bn/add"])])
def test_3_normalisation_after_a_relu_is_part_of_the_next_dense_layer(tmp_path, normalisation,
                                                                     nodes):
    from onnx2lwtnn.inspect import inspect
    report = inspect(_after_relu(tmp_path, normalisation))
    fates = {f["node"]: f["becomes"] for f in report["nodes"]}
    for node in nodes:
        assert fates[node] == "part of dense layer 'd1/Gemm'", fates


def test_3_inspect_shows_the_layout_the_conversion_writes(capsys):
    assert main(["inspect", str(REFINE)]) == 0
    default = capsys.readouterr().out
    assert re.search(r"Add +Add_12 +-> folded into the weights of the chain's layers", default)
    assert re.search(r"Relu +Relu_10 +-> part of dense layer 'Gemm_9'  ", default)
    assert ":carries" not in default  # the chain's nodes are named by the ONNX node
    assert main(["inspect", str(REFINE), "--layout", "literal"]) == 0
    assert re.search(r"Add +Add_12 +-> add node", capsys.readouterr().out)


@pytest.mark.parametrize("model, node, becomes", [
    ("lstm_stacked", "lstm1", "recurrent layer"),  # not the views showing it in ONNX's
    ("lstm_stacked", "to_time_major", "part of recurrent layer 'lstm1'"),  # layout
    ("lstm_stacked", "lstm1_seq", "part of recurrent layer 'lstm2'"),
    ("conv1d_dilated", "conv1", "conv1d layer"),
    ("torch_legacy_mlp_opset13", "/silu/Sigmoid", "part of dense layer '/fc5/Gemm'"),  # swish
])
def test_3_a_node_that_is_read_is_never_nothing(model, node, becomes):
    from onnx2lwtnn.inspect import inspect
    fates = {f["node"]: f["becomes"] for f in inspect(FIXTURES / f"{model}.onnx")["nodes"]}
    assert fates[node] == becomes
    assert not any(fate.startswith("nothing") for fate in fates.values()), fates


def test_3_verbose_names_what_replaced_a_node(tmp_path, capsys):
    assert main(["-v", str(FIXTURES / "lstm_stacked.onnx"), "-o", str(tmp_path / "n.json")]) == 0
    assert "pass lower_recurrent.lower_recurrent: LSTM 'lstm1' -> Recurrent\n" in \
        capsys.readouterr().err


# -- 4. reference outputs under a renamed output; unknown out_ arrays ---------------------

def _renamed_spec(tmp_path):
    """higp_1's normalisation in lwtnn's graph form, its output renamed 'signal'."""
    arrays = json.loads((FIXTURES / "higp_1.variables.json").read_text())
    variables = [{"name": n, "offset": -o, "scale": 1.0 / s}
                 for n, o, s in zip(arrays["variables"], arrays["offset"], arrays["scale"])]
    spec = {"inputs": [{"name": "features", "variables": variables}],
            "outputs": [{"name": "signal", "onnx_output": "score", "labels": ["p"]}]}
    path = tmp_path / "renamed.json"
    path.write_text(json.dumps(spec))
    return path


def _raw_events_with(tmp_path, **outputs):
    dump = np.load(HIGP_DUMP)
    arrays = json.loads((FIXTURES / "higp_1.variables.json").read_text())
    raw = dump["in_features"] * np.array(arrays["scale"]) + np.array(arrays["offset"])
    path = tmp_path / "events.npz"
    np.savez(path, features=raw, **{f"out_{k}": v for k, v in outputs.items()})
    return path


def test_4_reference_outputs_named_by_the_onnx_output_a_spec_renamed(tmp_path, capsys):
    spec = _renamed_spec(tmp_path)
    network = tmp_path / "net.json"
    write_json(convert(HIGP[0], variables=spec), network)
    events = _raw_events_with(tmp_path, score=np.load(HIGP_DUMP)["out_score"])
    assert main(["check", str(HIGP[0]), str(network), "--variables", str(spec),
                 "--inputs", str(events)]) == 0
    assert "reference outputs: PASS: lwtnn on the raw inputs" in capsys.readouterr().out


def test_4_an_unknown_out_array_is_an_error_naming_the_outputs(tmp_path, capsys):
    network = _higp_network(tmp_path)
    events = _raw_events_with(tmp_path, scor=np.load(HIGP_DUMP)["out_score"])
    assert main(["check", str(HIGP[0]), str(network), "--variables", _spec(HIGP[0]),
                 *SUBTRACT_DIVIDE, "--inputs", str(events)]) == 2
    err = capsys.readouterr().err
    assert "array 'out_scor' names no output of the network" in err and "out_score" in err


# -- 5. global options before the subcommand ----------------------------------------------

def test_5_global_options_before_the_subcommand(tmp_path, capsys):
    network = tmp_path / "net.json"
    assert main(["-q", str(CHAIN), "-o", str(network)]) == 0
    assert main(["-q", "check", str(CHAIN), str(network)]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["-v", "inspect", str(CHAIN)]) == 0
    assert "converts: yes" in capsys.readouterr().out
    assert main(["--debug", "run", str(network), "--inputs", str(_events_csv(tmp_path))]) == 0


# -- 6. output folders --------------------------------------------------------------------

def test_6_output_dir_is_made_as_pip_download_makes_it(tmp_path, capsys):
    folder = tmp_path / "out" / "nested"
    assert main(["-q", str(CHAIN), str(REFINE), "--output-dir", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [f"{CHAIN.stem}.json",
                                                        f"{REFINE.stem}.json"]


def test_6_an_output_in_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main([str(CHAIN), "-o", str(tmp_path / "missing" / "x.json")]) == 2
    assert "no such directory" in capsys.readouterr().err


# -- 7. wrong files point the right way ---------------------------------------------------

@pytest.mark.parametrize("given, pointer", [
    ("network", "run it with 'onnx2lwtnn run NET.json --inputs EVENTS'"),
    ("tmva_multiclass.weights.xml", "convert it with 'onnx2lwtnn tmva WEIGHTS.xml'"),
    ("higp_1.variables.json", "a variable spec, not an ONNX model: give it with --variables"),
])
def test_7_a_wrong_file_says_where_it_goes(tmp_path, capsys, given, pointer):
    path = FIXTURES / given
    if given == "network":
        path = tmp_path / "net.json"
        write_json(convert(CHAIN), path)
    assert main([str(path), "-o", str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert pointer in err and "Wire format" not in err


def test_7_a_model_with_one_refused_output_suggests_the_others(capsys):
    assert main([str(HADES)]) == 1
    err = capsys.readouterr().err
    assert "LogSoftmax 'pid/LogSoftmax'" in err
    assert "the output momentum reads none of these nodes: convert only it with " \
           "--outputs momentum" in err
    assert main(["-q", str(HADES), "--outputs", "momentum"]) == 0


# -- 8. quiet means quiet; --events with --inputs; fixed batches --------------------------

def test_8_quiet_check_prints_nothing_when_it_passes(tmp_path, capsys):
    network = tmp_path / "net.json"
    write_json(convert(CHAIN), network)
    assert main(["check", "-q", str(CHAIN), str(network), "--events", "20000"]) == 0
    assert capsys.readouterr() == ("", "")


def test_8_no_carriage_return_counter_in_a_log(tmp_path):
    network = tmp_path / "net.json"
    write_json(convert(CHAIN), network)
    done = subprocess.run([sys.executable, "-m", "onnx2lwtnn", "check", str(CHAIN),
                           str(network), "--events", "20000"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0 and "\r" not in done.stderr and "checked" not in done.stderr


def test_8_events_with_inputs_is_a_usage_error(tmp_path, capsys):
    network = _higp_network(tmp_path)
    assert main(["check", str(HIGP[0]), str(network), "--inputs", str(HIGP_DUMP),
                 "--events", "500"]) == 2
    assert "--events is for random events; with --inputs the events are the file's" in \
        capsys.readouterr().err


def test_8_a_fixed_batch_model_is_checked_in_batches(monkeypatch):
    import onnxruntime
    from onnx2lwtnn.check import check
    runs = []
    original = onnxruntime.InferenceSession.run
    monkeypatch.setattr(onnxruntime.InferenceSession, "run",
                        lambda self, *a, **k: runs.append(1) or original(self, *a, **k))
    model = FIXTURES / "batch_fixed_1.onnx"  # a batch of 1, as old PyTorch exports are
    report = check(model, convert(model), events=2000)
    assert report.passed and report.n_events == 2000
    assert len(runs) < 100  # not one run per event


def test_8_quiet_tmva_still_says_why_it_failed(capsys):
    assert main(["tmva", "-q", str(FIXTURES / "tmva_multiclass.weights.xml"),
                 "--tolerance", "1e-300"]) == 1
    assert "FAIL: 1000 events" in capsys.readouterr().err


# -- 9. only commands that need onnx load it ----------------------------------------------

HEAVY = ("onnx", "networkx", "jsonschema")  # the converter's, and validation's diagnosis


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["-q", "--version"],
                                  *([name, "--help"] for name in SUBCOMMANDS), ["run"]])
def test_9_version_help_and_run_load_nothing_heavy(argv, tmp_path):
    if argv == ["run"]:
        network = tmp_path / "net.json"
        write_json(convert(CHAIN), network)
        argv = ["run", str(network), "--inputs", str(_events_csv(tmp_path))]
    code = ("import sys\nfrom onnx2lwtnn.cli import main\n"
            f"assert main({argv!r}) == 0\n"
            f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)  # the installed package, not a folder's
    assert done.returncode == 0, done.stderr[-300:]


def test_9_version_loads_no_command(tmp_path):
    code = ("import sys\nfrom onnx2lwtnn.cli import main\nassert main(['--version']) == 0\n"
            "loaded = [m for m in ('numpy', 'networkx', 'onnx2lwtnn.cli.convert') "
            "if m in sys.modules]\nassert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)  # the installed package, not a folder's
    assert done.returncode == 0, done.stderr[-300:]


# -- 10. stale docs and help --------------------------------------------------------------

def test_10_docs_state_the_tolerance_check_uses():
    from onnx2lwtnn.defaults import DEFAULT_TOLERANCE
    bound = re.compile(r"(\d[\d.]*e-\d+) \* max\(1, \|(?:onnx|reference)\|\)")
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for found in bound.findall(path.read_text(encoding="utf-8")):
            assert float(found) == DEFAULT_TOLERANCE, f"{path.name} states {found}"


def test_10_tmva_help_states_its_own_tolerances(capsys):
    assert main(["tmva", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "against a float64 reference of TMVA's response" in text
    assert "TMVA's own response, computed in float32, is held to 1e-05" in text


def test_10_tmva_fail_line_says_how_far_from_which_bound(capsys):
    assert main(["tmva", str(FIXTURES / "tmva_multiclass.weights.xml"),
                 "--tolerance", "1e-300"]) == 1
    fail = [line for line in capsys.readouterr().err.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "up to 2.22e-16 from the exact float64 reference (bound " \
                              "1e-300)" in fail[0] and "within" not in fail[0]


def test_10_tmva_warning_names_the_file_once(tmp_path, capsys):
    weights = FIXTURES / "tmva_pca_regression.weights.xml"
    assert main(["tmva", str(weights), "-o", str(tmp_path / "t.json")]) == 0
    (warning,) = [line for line in capsys.readouterr().err.splitlines()
                  if ": warning: " in line]
    assert warning.count(str(weights)) == 1


def test_10_sequential_json_lines_under_the_input_name(tmp_path, capsys):
    network = tmp_path / "net.json"
    write_json(convert(CHAIN, format="sequential"), network)
    events = tmp_path / "events.jsonl"
    event = {f"x_{i}": 0.5 * i for i in range(WIDTH)}
    events.write_text(json.dumps({"": event}) + "\n" + json.dumps(event) + "\n")
    assert main(["run", str(network), "--inputs", str(events)]) == 0
    header, first, second = capsys.readouterr().out.splitlines()
    assert first == second


LWTNN_API = {  # lwtnn 2.14's public API as the docs use it, declarations only
    "lwtnn/lightweight_network_config.hh": "namespace lwt { struct GraphConfig {}; "
                                           "struct JSONConfig {}; }",
    "lwtnn/parse_json.hh": '#include <istream>\n#include "lwtnn/lightweight_network_config.hh"'
                           "\nnamespace lwt { JSONConfig parse_json(std::istream&); "
                           "GraphConfig parse_json_graph(std::istream&); }",
    "lwtnn/LightweightGraph.hh": (
        '#include <map>\n#include <string>\n#include <vector>\n'
        '#include "lwtnn/lightweight_network_config.hh"\nnamespace lwt {\n'
        "typedef std::map<std::string, double> ValueMap;\n"
        "typedef std::map<std::string, std::vector<double> > VectorMap;\n"
        "class LightweightGraph { public:\n"
        "  typedef std::map<std::string, ValueMap> NodeMap;\n"
        "  typedef std::map<std::string, VectorMap> SeqNodeMap;\n"
        '  LightweightGraph(const GraphConfig& config, std::string default_output = "");\n'
        "  ValueMap compute(const NodeMap&, const SeqNodeMap& = {}) const;\n"
        "  ValueMap compute(const NodeMap&, const SeqNodeMap&, const std::string&) const;\n"
        "}; }"),
}


def _cpp_blocks() -> list[tuple[str, str]]:
    """Every C++ block of the docs meant to compile (a sketch says it is one)."""
    blocks = []
    for path in sorted((REPO / "docs").glob("*.md")):
        for block in re.findall(r"```cpp\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            if not block.startswith("// A sketch"):
                blocks.append((path.name, block))
    return blocks


@pytest.mark.parametrize("name, block", _cpp_blocks())
def test_10_the_docs_cpp_compiles_as_written(tmp_path, name, block):
    compiler = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler here (set CXX) to compile the docs' C++")
    include = os.environ.get("LWTNN_INCLUDE")  # lwtnn's own headers, where installed
    if include is None:
        include = tmp_path / "include"
        for header, text in LWTNN_API.items():
            (include / header).parent.mkdir(parents=True, exist_ok=True)
            (include / header).write_text(f"#pragma once\n{text}\n")
    source = tmp_path / "snippet.cxx"
    source.write_text(block)
    done = subprocess.run([compiler, "-std=c++17", "-fsyntax-only", f"-I{include}",
                           str(source)], capture_output=True, text=True)
    assert done.returncode == 0, f"{name}:\n{done.stderr[-2000:]}"


# -- 11. smaller ones ---------------------------------------------------------------------

def test_11_run_output_without_a_suffix_is_csv(tmp_path, capsys):
    network = tmp_path / "net.json"
    write_json(convert(CHAIN), network)
    assert main(["run", "-q", str(network), "--inputs", str(_events_csv(tmp_path)), "-o",
                 str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").read_text().splitlines()[0] == "y_0,y_1"


def test_11_a_batch_says_a_warning_once_for_the_models_it_is_about(tmp_path, capsys):
    models = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    for model in models:
        shutil.copy(MASKED, model)
    (tmp_path / "out").mkdir()
    assert main([*map(str, models), "--output-dir", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.count("Keras Masking") == 1
    assert f"{models[0]}, {models[1]}: Keras Masking" in err


def test_11_template_says_nothing_of_the_conversion(tmp_path, capsys):
    assert main(["template", str(MASKED), "-o", str(tmp_path / "spec.json")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_11_a_semantic_usage_error_is_one_line(capsys):
    assert main([str(CHAIN), "--events", "5"]) == 2
    err = capsys.readouterr().err
    assert "usage:" not in err and err.count("\n") == 1
    assert "--events needs --check" in err


def test_11_inspect_of_a_sequential_file_has_no_empty_nodes_line(tmp_path, capsys):
    network = tmp_path / "net.json"
    write_json(convert(CHAIN, format="sequential"), network)
    assert main(["inspect", str(network)]) == 0
    assert not any(line.startswith("nodes:") for line in capsys.readouterr().out.splitlines())


def test_11_ops_says_what_was_meant(capsys):
    assert main(["ops", "Sofmax"]) == 0
    assert "did you mean Softmax?" in capsys.readouterr().out
    assert main(["ops", "gemm"]) == 0
    assert "did you mean Gemm?" in capsys.readouterr().out


def test_11_write_lwtnn_inputs_avoids_outputs_that_are_exactly_0(tmp_path, capsys):
    from onnx2lwtnn.check import document_view, draw_events
    from onnx2lwtnn.lwtnn import load_network
    model = FIXTURES / "act_relu.onnx"  # ReLU outputs: event 0 gives several exact zeros
    document = convert(model)
    network = tmp_path / "net.json"
    write_json(document, network)
    first = draw_events(document_view(document), 1, 0).vectors
    zeros_of_first = int(np.sum(load_network(document).evaluate(first)["y"] == 0))
    assert main(["check", "-q", str(model), str(network), "--write-lwtnn-inputs",
                 str(tmp_path / "in.json")]) == 0
    printed = [float(line.split()[1]) for line in capsys.readouterr().out.splitlines()
               if line.startswith("y_")]
    assert printed.count(0.0) < zeros_of_first
