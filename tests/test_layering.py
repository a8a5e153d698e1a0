"""The lines the design never crosses, checked on the source itself."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "onnx2lwtnn"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative ones resolved)."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(parts[:len(parts) - node.level]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_lwtnn_runtime_imports_nothing_from_the_onnx_side():
    for path in (PACKAGE / "lwtnn").glob("*.py"):
        outside = {n for n in _imports(path)
                   if n.split(".")[0] in ("onnx", "onnxruntime")
                   or (n.startswith("onnx2lwtnn.") and not n.startswith("onnx2lwtnn.lwtnn"))}
        assert not outside, f"{path.name} imports {outside}"


def test_lwtnn_runtime_loads_without_onnx():
    code = "import sys, onnx2lwtnn.lwtnn; assert 'onnx' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr


def test_passes_and_emitter_never_see_protobufs_or_the_cli():
    for path in [*(PACKAGE / "passes").glob("*.py"), PACKAGE / "emit.py"]:
        imports = _imports(path)
        assert "onnx2lwtnn.cli" not in imports, path.name
        if path.name != "fold_constants.py":  # evaluates nodes with the onnx reference
            assert not {n for n in imports if n.split(".")[0] == "onnx"}, path.name


def test_run_needs_no_onnx():
    """``run`` reads and evaluates lwtnn files: it must work, and start fast, without onnx."""
    code = ("import sys, onnx2lwtnn, onnx2lwtnn.runner; onnx2lwtnn.run; "
            "assert 'onnx' not in sys.modules, 'onnx imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr


def test_exporter_sits_beside_the_runtime():
    """lwtnn -> ONNX reads lwtnn documents through the runtime, never the other way round,
    and needs nothing of the converter (IR, passes, emitter)."""
    for path in (PACKAGE / "lwtnn").glob("*.py"):
        assert not {n for n in _imports(path) if n.startswith("onnx2lwtnn.exporter")}, path.name
    converter = ("onnx2lwtnn.ir", "onnx2lwtnn.passes", "onnx2lwtnn.emit", "onnx2lwtnn.api",
                 "onnx2lwtnn.pipeline", "onnx2lwtnn.cli")
    for path in (PACKAGE / "exporter").glob("*.py"):
        assert not {n for n in _imports(path) if n.startswith(converter)}, path.name


def test_run_on_the_command_line_does_not_load_onnx():
    """Subcommands are imported when used: ``run`` on an lwtnn file starts without
    paying for onnx (about a second)."""
    code = ("import sys\nfrom onnx2lwtnn.cli import main\n"
            "assert main(['run', '--help']) == 0\n"
            "assert 'onnx' not in sys.modules, 'run loaded onnx'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
