"""Uploaded specs are parsed and audited in worker processes with memory and time limits
(issue 16 item 6): a hostile upload costs its job, never the server or its event loop."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from auditor.errors import SpecError
from auditor.store import open_store
from auditor.store.models import Event
from auditor.users import create_token
from auditor.web.worker import WorkerFailed, WorkerLimits, run_isolated
from tests._web import add_users, fast_hashing, live_server_factory  # noqa: F401 (fixtures)

pytest.importorskip("fastapi")
from auditor.web.app import create_app
from auditor.web.settings import WebSettings

SPEC = """\
name: upload-test
domain: hiring
data: {path: decisions.csv}
columns: {id: id, decision: hired}
protected: [sex]
"""
# a few hundred bytes that expand to 9^9 strings when walked (aliases are shared when
# loaded, expanded by validation and by the digest's JSON)
BOMB = SPEC + "evidence:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_the_memory_limit_fails_the_work_not_the_caller() -> None:
    with pytest.raises(WorkerFailed, match=r"Allocating ran out of memory.*limit is 256 MiB"):
        run_isolated(bytearray, 2 * 1024**3, limits=WorkerLimits(256, 60), what="Allocating")


def test_the_time_limit_stops_the_worker() -> None:
    started = time.monotonic()
    with pytest.raises(WorkerFailed, match="Sleeping ran past the time limit of 1 s"):
        run_isolated(time.sleep, 60, limits=WorkerLimits(256, 1.0), what="Sleeping")
    assert time.monotonic() - started < 15


def test_a_crashing_worker_is_reported() -> None:
    with pytest.raises(WorkerFailed, match=r"Crashing was ended by signal 6"):
        run_isolated(os.abort, limits=WorkerLimits(256, 60), what="Crashing")


def test_an_alias_bomb_upload_does_not_freeze_the_server(
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
    live_server_factory: Any,  # noqa: F811
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    settings = WebSettings(
        database_url=url, data_root=tmp_path, secret=b"k" * 32, upload_parse_timeout_s=3.0
    )
    server = live_server_factory(create_app(settings))
    headers = {"Authorization": f"Bearer {token}"}
    answer: dict[str, Any] = {}

    def upload() -> None:
        files = {"spec": ("bomb.yaml", BOMB.encode(), "text/yaml")}
        answer["response"] = httpx.post(
            f"{server.url}/api/audits", files=files, headers=headers, timeout=60
        )

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.5)  # the upload is being parsed now
    latencies = []
    for _ in range(3):
        started = time.monotonic()
        assert httpx.get(f"{server.url}/api/me", headers=headers, timeout=30).is_success
        latencies.append(time.monotonic() - started)
    thread.join(60)
    response: httpx.Response = answer["response"]
    assert response.status_code == 400, response.text
    assert "bomb.yaml" in response.json()["detail"], response.text
    assert max(latencies) < 2.0, latencies  # the event loop kept answering


def test_an_audit_past_its_time_limit_fails_and_is_logged(
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
) -> None:
    from fastapi.testclient import TestClient

    url = f"sqlite:///{tmp_path / 'w.db'}"
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    settings = WebSettings(database_url=url, data_root=tmp_path, secret=b"k" * 32)
    app = create_app(settings)
    # far too little for any audit: the worker is stopped, the job fails with the reason
    app.state.web.jobs._limits = WorkerLimits(1024, 0.05)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        started = client.post("/api/audits", files={"spec": ("s.yaml", SPEC, "text/yaml")})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        job = started.json()
        while job["state"] not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["state"] == "failed"
    assert "ran past the time limit of 0.05 s" in job["error"]
    with open_store(url) as store, store.session() as session:
        failed = [
            json.loads(e.payload)
            for e in session.scalars(select(Event).where(Event.kind == "audit.failed"))
        ]
    assert len(failed) == 1
    assert "time limit" in failed[0]["error"]


def test_a_spec_error_keeps_its_type_across_the_process_boundary(tmp_path: Path) -> None:
    from auditor.web.uploads import parse_upload

    with pytest.raises(SpecError, match=r"x\.yaml: malformed YAML"):
        run_isolated(
            parse_upload, b"name: [", "x.yaml", tmp_path, limits=WorkerLimits(1024, 60), what="P"
        )
    spec, digest = run_isolated(
        parse_upload, SPEC.encode(), "s.yaml", tmp_path, limits=WorkerLimits(1024, 60), what="P"
    )
    assert spec.name == "upload-test"
    assert digest == spec.digest()


def test_an_uploaded_audit_completes_in_its_worker(
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
) -> None:
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    from auditor.store.models import Audit

    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "id": range(400),
            "hired": rng.integers(0, 2, 400),
            "sex": rng.choice(["female", "male"], 400),
        }
    ).to_csv(tmp_path / "decisions.csv", index=False)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with open_store(url) as store:
        add_users(store)
        token = create_token(store, "otto", actor="test")
    app = create_app(WebSettings(database_url=url, data_root=tmp_path, secret=b"k" * 32))
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        started = client.post("/api/audits", files={"spec": ("s.yaml", SPEC.encode())})
        assert started.status_code == 202, started.text
        job = started.json()
        deadline = time.monotonic() + 120
        while job["state"] not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["state"] == "completed", job["error"]
    assert "store" in job["stages"]  # progress came back from the worker process
    with open_store(url) as store, store.session() as session:
        assert session.get(Audit, job["audit_id"]) is not None
        requested = session.scalars(select(Event).where(Event.kind == "audit.requested")).one()
        assert len(json.loads(requested.payload)["spec_sha256"]) == 64  # from the parse worker
        assert requested.user == "otto"
