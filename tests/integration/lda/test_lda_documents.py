"""A search's record as documents (issue 22, item 4): the standalone PDF, the audit
report's section, the web view and API, and the packs reading the record as evidence.

One real search (LightGBM, a zone that stands in for race) is stored in a real SQLite
store; real audits of the audited model file then read it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.lda import SearchOptions, search_alternatives
from auditor.lda.evidence import record_evidence, record_for, record_intact
from auditor.lda.store import store_record
from auditor.pipeline import run_audit
from auditor.result import AuditResult, Finding
from auditor.service import perform_audit
from auditor.spec import load_spec
from tests._web import fast_hashing
from tests.integration.lda.test_lda import _write_case

__all__ = ["fast_hashing"]  # fixture used by name

RULES = ("UGESP-VALIDATION-LDA", "NJ-13-16-LDA-RECORD")


@dataclass(frozen=True)
class Case:
    folder: Path
    spec: Path
    record: dict[str, Any]
    record_path: Path
    db_url: str


def _pdf_text(pdf: bytes, folder: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    path = folder / "doc.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True)
    return re.sub(r"\s+", " ", text.stdout)


def _audited_model(folder: Path, rounds: int = 30) -> Path:
    """The audited model: a LightGBM booster trained on the historical decisions."""
    frame = pd.read_csv(folder / "apps.csv")
    params = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "verbose": -1}
    params |= {"seed": 1, "num_threads": 1}
    booster = lgb.train(
        params, lgb.Dataset(frame[["skill", "zone"]], frame["hired"]), num_boost_round=rounds
    )
    path = folder / f"model_{rounds}.txt"
    booster.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    folder = tmp_path_factory.mktemp("lda_docs")
    spec_path = _write_case(folder)
    spec = json.loads(spec_path.read_text())
    model = _audited_model(folder)
    spec.update(
        model={"path": model.name, "kind": "lightgbm"},
        columns={"id": "id", "features": ["skill", "zone"]},
        policies=["eeoc_ugesp", "new_jersey"],
        jurisdictions=["US", "US-NJ"],
        evidence={"validation_study": "VS-2026-01"},
    )
    spec["training"] |= {"loss_per_bad_approval": 3, "gain_per_good_approval": 1}
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    out = folder / "out"
    result = search_alternatives(spec_path, options=SearchOptions(budget=4), out_dir=out)
    db_url = f"sqlite:///{folder / 'auditor.db'}"
    store_record(result.record, db_url)
    return Case(folder, spec_path, result.record, out / "lda_record.json", db_url)


def _findings(result: AuditResult, rule: str) -> list[Finding]:
    return [f for f in result.findings if f.rule_id == rule]


def test_the_record_names_the_audited_model_and_an_audit_of_it_finds_the_stored_record(
    case: Case,
) -> None:
    spec = load_spec(case.spec)
    model = spec.resolve(spec.model.path) if spec.model else None
    assert model is not None
    assert case.record["audited_model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert record_for([case.record], spec) == case.record
    tampered = copy.deepcopy(case.record)
    tampered["tolerance"]["auc"] = 0.5
    assert not record_intact(tampered)
    assert record_for([tampered], spec) is None


def test_standalone_pdf_from_the_cli_shows_the_whole_search(case: Case, tmp_path: Path) -> None:
    pdf = tmp_path / "search.pdf"
    res = CliRunner().invoke(app, ["lda", "--record", str(case.record_path), "--pdf", str(pdf)])
    assert res.exit_code == 0, res.output
    text = _pdf_text(pdf.read_bytes(), tmp_path)
    r = case.record
    assert "What was searched, and why" in text
    for target in r["aimed_at"]:  # the features carrying the gap
        assert f"{target['feature']} {target['attribute']}={target['group']}" in text
    for c in r["candidates"]:  # every candidate tried, with its figures
        assert c["id"] in text
        assert f"{c['search']['auc']:.4f}" in text
    split = r["training"]["split"]
    assert f"{split['holdout']:,} rows: never used by the search" in text
    assert f"{split['search']:,} rows: candidates were compared" in text
    assert f"at most {r['tolerance']['auc']} AUC" in text
    rec = r["recommended"]
    assert f"Recommended alternative: {rec['id']}" in text
    assert f"{rec['holdout_worst_ratio']['value']:.3f}" in text
    for digest in (r["record_sha256"], r["spec_sha256"], r["audited_model"]["sha256"]):
        assert digest in text
    assert "Protected attributes are never inputs" in text
    assert "703(l)" in text  # the reweighting caveat
    assert "Figure 1." in text
    assert r["run_by"]["user"] in text


def test_a_changed_record_is_refused_with_exit_2(case: Case, tmp_path: Path) -> None:
    changed = json.loads(case.record_path.read_text())
    changed["candidates"] = changed["candidates"][:1]
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed), encoding="utf-8")
    res = CliRunner().invoke(app, ["lda", "--record", str(path), "--pdf", str(tmp_path / "x.pdf")])
    assert res.exit_code == 2
    assert "record_sha256 does not match" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.pdf").exists()
    for args in (["lda"], ["lda", "--record", str(path)]):  # nothing to do; nowhere to write
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2
        assert "--record" in res.output


def test_audit_of_the_same_model_cites_the_record_and_its_report_summarises_it(
    case: Case, tmp_path: Path
) -> None:
    digest = case.record["record_sha256"]
    done = perform_audit(case.spec, database_url=case.db_url, pdf_path=tmp_path / "audit.pdf")
    ugesp = _findings(done.result, "UGESP-VALIDATION-LDA")
    flagged = [f for f in ugesp if f.scope.startswith("race=")]
    assert flagged, [f.message for f in ugesp]
    for f in flagged:  # an alternative within tolerance exists: review it (1607.3(B))
        assert f.status == "warn"
        assert digest in f.message
        assert "found an alternative within tolerance" in f.message
    (nj,) = _findings(done.result, "NJ-13-16-LDA-RECORD")
    assert nj.status == "warn"
    assert digest in nj.message
    assert "13:16-2.2(c)" in nj.message
    text = _pdf_text((tmp_path / "audit.pdf").read_bytes(), tmp_path)
    assert "Search for less discriminatory alternatives" in text
    assert digest[:16] in text
    assert "alternative found within tolerance" in text
    assert f"/lda/{digest}" in text.replace(" ", "")
    # a re-render of the stored audit shows the search it read when it ran
    again = tmp_path / "again.pdf"
    res = CliRunner().invoke(
        app, ["report", done.result.audit_id, "--db", case.db_url, "--out", str(again), "-q"]
    )
    assert res.exit_code == 0, res.output
    assert digest[:16] in _pdf_text(again.read_bytes(), tmp_path)


def test_audit_of_another_model_file_needs_attestation_as_before(
    case: Case, tmp_path: Path
) -> None:
    spec = json.loads(case.spec.read_text())
    spec["model"]["path"] = _audited_model(case.folder, rounds=12).name
    other = case.folder / "other.json"
    other.write_text(json.dumps(spec), encoding="utf-8")
    done = perform_audit(other, database_url=case.db_url, pdf_path=tmp_path / "audit.pdf")
    (nj,) = _findings(done.result, "NJ-13-16-LDA-RECORD")
    assert nj.status == "needs_attestation"
    flagged = [f for f in _findings(done.result, "UGESP-VALIDATION-LDA") if "=" in f.scope]
    assert flagged
    assert {f.status for f in flagged} == {"needs_attestation"}
    assert all(case.record["record_sha256"] not in f.message for f in done.result.findings)
    text = _pdf_text((tmp_path / "audit.pdf").read_bytes(), tmp_path)
    assert "Search for less discriminatory alternatives" not in text


def test_a_record_with_no_alternative_within_tolerance_passes_with_its_digest(
    case: Case,
) -> None:
    record = copy.deepcopy(case.record)
    record["recommended"] = None
    record["no_recommendation_reason"] = "no candidate raised the worst ratio within 0.01 AUC"
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, default=str).encode("utf-8")
    record["record_sha256"] = hashlib.sha256(text).hexdigest()
    assert record_evidence(record)["outcome"] == "none_within_tolerance"
    spec = json.loads(case.spec.read_text())  # a spec cannot attest a record itself
    spec["evidence"]["lda_record"] = {"outcome": "none_within_tolerance", "statement": "x"}
    forged = case.folder / "forged.json"
    forged.write_text(json.dumps(spec), encoding="utf-8")
    alone = run_audit(forged)
    assert any("evidence.lda_record is ignored" in w for w in alone.warnings)
    assert _findings(alone, "NJ-13-16-LDA-RECORD")[0].status == "needs_attestation"
    result = run_audit(case.spec, lda_record=record)
    (nj,) = _findings(result, "NJ-13-16-LDA-RECORD")
    assert nj.status == "pass"
    assert "found no alternative within tolerance" in nj.message
    assert record["record_sha256"] in nj.message
    flagged = [f for f in _findings(result, "UGESP-VALIDATION-LDA") if "=" in f.scope]
    assert flagged
    assert {f.status for f in flagged} == {"pass"}  # validation study + the search
    assert all(record["record_sha256"] in f.message for f in flagged)


def test_web_lists_and_shows_a_stored_search_to_signed_in_users_only(
    case: Case, tmp_path: Path, fast_hashing: None
) -> None:
    from fastapi.testclient import TestClient

    from auditor.store import open_store, save_audit
    from auditor.users import create_token
    from tests._web import USERS, add_users, make_app

    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    store_record(case.record, db_url)
    result = run_audit(case.spec)  # stored without a report: the pages read the store
    audit_id = result.audit_id
    store = open_store(db_url)
    try:
        with store.session() as session:
            save_audit(session, result)
        add_users(store)
        token = create_token(store, USERS["viewer"], actor="test")
    finally:
        store.dispose()
    digest = case.record["record_sha256"]
    with TestClient(make_app(db_url, tmp_path)) as client:
        assert client.get(f"/api/lda/{digest}").status_code == 401
        page = client.get(f"/lda/{digest}", follow_redirects=False)
        assert page.status_code in (302, 303)
        assert "/login" in page.headers["location"]
        auth = {"Authorization": f"Bearer {token}"}
        as_written = json.loads(case.record_path.read_text())
        assert client.get(f"/api/lda/{digest}", headers=auth).json() == as_written
        listed = client.get(f"/api/audits/{audit_id}/lda", headers=auth).json()
        assert [(s["digest"], s["for_this_model"]) for s in listed] == [(digest, True)]
        assert client.get(f"/api/lda/{'0' * 64}", headers=auth).status_code == 404
        assert client.get("/api/lda/not-a-digest", headers=auth).status_code == 422
        html = client.get(f"/audits/{audit_id}/lda", headers=auth)
        assert html.status_code == 200
        assert f"/lda/{digest}" in html.text
        detail = client.get(f"/lda/{digest}", headers=auth)
        assert detail.status_code == 200
        assert "<svg" in detail.text
        assert "SHA-256 recomputes from its content" in detail.text
        for c in case.record["candidates"]:
            assert c["id"] in detail.text
        audit_page = client.get(f"/audits/{audit_id}", headers=auth)
        assert f"/audits/{audit_id}/lda" in audit_page.text
        pdf = client.get(f"/lda/{digest}/document.pdf", headers=auth)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        assert pdf.headers["x-record-sha256"] == digest


def test_stored_searches_are_found_by_a_non_ascii_audit_name(case: Case, tmp_path: Path) -> None:
    from auditor.store import open_store
    from auditor.store.lda_records import stored_search_by_digest, stored_searches

    db_url = f"sqlite:///{tmp_path / 'names.db'}"
    renamed = {**case.record, "name": 'Bewerbung München "2026"'}
    store_record(case.record, db_url)
    store_record(renamed, db_url)
    store = open_store(db_url)
    try:
        with store.session() as session:
            found = stored_searches(session, renamed["name"])
            assert [s.record["name"] for s in found] == [renamed["name"]]
            assert [s.name for s in stored_searches(session, case.record["name"])] == [
                case.record["name"]
            ]
            newest = stored_search_by_digest(session, case.record["record_sha256"])
            assert newest is not None
            # both carry the same digest: the newest is found (the web page then says
            # that its content no longer matches it)
            assert newest.event_id == found[0].event_id
    finally:
        store.dispose()


# ---- the documents show everything the record holds (issue 22 items 2 and 3) ----


def _resealed(record: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, default=str).encode("utf-8")
    return {**record, "record_sha256": hashlib.sha256(text).hexdigest()}


def _with_failure_and_notes(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a search with a candidate that failed to train and a method its
    learner cannot take, and aimed by a surrogate, would write it."""
    changed = copy.deepcopy(record)
    failed = copy.deepcopy(changed["candidates"][-1])
    failed.update(
        id="variant:9", method="variant", search=None, holdout=None, model=None, on_frontier=False
    )
    failed["error"] = "ValueError: max_depth must be at least 1 (estimator refused it)"
    changed["candidates"].append(failed)
    changed["not_tried"] = ["monotone constraints not tried: a torch model takes none"]
    changed["aimed_by"] = (
        "exact tree SHAP of a LightGBM surrogate fitted to the refit torch model's log-odds "
        "on the fit split (R² 0.912 on the search split)"
    )
    return _resealed(changed)


