"""A process killed (SIGKILL) while it writes an audit never leaves a half-written audit.

A driver process stores an audit with its report and is killed at chosen points of the
write (after the audits row, after the metrics, after the report, after the event,
just before COMMIT, just after it), or at random moments while it stores audits in a
loop. The database is then opened afresh and checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from auditor.store import Store, load_result, verify
from auditor.store.models import Audit, Event, FindingRow, Metric, Report
from tests._db import db_url, pg_admin, row_counts, store
from tests._paths import REPO

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name


DRIVER = r"""
import hashlib, os, signal, sys
from dataclasses import dataclass
from sqlalchemy import event
from auditor.store import open_store, save_audit
from tests.factories import make_result

url, point, loops = sys.argv[1], sys.argv[2], int(sys.argv[3])

@dataclass(frozen=True)
class Report:
    html: str
    pdf: bytes
    sha256: str

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

store = open_store(url, upgrade=False)
if point.startswith("insert:"):
    table = point.split(":", 1)[1]
    def after(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()} "):
            die()
    event.listen(store.engine, "after_cursor_execute", after)
elif point == "commit":
    event.listen(store.engine, "commit", die)
print("ready", flush=True)
for i in range(loops):
    pdf = b"%PDF-1.7 " + os.urandom(2048)
    report = Report("<p>r</p>", pdf, hashlib.sha256(pdf).hexdigest())
    with store.session() as session:
        save_audit(session, make_result(name=f"crash-{i}"), report=report)
if point == "after-commit":
    die()
print("done", flush=True)
"""


def _driver(url: str, point: str, loops: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, url, point, str(loops)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def assert_consistent(store: Store) -> int:
    """Every stored audit is whole (rows, report, event) and verify passes; return count."""
    with store.session() as session:
        report = verify(session)
        assert report.ok, report.problems
        ids = session.scalars(select(Audit.id)).all()
        for audit_id in ids:
            result = load_result(session, audit_id)
            n_metrics = session.scalar(
                select(func.count()).select_from(Metric).where(Metric.audit_id == audit_id)
            )
            n_findings = session.scalar(
                select(func.count()).select_from(FindingRow).where(FindingRow.audit_id == audit_id)
            )
            n_reports = session.scalar(
                select(func.count()).select_from(Report).where(Report.audit_id == audit_id)
            )
            assert n_metrics == len(result.metrics)
            assert n_findings == len(result.findings)
            assert n_reports == 1
        events = session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "audit.completed")
        )
        assert events == len(ids)
    return len(ids)


@pytest.mark.parametrize(
    "point",
    [
        "insert:audits",
        "insert:metrics",
        "insert:findings",
        "insert:reports",
        "insert:events",
        "commit",
    ],
)
def test_killed_before_commit_leaves_nothing(store: Store, db_url: str, point: str) -> None:
    proc = _driver(db_url, point)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert set(row_counts(store).values()) == {0}
    assert assert_consistent(store) == 0


def test_killed_after_commit_keeps_the_whole_audit(store: Store, db_url: str) -> None:
    proc = _driver(db_url, "after-commit")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert assert_consistent(store) == 1


def test_killed_at_random_moments_stays_consistent(store: Store, db_url: str) -> None:
    rng = random.Random(7)
    for _ in range(4):
        proc = _driver(db_url, "none", loops=10_000)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert_consistent(store)
    assert assert_consistent(store) > 0
