"""Attested evidence makes a new evaluation of a stored audit without the model (issue 21).

One real credit audit (LightGBM on German credit, explanation quality off to stay fast)
is run per module and stored in each test's own database.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from auditor.demo import DemoCase
from auditor.result import AuditResult
from auditor.store import Store, load_result, save_audit, verify
from tests._db import db_url, pg_admin, raw, row_counts, store
from tests._web import fast_hashing

__all__ = ["db_url", "fast_hashing", "pg_admin", "store"]  # fixtures used by name

RULE = "REGB-12-RETENTION"


def credit_spec(case: DemoCase) -> dict[str, Any]:
    """The demo credit spec with absolute paths, no letters and no quality stage."""
    spec = yaml.safe_load(case.spec_path.read_text())
    base = case.spec_path.parent
    spec["data"]["path"] = str(base / spec["data"]["path"])
    spec["model"]["path"] = str(base / spec["model"]["path"])
    spec.pop("letters", None)
    spec.setdefault("explain", {})["quality"] = {"enabled": False}
    return spec


@pytest.fixture(scope="module")
def credit_result(credit_case: DemoCase) -> AuditResult:
    return auditor.run_audit(credit_spec(credit_case))


def _status(result: AuditResult, rule: str = RULE) -> list[str]:
    return [f.status for f in result.findings if f.rule_id == rule]


def _stored(store: Store, result: AuditResult) -> str:
    with store.session() as session:
        save_audit(session, result)
    return result.audit_id


def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to load the model, read the data or run an audit fails the test."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("an attestation must not run the model or read the data")

    import auditor.data
    import auditor.models
    import auditor.pipeline

    monkeypatch.setattr(auditor.pipeline, "run_audit", refuse)
    monkeypatch.setattr(auditor.pipeline, "load_model", refuse)
    monkeypatch.setattr(auditor.pipeline, "measure", refuse)  # every engine's driver
    monkeypatch.setattr(auditor.models, "load_model", refuse)
    monkeypatch.setattr(auditor.data, "load_decisions", refuse)


def test_attesting_retention_makes_a_new_evaluation(
    store: Store,
    db_url: str,
    credit_result: AuditResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit_id = _stored(store, credit_result)
    assert _status(credit_result) == ["needs_attestation"]
    _no_model(monkeypatch)
    evidence = tmp_path / "evidence.yaml"
    evidence.write_text("retention_months: 25\n")
    document = tmp_path / "retention-policy.txt"
    document.write_bytes(b"Application records are kept for 25 months.")
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "attest",
            audit_id[:8],
            "--evidence",
            str(evidence),
            "--by",
            "Olga Officer",
            "--document",
            str(document),
            "--db",
            db_url,
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    outcome = json.loads(done.stdout)
    assert outcome["evaluation"] == 2
    # exactly the attested rule changed; every other finding is the run's own
    assert outcome["changed"] == [
        {"rule_id": RULE, "scope": "record_retention", "was": "needs_attestation", "now": "pass"}
    ]
    with store.session() as session:
        latest = load_result(session, audit_id)
        first = load_result(session, audit_id, evaluation=1)
        assert verify(session).problems == []
    assert _status(latest) == ["pass"]
    assert _status(first) == ["needs_attestation"]
    assert first.to_json() == credit_result.to_json()  # the run's evaluation, unchanged
    others = [f for f in latest.findings if f.rule_id != RULE]
    assert others == [f for f in credit_result.findings if f.rule_id != RULE]
    assert latest.metrics == credit_result.metrics
    (attested,) = latest.attested
    assert (attested.key, attested.value, attested.by) == ("retention_months", 25, "Olga Officer")
    assert attested.document_name == "retention-policy.txt"
    assert attested.document_sha256 == outcome["document_sha256"]

    listed = runner.invoke(app, ["evaluations", audit_id, "--db", db_url, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["evaluation"] for r in rows] == [1, 2]
    assert rows[0]["findings"]["needs_attestation"] - 1 == rows[1]["findings"]["needs_attestation"]
    assert rows[1]["attestations"][0]["by"] == "Olga Officer"
    old = runner.invoke(app, ["evaluations", audit_id, "-n", "1", "--db", db_url, "--json"])
    assert old.exit_code == 0
    assert _status(AuditResult.from_json(old.stdout)) == ["needs_attestation"]

    # a second attestation of another key keeps the first one's value
    again = tmp_path / "more.yaml"
    again.write_text("evidence:\n  dpia_date: 2026-11-02\n")
    done = runner.invoke(
        app, ["attest", audit_id, "-e", str(again), "--by", "Dana DPO", "--db", db_url]
    )
    assert done.exit_code == 0, done.output
    with store.session() as session:
        third = load_result(session, audit_id)
    assert third.evaluation == 3
    assert _status(third) == ["pass"]
    assert {(a.key, a.value, a.by) for a in third.attested} == {
        ("retention_months", 25, "Olga Officer"),
        ("dpia_date", "2026-11-02", "Dana DPO"),
    }


def test_a_short_retention_fails_and_pruning_removes_it_all(
    store: Store, credit_result: AuditResult
) -> None:
    import hashlib
    from datetime import UTC, datetime

    from auditor.attest import attest
    from auditor.store import DEFAULT_RETENTION, add_report, prune
    from auditor.store.signoffs import Signable, record_signoff

    audit_id = _stored(store, credit_result)
    with store.session() as session:
        outcome = attest(session, audit_id, {"retention_months": 12}, attested_by="x", user="t")
    assert outcome.changed[0]["now"] == "fail"
    # the workspace's "with failures" filter follows the latest evaluation
    from auditor.web.workspace import search_audits

    assert credit_result.findings_by_status()["fail"] == 0
    assert [r.id for r in search_audits(store, finding="fail")] == [audit_id]
    assert search_audits(store, finding="fail")[0].findings["fail"] == 1
    # a sign-off of a stored report (the PDFs here are stand-ins: rendering is tested
    # elsewhere), so that pruning meets every new table
    with store.session() as session:
        result = load_result(session, audit_id)
        ids = []
        for label in (b"signed", b"copy"):
            pdf = b"%PDF-1.7 " + label
            plain = _Plain("<p/>", pdf, hashlib.sha256(pdf).hexdigest())
            ids.append(add_report(session, audit_id, plain, user="t", result=result))
    with store.session() as session:
        report_sha = hashlib.sha256(b"%PDF-1.7 signed").hexdigest()
        signed = Signable(ids[0], report_sha, "full", result.to_json(), 2)
        record_signoff(
            session, audit_id=audit_id, signed=signed, signed_report_id=ids[1],
            signer="Clara", role="CCO", signed_at=datetime.now(UTC), user="t",
        )  # fmt: skip
        assert verify(session).problems == []
    with store.session() as session:
        pruned = prune(
            session, {**DEFAULT_RETENTION, "audits": 1}, now=datetime(2100, 1, 1, tzinfo=UTC),
            user="dpo",
        )  # fmt: skip
    assert pruned.audit_ids == [audit_id]
    counts = row_counts(store)
    assert (counts["evaluations"], counts["attestations"], counts["signoffs"]) == (0, 0, 0)
    with store.session() as session:
        assert verify(session).problems == []


@dataclasses.dataclass(frozen=True)
class _Plain:
    html: str
    pdf: bytes
    sha256: str


def test_bad_evidence_is_refused_and_nothing_is_stored(
    store: Store, db_url: str, credit_result: AuditResult, tmp_path: Path
) -> None:
    audit_id = _stored(store, credit_result)
    before = row_counts(store)
    runner = CliRunner()
    cases = {
        "typo.yaml": ("retention_month: 25\n", "key 'retention_month': no rule"),
        "computed.yaml": ("ll144_excluded_categories: [x]\n", "computed by auditor"),
        "list.yaml": ("- retention_months\n", "must be a mapping"),
        "broken.yaml": ("retention_months: [25\n", "not valid YAML"),
        "empty.yaml": ("retention_months:\n", "give a value"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        done = runner.invoke(app, ["attest", audit_id, "-e", str(path), "--db", db_url])
        assert done.exit_code == 2, (name, done.output)
        message = " ".join(done.stderr.split())
        assert name in message, message
        assert expected in message, (name, message)
        assert "Traceback" not in done.output
    missing = runner.invoke(
        app, ["attest", audit_id, "-e", str(tmp_path / "none.yaml"), "--db", db_url]
    )
    assert missing.exit_code == 2
    assert "none.yaml" in missing.stderr
    unknown = runner.invoke(
        app, ["attest", "ffffffff", "-e", str(tmp_path / "typo.yaml"), "--db", db_url]
    )
    assert unknown.exit_code == 2
    assert "ffffffff" in unknown.stderr
    assert row_counts(store) == before


def test_tampering_with_an_attestation_is_detected(
    store: Store, credit_result: AuditResult
) -> None:
    from auditor.attest import attest
    from auditor.store import Document

    audit_id = _stored(store, credit_result)
    with store.session() as session:
        attest(
            session,
            audit_id,
            {"retention_months": 25},
            attested_by="Olga Officer",
            user="t",
            document=Document("policy.txt", b"25 months"),
        )
    raw(store, "UPDATE attestations SET evidence = :e", e='{"retention_months": 36}')
    with store.session() as session:
        problems = verify(session).problems
    assert any(
        "table attestations, row" in p and "retention_months" in p and "altered" in p
        for p in problems
    ), problems
    raw(store, "UPDATE attestations SET evidence = :e", e='{"retention_months": 25}')
    raw(store, "UPDATE attestations SET document = :d", d=b"12 months")
    raw(store, "UPDATE evaluations SET result_json = :j", j="{}")
    with store.session() as session:
        problems = verify(session, audit_id).problems
    joined = "\n".join(problems)
    assert "attached document does not match its SHA-256" in joined
    assert "evaluation 2: stored result JSON does not match its SHA-256" in joined
    raw(store, "DELETE FROM attestations")
    with store.session() as session:
        problems = verify(session).problems
    assert any("table attestations" in p and "deleted outside auditor" in p for p in problems)


def test_the_report_names_who_attested_what(
    sqlite_url: str, credit_result: AuditResult, tmp_path: Path
) -> None:
    from auditor.attest import attest
    from auditor.store import open_store

    store = open_store(sqlite_url)
    audit_id = _stored(store, credit_result)
    with store.session() as session:
        attest(session, audit_id, {"retention_months": 25}, attested_by="Olga Officer", user="t")
    out = tmp_path / "report.pdf"
    done = CliRunner().invoke(
        app, ["report", audit_id, "--preset", "aaa", "--out", str(out), "--db", sqlite_url]
    )
    assert done.exit_code == 0, done.output
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    text = subprocess.run(
        [exe, "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Evidence attested after the run (evaluation 2)" in text
    assert "retention_months" in text
    assert "Olga Officer" in text
    with store.session() as session:
        assert verify(session).problems == []
    store.dispose()


# --- the web workspace: API and the form on the audit page ------------------------------


def test_attest_through_the_api_and_the_audit_page(
    sqlite_url: str, credit_result: AuditResult, tmp_path: Path, fast_hashing: None
) -> None:
    import base64

    from fastapi.testclient import TestClient

    from auditor.store import open_store
    from auditor.users import create_token
    from tests._web import USERS, add_users, login, make_app

    # SQLite only: the store layer runs on both backends in the tests above
    db_url = sqlite_url
    store = open_store(db_url)
    audit_id = _stored(store, credit_result)
    add_users(store)
    officer = create_token(store, USERS["officer"], actor="test")
    viewer = create_token(store, USERS["viewer"], actor="test")
    app = make_app(db_url, tmp_path)
    url = f"/api/audits/{audit_id}/attestations"
    body = {
        "evidence": {"retention_months": 25},
        "document": {"name": "policy.txt", "content_base64": base64.b64encode(b"25").decode()},
    }
    with TestClient(app) as client:
        as_viewer = client.post(url, json=body, headers={"Authorization": f"Bearer {viewer}"})
        assert as_viewer.status_code == 403
        auth = {"Authorization": f"Bearer {officer}"}
        bad = client.post(url, json={"evidence": {"retention_month": 25}}, headers=auth)
        assert bad.status_code == 400
        assert "retention_month" in bad.json()["detail"]
        garbled = {**body, "document": {"name": "x.pdf", "content_base64": "%%not base64"}}
        refused = client.post(url, json=garbled, headers=auth)
        assert refused.status_code == 400
        assert "base64" in refused.json()["detail"]
        done = client.post(url, json=body, headers=auth)
        assert done.status_code == 201, done.text
        assert done.json()["changed"] == [
            {
                "rule_id": RULE,
                "scope": "record_retention",
                "was": "needs_attestation",
                "now": "pass",
            }
        ]
        listed = client.get(f"/api/audits/{audit_id}/evaluations", headers=auth).json()
        assert [e["evaluation"] for e in listed] == [1, 2]
        assert listed[1]["attestations"][0]["by"] == USERS["officer"]
        first = client.get(f"/api/audits/{audit_id}/evaluations/1", headers=auth)
        assert _status(AuditResult.from_dict(first.json())) == ["needs_attestation"]
        missing = client.get(f"/api/audits/{audit_id}/evaluations/9", headers=auth)
        assert missing.status_code == 404
        kept = client.get(
            f"/api/audits/{audit_id}/findings",
            params={"status": "pass", "pack": "ecoa_reg_b", "sort": "rule"},
            headers=auth,
        ).json()
        assert RULE in [f["rule_id"] for f in kept]
        assert {f["status"] for f in kept} == {"pass"}
        assert [f["rule_id"] for f in kept] == sorted(f["rule_id"] for f in kept)
        old = client.get(
            f"/api/audits/{audit_id}/findings", params={"evaluation": 1, "status": "pass"},
            headers=auth,
        ).json()  # fmt: skip
        assert RULE not in [f["rule_id"] for f in old]
        diff = client.get(f"/api/audits/{audit_id}/compare", headers=auth).json()
        assert diff["before"]["evaluation"] == 1
        assert diff["after"]["evaluation"] == 2
        assert [(c["rule_id"], c["before"], c["after"]) for c in diff["findings_changed"]] == [
            (RULE, "needs_attestation", "pass")
        ]
        apart = {r["intervals_apart"] for r in diff["ratios"]}  # None: a ratio without one
        assert apart == {False, None}  # the same stored metrics: nothing moved
        assert all(r["before"] == r["after"] for r in diff["ratios"])
        bad_sort = client.get(f"/api/audits/{audit_id}/findings?sort=colour", headers=auth)
        assert bad_sort.status_code == 400
        detail = client.get(f"/api/audits/{audit_id}", headers=auth).json()
        assert detail["result"]["evaluation"] == 2
        assert (
            detail["audit"]["findings"]["needs_attestation"]
            == listed[1]["findings"]["needs_attestation"]
        )

    with TestClient(app) as client:  # the form, as an officer signed in
        csrf = login(client, USERS["officer"])
        page = client.get(f"/audits/{audit_id}").text
        assert 'id="attest-form"' in page
        assert "retention_months by otto" in page
        refused = client.post(
            f"/audits/{audit_id}/attest", data={"evidence": "dpia_dte: 2026-11-02", "csrf": csrf}
        )
        assert refused.status_code == 400
        assert "dpia_dte" in refused.text
        posted = client.post(
            f"/audits/{audit_id}/attest",
            data={"evidence": "dpia_date: 2026-11-02", "csrf": csrf},
            files={"document": ("dpia.pdf", b"%PDF-1.7 dpia", "application/pdf")},
            follow_redirects=False,
        )
        assert posted.status_code == 303, posted.text
        page = client.get(posted.headers["location"]).text
        assert "dpia_date by otto (document dpia.pdf" in page
    with TestClient(app) as client:  # a viewer sees the evaluations, not the form
        login(client, USERS["viewer"])
        # item 4: the findings filtered, and what changed since the run
        narrowed = client.get(f"/audits/{audit_id}?status=pass&pack=ecoa_reg_b").text
        assert "REGB-12-RETENTION" in narrowed
        assert "GDPR-35-DPIA" not in narrowed.split('id="sec-findings"')[1]
        changes = client.get(f"/audits/{audit_id}/compare").text
        assert "REGB-12-RETENTION" in changes
        assert "GDPR-35-DPIA" in changes  # dpia_date attested through the form
        assert client.get(f"/audits/{audit_id}?severity=huge").status_code == 400
        page = client.get(f"/audits/{audit_id}").text
        assert 'id="evaluations"' in page
        assert 'id="attest-form"' not in page
    with store.session() as session:
        assert verify(session).problems == []
        assert load_result(session, audit_id).evaluation == 3
    store.dispose()


def test_names_the_store_cannot_keep_are_refused_naming_them(
    store: Store, db_url: str, credit_result: AuditResult, tmp_path: Path
) -> None:
    """The attester and the document's file name are stored in 200-character columns:
    longer ones (a long file name is ordinary) were stored whole on SQLite and refused
    by PostgreSQL with 'value too long for type character varying(200)', naming neither;
    a NUL passed SQLite and failed PostgreSQL the same way."""
    audit_id = _stored(store, credit_result)
    before = row_counts(store)
    evidence = tmp_path / "evidence.yaml"
    evidence.write_text("retention_months: 25\n")
    long_name = tmp_path / ("retention-policy-" + "x" * 200 + ".txt")
    long_name.write_bytes(b"Application records are kept for 25 months.")
    cases = {
        "long attester": (["--by", "Olga " + "x" * 250], ["--by", "200 characters"]),
        "NUL in the attester": (["--by", "Olga\x00Officer"], ["--by", "control characters"]),
        "long document name": (
            ["--by", "Olga", "--document", str(long_name)],
            [long_name.name[:40], "file name", "200 characters"],
        ),
    }
    runner = CliRunner()
    for case, (args, expected) in cases.items():
        done = runner.invoke(app, ["attest", audit_id, "-e", str(evidence), *args, "--db", db_url])
        assert done.exit_code == 2, (case, done.output)
        message = " ".join(done.stderr.split())
        for text in expected:
            assert text in message, (case, message)
    assert row_counts(store) == before
