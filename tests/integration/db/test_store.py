"""The audit store on SQLite (a temporary file) and on PostgreSQL (a fresh schema per test).

PostgreSQL tests are skipped when the server is unreachable, unless ``$CI`` is set:
then they fail. Point them at another server with ``$AUDITOR_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, make_url, select, text

from auditor.errors import StorageError
from auditor.result import AuditResult
from auditor.store import (
    Store,
    add_report,
    append_event,
    default_database_url,
    get_report,
    list_audits,
    load_result,
    open_store,
    record_failed_run,
    save_audit,
    verify,
)
from auditor.store.models import Base, Event, Schedule, ScheduleRun
from tests._db import PG_URL, TABLES, db_url, pg_admin, raw, row_counts, store
from tests.factories import make_result

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name


@dataclasses.dataclass(frozen=True)
class FakeReport:
    html: str
    pdf: bytes
    sha256: str


def make_report(label: str = "report") -> FakeReport:
    pdf = b"%PDF-1.7\n" + label.encode()
    return FakeReport(f"<p>{label}</p>", pdf, hashlib.sha256(pdf).hexdigest())


def started(result: AuditResult, hour: int) -> AuditResult:
    run = dataclasses.replace(result.run, started_at=f"2026-11-23T{hour:02d}:00:00+00:00")
    return dataclasses.replace(result, run=run)


@pytest.fixture
def filled(store: Store) -> list[str]:
    """Three audits with reports, one failed run and one re-rendered report."""
    results = [started(make_result(name=f"audit-{i}"), 9 + i) for i in range(3)]
    with store.session() as session:
        for i, result in enumerate(results):
            save_audit(session, result, report=make_report(f"r{i}"))
    with store.session() as session:
        record_failed_run(session, name="broken", source="spec.yaml", error="bad", user="u")
        add_report(session, results[0].audit_id, make_report("again"), user="u")
    return [r.audit_id for r in results]


def test_upgrade_from_empty_matches_models_and_is_idempotent(db_url: str) -> None:
    with open_store(db_url, upgrade=False) as store:
        assert inspect(store.engine).get_table_names() == []
        head = store.head_revision()
        assert store.upgrade() == head == "0011"  # the newest revision
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {*TABLES, "alembic_version"}
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        before = row_counts(store)
        assert store.upgrade() == head
        assert row_counts(store) == before
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [head]


def test_upgrade_refuses_a_newer_database(store: Store) -> None:
    raw(store, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StorageError, match=r"9999.*newer auditor"):
        store.upgrade()


def test_save_and_load_round_trip(store: Store) -> None:
    result = make_result()
    bare = make_result(name="no-model", with_attributions=False)
    report = make_report()
    with store.session() as session:
        save_audit(session, result, report=report)
        save_audit(session, bare)
    with store.session() as session:
        assert load_result(session, result.audit_id) == result
        assert load_result(session, bare.audit_id) == bare
        stored = get_report(session, result.audit_id)
        assert get_report(session, bare.audit_id) is None
        (row,) = list_audits(session, name=result.name)
    assert stored is not None
    assert stored.pdf == report.pdf
    assert stored.sha256 == hashlib.sha256(stored.pdf).hexdigest()
    assert stored.result_json == result.to_json()
    assert row.id == result.audit_id
    assert row.status == "completed"
    assert row.created_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert row.findings["fail"] == 1
    assert row.findings["pass"] == 1
    counts = row_counts(store)
    assert counts["metrics"] == len(result.metrics) + len(bare.metrics)
    assert counts["findings"] == len(result.findings) + len(bare.findings)
    assert counts["reports"] == 1
    assert counts["events"] == 2


def test_re_rendered_report_is_a_new_row(store: Store, filled: list[str]) -> None:
    with store.session() as session:
        latest = get_report(session, filled[0])
    assert latest is not None
    assert latest.html == "<p>again</p>"
    assert row_counts(store)["reports"] == 4


def _save_then_fail(store: Store) -> None:
    with store.session() as session:
        save_audit(session, make_result(), report=make_report())
        raise RuntimeError("boom")


def test_exception_in_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _save_then_fail(store)
    assert set(row_counts(store).values()) == {0}


def _save(store: Store, result: AuditResult, report: FakeReport | None = None) -> None:
    with store.session() as session:
        save_audit(session, result, report=report)


def test_bad_report_or_duplicate_id_is_refused(store: Store) -> None:
    result = make_result()
    bad = dataclasses.replace(make_report(), sha256="0" * 64)
    with pytest.raises(StorageError, match="not the SHA-256 of its PDF"):
        _save(store, result, bad)
    assert set(row_counts(store).values()) == {0}
    _save(store, result)
    with pytest.raises(StorageError, match=f"Audit {result.audit_id} is already stored"):
        _save(store, result)


def _add_duplicate_schedules(store: Store) -> None:
    now = datetime.now(UTC)
    with store.session() as session:
        for _ in range(2):
            session.add(
                Schedule(name="dup", spec_path="s", cron="@daily", enabled=True, created_at=now)
            )


def _insert_orphan_metric(store: Store) -> None:
    with store.session() as session:
        session.execute(
            text(
                'INSERT INTO metrics (audit_id, seq, attribute, "group", metric, n, flags) '
                "VALUES ('missing', 0, 'a', 'g', 'm', 1, '[]')"
            )
        )


def test_database_errors_become_storage_errors(store: Store) -> None:
    with pytest.raises(StorageError, match="refused the change"):
        _add_duplicate_schedules(store)
    with pytest.raises(StorageError, match="refused the change"):
        _insert_orphan_metric(store)  # foreign keys are enforced on SQLite too
    assert set(row_counts(store).values()) == {0}


def test_record_failed_run_leaves_only_an_event(store: Store) -> None:
    with store.session() as session:
        record_failed_run(session, name="x", source="x.yaml", error="no data", user="u")
    counts = row_counts(store)
    assert counts.pop("events") == 1
    assert set(counts.values()) == {0}
    with store.session() as session:
        event = session.scalars(select(Event)).one()
        assert event.kind == "audit.failed"
        assert verify(session).ok


def test_verify_ok_after_several_audits(store: Store, filled: list[str]) -> None:
    with store.session() as session:
        report = verify(session)
    assert report.ok, report.problems
    assert (report.events, report.audits, report.reports) == (5, 3, 4)


def _event_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [i for (i,) in conn.execute(text("SELECT id FROM events ORDER BY id"))]


def _problems(store: Store) -> list[str]:
    with store.session() as session:
        report = verify(session)
    assert not report.ok
    return report.problems


def test_verify_names_an_altered_event(store: Store, filled: list[str]) -> None:
    target = _event_ids(store)[1]
    raw(store, "UPDATE events SET payload = :p WHERE id = :i", p='{"audit_id":"x"}', i=target)
    problems = _problems(store)
    assert any(f"event {target} " in p and "altered" in p for p in problems), problems


def test_verify_names_a_deleted_event(store: Store, filled: list[str]) -> None:
    ids = _event_ids(store)
    raw(store, "DELETE FROM events WHERE id = :i", i=ids[1])
    problems = _problems(store)
    assert any(f"event {ids[2]} " in p and f"follow event {ids[0]}" in p for p in problems)
    assert any(f"audit {filled[1]}: no audit.completed event" in p for p in problems), problems


def test_verify_detects_altered_report_and_result(store: Store, filled: list[str]) -> None:
    raw(store, "UPDATE reports SET pdf = :b WHERE audit_id = :a", b=b"%PDF forged", a=filled[2])
    forged = '{"forged": true}'
    raw(
        store,
        "UPDATE audits SET result_json = :j, result_sha256 = :h WHERE id = :a",
        j=forged,
        h=hashlib.sha256(forged.encode()).hexdigest(),
        a=filled[1],
    )
    problems = _problems(store)
    assert any(f"of audit {filled[2]}: PDF bytes do not match" in p for p in problems), problems
    assert any(f"audit {filled[1]}: result JSON differs" in p for p in problems), problems


def test_concurrent_appends_do_not_fork_the_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with store.session() as session:
                append_event(session, "second", {}, user="b")
        except BaseException as exc:  # reported below
            errors.append(exc)

    with store.session() as session:
        append_event(session, "first", {"n": 1}, user="a")
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the second writer should wait for the first transaction"
    thread.join(timeout=10)
    assert not errors
    with store.session() as session:
        assert verify(session).ok
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["first", "second"]


def test_list_audits_newest_first_and_filtered(store: Store) -> None:
    results = [started(make_result(name=n), h) for n, h in (("a", 8), ("b", 12), ("a", 10))]
    with store.session() as session:
        for result in results:
            save_audit(session, result)
    with store.session() as session:
        assert [r.created_at.hour for r in list_audits(session)] == [12, 10, 8]
        assert [r.id for r in list_audits(session, name="a")] == [
            results[2].audit_id,
            results[0].audit_id,
        ]
        assert len(list_audits(session, limit=1)) == 1
        assert list_audits(session, name="none") == []
        with pytest.raises(ValueError, match="'limit'"):
            list_audits(session, limit=0)


def test_load_unknown_id_names_it(store: Store) -> None:
    with pytest.raises(StorageError, match="no-such-audit"), store.session() as session:
        load_result(session, "no-such-audit")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nosuchdb://x", "unknown database type 'nosuchdb'"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://alice:s3cret@127.0.0.1:1/db", "alice:***@127.0.0.1:1"),
        ("postgres://alice:s3cret@127.0.0.1:1/db", "alice:***@127.0.0.1:1"),
        ("sqlite:////no/such/folder/audit.db", "unable to open database file"),
    ],
)
def test_open_store_bad_url(url: str, expected: str) -> None:
    with pytest.raises(StorageError) as info:
        open_store(url)
    message = str(info.value)
    assert "Cannot open the audit database" in message
    assert expected in message
    assert "s3cret" not in message


def test_default_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_DATABASE_URL", raising=False)
    assert default_database_url() == "sqlite:///auditor.db"
    monkeypatch.setenv("AUDITOR_DATABASE_URL", "sqlite:///x.db")
    assert default_database_url() == "sqlite:///x.db"


@pytest.mark.postgres
def test_store_url_masks_password(pg_admin: Engine) -> None:
    # the test server trusts local connections, so any password is accepted
    url = make_url(PG_URL).set(password="s3cret").render_as_string(hide_password=False)
    with open_store(url, upgrade=False) as store:
        assert ":***@" in store.url
        assert "s3cret" not in store.url + repr(store)


def test_upgrade_from_0001_keeps_schedule_runs(db_url: str) -> None:
    from alembic import command

    with open_store(db_url, upgrade=False) as store:
        config = store.alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        raw(
            store,
            "INSERT INTO schedules (name, spec_path, cron, enabled, created_at) "
            "VALUES ('w', 's.yaml', '@daily', :t, :c)",
            t=True,
            c=datetime(2026, 11, 1, tzinfo=UTC),
        )
        raw(
            store,
            "INSERT INTO schedule_runs (schedule_id, started_at, status) "
            "VALUES (1, :c, 'completed')",
            c=datetime(2026, 11, 2, tzinfo=UTC),
        )
        assert store.upgrade() == store.head_revision()
        with store.session() as session:
            run = session.scalars(select(ScheduleRun)).one()
            assert (run.status, run.scheduled_for, run.duration_s) == ("completed", None, None)
