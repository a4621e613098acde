"""Tamper evidence: every change, insertion or deletion of stored rows is named by verify.

A store is filled once per backend through auditor's own writers (audit, report
re-render, letters, a held letter approved, users, a token, schedules and their runs,
pruning). Each tampering then runs inside a transaction that is rolled back after verify
has looked at it, so the cases share one store and stay fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Connection, Engine, make_url, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import StorageError
from auditor.schedule.service import add_schedule, remove_schedule, run_due, set_enabled
from auditor.store import Store, add_report, open_store, prune, save_audit, verify
from auditor.store.decisions import add_letters, save_decisions, set_letter_status
from auditor.store.models import Audit, FindingRow, Letter, Metric, User
from auditor.users import add_user, create_token, disable_user
from tests._db import PG_URL, db_url, pg_admin, raw
from tests.factories import make_result

__all__ = ["db_url", "pg_admin"]  # fixtures used by name

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
HELD_PDF = b"%PDF-1.7\nletter A-3, held for review"


@dataclasses.dataclass(frozen=True)
class FakeReport:
    html: str
    pdf: bytes
    sha256: str


def _report(label: str) -> FakeReport:
    pdf = b"%PDF-1.7\n" + label.encode()
    return FakeReport(f"<p>{label}</p>", pdf, hashlib.sha256(pdf).hexdigest())


def _letter(decision_id: str, status: str, pdf: bytes | None = None) -> dict[str, Any]:
    html = f"<p>Application {decision_id}: declined. Reasons: credit history.</p>"
    return {
        "decision_id": decision_id,
        "kind": "adverse_action",
        "html": html,
        "pdf": pdf,
        "sha256": hashlib.sha256(pdf if pdf is not None else html.encode()).hexdigest(),
        "status": status,
        "reasons": [{"feature": "credit_history", "share": 0.4}],
    }


@dataclasses.dataclass(frozen=True)
class Filled:
    url: str
    audit_id: str
    pruned_id: str
    first_pdf: bytes
    latest_pdf: bytes


@dataclasses.dataclass(frozen=True)
class _SpecDir:
    """What :func:`save_decisions` reads of a spec: where it lies."""

    base: Path

    def resolve(self, path: str) -> Path:
        return self.base / path


def _decisions(n: int) -> Any:
    """A scored batch of ``n`` decisions (model inputs, outcome, score)."""
    rng = np.random.default_rng(0)
    return types.SimpleNamespace(
        ids=np.array([f"D-{i:04d}" for i in range(n)]),
        features=pd.DataFrame({"income": rng.normal(size=n), "duration": rng.integers(6, 48, n)}),
        decisions=rng.integers(0, 2, n),
        scores=rng.random(n),
    )


def fill(store: Store, spec: Path) -> Filled:
    """Everything auditor writes, through its own functions (no direct row writes)."""
    kept, old = make_result(name="kept"), make_result(name="old")
    started = (NOW - timedelta(days=900)).isoformat()
    old = dataclasses.replace(old, run=dataclasses.replace(old.run, started_at=started))
    first, latest = _report("first"), _report("re-rendered")
    with store.session() as session:
        save_audit(session, kept, report=first)
        save_decisions(session, kept.audit_id, _SpecDir(spec.parent), _decisions(600))  # type: ignore[arg-type]
        save_audit(session, old, report=_report("old"))
        save_decisions(session, old.audit_id, _SpecDir(spec.parent), _decisions(3))  # type: ignore[arg-type]
    with store.session() as session:
        add_report(session, kept.audit_id, latest, user="officer")
        letters = [_letter("A-1", "issued"), _letter("A-2", "needs_review")]
        letters += [_letter("A-3", "needs_review", pdf=HELD_PDF)]
        add_letters(session, kept.audit_id, letters, user="officer")
        add_letters(session, old.audit_id, [_letter("O-1", "issued")], user="officer")
    with store.session() as session:
        held = session.scalars(select(Letter.id).where(Letter.decision_id == "A-2")).one()
        set_letter_status(session, held, "issued", user="reviewer", note="reasons checked")
    add_user(store, "alice", "viewer", "correct horse battery", actor="admin")
    add_user(store, "bob", "officer", "correct horse battery", actor="admin")
    create_token(store, "bob", label="ci", actor="admin")
    disable_user(store, "alice", actor="admin")
    add_schedule(store, "weekly", spec, "0 6 * * 1", user="ops", now=NOW, check_spec=False)
    add_schedule(store, "daily", spec, "0 6 * * *", user="ops", now=NOW, check_spec=False)
    set_enabled(store, "daily", False, user="ops", now=NOW)
    add_schedule(store, "gone", spec, "0 7 * * *", user="ops", now=NOW, check_spec=False)
    run_due(store, clock=lambda: NOW + timedelta(days=8), user="ops", runner=lambda *_: None)
    remove_schedule(store, "gone", user="ops")  # its run goes with it, recorded
    with store.session() as session:
        settings = {"letters": 762, "decisions": 762, "schedule_runs": 730, "audits": 365}
        pruned = prune(session, settings, now=datetime.now(UTC), user="dpo")
    assert pruned.audit_ids == [old.audit_id]
    return Filled(
        store.engine.url.render_as_string(False), kept.audit_id, old.audit_id, first.pdf, latest.pdf
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Filled]]:
    """One store per backend, filled by :func:`fill` (module-scoped: filled once)."""
    from argon2 import PasswordHasher

    import auditor.users

    cheap = PasswordHasher(time_cost=1, memory_cost=1024)
    saved, auditor.users._HASHER = auditor.users._HASHER, cheap
    tmp = tmp_path_factory.mktemp("tamper")
    spec = tmp / "spec.yaml"
    spec.write_text("name: x\n")
    schema: str | None = None
    admin: Engine | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'audit.db'}"
    else:
        admin = request.getfixturevalue("pg_admin")
        schema = f"auditor_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url = url.render_as_string(hide_password=False)
    try:
        with open_store(url) as store:
            yield store, fill(store, spec)
    finally:
        auditor.users._HASHER = saved
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _tampered(store: Store, *statements: str, audit_id: str | None = None) -> list[str]:
    """Verify's problems after ``statements`` (rolled back afterwards)."""
    with store.engine.connect() as conn:
        transaction = conn.begin()
        try:
            for statement in statements:
                conn.execute(text(statement))
            return _problems(conn, audit_id)
        finally:
            transaction.rollback()


