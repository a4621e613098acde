"""Sign-off of a stored report (issue 21): an event with signer, role, time and the
report's digest; a signed copy with the sign-off block filled; verify names the signer
and says when a later attestation or report superseded the sign-off."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from auditor.cli import app
from auditor.result import AuditResult
from auditor.store import add_report, open_store, save_audit, verify
from tests._web import fast_hashing
from tests.integration.db.test_attestations import credit_result

__all__ = ["credit_result", "fast_hashing"]  # fixtures used by name


def _pdf_text(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    done = subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


def test_signoff_from_the_cli(sqlite_url: str, credit_result: AuditResult, tmp_path: Path) -> None:
    with open_store(sqlite_url) as store, store.session() as session:
        save_audit(session, credit_result)
    audit_id = credit_result.audit_id
    runner = CliRunner()
    db = ["--db", sqlite_url]
    done = runner.invoke(app, ["report", audit_id, "--preset", "aaa", "-q", *db])
    assert done.exit_code == 0, done.output
    signed_pdf = tmp_path / "signed.pdf"
    done = runner.invoke(
        app,
        [
            *("signoff", audit_id[:8], "--report", "1", "--by", "Clara Chief"),
            *("--role", "CCO", "--out", str(signed_pdf), *db),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "signed copy stored as report 2" in " ".join(done.stdout.split())
    page = _pdf_text(signed_pdf)
    assert "Reviewed by" in page
    assert "Clara Chief" in page
    assert "CCO" in page
    assert "stored report 1 (evaluation 1" in page

    checked = runner.invoke(app, ["verify", *db])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.stdout.split())
    assert "Sign-off 1: report 1 of audit" in said
    assert "signed by Clara Chief (CCO)" in said
    assert said.count("; current.") == 1
    handed = runner.invoke(app, ["verify", "--pdf", str(signed_pdf), *db])
    assert handed.exit_code == 0, handed.output
    said = " ".join(handed.stdout.split())
    assert "It is a signed copy of report 1, signed by Clara Chief (CCO)" in said

    evidence = tmp_path / "ev.yaml"
    evidence.write_text("retention_months: 25\n")
    assert runner.invoke(app, ["attest", audit_id, "-e", str(evidence), *db]).exit_code == 0
    checked = runner.invoke(app, ["verify", *db])
    assert "superseded by evaluation 2" in " ".join(checked.stdout.split())
    # the signed report shows evaluation 1: it can no longer be signed
    again = runner.invoke(
        app, ["signoff", audit_id, "--report", "2", "--by", "X", "--role", "CCO", *db]
    )
    assert again.exit_code == 2
    assert "evaluation 2 is newer" in " ".join(again.stderr.split())
    blank = runner.invoke(
        app, ["signoff", audit_id, "--report", "2", "--by", " ", "--role", "CCO", *db]
    )
    assert blank.exit_code == 2
    assert "signer's name" in blank.stderr

    # tampering with the sign-off row is named, with the signer recorded
    with open_store(sqlite_url) as store:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE signoffs SET signer = 'Mallory'"))
        with store.session() as session:
            problems = verify(session).problems
    assert any(
        "table signoffs" in p and "signer is 'Mallory', recorded 'Clara Chief'" in p
        for p in problems
    ), problems


@dataclasses.dataclass(frozen=True)
class _Plain:
    html: str
    pdf: bytes
    sha256: str


def test_signoff_through_the_api_and_superseded_by_a_later_report(
    sqlite_url: str, credit_result: AuditResult, tmp_path: Path, fast_hashing: None
) -> None:
    from fastapi.testclient import TestClient

    from auditor.report import build_report
    from auditor.users import create_token
    from tests._web import USERS, add_users, login, make_app

    audit_id = credit_result.audit_id
    with open_store(sqlite_url) as store:
        with store.session() as session:
            save_audit(session, credit_result, report=build_report(credit_result, preset="aaa"))
        add_users(store)
        officer = create_token(store, USERS["officer"], actor="test")
        viewer = create_token(store, USERS["viewer"], actor="test")
        admin = create_token(store, USERS["admin"], actor="test")
    app_ = make_app(sqlite_url, tmp_path)
    url = f"/api/audits/{audit_id}/reports/1/signoff"
    with TestClient(app_) as client:
        refused = client.post(
            url, json={"role": "CCO"}, headers={"Authorization": f"Bearer {viewer}"}
        )
        assert refused.status_code == 403
        auth = {"Authorization": f"Bearer {officer}"}
        done = client.post(url, json={"role": "Chief Compliance Officer"}, headers=auth)
        assert done.status_code == 201, done.text
        body = done.json()
        assert body["signer"] == USERS["officer"]
        assert body["current"] is True
        copy = client.get(
            f"/api/audits/{audit_id}/report.pdf?report_id={body['signed_report_id']}",
            headers=auth,
        )
        assert copy.headers["X-Report-Verified"] == "yes"
        assert hashlib.sha256(copy.content).hexdigest() == body["signed_sha256"]
        # a second person signs the same report: the first copy does not stand in the way
        cosigned = client.post(
            url, json={"role": "Head of Model Risk"}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert cosigned.status_code == 201, cosigned.text
        assert cosigned.json()["signed_report_id"] == 3
        second = client.get(f"/api/audits/{audit_id}/report.pdf?report_id=3", headers=auth).content
    copy_path = tmp_path / "cosigned.pdf"
    copy_path.write_bytes(second)
    text = _pdf_text(copy_path)
    assert "Head of Model Risk" in text
    assert f"Also signed: {USERS['officer']} (Chief Compliance Officer)" in text
    with TestClient(app_) as client:  # the audit page lists it, the officer sees the form
        login(client, USERS["officer"])
        page = client.get(f"/audits/{audit_id}").text
        assert f'action="/audits/{audit_id}/reports/1/signoff"' in page
        assert 'class="signer">otto<' in page
        assert 'class="signer">ada<' in page
    pdf = b"%PDF-1.7\nre-rendered"
    with open_store(sqlite_url) as store, store.session() as session:
        add_report(
            session, audit_id, _Plain("<p/>", pdf, hashlib.sha256(pdf).hexdigest()), user="t"
        )
    with TestClient(app_) as client:
        listed = client.get(f"/api/audits/{audit_id}/signoffs", headers=auth).json()
    assert [s["signer"] for s in listed] == [USERS["officer"], USERS["admin"]]
    assert [s["superseded_by"] for s in listed] == ["report 4", "report 4"]


@pytest.mark.parametrize("value", ["Olga\x00Officer", "Olga\x1b[31m"], ids=["NUL", "escape"])
def test_a_signer_with_control_characters_is_refused(value: str) -> None:
    """Whitespace is folded, but a NUL passed SQLite and failed PostgreSQL's commit (with
    a message naming no field); an escape sequence would be replayed by every terminal."""
    from auditor.errors import StorageError
    from auditor.store.signoffs import check_name

    with pytest.raises(StorageError, match=r"signer's name.*control characters"):
        check_name(value, "signer's name", 200)
