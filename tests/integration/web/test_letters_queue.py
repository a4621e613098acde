"""The review queue of held letters (issue 21): approve issues a held letter (its PDF
rendered again without the marks), reject never issues it, four eyes keeps the issuer
from reviewing, and every act is an event naming the reviewer.

Real letters: the demo credit model, letters issued through ``auditor letters AUDIT_ID``
(the group's default command) with a review so strict that adverse letters are held.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from auditor.cli import app
from auditor.service import perform_audit
from auditor.store import open_store, verify
from auditor.store.decisions import load_decisions
from auditor.store.models import Event, Letter
from tests._web import fast_hashing

__all__ = ["fast_hashing"]  # fixtures used by name


def _held_store(case: Any, folder: Path) -> tuple[str, str]:
    data = yaml.safe_load(case.spec_path.read_text())
    # a strict review that holds: every continuous feature moved by half its spread
    data["letters"]["review"] = {"draws": 5, "noise": 0.5, "threshold": 0.0, "scale": "spread"}
    data.setdefault("explain", {})["quality"] = {"enabled": False}
    for key in ("model", "data"):
        data[key]["path"] = str(case.spec_path.parent / data[key]["path"])
    spec = folder / "credit_review.yaml"
    spec.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{folder / 'letters.db'}"
    audit_id = perform_audit(spec, database_url=url).result.audit_id
    with open_store(url) as store, store.session() as session:
        stored = load_decisions(session, audit_id)
    ids = [d for d, f in zip(stored.ids, stored.favorable, strict=True) if not f][:6]
    # the contract: 'auditor letters AUDIT_ID ...' still issues letters
    done = CliRunner().invoke(
        app, ["letters", audit_id, "--decisions", ",".join(ids), "--db", url, "-q"]
    )
    assert done.exit_code in (0, 1), done.output
    return url, audit_id


@pytest.fixture(scope="module")
def held(credit_case: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return _held_store(credit_case, tmp_path_factory.mktemp("queue"))


def _queue(url: str, *extra: str) -> list[dict[str, Any]]:
    done = CliRunner().invoke(app, ["letters", "review", "--json", "--db", url, *extra])
    assert done.exit_code == 0, done.output
    return list(json.loads(done.stdout))


def _text(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    return subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_approve_issues_a_held_letter_and_reject_never_does(
    held: tuple[str, str], tmp_path: Path
) -> None:
    url, _audit_id = held
    queued = _queue(url)
    assert len(queued) >= 2, "the strict review should hold at least two letters"
    first, second = queued[0], queued[1]
    assert first["status"] == "needs_review"
    issuer = first["requested_by"]
    assert issuer
    runner = CliRunner()
    db = ["--db", url]
    # amend: state fewer of the letter's own reasons (a note is required; no new reason)
    features = [r["feature"] for r in first["reasons"]]
    assert len(features) >= 2
    invented = runner.invoke(
        app,
        [
            *("letters", "review", "--amend", str(first["id"]), "--keep", "age"),
            "--by",
            "Rita",
            "--note",
            "x",
            *db,
        ],
    )
    assert invented.exit_code == 2
    assert "some of the letter's own reasons" in " ".join(invented.stderr.split())
    amended = runner.invoke(
        app,
        [
            *("letters", "review", "--amend", str(first["id"]), "--keep", features[1]),
            *("--by", "Rita Reviewer", "--note", "first reason unstable; second confirmed", *db),
        ],
    )
    assert amended.exit_code == 0, amended.output
    dropped = first["reasons"][0]["text"]
    kept = first["reasons"][1]["text"]
    # four eyes: whoever issued the batch may not approve it (found across the amendment)
    same = runner.invoke(
        app,
        ["letters", "review", "--approve", str(first["id"]), "--by", issuer, "--four-eyes", *db],
    )
    assert same.exit_code == 2
    assert "four eyes" in same.stderr
    approved = runner.invoke(
        app,
        [
            "letters",
            "review",
            "--approve",
            str(first["id"]),
            "--by",
            "Rita Reviewer",
            "--note",
            "reasons checked against the file",
            "--out",
            str(tmp_path),
            *db,
        ],
    )
    assert approved.exit_code == 0, approved.output
    pdf = tmp_path / f"letter-{first['id']}.pdf"
    text = " ".join(_text(pdf).split())
    assert "NOT FOR MAILING" not in text
    assert " ".join(kept.split()) in text
    assert " ".join(dropped.split()) not in text
    rejected = runner.invoke(
        app, ["letters", "review", "--reject", str(second["id"]), "--by", "Rita Reviewer", *db]
    )
    assert rejected.exit_code == 0, rejected.output
    again = runner.invoke(
        app, ["letters", "review", "--approve", str(second["id"]), "--by", "Rita Reviewer", *db]
    )
    assert again.exit_code == 2
    assert "'rejected', not held or blocked" in " ".join(again.stderr.split())

    with open_store(url) as store, store.session() as session:
        statuses = dict(session.execute(select(Letter.id, Letter.status)).all())
        events = session.execute(
            select(Event.user, Event.payload).where(Event.kind == "letter.reviewed")
        ).all()
        assert verify(session).problems == []
    assert statuses[first["id"]] == "issued"
    assert statuses[second["id"]] == "rejected"
    acts = [(user, json.loads(p)["action"], json.loads(p)["letter_id"]) for user, p in events]
    assert acts == [
        ("Rita Reviewer", "amend", first["id"]),
        ("Rita Reviewer", "approve", first["id"]),
        ("Rita Reviewer", "reject", second["id"]),
    ]
    # the approved PDF is the stored, issued letter; the queue keeps the history
    found = runner.invoke(app, ["verify", "--pdf", str(pdf), *db])
    assert found.exit_code == 0, found.output
    assert "its stored status is 'issued'" in " ".join(found.stdout.split())
    history = {q["id"]: q for q in _queue(url, "--all")}
    assert [h["note"] for h in history[first["id"]]["history"]] == [
        "first reason unstable; second confirmed",
        "reasons checked against the file",
    ]
    assert [r["feature"] for r in history[first["id"]]["reasons"]] == [features[1]]
    assert first["id"] not in {q["id"] for q in _queue(url)}


def test_the_queue_in_the_web_workspace(
    held: tuple[str, str], tmp_path: Path, fast_hashing: None
) -> None:
    from fastapi.testclient import TestClient

    from auditor.users import create_token
    from tests._web import USERS, add_users, login, make_app

    url, _ = held
    with open_store(url) as store:
        add_users(store)
        officer = create_token(store, USERS["officer"], actor="test")
    app_ = make_app(url, tmp_path)
    with TestClient(app_) as client:
        auth = {"Authorization": f"Bearer {officer}"}
        queue = client.get("/api/letters/review", headers=auth).json()
        held_ids = [q["id"] for q in queue if q["status"] == "needs_review"]
        assert held_ids
        done = client.post(
            f"/api/letters/{held_ids[0]}/review", json={"action": "approve"}, headers=auth
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "issued"
        assert done.json()["reviewer"] == USERS["officer"]
        bad = client.post(
            f"/api/letters/{held_ids[0]}/review", json={"action": "approve"}, headers=auth
        )
        assert bad.status_code == 400
    with TestClient(app_) as client:
        csrf = login(client, USERS["officer"])
        page = client.get("/letters/review").text
        assert 'id="review-queue"' in page
        rest = held_ids[1:]
        if rest:
            posted = client.post(
                f"/letters/{rest[0]}/review",
                data={"action": "reject", "note": "unstable", "csrf": csrf},
                follow_redirects=False,
            )
            assert posted.status_code == 303
            page = client.get("/letters/review").text
            assert "reject by otto" in page
            letter_page = client.get(f"/letters/{rest[0]}").text
            assert 'id="letter-history"' in letter_page
            assert "Reject by otto" in letter_page
            assert "“unstable”" in letter_page
