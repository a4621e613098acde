"""Cron expressions: validation and next fire times (in UTC), via ``croniter``.

Five-field expressions (``minute hour day-of-month month day-of-week``) and the usual
nicknames (``@daily``, ``@weekly``, ``@hourly``, ...). All times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

from auditor.schedule.errors import ScheduleError

_EXAMPLE = 'for example "0 6 * * 1" (Mondays 06:00 UTC) or "@daily"'


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def validate_cron(expression: str) -> str:
    """Return the expression, normalised in whitespace; raise ScheduleError if invalid."""
    text = " ".join(expression.split())
    fields = text.split(" ")
    valid = bool(text) and (text.startswith("@") or len(fields) == 5)
    if valid:
        try:
            valid = bool(croniter.is_valid(text))
        except (TypeError, ValueError):  # pragma: no cover - is_valid catches these
            valid = False
    if not valid:
        raise ScheduleError(
            f"Invalid cron expression {expression!r}: use five fields "
            f"(minute hour day-of-month month day-of-week), {_EXAMPLE}."
        )
    return text


def next_fire(expression: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (UTC, timezone-aware)."""
    start = _utc(after)
    moment = croniter(validate_cron(expression), start).get_next(datetime)
    if not isinstance(moment, datetime):  # pragma: no cover - croniter returns the type asked
        raise ScheduleError(f"Cannot compute the next fire time of {expression!r}.")
    return _utc(moment)


def previous_fire(expression: str, at: datetime) -> datetime:
    """The last fire time at or before ``at`` (UTC)."""
    start = _utc(at)
    itr = croniter(validate_cron(expression), start)
    moment = itr.get_prev(datetime)
    # croniter's get_prev is strictly before; a fire time exactly at ``at`` counts
    following = _utc(croniter(validate_cron(expression), moment).get_next(datetime))
    return start if following == start else _utc(moment)
