"""Exceptions raised for problems a user can fix.

Every :class:`AuditorError` is turned into one clear message and exit code 2 by the CLI;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class AuditorError(Exception):
    """Base class for user-facing errors (bad input, missing files, bad models)."""

    exit_code = 2

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        self.problems = tuple(problems)
        text = message
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class SpecError(AuditorError):
    """The audit spec (YAML or dict) is malformed or inconsistent."""


class DataValidationError(AuditorError):
    """The decision data is missing, unreadable or does not match the spec."""


class ModelLoadError(AuditorError):
    """A model file is missing, corrupt, untrusted or does not match the features."""


class PolicyLoadError(AuditorError):
    """A policy pack is unknown or malformed."""


class ExplainError(AuditorError):
    """Attributions cannot be computed for this model and data."""


class StorageError(AuditorError):
    """The audit store cannot be opened or written."""


class RenderError(AuditorError):
    """A report or letter cannot be rendered."""
