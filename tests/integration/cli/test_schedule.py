"""Schedules on SQLite and PostgreSQL: cron, claiming exactly once, missed runs, the loop.

The races use real OS processes: two workers released together by a barrier call
``run_due`` on one due schedule, many times; and two concurrent ``run-due`` command
processes run a real (tiny, decisions-only) audit.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from sqlalchemy import select, text
from typer.testing import CliRunner

from auditor.cli_ops import db_prune, history, schedule_app, scheduler
from auditor.schedule import (
    ScheduleError,
    add_schedule,
    claim_next,
    list_runs,
    list_schedules,
    next_fire,
    previous_fire,
    remove_schedule,
    run_due,
    run_scheduler,
    set_enabled,
    validate_cron,
)
from auditor.store import Store, open_store, save_audit, verify
from auditor.store.models import Event, Schedule, ScheduleRun
from tests._db import db_url, pg_admin, row_counts, store
from tests._paths import REPO
from tests.factories import make_result

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name

MONDAY_6 = "0 6 * * 1"
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)  # a Sunday


def make_tiny_spec(folder: Path, name: str = "tiny-hiring", rows: int = 300) -> Path:
    """A decisions-only hiring audit of ``rows`` sampled applicants (fast to run)."""
    data = pd.read_csv(REPO / "sample_data" / "hiring.csv").sample(rows, random_state=0)
    data.to_csv(folder / "decisions.csv", index=False)
    spec = folder / f"{name}.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            domain: hiring
            data: {{path: decisions.csv}}
            columns: {{id: applicant_id, decision: hired}}
            favorable: 1
            protected: [sex, race_ethnicity]
            policies: [nyc_ll144]
            """
        )
    )
    return spec


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def stub_runner(spec_path: str, database_url: str) -> str | None:
    """Stands in for an audit: slow enough to widen any race window, stores nothing."""
    time.sleep(0.02)
    return None


def factory_runner(spec_path: str, database_url: str) -> str | None:
    """Stores a hand-built audit result (an audit in milliseconds instead of seconds)."""
    result = make_result(name="tiny-hiring")
    with open_store(database_url, upgrade=False) as opened, opened.session() as session:
        save_audit(session, result)
    return result.audit_id


def failing_runner(spec_path: str, database_url: str) -> str | None:
    from auditor.errors import DataValidationError

    raise DataValidationError(f"{spec_path}: column 'hired' is missing")


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return make_tiny_spec(tmp_path)


# --- cron -----------------------------------------------------------------------------


def test_cron_next_and_previous_fire() -> None:
    assert next_fire(MONDAY_6, T0) == datetime(2026, 11, 2, 6, tzinfo=UTC)
    assert next_fire(MONDAY_6, datetime(2026, 11, 2, 6, tzinfo=UTC)) == datetime(
        2026, 11, 9, 6, tzinfo=UTC
    )
    at = datetime(2026, 11, 2, 6, tzinfo=UTC)
    assert previous_fire(MONDAY_6, at) == at
    assert previous_fire(MONDAY_6, at + timedelta(days=3)) == at
    assert validate_cron("  @daily ") == "@daily"
    assert validate_cron("0  6 * *  1") == MONDAY_6


@pytest.mark.parametrize("bad", ["", "bad", "* * * *", "61 * * * *", "0 6 * * 1 2"])
def test_cron_rejects_bad_expressions(bad: str) -> None:
    with pytest.raises(ScheduleError, match="Invalid cron expression"):
        validate_cron(bad)


# --- add / list / remove --------------------------------------------------------------


