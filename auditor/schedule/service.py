"""Schedules: add, list, remove, claim due runs exactly once, run them, and a loop.

A due run is *claimed* in one short transaction: the schedule row is locked
(PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: every transaction takes the
single write lock when it begins), a ``schedule_runs`` row is written as ``running``
and ``next_run_at`` moves to the first fire time *after now*, so slots missed during
downtime collapse into one run. ``schedule_runs`` is unique per schedule and fire time,
a second line of defence against double runs. The audit itself runs outside the claim
transaction (via :func:`auditor.service.perform_audit`), then the run row is completed
with its status, duration, error and audit id. Every change appends an event.
"""

from __future__ import annotations

import getpass
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.errors import AuditorError
from auditor.schedule.cron import next_fire, previous_fire, validate_cron
from auditor.schedule.errors import ScheduleError
from auditor.store import Store, append_event
from auditor.store.models import Schedule, ScheduleRun

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Runner = Callable[[str, str], str | None]
"""``runner(spec_path, database_url) -> audit_id`` (None: stored no audit); raises on failure."""

SCHEDULE_ADDED = "schedule.added"
SCHEDULE_REMOVED = "schedule.removed"
SCHEDULE_ENABLED = "schedule.enabled"
SCHEDULE_DISABLED = "schedule.disabled"
RUN_STARTED = "schedule.run_started"
RUN_FINISHED = "schedule.run_finished"
RUN_ABANDONED = "schedule.run_abandoned"

STALE_AFTER = timedelta(hours=24)
"""A run still "running" this long after it started is taken to be abandoned."""

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_MAX_MISSED_COUNT = 10_000


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def current_user() -> str:
    """The login name recorded in events ("unknown" when it cannot be found)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule and its latest run (plain values)."""

    id: int
    name: str
    spec_path: str
    cron: str
    enabled: bool
    created_at: datetime
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_status: str | None


@dataclass(frozen=True)
class RunRecord:
    """One run of a schedule."""

    id: int
    schedule_id: int
    schedule: str
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    audit_id: str | None
    error: str | None
    duration_s: float | None


@dataclass(frozen=True)
class Claim:
    """A claimed due run, to be executed by the claimer and nobody else."""

    run_id: int
    schedule_id: int
    name: str
    spec_path: str
    scheduled_for: datetime
    missed: int


def _info(session: Session, s: Schedule) -> ScheduleInfo:
    last = session.scalars(
        select(ScheduleRun.status)
        .where(ScheduleRun.schedule_id == s.id)
        .order_by(ScheduleRun.id.desc())
        .limit(1)
    ).first()
    return ScheduleInfo(
        s.id,
        s.name,
        s.spec_path,
        s.cron,
        s.enabled,
        s.created_at,
        s.last_run_at,
        s.next_run_at,
        last,
    )


def _record(run: ScheduleRun, name: str) -> RunRecord:
    return RunRecord(
        run.id,
        run.schedule_id,
        name,
        run.scheduled_for,
        run.started_at,
        run.finished_at,
        run.status,
        run.audit_id,
        run.error,
        run.duration_s,
    )


def _get(session: Session, name: str, *, lock: bool = False) -> Schedule:
    stmt = select(Schedule).where(Schedule.name == name)
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).first()
    if found is None:
        known = session.scalars(select(Schedule.name).order_by(Schedule.name)).all()
        hint = f" Known schedules: {', '.join(known)}." if known else " There are none yet."
        raise ScheduleError(f"No schedule named {name!r}.{hint}")
    return found


