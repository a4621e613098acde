"""auditor audits list, short audit ids everywhere, and step progress on stderr."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import auditor._cli_progress as cli_progress
from auditor.cli import app
from auditor.result import AuditResult
from auditor.store import open_store, save_audit
from auditor.store.search import resolve_stored_id
from tests.factories import make_result

runner = CliRunner()


def _audit(audit_id: str, name: str, day: int, *, model: str, passed: bool = False) -> AuditResult:
    base = make_result(name=name)
    findings = tuple(replace(f, status="pass") for f in base.findings) if passed else base.findings
    return replace(
        base,
        findings=findings,
        spec={**base.spec, "model": {"kind": "lightgbm", "path": f"models/{name}.txt"}},
        provenance=replace(base.provenance, model_sha256=model * 64),
        run=replace(base.run, audit_id=audit_id, started_at=f"2026-11-{day:02d}T10:00:00+00:00"),
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    """Three stored audits: two share the id prefix ``abcd``."""
    db = f"sqlite:///{tmp_path / 'audits.db'}"
    store = open_store(db)
    with store.session() as session:
        save_audit(session, _audit("abcd1111-0000", "credit-scorecard", 3, model="1"))
        save_audit(session, _audit("abcd2222-0000", "hiring-screen", 10, model="2", passed=True))
        save_audit(session, _audit("ef017777-0000", "credit-scorecard", 20, model="3"))
    store.dispose()
    return db


def _ids(output: str) -> list[str]:
    return [json.loads(line)["short_id"] for line in output.splitlines() if line.strip()]


def test_audits_list_filters_by_name_model_date_and_status(url: str) -> None:
    every = runner.invoke(app, ["audits", "list", "--db", url, "--json"])
    assert every.exit_code == 0, every.output
    assert _ids(every.output) == ["ef017777", "abcd2222", "abcd1111"]  # newest first
    cases = {
        ("--name", "CREDIT"): ["ef017777", "abcd1111"],
        ("--model", "2222"): ["abcd2222"],  # start of the model's SHA-256
        ("--model", "hiring-screen.txt"): ["abcd2222"],  # part of its path
        ("--since", "2026-11-05"): ["ef017777", "abcd2222"],
        ("--until", "2026-11-05"): ["abcd1111"],
        ("--status", "fail"): ["ef017777", "abcd1111"],
        ("--limit", "1"): ["ef017777"],
    }
    for (flag, value), expected in cases.items():
        res = runner.invoke(app, ["audits", "list", "--db", url, "--json", flag, value])
        assert res.exit_code == 0, res.output
        assert _ids(res.output) == expected, (flag, value)
    table = runner.invoke(app, ["audits", "list", "--db", url, "--name", "hiring"])
    assert "abcd2222" in table.output
    assert "hiring-screen" in table.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--since", "last week"], "--since must be a date"),
        (["--status", "failed"], "--status must be one of"),
    ],
)
def test_audits_list_bad_input_exits_2(url: str, args: list[str], words: str) -> None:
    res = runner.invoke(app, ["audits", "list", "--db", url, *args])
    assert res.exit_code == 2
    assert words in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_short_ids_resolve_and_ambiguous_ones_list_the_matches(url: str) -> None:
    store = open_store(url)
    with store.session() as session:
        assert resolve_stored_id(session, "ef01") == "ef017777-0000"
        assert resolve_stored_id(session, "ABCD1111") == "abcd1111-0000"
        assert resolve_stored_id(session, "abcd2222-0000") == "abcd2222-0000"
    store.dispose()
    ambiguous = runner.invoke(app, ["report", "abcd", "--db", url])
    assert ambiguous.exit_code == 2
    text = " ".join(ambiguous.output.split())
    assert "ambiguous" in text
    assert "abcd1111-0000 (credit-scorecard" in text
    assert "abcd2222-0000 (hiring-screen" in text
    letters = runner.invoke(app, ["letters", "abcd", "--db", url])
    assert letters.exit_code == 2
    assert "ambiguous" in letters.output
    unknown = runner.invoke(app, ["report", "zz", "--db", url])
    assert unknown.exit_code == 2
    assert "No audit with id 'zz'" in unknown.output


def test_report_accepts_the_short_id(url: str, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    res = runner.invoke(app, ["report", "ef017777", "--db", url, "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF")


def test_step_progress_names_slow_steps_and_is_off_when_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_progress, "SLOW_S", 0.01)
    with cli_progress.step_progress(True) as step:
        assert step is not None
        step("explain")
        time.sleep(0.05)
        step("measure")
    said = capsys.readouterr().err
    assert "explain:" in said
    assert "measure:" not in said  # took less than the threshold
    with cli_progress.step_progress(False) as off:
        assert off is None
