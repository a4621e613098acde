"""Uploaded specs, background audit jobs, signed sessions and ``auditor serve``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from sqlalchemy import select

from auditor.errors import SpecError
from auditor.store import open_store
from auditor.store.models import Audit, Event
from auditor.users import create_token
from auditor.web.sessions import csrf_ok, end_session, find_session, start_session
from auditor.web.uploads import load_uploaded_spec
from tests._db import db_url, pg_admin  # noqa: F401 (fixtures)
from tests._web import add_users, fast_hashing, make_app  # noqa: F401 (fixture)

SPEC = """\
name: upload-test
domain: hiring
data: {path: DATA}
columns: {id: id, decision: hired}
protected: [sex]
"""


def test_uploaded_spec_paths_are_relative_to_the_data_root(tmp_path: Path) -> None:
    spec = load_uploaded_spec(SPEC.replace("DATA", "d.csv").encode(), "my spec.yaml", tmp_path)
    assert spec.resolve(spec.data.path) == tmp_path / "d.csv"
    for bad in ("../d.csv", "/etc/passwd", "sub/../../d.csv"):
        with pytest.raises(SpecError, match=r"data\.path.*resolves outside") as info:
            load_uploaded_spec(SPEC.replace("DATA", bad).encode(), "my spec.yaml", tmp_path)
        assert "my_spec.yaml" in str(info.value)
    with pytest.raises(SpecError, match=r"^x\.yaml: malformed YAML at line 1") as info:
        load_uploaded_spec(b"name: [", "x.yaml", tmp_path)
    assert str(tmp_path) not in str(info.value)  # names the upload, not a temporary file
    with pytest.raises(SpecError, match="empty"):
        load_uploaded_spec(b"  \n", "x.yaml", tmp_path)


def test_sessions_refuse_tampering_expiry_and_sign_out(
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
) -> None:
    # sessions are rows now (revision 0007): a cookie is a lookup key, not a signed claim
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        add_users(store)
        value, session = start_session(store, 1, hours=1)
        found = find_session(store, value)
        assert found is not None
        assert found[1] == session
        assert found[0].id == 1
        assert find_session(store, value[:-1] + ("A" if value[-1] != "A" else "B")) is None
        assert find_session(store, "garbage") is None
        assert find_session(store, "x" * 10_000) is None
        assert csrf_ok(session, session.csrf)
        assert not csrf_ok(session, None)
        assert not csrf_ok(session, "0" * 32)
        expired, _ = start_session(store, 1, hours=-1)
        assert find_session(store, expired) is None
        assert end_session(store, value)
        assert find_session(store, value) is None
        assert not end_session(store, value)


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("completed", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_failing_upload_shows_its_error_and_stores_nothing(
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    app = make_app(url, tmp_path)
    spec = SPEC.replace("DATA", "missing.csv").encode()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        started = client.post("/api/audits", files={"spec": ("s.yaml", spec, "text/yaml")})
        assert started.status_code == 202, started.text
        job = _wait(client, started.json()["id"])
        assert job["state"] == "failed"
        assert "missing.csv" in job["error"]
        page = client.get(f"/jobs/{job['id']}")
        assert "missing.csv" in page.text
        assert "The audit stopped" in page.text
        assert job["stage"] == "failed"
        assert job["stages"][-1] == "load data"  # where it stopped
        assert "load data" in page.text
        refused = client.post(
            "/api/audits",
            files={"spec": ("s.yaml", SPEC.replace("DATA", "../x.csv").encode(), "text/yaml")},
        )
        assert refused.status_code == 400
        assert "outside" in refused.json()["detail"]
    with open_store(url) as store, store.session() as session:
        assert session.scalars(select(Audit)).all() == []
        kinds = [(e.kind, e.user) for e in session.scalars(select(Event).order_by(Event.id))]
    assert ("audit.requested", "otto") in kinds
    assert kinds[-1][0] == "audit.failed"


def test_serve_runs_uvicorn_with_proxy_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from auditor.cli import app as cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    done = CliRunner().invoke(
        cli, ["serve", "--port", "8123", "--db", url, "--data-root", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    assert calls[0]["port"] == 8123
    assert calls[0]["host"] == "127.0.0.1"
    assert calls[0]["proxy_headers"] is True
    web = calls[0]["app"].state.web
    assert web.settings.data_root == tmp_path.resolve()
    web.store.dispose()
    bad = CliRunner().invoke(cli, ["serve", "--db", url, "--data-root", str(tmp_path / "no")])
    assert bad.exit_code == 2


def test_audit_list_filters_and_trend_across_runs(db_url: str) -> None:  # noqa: F811
    import dataclasses

    from auditor.store import save_audit
    from auditor.web.workspace import audit_page, search_audits
    from tests.factories import make_result

    first = make_result(name="hiring-q3")
    run = dataclasses.replace(first.run, started_at="2026-01-01T00:00:00+00:00")
    first = dataclasses.replace(first, run=run)
    second = make_result(name="hiring-q3")
    other = dataclasses.replace(make_result(name="credit-x"), domain="credit")
    with open_store(db_url) as store:
        with store.session() as session:
            for result in (first, second, other):
                save_audit(session, result)
        everything = search_audits(store)
        assert {a.id for a in everything} == {first.audit_id, second.audit_id, other.audit_id}
        assert [a.id for a in search_audits(store, q="Q3")] == [second.audit_id, first.audit_id]
        assert [a.id for a in search_audits(store, domain="credit")] == [other.audit_id]
        warned = {a.id for a in everything if a.findings["warn"] > 0}
        assert {a.id for a in search_audits(store, finding="warn")} == warned
        assert search_audits(store, q=second.audit_id[:8])[0].id == second.audit_id
        assert search_audits(store, q="%") == []  # wildcards are matched literally
        page = audit_page(store, second.audit_id)
        assert audit_page(store, first.audit_id)["web_trend"] is None  # nothing earlier
    trend = page["web_trend"]
    assert trend["previous_audit_id"] == first.audit_id
    rates = {(r["group"], r["metric"]): r for r in trend["rows"]}
    female = rates[("Female", "selection_rate")]
    assert female["previous"] == female["current"] == 0.25
    assert female["change"] == 0.0
    assert page["pdf_check"] is None  # stored without a report
    from auditor.web.templating import environment

    html = (
        environment()
        .get_template("web/audit.html.j2")
        .render(**page, title="t", user=None, csrf="", path="/")
    )
    assert "This run against the previous run of <strong>hiring-q3</strong>" in html
    assert html.count('<tr class="flagged">') == sum(1 for r in trend["rows"] if r["flags"])
    assert female["label"] in html


def test_login_throttle_counts_failures_per_client_and_name() -> None:
    from auditor.web.throttle import LoginThrottle

    throttle = LoginThrottle(limit=3, window_s=60)
    for t in (0.0, 1.0, 2.0):
        assert throttle.allowed("10.0.0.1", "Otto", now=t)
        throttle.failed("10.0.0.1", "Otto", now=t)
    assert not throttle.allowed("10.0.0.1", "otto", now=3.0)  # names compare case-blind
    assert throttle.allowed("10.0.0.2", "otto", now=3.0)  # another client
    assert throttle.allowed("10.0.0.1", "vera", now=3.0)  # another name
    assert throttle.allowed("10.0.0.1", "otto", now=61.5)  # the oldest failure expired
    throttle.succeeded("10.0.0.1", "otto")
    assert throttle.allowed("10.0.0.1", "otto", now=3.0)


def test_letters_issued_in_batch_from_the_web(
    tmp_path: Path,
    credit_case: Any,
    fast_hashing: None,  # noqa: F811
) -> None:
    """The letters job runs the letters service on a stored audit; failures are shown."""
    from auditor.service import perform_audit
    from auditor.store.models import Letter

    url = f"sqlite:///{tmp_path / 'letters.db'}"
    audit_id = perform_audit(credit_case.spec_path, database_url=url).result.audit_id
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    app = make_app(url, tmp_path)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        with open_store(url) as store, store.session() as session:
            ids = [d for (d,) in session.execute(select(Letter.decision_id))]
        assert ids == []
        started = client.post(
            "/api/letters/issue", json={"audit_id": audit_id, "decisions": "GC-0005"}
        )
        assert started.status_code == 202, started.text
        job = _wait(client, started.json()["id"])
        assert job["state"] == "completed", job["error"]
        assert job["kind"] == "letters"
        assert "issued" in job["summary"]
        assert "held for human review" in client.get(f"/jobs/{job['id']}").text
        bad = client.post("/api/letters/issue", json={"audit_id": "no-such-audit"})
        assert bad.status_code == 404
        assert "no-such-audit" in bad.json()["detail"]
        unknown = client.post("/api/letters/issue", json={"audit_id": audit_id, "decisions": "X"})
        failed = _wait(client, unknown.json()["id"])
        assert failed["state"] == "failed"
        assert "X" in failed["error"]
    with open_store(url) as store, store.session() as session:
        stored = [lt.decision_id for lt in session.scalars(select(Letter))]
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert stored == ["GC-0005"]
    assert "letters.requested" in kinds
    assert "letters.issued" in kinds


def test_web_letters_take_a_recipients_file(
    tmp_path: Path,
    credit_case: Any,
    fast_hashing: None,  # noqa: F811
) -> None:
    """API (CSV text) and page (file upload): the letters are addressed; a bad file is
    refused before any job starts, naming the line; the names reach no event."""
    from auditor.service import perform_audit
    from auditor.store.models import Letter
    from tests._web import login

    url = f"sqlite:///{tmp_path / 'letters.db'}"
    audit_id = perform_audit(credit_case.spec_path, database_url=url).result.audit_id
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    csv_text = "decision_id,name,address_1,address_2\nGC-0005,Jan Novák,Na Příkopě 12,Praha\n"
    app = make_app(url, tmp_path)
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        body = {"audit_id": audit_id, "decisions": "GC-0005", "recipients_csv": csv_text}
        started = client.post("/api/letters/issue", json=body, headers=bearer)
        assert started.status_code == 202, started.text
        job = client.get(f"/api/jobs/{started.json()['id']}", headers=bearer)
        while job.json()["state"] not in ("completed", "failed"):
            time.sleep(0.1)
            job = client.get(f"/api/jobs/{started.json()['id']}", headers=bearer)
        assert job.json()["state"] == "completed", job.json()["error"]
        dup = csv_text + "GC-0005,Someone,Street 1,Town\n"
        bad = client.post(
            "/api/letters/issue", json={**body, "recipients_csv": dup}, headers=bearer
        )
        assert bad.status_code == 400
        assert "line 3" in bad.json()["detail"]
        assert "listed twice" in bad.json()["detail"]
        csrf = login(client, "otto")
        form = {"audit_id": audit_id, "decisions": "GC-0006", "csrf": csrf}
        upload = ("to.csv", csv_text.replace("GC-0005", "GC-0006").encode(), "text/csv")
        sent = client.post(
            "/letters/issue", data=form, files={"recipients": upload}, follow_redirects=False
        )
        assert sent.status_code == 303, sent.text
        job_id = sent.headers["location"].rsplit("/", 1)[1]
        assert _wait(client, job_id)["state"] == "completed"
        wrong = ("to.csv", b"decision_id,name\nGC-0006,A\n", "text/csv")
        refused = client.post("/letters/issue", data=form, files={"recipients": wrong})
        assert refused.status_code == 400
        assert "missing column(s) address_1" in refused.text
        # no file chosen: the browser sends an empty part; letters stay unaddressed
        empty = ("", b"", "application/octet-stream")
        plain = client.post(
            "/letters/issue", data=form, files={"recipients": empty}, follow_redirects=False
        )
        assert plain.status_code == 303, plain.text
        assert _wait(client, plain.headers["location"].rsplit("/", 1)[1])["state"] == "completed"
        # a letter's page and record show its status and why (review stored, migration 0006)
        with open_store(url) as store, store.session() as session:
            first = session.scalars(select(Letter).order_by(Letter.id)).first()
            assert first is not None
            first_id, first_review = first.id, first.review
        record = client.get(f"/api/letters/{first_id}").json()
        assert record["status"] in ("issued", "needs_review")
        assert record["review"] == first_review
        assert record["review"]["draws"] == 8
        page = client.get(f"/letters/{first_id}").text
        assert "slightly perturbed copies of the inputs (held above 25%)" in page
    with open_store(url) as store, store.session() as session:
        letters = session.scalars(select(Letter).order_by(Letter.id)).all()
        addressed = [(lt.decision_id, lt.addressed) for lt in letters]
        assert "Jan Novák" in letters[0].html
        payloads = [e.payload for e in session.scalars(select(Event))]
    assert addressed == [("GC-0005", True), ("GC-0006", True), ("GC-0006", False)]
    assert not any("Nov" in p for p in payloads)
