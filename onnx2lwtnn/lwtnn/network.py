"""What both lwtnn formats share: named inputs in, named outputs out, in batches.

``Network.evaluate`` takes raw (unpreprocessed) arrays, checks them against the
network's inputs (a wrong name, width or event count is the caller's mistake:
``ValueError``), applies lwtnn's ``(x + offset) * scale`` and hands the batch to the
subclass. Sequences of varying length are grouped by length into ``SequenceBatch``
so that every later step is vectorised within a group.

``Network.evaluate_event`` takes one event in the form lwtnn's own tools read
(``{node: {variable: value}}``, ``{node: {variable: [value per step]}}``) and applies
lwtnn's per-event rules, which raise ``EvaluationError`` as lwtnn would throw:
a missing node or variable is an error (lwtnn never fills in ``default`` values
itself), the sequence length is that of the alphabetically first variable given and
every variable the node reads must have it.

``default`` values are used only on request (``replace_nan=True``), the way lwtnn's
``NanReplacer`` is meant to be applied to an input map before ``compute``: a NaN in
a vector input variable that has a default is replaced by it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import EvaluationError

SequenceInput = Union[Sequence[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class InputSpec:
    """One input node: its variables in order, their preprocessing and defaults."""

    name: str
    variables: list[str]
    offsets: np.ndarray
    scales: np.ndarray
    defaults: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, variables: Sequence[Mapping[str, Any]],
                  defaults: Mapping[str, float]) -> "InputSpec":
        return cls(
            name=name,
            variables=[v["name"] for v in variables],
            offsets=np.array([v["offset"] for v in variables], dtype=np.float64),
            scales=np.array([v["scale"] for v in variables], dtype=np.float64),
            defaults=dict(defaults),
        )

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """lwtnn's ``(x + offset) * scale`` over the last axis (skipped when it is the
        identity; later layers never write into their input)."""
        if not self.offsets.any() and (self.scales == 1).all():
            return np.asarray(raw, dtype=np.float64)
        return (raw + self.offsets) * self.scales

    def replace_nan(self, raw: np.ndarray) -> np.ndarray:
        """NaN -> the variable's default, where it has one (lwtnn's ``NanReplacer``)."""
        fill = np.array([self.defaults.get(v, np.nan) for v in self.variables])
        return np.where(np.isnan(raw) & ~np.isnan(fill), fill, raw)


@dataclass(frozen=True)
class SequenceBatch:
    """A batch of sequences as groups of equal length: (event indices, [n, steps, vars])."""

    groups: list[tuple[np.ndarray, np.ndarray]]


VECTOR_CHUNK = 4096  # events per pass of a vector-only network (measured best)


class Network(ABC):
    """An lwtnn network ready to evaluate.

    Attributes: ``input_names`` (vector input nodes, in document order),
    ``input_variables`` (node -> variable names, in the order of an input array's
    columns), ``input_defaults`` (node -> {variable: default}, for ``NanReplacer``),
    ``sequence_names``, ``sequence_variables`` (the same for sequence
    inputs) and ``output_labels`` (output name -> labels, the columns of that
    output's array).
    """

    kind: str  # "graph" or "sequential"

    def __init__(self, inputs: Sequence[InputSpec], sequences: Sequence[InputSpec],
                 output_labels: Mapping[str, list[str]],
                 required_inputs: Sequence[str], required_sequences: Sequence[str]):
        self._inputs = {spec.name: spec for spec in inputs}
        self._sequences = {spec.name: spec for spec in sequences}
        self._required_inputs = list(required_inputs)
        self._required_sequences = list(required_sequences)
        self.input_names = [spec.name for spec in inputs]
        self.input_variables = {spec.name: list(spec.variables) for spec in inputs}
        self.input_defaults = {spec.name: dict(spec.defaults) for spec in inputs}
        self.sequence_names = [spec.name for spec in sequences]
        self.sequence_variables = {spec.name: list(spec.variables) for spec in sequences}
        self.output_labels = {name: list(labels) for name, labels in output_labels.items()}

    def evaluate(
        self,
        inputs: Mapping[str, np.ndarray],
        sequences: Optional[Mapping[str, SequenceInput]] = None,
        *,
        replace_nan: bool = False,
    ) -> dict[str, np.ndarray]:
        """Evaluate a batch of events; returns ``{output: array (n_events, n_labels)}``.

        ``inputs[name]``: raw values, shape (n_events, n_variables). ``sequences[name]``:
        a list of n_events arrays (n_steps_i, n_variables), or one array (n_events,
        n_steps, n_variables). Raises ``ValueError`` for arguments that do not fit the
        network and ``EvaluationError`` if lwtnn would refuse some events (its
        ``outputs`` still hold every other event's results). ``replace_nan``: replace
        NaN in vector inputs by the variables' defaults first (lwtnn's NanReplacer).
        """
        sequences = sequences or {}
        _check_names("inputs", inputs, self._inputs, self._required_inputs)
        _check_names("sequences", sequences, self._sequences, self._required_sequences)
        counts: dict[str, int] = {}
        vectors = {}
        for name, values in inputs.items():
            spec = self._inputs[name]
            raw = _vector_array(name, values, len(spec.variables))
            counts[f"inputs[{name!r}]"] = raw.shape[0]
            vectors[name] = spec.preprocess(spec.replace_nan(raw) if replace_nan else raw)
        batches = {}
        for name, values in sequences.items():
            spec = self._sequences[name]
            count, batch = _sequence_batch(name, values, spec)
            counts[f"sequences[{name!r}]"] = count
            batches[name] = batch
        if len(set(counts.values())) > 1:
            raise ValueError(f"inputs disagree on the number of events: {counts}")
        n_events = next(iter(counts.values()), 0)
        if batches or n_events <= VECTOR_CHUNK:
            outputs, refused = self._run(n_events, vectors, batches)
        else:
            outputs, refused = self._run_in_chunks(n_events, vectors)
        if refused:
            raise EvaluationError(refused, outputs)
        return outputs

    def _run_in_chunks(self, n_events: int, vectors: dict[str, np.ndarray]):
        """Vector-only networks, a few thousand events at a time: the intermediate
        arrays stay in cache and their memory is reused, which is faster than one pass
        over every event. (Vector layers never refuse an event.)"""
        pieces = []
        for start in range(0, n_events, VECTOR_CHUNK):
            chunk = {k: v[start:start + VECTOR_CHUNK] for k, v in vectors.items()}
            pieces.append(self._run(len(next(iter(chunk.values()))), chunk, {})[0])
        return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}, {}

    def evaluate_event(
        self,
        inputs: Mapping[str, Mapping[str, float]],
        sequences: Optional[Mapping[str, Mapping[str, Sequence[float]]]] = None,
        *,
        replace_nan: bool = False,
    ) -> dict[str, dict[str, float]]:
        """Evaluate one event given as lwtnn's input maps; returns ``{output: {label: value}}``.

        Raises ``EvaluationError`` where lwtnn would throw for the event (missing node
        or variable, sequence variables of different lengths, refused by a layer).
        """
        sequences = sequences or {}
        arrays = {}
        for name in self._required_inputs:
            values = _node_map(inputs, name, "node")
            row = [_variable(values, var, name) for var in self.input_variables[name]]
            arrays[name] = np.array([row], dtype=np.float64)
        seq_arrays = {}
        for name in self._required_sequences:
            values = _node_map(sequences, name, "sequence node")
            if not values:
                raise EvaluationError({0: f"empty input map for sequence node {name!r}"})
            n_steps = len(values[min(values)])
            columns = []
            for var in self.sequence_variables[name]:
                column = _variable(values, var, name)
                if len(column) != n_steps:
                    raise EvaluationError({0: f"input vector size mismatch in sequence node "
                                              f"{name!r}: {var!r} has {len(column)} steps, "
                                              f"not {n_steps}"})
                columns.append(column)
            steps = np.array(columns, dtype=np.float64).T
            seq_arrays[name] = steps.reshape(1, n_steps, len(columns))
        result = self.evaluate(arrays, seq_arrays, replace_nan=replace_nan)
        return {name: dict(zip(self.output_labels[name], map(float, values[0])))
                for name, values in result.items()}

    @abstractmethod
    def _run(self, n_events: int, vectors: dict[str, np.ndarray],
             sequences: dict[str, SequenceBatch]
             ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        """Outputs for preprocessed inputs, and refused event -> reason."""


def _check_names(what: str, given: Mapping[str, Any], known: Mapping[str, Any],
                 required: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(known))
    missing = [name for name in required if name not in given]
    if unknown or missing:
        raise ValueError(f"{what}: unknown {unknown}, missing {missing}; "
                         f"the network's {what} are {list(known)}")


def _vector_array(name: str, values: Any, n_vars: int) -> np.ndarray:
    raw = np.asarray(values, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != n_vars:
        raise ValueError(f"inputs[{name!r}] has shape {raw.shape}, "
                         f"expected (n_events, {n_vars})")
    return raw


def _sequence_batch(name: str, values: SequenceInput, spec: InputSpec
                    ) -> tuple[int, SequenceBatch]:
    n_vars = len(spec.variables)
    if isinstance(values, np.ndarray):
        if values.ndim != 3 or values.shape[2] != n_vars:
            raise ValueError(f"sequences[{name!r}] has shape {values.shape}, "
                             f"expected (n_events, n_steps, {n_vars})")
        data = values.astype(np.float64, copy=False)
        groups = [(np.arange(len(data)), data)] if len(data) else []
        batch = SequenceBatch([(idx, spec.preprocess(d)) for idx, d in groups])
        return len(data), batch
    events = [np.asarray(event, dtype=np.float64) for event in values]
    for i, arr in enumerate(events):
        if arr.ndim != 2 or arr.shape[1] != n_vars:
            if arr.size:
                raise ValueError(f"sequences[{name!r}][{i}] has shape {arr.shape}, "
                                 f"expected (n_steps, {n_vars})")
            events[i] = arr.reshape(0, n_vars)
    lengths = np.array([len(e) for e in events], dtype=np.intp)
    # one copy of every step, then one gather per length (not one per event)
    flat = np.concatenate(events) if events else np.empty((0, n_vars))
    starts = np.cumsum(lengths) - lengths
    groups = []
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        rows = flat[starts[idx, None] + np.arange(length)]
        groups.append((idx, spec.preprocess(rows)))
    return len(events), SequenceBatch(groups)


def _node_map(maps: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in maps:
        raise EvaluationError({0: f"can't find {what} {name!r}"})
    return maps[name]


def _variable(values: Mapping[str, Any], var: str, node: str) -> Any:
    if var not in values:
        raise EvaluationError({0: f"can't find input {var!r} of node {node!r}"})
    return values[var]
