"""Access to the web workspace: every route against every role, sessions, CSRF, tokens.

Runs on SQLite and PostgreSQL (``db_url``). Audits and reports are hand-built
(``tests.factories``) so these tests need no model; the browser test runs a real one.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select, text

from auditor.store import Store, open_store, save_audit, verify
from auditor.store.models import ApiToken, Event, User
from auditor.users import create_token
from tests._db import db_url, pg_admin  # noqa: F401 (fixtures)
from tests._web import (  # noqa: F401 (fast_hashing is a fixture)
    USERS,
    add_users,
    fast_hashing,
    insert_letter,
    login,
    make_app,
)
from tests.factories import make_result

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

ROLES = ("viewer", "officer", "admin")
SPEC = """\
name: nightly
domain: hiring
data: {path: decisions.csv}
columns: {id: id, decision: hired}
protected: [sex]
"""
RANK = {"anonymous": -1, "viewer": 0, "officer": 1, "admin": 2}


class FakeReport:
    """A stored report whose PDF is a few bytes (the digest is what matters here)."""

    def __init__(self, label: str) -> None:
        self.pdf = b"%PDF-1.7\n" + label.encode()
        self.html = f"<p>{label}</p>"
        self.sha256 = hashlib.sha256(self.pdf).hexdigest()


@pytest.fixture
def world(db_url: str, tmp_path: Path, fast_hashing: None) -> dict[str, object]:  # noqa: F811
    """A store with three users, one audit with a report, one letter and a spec file."""
    result = make_result(name="hiring-q4")
    with open_store(db_url) as store:
        add_users(store)
        with store.session() as session:
            save_audit(session, result, report=FakeReport("r1"))
        letter_id = insert_letter(store, result.audit_id, "D-7", pdf=b"%PDF-1.7 letter")
        tokens = {role: create_token(store, USERS[role], actor="test") for role in ROLES}
    (tmp_path / "spec.yaml").write_text(SPEC)
    return {
        "db_url": db_url,
        "root": tmp_path,
        "audit_id": result.audit_id,
        "letter_id": letter_id,
        "tokens": tokens,
    }


def _api_routes(audit_id: str, letter_id: int) -> list[tuple[str, str, str, dict[str, object]]]:
    spec = {"files": {"spec": ("s.yaml", b"name: [", "text/yaml")}}
    schedule = {"json": {"name": "nightly", "spec_path": "spec.yaml", "cron": "@daily"}}
    return [
        ("GET", "/api/openapi.json", "viewer", {}),
        ("GET", "/api/me", "viewer", {}),
        ("GET", "/api/audits", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/report.pdf", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/evaluations", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/findings", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/compare", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/signoffs", "viewer", {}),
        ("GET", f"/api/audits/{audit_id}/events", "viewer", {}),
        (
            "POST",
            f"/api/audits/{audit_id}/reports/999/signoff",
            "officer",
            {"json": {"role": "CCO"}},
        ),
        ("GET", "/api/letters/review", "officer", {}),
        ("POST", f"/api/letters/{letter_id}/review", "officer", {"json": {"action": "reject"}}),
        ("GET", f"/api/audits/{audit_id}/evaluations/1", "viewer", {}),
        (
            "POST",
            f"/api/audits/{audit_id}/attestations",
            "officer",
            {"json": {"evidence": {"no_such_key": 1}}},
        ),
        ("POST", "/api/audits", "officer", spec),
        ("GET", "/api/jobs/unknown", "viewer", {}),
        ("GET", "/api/letters?decision_id=D-7", "officer", {}),
        ("POST", "/api/letters/issue", "officer", {"json": {"audit_id": "unknown"}}),
        ("GET", f"/api/letters/{letter_id}", "officer", {}),
        ("GET", "/api/schedules", "viewer", {}),
        ("POST", "/api/schedules", "officer", schedule),
        ("POST", "/api/schedules/nightly/pause", "officer", {}),
        ("POST", "/api/schedules/nightly/resume", "officer", {}),
        ("DELETE", "/api/schedules/nightly", "officer", {}),
        ("GET", "/api/policies", "viewer", {}),
    ]


def _page_routes(audit_id: str, letter_id: int) -> list[tuple[str, str, str, dict[str, object]]]:
    return [
        ("GET", "/", "viewer", {}),
        ("GET", "/audits", "viewer", {}),
        ("GET", f"/audits/{audit_id}", "viewer", {}),
        ("GET", f"/audits/{audit_id}/report.pdf", "viewer", {}),
        ("GET", "/audits/new", "officer", {}),
        ("POST", f"/audits/{audit_id}/attest", "officer", {"data": {"evidence": "x: 1"}}),
        ("GET", f"/audits/{audit_id}/compare", "viewer", {}),
        ("GET", f"/audits/{audit_id}/trail", "viewer", {}),
        ("POST", f"/audits/{audit_id}/reports/999/signoff", "officer", {"data": {"role": "C"}}),
        ("GET", "/letters/review", "officer", {}),
        ("POST", f"/letters/{letter_id}/review", "officer", {"data": {"action": "reject"}}),
        ("POST", "/audits/new", "officer", {"files": {"spec": ("s.yaml", b"x: 1", "text/yaml")}}),
        ("GET", "/jobs/unknown", "viewer", {}),
        ("GET", "/letters?decision_id=D-7", "officer", {}),
        ("POST", "/letters/issue", "officer", {"data": {"audit_id": "unknown"}}),
        ("GET", f"/letters/{letter_id}", "officer", {}),
        ("GET", f"/letters/{letter_id}/content", "officer", {}),
        ("GET", f"/letters/{letter_id}/pdf", "officer", {}),
        ("GET", "/schedules", "viewer", {}),
        ("POST", "/schedules", "officer", {"data": {"name": "n2", "spec_path": "spec.yaml"}}),
        ("POST", "/schedules/n2/pause", "officer", {}),
        ("GET", "/policies", "viewer", {}),
    ]


def test_every_api_route_needs_a_token_with_the_right_role(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    tokens: dict[str, str] = world["tokens"]  # type: ignore[assignment]
    with TestClient(app) as client:
        for method, path, needs, kwargs in _api_routes(world["audit_id"], world["letter_id"]):  # type: ignore[arg-type]
            for who in ("anonymous", *ROLES):
                headers = {} if who == "anonymous" else {"Authorization": f"Bearer {tokens[who]}"}
                response = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
                where = f"{who} {method} {path}: {response.status_code} {response.text[:200]}"
                if who == "anonymous":
                    assert response.status_code == 401, where
                    assert "hiring-q4" not in response.text
                    assert "D-7" not in response.text
                elif RANK[who] < RANK[needs]:
                    assert response.status_code == 403, where
                else:
                    assert response.status_code not in (401, 403), where
                    assert response.status_code < 500, where
        bogus = client.get("/api/me", headers={"Authorization": "Bearer aud_not-a-token"})
        assert bogus.status_code == 401


def test_every_page_needs_a_session_with_the_right_role(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    routes = _page_routes(world["audit_id"], world["letter_id"])  # type: ignore[arg-type]
    for who in ("anonymous", *ROLES):
        with TestClient(app) as client:
            csrf = login(client, USERS[who]) if who != "anonymous" else ""
            for method, path, needs, kwargs in routes:
                extra = dict(kwargs)
                if method == "POST":
                    data = dict(extra.pop("data", {}))  # type: ignore[call-overload]
                    extra["data"] = {**data, "csrf": csrf, "cron": "@daily"}
                response = client.request(method, path, follow_redirects=False, **extra)  # type: ignore[arg-type]
                where = f"{who} {method} {path}: {response.status_code}"
                if who == "anonymous":
                    assert response.status_code == 303, where
                    assert response.headers["location"].startswith("/login?next="), where
                elif RANK[who] < RANK[needs]:
                    assert response.status_code == 403, where
                    assert "D-7" not in response.text
                    assert "Notice" not in response.text
                else:
                    assert response.status_code not in (401, 403), where
                    assert response.status_code < 500, where
    with TestClient(app) as client:  # login and the stylesheet are open to everyone
        assert client.get("/login").status_code == 200
        assert client.get("/static/web.css").headers["content-type"].startswith("text/css")


def test_login_sets_a_hardened_cookie_and_logs_attempts(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/login").text
        token = page.split('name="csrf" value="')[1].split('"')[0]
        wrong = client.post("/login", data={"name": "otto", "password": "nope", "csrf": token})
        assert wrong.status_code == 401
        assert "Wrong name or password" in wrong.text
        forged = client.post(
            "/login", data={"name": "otto", "password": "correct horse battery", "csrf": "x"}
        )
        assert forged.status_code == 401  # the login form's own CSRF token is required
        app.state.web.logins.limit = 2  # two failures of otto from this client so far
        blocked = client.post(
            "/login", data={"name": "otto", "password": "correct horse battery", "csrf": token}
        )
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        app.state.web.logins.limit = 10
        ok = client.post(
            "/login",
            data={"name": "otto", "password": "correct horse battery", "csrf": token,
                  "next": "//evil.example/"},
            follow_redirects=False,
        )  # fmt: skip
        assert ok.status_code == 303
        assert ok.headers["location"] == "/audits"  # no open redirect
        cookie = next(
            c for c in ok.headers.get_list("set-cookie") if c.startswith("auditor_session=")
        )
        lowered = cookie.lower()
        assert "httponly" in lowered
        assert "samesite=lax" in lowered
        assert "secure" in lowered
        assert ok.headers["content-security-policy"].startswith("default-src 'none'")
    with open_store(str(world["db_url"])) as store, store.session() as session:
        kinds = [
            (e.kind, e.user)
            for e in session.scalars(select(Event).where(Event.kind.like("user.login%")))
        ]
    assert kinds == [("user.login_failed", "otto"), ("user.login_failed", "otto"),
                     ("user.login", "otto")]  # fmt: skip


def test_forms_and_cookie_api_writes_need_the_csrf_token(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    body = {"name": "weekly", "spec_path": "spec.yaml", "cron": "@weekly"}
    with TestClient(app) as client:
        csrf = login(client, "otto")
        assert client.post("/schedules", data=body).status_code == 403
        assert client.post("/schedules", data={**body, "csrf": "0" * 32}).status_code == 403
        assert client.post("/api/schedules", json=body).status_code == 403
        response = client.post("/api/schedules", json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "weekly"
        client.cookies.set("auditor_session", "forged." + "0" * 64)
        assert client.get("/api/me").status_code == 401


def test_state_changes_are_logged_with_the_user_and_chain_verifies(
    world: dict[str, object],
) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    with TestClient(app) as client:
        csrf = login(client, "otto")
        client.post("/schedules", data={"name": "weekly", "spec_path": "spec.yaml",
                                        "cron": "@weekly", "csrf": csrf})  # fmt: skip
        client.post("/schedules/weekly/pause", data={"csrf": csrf})
        client.post("/schedules/weekly/remove", data={"csrf": csrf})
        content = client.get(f"/letters/{world['letter_id']}/content")
        assert content.headers["content-security-policy"].startswith("sandbox;")
        assert "Notice of action taken" in content.text
        letter = client.get(f"/letters/{world['letter_id']}")
        assert letter.status_code == 200
        assert "matches the stored content" in letter.text
    with open_store(str(world["db_url"])) as store, store.session() as session:
        events = [
            (e.kind, e.user, json.loads(e.payload))
            for e in session.scalars(select(Event).order_by(Event.id))
        ]
        report = verify(session)
    mine = [(k, p.get("name")) for k, u, p in events if u == "otto" and k.startswith("schedule")]
    assert mine == [("schedule.added", "weekly"), ("schedule.disabled", "weekly"),
                    ("schedule.removed", "weekly")]  # fmt: skip
    viewed = [p for k, u, p in events if k == "letter.viewed" and u == "otto"]
    assert viewed
    assert viewed[0]["decision_id"] == "D-7"
    assert report.ok, report.problems


def test_schedule_spec_outside_the_data_root_is_refused(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])) / "inner")
    (Path(str(world["root"])) / "inner").mkdir()
    token = world["tokens"]["officer"]  # type: ignore[index]
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        body = {"name": "escape", "spec_path": "../spec.yaml", "cron": "@daily"}
        response = client.post("/api/schedules", json=body)
        assert response.status_code == 400
        assert "outside the server's data root" in response.json()["detail"]
        assert client.get("/api/schedules").json() == []


def test_stored_pdf_and_letter_digests_are_checked(world: dict[str, object]) -> None:
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    token = world["tokens"]["officer"]  # type: ignore[index]
    audit_id, letter_id = world["audit_id"], world["letter_id"]
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        good = client.get(f"/api/audits/{audit_id}/report.pdf")
        assert good.content == FakeReport("r1").pdf
        assert good.headers["x-report-verified"] == "yes"
        assert good.headers["x-report-sha256"] == hashlib.sha256(good.content).hexdigest()
        with open_store(str(world["db_url"])) as store:
            _tamper(store, "UPDATE reports SET pdf = :b", b"%PDF-1.7\nforged")
            _tamper(store, "UPDATE letters SET pdf = :b", b"%PDF-1.7 forged letter")
        assert client.get(f"/api/audits/{audit_id}/report.pdf").headers["x-report-verified"] == "no"
        assert client.get(f"/api/letters/{letter_id}").json()["intact"] is False
        page = client.get(f"/audits/{audit_id}")
        assert page.status_code == 200
        assert "does not match its stored SHA-256" in page.text
        assert client.get("/api/audits/no-such-id").status_code == 404
        assert client.get("/api/letters/999999").status_code == 404


def _tamper(store: Store, sql: str, value: bytes) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), {"b": value})


def test_users_cli_stores_only_hashes(world: dict[str, object]) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app as cli

    url = str(world["db_url"])
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "carla", "--role", "officer", "--password-stdin", "--db", url],
        input="a long enough secret\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        cli, ["users", "add", "carla", "--password-stdin", "--db", url], input="x" * 12 + "\n"
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
    bad_role = runner.invoke(
        cli, ["users", "add", "dan", "--role", "root", "--password-stdin", "--db", url],
        input="x" * 12 + "\n",
    )  # fmt: skip
    assert bad_role.exit_code == 2
    assert "Unknown role" in bad_role.output
    issued = runner.invoke(cli, ["users", "token", "carla", "--db", url])
    assert issued.exit_code == 0, issued.output
    secret = issued.stdout.strip().splitlines()[-1]
    assert secret.startswith("aud_")
    with open_store(url) as store, store.session() as session:
        user = session.scalars(select(User).where(User.name == "carla")).one()
        assert user.password_hash.startswith("$argon2id$")
        assert "a long enough secret" not in user.password_hash
        digests = set(session.scalars(select(ApiToken.token_sha256)))
        assert hashlib.sha256(secret.encode()).hexdigest() in digests
        assert secret not in digests
    app = make_app(url, Path(str(world["root"])))
    with TestClient(app) as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.json() == {"name": "carla", "role": "officer"}


def test_a_disabled_user_loses_sessions_and_tokens_at_once(world: dict[str, object]) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app as cli

    url = str(world["db_url"])
    app = make_app(url, Path(str(world["root"])))
    token = world["tokens"]["officer"]  # type: ignore[index]
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        login(client, "otto")
        assert client.get("/api/me").status_code == 200
        assert client.get("/api/me", headers=bearer).is_success
        done = CliRunner().invoke(cli, ["users", "disable", "otto", "--db", url])
        assert done.exit_code == 0, done.output
        assert client.get("/api/me").status_code == 401
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )
        assert client.get("/audits", follow_redirects=False).status_code == 303
    listed = CliRunner().invoke(cli, ["users", "list", "--db", url])
    assert "otto  officer  disabled  1 token(s)" in listed.output
    assert "vera  viewer  active" in listed.output
    unknown = CliRunner().invoke(cli, ["users", "disable", "nobody", "--db", url])
    assert unknown.exit_code == 2


def test_each_download_serves_the_report_it_names(world: dict[str, object]) -> None:
    """After an AAA re-render the full report is still what the main button serves, each
    stored report downloads by its id, and the page lists them all with their digests."""
    from auditor.store.repository import add_report

    aaa = FakeReport("aaa re-render")
    aaa.preset = "aaa"  # type: ignore[attr-defined]
    with open_store(str(world["db_url"])) as store, store.session() as session:
        add_report(session, str(world["audit_id"]), aaa, user="test")
    app = make_app(str(world["db_url"]), Path(str(world["root"])))
    token = world["tokens"]["officer"]  # type: ignore[index]
    audit_id = world["audit_id"]
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        default = client.get(f"/api/audits/{audit_id}/report.pdf")
        assert default.content == FakeReport("r1").pdf
        assert default.headers["x-report-preset"] == "full"
        page = client.get(f"/audits/{audit_id}").text
        ids = [int(i) for i in re.findall(rf"/audits/{audit_id}/reports/(\d+)\.pdf", page)]
        assert len(set(ids)) == 2
        served = {}
        for report_id in set(ids):
            got = client.get(f"/audits/{audit_id}/reports/{report_id}.pdf")
            assert got.headers["x-report-verified"] == "yes"
            assert f"-report{report_id}.pdf" in got.headers["content-disposition"]
            served[got.headers["x-report-preset"]] = got.content
            via_api = client.get(f"/api/audits/{audit_id}/report.pdf?report_id={report_id}")
            assert via_api.content == got.content
        assert served == {"full": FakeReport("r1").pdf, "aaa": aaa.pdf}
        assert "Download PDF report (full, report" in page
        assert "Download aaa report" in page
        assert aaa.sha256 in page
        assert FakeReport("r1").sha256 in page
        other = client.get(f"/audits/{audit_id}/reports/999999.pdf")
        assert other.status_code == 404
        letters = client.get("/letters?decision_id=D-7").text
        assert "Issued (UTC)" not in letters
        assert "<th>Status</th>" in letters