def test_add_list_pause_remove(store: Store, spec: Path) -> None:
    info = add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    assert info.next_run_at == datetime(2026, 11, 2, 6, tzinfo=UTC)
    assert info.spec_path == str(spec.resolve())
    with pytest.raises(ScheduleError, match="already exists"):
        add_schedule(store, "weekly", spec, MONDAY_6, user="u")
    with pytest.raises(ScheduleError, match="Invalid schedule name"):
        add_schedule(store, "no spaces", spec, MONDAY_6, user="u")
    with pytest.raises(ScheduleError, match="does not exist"):
        add_schedule(store, "x", spec.parent / "missing.yaml", MONDAY_6, user="u")
    with pytest.raises(ScheduleError, match="Invalid cron"):
        add_schedule(store, "x", spec, "every monday", user="u")
    paused = set_enabled(store, "weekly", False, user="u")
    assert not paused.enabled
    assert claim_next(store, now=T0 + timedelta(days=30), user="u") is None
    resumed = set_enabled(store, "weekly", True, user="u", now=T0 + timedelta(days=30))
    assert resumed.next_run_at == datetime(2026, 12, 7, 6, tzinfo=UTC)
    assert [s.name for s in list_schedules(store)] == ["weekly"]
    remove_schedule(store, "weekly", user="u")
    assert list_schedules(store) == []
    with pytest.raises(ScheduleError, match="No schedule named 'weekly'"):
        remove_schedule(store, "weekly", user="u")
    with store.session() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
        assert verify(session).ok
    assert kinds == [
        "schedule.added",
        "schedule.disabled",
        "schedule.enabled",
        "schedule.removed",
    ]


# --- running --------------------------------------------------------------------------


def test_missed_runs_collapse_into_one_run(store: Store, spec: Path) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    later = datetime(2026, 11, 25, 12, tzinfo=UTC)  # Nov 2, 9, 16 and 23 were missed
    (record,) = run_due(store, clock=fixed(later), user="u", runner=factory_runner)
    assert record.status == "completed", record.error
    assert record.scheduled_for == datetime(2026, 11, 23, 6, tzinfo=UTC)
    assert record.audit_id is not None
    assert record.duration_s is not None
    assert record.duration_s > 0
    assert record.error is None
    assert run_due(store, clock=fixed(later), user="u", runner=factory_runner) == []
    (info,) = list_schedules(store)
    assert info.next_run_at == datetime(2026, 11, 30, 6, tzinfo=UTC)
    assert info.last_status == "completed"
    counts = row_counts(store)
    assert (counts["schedule_runs"], counts["audits"]) == (1, 1)
    with store.session() as session:
        started = session.scalars(select(Event).where(Event.kind == "schedule.run_started")).one()
        assert '"missed_slots":4' in started.payload
        assert verify(session).ok


def test_failed_run_records_status_duration_and_error(store: Store, spec: Path) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    (record,) = run_due(store, clock=fixed(T0 + timedelta(days=1)), user="u", runner=failing_runner)
    assert record.status == "failed"
    assert record.error is not None
    assert "column 'hired' is missing" in record.error
    assert record.duration_s is not None
    assert record.audit_id is None
    (listed,) = list_runs(store, "weekly")
    assert listed == record
    assert row_counts(store)["audits"] == 0


def test_real_audit_failure_is_recorded(store: Store, spec: Path) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    (spec.parent / "decisions.csv").unlink()
    (record,) = run_due(store, clock=fixed(T0 + timedelta(days=1)), user="u")
    assert record.status == "failed"
    assert record.error is not None
    assert "decisions.csv" in record.error
    with store.session() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds[-3:] == ["schedule.run_started", "audit.failed", "schedule.run_finished"]


def test_each_due_schedule_runs_once_per_call(store: Store, spec: Path) -> None:
    add_schedule(store, "a", spec, "* * * * *", user="u", now=T0)
    add_schedule(store, "b", spec, MONDAY_6, user="u", now=T0)
    now = T0 + timedelta(days=1)
    records = run_due(store, clock=fixed(now), user="u", runner=stub_runner)
    assert sorted(r.schedule for r in records) == ["a", "b"]
    assert run_due(store, clock=fixed(now), user="u", runner=stub_runner) == []


