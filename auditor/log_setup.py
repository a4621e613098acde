"""Logging for auditor's entry points: the CLI, ``auditor serve``, the scheduler and the
worker processes (web audit workers).

Library modules only create loggers (``logging.getLogger(__name__)``, all under
``auditor``); an entry point calls :func:`configure_logging` once, with the level from
``--log-level`` or ``$AUDITOR_LOG_LEVEL`` (default ``WARNING``). Records go to standard
error, one line each, with the traceback when there is one. A host application that
imports auditor as a library configures logging itself; nothing here runs on import.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER = "auditor"
FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record (a test runner or
    a daemoniser may replace it after logging was configured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        del value  # always the current sys.stderr


def configure_logging(level: str | int | None = None) -> int:
    """Send the ``auditor`` loggers' records at ``level`` or above to standard error.

    ``level``: a name (``debug``, ``INFO``, ...) or a :mod:`logging` number; None takes
    ``$AUDITOR_LOG_LEVEL`` (default WARNING). Calling it again replaces the level and
    the handler (never adds a second one). Returns the level as a number.
    """
    number = _level_number(level)
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.setLevel(number)
    # the records are written here; a root handler (pytest's, a host's) still sees them
    return number


def _level_number(level: str | int | None) -> int:
    if isinstance(level, int):
        return level
    if level is None:
        from auditor.settings import load_settings

        return load_settings().log_level_number
    from auditor.errors import AuditorError
    from auditor.settings import LOG_LEVELS

    name = level.strip().upper()
    if name not in LOG_LEVELS:
        raise AuditorError(f"--log-level must be one of {', '.join(LOG_LEVELS)}; got {level!r}.")
    return logging.getLevelNamesMapping()[name]
