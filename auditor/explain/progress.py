"""Row progress of slow attribution methods, for whoever is listening (the CLI's bar).

A method that can take minutes (permutation SHAP: 174–229 s on the adult-like audit)
reports ``(rows done, rows in all)`` through :func:`report`; the CLI installs a listener
with :func:`listening` for the duration of an audit. Without a listener nothing changes:
the method runs in one call exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RowProgress = Callable[[int, int], None]

_LISTENER: ContextVar[RowProgress | None] = ContextVar("auditor_row_progress", default=None)


def listener() -> RowProgress | None:
    """The current listener (None: nobody is listening)."""
    return _LISTENER.get()


@contextmanager
def listening(fn: RowProgress | None) -> Iterator[None]:
    """Send row progress to ``fn`` inside the block."""
    token = _LISTENER.set(fn)
    try:
        yield
    finally:
        _LISTENER.reset(token)
