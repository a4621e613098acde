"""Metric trends across stored runs: values, changes, flags, the report hook and the command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditor.cli_ops import history
from auditor.history import (
    FLAG_DISJOINT,
    FLAG_OUTSIDE,
    FLAG_SHARE,
    Trend,
    TrendSeries,
    build_trend,
    trend_section,
)
from auditor.result import AuditResult, MetricRecord
from auditor.store import Store, load_history, open_store, save_audit
from tests._db import db_url, pg_admin, store
from tests.factories import make_result

__all__ = ["db_url", "pg_admin", "store"]  # fixtures used by name


def run_at(
    day: int,
    *,
    female_ir: float = 0.625,
    ci: tuple[float, float] = (0.53, 0.74),
    area_code: float = 0.5,
    name: str = "hiring-q",
) -> AuditResult:
    """A factory result started on 2026-11-``day`` with a chosen Female impact ratio."""
    base = make_result(name=name)
    metrics = tuple(
        dataclasses.replace(m, value=female_ir, ci_low=ci[0], ci_high=ci[1])
        if (m.group, m.metric) == ("Female", "impact_ratio")
        else m
        for m in base.metrics
    )
    attributions = dataclasses.replace(
        base.attributions, global_importance={"skills_test": 0.8, "area_code": area_code}
    )
    run = dataclasses.replace(base.run, started_at=f"2026-11-{day:02d}T06:00:00+00:00")
    return dataclasses.replace(base, metrics=metrics, attributions=attributions, run=run)


def _series(trend: Trend, label: str) -> TrendSeries:
    return next(s for s in trend.series if s.label == label)


def test_stable_runs_are_not_flagged() -> None:
    trend = build_trend([run_at(9, female_ir=0.63), run_at(2)])
    assert [r.started_at[:10] for r in trend.runs] == ["2026-11-02", "2026-11-09"]
    ir = _series(trend, "sex=Female impact_ratio")
    assert [p.value for p in ir.points] == [0.625, 0.63]
    assert ir.points[1].change == pytest.approx(0.005)
    assert trend.flagged() == []


def test_value_outside_previous_interval_is_flagged() -> None:
    trend = build_trend([run_at(2), run_at(9, female_ir=0.70, ci=(0.60, 0.80))])
    point = _series(trend, "sex=Female impact_ratio").points[1]
    assert point.flags == ()  # inside 0.53-0.74
    trend = build_trend([run_at(2), run_at(9, female_ir=0.76, ci=(0.70, 0.82))])
    point = _series(trend, "sex=Female impact_ratio").points[1]
    assert point.flags == (FLAG_OUTSIDE,)
    trend = build_trend([run_at(2), run_at(9, female_ir=0.90, ci=(0.80, 0.98))])
    point = _series(trend, "sex=Female impact_ratio").points[1]
    assert point.flags == (FLAG_OUTSIDE, FLAG_DISJOINT)
    assert [(s.label, p.audit_id) for s, p in trend.flagged()] == [
        ("sex=Female impact_ratio", trend.runs[1].audit_id)
    ]


def test_attribution_share_shift_is_flagged() -> None:
    trend = build_trend([run_at(2, area_code=0.5), run_at(9, area_code=1.6)])
    share = _series(trend, "area_code attribution_share")
    values = [p.value for p in share.points]
    assert values == pytest.approx([0.5 / 1.3, 1.6 / 2.4])
    assert share.points[1].flags == (FLAG_SHARE,)
    # shares come after group metrics, the largest latest share first
    labels = [s.label for s in trend.series]
    assert labels.index("area_code attribution_share") < labels.index(
        "skills_test attribution_share"
    )
    assert all("unknown" not in label for label in labels)


def test_trend_json_round_trips() -> None:
    trend = build_trend([run_at(2), run_at(9, female_ir=0.9, ci=(0.8, 0.98))])
    data = json.loads(json.dumps(trend.to_dict()))
    assert data["name"] == "hiring-q"
    assert len(data["runs"]) == 2
    assert data["flags"][0]["series"] == "sex=Female impact_ratio"


def test_trend_section_for_a_report() -> None:
    first, second, third = run_at(2), run_at(9, female_ir=0.9, ci=(0.8, 0.98)), run_at(16)
    results = [third, first, second]
    assert trend_section(results, first.audit_id) is None  # no earlier run
    assert trend_section(results, "unknown-id") is None
    section = trend_section(results, second.audit_id)
    assert section is not None
    assert section["previous_audit_id"] == first.audit_id
    assert [r["audit_id"] for r in section["runs"]] == [first.audit_id, second.audit_id]
    row = next(r for r in section["rows"] if r["label"] == "sex=Female impact_ratio")
    assert (row["previous"], row["current"]) == (0.625, 0.9)
    assert row["flags"] == [FLAG_OUTSIDE, FLAG_DISJOINT]
    assert section["flagged"] == [row]


def test_results_without_metrics_of_a_kind() -> None:
    bare = dataclasses.replace(
        make_result(with_attributions=False),
        metrics=(MetricRecord("sex", "Male", "selection_rate", None, 10),),
    )
    trend = build_trend([bare])
    assert [s.label for s in trend.series] == ["sex=Male selection_rate"]
    assert build_trend([]).series == ()


def _store_runs(store: Store) -> list[AuditResult]:
    runs = [run_at(2), run_at(9), run_at(16, female_ir=0.9, ci=(0.8, 0.98)), run_at(5, name="x")]
    with store.session() as session:
        for result in runs:
            save_audit(session, result)
    return runs


def test_load_history_from_the_store(store: Store) -> None:
    runs = _store_runs(store)
    with store.session() as session:
        loaded = load_history(session, "hiring-q")
        latest_two = load_history(session, "hiring-q", limit=2)
    assert [r.audit_id for r in loaded] == [r.audit_id for r in runs[:3]]
    assert [r.audit_id for r in latest_two] == [r.audit_id for r in runs[1:3]]
    assert len(build_trend(loaded).flagged()) == 1


def test_history_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    with open_store(url) as opened:
        runs = _store_runs(opened)
    app = typer.Typer()
    app.command()(history)
    runner = CliRunner()
    table = runner.invoke(app, ["hiring-q", "--db", url])
    assert table.exit_code == 0, table.output
    assert "sex=Female impact_ratio" in table.output
    assert "1 change(s) beyond the previous run's 95% interval" in table.output
    as_json = runner.invoke(app, ["hiring-q", "--db", url, "--json"])
    assert as_json.exit_code == 0
    data = json.loads(as_json.output)
    assert data["flags"][0]["audit_id"] == runs[2].audit_id
    missing = runner.invoke(app, ["nope", "--db", url])
    assert missing.exit_code == 2
    assert "No stored audit is named 'nope'" in missing.output
