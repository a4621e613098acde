"""CI and MLflow outputs of a real (tiny, decisions-only) audit: --junit and --mlflow."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.junit import junit_xml
from auditor.result import AuditResult, Finding
from tests.factories import make_result
from tests.integration.cli.test_schedule import make_tiny_spec

runner = CliRunner()


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A local MLflow file store in tmp_path (MLflow 3 asks for an explicit opt-in)."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def _finding(status: str, message: str = "m") -> Finding:
    return replace(make_result().findings[0], status=status, message=message)  # type: ignore[arg-type]


def test_junit_maps_statuses_one_case_per_finding() -> None:
    statuses = ["fail", "warn", "insufficient_evidence", "needs_attestation", "pass"]
    findings = tuple(_finding(s, f"{s} says\x07 <why> & how") for s in statuses)
    result = replace(make_result(), findings=findings)
    root = ET.fromstring(junit_xml(result))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(statuses)
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "1"
    assert suite.get("skipped") == "3"
    fail, warn, insufficient, attest, passed = cases
    failure = fail.find("failure")
    assert failure is not None
    assert failure.get("message") == "fail says\ufffd <why> & how"  # control char replaced
    assert failure.get("type") == "severity:high"
    skipped = warn.find("skipped")
    assert skipped is not None
    assert (skipped.get("message") or "").startswith("warning: warn says")
    assert insufficient.find("skipped") is not None
    assert attest.find("skipped") is not None
    assert passed.find("failure") is None
    assert passed.find("skipped") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["audit_id"] == result.audit_id


def test_cli_junit_has_one_case_per_finding_and_fail_on_still_gates(tmp_path: Path) -> None:
    spec = make_tiny_spec(tmp_path)
    junit, out = tmp_path / "findings.xml", tmp_path / "a.json"
    res = runner.invoke(
        app,
        [
            *("audit", str(spec), "--no-store", "--json", str(out)),
            *("--junit", str(junit), "--fail-on", "info", "--quiet"),
        ],
    )
    result = AuditResult.from_json(out.read_text())
    assert res.exit_code == (1 if result.failed("info") else 0), res.output
    cases = ET.parse(junit).getroot().findall("testsuite/testcase")
    assert len(cases) == len(result.findings) > 0
    for case, finding in zip(cases, result.findings, strict=True):
        assert case.get("name") == f"{finding.rule_id} [{finding.scope}]"
        assert (case.find("failure") is not None) == (finding.status == "fail")


def test_cli_junit_unwritable_path_is_exit_2(tmp_path: Path) -> None:
    spec = make_tiny_spec(tmp_path)
    res = runner.invoke(
        app, ["audit", str(spec), "--no-store", "--junit", str(tmp_path / "no" / "x.xml")]
    )
    assert res.exit_code == 2
    assert "--junit" in res.output
    assert "Traceback" not in res.output


def test_cli_mlflow_run_holds_metrics_pdf_and_hashes(tmp_path: Path, file_store: str) -> None:
    import mlflow

    spec = make_tiny_spec(tmp_path)
    out = tmp_path / "a.json"
    res = runner.invoke(app, ["audit", str(spec), "--no-store", "--json", str(out), "--mlflow"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    client = mlflow.MlflowClient(file_store)
    (run,) = client.search_runs([client.get_experiment_by_name("Default").experiment_id])
    metrics = run.data.metrics
    counts = AuditResult.from_dict(doc).findings_by_status()
    assert metrics["findings/fail"] == counts["fail"]
    assert metrics["findings/pass"] == counts["pass"]
    ratios = [m for m in doc["metrics"] if m["metric"] == "impact_ratio" and m["ci_low"]]
    assert ratios
    first = ratios[0]
    key = f"impact_ratio/{first['attribute']}/{first['group']}"
    assert metrics[key] == pytest.approx(first["value"])
    assert metrics[f"{key}.ci_low"] == pytest.approx(first["ci_low"])
    assert metrics[f"{key}.ci_high"] == pytest.approx(first["ci_high"])
    tags = run.data.tags
    assert tags["auditor.audit_id"] == doc["run"]["audit_id"]
    assert tags["auditor.spec_sha256"] == doc["provenance"]["spec_sha256"]
    folder = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "dl"))
    )
    pdf = (folder / "auditor" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    import hashlib

    assert tags["auditor.report_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert json.loads((folder / "auditor" / "audit.json").read_text())["run"] == doc["run"]
    assert (folder / "auditor" / "spec.yaml").read_text().startswith("name: tiny-hiring")


def test_log_to_mlflow_uses_the_active_run(file_store: str) -> None:
    import mlflow

    from auditor.mlflow_logging import log_to_mlflow

    result = make_result()
    with mlflow.start_run() as active:
        mlflow.log_param("learning_rate", 0.1)  # the training run's own params stay
        run_id = log_to_mlflow(result, render_report=False)
        assert mlflow.active_run() is not None  # the caller's run is not ended
    assert run_id == active.info.run_id
    run = mlflow.MlflowClient(file_store).get_run(run_id)
    assert run.data.params == {"learning_rate": "0.1"}
    assert run.data.metrics["impact_ratio/sex/Female"] == 0.625
    assert run.data.metrics["impact_ratio/sex/Female.ci_low"] == 0.53


def test_mlflow_missing_is_exit_2_before_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    res = runner.invoke(app, ["audit", str(tmp_path / "never-read.yaml"), "--mlflow"])
    assert res.exit_code == 2
    assert "pip install 'auditor[mlflow]'" in " ".join(res.output.split())
