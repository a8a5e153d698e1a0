"""onnx2lwtnn: convert ONNX neural networks to lwtnn JSON, exactly, and prove it.

The converter (``convert``, ``to_json``, ``write_json``), ``run`` (an lwtnn network on
a file of events), ``export`` (lwtnn -> ONNX) and ``Interface`` are imported on first
use, so that ``onnx2lwtnn.lwtnn`` can read and run lwtnn files without loading onnx, and
``onnx2lwtnn --version`` loads nothing at all.
"""
from .errors import (ConversionError, ConversionWarning, Diagnostic, ModelLoadError,
                     Onnx2LwtnnError, UsageError)

__all__ = ["convert", "fold_conversion", "to_json", "write_json", "run", "export", "ConversionError", "ConversionWarning",
           "Diagnostic", "ModelLoadError", "Onnx2LwtnnError", "UsageError", "Interface",
           "Variable"]
__version__ = "0.1.0"
_API = {"convert": "api", "fold_conversion": "folds", "to_json": "api", "write_json": "api",
        "run": "runner", "export": "exporter", "Interface": "interface",
        "Variable": "interface"}


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'onnx2lwtnn' has no attribute '{name}'")
