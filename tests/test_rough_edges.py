"""The rough edges a new user hit (issue 12), each with the behaviour that replaced it."""
from __future__ import annotations

import json
import warnings

import pytest

from onnx2lwtnn import convert
from onnx2lwtnn.errors import ConversionWarning, ModelLoadError

from .support import FIXTURES

MASKED = FIXTURES / "published_tf2onnx_masked_nospec.onnx"
MASKED_WITH_SPEC = FIXTURES / "published_tf2onnx_masked.onnx"
MASKED_SPEC = FIXTURES / "published_tf2onnx_masked.variables.json"


def _warnings(*args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConversionWarning)
        convert(*args, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, ConversionWarning)]


def test_masking_warning_says_the_value_is_raw_without_a_spec():
    (message,) = _warnings(MASKED)
    assert "raw inputs (the values given to lwtnn) all equal -999" in message


def test_masking_warning_says_the_value_is_normalised_with_a_spec():
    (message,) = _warnings(MASKED_WITH_SPEC, variables=MASKED_SPEC,
                           variables_convention="subtract-divide")
    assert "normalised inputs (after the variable spec's offset and scale" in message


def test_lwtnn_json_given_as_the_model_says_the_argument_order(tmp_path):
    network = tmp_path / "net.json"
    network.write_text(json.dumps(convert(FIXTURES / "mlp_opset13.onnx")))
    with pytest.raises(ModelLoadError) as error:
        convert(network)
    message = str(error.value)
    assert message.endswith("an lwtnn JSON network, not an ONNX model: run it with "
                            "'onnx2lwtnn run NET.json --inputs EVENTS', or compare it with its "
                            "model with 'onnx2lwtnn check MODEL.onnx NET.json' (the model "
                            "comes first)")
    assert "ModelProto" not in message and "Available Fields" not in message


# -- the command line ----------------------------------------------------------------
from onnx2lwtnn.cli import main  # noqa: E402

CHAIN = FIXTURES / "mlp_opset13.onnx"
REFUSED = FIXTURES / "refuse_prelu.onnx"


def _network(tmp_path):
    network = tmp_path / "net.json"
    assert main([str(CHAIN), "-o", str(network)]) == 0
    return network


def test_check_with_swapped_arguments_says_the_order(tmp_path, capsys):
    network = _network(tmp_path)
    capsys.readouterr()
    assert main(["check", str(network), str(CHAIN)]) == 1
    err = capsys.readouterr().err
    assert "compare it with its model with 'onnx2lwtnn check MODEL.onnx NET.json' (the " \
           "model comes first)" in err
    assert "ModelProto" not in err and "Traceback" not in err


def test_check_with_the_model_as_the_network_says_the_order(capsys):
    assert main(["check", str(CHAIN), str(CHAIN)]) == 1
    err = capsys.readouterr().err
    assert "a binary file, not an lwtnn JSON file; if it is the ONNX model, it comes first: " \
           "onnx2lwtnn check MODEL.onnx NET.json" in err
    assert "codec" not in err


@pytest.mark.parametrize("argv, message", [
    (["--variables-convention", "lwtnn"], "--variables-convention needs --variables"),
    (["--events", "5"], "--events needs --check"),
    (["--tolerance", "1e-3"], "--tolerance needs --check"),
])
def test_an_option_without_the_one_it_needs_is_a_usage_error(argv, message, tmp_path, capsys):
    output = tmp_path / "out.json"
    assert main([str(CHAIN), "-o", str(output), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_check_subcommand_convention_needs_variables_too(tmp_path, capsys):
    network = _network(tmp_path)
    assert main(["check", str(CHAIN), str(network), "--variables-convention", "lwtnn"]) == 2
    assert "--variables-convention needs --variables" in capsys.readouterr().err


def test_batch_names_the_model_of_each_warning_and_the_reason_of_each_failure(tmp_path,
                                                                              capsys):
    network = _network(tmp_path)
    capsys.readouterr()
    (tmp_path / "out").mkdir()
    assert main([str(CHAIN), str(MASKED), str(REFUSED), str(network),
                 "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"warnings:\n  {MASKED}: Keras Masking" in err  # after the summary, once
    summary = err[err.index("summary:"):]
    assert f"{REFUSED}" in summary and \
        "FAILED: cannot convert: 1 node(s) cannot be expressed in lwtnn" in summary
    assert "FAILED: an lwtnn JSON network, not an ONNX model: run it with" in summary
    assert "2 converted, 2 failed" in summary


def test_quiet_prints_errors_only(tmp_path, capsys):
    assert main(["-q", str(MASKED), "-o", str(tmp_path / "a.json")]) == 0
    assert capsys.readouterr().err == ""
    assert main(["-q", str(REFUSED), "-o", str(tmp_path / "b.json")]) == 1
    assert "cannot convert" in capsys.readouterr().err


def test_verbose_shows_each_pass_that_changed_the_graph(tmp_path, capsys):
    assert main(["-v", str(FIXTURES / "act_selu_then_gemm.onnx"),
                 "-o", str(tmp_path / "a.json")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " pass " in line]
    assert "onnx2lwtnn: pass lower_dense.lower_gemm: Gemm 'dense0/Gemm' -> Dense" in lines
    assert ("onnx2lwtnn: pass lower_activations.lower_selu: Selu 'dense0/Selu' -> "
            "Affine 'dense0/Selu:scale'") in lines
    assert any("fuse_activation.fuse_activation: Activation 'dense0/Selu:elu' -> Dense "
               "'dense0/Gemm'" in line for line in lines)


def test_without_shared_the_skips_are_one_summary_line(tmp_path):
    import os
    import subprocess
    import sys

    from .support import REPO
    env = {**os.environ, "ONNX2LWTNN_SHARED": str(tmp_path / "absent")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "0", "tests/lwtnn/test_conformance.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, skipped
    assert "shared material is absent" in skipped[0] and "ONNX2LWTNN_SHARED" in skipped[0]
    count = int(skipped[0].split("[")[1].split("]")[0])
    assert count > 1 and f"{count} skipped" in done.stdout


# -- a spec may rename an output node --------------------------------------------------
RENAME = {"inputs": [], "outputs": [{"name": "score", "onnx_output": "y",
                                     "labels": ["signal", "background"]}]}


def test_a_spec_renames_an_output_node_and_check_follows_it(tmp_path, capsys):
    from onnx2lwtnn.check import check
    document = convert(CHAIN, variables=RENAME)
    assert list(document["outputs"]) == ["score"]
    assert document["outputs"]["score"]["labels"] == ["signal", "background"]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(RENAME))
    network = tmp_path / "net.json"
    assert main([str(CHAIN), "-o", str(network), "--variables", str(spec), "--check"]) == 0
    assert json.loads(network.read_text())["outputs"].keys() == {"score"}
    report = check(CHAIN, document, events=50, variables=RENAME)
    assert report.passed and {row.output for row in report.rows} == {"score"}
    capsys.readouterr()
    assert main(["check", str(CHAIN), str(network)]) == 2
    assert "if a variable spec renamed outputs, give check that spec" in \
        capsys.readouterr().err


def test_an_unknown_output_name_says_how_to_rename():
    from onnx2lwtnn.errors import UsageError
    spec = {"inputs": [], "outputs": [{"name": "score", "labels": ["a", "b"]}]}
    with pytest.raises(UsageError, match=r'unknown output\(s\) score; the model\'s outputs '
                                         r'are y \(to rename one, add "onnx_output"'):
        convert(CHAIN, variables=spec)