def _problems(conn: Connection, audit_id: str | None = None) -> list[str]:
    with Session(bind=conn) as session:
        return verify(session, audit_id).problems


def test_legitimate_operations_verify_clean(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    with store.session() as session:
        report = verify(session)
        statuses = session.scalars(select(Letter.status).order_by(Letter.decision_id)).all()
        assert verify(session, data.audit_id).ok
    assert report.ok, report.problems
    assert statuses == ["issued", "issued", "needs_review"]  # A-2 approved; O-1 pruned
    assert report.rows >= 15  # audit, 2 reports, 3 letters, 2 users, token, schedules, ...


def _one(store: Store, stmt: Any) -> Any:
    with store.session() as session:
        return session.scalars(stmt.limit(1)).one()


def test_a_finding_changed_from_fail_to_pass(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    row = _one(
        store,
        select(FindingRow.id).where(
            FindingRow.audit_id == data.audit_id, FindingRow.status == "fail"
        ),
    )
    problems = _tampered(store, f"UPDATE findings SET status = 'pass' WHERE id = {row}")
    assert any(
        p.startswith(f"audit {data.audit_id}, table findings: finding ")
        and "status is 'pass', the stored result says 'fail'" in p
        for p in problems
    ), problems


def test_a_ratio_set_to_095(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    row = _one(
        store,
        select(Metric.id).where(
            Metric.audit_id == data.audit_id, Metric.metric == "impact_ratio", Metric.value < 0.8
        ),
    )
    problems = _tampered(store, f"UPDATE metrics SET value = 0.95 WHERE id = {row}")
    assert any(
        f"audit {data.audit_id}, table metrics: metric " in p
        and "impact_ratio of sex=Female" in p
        and "value is 0.95, the stored result says 0.625" in p
        for p in problems
    ), problems
    assert any(f"audit {data.audit_id}, table metrics: rows altered" in p for p in problems)


def test_findings_fail_zeroed(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(store, f"UPDATE audits SET findings_fail = 0 WHERE id = '{data.audit_id}'")
    assert any(
        p.startswith(
            f"audit {data.audit_id}, table audits: findings_fail is 0, the stored result has"
        )
        for p in problems
    ), problems
    assert any("table audits" in p and "findings_fail is 0, recorded" in p for p in problems)


def test_a_held_letter_flipped_to_issued(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(store, "UPDATE letters SET status = 'issued' WHERE decision_id = 'A-3'")
    assert any(
        p.startswith(f"audit {data.audit_id}, table letters, row ")
        and "(decision_id 'A-3')" in p
        and "status is 'issued', recorded 'needs_review'" in p
        for p in problems
    ), problems


def test_a_letters_text_edited(filled: tuple[Store, Filled]) -> None:
    store, _data = filled
    problems = _tampered(
        store,
        "UPDATE letters SET html = replace(html, 'credit history', 'income') "
        "WHERE decision_id = 'A-1'",
    )
    assert any(
        "table letters" in p and "(decision_id 'A-1')" in p and "html changed" in p
        for p in problems
    ), problems


def test_metric_rows_deleted(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(
        store, f"DELETE FROM metrics WHERE audit_id = '{data.audit_id}' AND metric = 'impact_ratio'"
    )
    assert any(
        f"audit {data.audit_id}, table metrics: 3 row(s) stored, 5 recorded" in p
        and "rows deleted outside auditor" in p
        for p in problems
    ), problems
    assert any("impact_ratio of sex=Female) deleted" in p for p in problems), problems


def test_rows_inserted(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(
        store,
        "INSERT INTO findings (audit_id, seq, rule_id, pack, title, scope, status, severity, "
        f"citation, message) VALUES ('{data.audit_id}', 99, 'X-1', 'p', 't', 's', 'pass', "
        "'low', 'c', 'm')",
        "INSERT INTO letters (audit_id, decision_id, kind, created_at, html, sha256, status) "
        f"VALUES ('{data.audit_id}', 'Z-9', 'adverse_action', '2026-12-01 00:00:00', "
        "'<p>forged</p>', 'x', 'issued')",
    )
    assert any(
        f"audit {data.audit_id}, table findings: finding 99 (X-1, scope 's') inserted" in p
        for p in problems
    ), problems
    assert any(
        "table letters" in p and "(decision_id 'Z-9')" in p and "inserted outside auditor" in p
        for p in problems
    ), problems


def test_a_users_role_changed_and_a_token_added(filled: tuple[Store, Filled]) -> None:
    store, _ = filled
    problems = _tampered(
        store,
        "UPDATE users SET role = 'admin', active = TRUE WHERE name = 'alice'",
        "INSERT INTO api_tokens (user_id, token_sha256, label, created_at) "
        "VALUES (1, 'f00d', 'backdoor', '2026-12-01 00:00:00')",
    )
    assert any(
        p.startswith("table users, row ")
        and "(name 'alice')" in p
        and "role is 'admin', recorded 'viewer'" in p
        and "active is True, recorded False" in p
        for p in problems
    ), problems
    assert any("table api_tokens" in p and "inserted outside auditor" in p for p in problems)


def test_a_schedule_edited_and_a_run_deleted(filled: tuple[Store, Filled]) -> None:
    store, _ = filled
    problems = _tampered(
        store,
        "UPDATE schedules SET spec_path = '/tmp/evil.yaml', enabled = TRUE WHERE name = 'daily'",
        "DELETE FROM schedule_runs",
    )
    assert any(
        "table schedules" in p
        and "(name 'daily')" in p
        and "spec_path is '/tmp/evil.yaml'" in p
        and "enabled is True, recorded False" in p
        for p in problems
    ), problems
    assert any("table schedule_runs" in p and "deleted outside auditor" in p for p in problems), (
        problems
    )


def test_a_report_html_rewritten_and_counts_checked_per_audit(
    filled: tuple[Store, Filled],
) -> None:
    store, data = filled
    statement = f"UPDATE reports SET html = '<p>forged</p>' WHERE audit_id = '{data.audit_id}'"
    problems = _tampered(store, statement, audit_id=data.audit_id)
    assert any(
        f"audit {data.audit_id}, table reports, row " in p and "html changed" in p for p in problems
    ), problems
    with store.session() as session:  # rolled back: verifies clean again
        assert verify(session, data.audit_id).ok


def test_an_audit_deleted_with_its_rows(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(
        store,
        f"DELETE FROM letters WHERE audit_id = '{data.audit_id}'",
        f"DELETE FROM reports WHERE audit_id = '{data.audit_id}'",
        f"UPDATE schedule_runs SET audit_id = NULL WHERE audit_id = '{data.audit_id}'",
        f"DELETE FROM audits WHERE id = '{data.audit_id}'",
    )
    assert any(f"audit {data.audit_id}: recorded in event" in p for p in problems), problems
    assert any(
        f"audit {data.audit_id}, table letters, row" in p and "deleted outside auditor" in p
        for p in problems
    ), problems
    assert any(
        f"audit {data.audit_id}, table findings: deleted outside auditor" in p for p in problems
    ), problems


# --- the command line: --audit with a short id, --pdf, and tampering on a copy -----------


def test_cli_verify_audit_and_pdf(filled: tuple[Store, Filled], tmp_path: Path) -> None:
    _store, data = filled
    if not data.url.startswith("sqlite"):
        pytest.skip("the CLI is exercised on the SQLite copy")
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--db", data.url, "--audit", data.audit_id[:8]])
    assert ok.exit_code == 0, ok.output
    assert f"audit {data.audit_id}:" in ok.output
    assert "No alteration" in ok.output

    latest, first, other = tmp_path / "latest.pdf", tmp_path / "first.pdf", tmp_path / "x.pdf"
    latest.write_bytes(data.latest_pdf)
    first.write_bytes(data.first_pdf)
    other.write_bytes(b"%PDF-1.7 something else")
    current = runner.invoke(app, ["verify", "--db", data.url, "--pdf", str(latest)])
    assert current.exit_code == 0, current.output
    assert f"of audit {data.audit_id} (kept)" in current.output
    assert "latest report of its audit" in current.output
    old = runner.invoke(app, ["verify", "--db", data.url, "--pdf", str(first)])
    assert old.exit_code == 3, old.output
    assert "Superseded" in old.output
    unknown = runner.invoke(app, ["verify", "--db", data.url, "--pdf", str(other)])
    assert unknown.exit_code == 1
    assert "not a report stored" in unknown.output
    held = tmp_path / "held.pdf"
    held.write_bytes(HELD_PDF)
    letter = runner.invoke(app, ["verify", "--db", data.url, "--pdf", str(held)])
    assert letter.exit_code == 1, letter.output
    assert "for decision 'A-3'" in letter.output
    assert "status is 'needs_review'" in letter.output
    assert "It was not issued" in letter.output
    missing = runner.invoke(app, ["verify", "--db", data.url, "--audit", "ffffffff"])
    assert missing.exit_code == 2
    assert "No audit with an id starting 'ffffffff'" in missing.output

    head = re.search(r"Chain head: event \d+, hash ([0-9a-f]{64})", ok.output)
    assert head is not None, ok.output
    pinned = runner.invoke(app, ["verify", "--db", data.url, "--head", head.group(1)])
    assert pinned.exit_code == 0, pinned.output
    rewritten = runner.invoke(app, ["verify", "--db", data.url, "--head", "ab" * 32])
    assert rewritten.exit_code == 1
    assert "no longer contains the chain head" in rewritten.output

    copy = tmp_path / "copy.db"
    shutil.copy(data.url.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    with open_store(url, upgrade=False) as opened:
        raw(opened, "UPDATE letters SET status = 'issued' WHERE decision_id = 'A-3'")
    tampered = runner.invoke(app, ["verify", "--db", url, "--audit", data.audit_id[:8]])
    assert tampered.exit_code == 1
    assert "status is 'issued', recorded 'needs_review'" in tampered.output
    assert "Traceback" not in tampered.output


# --- an existing database upgraded to 0008 ----------------------------------------------


def test_upgrade_seals_existing_rows(db_url: str) -> None:
    url = db_url
    result = make_result(name="legacy")
    with open_store(url, upgrade=False) as store:
        config = store.alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with store.session() as session:  # rows as auditor 0006 wrote them: no seals
            save_audit(session, result, report=_report("legacy"))
            session.add(
                User(name="carol", role="viewer", password_hash="x", active=True, created_at=NOW)
            )
        with (
            pytest.raises(StorageError, match="revision 0006; verify needs 0008"),
            store.session() as session,
        ):
            verify(session)
        assert store.upgrade() == store.head_revision()
        with store.session() as session:
            report = verify(session)
            kinds = session.execute(text("SELECT kind FROM events ORDER BY id")).scalars().all()
        assert report.ok, report.problems
        assert kinds[-1] == "db.sealed"
        raw(store, "UPDATE users SET role = 'admin'")
        with store.session() as session:
            problems = verify(session).problems
        assert any(
            "(name 'carol')" in p and "role is 'admin', recorded 'viewer'" in p for p in problems
        ), problems


def test_fresh_database_gets_no_seal_event(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/new.db") as store, store.session() as session:
        assert session.scalar(text("SELECT COUNT(*) FROM events")) == 0
        assert verify(session).ok


def test_web_failure_filter_reads_finding_rows(filled: tuple[Store, Filled]) -> None:
    from auditor.web.workspace import search_audits

    store, data = filled
    assert [r.id for r in search_audits(store, finding="fail")] == [data.audit_id]
    raw(store, f"UPDATE audits SET findings_fail = 0 WHERE id = '{data.audit_id}'")
    try:
        rows = search_audits(store, finding="fail")
        assert [r.id for r in rows] == [data.audit_id]
        assert rows[0].failed > 0  # counted from the finding rows, not the zeroed column
    finally:
        with store.session() as session:
            audit = session.get(Audit, data.audit_id)
            assert audit is not None
            audit.findings_fail = rows[0].failed
    with store.session() as session:
        assert verify(session).ok


def test_a_decision_flipped(filled: tuple[Store, Filled]) -> None:
    store, data = filled
    problems = _tampered(
        store,
        "UPDATE decisions SET favorable = NOT favorable WHERE decision_id = 'D-0300' "
        f"AND audit_id = '{data.audit_id}'",
    )
    assert any(
        p.startswith(f"audit {data.audit_id}, table decisions: rows altered since event")
        and "same count, 600" in p
        and "first difference among the rows with decision_id 'D-0256' to 'D-0511'" in p
        for p in problems
    ), problems


def test_a_recorded_rejection_verifies_and_a_bad_status_is_refused(
    filled: tuple[Store, Filled],
) -> None:
    store, _ = filled
    with store.engine.connect() as conn:
        transaction = conn.begin()
        try:
            with Session(bind=conn) as session:
                held = session.scalars(select(Letter.id).where(Letter.decision_id == "A-3")).one()
                set_letter_status(session, held, "rejected", user="reviewer", note="unstable")
                assert verify(session).ok, verify(session).problems
                with pytest.raises(StorageError, match="Unknown letter status 'sent'"):
                    set_letter_status(session, held, "sent", user="reviewer")
        finally:
            transaction.rollback()


def test_orm_changes_without_a_sealing_event_are_sealed_at_commit(tmp_path: Path) -> None:
    from auditor.store.models import ApiToken, Event

    with open_store(f"sqlite:///{tmp_path}/net.db") as store:
        with store.session() as session:  # a writer that forgot sealed=
            session.add(
                User(name="dan", role="viewer", password_hash="h", active=True, created_at=NOW)
            )
        with store.session() as session:
            user = session.scalars(select(User)).one()
            session.add(ApiToken(user_id=user.id, token_sha256="t", label="x", created_at=NOW))
        with store.session() as session:
            kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
            assert kinds == ["rows.sealed", "rows.sealed"]
            token = session.scalars(select(ApiToken)).one()
            token.last_used_at = NOW  # a column left out of the seal: no event
        with store.session() as session:
            assert session.scalar(text("SELECT COUNT(*) FROM events")) == 2
            report = verify(session)
        assert report.ok, report.problems
        raw(store, "UPDATE users SET role = 'admin'")  # outside auditor: still caught
        with store.session() as session:
            assert any("role is 'admin'" in p for p in verify(session).problems)
