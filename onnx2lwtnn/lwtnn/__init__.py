"""lwtnn's evaluation semantics in numpy, to run and check any lwtnn JSON network.

Independent of the ONNX side: it reads the two lwtnn formats (graph, for
``LightweightGraph``; sequential, for ``LightweightNeuralNetwork``), validates them
like lwtnn's reader and builders would, and evaluates batches of events with the
same arithmetic as lwtnn's C++ (in float64).

    net = load_network("model.json")
    outputs = net.evaluate({"jet": x}, {"tracks": list_of_arrays})
"""
from .errors import EvaluationError, LwtnnFormatError
from .graph import GraphNetwork
from .load import load_network
from .network import Network
from .sequential import SEQUENTIAL_INPUT, SEQUENTIAL_OUTPUT, SequentialNetwork
from .validate import validate_network

__all__ = [
    "Network",
    "GraphNetwork",
    "SequentialNetwork",
    "SEQUENTIAL_INPUT",
    "SEQUENTIAL_OUTPUT",
    "load_network",
    "validate_network",
    "LwtnnFormatError",
    "EvaluationError",
]
