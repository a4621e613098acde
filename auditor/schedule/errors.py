"""Errors of the scheduling commands (a user can fix them: exit code 2)."""

from __future__ import annotations

from auditor.errors import AuditorError


class ScheduleError(AuditorError):
    """A schedule is unknown, duplicated, or has a bad cron expression or spec path."""
