"""The recipe of docs/user-guide.md ("for CMS and correctionlib users", at scale): a
converted CorrectionSet evaluated on dask-awkward arrays by a distributed.LocalCluster
of two worker processes gives exactly what the same correction gives in this process.

Per-jet inputs are jagged (events x jets), the fold comes from the event number, as in
a columnar analysis; the arrays are small so that this runs in seconds on two cores."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from onnx2lwtnn import fold_conversion
from onnx2lwtnn.errors import ConversionWarning

from .support import FIXTURES

correctionlib = pytest.importorskip("correctionlib", reason="needs correctionlib: "
                                    "pip install '.[dask]'")
ak = pytest.importorskip("awkward", reason="needs awkward: pip install '.[dask]'")
dak = pytest.importorskip("dask_awkward", reason="needs dask-awkward: pip install '.[dask]'")
distributed = pytest.importorskip("distributed", reason="needs distributed: "
                                  "pip install '.[dask]'")

VARIABLES = ["lep_pt", "lep_eta", "met", "mjj", "detajj", "n_jets", "ht", "dr_ll"]
EVENTS, PARTITIONS = 4000, 4


@pytest.fixture(scope="module")
def correction_set():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        converted = fold_conversion(
            [FIXTURES / "cset_fold_odd.onnx", FIXTURES / "cset_fold_even.onnx"],
            fold_input="fold", correction_name="dnn",
            variables=[FIXTURES / "cset_fold_odd.variables.json",
                       FIXTURES / "cset_fold_even.variables.json"])
    return correctionlib.CorrectionSet.from_string(json.dumps(converted.document))


def _events() -> "ak.Array":
    """Events with a jagged number of candidates, each with the network's 8 variables."""
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 4, EVENTS)
    flat = {name: rng.normal(50.0, 30.0, counts.sum()) for name in VARIABLES}
    candidates = ak.unflatten(ak.zip(flat), counts)
    return ak.zip({"event": np.arange(EVENTS) * 7 + 3, "candidates": candidates},
                  depth_limit=1)


def _score(correction, events):
    """The recipe: the fold from the event number, broadcast to the candidates."""
    fold = events.event % 2
    candidates = events.candidates
    fold, _ = ak.broadcast_arrays(fold, candidates.lep_pt) if not hasattr(
        fold, "dask") else dak.broadcast_arrays(fold, candidates.lep_pt)
    return correction.evaluate(*(candidates[name] for name in VARIABLES), fold)


def test_a_local_cluster_gives_what_this_process_gives(correction_set):
    correction = correction_set["dnn_scores_0"]
    events = _events()
    here = _score(correction, events)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        lazy = _score(correction, dak.from_awkward(events, npartitions=PARTITIONS))
        there = lazy.compute()
        workers = len(client.scheduler_info()["workers"])
    assert workers == 2
    assert ak.all(ak.num(there, axis=1) == ak.num(events.candidates, axis=1))
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(there)),
                                  ak.to_numpy(ak.flatten(here)))
    assert ak.count(here) > EVENTS  # candidates, not events: the jagged inputs were used
    assert 0.0 < float(ak.min(here)) and float(ak.max(here)) < 1.0  # softmax scores
