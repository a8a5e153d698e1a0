"""The choices and bounds the Python API and the command line share, in a module that
loads nothing: a command's ``--help`` states them without loading the converter."""

# output formats (``emit``): lwtnn's two, and a CorrectionSet of sequential networks
# (``correctionset``)
GRAPH, SEQUENTIAL = "graph", "sequential"
CORRECTIONLIB = "correctionlib"
LWTNN_FORMATS = (GRAPH, SEQUENTIAL)
FORMATS = (*LWTNN_FORMATS, CORRECTIONLIB)

# layouts of a converted graph (``api.conversion(layout=...)``, ``--layout``)
CHEAPEST, LITERAL = "cheapest", "literal"
LAYOUTS = (CHEAPEST, LITERAL)

DEFAULT_EVENTS = 1000  # random events a check compares

# |lwtnn - float64 onnx| / max(1, |onnx|): measured differences are <= 7.5e-9 over every
# fixture and real model (docs/check.md); float32 rounding alone is ~1e-7 and more.
DEFAULT_TOLERANCE = 1e-9
FLOAT32_TOLERANCE = 1e-5        # when no float64 evaluation exists: the float32 floor
DEFAULT_REFERENCE_TOLERANCE = 1e-5  # published outputs are float32 computations
