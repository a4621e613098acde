"""A time budget per rule evaluation, checked cooperatively as conditions are evaluated.

Patterns run on RE2 and every step of a condition is bounded by the facts' size, but
facts come from data (hundreds of groups, intersections, features) and packs from
anyone: a rule that takes longer than its budget stops with an error naming it, so no
rule can hold an audit (or the server thread running it) indefinitely.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RULE_BUDGET_S = 5.0
"""Seconds one rule may take (shipped rules take milliseconds)."""

_deadline: ContextVar[float | None] = ContextVar("rule_deadline", default=None)


class RuleBudgetExceeded(Exception):
    """The rule being evaluated ran past its time budget."""


@contextmanager
def rule_budget(seconds: float = RULE_BUDGET_S) -> Iterator[None]:
    """Evaluate the enclosed rule within ``seconds``."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_budget() -> None:
    """Raise :class:`RuleBudgetExceeded` when the current rule is past its deadline."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise RuleBudgetExceeded
