"""A TMVA ``MethodMLP`` network from its ``<Weights><Layout>``.

Layer i lists NNeurons neurons; in every layer but the output one the last neuron is a
bias fixed at 1. Neuron j's text holds its weights to each non-bias neuron of the next
layer, in order, read by TMVA as float. Hidden neurons apply ``NeuronType``; output
neurons are sigmoid for a classifier trained with ``EstimatorType=CE`` and linear
otherwise (TMVA forces MSE, linear outputs, for regression and multiclass); a multiclass
response is the softmax of the outputs. TMVA >= 4.2.1 evaluates tanh with a fast rational
approximation (``fast_tanh``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError, Diagnostic
from .method import FAST_TANH_VERSION, Method, integer, numbers

# TMVA's NeuronType -> lwtnn's activation; "radial" (exp(-x^2/2)) has none
ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "ReLU": "rectified", "linear": "linear"}


@dataclass
class Mlp:
    weights: list[np.ndarray]     # [n_out, n_in] per layer, float32 values
    biases: list[np.ndarray]      # [n_out] per layer
    hidden: str                   # TMVA NeuronType of hidden neurons
    output: str                   # "sigmoid" or "linear", per neuron
    softmax: bool                 # multiclass: the response is the outputs' softmax
    fast_tanh: bool               # TMVA evaluates the hidden tanh approximately


def read_mlp(method: Method) -> Mlp:
    if method.method != "MLP":
        raise ConversionError([Diagnostic(method.title, f"TMVA {method.method}",
                                          "only TMVA MLP networks (MethodMLP) are converted")],
                              "not a TMVA MLP")
    hidden = method.option("NeuronType", "sigmoid")
    if hidden not in ACTIVATIONS:
        raise ConversionError([Diagnostic(method.title, "TMVA MLP", f"NeuronType={hidden} has "
                                          "no lwtnn activation (sigmoid, tanh, ReLU and linear "
                                          "do)")], "the MLP cannot be expressed in lwtnn")
    if method.option("NeuronInputType", "sum") != "sum":
        raise ConversionError([Diagnostic(method.title, "TMVA MLP", "NeuronInputType="
                                          f"{method.option('NeuronInputType')}: only 'sum' "
                                          "is a dense layer")],
                              "the MLP cannot be expressed in lwtnn")
    layout = method.root.find("Weights/Layout") if method.root is not None else None
    if layout is None:
        raise method.error("no <Weights><Layout>: not a TMVA MLP weights file")
    layers = sorted(layout.findall("Layer"), key=lambda e: integer(method, e, "Index"))
    if len(layers) < 2 or len(layers) != integer(method, layout, "NLayers"):
        raise method.error(f"<Layout> declares {layout.get('NLayers')} layers and holds "
                           f"{len(layers)}; an MLP has at least two")
    sizes = [integer(method, layer, "NNeurons") for layer in layers]
    widths = [n - 1 for n in sizes[:-1]] + [sizes[-1]]  # without the bias neurons
    if widths[0] != len(method.variables):
        raise method.error(f"the input layer has {widths[0]} neurons (without its bias) for "
                           f"{len(method.variables)} variables")
    weights, biases = [], []
    for index, (layer, n_out) in enumerate(zip(layers[:-1], widths[1:])):
        neurons = layer.findall("Neuron")
        if len(neurons) != sizes[index]:
            raise method.error(f"layer {index} declares {sizes[index]} neurons and holds "
                               f"{len(neurons)}")
        rows = [numbers(method, neuron, n_out, f"layer {index} neuron {j}", np.float32)
                for j, neuron in enumerate(neurons)]
        matrix = np.array(rows).T  # [n_out, n_in + 1]; the last column is the bias neuron's
        weights.append(matrix[:, :-1])
        biases.append(matrix[:, -1])
    regression_or_multiclass = method.analysis in ("Regression", "Multiclass")
    output = ("sigmoid" if method.option("EstimatorType", "MSE") == "CE"
              and not regression_or_multiclass else "linear")
    return Mlp(weights, biases, hidden, output, softmax=method.analysis == "Multiclass",
               fast_tanh=hidden == "tanh" and method.version >= FAST_TANH_VERSION)


def fast_tanh(x: np.ndarray) -> np.ndarray:
    """TMVA's ``TActivationTanh::fast_tanh``: a rational approximation in float, exactly
    ±1 beyond |x| > 4.97."""
    x = np.asarray(x, dtype=np.float64)
    f32 = np.float32
    x2 = (x * x).astype(f32)
    a = (x * (f32(135135.0) + x2 * (f32(17325.0) + x2 * (f32(378.0) + x2)))).astype(f32)
    b = f32(135135.0) + x2 * (f32(62370.0) + x2 * (f32(3150.0) + x2 * f32(28.0)))
    value = (a / b).astype(np.float64)
    return np.where(x > 4.97, 1.0, np.where(x < -4.97, -1.0, value))
