"""The audit page's trend chart: the lowest impact ratio per run, with its interval."""

from __future__ import annotations

import dataclasses

from auditor.result import AuditResult
from auditor.store import open_store, save_audit
from auditor.web.trend_chart import lowest_ratio_chart
from tests.factories import make_result


def _run(day: int, female_ratio: float, low: float, high: float) -> AuditResult:
    """The factory audit started on ``day`` with Female's impact ratio set."""
    result = make_result(name="hiring-trend")
    metrics = tuple(
        dataclasses.replace(m, value=female_ratio, ci_low=low, ci_high=high)
        if m.metric == "impact_ratio" and m.group == "Female"
        else m
        for m in result.metrics
    )
    run = dataclasses.replace(result.run, started_at=f"2026-03-0{day}T00:00:00+00:00")
    return dataclasses.replace(result, run=run, metrics=metrics)


def test_the_chart_draws_each_runs_lowest_ratio_with_its_interval(sqlite_url: str) -> None:
    runs = [_run(1, 0.9, 0.8, 1.0), _run(3, 0.6, 0.5, 0.7), _run(2, 0.75, 0.7, 0.82)]
    later = _run(4, 0.5, 0.4, 0.6)  # after the audit charted: left out
    chart = lowest_ratio_chart([*runs, later], runs[1].audit_id)
    assert chart is not None
    # in start order, each run's lowest ratio (Female's: Male is the reference at 1.0)
    assert [p.value for p in chart.points] == [0.9, 0.75, 0.6]
    assert [p.started_at[:10] for p in chart.points] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [p.current for p in chart.points] == [False, False, True]
    assert {p.series for p in chart.points} == {"sex=Female impact_ratio"}
    ys = [p.y for p in chart.points]
    assert ys == sorted(ys)  # a lower ratio is drawn lower (larger SVG y)
    for p in chart.points:
        assert p.y_low is not None
        assert p.y_high is not None
        assert p.y_high < p.y < p.y_low
    assert chart.points[0].x < chart.points[1].x < chart.points[2].x
    assert chart.line == " ".join(f"{p.x},{p.y}" for p in chart.points)
    assert lowest_ratio_chart(runs, runs[0].audit_id) is None  # the first run: nothing to draw

    from auditor.web.templating import environment
    from auditor.web.workspace import audit_page

    with open_store(sqlite_url) as store:
        with store.session() as session:
            for result in runs:
                save_audit(session, result)
        page = audit_page(store, runs[1].audit_id)
    html = (
        environment()
        .get_template("web/audit.html.j2")
        .render(**page, title="t", user=None, csrf="", path="/")
    )
    figure = html.split('id="trend-chart"')[1].split("</figure>")[0]
    assert figure.count('class="trend-point"') == 3
    assert figure.count('class="trend-ci"') == 3
    assert "sex=Female impact_ratio 0.600 [0.500–0.700] (this run)" in figure
