"""lwtnn's evaluation semantics in numpy, to run and check any lwtnn JSON network.

Independent of the ONNX side: it reads the two lwtnn formats (graph, for
``LightweightGraph``; sequential, for ``LightweightNeuralNetwork``) as lwtnn's parser
reads them (``read_document``), validates them like lwtnn's builders would, and
evaluates batches of events with the same arithmetic as lwtnn's C++ (in float64).

    net = load_network("model.json")
    outputs = net.evaluate({"jet": x}, {"tracks": list_of_arrays})
"""
from .errors import EvaluationError, LwtnnFormatError, LwtnnFormatWarning
from .graph import GraphNetwork
from .load import build_network, load_network
from .network import Network
from .read import read_document
from .sequential import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, SequentialNetwork
from .validate import validate_network

__all__ = [
    "Network",
    "GraphNetwork",
    "SequentialNetwork",
    "SEQUENTIAL_INPUT",
    "SEQUENTIAL_OUTPUT",
    "load_network",
    "build_network",
    "read_document",
    "validate_network",
    "LwtnnFormatError",
    "LwtnnFormatWarning",
    "EvaluationError",
]
