"""The CLI end to end: audit, store, verify, policy commands and the demo."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.demo import DemoCase
from auditor.spec import load_spec
from auditor.store import list_audits, open_store

runner = CliRunner()


def test_audit_writes_json_pdf_and_database(
    credit_case: DemoCase, tmp_path: Path, sqlite_url: str
) -> None:
    json_path, pdf_path = tmp_path / "out" / "a.json", tmp_path / "out" / "a.pdf"
    res = runner.invoke(
        app,
        [
            "audit",
            str(credit_case.spec_path),
            "--json",
            str(json_path),
            "--pdf",
            str(pdf_path),
            "--db",
            sqlite_url,
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(json_path.read_text())
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")
    # the demo credit report keeps within 20 pages (issue 19; it was 35, then 20-22)
    info = subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True)
    if info.returncode == 0:  # poppler-utils installed
        found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
        assert found is not None, info.stdout
        assert int(found.group(1)) <= 20, found.group(1)
    store = open_store(sqlite_url)
    with store.session() as s:
        rows = list_audits(s)
    assert [r.id for r in rows] == [doc["run"]["audit_id"]]
    db_file = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(db_file) as con:
        ((sha, blob),) = con.execute("select sha256, pdf from reports").fetchall()
    assert sha == hashlib.sha256(pdf).hexdigest() == hashlib.sha256(blob).hexdigest()
    verify = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert verify.exit_code == 0, verify.output
    assert "No alteration" in verify.output
    with sqlite3.connect(db_file) as con:
        con.execute("update reports set pdf = ?", (pdf + b"tampered",))
    tampered = runner.invoke(app, ["verify", "--db", sqlite_url])
    assert tampered.exit_code == 1


def test_fail_on_exit_codes(credit_case: DemoCase) -> None:
    ok = runner.invoke(
        app, ["audit", str(credit_case.spec_path), "--no-store", "--quiet", "--fail-on", "critical"]
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app, ["audit", str(credit_case.spec_path), "--no-store", "--fail-on", "severe"]
    )
    assert bad.exit_code == 2
    assert "--fail-on must be one of" in bad.output


def test_db_upgrade_and_policy_commands(sqlite_url: str) -> None:
    up = runner.invoke(app, ["db", "upgrade", "--db", sqlite_url])
    assert up.exit_code == 0
    assert "revision" in up.output
    listed = runner.invoke(app, ["policies", "list"])
    assert listed.exit_code == 0
    assert "EEOC-UGESP-4D-FOUR-FIFTHS" in listed.output
    valid = runner.invoke(app, ["policies", "validate"])
    assert valid.exit_code == 0
    assert "all valid" in valid.output


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the command end to end, with the shared fixtures' 12 training epochs instead of the
    # demo's 40 (this test checks what the command writes, not how well the MLP fits)
    monkeypatch.setattr("auditor.demo_runner.HIRING_EPOCHS", 12)
    monkeypatch.setattr("auditor.demo_runner.SCREENER_TRAINING", 300)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--db", url])
    assert res.exit_code == 0, res.output
    pdfs = sorted((tmp_path / "demo").glob("*.pdf"))
    assert [p.name for p in pdfs] == [
        "german-credit-demo.pdf",
        "hiring-screen-demo-ll144.pdf",  # the public NYC LL144 summary, with its JSON
        "hiring-screen-demo.pdf",
    ]
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert (tmp_path / "demo" / "hiring-screen-demo-ll144.json").is_file()
    # issue 23: the two sample text screeners' specs, ready for `auditor audit`
    for name in ("screener_audit.yaml", "screener_audit_clean.yaml"):
        assert load_spec(tmp_path / "demo" / name).screener is not None
    store = open_store(url)
    with store.session() as s:
        assert sorted(r.name for r in list_audits(s)) == [
            "german-credit-demo",
            "hiring-screen-demo",
        ]