def _text(value: float, digits: int = 3) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def test_standalone_pdf_shows_business_measures_smd_verdicts_learner_and_failures(
    case: Case, tmp_path: Path
) -> None:
    from auditor.lda.document import render_lda_pdf

    record = _with_failure_and_notes(case.record)
    text = _pdf_text(render_lda_pdf(record), tmp_path)
    # the business measures: named for the domain, with intervals and the loss values
    assert record["business"]["rate_name"] == "error rate"
    assert "Error rate among approved" in text
    assert "a loss of 3.0 per bad approval and a gain of 1.0 per good one" in text
    for c in record["candidates"]:
        for split in ("search", "holdout"):
            if not c[split]:
                continue
            b = c[split]["business"]
            assert f"{b['bad_rate']:.3f}" in text
            assert _text(b["expected_loss"]) in text
            if b["bad_rate_change"] is not None:
                low, high = b["bad_rate_change_ci"]
                assert f"[{_text(low)}, {_text(high)}]" in text
    # every group's SMD with its interval, the worst SMD, the packs' verdicts
    base = record["candidates"][0]["search"]
    for q in base["smd"]:
        if "reference" not in q["flags"]:
            assert (
                f"{_text(q['value'])} [{_text(q['ci_low'], 2)}, {_text(q['ci_high'], 2)}]" in text
            )
    assert _text(base["worst_smd"]["value"]) in text
    assert base["verdicts"]["counts"]
    for status, n in base["verdicts"]["counts"].items():
        assert f"{n} {status.replace('_', ' ')}" in text
    for f in base["verdicts"]["not_passing"]:
        assert f"{f['pack']}/{f['rule']} ({f['status']})" in text
    # the learner, what aimed the search (the surrogate's R²), what was not tried, failures
    learner = record["training"]["model"]
    assert f"{learner['kind']} ({learner['source']})" in text
    assert "num_leaves: 7" in text
    assert "R² 0.912 on the search split" in text
    assert "monotone constraints not tried: a torch model takes none" in text
    assert "variant:9: ValueError: max_depth must be at least 1" in text
    assert "failed to train" in text


