"""Diagnostics as values: every problem names its node, op type and reason.

Conversion collects every diagnostic before failing, so a user sees all the offending
nodes of a model at once instead of fixing them one run at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Diagnostic:
    """One node lwtnn cannot express, and why."""

    node: str
    op_type: str
    reason: str
    hint: str = ""
    downstream: bool = False  # it reads from another offending node, likely its cause

    def __str__(self) -> str:
        text = f"node '{self.node}' ({self.op_type}): {self.reason}"
        return f"{text}; {self.hint}" if self.hint else text


class ConversionWarning(UserWarning):
    """An exact rewrite that still changes something a user may rely on."""


class Onnx2LwtnnError(Exception):
    """Base of every error this package raises on purpose (never a bug)."""


class ModelLoadError(Onnx2LwtnnError):
    """The file is not a readable, valid ONNX model."""


class ReferenceRunError(Onnx2LwtnnError):
    """No ONNX runtime here can evaluate the model, so a conversion cannot be checked."""


class UsageError(Onnx2LwtnnError):
    """The request itself is inconsistent (bad option values, mismatched specs)."""


class ConversionError(Onnx2LwtnnError):
    """The model is valid ONNX but lwtnn cannot express it exactly."""

    def __init__(self, diagnostics: Iterable[Diagnostic], summary: str = "",
                 other_outputs: Iterable[str] = ()):
        self.diagnostics = list(diagnostics)
        self.summary = summary or f"{len(self.diagnostics)} node(s) cannot be expressed in lwtnn"
        self.other_outputs = list(other_outputs)  # outputs that read none of those nodes
        lines = [f"{self.summary}:"]
        lines += [f"  - {d}" for d in self.diagnostics]
        if self.other_outputs:
            lines.append(self.other_outputs_note(f"outputs={self.other_outputs!r}"))
        super().__init__("\n".join(lines))

    def other_outputs_note(self, argument: str) -> str:
        """What to do about the outputs that convert (``argument``: how to name them)."""
        many = len(self.other_outputs) > 1
        return (f"the output{'s' * many} {', '.join(self.other_outputs)} read{'s' * (not many)} "
                f"none of these nodes: convert only {'them' if many else 'it'} with {argument}")


class VerificationError(Onnx2LwtnnError):
    """A conversion that does not reproduce its model on the verification events; it is
    never written. ``report`` has the comparison (``report.table()``)."""

    def __init__(self, subject: str, report):
        self.report = report
        super().__init__(f"{subject}: not written: the converted network does not "
                         "reproduce the model on the verification events (a bug in "
                         "onnx2lwtnn, or arithmetic lwtnn's doubles cannot follow; please "
                         f"report it with the model):\n{report.table()}")


class FileError(Onnx2LwtnnError):
    """A file cannot be read or written as the run needs; the message names it."""
