"""The letters' hold rate is stored with the audit (letter_batches, migration 0009): sealed
and verified like the letters, readable from Python, on the web audit page and in a
re-rendered report, and rebuilt for letters issued before the table existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from sqlalchemy import text

from auditor.cli_report import rerender_report
from auditor.letters.review import hold_summary
from auditor.letters.service import issue_letters
from auditor.service import perform_audit
from auditor.store import load_letter_batches, open_store, verify
from auditor.store.decisions import load_decisions
from tests._db import raw


@pytest.fixture(scope="module")
def issued(credit_case: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Six adverse letters of the credit demo, with noise large enough to hold some."""
    tmp = tmp_path_factory.mktemp("batches")
    data = yaml.safe_load(credit_case.spec_path.read_text())
    data["letters"]["review"] = {"draws": 5, "noise": 0.5, "threshold": 0.0}
    for key in ("model", "data"):
        data[key]["path"] = str(credit_case.spec_path.parent / data[key]["path"])
    spec = tmp / "credit.yaml"
    spec.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{tmp / 'a.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as store:
        with store.session() as session:
            stored = load_decisions(session, audit_id)
        ids = [d for d, f in zip(stored.ids, stored.favorable, strict=True) if not f][:6]
        letters = issue_letters(store, audit_id, decisions=",".join(ids))
    return {"url": url, "audit_id": audit_id, "letters": letters, "tmp": tmp}


def test_the_batch_is_stored_with_its_counts_and_hold_rate(issued: dict[str, Any]) -> None:
    statuses = [lt.record["status"] for lt in issued["letters"]]
    assert "needs_review" in statuses  # the settings hold some: the counts are not all zero
    with open_store(issued["url"]) as store, store.session() as session:
        batches = load_letter_batches(session, issued["audit_id"])
        assert verify(session, issued["audit_id"]).ok
    assert len(batches) == 1
    batch = batches[0]
    assert (batch.letters, batch.issued, batch.held, batch.blocked) == (
        6,
        statuses.count("issued"),
        statuses.count("needs_review"),
        statuses.count("blocked"),
    )
    assert batch.reviewed == 6
    assert batch.hold_rate == round(statuses.count("needs_review") / 6, 4)
    # the same summary as letters-summary.json, reasons included
    assert batch.summary == hold_summary([lt.record for lt in issued["letters"]])
    assert sum(batch.summary["principal_reasons"].values()) == 6
    assert sum(batch.summary["hold_reasons"].values()) == batch.held


def test_a_changed_batch_is_reported_by_verify(issued: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(issued["url"].removeprefix("sqlite:///")).read_bytes())
    with open_store(f"sqlite:///{copy}") as store:
        raw(store, "UPDATE letter_batches SET held = 0, hold_rate = 0.0")
        with store.session() as session:
            problems = verify(session).problems
    assert any(
        "table letter_batches" in p and "held is 0, recorded" in p and "hold_rate is 0.0" in p
        for p in problems
    ), problems


def test_rerendered_report_and_web_page_show_the_letters_line(issued: dict[str, Any]) -> None:
    from auditor.web.workspace import audit_page

    statuses = [lt.record["status"] for lt in issued["letters"]]
    held = statuses.count("needs_review")
    expected = (
        f"{statuses.count('issued')} issued, {held} held for review, "
        f"{statuses.count('blocked')} blocked; hold rate {held / 6:.1%} of 6 adverse letter(s)"
    )
    artifact = rerender_report(issued["audit_id"], database_url=issued["url"], user="t")
    assert '<h2 class="plain">Letters</h2>' in artifact.html
    assert expected in artifact.html
    assert "main principal reasons" in artifact.html
    with open_store(issued["url"]) as store:
        lines = audit_page(store, issued["audit_id"])["letter_lines"]
    assert len(lines) == 1
    assert expected in lines[0]


def test_upgrade_rebuilds_batches_of_letters_issued_before_0009(
    issued: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "old.db"
    copy.write_bytes(Path(issued["url"].removeprefix("sqlite:///")).read_bytes())
    url = f"sqlite:///{copy}"
    with open_store(url, upgrade=False) as store:
        with store.session() as session:
            before = load_letter_batches(session, issued["audit_id"])
        config = store.alembic_config()
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")  # as auditor 0008 stored them: no batch rows
        assert store.upgrade() == store.head_revision()
        with store.session() as session:
            after = load_letter_batches(session, issued["audit_id"])
            last = session.execute(text("SELECT kind FROM events ORDER BY id DESC")).first()
            assert verify(session).ok, verify(session).problems
    assert last is not None
    assert last[0] == "db.sealed"
    assert [(b.issued, b.held, b.blocked, b.hold_rate, b.summary) for b in after] == [
        (b.issued, b.held, b.blocked, b.hold_rate, b.summary) for b in before
    ]
