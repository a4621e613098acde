"""The audit-trail page and API list the chain events of one audit (issue 21, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.attest import attest
from auditor.result import AuditResult
from auditor.store import open_store, save_audit
from auditor.store.audit_trail import summarise
from tests._web import fast_hashing
from tests.factories import make_result
from tests.integration.db.test_attestations import credit_result

pytest.importorskip("fastapi", reason="the web extra is not installed")

__all__ = ["credit_result", "fast_hashing"]  # fixtures used by name


def test_the_trail_lists_this_audits_events_and_no_others(
    sqlite_url: str, credit_result: AuditResult, tmp_path: Path, fast_hashing: None
) -> None:
    from fastapi.testclient import TestClient

    from auditor.users import create_token
    from tests._web import USERS, add_users, login, make_app

    store = open_store(sqlite_url)
    other = make_result(name="<script>alert(1)</script>")
    with store.session() as session:
        save_audit(session, credit_result)
        save_audit(session, other)
    with store.session() as session:
        attest(
            session,
            credit_result.audit_id,
            {"retention_months": 25},
            attested_by="Olga <Officer>",
            user="otto",
        )
    add_users(store)
    viewer = create_token(store, USERS["viewer"], actor="test")
    app = make_app(sqlite_url, tmp_path)
    audit_id = credit_result.audit_id
    with TestClient(app) as client:
        anonymous = client.get(f"/api/audits/{audit_id}/events")
        assert anonymous.status_code == 401
        page = client.get(f"/audits/{audit_id}/trail", follow_redirects=False)
        assert page.status_code in (302, 303, 307)
        assert "/login" in page.headers["location"]

        events = client.get(
            f"/api/audits/{audit_id}/events", headers={"Authorization": f"Bearer {viewer}"}
        ).json()
        assert [e["kind"] for e in events] == ["audit.completed", "audit.attested"]
        assert events[1]["user"] == "otto"
        assert "attested by: Olga <Officer>" in events[1]["summary"]
        theirs = client.get(
            f"/api/audits/{other.audit_id}/events", headers={"Authorization": f"Bearer {viewer}"}
        ).json()
        assert [e["kind"] for e in theirs] == ["audit.completed"]
        assert {e["hash"] for e in theirs}.isdisjoint(e["hash"] for e in events)
        missing = client.get(
            "/api/audits/no-such-audit/events", headers={"Authorization": f"Bearer {viewer}"}
        )
        assert missing.status_code == 404

        login(client, USERS["viewer"])
        audit_page = client.get(f"/audits/{audit_id}").text
        assert f'href="/audits/{audit_id}/trail"' in audit_page
        trail = client.get(f"/audits/{audit_id}/trail")
        assert trail.status_code == 200
        html = trail.text
        body = html.split('id="trail-events"')[1]
        assert body.count("<tr>") == 1 + len(events)  # the header row and one per event
        for event in events:
            assert event["hash"] in body
        assert "audit.attested" in body
        assert "Olga &lt;Officer&gt;" in body  # escaped, never markup
        assert "<Officer>" not in body
        their_page = client.get(f"/audits/{other.audit_id}/trail").text
        assert "<script>alert" not in their_page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in their_page
        assert events[1]["hash"] not in their_page


def test_the_summary_is_one_short_line() -> None:
    payload = {
        "audit_id": "a",
        "sealed": {"audits": {"a": "x"}},
        "report_id": 3,
        "reasons": {"credit history": 4, "duration": 2},
        "ids": [1, 2, 3],
        "note": "x" * 500,
        "none": None,
    }
    line = summarise(payload)
    assert line.startswith("ids: 3 items; note: xxx")
    for quiet in ("sealed", "audit id", "none"):
        assert quiet not in line
    assert len(line) == 200
    assert line.endswith("…")
    assert summarise({"reasons": {"credit history": 4}, "report_id": 3}) == (
        "reasons: credit history 4; report id: 3"
    )
