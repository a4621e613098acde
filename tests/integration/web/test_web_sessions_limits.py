"""Server-side sessions and request bodies bounded before they are read (issues 16.6, 21.5).

Uploads are driven through the raw ASGI interface with a ``receive`` that counts what
the server pulls, so "refused before reading" is measured, not assumed.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from auditor.cli import app as cli
from auditor.store import open_store
from auditor.store.models import Event, WebSession
from auditor.users import create_token
from tests._web import USERS, add_users, fast_hashing, login, make_app  # noqa: F401

pytest.importorskip("fastapi")
from fastapi import FastAPI
from fastapi.testclient import TestClient

MIB = 1024 * 1024
BOUNDARY = "auditorboundary"


@pytest.fixture
def site(tmp_path: Path, fast_hashing: None) -> dict[str, Any]:  # noqa: F811
    url = f"sqlite:///{tmp_path / 'web.db'}"
    with open_store(url) as store:
        add_users(store)
        tokens = {role: create_token(store, name, actor="test") for role, name in USERS.items()}
    return {"url": url, "root": tmp_path, "tokens": tokens}


# --- sessions -----------------------------------------------------------------------


def test_a_signed_out_cookie_is_refused(site: dict[str, Any]) -> None:
    app = make_app(site["url"], site["root"])
    with TestClient(app) as client:
        csrf = login(client, "otto")
        cookie = client.cookies.get("auditor_session")
        assert cookie is not None
        assert len(cookie) < 64  # an opaque random secret, nothing about the user in it
        assert client.get("/api/me").json()["name"] == "otto"
        out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        client.cookies.set("auditor_session", cookie)  # a copy kept by whoever had it
        assert client.get("/api/me").status_code == 401
        assert client.get("/audits", follow_redirects=False).status_code == 303
    with open_store(site["url"]) as store, store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_password_change_and_disable_end_every_session_at_once(site: dict[str, Any]) -> None:
    app = make_app(site["url"], site["root"])
    runner = CliRunner()
    with TestClient(app) as first, TestClient(app) as second:
        login(first, "otto")
        login(second, "otto")
        changed = runner.invoke(
            cli, ["users", "passwd", "otto", "--password-stdin", "--db", site["url"]],
            input="a brand new password\n",
        )  # fmt: skip
        assert changed.exit_code == 0, changed.output
        assert "ended 2 web session(s)" in changed.output
        assert first.get("/api/me").status_code == 401
        assert second.get("/api/me").status_code == 401
        login(first, "otto", "a brand new password")
        assert first.get("/api/me").status_code == 200
        too_short = runner.invoke(
            cli, ["users", "passwd", "otto", "--password-stdin", "--db", site["url"]],
            input="short\n",
        )  # fmt: skip
        assert too_short.exit_code == 2
        assert "at least 10 characters" in too_short.output
        disabled = runner.invoke(cli, ["users", "disable", "otto", "--db", site["url"]])
        assert disabled.exit_code == 0, disabled.output
        assert first.get("/api/me").status_code == 401
    with open_store(site["url"]) as store, store.session() as session:
        kinds = list(session.scalars(select(Event.kind).where(Event.kind.like("user.%"))))
        assert "user.password_changed" in kinds
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_an_expired_session_is_refused_and_pruned(site: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    app = make_app(site["url"], site["root"])
    with TestClient(app) as client:
        login(client, "vera")
        with open_store(site["url"]) as store, store.session() as session:
            session.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(1)))
        assert client.get("/api/me").status_code == 401
    with TestClient(app) as other:
        login(other, "ada")  # a new sign-in deletes expired rows
    with open_store(site["url"]) as store, store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1


# --- request bodies -------------------------------------------------------------------


def _multipart(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A spec upload of ``total`` bytes, produced lazily in ``chunk``-sized pieces."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="spec"; filename="s.yaml"\r\n'
        "Content-Type: text/yaml\r\n\r\n"
    ).encode()
    sent = 0
    while sent < total:
        yield b"#" * chunk
        sent += chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _post(
    app: FastAPI, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, int, bytes]:
    """POST through the raw ASGI interface: (status, body bytes pulled, response body)."""
    pulled = 0
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        piece = next(chunks, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    return status, pulled, body


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the temporary files the multipart parser opens."""
    import starlette.formparsers as formparsers

    opened: list[int] = []
    original = formparsers.SpooledTemporaryFile

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", counting)
    return opened


UPLOAD = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_an_anonymous_200_mb_upload_is_refused_unread(
    site: dict[str, Any], spooled: list[int]
) -> None:
    app = make_app(site["url"], site["root"])
    status, pulled, body = _post(app, "/api/audits", UPLOAD, _multipart(200 * MIB))
    assert status == 401
    assert pulled == 0
    assert spooled == []
    assert b"Authentication required" in body
    page, pulled, _ = _post(app, "/audits/new", UPLOAD, _multipart(200 * MIB))
    assert page == 303  # to the sign-in page
    assert pulled == 0
    assert spooled == []


