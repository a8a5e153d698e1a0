"""onnx2lwtnn: convert ONNX neural networks to lwtnn JSON, exactly, and prove it.

The converter (``convert``, ``to_json``, ``write_json``) is imported on first use, so
that ``onnx2lwtnn.lwtnn`` can read and run lwtnn files without loading onnx.
"""
from .errors import (ConversionError, ConversionWarning, Diagnostic, ModelLoadError,
                     Onnx2LwtnnError, UsageError)
from .interface import Interface, Variable

__all__ = ["convert", "to_json", "write_json", "ConversionError", "ConversionWarning",
           "Diagnostic", "ModelLoadError", "Onnx2LwtnnError", "UsageError", "Interface",
           "Variable"]
__version__ = "0.1.0"
_API = ("convert", "to_json", "write_json")


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'onnx2lwtnn' has no attribute '{name}'")