def test_a_tolerance_on_a_business_measure_is_stated_as_such(case: Case, tmp_path: Path) -> None:
    from auditor.lda.document import render_lda_html
    from auditor.lda.evidence import record_evidence

    record = copy.deepcopy(case.record)
    record["tolerance"] = {"auc": None, "approval_rate": 0.05, "on": "error_rate", "value": 0.02}
    record = _resealed(record)
    html = re.sub(r"\s+", " ", render_lda_html(record))
    assert "the rise of the error rate among approved may be at most 0.02" in html
    assert "AUC is not bounded" in html
    assert "tolerance 0.02 on error_rate" in record_evidence(record)["statement"]


def test_frontier_chart_labels_only_the_frontier_the_audited_model_and_the_choice(
    case: Case,
) -> None:
    from auditor.report.lda import build_lda_view

    view = build_lda_view(case.record)
    assert view.figure is not None
    svg = str(view.figure.svg)
    labels = set(re.findall(r"<text[^>]*>([^<]+)</text>", svg))
    rec = case.record["recommended"]["id"]
    shown = {"baseline", rec, *case.record["frontier"]}
    assert shown <= labels
    others = {c["id"] for c in case.record["candidates"]} - shown
    assert others, "the case must try a candidate off the frontier"
    assert not others & labels  # small marks, no labels


