"""Each finding links to its evidence (issue 21, item 4), on the audit page and in the API.

One real credit audit (LightGBM on German credit, the module fixture of
``tests/test_attestations.py``), stored in SQLite, with ``retention_months`` attested by
an officer together with a document.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auditor.report import render_html
from auditor.result import AuditResult
from auditor.store import Document, open_store, save_audit
from auditor.users import create_token
from auditor.web.attestations import attest_evidence
from auditor.web.evidence import row_anchor, rule_reads
from tests._web import USERS, add_users, fast_hashing, login, make_app
from tests.integration.db.test_attestations import credit_result

__all__ = ["credit_result", "fast_hashing"]  # fixtures used by name

POLICY = b"Records are kept for 25 months after notice (retention policy v3)."


@pytest.fixture
def workspace(
    credit_result: AuditResult, tmp_path: Path, fast_hashing: None
) -> Iterator[tuple[TestClient, str, str]]:
    """A signed-in officer's client, the audit id and an officer API token."""
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    store = open_store(db_url)
    with store.session() as session:
        save_audit(session, credit_result)
    add_users(store)
    attest_evidence(
        store,
        credit_result.audit_id,
        {"retention_months": 25},
        user=USERS["officer"],
        document=Document("retention-policy.txt", POLICY),
    )
    token = create_token(store, USERS["officer"], actor="test")
    with TestClient(make_app(db_url, tmp_path)) as client:
        login(client, USERS["officer"])
        yield client, credit_result.audit_id, token
    store.dispose()


def _cell_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def _evidence_of(html: str, rule_id: str, scope_text: str) -> str:
    """The evidence line of the first findings row naming ``rule_id`` and ``scope_text``."""
    for row in re.findall(r"<tr class=\"finding-[^\"]*\">(.*?)</tr>", html, re.S):
        if rule_id in row and scope_text in row:
            found = re.search(r'<span class="evidence">(.*?)</span>\s*</td>', row, re.S)
            if found:
                return found.group(1)
    raise AssertionError(f"no findings row with evidence for {rule_id} / {scope_text}")


def test_every_evidence_link_lands_on_the_row_chart_or_rule_it_names(
    workspace: tuple[TestClient, str, str], credit_result: AuditResult
) -> None:
    client, audit_id, _ = workspace
    html = client.get(f"/audits/{audit_id}").text
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids on the audit page"
    fragments = re.findall(r'<a class="ev ev-[a-z_]+" href="#([^"]+)"', html)
    assert len(fragments) > 50  # the demo audit has 140 findings, most with a metric row
    assert set(fragments) <= set(ids)

    # an impact-ratio finding of one age band: the link names the row that holds the value
    air = next(
        f
        for f in credit_result.findings
        if f.rule_id == "FL-DI-AIR" and f.scope.startswith("age_band=")
    )
    group = air.scope.split("=", 1)[1]
    line = _evidence_of(html, "FL-DI-AIR", group)
    target = re.search(r'href="#(attr-\d+-(?!fig-)[a-z0-9-]+)"', line)
    assert target is not None
    row = re.search(rf'<tr id="{target.group(1)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None
    assert _cell_text(re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)[0]) == group
    value = next(
        m.value
        for m in credit_result.metrics
        if (m.attribute, m.group, m.metric) == ("age_band", group, "adverse_impact_ratio")
    )
    assert value is not None
    assert f"{value:.3f}" in row.group(1)
    chart = re.search(r'href="#(attr-\d+-fig-\d+)"', line)
    assert chart is not None  # the adverse impact ratio chart of the attribute
    assert re.search(rf'<figure class="chart" id="{chart.group(1)}">', html)
    assert 'href="/policies#rule-FL-DI-AIR"' in line
    assert 'id="rule-FL-DI-AIR"' in client.get("/policies").text

    # the attested rule: who attested what, when, and the document's digest
    retention = _evidence_of(html, "REGB-12-RETENTION", "record_retention")
    assert "retention_months = 25 attested by otto" in retention
    assert "retention-policy.txt" in retention
    # a rule whose evidence nobody gave yet points at the form
    assert re.search(r'href="#attest-form">[a-z_]+: not attested yet', html)


def test_api_findings_carry_their_evidence(
    workspace: tuple[TestClient, str, str], credit_result: AuditResult
) -> None:
    client, audit_id, token = workspace
    auth = {"Authorization": f"Bearer {token}"}
    found = client.get(
        f"/api/audits/{audit_id}/findings", params={"pack": "ecoa_reg_b"}, headers=auth
    )
    assert found.status_code == 200, found.text
    by_key = {(f["rule_id"], f["scope"]): f["evidence"] for f in found.json()}
    retention = by_key[("REGB-12-RETENTION", "record_retention")]
    attested = [e for e in retention if e["kind"] == "attestation"]
    assert len(attested) == 1
    assert attested[0]["detail"]["by"] == USERS["officer"]
    assert attested[0]["detail"]["value"] == 25
    assert attested[0]["detail"]["document_sha256"] == hashlib.sha256(POLICY).hexdigest()
    rule = next(e for e in retention if e["kind"] == "rule")
    assert rule["detail"]["citation"].startswith("12 CFR 1002.12(b)")
    assert "retention_months" in rule["detail"]["checks"]

    metrics = {(m.attribute, m.group, m.metric): m for m in credit_result.metrics}
    rows = [e for ev in by_key.values() for e in ev if e["kind"] == "metric_row"]
    assert rows
    for e in rows:  # each names a stored record and links into the audit page
        d = e["detail"]
        assert d["value"] == metrics[(d["attribute"], d["group"], d["metric"])].value
        if e["href"] is not None:
            assert e["href"].startswith(f"/audits/{audit_id}#attr-")
    # before the attestation the same rule's evidence is open, pointing at the form
    first = client.get(
        f"/api/audits/{audit_id}/findings",
        params={"evaluation": 1, "pack": "ecoa_reg_b"},
        headers=auth,
    ).json()
    old = next(f for f in first if f["rule_id"] == "REGB-12-RETENTION")
    assert [e["kind"] for e in old["evidence"]] == ["open", "rule"]


def test_rule_reads_names_the_metrics_and_evidence_of_the_check() -> None:
    from auditor.policy import load_packs

    (pack,) = load_packs(["ecoa_reg_b"])
    rules = {r.id: r for r in pack.rules}
    present = ["adverse_impact_ratio", "impact_ratio", "smd", "selection_rate"]
    assert rule_reads(rules["FL-DI-AIR"], present) == (["adverse_impact_ratio"], [])
    assert rule_reads(rules["FL-DI-SMD"], present) == (["smd"], [])
    assert rule_reads(rules["REGB-12-RETENTION"], present) == ([], ["retention_months"])


def test_anchors_are_safe_ids_and_the_pdf_has_no_workspace_links(
    credit_result: AuditResult,
) -> None:
    assert row_anchor("attr-3", "impact_ratio", "female & 62 and over") == (
        "attr-3-impact-ratio-female-62-and-over"
    )
    html = render_html(credit_result)
    assert 'class="evidence"' not in html
    assert "-fig-1" not in html
