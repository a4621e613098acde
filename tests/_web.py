"""Fixtures for the web workspace tests: a store with users, an app, a live server.

Import into a test module with ``from tests._web import ...``. Users: ``vera`` (viewer),
``otto`` (officer) and ``ada`` (admin), all with :data:`PASSWORD`.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed")

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from auditor.store import Store
from auditor.store.decisions import add_letters
from auditor.store.models import Letter
from auditor.users import add_user
from auditor.web.app import create_app
from auditor.web.settings import WebSettings

PASSWORD = "correct horse battery"
USERS = {"viewer": "vera", "officer": "otto", "admin": "ada"}


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters for tests (the production parameters stay the default)."""
    from argon2 import PasswordHasher

    import auditor.users

    monkeypatch.setattr(auditor.users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))


def add_users(store: Store) -> None:
    """One user per role."""
    for role, name in USERS.items():
        add_user(store, name, role, PASSWORD, actor="test")


def insert_letter(store: Store, audit_id: str, decision_id: str, *, pdf: bytes | None) -> int:
    """A letter row as the letters service stores it (digest of the PDF, else the HTML)."""
    html = (
        "<!doctype html><html><body style='font-family:serif;padding:2em'>"
        f"<h1>Notice of action taken</h1><p>Application {decision_id}: declined.</p>"
        "<p>Principal reasons: credit history; duration of the loan.</p></body></html>"
    )
    digest = hashlib.sha256(pdf if pdf is not None else html.encode()).hexdigest()
    with store.session() as session:
        row = {
            "decision_id": decision_id,
            "kind": "adverse_action",
            "html": html,
            "pdf": pdf,
            "sha256": digest,
        }
        add_letters(session, audit_id, [row], user="test")  # the service's own writer
        found = session.scalars(
            select(Letter.id).where(Letter.audit_id == audit_id).order_by(Letter.id.desc())
        ).first()
        assert found is not None
        return found


def make_app(db_url: str, data_root: Path) -> FastAPI:
    """The application over ``db_url`` with a fixed secret."""
    return create_app(WebSettings(database_url=db_url, data_root=data_root, secret=b"k" * 32))


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token.group(1), "next": "/audits"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/audits").text)
    assert found is not None
    return found.group(1)


@dataclass
class LiveServer:
    """A uvicorn server running the app in a thread."""

    url: str
    app: FastAPI


@pytest.fixture
def live_server_factory() -> Iterator[object]:
    """Start ``app`` on a free local port; stopped when the test ends."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> LiveServer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        servers.append((server, thread))
        return LiveServer(f"http://127.0.0.1:{port}", app)

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=30)
