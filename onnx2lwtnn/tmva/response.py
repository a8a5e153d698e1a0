"""Reference implementations of what TMVA's Reader returns for an MLP, from TMVA's
documented behaviour (its sources): ``tmva_response`` with TMVA's float32 events, float
ranges and fast tanh; ``exact_response``, the same network in float64 with the exact
tanh, which is what an exact conversion to lwtnn computes."""
from __future__ import annotations

import numpy as np

from . import transforms as tf
from .mlp import Mlp, fast_tanh

_ACTIVATIONS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "ReLU": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
}


def exact_response(mlp: Mlp, transforms: list, raw: np.ndarray) -> np.ndarray:
    """[events, outputs] in float64 with the exact tanh."""
    x = tf.apply(transforms, np.asarray(raw, dtype=np.float64), exact=True)
    y = _network(mlp, x, _ACTIVATIONS[mlp.hidden])
    target = tf.target_affine(transforms, y.shape[1])
    return y if target is None else y * target[0].rounded() + target[1].rounded()


def tmva_response(mlp: Mlp, transforms: list, raw: np.ndarray) -> np.ndarray:
    """[events, outputs] as TMVA's Reader computes them: float events, transformations in
    float, the network in double (with the fast tanh from TMVA 4.2.1), regression targets
    and multiclass values stored as float."""
    x = tf.apply(transforms, np.asarray(raw, dtype=np.float32), exact=False)
    hidden = fast_tanh if mlp.fast_tanh else _ACTIVATIONS[mlp.hidden]
    y = _network(mlp, x.astype(np.float64), hidden)
    if mlp.softmax:
        return y.astype(np.float32).astype(np.float64)
    if tf.target_affine(transforms, y.shape[1]) is not None:
        return tf.inverse_targets_tmva(transforms, y).astype(np.float64)
    return y


def _network(mlp: Mlp, x: np.ndarray, hidden) -> np.ndarray:
    last = len(mlp.weights) - 1
    for index, (weights, bias) in enumerate(zip(mlp.weights, mlp.biases)):
        x = x @ weights.T + bias
        x = _ACTIVATIONS[mlp.output](x) if index == last else hidden(x)
    if mlp.softmax:  # TMVA: 1 / (1 + sum_{j != i} exp(y_j - y_i))
        shifted = np.exp(x - x.max(axis=1, keepdims=True))
        x = shifted / shifted.sum(axis=1, keepdims=True)
    return x