def test_report_section_and_web_page_show_the_business_measures_and_the_learner(
    case: Case, tmp_path: Path, fast_hashing: None
) -> None:
    from fastapi.testclient import TestClient

    from auditor.store import open_store, save_audit
    from auditor.users import create_token
    from tests._web import USERS, add_users, make_app

    done = perform_audit(case.spec, database_url=case.db_url, pdf_path=tmp_path / "audit.pdf")
    text = _pdf_text((tmp_path / "audit.pdf").read_bytes(), tmp_path)
    assert "Error rate among approved" in text
    assert "Learner refit" in text
    assert done.result.audit_id
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    record = _with_failure_and_notes(case.record)
    store_record(record, db_url)
    result = run_audit(case.spec)
    store = open_store(db_url)
    try:
        with store.session() as session:
            save_audit(session, result)
        add_users(store)
        token = create_token(store, USERS["viewer"], actor="test")
    finally:
        store.dispose()
    with TestClient(make_app(db_url, tmp_path)) as client:
        page = client.get(
            f"/lda/{record['record_sha256']}", headers={"Authorization": f"Bearer {token}"}
        )
    assert page.status_code == 200
    html = re.sub(r"\s+", " ", page.text)
    assert "Error rate among approved" in html
    assert "Expected loss per application" in html
    assert "R² 0.912" in html
    assert "max_depth must be at least 1" in html
    assert "monotone constraints not tried" in html
    assert "Ratio rules: counts; those failing or warning" in html
