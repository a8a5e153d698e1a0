"""onnx2lwtnn: convert ONNX neural networks to lwtnn JSON, exactly, and prove it."""
from .api import convert, to_json, write_json
from .errors import ConversionError, Diagnostic, ModelLoadError, Onnx2LwtnnError, UsageError
from .interface import Interface, Variable

__all__ = ["convert", "to_json", "write_json", "ConversionError", "Diagnostic",
           "ModelLoadError", "Onnx2LwtnnError", "UsageError", "Interface", "Variable"]
__version__ = "0.1.0"