def test_a_second_claim_of_the_same_slot_is_refused(store: Store, spec: Path) -> None:
    """The unique (schedule, slot) constraint backs up the row lock."""
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    now = T0 + timedelta(days=1)
    assert claim_next(store, now=now, user="u") is not None
    with store.engine.begin() as conn:  # as if a second claimer ignored the lock
        conn.execute(text("UPDATE schedules SET next_run_at = created_at"))
    from auditor.errors import StorageError

    with pytest.raises(StorageError, match="refused the change"):
        claim_next(store, now=now, user="u")
    assert row_counts(store)["schedule_runs"] == 1


# --- races between processes -------------------------------------------------------------


def _race_worker(
    url: str, rounds: int, barrier: threading.Barrier, queue: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    with open_store(url, upgrade=False) as opened:
        for i in range(rounds):
            now = T0 + timedelta(days=7 * (i + 1))
            barrier.wait(timeout=60)
            records = run_due(opened, clock=fixed(now), user=f"w{os.getpid()}", runner=stub_runner)
            queue.put((i, len(records)))


def test_two_processes_never_run_the_same_slot(store: Store, spec: Path, db_url: str) -> None:
    rounds = 25
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_race_worker, args=(db_url, rounds, barrier, queue)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    ran: dict[int, int] = {}
    for _ in range(2 * rounds):
        i, n = queue.get(timeout=5)
        ran[i] = ran.get(i, 0) + n
    assert ran == dict.fromkeys(range(rounds), 1)
    with store.session() as session:
        runs = session.execute(select(ScheduleRun.scheduled_for, ScheduleRun.status)).all()
        assert verify(session).ok
    assert len(runs) == rounds
    assert len({slot for slot, _ in runs}) == rounds
    assert {status for _, status in runs} == {"completed"}


RUN_DUE = (
    "import sys; from auditor.cli_ops import schedule_app; "
    "schedule_app(['run-due', '--db', sys.argv[1]], prog_name='auditor schedule')"
)


def test_two_concurrent_run_due_commands_store_one_audit(
    store: Store, spec: Path, db_url: str
) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_DUE, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = "".join(o for o, _ in outputs)
    assert stdout.count("weekly: completed") == 1, outputs
    assert stdout.count("Nothing due.") == 1, outputs
    counts = row_counts(store)
    assert (counts["schedule_runs"], counts["audits"], counts["reports"]) == (1, 1, 1)
    with store.session() as session:
        assert verify(session).ok


# --- the scheduler loop ------------------------------------------------------------------


def test_scheduler_loop_runs_due_work_and_stops(store: Store, spec: Path) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    clock = [T0]
    stop = threading.Event()
    seen: list[str] = []

    def on_run(record: object) -> None:
        seen.append(getattr(record, "status", "?"))
        clock[0] += timedelta(days=7)  # the next slot is due on the next pass
        if len(seen) == 3:
            stop.set()

    clock[0] = T0 + timedelta(days=1)
    count = run_scheduler(
        store,
        clock=lambda: clock[0],
        user="u",
        runner=stub_runner,
        poll_s=0.01,
        stop=stop,
        on_run=on_run,
        handle_signals=False,
    )
    assert count == 3
    assert seen == ["completed"] * 3


SCHEDULER = (
    "import sys; from typer import Typer; from auditor.cli_ops import scheduler; "
    "app = Typer(); app.command()(scheduler); "
    "app(['--db', sys.argv[1], '--poll', '0.2'], prog_name='auditor scheduler')"
)


def test_scheduler_process_exits_cleanly_on_sigterm(store: Store, spec: Path, db_url: str) -> None:
    # yearly, forced due now: a minute boundary during the run cannot make a second slot due
    add_schedule(store, "yearly", spec, "0 0 1 1 *", user="u")
    with store.engine.begin() as conn:  # due now
        conn.execute(text("UPDATE schedules SET next_run_at = created_at"))
    (spec.parent / "decisions.csv").unlink()  # a quick, failing run
    proc = subprocess.Popen(
        [sys.executable, "-c", SCHEDULER, db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = list_runs(store)
            if runs and runs[0].status != "running":
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "scheduler stopped after 1 run(s)" in stderr
    (run,) = list_runs(store)
    assert run.status == "failed"
    assert run.error is not None
    assert "decisions.csv" in run.error


# --- the commands ----------------------------------------------------------------------


def _app() -> typer.Typer:
    """The commands registered the way auditor/cli.py registers them."""
    app = typer.Typer()
    db_app = typer.Typer()
    app.add_typer(db_app, name="db")
    app.add_typer(schedule_app, name="schedule")
    app.command("scheduler")(scheduler)
    app.command("history")(history)
    db_app.command("prune")(db_prune)
    return app


def test_schedule_commands(tmp_path: Path, spec: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    app = _app()
    add = runner.invoke(
        app, ["schedule", "add", "weekly", "--spec", str(spec), "--cron", MONDAY_6, "--db", url]
    )
    assert add.exit_code == 0, add.output
    assert "Schedule weekly added: 0 6 * * 1" in add.output
    bad = runner.invoke(
        app, ["schedule", "add", "x", "--spec", str(spec), "--cron", "nope", "--db", url]
    )
    assert bad.exit_code == 2
    assert "Invalid cron expression 'nope'" in bad.output
    listed = runner.invoke(app, ["schedule", "list", "--db", url])
    assert listed.exit_code == 0
    assert "weekly" in listed.output
    nothing = runner.invoke(app, ["schedule", "run-due", "--db", url])
    assert nothing.exit_code == 0
    assert "Nothing due." in nothing.output
    with open_store(url) as opened, opened.session() as session:
        session.execute(text("UPDATE schedules SET next_run_at = created_at"))
    (spec.parent / "decisions.csv").unlink()
    failed = runner.invoke(app, ["schedule", "run-due", "--db", url])
    assert failed.exit_code == 1
    assert "weekly: failed" in failed.output
    runs = runner.invoke(app, ["schedule", "runs", "--db", url])
    assert runs.exit_code == 0
    assert "failed" in runs.output
    for command in ("pause", "resume", "remove"):
        done = runner.invoke(app, ["schedule", command, "weekly", "--db", url])
        assert done.exit_code == 0, done.output
    gone = runner.invoke(app, ["schedule", "remove", "weekly", "--db", url])
    assert gone.exit_code == 2
    assert "No schedule named 'weekly'" in gone.output
    with open_store(url) as opened, opened.session() as session:
        assert session.scalars(select(Schedule)).all() == []


def test_a_run_left_running_by_a_dead_process_is_marked_abandoned(store: Store, spec: Path) -> None:
    add_schedule(store, "weekly", spec, MONDAY_6, user="u", now=T0)
    first = T0 + timedelta(days=1)
    claim = claim_next(store, now=first, user="u")  # then the process dies
    assert claim is not None
    (record,) = run_due(store, clock=fixed(first + timedelta(days=7)), user="u", runner=stub_runner)
    assert record.status == "completed"
    runs = {r.id: r for r in list_runs(store)}
    assert runs[claim.run_id].status == "abandoned"
    assert "stopped before recording an outcome" in (runs[claim.run_id].error or "")
    with store.session() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
        assert verify(session).ok
    assert "schedule.run_abandoned" in kinds


def test_sigterm_during_a_run_lets_it_finish_then_stops(store: Store, spec: Path) -> None:
    add_schedule(store, "a", spec, MONDAY_6, user="u", now=T0)
    add_schedule(store, "b", spec, MONDAY_6, user="u", now=T0)

    def interrupted_runner(spec_path: str, database_url: str) -> str | None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the audit is running
        time.sleep(0.05)
        return None

    before = signal.getsignal(signal.SIGTERM)
    count = run_scheduler(
        store, clock=fixed(T0 + timedelta(days=1)), user="u", runner=interrupted_runner
    )
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    assert count == 1  # the run in progress finished; "b" was not started
    (run,) = list_runs(store)
    assert run.status == "completed"
    assert [s.last_status for s in list_schedules(store)].count(None) == 1
