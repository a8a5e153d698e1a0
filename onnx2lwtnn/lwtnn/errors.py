"""The two ways an lwtnn network can say no: to a document, or to an event.

They are kept apart because they call for different fixes: a format error is a bug
in whatever wrote the JSON, while a refused event is a property of the data (lwtnn
would throw for it too, and the caller decides what to do with those events).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


class LwtnnFormatError(ValueError):
    """A document lwtnn's reader would not accept, or could not build or run.

    ``problems`` lists every problem found as (JSON path, message) pairs, e.g.
    ``("$.layers[2].weights", "has 12 entries, not a multiple of 5 inputs")``.

    The message is one line: the first problem, then how many more and where.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        (path, message), rest = self.problems[0], self.problems[1:]
        text = f"not a network lwtnn reads: {path}: {message}"
        if rest:
            paths = ", ".join(p for p, _ in rest[:5]) + (", ..." if len(rest) > 5 else "")
            text += f" (and {len(rest)} more problem(s): {paths})"
        super().__init__(text)


class LwtnnFormatWarning(UserWarning):
    """Something in a document lwtnn reads but ignores (keys it never looks at)."""


class EvaluationError(Exception):
    """Events that lwtnn refuses to evaluate (it throws for them).

    ``events``: sorted indices of the refused events; ``reasons``: event index ->
    why; ``outputs``: the outputs of every event, NaN in the rows of refused events,
    so a caller can keep the results of the events lwtnn accepts.
    """

    def __init__(
        self,
        reasons: Mapping[int, str],
        outputs: Mapping[str, np.ndarray] | None = None,
    ):
        self.reasons = dict(sorted(reasons.items()))
        self.events = list(self.reasons)
        self.outputs = dict(outputs or {})
        by_reason: dict[str, list[int]] = {}
        for event, reason in self.reasons.items():
            by_reason.setdefault(reason, []).append(event)
        lines = [f"lwtnn refuses {len(self.events)} event(s):"]
        lines += [f"  {reason}: events {_short_list(events)}"
                  for reason, events in by_reason.items()]
        super().__init__("\n".join(lines))


def _short_list(items: list[int], limit: int = 20) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"
