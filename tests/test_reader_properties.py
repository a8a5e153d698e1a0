"""Property tests for the readers (hypothesis, derandomized): random JSON documents as
networks and variable specs, and random bytes as JSON, end in a result or a clean error,
exit 1 or 2, never a traceback or an internal error, and nothing written on failure."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx2lwtnn import files
from onnx2lwtnn.cli import main
from onnx2lwtnn.errors import FileError

from .support import FIXTURES

MODEL = FIXTURES / "mlp_opset13.onnx"
BOUNDED = dict(derandomize=True, database=None, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                           max_leaves=30)
KEYS = ["inputs", "input_sequences", "outputs", "variables", "name", "offset", "scale",
        "default", "labels", "class_labels", "mean", "std", "branches", "nodes", "layers"]


@st.composite
def near_documents(draw, base: dict):
    """A real document with a few entries replaced, added or removed at random."""
    document = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        path, node = [], document
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                       else list(range(len(node)))))
            path.append(key)
            node = node[key]
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if not path:
            document = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
                            | json_values)
        elif draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


def _run(args: list, capsys) -> int:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 2), err
    return code


def _template() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "spec.json"
        assert main(["template", str(MODEL), "-o", str(spec), "-q"]) == 0
        return json.loads(spec.read_text())


def _network() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        net = Path(folder) / "net.json"
        assert main([str(MODEL), "-o", str(net), "-q"]) == 0
        return json.loads(net.read_text())


SPEC, NETWORK = _template(), _network()


@settings(max_examples=150, **BOUNDED)
@given(document=near_documents(SPEC) | json_values)
def test_random_specs_convert_or_fail_cleanly(document, capsys, tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    spec, output = folder / "spec.json", folder / "out.json"
    spec.write_text(json.dumps(document))
    code = _run([MODEL, "-o", output, "--variables", spec, "-q"], capsys)
    assert output.exists() == (code == 0)


@settings(max_examples=100, **BOUNDED)
@given(document=near_documents(NETWORK) | json_values)
def test_random_networks_check_or_fail_cleanly(document, capsys, tmp_path_factory):
    net = tmp_path_factory.mktemp("net") / "net.json"
    net.write_text(json.dumps(document))
    _run(["check", MODEL, net, "--events", "5"], capsys)


@settings(max_examples=300, **BOUNDED)
@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_random_text_is_json_or_a_one_line_file_error(text):
    try:
        document = files.parse_json(text, "doc.json", "document", object)
    except FileError as exc:
        assert str(exc).startswith("doc.json: ") and "\n" not in str(exc)
    else:
        assert document == json.loads(text)
