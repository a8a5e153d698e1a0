"""Every event of lwtnn's conformance set, against what the real lwtnn 2.14.1 computed."""
from __future__ import annotations

import numpy as np
import pytest

from onnx2lwtnn.lwtnn import EvaluationError, load_network

from .conformance_data import CONFORMANCE_DIR, NETWORKS, batch, expected_path, load_events, \
    network_params

RTOL = 1e-10


def assert_close(ours: float, theirs: float, where: str) -> None:
    assert abs(ours - theirs) <= RTOL * max(1.0, abs(theirs)), f"{where}: {ours} != {theirs}"


def test_conformance_set_is_complete():
    if not CONFORMANCE_DIR.is_dir():
        pytest.skip(f"lwtnn conformance folder {CONFORMANCE_DIR} not found")
    assert NETWORKS, f"no *.network.json in {CONFORMANCE_DIR}"
    for network in NETWORKS:
        assert expected_path(network).is_file(), f"{network.name} has no expected outputs"
        assert len(load_events(network)) == 20


@pytest.mark.parametrize("network", network_params())
def test_event_by_event(network):
    net = load_network(network)
    compared = 0
    for i, event in enumerate(load_events(network)):
        expected = event["expected_outputs"]
        if "error" in expected:
            with pytest.raises(EvaluationError):
                net.evaluate_event(event["inputs"], event["input_sequences"])
            continue
        ours = net.evaluate_event(event["inputs"], event["input_sequences"])
        assert set(ours) == set(expected)
        for output, labels in expected.items():
            assert set(ours[output]) == set(labels)
            for label, value in labels.items():
                assert_close(ours[output][label], value, f"event {i} {output}/{label}")
                compared += 1
    assert compared > 0


@pytest.mark.parametrize("network", network_params())
def test_batched(network):
    net = load_network(network)
    events = load_events(network)
    refused = [i for i, ev in enumerate(events) if "error" in ev["expected_outputs"]]
    inputs, sequences = batch(events, net)
    if refused:
        with pytest.raises(EvaluationError) as info:
            net.evaluate(inputs, sequences)
        assert info.value.events == refused
        outputs = info.value.outputs
    else:
        outputs = net.evaluate(inputs, sequences)
    for i, event in enumerate(events):
        if i in refused:
            assert all(np.isnan(values[i]).all() for values in outputs.values())
            continue
        for output, labels in event["expected_outputs"].items():
            row = dict(zip(net.output_labels[output], outputs[output][i]))
            for label, value in labels.items():
                assert_close(row[label], value, f"event {i} {output}/{label}")


@pytest.mark.parametrize("network", network_params())
def test_batched_accepted_events_only(network):
    net = load_network(network)
    events = [ev for ev in load_events(network) if "error" not in ev["expected_outputs"]]
    outputs = net.evaluate(*batch(events, net))
    for output, labels in net.output_labels.items():
        assert outputs[output].shape == (len(events), len(labels))
        assert outputs[output].dtype == np.float64
        for i, event in enumerate(events):
            expected = event["expected_outputs"][output]
            for label, value in zip(labels, outputs[output][i]):
                assert_close(value, expected[label], f"event {i} {output}/{label}")


def test_conv1d_refusals_say_why():
    network = CONFORMANCE_DIR / "conv1d_functional.network.json"
    if not network.is_file():
        pytest.skip(f"{network} not found")
    net = load_network(network)
    events = load_events(network)
    with pytest.raises(EvaluationError) as info:
        net.evaluate(*batch(events, net))
    assert info.value.events
    assert all("too short for 'valid' conv1d" in info.value.reasons[i] for i in info.value.events)
    assert "too short" in str(info.value)
