"""Graph-format sequence handling against plain per-event, per-step computations."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import EvaluationError, GraphNetwork, load_network

rng = np.random.default_rng(11)
N_VARS = 3
OFFSETS = np.array([0.5, -1.0, 0.0])
SCALES = np.array([1.5, 0.5, 2.0])


def flat(*shape):
    return rng.normal(size=shape).ravel().tolist()


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    return np.where(x < -30, 0.0, np.where(x > 30, 1.0, 1 / (1 + np.exp(-np.clip(x, -30, 30)))))


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


ACT = {"tanh": np.tanh, "sigmoid": sigmoid, "linear": lambda x: x, "softmax": softmax,
       "rectified": lambda x: np.maximum(x, 0),
       "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1)}


def seq_graph(layer, n_out, n_vars=N_VARS, extra_nodes=(), extra_layers=(), outputs=None):
    return {
        "inputs": [],
        "input_sequences": [{"name": "trk", "variables": [
            {"name": f"s{i}", "offset": float(OFFSETS[i]), "scale": float(SCALES[i])}
            for i in range(n_vars)]}],
        "nodes": [{"type": "input_sequence", "sources": [0], "size": n_vars},
                  {"type": "sequence", "sources": [0], "layer_index": 0}, *extra_nodes],
        "layers": [layer, *extra_layers],
        "outputs": outputs or {"out": {"node_index": 1,
                                       "labels": [f"o{i}" for i in range(n_out)]}},
    }


def rnn_layer(arch, n_in, n_out, act="tanh", inner="hard_sigmoid"):
    gates = {"lstm": "ifco", "gru": "zrh", "simplernn": "h"}[arch]
    layer = {"architecture": arch, "activation": act, "components": {
        g: {"weights": flat(n_out, n_in), "bias": flat(n_out), "U": flat(n_out, n_out)}
        for g in gates}}
    if arch != "simplernn":
        layer["inner_activation"] = inner
    return layer


def sequences(n_events, max_len=6, n_vars=N_VARS, min_len=0):
    return [rng.normal(size=(rng.integers(min_len, max_len + 1), n_vars)) for _ in range(n_events)]


def preprocess(seq):
    return (seq + OFFSETS[:seq.shape[1]]) * SCALES[:seq.shape[1]]


def component(layer, gate, n_in):
    c = layer["components"][gate]
    w = np.reshape(c["weights"], (-1, n_in))
    return w, np.array(c["bias"]), np.reshape(c["U"], (len(w), len(w)))


def ref_rnn(layer, seq):
    """Last hidden state of one event, one step at a time (zeros for no steps)."""
    n_in = seq.shape[1]
    act, inner = ACT[layer["activation"]], ACT[layer.get("inner_activation", "linear")]
    comps = {g: component(layer, g, n_in) for g in layer["components"]}
    n_out = len(next(iter(comps.values()))[1])
    h, cell = np.zeros(n_out), np.zeros(n_out)

    def pre(g, x, state):
        w, b, u = comps[g]
        return w @ x + b + u @ state
    for x in seq:
        if layer["architecture"] == "lstm":
            i, f, o = (inner(pre(g, x, h)) for g in "ifo")
            cell = f * cell + i * act(pre("c", x, h))
            h = o * act(cell)
        elif layer["architecture"] == "gru":
            z, r = inner(pre("z", x, h)), inner(pre("r", x, h))
            hh = act(pre("h", x, r * h))
            h = z * h + (1 - z) * hh
        else:
            h = act(pre("h", x, h))
    return h


def ref_conv1d(layer, seq):
    """All output steps of one event; None if lwtnn refuses it."""
    n_in, n_out = seq.shape[1], len(layer["bias"])
    w = np.reshape(layer["weights"], (n_out, n_in, -1))
    k, d = w.shape[2], layer["dilation_rate"]
    pad = (k - 1) * d
    if layer["padding"] == "valid":
        xp, n_steps = seq, len(seq) - pad
        if n_steps < 1:
            return None
    else:
        front = pad if layer["padding"] == "causal" else (pad + 1) // 2
        xp = np.vstack([np.zeros((front, n_in)), seq, np.zeros((pad - front, n_in))])
        n_steps = len(seq)
    out = np.zeros((n_steps, n_out))
    for t in range(n_steps):
        for o in range(n_out):
            out[t, o] = layer["bias"][o] + sum(w[o, i, j] * xp[t + j * d, i]
                                               for j in range(k) for i in range(n_in))
    act = ACT[layer["activation"]]
    return np.column_stack([act(out[:, o]) for o in range(n_out)]) if n_steps else out


@pytest.mark.parametrize("arch", ["lstm", "gru", "simplernn"])
@pytest.mark.parametrize("inner", ["hard_sigmoid", "sigmoid"])
def test_recurrent_layers(arch, inner):
    layer = rnn_layer(arch, N_VARS, 4, inner=inner)
    net = load_network(seq_graph(layer, 4))
    seqs = sequences(40)
    out = net.evaluate({}, {"trk": seqs})["out"]
    for row, seq in zip(out, seqs):
        np.testing.assert_allclose(row, ref_rnn(layer, preprocess(seq)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch", ["lstm", "gru", "simplernn"])
@pytest.mark.parametrize("act", ["linear", "rectified"])
def test_recurrent_layers_with_other_activations(arch, act):
    """Activations computed in place (relu) or not at all (linear) leave the states be."""
    layer = rnn_layer(arch, N_VARS, 4, act=act, inner="sigmoid")
    net = load_network(seq_graph(layer, 4))
    seqs = sequences(40)
    out = net.evaluate({}, {"trk": seqs})["out"]
    for row, seq in zip(out, seqs):
        np.testing.assert_allclose(row, ref_rnn(layer, preprocess(seq)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel, dilation", [(1, 1), (2, 1), (3, 2), (4, 1)])
def test_conv1d(padding, kernel, dilation):
    layer = {"architecture": "conv1d", "weights": flat(2, N_VARS, kernel), "bias": flat(2),
             "dilation_rate": dilation, "padding": padding, "activation": "softmax"}
    doc = seq_graph(layer, 2, extra_nodes=[{"type": "sum", "sources": [1]}], outputs={
        "last": {"node_index": 1, "labels": ["a", "b"]},
        "sum": {"node_index": 2, "labels": ["a", "b"]}})
    net = load_network(doc)
    seqs = sequences(40, max_len=8)
    expected = [ref_conv1d(layer, preprocess(s)) for s in seqs]
    refused = [i for i, e in enumerate(expected) if e is None]
    if refused:
        with pytest.raises(EvaluationError) as info:
            net.evaluate({}, {"trk": seqs})
        assert info.value.events == refused
        out = info.value.outputs
    else:
        out = net.evaluate({}, {"trk": seqs})
    for i, exp in enumerate(expected):
        if exp is None:
            assert np.isnan(out["last"][i]).all() and np.isnan(out["sum"][i]).all()
            continue
        last = exp[-1] if len(exp) else np.zeros(2)
        np.testing.assert_allclose(out["last"][i], last, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out["sum"][i], exp.sum(axis=0), rtol=1e-12, atol=1e-14)


def test_conv1d_softmax_normalises_over_time():
    layer = {"architecture": "conv1d", "weights": flat(2, N_VARS, 1), "bias": flat(2),
             "dilation_rate": 1, "padding": "valid", "activation": "softmax"}
    doc = seq_graph(layer, 2, extra_nodes=[{"type": "sum", "sources": [1]}],
                    outputs={"sum": {"node_index": 2, "labels": ["a", "b"]}})
    out = load_network(doc).evaluate({}, {"trk": rng.normal(size=(5, 4, N_VARS))})["sum"]
    np.testing.assert_allclose(out, 1.0, rtol=1e-14)


def test_time_distributed_then_sum_and_sequence():
    dense = {"architecture": "dense", "weights": flat(2, N_VARS), "bias": flat(2),
             "activation": "softmax"}
    gru = rnn_layer("gru", 2, 3)
    doc = {
        "inputs": [], "input_sequences": [{"name": "trk", "variables": [
            {"name": f"s{i}", "offset": float(OFFSETS[i]), "scale": float(SCALES[i])}
            for i in range(N_VARS)]}],
        "nodes": [{"type": "sum", "sources": [2]},                        # forward reference
                  {"type": "input_sequence", "sources": [0], "size": N_VARS},
                  {"type": "time_distributed", "sources": [1], "layer_index": 0},
                  {"type": "sequence", "sources": [2], "layer_index": 1},
                  {"type": "concatenate", "sources": [0, 3]}],
        "layers": [dense, gru],
        "outputs": {"cat": {"node_index": 4, "labels": list("abcde")}},
    }
    net = load_network(doc)
    seqs = sequences(30)
    out = net.evaluate({}, {"trk": seqs})["cat"]
    w, b = np.reshape(dense["weights"], (2, N_VARS)), np.array(dense["bias"])
    for row, seq in zip(out, seqs):
        steps = np.array([softmax(w @ x + b) for x in preprocess(seq)]).reshape(-1, 2)
        expected = np.concatenate([steps.sum(axis=0), ref_rnn(gru, steps)])
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-14)


def test_zero_length_sequences_give_zeros():
    # sigmoid gates: a hard_sigmoid gate can be exactly 0 for some draws of the module's
    # generator, whose state depends on which tests ran before (xdist, mutmut)
    net = load_network(seq_graph(rnn_layer("lstm", N_VARS, 2, inner="sigmoid"), 2))
    out = net.evaluate({}, {"trk": [np.zeros((0, N_VARS)), [], rng.normal(size=(2, N_VARS))]})
    assert out["out"][:2].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert np.all(out["out"][2] != 0)
    event = net.evaluate_event({}, {"trk": {"s0": [], "s1": [], "s2": []}})
    assert event == {"out": {"o0": 0.0, "o1": 0.0}}


def embedding_doc(index, n_vars=N_VARS):
    layer = {"architecture": "embedding", "sublayers": [
        {"index": index, "n_out": 2, "weights": flat(2, 4)}]}
    n_out = n_vars + 1
    doc = seq_graph(layer, n_out, n_vars=n_vars,
                    extra_nodes=[{"type": "sum", "sources": [1]}],
                    outputs={"sum": {"node_index": 2, "labels": [f"e{i}" for i in range(n_out)]}})
    for var in doc["input_sequences"][0]["variables"]:
        var.update(offset=0.0, scale=1.0)
    return doc, np.reshape(layer["sublayers"][0]["weights"], (2, 4))


def test_embedding_of_last_variable():
    doc, table = embedding_doc(index=2)
    net = load_network(doc)
    seqs = [np.column_stack([rng.normal(size=(t, 2)), rng.integers(0, 4, size=t)])
            for t in (1, 2, 5, 0)]
    out = net.evaluate({}, {"trk": seqs})["sum"]
    for row, seq in zip(out, seqs):
        expected = [np.concatenate([x[:2], table[:, int(x[2])]]) for x in seq]
        np.testing.assert_allclose(row, np.sum(expected, axis=0) if len(seq) else 0, rtol=1e-14)


def test_embedding_refusals():
    doc, table = embedding_doc(index=0)
    net = load_network(doc)
    good = np.column_stack([[1, 3, 0], rng.normal(size=(3, 2))])  # 3 steps == 3 variables
    seqs = [good, good[:2], np.column_stack([[1.5, 0, 0], rng.normal(size=(3, 2))]),
            np.column_stack([[4, 0, 0], rng.normal(size=(3, 2))])]
    with pytest.raises(EvaluationError) as info:
        net.evaluate({}, {"trk": seqs})
    assert info.value.events == [1, 2, 3]
    assert "mis-copies" in info.value.reasons[1]
    assert "invalid embedding index" in info.value.reasons[2]
    expected = sum(np.concatenate([table[:, int(x[0])], x[1:]]) for x in good)
    np.testing.assert_allclose(info.value.outputs["sum"][0], expected, rtol=1e-14)


def mixed_doc():
    """A vector branch and a conv1d branch with separate outputs."""
    conv = {"architecture": "conv1d", "weights": flat(2, N_VARS, 3), "bias": flat(2),
            "dilation_rate": 1, "padding": "valid", "activation": "tanh"}
    dense = {"architecture": "dense", "weights": flat(2, 4), "bias": flat(2),
             "activation": {"function": "swish", "alpha": 0.8}}
    doc = seq_graph(conv, 2, extra_nodes=[
        {"type": "input", "sources": [0], "size": 2},
        {"type": "concatenate", "sources": [1, 2]},
        {"type": "feed_forward", "sources": [2], "layer_index": 1}],
        extra_layers=[dense], outputs={
            "both": {"node_index": 3, "labels": list("abcd")},
            "vec": {"node_index": 4, "labels": ["x", "y"]}})
    doc["layers"][1]["weights"] = flat(2, 2)
    doc["inputs"] = [{"name": "jet", "variables": [
        {"name": "pt", "offset": 1.0, "scale": 0.5, "default": 7.0},
        {"name": "eta", "offset": 0.0, "scale": 1.0}]}]
    return doc


def test_refusals_are_per_output():
    net = load_network(mixed_doc())
    jets = rng.normal(size=(4, 2))
    seqs = [rng.normal(size=(t, N_VARS)) for t in (3, 2, 5, 1)]
    with pytest.raises(EvaluationError) as info:
        net.evaluate({"jet": jets}, {"trk": seqs})
    assert info.value.events == [1, 3]
    both, vec = info.value.outputs["both"], info.value.outputs["vec"]
    assert np.isnan(both[[1, 3]]).all() and np.isfinite(both[[0, 2]]).all()
    assert np.isfinite(vec).all()
    np.testing.assert_array_equal(both[:, 2:][[0, 2]], ((jets + [1.0, 0.0]) * [0.5, 1.0])[[0, 2]])


def test_batched_equals_event_by_event():
    net = load_network(mixed_doc())
    jets = rng.normal(size=(25, 2))
    seqs = sequences(25, max_len=7, min_len=3)
    batched = net.evaluate({"jet": jets}, {"trk": seqs})
    for i in range(25):
        one = net.evaluate_event({"jet": {"pt": jets[i, 0], "eta": jets[i, 1]}},
                                 {"trk": {f"s{k}": seqs[i][:, k].tolist() for k in range(N_VARS)}})
        for name, labels in net.output_labels.items():
            np.testing.assert_allclose(batched[name][i], [one[name][lab] for lab in labels],
                                       rtol=1e-14)


def test_equal_length_array_form():
    net = load_network(mixed_doc())
    jets, seqs = rng.normal(size=(6, 2)), rng.normal(size=(6, 4, N_VARS))
    as_array = net.evaluate({"jet": jets}, {"trk": seqs})
    as_list = net.evaluate({"jet": jets}, {"trk": list(seqs)})
    for name in as_array:
        np.testing.assert_array_equal(as_array[name], as_list[name])


def test_interface_and_required_inputs():
    net = load_network(mixed_doc())
    assert isinstance(net, GraphNetwork)
    assert net.input_names == ["jet"] and net.input_variables == {"jet": ["pt", "eta"]}
    assert net.sequence_names == ["trk"]
    assert net.sequence_variables == {"trk": ["s0", "s1", "s2"]}
    assert net.output_labels == {"both": list("abcd"), "vec": ["x", "y"]}
    assert net.evaluate({"jet": np.zeros((0, 2))}, {"trk": []})["vec"].shape == (0, 2)


def test_argument_errors():
    net = load_network(mixed_doc())
    jets, seqs = np.zeros((3, 2)), sequences(3, min_len=3)
    with pytest.raises(ValueError, match="missing \\['trk'\\]"):
        net.evaluate({"jet": jets})
    with pytest.raises(ValueError, match="unknown \\['jets'\\]"):
        net.evaluate({"jets": jets}, {"trk": seqs})
    with pytest.raises(ValueError, match="expected \\(n_events, 2\\)"):
        net.evaluate({"jet": np.zeros((3, 3))}, {"trk": seqs})
    with pytest.raises(ValueError, match="expected \\(n_steps, 3\\)"):
        net.evaluate({"jet": jets}, {"trk": [np.zeros((2, 2))] * 3})
    with pytest.raises(ValueError, match="number of events"):
        net.evaluate({"jet": np.zeros((4, 2))}, {"trk": seqs})


def test_event_form_refusals_and_defaults():
    net = load_network(mixed_doc())
    trk = {"s0": [1.0, 2.0, 3.0], "s1": [0.0, 1.0, 2.0], "s2": [5.0, 5.0, 5.0]}
    jet = {"pt": float("nan"), "eta": 0.5}
    with pytest.raises(EvaluationError, match="can't find node 'jet'"):
        net.evaluate_event({}, {"trk": trk})
    with pytest.raises(EvaluationError, match="can't find input 'eta'"):
        net.evaluate_event({"jet": {"pt": 1.0}}, {"trk": trk})
    with pytest.raises(EvaluationError, match="size mismatch"):
        net.evaluate_event({"jet": jet}, {"trk": {**trk, "s2": [5.0]}})
    with pytest.raises(EvaluationError, match="empty input map"):
        net.evaluate_event({"jet": jet}, {"trk": {}})
    # lwtnn takes the length from the alphabetically first variable given, even an unused one
    with pytest.raises(EvaluationError, match="size mismatch"):
        net.evaluate_event({"jet": jet}, {"trk": {**trk, "a_extra": [1.0]}})
    assert np.isnan(net.evaluate_event({"jet": jet}, {"trk": trk})["vec"]["x"])
    filled = net.evaluate_event({"jet": jet}, {"trk": trk}, replace_nan=True)
    same = net.evaluate_event({"jet": {**jet, "pt": 7.0}}, {"trk": trk})
    assert filled == same


def test_a_5000_node_chain_loads_and_evaluates_without_recursion():
    """Graph depth is the user's to choose: building and evaluating must not recurse."""
    depth = 5000
    doc = {
        "inputs": [{"name": "in", "variables": [{"name": "a", "offset": 0, "scale": 1}]}],
        "input_sequences": [],
        "nodes": [{"type": "input", "sources": [0], "size": 1}]
        + [{"type": "feed_forward", "sources": [i], "layer_index": 0} for i in range(depth)],
        "layers": [{"architecture": "dense", "weights": [1.0], "bias": [1.0],
                    "activation": "linear"}],
        "outputs": {"out": {"node_index": depth, "labels": ["y"]}},
    }
    net = load_network(doc)
    out = net.evaluate({"in": np.array([[0.0], [2.0]])})["out"]
    np.testing.assert_array_equal(out, [[depth], [depth + 2.0]])
