"""Scheduled audits: cron schedules, exactly-once claiming of due runs, a scheduler loop.

``auditor schedule add|list|remove|run-due`` and ``auditor scheduler`` are thin
adapters over these functions (see :mod:`auditor.cli_ops`).
"""

from auditor.schedule.cron import next_fire, previous_fire, validate_cron
from auditor.schedule.errors import ScheduleError
from auditor.schedule.service import (
    Claim,
    RunRecord,
    ScheduleInfo,
    add_schedule,
    claim_next,
    execute_claim,
    finish_run,
    list_runs,
    list_schedules,
    perform_scheduled_audit,
    remove_schedule,
    run_due,
    run_scheduler,
    set_enabled,
    stop_on_signals,
    utc_now,
)

__all__ = [
    "Claim",
    "RunRecord",
    "ScheduleError",
    "ScheduleInfo",
    "add_schedule",
    "claim_next",
    "execute_claim",
    "finish_run",
    "list_runs",
    "list_schedules",
    "next_fire",
    "perform_scheduled_audit",
    "previous_fire",
    "remove_schedule",
    "run_due",
    "run_scheduler",
    "set_enabled",
    "stop_on_signals",
    "utc_now",
    "validate_cron",
]