def test_an_officers_200_mb_upload_is_cut_off_at_the_limit(
    site: dict[str, Any], spooled: list[int]
) -> None:
    app = make_app(site["url"], site["root"])
    limit = app.state.web.settings.max_spec_upload_bytes
    bearer = {"authorization": f"Bearer {site['tokens']['officer']}", **UPLOAD}
    tracemalloc.start()
    try:
        status, pulled, body = _post(app, "/api/audits", bearer, _multipart(200 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413, body
    assert b"larger than 1 MiB" in body
    assert pulled <= limit + 64 * 1024 + 1024  # stopped within one chunk of the limit
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB held while refusing"


def test_declared_sizes_and_roles_are_checked_before_the_body(
    site: dict[str, Any], spooled: list[int]
) -> None:
    app = make_app(site["url"], site["root"])
    officer = {"authorization": f"Bearer {site['tokens']['officer']}", **UPLOAD}
    declared = {**officer, "content-length": str(200 * MIB)}
    status, pulled, _ = _post(app, "/api/audits", declared, _multipart(200 * MIB))
    assert (status, pulled) == (413, 0)
    viewer = {"authorization": f"Bearer {site['tokens']['viewer']}", **UPLOAD}
    status, pulled, _ = _post(app, "/api/audits", viewer, _multipart(200 * MIB))
    assert (status, pulled) == (403, 0)
    # the sign-in form is the one body an anonymous client may send, and a small one
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, pulled, _ = _post(app, "/login", form, iter([b"name=" + b"a" * 65536] * 40))
    assert status == 413
    assert pulled < 200 * 1024
    assert spooled == []


def test_the_spec_upload_limit_is_configurable(
    site: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITOR_WEB_MAX_SPEC_UPLOAD", "2000")
    app = make_app(site["url"], site["root"])
    officer = {"authorization": f"Bearer {site['tokens']['officer']}", **UPLOAD}
    status, pulled, body = _post(app, "/api/audits", officer, _multipart(8000, chunk=1000))
    assert status == 413
    assert b"1.95312 KiB" in body or b"larger than" in body
    assert pulled <= 3000
    monkeypatch.setenv("AUDITOR_WEB_MAX_SPEC_UPLOAD", "lots")
    result = CliRunner().invoke(cli, ["serve", "--db", site["url"]])
    assert result.exit_code == 2
    assert "$AUDITOR_WEB_MAX_SPEC_UPLOAD must be a positive whole number" in result.output


# --- failed sign-ins ------------------------------------------------------------------


def test_the_throttle_caps_each_client_and_stays_bounded() -> None:
    from auditor.web.throttle import LoginThrottle

    throttle = LoginThrottle(limit=3, client_limit=5, window_s=60, max_keys=100)
    for i in range(5):  # a new name each time: the per-name limit never bites
        assert throttle.allowed("10.0.0.9", f"name{i}", now=float(i))
        throttle.failed("10.0.0.9", f"name{i}", now=float(i))
    assert not throttle.allowed("10.0.0.9", "fresh-name", now=6.0)
    assert throttle.allowed("10.0.0.8", "fresh-name", now=6.0)
    for i in range(500):  # many clients, many names: old keys are dropped
        throttle.failed(f"10.1.{i // 200}.{i % 200}", "x", now=100.0 + i)
    assert throttle.tracked_keys <= 100


def test_failed_sign_ins_are_logged_at_a_bounded_rate(site: dict[str, Any]) -> None:
    app = make_app(site["url"], site["root"])
    clock = [1000.0]
    logins = app.state.web.logins
    logins.log_limit = 3
    logins.clock = lambda: clock[0]
    with TestClient(app) as client:
        page = client.get("/login").text
        token = page.split('name="csrf" value="')[1].split('"')[0]

        def attempt(name: str) -> int:
            data = {"name": name, "password": "wrong password", "csrf": token}
            return client.post("/login", data=data).status_code

        # known names (an unknown one costs a full-strength argon2 check of a dummy hash)
        names = ["vera", "otto", "ada"] * 2 + ["vera"]
        assert [attempt(name) for name in names] == [401] * 7
        clock[0] += logins.window_s + 1
        assert attempt("otto") == 401
    with open_store(site["url"]) as store, store.session() as session:
        failed = session.scalars(select(Event).where(Event.kind == "user.login_failed"))
        payloads = [json.loads(e.payload) for e in failed]
    assert [p["name"] for p in payloads] == ["vera", "otto", "ada", "otto"]
    assert payloads[-1]["unlogged_failures"] == 4  # the four over the budget: counted
