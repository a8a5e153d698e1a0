"""A TMVA MLP weights file -> an lwtnn document, through the IR and the emitter every
conversion uses.

The leading Normalize steps become the input's ``(x + offset) * scale``; any
transformation after them (Decorrelation, PCA) is an affine map folded into the first
dense layer; a regression's inverse target transformation is folded into the last one.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..check import VERIFICATION_EVENTS
from ..defaults import GRAPH
from ..emit import emit
from ..errors import ConversionWarning, VerificationError
from ..exact import Exact, matmul
from ..interface import Interface, Variable
from ..ir import IRGraph, Port
from ..lwtnn import validate_network
from . import transforms as tf
from .method import Method, read_method
from .mlp import ACTIVATIONS, Mlp, read_mlp
from .response import exact_response, tmva_response

INPUT = "variables"
DEVIATION_EVENTS = 10_000


@dataclass
class TmvaNetwork:
    """A TMVA MLP with its transformations, as TMVA's Reader evaluates it."""

    method: Method
    mlp: Mlp
    transforms: list

    @property
    def output_name(self) -> str:
        return self.method.title

    @property
    def labels(self) -> list[str]:
        if self.method.analysis == "Regression":
            return list(self.method.targets)
        if self.method.analysis == "Multiclass":
            return list(self.method.classes)
        return [self.method.title]

    def exact(self, raw: np.ndarray) -> np.ndarray:
        return exact_response(self.mlp, self.transforms, raw)

    def tmva(self, raw: np.ndarray) -> np.ndarray:
        return tmva_response(self.mlp, self.transforms, raw)

    def training_events(self, count: int, seed: int = 0,
                        rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """Events drawn uniformly inside each variable's training range (from ``rng``,
        else a generator seeded with ``seed``)."""
        low, high = self.method.ranges[:, 0], self.method.ranges[:, 1]
        rng = np.random.default_rng(seed) if rng is None else rng
        # halved, then doubled (both exact): high - low may be beyond double's range
        return rng.uniform(low / 2, high / 2, (count, len(low))) * 2

    def fast_tanh_deviation(self) -> float:
        """The largest |TMVA - exact| over events inside the training ranges, drawn in
        chunks of about a million values (a file of thousands of variables must not
        take gigabytes for a warning)."""
        rng, worst, left = np.random.default_rng(0), 0.0, DEVIATION_EVENTS
        chunk = max(1, 2**20 // len(self.method.variables))
        while left:
            raw = self.training_events(min(chunk, left), rng=rng)
            worst = max(worst, float(np.max(np.abs(self.tmva(raw) - self.exact(raw)))))
            left -= len(raw)
        return worst


def read_network(path: Union[str, os.PathLike]) -> TmvaNetwork:
    method = read_method(path)
    network = TmvaNetwork(method, read_mlp(method), tf.read_transformations(method))
    _check_outputs(network)
    return network


def _check_outputs(network: TmvaNetwork) -> None:
    """One output neuron per label (target, class, or the classifier's one)."""
    method, width = network.method, network.mlp.weights[-1].shape[0]
    if len(network.labels) != width:
        what = {"Regression": "targets", "Multiclass": "classes"}.get(method.analysis,
                                                                      "outputs")
        raise method.error(f"the output layer has {width} neurons for "
                           f"{len(network.labels)} {what}")


def convert_tmva(source: Union[str, os.PathLike, TmvaNetwork],
                 format: str = GRAPH, verify: bool = True) -> dict:
    """The lwtnn document of a TMVA MLP, verified (unless ``verify`` is False) against
    the float64 reference of TMVA's response on a few events before it is returned
    (VerificationError if it differs). Warns, naming the largest deviation, when TMVA
    computes a fast tanh that lwtnn's exact tanh cannot reproduce."""
    network = source if isinstance(source, TmvaNetwork) else read_network(source)
    method, mlp = network.method, network.mlp
    n = len(method.variables)
    offset, scale, rest = tf.split(network.transforms, n)
    ir = IRGraph(opset=0)
    node = ir.add("Input", label=INPUT, shapes=[("N", n)],
                  attrs={"name": INPUT, "dtype": 1, "offset": offset, "scale": scale})
    ir.inputs.append(node)
    last = len(mlp.weights) - 1
    for index, (weights, bias) in enumerate(zip(mlp.weights, mlp.biases)):
        if index == 0 and rest is not None:
            weights, bias = fold_affine_before(weights, bias, *rest)
        if index == last:
            weights, bias = _undo_targets(network, weights, bias)
        node = ir.add("Dense", [Port(node)], label=f"layer{index + 1}",
                      shapes=[("N", weights.shape[0])],
                      attrs={"weights": weights, "bias": bias,
                             "activation": _activation(mlp, index == last)})
    ir.outputs.append(ir.add("Output", [Port(node)], label=f"output:{network.output_name}",
                             attrs={"name": network.output_name},
                             shapes=[("N", mlp.weights[-1].shape[0])]))
    interface = Interface(input_variables={INPUT: [Variable(v) for v in method.variables]},
                          output_labels={network.output_name: network.labels})
    document = emit(ir, interface, format)
    validate_network(document)
    if verify:
        from .check import check_tmva
        report = check_tmva(network, document, events=VERIFICATION_EVENTS)
        if not report.passed:
            raise VerificationError(method.where, report)
    if mlp.fast_tanh:
        warnings.warn(f"{method.where}: TMVA (>= 4.2.1) evaluates tanh with a fast rational "
                      "approximation that no lwtnn activation reproduces; lwtnn's exact tanh "
                      f"differs from TMVA's response by up to "
                      f"{network.fast_tanh_deviation():.3g} (measured on {DEVIATION_EVENTS} "
                      "events inside the training ranges)", ConversionWarning, stacklevel=2)
    return document


def fold_affine_before(weights, bias, a, c) -> tuple[Exact, Exact]:
    """A dense layer W x + b reading A x + c: (W A) x + (W c + b), exactly."""
    return matmul(weights, a), matmul(weights, c) + Exact.of(bias)


def _undo_targets(network: TmvaNetwork, weights, bias) -> tuple:
    target = tf.target_affine(network.transforms, weights.shape[0])
    if target is None:
        return weights, bias
    half, middle = target
    return Exact.of(weights) * half.reshape(-1, 1), Exact.of(bias) * half + middle


def _activation(mlp: Mlp, is_output: bool) -> str:
    if not is_output:
        return ACTIVATIONS[mlp.hidden]
    return "softmax" if mlp.softmax else mlp.output

