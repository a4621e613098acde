"""Screener audits end to end (issue 23): the demo's two sample screeners through
``run_audit``, the report, the LL144 preset, and the same numbers through every target kind.

Real components: the sample torch screeners trained here (small training set), the shipped
name tables, the loopback HTTP server wrapping the same model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.demo import prepare_screeners
from auditor.errors import SpecError
from auditor.pipeline import run_audit
from auditor.report import build_report
from auditor.report.render import render_html
from auditor.result import AuditResult, audit_result_schema
from auditor.screener.loopback import serve_sample_screener
from auditor.screener.run import screen
from auditor.screener.sample import expected_selection_rates, generate_applications
from auditor.screener.targets import Network
from auditor.spec import load_spec
from tests._web import fast_hashing  # noqa: F401 (a fixture)

APPLICATIONS = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("screener-demo")
    # the training sets torch to one thread itself (sample_model.one_thread) and puts the
    # caller's setting back: checked here
    threads = torch.get_num_threads()
    prepare_screeners(out, seed=0, applications=APPLICATIONS, n_train=600, resamples=2000)
    assert torch.get_num_threads() == threads
    return out


@pytest.fixture(scope="module")
def injected(demo: Path) -> AuditResult:
    return run_audit(demo / "screener_audit.yaml")


@pytest.fixture(scope="module")
def clean(demo: Path) -> AuditResult:
    return run_audit(demo / "screener_audit_clean.yaml")


def _effect(result: AuditResult, probe: str, attribute: str, group: str) -> Any:
    assert result.screener is not None
    hits = [
        e
        for e in result.screener.effects
        if (e.probe, e.attribute, e.group) == (probe, attribute, group)
    ]
    assert len(hits) == 1, (probe, attribute, group)
    return hits[0]


def _ratio(result: AuditResult, attribute: str, group: str) -> float:
    hits = [
        m
        for m in result.metrics
        if m.metric == "impact_ratio" and m.attribute == attribute and m.group == group
    ]
    assert len(hits) == 1
    assert hits[0].value is not None
    return float(hits[0].value)


def test_injected_name_effect_is_found_with_an_interval_excluding_zero(
    injected: AuditResult,
) -> None:
    sc = injected.screener
    assert sc is not None
    assert sc.applications == APPLICATIONS
    female = _effect(injected, "name", "sex", "Female")
    black = _effect(injected, "name", "race_ethnicity", "Black or African American")
    for e in (female, black):
        assert e.ci_high < 0, e
        assert e.finding
        assert e.selection_rate_difference is not None
        assert e.selection_rate_difference < 0
    # the injected effect touches female first names and Black surnames only: the other
    # groups, the pronouns and the graduation year have no effect and no finding
    for group in ("Asian", "Hispanic or Latino", "American Indian or Alaska Native"):
        e = _effect(injected, "name", "race_ethnicity", group)
        assert not e.finding
        assert e.ci_low <= 0 <= e.ci_high
    assert not _effect(injected, "pronoun", "sex", "Female").finding
    assert not _effect(injected, "age", "age_signal", "older (graduated 1988)").finding
    # simultaneous intervals: each at 1 - alpha/m
    assert sc.comparisons == len(sc.effects)
    assert sc.interval_level == pytest.approx(1 - 0.05 / sc.comparisons)
    assert "at most 0.05" in sc.statement


def test_ll144_impact_ratio_matches_the_injected_expectation(
    injected: AuditResult, demo: Path
) -> None:
    """Female & White names carry exactly one penalised token and Male & White none, so
    the intersection's selection-rate impact ratio is what the injected logit shift does
    to these applications (auditor.screener.sample.expected_selection_rates)."""
    records = generate_applications(APPLICATIONS, seed=0)
    base, lowered = expected_selection_rates(records, demo / "screeners" / "injected")
    ratio = _ratio(injected, "sex & race_ethnicity", "Female & White")
    assert ratio == pytest.approx(lowered / base, abs=1e-9)
    assert ratio < 0.8
    # two penalised tokens (female first name, Black surname) do more harm than one
    assert _ratio(injected, "sex & race_ethnicity", "Female & Black or African American") < ratio


def test_clean_screener_gets_no_fail_and_no_paired_finding(clean: AuditResult) -> None:
    assert clean.findings_by_status()["fail"] == 0
    assert clean.screener is not None
    assert clean.screener.findings() == ()
    assert all(e.mean_difference == pytest.approx(0.0, abs=1e-12) for e in clean.screener.effects)


def test_ll144_preset_renders_from_a_screener_audit(injected: AuditResult) -> None:
    report = build_report(injected, preset="ll144")
    html = report.html
    for label in ("Female", "Male", "Black or African American", "Female &amp; White"):
        assert label in html
    assert "selection rates" in html
    # the applicants the summary counts are variants of the applications
    assert f"of one of {APPLICATIONS} applications" in html
    assert "the counts are variants, not people" in html
    assert report.pdf.startswith(b"%PDF")
    full = render_html(injected)  # the full report's PDF is rendered in other tests
    assert "Paired probes of the screener" in full
    assert "conservative" in full  # the paired-rows note
    assert "Census" in full  # the name tables' attribution


def test_result_round_trips_and_matches_the_schema(injected: AuditResult) -> None:
    data = json.loads(injected.to_json())
    jsonschema_rs.validator_for(audit_result_schema()).validate(data)
    again = AuditResult.from_dict(data)
    assert again.screener == injected.screener
    sc = data["screener"]
    assert sc["record"]["kind"] == "callable"
    assert sc["record"]["identity"]["function"] == "auditor.screener.sample:score_records"
    assert len(sc["record"]["response_digests"]) == sc["record"]["requests"] > 0
    assert injected.provenance.data_sha256  # the applications file


def test_variant_rows_are_paired_and_the_standard_intervals_are_conservative(
    demo: Path,
) -> None:
    """The claim the report makes: an application's variants are positively correlated, so
    intervals that treat the rows as independent are wider than paired ones."""
    spec = load_spec(demo / "screener_audit.yaml")
    scored = screen(spec).scored
    names = scored[scored["probe"] == "name"]
    means = names.pivot_table(index="application_id", columns="sex", values="score")
    female, male = means["Female"].to_numpy(), means["Male"].to_numpy()
    assert np.corrcoef(female, male)[0, 1] > 0.5
    n = len(female)
    paired_se = np.std(female - male, ddof=1) / math.sqrt(n)
    independent_se = math.sqrt(np.var(female, ddof=1) / n + np.var(male, ddof=1) / n)
    assert paired_se < independent_se


def test_same_numbers_through_callable_torch_and_loopback_http(
    demo: Path, injected: AuditResult
) -> None:
    raw = yaml.safe_load((demo / "screener_audit.yaml").read_text())
    model = demo / "screeners" / "injected"
    torch_spec = load_spec(
        {**raw, "screener": {**raw["screener"], "target": {"kind": "torch", "path": str(model)}}},
        base_dir=demo,
    )
    by_torch = screen(torch_spec)
    by_callable = screen(load_spec(demo / "screener_audit.yaml"))
    with serve_sample_screener(model) as server:
        http_target = {"kind": "http", "url": server.score_url, "rate_per_s": 1000}
        http_spec = load_spec(
            {**raw, "screener": {**raw["screener"], "target": http_target}}, base_dir=demo
        )
        network = Network(allowed_hosts=("127.0.0.1",), cache_dir=None)
        by_http = screen(http_spec, network=network)
        assert server.requests > 0
    for other in (by_torch, by_http):
        assert other.scored["score"].tolist() == by_callable.scored["score"].tolist()
        assert other.summary.effects == by_callable.summary.effects
    assert by_callable.summary.effects == injected.screener.effects  # type: ignore[union-attr]
    assert by_torch.summary.record.kind == "torch"
    assert by_torch.summary.record.identity["sha256"]
    assert by_http.summary.record.identity["url"].startswith("http://127.0.0.1:")


def test_section_attributions_by_each_method_and_where_the_name_effect_runs(
    demo: Path,
) -> None:
    """The spec picks the methods; each table states what it cost; and the injected effect
    (it reads the name field only) vanishes with the name removed and stays otherwise."""
    raw = yaml.safe_load((demo / "screener_audit.yaml").read_text())
    model = demo / "screeners" / "injected"
    n = 20
    screener = {
        **raw["screener"],
        "target": {"kind": "torch", "path": str(model)},
        "attributions": {"methods": ["leave_one_out", "occlusion", "gradients"], "applications": n},
    }
    result = run_audit(load_spec({**raw, "screener": screener}, base_dir=demo))
    assert result.screener is not None
    sections = result.screener.sections
    tables = {t["method"]: t for t in sections["tables"]}
    assert list(tables) == ["leave_one_out", "occlusion", "gradients"]
    assert sections["rows"] == tables["leave_one_out"]["rows"]  # the earlier keys kept
    # leave one out: each application unchanged, plus once per section with text
    with_text = sum(row[4] for row in tables["leave_one_out"]["rows"])
    assert tables["leave_one_out"]["calls"] == n + with_text
    assert tables["occlusion"]["calls"] > tables["leave_one_out"]["calls"]
    assert tables["gradients"]["calls"] == 0
    assert "cost: no calls" in tables["gradients"]["note"]
    # the model adds section logits: the gradient (first order) tracks leave-one-out
    loo = np.array([row[1] for row in tables["leave_one_out"]["rows"]])
    grad = np.array([row[1] for row in tables["gradients"]["rows"]])
    assert np.corrcoef(loo, grad)[0, 1] > 0.9
    big = np.abs(loo) > 0.05
    assert big.any()
    assert (np.sign(loo[big]) == np.sign(grad[big])).all()
    probes = sections["probes"]
    assert {p["contrast"].split(" = ")[0] for p in probes} == {"sex", "race_ethnicity"}
    for probe in probes:
        rows = {row[0]: row for row in probe["rows"]}
        assert rows["(nothing removed)"][3] < 0  # the finding itself
        assert rows["name"][2] <= 0 <= rows["name"][3]  # gone with the name
        for field in raw["screener"]["text_fields"]:
            assert rows[field][3] < 0, field  # stays with any section removed
        assert "it runs through the name field" in probe["reading"]
        assert probe["calls"] == 2 * probe["applications"] * (2 + len(screener["text_fields"]))
    assert sections["calls"] == sum(t["calls"] for t in tables.values()) + sum(
        p["calls"] for p in probes
    )
    html = render_html(result)
    for text in (
        "Section attributions, leave one section out",
        "Section attributions, occlusion (8 words at a time)",
        "Section attributions, gradients",
        "it runs through the name field",
        "the chance of any false finding is at most 0.05, Bonferroni over",
    ):
        assert text in html, text
    off = {**screener, "attributions": {"methods": [], "through_sections": False}}
    assert screen(load_spec({**raw, "screener": off}, base_dir=demo)).summary.sections == {}


def test_cli_summary_says_where_each_name_finding_runs(demo: Path) -> None:
    ran = CliRunner().invoke(app, ["audit", str(demo / "screener_audit.yaml"), "--no-store"])
    assert ran.exit_code == 0, ran.output
    text = " ".join(ran.output.split())
    for contrast in ("sex = Female vs Male", "race_ethnicity = Black or African American vs White"):
        assert f"Through a field? {contrast}, the first name variant of each: " in text
    assert text.count("it runs through the name field") == 2


def test_training_runs_torch_on_one_thread_and_restores_the_callers_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditor.screener import sample_model as sm

    seen: list[int] = []

    def record_threads(*args: object) -> float:
        seen.append(torch.get_num_threads())
        return 0.0

    monkeypatch.setattr(sm, "_train", record_threads)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = sm.SampleScreener(sm.ScreenerConfig(("summary",), ("years_experience",)))
        sm.train(model, [], [], seed=0)
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_gradients_need_the_local_torch_sample_screener(demo: Path) -> None:
    raw = yaml.safe_load((demo / "screener_audit.yaml").read_text())
    bad = {**raw, "screener": {**raw["screener"], "attributions": {"methods": ["gradients"]}}}
    with pytest.raises(SpecError, match="gradients need a local torch sample screener"):
        load_spec(bad, base_dir=demo)
    twice = {**raw, "screener": {**raw["screener"], "attributions": {"methods": ["occlusion"] * 2}}}
    with pytest.raises(SpecError, match="name each method once"):
        load_spec(twice, base_dir=demo)


def test_screener_spec_problems_are_listed_with_their_keys(demo: Path) -> None:
    raw = yaml.safe_load((demo / "screener_audit.yaml").read_text())
    bad = {
        **raw,
        "columns": {"id": "id", "decision": "hired"},
        "model": {"path": "m.txt", "kind": "lightgbm"},
        "screener": {
            **raw["screener"],
            "structured_fields": ["years_experience"],
            "target": {
                "kind": "chat",
                "url": "http://x",
                "model": "m",
                "prompt": "p",
                "score_pattern": "(a)(b)",
            },
        },
    }
    with pytest.raises(SpecError) as info:
        load_spec(bad, base_dir=demo)
    text = str(info.value)
    assert "score_pattern" in text
    assert "exactly one group" in text
    bad["screener"]["target"] = raw["screener"]["target"]
    with pytest.raises(SpecError) as info:
        load_spec(bad, base_dir=demo)
    text = str(info.value)
    assert "model: a screener audit" in text
    assert "columns: a screener audit" in text
    assert "screener.probes.age.field: 'graduation_year'" in text


def test_old_specs_are_unchanged(demo: Path) -> None:
    old = {
        "name": "old",
        "domain": "hiring",
        "data": {"path": "decisions.csv"},
        "columns": {"id": "id", "decision": "hired"},
        "protected": ["sex"],
    }
    spec = load_spec(old, base_dir=demo)
    assert spec.screener is None
    assert "screener" not in spec.as_dict()
    assert spec.protected == ["sex"]
    assert spec.intersections == []


def test_store_verify_and_web_view_read_a_screener_audit(
    demo: Path,
    tmp_path: Path,
    fast_hashing: None,  # noqa: F811
) -> None:
    from fastapi.testclient import TestClient

    from auditor.service import perform_audit
    from auditor.store import open_store
    from auditor.store.repository import load_result
    from tests._web import USERS, add_users, login, make_app

    db = f"sqlite:///{tmp_path / 'a.db'}"
    done = perform_audit(demo / "screener_audit_clean.yaml", database_url=db, fast_render=True)
    with open_store(db) as store:
        with store.session() as session:
            stored = load_result(session, done.result.audit_id)
        assert stored.screener == done.result.screener
        add_users(store)
    verify = CliRunner().invoke(app, ["verify", "--db", db])
    assert verify.exit_code == 0, verify.output
    assert "No alteration or deletion detected" in verify.output
    with TestClient(make_app(db, tmp_path)) as client:
        anonymous = client.get(f"/audits/{done.result.audit_id}", follow_redirects=False)
        assert anonymous.status_code in (302, 303, 401), anonymous.status_code
        assert "Paired probes" not in anonymous.text
        login(client, USERS["viewer"])
        page = client.get(f"/audits/{done.result.audit_id}")
        assert page.status_code == 200
        assert "screener-demo-clean" in page.text
        for text in (
            'href="#sec-screener"',
            "Paired probes of the screener",
            "screener-effects",  # the paired effects table
            "Section attributions, leave one section out",
            "the chance of any false finding is at most 0.05",
        ):
            assert text in page.text, text
    _tampering_with_the_screener_block_is_detected(db, done.result.audit_id)


def _tampering_with_the_screener_block_is_detected(db: str, audit_id: str) -> None:
    """The stored result (screener block included) is hash-chained: a reply digest changed
    in the stored JSON, even with the row's own digest recomputed, fails `auditor verify`."""
    import hashlib

    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.begin() as conn:
        stored = conn.execute(
            text("SELECT result_json FROM audits WHERE id = :a"), {"a": audit_id}
        ).scalar_one()
        data = json.loads(stored)
        digests = data["screener"]["record"]["response_digests"]
        assert digests
        assert data["screener"]["applications"] == APPLICATIONS
        digests[0] = "0" * 64
        forged = json.dumps(data)
        conn.execute(
            text("UPDATE audits SET result_json = :j, result_sha256 = :h WHERE id = :a"),
            {"j": forged, "h": hashlib.sha256(forged.encode()).hexdigest(), "a": audit_id},
        )
    engine.dispose()
    verify = CliRunner().invoke(app, ["verify", "--db", db])
    assert verify.exit_code != 0, verify.output
    assert f"audit {audit_id}: result JSON differs" in verify.output
