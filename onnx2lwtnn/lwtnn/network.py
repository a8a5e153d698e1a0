"""What both lwtnn formats share: named inputs in, named outputs out, in batches.

``Network.evaluate`` takes raw (unpreprocessed) arrays, checks them against the
network's inputs (a wrong name, width or event count is the caller's mistake:
``ValueError``), then evaluates chunks of ``CHUNK`` events, in parallel
(``parallel``): each chunk is converted to float64, gets lwtnn's ``(x + offset) *
scale`` and goes to the subclass, its arrays small enough to stay in cache. Events
with sequences of varying length (a list of arrays, or one padded array and
``lengths``) are taken longest first, so a chunk holds events of similar length, as one
padded array (what a recurrent scan reads) and grouped by length into
``SequenceBatch`` (what every other sequence layer reads, vectorised within a group).

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
from numpy.lib.stride_tricks import as_strided

from .errors import EvaluationError
from .parallel import map_chunks

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
    """A batch of sequences as groups of equal length: (event indices, [n, steps, vars]).

    ``padded``: where the events come longest first, all of them as one array
    ``[n, longest, vars]`` (zeros past an event's length) with their lengths, of which
    the groups are views: what a recurrent scan reads without regrouping.
    """

    groups: list[tuple[np.ndarray, np.ndarray]]
    padded: Optional[tuple[np.ndarray, np.ndarray]] = None

    @classmethod
    def from_padded(cls, data: np.ndarray, lengths: np.ndarray) -> "SequenceBatch":
        """Events longest first in ``data``: each length's events are a block of rows."""
        if not len(lengths):
            return cls([])
        groups = [(np.arange(start, stop), data[start:stop, :lengths[start]])
                  for start, stop in _blocks(lengths)]
        return cls(groups, (data, lengths))


def _blocks(lengths: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal lengths."""
    bounds = (np.flatnonzero(np.diff(lengths)) + 1).tolist()
    return list(zip([0, *bounds], [*bounds, len(lengths)]))


Rows = Union[slice, np.ndarray]  # a chunk's events: a range, or indices in evaluation order


@dataclass(frozen=True)
class EqualSequences:
    """A sequence input whose events all have the same length: ``[n, steps, vars]``."""

    array: np.ndarray

    def __len__(self) -> int:
        return len(self.array)

    def batch(self, rows: Rows, spec: InputSpec) -> SequenceBatch:
        """The events ``rows`` (numbered 0... in the batch), preprocessed."""
        data = spec.preprocess(self.array[rows])
        return SequenceBatch.from_padded(data, np.full(len(data), data.shape[1]))


@dataclass(frozen=True)
class RaggedSequences:
    """A sequence input whose events differ in length: event i is ``lengths[i]`` rows
    of ``flat`` (``[rows, vars]``, C-contiguous) from ``starts[i]``, and at least as
    many rows as the longest event follow every start. A list of events is stacked into
    ``flat`` in the order given (which reads memory in order), then zeros; a padded
    array ``[n, steps, vars]`` is ``flat`` as it is, event i from row ``i * steps``."""

    flat: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: Rows, spec: InputSpec) -> SequenceBatch:
        """The events ``rows`` (numbered 0... in the batch), preprocessed and grouped
        by length: gathered in one go, padded, where they come longest first (as the
        events of the input that ordered the evaluation do) and padding would at most
        double them, else per length (so one long event never pads the others)."""
        lengths, starts = self.lengths[rows], self.starts[rows]
        if len(lengths) and (np.diff(lengths) <= 0).all() and (
                len(lengths) * int(lengths[0]) <= 2 * int(lengths.sum()) + len(lengths)):
            longest = int(lengths[0])
            steps = self._windows(longest)[starts]
            for start, stop in _blocks(lengths)[1:]:  # what lies past an event: zeros
                steps[start:stop, lengths[start]:] = 0.0
            return SequenceBatch.from_padded(spec.preprocess(steps), lengths)
        groups = []
        for length in np.unique(lengths):
            local = np.flatnonzero(lengths == length)
            groups.append((local, spec.preprocess(self._windows(length)[starts[local]])))
        return SequenceBatch(groups)

    def _windows(self, length: int) -> np.ndarray:
        """Every run of ``length`` consecutive steps of ``flat``, a read-only view
        ``[n, length, vars]``: an event of that length is the run at its start."""
        n_steps, n_vars = self.flat.shape
        return as_strided(self.flat, shape=(n_steps - length + 1, length, n_vars),
                          strides=(self.flat.strides[0],) + self.flat.strides, writeable=False)


CHUNK = 2048  # events per chunk (measured best of 512 to 4096, vector and recurrent)


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
        lengths: Optional[Mapping[str, np.ndarray]] = None,
        threads: Optional[int] = None,
    ) -> dict[str, np.ndarray]:
        """Evaluate a batch of events; returns ``{output: array (n_events, n_labels)}``.

        ``inputs[name]``: raw values, shape (n_events, n_variables). ``sequences[name]``:
        a list of n_events arrays (n_steps_i, n_variables), or one array (n_events,
        n_steps, n_variables). Raises ``ValueError`` for arguments that do not fit the
        network and ``EvaluationError`` if lwtnn would refuse some events (its
        ``outputs`` still hold every other event's results). ``replace_nan``: replace
        NaN in vector inputs by the variables' defaults first (lwtnn's NanReplacer).
        ``lengths[name]``: for a sequence given as one array, each event's number of
        steps (the steps after it are padding, never read): the fastest form for
        sequences of varying length, as it needs no Python object per event.
        ``threads``: how many chunks of events run at once (default: as many as
        numpy's BLAS would use, see ``parallel``).
        """
        sequences = sequences or {}
        _check_names("inputs", inputs, self._inputs, self._required_inputs)
        _check_names("sequences", sequences, self._sequences, self._required_sequences)
        counts: dict[str, int] = {}
        vectors = {}
        for name, values in inputs.items():
            vectors[name] = _vector_array(name, values, len(self._inputs[name].variables))
            counts[f"inputs[{name!r}]"] = len(vectors[name])
        lengths = lengths or {}
        unknown = sorted(set(lengths) - set(sequences))
        if unknown:
            raise ValueError(f"lengths: {unknown} name no array in sequences")
        events: dict[str, Union[EqualSequences, RaggedSequences]] = {}
        for name, values in sequences.items():
            n_vars = len(self._sequences[name].variables)
            if name in lengths:
                events[name] = _padded_sequences(name, values, lengths[name], n_vars)
            elif isinstance(values, np.ndarray):
                events[name] = EqualSequences(_sequence_array(name, values, n_vars))
            else:
                events[name] = _ragged_sequences(name, list(values), n_vars)
            counts[f"sequences[{name!r}]"] = len(events[name])
        if len(set(counts.values())) > 1:
            raise ValueError(f"inputs disagree on the number of events: {counts}")
        n_events = next(iter(counts.values()), 0)
        ragged = [e.lengths for e in events.values() if isinstance(e, RaggedSequences)]
        order, chunks = _chunks(n_events, ragged)

        event_ids = np.arange(n_events)

        def evaluate_chunk(rows: Rows):
            chunk_vectors = {}
            for name, raw in vectors.items():
                spec = self._inputs[name]
                chunk_vectors[name] = spec.preprocess(
                    spec.replace_nan(raw[rows]) if replace_nan else raw[rows])
            batches = {name: e.batch(rows, self._sequences[name]) for name, e in events.items()}
            return self._run(len(event_ids[rows]), chunk_vectors, batches)

        outputs: dict[str, np.ndarray] = {}
        refused: dict[int, str] = {}
        for rows, (chunk_outputs, chunk_refused) in zip(
                chunks, map_chunks(evaluate_chunk, chunks, threads)):
            for name, values in chunk_outputs.items():
                if name not in outputs:
                    outputs[name] = np.empty((n_events,) + values.shape[1:])
                outputs[name][rows] = values
            ids = event_ids[rows]
            refused.update((int(ids[i]), why) for i, why in chunk_refused.items())
        if refused:
            raise EvaluationError(refused, outputs)
        return outputs

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


def _chunks(n_events: int, ragged: list[np.ndarray]
            ) -> tuple[Optional[np.ndarray], list[Rows]]:
    """The evaluation order (None: as given) and its chunks of ``CHUNK`` events.

    Events with ragged sequences go longest first (by the last such input, then the
    others): a chunk then holds events of similar length, which a recurrent scan runs
    as one padded array, each event dropping out when it ends.
    """
    if not ragged:
        return None, [slice(start, min(start + CHUNK, n_events))
                      for start in range(0, max(n_events, 1), CHUNK)]
    order = np.arange(n_events)
    for lengths in ragged:  # stable sorts, the last input's last: it decides first
        key = lengths.max(initial=0) - lengths[order]  # small unsigned ints: a radix sort
        order = order[np.argsort(key.astype(np.min_scalar_type(key.max(initial=0))),
                                 kind="stable")]
    return order, [order[start:start + CHUNK] for start in range(0, max(n_events, 1), CHUNK)]


def _check_names(what: str, given: Mapping[str, Any], known: Mapping[str, Any],
                 required: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(known))
    missing = [name for name in required if name not in given]
    if unknown or missing:
        raise ValueError(f"{what}: unknown {unknown}, missing {missing}; "
                         f"the network's {what} are {list(known)}")


def _floats(values: Any) -> np.ndarray:
    """An array of floats: float32 and float64 as given (each chunk becomes float64 as
    it is evaluated, in cache), anything else converted to float64 now."""
    raw = np.asarray(values)
    return raw if raw.dtype in (np.float32, np.float64) else raw.astype(np.float64)


def _vector_array(name: str, values: Any, n_vars: int) -> np.ndarray:
    raw = _floats(values)
    if raw.ndim != 2 or raw.shape[1] != n_vars:
        raise ValueError(f"inputs[{name!r}] has shape {raw.shape}, "
                         f"expected (n_events, {n_vars})")
    return raw


def _sequence_array(name: str, values: np.ndarray, n_vars: int) -> np.ndarray:
    data = _floats(values)
    if data.ndim != 3 or data.shape[2] != n_vars:
        raise ValueError(f"sequences[{name!r}] has shape {values.shape}, "
                         f"expected (n_events, n_steps, {n_vars})")
    return data


def _padded_sequences(name: str, values: Any, lengths: Any, n_vars: int) -> RaggedSequences:
    data = _sequence_array(name, values, n_vars)
    n_events, n_steps = data.shape[:2]
    counts = np.asarray(lengths)
    if (counts.shape != (n_events,) or counts.dtype.kind not in "iu"
            or (counts < 0).any() or (counts > n_steps).any()):
        raise ValueError(f"lengths[{name!r}] must hold one integer in [0, {n_steps}] per "
                         f"event ({n_events})")
    counts = counts.astype(np.intp)
    return RaggedSequences(np.ascontiguousarray(data).reshape(-1, n_vars),
                           np.arange(n_events) * n_steps, counts)


def _ragged_sequences(name: str, values: list, n_vars: int) -> RaggedSequences:
    try:  # one copy of every step, checked as a whole; event by event only if that fails
        lengths = np.fromiter(map(len, values), dtype=np.intp, count=len(values))
        flat = _stack(values, lengths, n_vars)
        stacked = (flat.ndim == 2 and flat.shape[1] == n_vars and flat.dtype.kind in "biuf"
                   and len(flat) == lengths.sum() + lengths.max(initial=0))
    except (TypeError, ValueError):
        stacked = False
    if not stacked:
        values = _checked_events(name, values, n_vars)
        lengths = np.array([len(e) for e in values], dtype=np.intp)
        flat = _stack(values, lengths, n_vars)
    return RaggedSequences(flat, np.cumsum(lengths) - lengths, lengths)


def _stack(events: list, lengths: np.ndarray, n_vars: int) -> np.ndarray:
    """The events' steps one after another, then as many zero steps as the longest has,
    in the events' own type (float32 stays float32: each chunk is widened as it runs,
    and no cast is set up per event)."""
    first = np.asarray(events[0]) if events else np.empty(0)
    dtype = first.dtype if first.dtype in (np.float32, np.float64) else np.float64
    return np.concatenate([*events, np.zeros((int(lengths.max(initial=0)), n_vars), dtype)])


def _checked_events(name: str, values: list, n_vars: int) -> list[np.ndarray]:
    """Every event as a float64 ``[n_steps, n_vars]`` array (an empty one of any shape
    is an empty sequence); names the first one of another shape."""
    events = [np.asarray(event, dtype=np.float64) for event in values]
    for i, arr in enumerate(events):
        if arr.ndim != 2 or arr.shape[1] != n_vars:
            if arr.size:
                raise ValueError(f"sequences[{name!r}][{i}] has shape {arr.shape}, "
                                 f"expected (n_steps, {n_vars})")
            events[i] = arr.reshape(0, n_vars)
    return events


def _node_map(maps: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in maps:
        raise EvaluationError({0: f"can't find {what} {name!r}"})
    return maps[name]


def _variable(values: Mapping[str, Any], var: str, node: str) -> Any:
    if var not in values:
        raise EvaluationError({0: f"can't find input {var!r} of node {node!r}"})
    return values[var]
