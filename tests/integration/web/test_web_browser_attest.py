"""Attest and sign off in headless Chromium (issue 21): an officer answers the evidence
a rule needs on the audit page, sees the new evaluation, and signs the re-rendered report.

Same set-up as ``tests/integration/web/test_web_browser.py`` (Debian's Chromium through Playwright);
screenshots go to ``tmp_path`` and to ``$AUDITOR_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.result import AuditResult
from auditor.store import load_result, open_store, save_audit, verify
from tests._web import PASSWORD, USERS, LiveServer, add_users, live_server_factory, make_app
from tests.integration.db.test_attestations import credit_result
from tests.integration.web.test_web_browser import _shot, browser

__all__ = ["browser", "credit_result", "live_server_factory"]  # fixtures used by name
pytestmark = pytest.mark.browser


def test_officer_attests_and_signs_in_chromium(
    browser: Any,
    credit_result: AuditResult,
    tmp_path: Path,
    live_server_factory: Callable[[Any], LiveServer],
) -> None:
    from auditor.cli_report import rerender_report

    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    with open_store(db_url) as store:
        add_users(store)
        with store.session() as session:
            save_audit(session, credit_result)
    audit_id = credit_result.audit_id
    server = live_server_factory(make_app(db_url, tmp_path))
    shots = tmp_path / "shots"
    shots.mkdir()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/audits/{audit_id}")
    page.fill("input[name=name]", USERS["officer"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf".*/audits/{audit_id}$"))
    panel = page.locator("#sec-evaluations")
    assert "retention_months" in panel.inner_text()  # the open evidence is offered
    assert page.locator("#evaluations tbody tr").count() == 1

    # a misspelt key: refused, the key named, nothing stored
    page.fill("#evidence", "retention_month: 25")
    page.click("#attest-submit")
    error = page.locator("#attest-error").inner_text()
    assert "retention_month" in error
    assert "no rule" in error
    _shot(page, shots, "attest-01-refused", element=panel)

    page.fill("#evidence", "retention_months: 25")
    page.click("#attest-submit")
    page.wait_for_url(re.compile(r".*evaluation=2.*"))
    assert page.locator("#evaluations tbody tr").count() == 2
    assert "retention_months by otto" in page.locator("#evaluations").inner_text()
    attested = page.locator("#attested-evidence").inner_text()
    assert "retention_months" in attested
    assert "otto" in attested
    _shot(page, shots, "attest-02-evaluation-2", element=page.locator("#sec-evaluations"))
    with open_store(db_url) as store, store.session() as session:
        latest = load_result(session, audit_id)
    assert [f.status for f in latest.findings if f.rule_id == "REGB-12-RETENTION"] == ["pass"]

    # the report rendered from evaluation 2, then signed from its row on the page
    rerender_report(audit_id, preset="aaa", database_url=db_url, user="test")
    page.reload()
    page.fill("#signoff-role", "Chief Compliance Officer")
    page.click("#signoff-submit")
    page.wait_for_url(re.compile(r".*#sign-offs$"))
    signed = page.locator("#sign-offs").inner_text()
    assert "otto" in signed
    assert "Chief Compliance Officer" in signed
    assert "current" in signed
    _shot(page, shots, "attest-03-signed")
    context.close()
    with open_store(db_url) as store, store.session() as session:
        report = verify(session)
    assert report.ok, report.problems
    assert [s.signer for s in report.signoffs] == [USERS["officer"]]