def add_schedule(
    store: Store,
    name: str,
    spec_path: str | Path,
    cron: str,
    *,
    user: str | None = None,
    now: datetime | None = None,
    check_spec: bool = True,
) -> ScheduleInfo:
    """Create a schedule; its first run is the first fire time after ``now``.

    The spec path is stored absolute; with ``check_spec`` the spec is parsed now so a
    typo fails here rather than at 6 a.m. next Monday.
    """
    if not _NAME.match(name):
        raise ScheduleError(
            f"Invalid schedule name {name!r}: use 1-200 letters, digits, '_', '.' or '-'."
        )
    expression = validate_cron(cron)
    path = Path(spec_path).expanduser().resolve()
    if not path.is_file():
        raise ScheduleError(f"Spec file {spec_path} does not exist (resolved to {path}).")
    if check_spec:
        from auditor.spec import load_spec

        load_spec(path)
    moment = now or utc_now()
    who = user or current_user()
    with store.session() as session:
        if session.scalars(select(Schedule.id).where(Schedule.name == name)).first():
            raise ScheduleError(
                f"A schedule named {name!r} already exists; remove it first or pick another name."
            )
        row = Schedule(
            name=name,
            spec_path=str(path),
            cron=expression,
            enabled=True,
            created_at=moment,
            next_run_at=next_fire(expression, moment),
        )
        session.add(row)
        session.flush()
        append_event(
            session,
            SCHEDULE_ADDED,
            {"schedule_id": row.id, "name": name, "spec_path": str(path), "cron": expression},
            user=who,
            sealed={"schedules": [row.id]},
        )
        return _info(session, row)


def list_schedules(store: Store) -> list[ScheduleInfo]:
    """All schedules, by name."""
    with store.session() as session:
        rows = session.scalars(select(Schedule).order_by(Schedule.name)).all()
        return [_info(session, s) for s in rows]


def remove_schedule(store: Store, name: str, *, user: str | None = None) -> None:
    """Delete a schedule and its run history (the audits it produced stay)."""
    with store.session() as session:
        row = _get(session, name, lock=True)
        runs = session.scalar(
            select(func.count()).select_from(ScheduleRun).where(ScheduleRun.schedule_id == row.id)
        )
        run_ids = list(
            session.scalars(select(ScheduleRun.id).where(ScheduleRun.schedule_id == row.id))
        )
        payload = {"schedule_id": row.id, "name": name, "runs_deleted": int(runs or 0)}
        schedule_id = row.id
        session.delete(row)
        session.flush()
        append_event(
            session,
            SCHEDULE_REMOVED,
            payload,
            user=user or current_user(),
            sealed={"schedules": [schedule_id], "schedule_runs": run_ids},
        )


def set_enabled(
    store: Store, name: str, enabled: bool, *, user: str | None = None, now: datetime | None = None
) -> ScheduleInfo:
    """Pause or resume a schedule; resuming restarts it at the next fire time after now."""
    with store.session() as session:
        row = _get(session, name, lock=True)
        if row.enabled != enabled:
            row.enabled = enabled
            if enabled:
                row.next_run_at = next_fire(row.cron, now or utc_now())
            session.flush()
            append_event(
                session,
                SCHEDULE_ENABLED if enabled else SCHEDULE_DISABLED,
                {"schedule_id": row.id, "name": name},
                user=user or current_user(),
                sealed={"schedules": [row.id]},
            )
        return _info(session, row)


def list_runs(store: Store, name: str | None = None, *, limit: int = 50) -> list[RunRecord]:
    """Runs, newest first, optionally of one schedule."""
    with store.session() as session:
        stmt = (
            select(ScheduleRun, Schedule.name)
            .join(Schedule, Schedule.id == ScheduleRun.schedule_id)
            .order_by(ScheduleRun.id.desc())
            .limit(limit)
        )
        if name is not None:
            stmt = stmt.where(Schedule.name == name)
        return [_record(run, sched) for run, sched in session.execute(stmt)]


def _missed(cron: str, first: datetime, last: datetime) -> int:
    """How many fire times from ``first`` to ``last`` (inclusive) collapse into one run."""
    count, moment = 1, first
    while count < _MAX_MISSED_COUNT:
        moment = next_fire(cron, moment)
        if moment > last:
            break
        count += 1
    return count


