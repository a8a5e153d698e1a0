"""Evaluation in chunks, on several threads and in order of length gives what evaluating
one event at a time gives, whichever form the sequences come in."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import EvaluationError, load_network
from onnx2lwtnn.lwtnn import parallel
from onnx2lwtnn.lwtnn.network import CHUNK, _chunks

rng = np.random.default_rng(5)
N_EVENTS = 2 * CHUNK + 700  # several chunks, and a short last one
KERNEL = 3  # the 'valid' conv1d refuses clusters shorter than this


def flat(*shape):
    return rng.normal(size=shape).ravel().tolist()


def network():
    """jet (vector) + trk -> LSTM (last step) + clu -> valid conv1d -> sum, concatenated
    into a softmax: two ragged inputs, and events refused by one branch."""
    lstm = {"architecture": "lstm", "activation": "tanh", "inner_activation": "sigmoid",
            "components": {g: {"weights": flat(4, 3), "bias": flat(4), "U": flat(4, 4)}
                           for g in "ifco"}}
    conv = {"architecture": "conv1d", "weights": flat(2, 2, KERNEL), "bias": flat(2),
            "dilation_rate": 1, "padding": "valid", "activation": "tanh"}
    dense = {"architecture": "dense", "weights": flat(3, 8), "bias": flat(3),
             "activation": "softmax"}
    return load_network({
        "inputs": [{"name": "jet", "variables": [
            {"name": "pt", "offset": 1.0, "scale": 0.5}, {"name": "eta", "offset": 0.0,
                                                          "scale": 2.0}]}],
        "input_sequences": [
            {"name": "trk", "variables": [{"name": f"t{i}", "offset": 0.5, "scale": 1.5}
                                          for i in range(3)]},
            {"name": "clu", "variables": [{"name": f"c{i}", "offset": 0.0, "scale": 1.0}
                                          for i in range(2)]}],
        "nodes": [{"type": "input", "sources": [0], "size": 2},
                  {"type": "input_sequence", "sources": [0], "size": 3},
                  {"type": "input_sequence", "sources": [1], "size": 2},
                  {"type": "sequence", "sources": [1], "layer_index": 0},
                  {"type": "sequence", "sources": [2], "layer_index": 1},
                  {"type": "sum", "sources": [4]},
                  {"type": "concatenate", "sources": [3, 5, 0]},
                  {"type": "feed_forward", "sources": [6], "layer_index": 2}],
        "layers": [lstm, conv, dense],
        "outputs": {"out": {"node_index": 7, "labels": ["a", "b", "c"]}},
    })


NET = network()
JETS = rng.normal(size=(N_EVENTS, 2))
TRK_LENGTHS = rng.integers(0, 10, size=N_EVENTS)
CLU_LENGTHS = rng.integers(0, 7, size=N_EVENTS)
TRK_PADDED = rng.normal(size=(N_EVENTS, TRK_LENGTHS.max(), 3))
CLU_PADDED = rng.normal(size=(N_EVENTS, CLU_LENGTHS.max(), 2))
TRK = [TRK_PADDED[i, :n] for i, n in enumerate(TRK_LENGTHS)]
CLU = [CLU_PADDED[i, :n] for i, n in enumerate(CLU_LENGTHS)]


def outputs(**kwargs):
    """The outputs, NaN rows for refused events, and the refused events."""
    with pytest.raises(EvaluationError) as refusal:
        NET.evaluate({"jet": JETS}, **kwargs)
    return refusal.value.outputs["out"], refusal.value.events


def test_chunked_and_ordered_equals_event_by_event():
    batched, refused = outputs(sequences={"trk": TRK, "clu": CLU}, threads=2)
    assert refused == np.flatnonzero(CLU_LENGTHS < KERNEL).tolist()
    sample = rng.choice(N_EVENTS, size=150, replace=False)
    for i in sample:
        trk = {f"t{k}": TRK[i][:, k].tolist() for k in range(3)}
        clu = {f"c{k}": CLU[i][:, k].tolist() for k in range(2)}
        jet = {"pt": JETS[i, 0], "eta": JETS[i, 1]}
        if i in refused:
            assert np.isnan(batched[i]).all()
            with pytest.raises(EvaluationError, match="too short for 'valid' conv1d"):
                NET.evaluate_event({"jet": jet}, {"trk": trk, "clu": clu})
            continue
        one = NET.evaluate_event({"jet": jet}, {"trk": trk, "clu": clu})["out"]
        np.testing.assert_allclose(batched[i], [one[k] for k in "abc"], rtol=1e-13, atol=0)


def test_threads_and_sequence_forms_agree():
    reference, refused = outputs(sequences={"trk": TRK, "clu": CLU}, threads=1)
    padded = {"trk": TRK_PADDED, "clu": CLU_PADDED}
    lengths = {"trk": TRK_LENGTHS, "clu": CLU_LENGTHS}
    for kwargs in ({"sequences": {"trk": TRK, "clu": CLU}, "threads": 2},
                   {"sequences": padded, "lengths": lengths, "threads": 2},
                   {"sequences": padded, "lengths": lengths},
                   {"sequences": {"trk": TRK, "clu": CLU_PADDED},
                    "lengths": {"clu": CLU_LENGTHS}}):
        got, got_refused = outputs(**kwargs)
        assert got_refused == refused
        np.testing.assert_array_equal(got, reference)


NET_DOC_ONE_SEQUENCE = {
    "inputs": [],
    "input_sequences": [{"name": "trk", "variables": [
        {"name": f"t{i}", "offset": 0.0, "scale": 1.0} for i in range(3)]}],
    "nodes": [{"type": "input_sequence", "sources": [0], "size": 3},
              {"type": "sequence", "sources": [0], "layer_index": 0}],
    "layers": [{"architecture": "gru", "activation": "tanh", "inner_activation": "sigmoid",
                "components": {g: {"weights": flat(2, 3), "bias": flat(2), "U": flat(2, 2)}
                               for g in "zrh"}}],
    "outputs": {"out": {"node_index": 1, "labels": ["a", "b"]}},
}


def test_equal_lengths_in_any_form_agree():
    net = load_network(NET_DOC_ONE_SEQUENCE)
    trk = rng.normal(size=(CHUNK + 5, 4, 3))
    as_array = net.evaluate({}, {"trk": trk})["out"]
    np.testing.assert_array_equal(net.evaluate({}, {"trk": list(trk)}, threads=2)["out"], as_array)
    np.testing.assert_array_equal(
        net.evaluate({}, {"trk": trk}, lengths={"trk": np.full(len(trk), 4)})["out"], as_array)
    assert net.evaluate({}, {"trk": trk[:0]})["out"].shape == (0, 2)


@pytest.mark.parametrize("lengths, message", [
    ({"trk": np.full(N_EVENTS, 10)}, "one integer in \\[0, 9\\]"),
    ({"trk": np.full(N_EVENTS, -1)}, "one integer in \\[0, 9\\]"),
    ({"trk": TRK_LENGTHS[:-1]}, "per event"),
    ({"trk": TRK_LENGTHS.astype(float)}, "one integer"),
    ({"tracks": TRK_LENGTHS}, "'tracks'\\] name no array"),
])
def test_lengths_that_do_not_fit_are_refused(lengths, message):
    with pytest.raises(ValueError, match=message):
        NET.evaluate({"jet": JETS}, {"trk": TRK_PADDED, "clu": CLU}, lengths=lengths)


@pytest.mark.parametrize("threads", [0, -1, 2.0, True, "2", parallel.MAX_THREADS + 1])
def test_invalid_thread_counts_are_refused(threads):
    with pytest.raises(ValueError, match="threads must be an integer"):
        NET.evaluate({"jet": JETS}, {"trk": TRK, "clu": CLU}, threads=threads)


def test_chunks_cover_every_event_once_longest_first():
    first, second = rng.integers(0, 30, size=(2, 3 * CHUNK + 5))
    order, chunks = _chunks(len(first), [first, second])
    assert np.array_equal(np.concatenate(chunks), order)
    assert sorted(order.tolist()) == list(range(len(first)))
    assert [len(c) for c in chunks] == [CHUNK] * 3 + [5]
    keys = second[order] * 100 + first[order]  # the last input decides, then the others
    assert (np.diff(keys) <= 0).all()
    assert _chunks(0, [])[1] == [slice(0, 0)]


def test_map_chunks_keeps_order_and_passes_errors_on():
    assert parallel.map_chunks(lambda n: n * n, list(range(50)), threads=3) == \
        [n * n for n in range(50)]

    def fail_on_7(n):
        if n == 7:
            raise KeyError("seven")
        return n
    with pytest.raises(KeyError, match="seven"):
        parallel.map_chunks(fail_on_7, list(range(20)), threads=2)


@pytest.mark.skipif(parallel._openblas() is None, reason="numpy's BLAS here is not OpenBLAS")
def test_openblas_holds_one_thread_while_chunks_run_then_is_restored():
    blas = parallel._openblas()
    before = blas.get()
    for threads in (2, 1):  # an explicit 1 holds it too: one core in all
        seen = parallel.map_chunks(lambda _: blas.get(), list(range(8)), threads=threads)
        assert seen == [1] * 8 and blas.get() == before
    # sections overlapping in time (two callers' threads) restore it once both end
    barrier = threading.Barrier(2)

    def section(_):
        with blas.single_threaded():
            barrier.wait()
            return blas.get()
    callers = [threading.Thread(target=section, args=(i,)) for i in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert blas.get() == before and parallel.default_threads() == max(1, before)
