"""Retention: settings, pruning old rows, the db.pruned event, and verify afterwards."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from auditor.cli_ops import db_prune
from auditor.result import AuditResult
from auditor.store import (
    DEFAULT_RETENTION,
    RetentionError,
    Store,
    append_event,
    open_store,
    prune,
    retention_settings,
    save_audit,
    verify,
)
from auditor.store.letter_batches import add_letter_batch, batch_summary
from auditor.store.models import Event, Letter, LetterBatch, Schedule, ScheduleRun
from tests._db import db_url, pg_admin, raw, row_counts, store
from tests.factories import make_result

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class FakeReport:
    html: str
    pdf: bytes
    sha256: str


def _report(label: str) -> FakeReport:
    pdf = b"%PDF-1.7\n" + label.encode()
    return FakeReport(f"<p>{label}</p>", pdf, hashlib.sha256(pdf).hexdigest())


def _aged(days: int) -> AuditResult:
    result = make_result(name=f"aged-{days}")
    started = (NOW - timedelta(days=days)).isoformat()
    return dataclasses.replace(result, run=dataclasses.replace(result.run, started_at=started))


def _fill(store: Store) -> tuple[str, str]:
    """An audit 900 days old and one 10 days old, each with a report, letter and run."""
    old, new = _aged(900), _aged(10)
    with store.session() as session:
        for result, age in ((old, 900), (new, 10)):
            save_audit(session, result, report=_report(result.audit_id))
            moment = NOW - timedelta(days=age)
            session.add(
                Letter(
                    audit_id=result.audit_id,
                    decision_id="A-1",
                    kind="adverse_action",
                    created_at=moment,
                    html="<p>letter</p>",
                    sha256="0" * 64,
                )
            )
            add_letter_batch(session, result.audit_id, batch_summary([]))
        schedule = Schedule(
            name="weekly", spec_path="s.yaml", cron="0 6 * * 1", enabled=True, created_at=NOW
        )
        session.add(schedule)
        session.flush()
        for result, age in ((old, 900), (new, 10)):
            session.add(
                ScheduleRun(
                    schedule_id=schedule.id,
                    started_at=NOW - timedelta(days=age),
                    status="completed",
                    audit_id=result.audit_id,
                    scheduled_for=NOW - timedelta(days=age),
                )
            )
        # rows written directly here are sealed as auditor's own writers seal theirs
        session.flush()
        append_event(
            session,
            "test.filled",
            {},
            user="test",
            sealed={
                "letters": session.scalars(select(Letter.id)).all(),
                "letter_batches": session.scalars(select(LetterBatch.id)).all(),
                "schedules": [schedule.id],
                "schedule_runs": session.scalars(select(ScheduleRun.id)).all(),
            },
        )
    return old.audit_id, new.audit_id


def test_settings_defaults_file_and_overrides(tmp_path: Path) -> None:
    assert retention_settings() == DEFAULT_RETENTION
    assert DEFAULT_RETENTION["audits"] is None
    assert DEFAULT_RETENTION["letters"] == 762  # at least Reg B's 25 months
    config = tmp_path / "retention.yaml"
    config.write_text("retention:\n  letters: 800\n  audits: 1000\n")
    settings = retention_settings(config, ["schedule_runs=keep", "audits=2000d"])
    assert settings == {"letters": 800, "decisions": 762, "schedule_runs": None, "audits": 2000}


@pytest.mark.parametrize(
    ("text", "override", "message"),
    [
        ("retention: {metrics: 3}", None, "unknown table 'metrics'"),
        ("retention: {letters: -1}", None, "whole number of days"),
        ("retention: {letters: soon}", None, "whole number of days"),
        ("- letters", None, "must map table names"),
        ("retention: [", None, "not valid YAML"),
        ("{}", "letters", "use TABLE=DAYS"),
        ("{}", "letters=0", "whole number of days"),
    ],
)
def test_bad_settings_name_the_problem(
    tmp_path: Path, text: str, override: str | None, message: str
) -> None:
    config = tmp_path / "retention.yaml"
    config.write_text(text)
    with pytest.raises(RetentionError, match=message):
        retention_settings(config, [override] if override else [])


def test_defaults_prune_old_letters_and_runs_but_keep_audits(store: Store) -> None:
    _fill(store)
    with store.session() as session:
        report = prune(session, DEFAULT_RETENTION, now=NOW, user="dpo")
    assert report.deleted == {"letters": 1, "decisions": 0, "schedule_runs": 1, "audits": 0}
    counts = row_counts(store)
    assert (counts["audits"], counts["reports"], counts["letters"]) == (2, 2, 1)
    with store.session() as session:
        kind, user, text = session.execute(
            select(Event.kind, Event.user, Event.payload).order_by(Event.id.desc()).limit(1)
        ).one()
        assert verify(session).ok
    assert (kind, user) == ("db.pruned", "dpo")
    payload = json.loads(text)
    assert payload["deleted"] == report.deleted
    assert payload["retention_days"]["letters"] == 762


def test_pruning_audits_removes_their_rows_and_verify_accepts_it(store: Store) -> None:
    old, new = _fill(store)
    settings = {**DEFAULT_RETENTION, "audits": 365}
    with store.session() as session:
        dry = prune(session, settings, now=NOW, user="dpo", dry_run=True)
    assert dry.deleted == {"letters": 1, "decisions": 0, "schedule_runs": 1, "audits": 1}
    assert row_counts(store)["audits"] == 2  # a dry run changes nothing
    with store.session() as session:
        report = prune(session, settings, now=NOW, user="dpo")
    assert report.audit_ids == [old]
    assert report.deleted["audits"] == 1
    with store.session() as session:
        assert verify(session).ok, verify(session).problems
        remaining = session.scalars(select(ScheduleRun.audit_id)).all()
    assert remaining == [new]
    counts = row_counts(store)
    assert (counts["audits"], counts["reports"], counts["letters"]) == (1, 1, 1)
    # a letter batch (counts only) goes with its audit, its deletion sealed by db.pruned
    assert counts["letter_batches"] == 1
    assert counts["metrics"] == len(make_result().metrics)


def test_verify_reports_an_audit_deleted_outside_prune(store: Store) -> None:
    old, _ = _fill(store)
    for table in ("letters", "reports", "schedule_runs"):
        raw(store, f"DELETE FROM {table} WHERE audit_id = :a", a=old)
    raw(store, "DELETE FROM audits WHERE id = :a", a=old)
    with store.session() as session:
        report = verify(session)
    assert any(f"audit {old}: recorded in event" in p for p in report.problems), report.problems


def test_prune_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    with open_store(url) as opened:
        _fill(opened)
    app = typer.Typer()
    app.command()(db_prune)
    runner = CliRunner()
    dry = runner.invoke(app, ["--db", url, "--dry-run", "--keep", "audits=365"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete" in dry.output
    done = runner.invoke(app, ["--db", url, "--keep", "letters=30"])
    assert done.exit_code == 0, done.output
    assert "letters (older than 30 days): deleted" in done.output
    assert "Logged as a db.pruned event." in done.output
    bad = runner.invoke(app, ["--db", url, "--keep", "events=1"])
    assert bad.exit_code == 2
    assert "unknown table 'events'" in bad.output
