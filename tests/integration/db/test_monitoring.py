"""/metrics in Prometheus text: runs, failures, durations, latest ratios per schedule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from auditor.monitoring import Family, exposition, serve_metrics
from auditor.schedule import add_schedule, run_due, set_enabled
from auditor.store import Store, open_store
from auditor.web.app import create_app
from auditor.web.settings import WebSettings
from tests._paths import REPO
from tests.integration.cli.test_schedule import factory_runner, failing_runner, make_tiny_spec

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


@pytest.fixture
def scheduled(tmp_path: Path) -> tuple[str, Store]:
    """Two schedules, run twice: ``weekly`` stored an audit each time, ``broken`` failed."""
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    store = open_store(url)
    spec = make_tiny_spec(tmp_path)
    add_schedule(store, "weekly", spec, "0 6 * * 1", user="u", now=T0)
    add_schedule(store, "broken", spec, "0 7 * * 1", user="u", now=T0)

    def runner(spec_path: str, database_url: str) -> str | None:
        return (failing_runner if calls.pop(0) == "fail" else factory_runner)(
            spec_path, database_url
        )

    calls = ["ok", "fail"]  # claims go in fire-time order: weekly (6:00), then broken (7:00)
    run_due(store, clock=lambda: T0 + timedelta(days=2), user="u", runner=runner)
    calls = ["ok", "fail"]
    run_due(store, clock=lambda: T0 + timedelta(days=9), user="u", runner=runner)
    return url, store


def test_family_text_escapes_labels_and_parses() -> None:
    fam = Family("auditor_x", "gauge", "A test.\nSecond line \\ end.")
    fam.add(0.5, group='say "hi"\\there\nnext')
    fam.add(float("nan"), group="plain")
    text = exposition([fam])
    assert "# HELP auditor_x A test.\\nSecond line \\\\ end." in text
    assert 'group="say \\"hi\\"\\\\there\\nnext"' in text
    parsed = _samples(text)["auditor_x"]
    assert parsed[0] == ({"group": 'say "hi"\\there\nnext'}, 0.5)
    assert text.endswith("\n")


def test_web_metrics_needs_a_token_and_reports_latest_ratios(
    scheduled: tuple[str, Store], tmp_path: Path
) -> None:
    url, _ = scheduled
    settings = WebSettings(database_url=url, data_root=tmp_path, metrics_token="scrape-me")
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        res = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(res.text)
    ratios = {
        (lab["schedule"], lab["group"], lab["metric"]): v
        for lab, v in samples["auditor_schedule_impact_ratio"]
    }
    assert ratios[("weekly", "Female", "impact_ratio")] == 0.625
    assert ("broken", "Female", "impact_ratio") not in ratios  # it never stored an audit
    low = {lab["schedule"]: v for lab, v in samples["auditor_schedule_impact_ratio_ci_low"]}
    assert low["weekly"] == 0.53
    runs = {
        (lab["schedule"], lab["status"]): v for lab, v in samples["auditor_schedule_runs_total"]
    }
    assert runs == {("weekly", "completed"): 2.0, ("broken", "failed"): 2.0}
    failures = {lab["schedule"]: v for lab, v in samples["auditor_schedule_failures_total"]}
    assert failures == {"weekly": 0.0, "broken": 2.0}
    ok = {lab["schedule"]: v for lab, v in samples["auditor_schedule_last_run_success"]}
    assert ok == {"weekly": 1.0, "broken": 0.0}
    assert "auditor_schedule_run_duration_seconds_total" in samples
    assert samples["auditor_audits_stored"] == [({}, 2.0)]


def test_public_metrics_setting(scheduled: tuple[str, Store], tmp_path: Path) -> None:
    url, _ = scheduled
    settings = WebSettings(database_url=url, data_root=tmp_path, metrics_public=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 200


def test_scheduler_serves_metrics_with_its_token(scheduled: tuple[str, Store]) -> None:
    _, store = scheduled
    server = serve_metrics(store, "127.0.0.1", 0, token="t0k")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/metrics", timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        req = urllib.request.Request(f"{base}/metrics", headers={"Authorization": "Bearer t0k"})
        with urllib.request.urlopen(req, timeout=10) as res:
            text = res.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    ratios = _samples(text)["auditor_schedule_impact_ratio"]
    assert set(ratios[0][0]) == {"schedule", "attribute", "group", "metric", "reference"}
    assert any(lab["group"] == "Female" and v == 0.625 for lab, v in ratios)


def test_scheduler_command_serves_metrics_until_sigterm(scheduled: tuple[str, Store]) -> None:
    url, store = scheduled
    for name in ("weekly", "broken"):  # due again by now: paused, so no audit runs here
        set_enabled(store, name, False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUDITOR_METRICS_TOKEN": "sched"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "scheduler", "--db", url, "--metrics-port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "metrics on http://127.0.0.1:PORT/metrics"
        address = line.split("metrics on ", 1)[1].strip()
        req = urllib.request.Request(address, headers={"Authorization": "Bearer sched"})
        with urllib.request.urlopen(req, timeout=20) as res:
            text = res.read().decode()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert 'auditor_schedule_impact_ratio{schedule="weekly"' in text