def _abandon_stale_runs(session: Session, row: Schedule, now: datetime, user: str) -> list[int]:
    """Mark runs of ``row`` still "running" after :data:`STALE_AFTER` as abandoned.

    Their process died before recording an outcome (killed, machine lost). Should one
    still finish, :func:`finish_run` records its real outcome over this mark.
    """
    stale = session.scalars(
        select(ScheduleRun)
        .where(
            ScheduleRun.schedule_id == row.id,
            ScheduleRun.status == "running",
            ScheduleRun.started_at < now - STALE_AFTER,
        )
        .order_by(ScheduleRun.id)
    ).all()
    for run in stale:
        run.status = "abandoned"
        run.finished_at = now
        run.error = (
            f"still running after {STALE_AFTER}; the process running it stopped "
            "before recording an outcome"
        )
    if stale:
        session.flush()
        append_event(
            session,
            RUN_ABANDONED,
            {"schedule_id": row.id, "name": row.name, "run_ids": [r.id for r in stale]},
            user=user,
            sealed={"schedule_runs": [r.id for r in stale]},
        )
    return [r.id for r in stale]


def claim_next(
    store: Store, *, now: datetime, user: str, exclude: frozenset[int] = frozenset()
) -> Claim | None:
    """Claim the most overdue enabled schedule (one transaction), or return None.

    Two claimers never get the same slot: the row is locked and skipped by others
    (PostgreSQL) or the whole transaction holds SQLite's single write lock.
    """
    with store.session() as session:
        stmt = (
            select(Schedule)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at, Schedule.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if exclude:
            stmt = stmt.where(Schedule.id.not_in(exclude))
        row = session.scalars(stmt).first()
        if row is None or row.next_run_at is None:
            return None
        slot = previous_fire(row.cron, now)
        missed = _missed(row.cron, row.next_run_at, slot)
        abandoned = _abandon_stale_runs(session, row, now, user)
        row.last_run_at = now
        row.next_run_at = next_fire(row.cron, now)
        run = ScheduleRun(schedule_id=row.id, started_at=now, status="running", scheduled_for=slot)
        session.add(run)
        session.flush()
        append_event(
            session,
            RUN_STARTED,
            {
                "schedule_id": row.id,
                "name": row.name,
                "run_id": run.id,
                "scheduled_for": slot.isoformat(),
                "missed_slots": missed,
                "abandoned_runs": abandoned,
            },
            user=user,
            sealed={"schedules": [row.id], "schedule_runs": [run.id]},
        )
        return Claim(run.id, row.id, row.name, row.spec_path, slot, missed)


def finish_run(
    store: Store,
    claim: Claim,
    *,
    status: str,
    finished_at: datetime,
    duration_s: float,
    audit_id: str | None,
    error: str | None,
    user: str,
) -> RunRecord:
    """Record the outcome of a claimed run (one transaction, with an event)."""
    with store.session() as session:
        run = session.get(ScheduleRun, claim.run_id)
        if run is None:  # the schedule was removed while its run was in progress
            raise ScheduleError(
                f"Run {claim.run_id} of schedule {claim.name!r} disappeared while it ran "
                "(was the schedule removed?)."
            )
        run.status = status
        run.finished_at = finished_at
        run.duration_s = duration_s
        run.audit_id = audit_id
        run.error = error
        session.flush()
        append_event(
            session,
            RUN_FINISHED,
            {
                "schedule_id": claim.schedule_id,
                "name": claim.name,
                "run_id": claim.run_id,
                "status": status,
                "audit_id": audit_id,
                "duration_s": round(duration_s, 3),
                "error": error,
            },
            user=user,
            sealed={"schedule_runs": [claim.run_id]},
        )
        return _record(run, claim.name)


def perform_scheduled_audit(spec_path: str, database_url: str) -> str:
    """The default runner: a stored audit via :func:`auditor.service.perform_audit`."""
    from auditor.service import perform_audit

    # the scheduler's process runs one audit at a time and serves nothing else
    outcome = perform_audit(Path(spec_path), database_url=database_url, fast_render=True)
    return outcome.result.audit_id


def database_url_of(store: Store) -> str:
    """The store's URL with its password (for a child operation on the same database)."""
    return store.engine.url.render_as_string(hide_password=False)


def execute_claim(
    store: Store, claim: Claim, *, clock: Clock, user: str, runner: Runner | None = None
) -> RunRecord:
    """Run a claimed audit and record its outcome; failures are recorded, not raised.

    ``KeyboardInterrupt``/``SystemExit`` are recorded as a failed run and re-raised.
    """
    run = runner or perform_scheduled_audit
    started = time.monotonic()
    audit_id: str | None = None
    error: str | None = None
    interrupted: BaseException | None = None
    try:
        audit_id = run(claim.spec_path, database_url_of(store))
    except AuditorError as exc:
        error = str(exc)
        log.warning("scheduled run %d of %r failed: %s", claim.run_id, claim.name, error)
    except Exception as exc:  # a bug in one audit must not stop the scheduler
        error = f"internal error: {type(exc).__name__}: {exc}"
        # the run row keeps one line; the traceback a developer needs goes to the log
        log.exception(
            "scheduled run %d of %r (%s) failed with an internal error",
            claim.run_id,
            claim.name,
            claim.spec_path,
        )
    except (KeyboardInterrupt, SystemExit) as exc:
        error = "interrupted"
        interrupted = exc
    record = finish_run(
        store,
        claim,
        status="failed" if error is not None else "completed",
        finished_at=clock(),
        duration_s=time.monotonic() - started,
        audit_id=audit_id,
        error=error,
        user=user,
    )
    if interrupted is not None:
        raise interrupted
    return record


def run_due(
    store: Store,
    *,
    clock: Clock = utc_now,
    user: str | None = None,
    runner: Runner | None = None,
    stop: threading.Event | None = None,
) -> list[RunRecord]:
    """Claim and run every due schedule once; return the runs this call made.

    Safe to call from several processes at once (system cron, Kubernetes CronJob, two
    schedulers): each due slot is run by exactly one caller.
    """
    who = user or current_user()
    done: list[RunRecord] = []
    claimed: set[int] = set()
    while stop is None or not stop.is_set():
        claim = claim_next(store, now=clock(), user=who, exclude=frozenset(claimed))
        if claim is None:
            break
        claimed.add(claim.schedule_id)
        done.append(execute_claim(store, claim, clock=clock, user=who, runner=runner))
    return done


def seconds_until_next(store: Store, now: datetime) -> float | None:
    """Seconds until the earliest enabled schedule is due (0 if overdue), or None."""
    with store.session() as session:
        moment = session.scalar(
            select(func.min(Schedule.next_run_at)).where(Schedule.enabled.is_(True))
        )
    if moment is None:
        return None
    if moment.tzinfo is None:  # func.min bypasses the column type on SQLite
        moment = datetime.fromisoformat(str(moment)).replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM/SIGINT while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_scheduler(
    store: Store,
    *,
    clock: Clock = utc_now,
    user: str | None = None,
    runner: Runner | None = None,
    poll_s: float = 30.0,
    stop: threading.Event | None = None,
    on_run: Callable[[RunRecord], None] | None = None,
    handle_signals: bool = True,
) -> int:
    """Run due schedules until ``stop`` is set (SIGTERM/SIGINT set it); return run count.

    Shutdown is graceful: a run in progress finishes and is recorded, no new run is
    claimed, and the function returns. It sleeps until the next fire time, at most
    ``poll_s`` seconds, so schedules added meanwhile are picked up.
    """
    event = stop or threading.Event()
    count = 0
    guard = stop_on_signals(event) if handle_signals else _nothing()
    with guard:
        while not event.is_set():
            for record in run_due(store, clock=clock, user=user, runner=runner, stop=event):
                count += 1
                if on_run is not None:
                    on_run(record)
            if event.is_set():
                break
            wait = seconds_until_next(store, clock())
            event.wait(poll_s if wait is None else min(max(wait, 0.01), poll_s))
    return count


@contextmanager
def _nothing() -> Iterator[None]:
    yield
