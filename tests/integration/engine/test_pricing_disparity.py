"""Pricing disparity after controls: the direction of a continuous outcome
(``columns.outcomes`` entries ``{name, unfavorable}``) and the ``FL-ADJ-PRICING`` rule
that judges the regression-adjusted mean differences with it (issue 17 item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.errors import SpecError
from auditor.result import AuditResult, Finding
from auditor.spec import load_spec
from tests._engine_compare import assert_same_result

CONTROLS = ["credit_score", "dti"]


def _loans(seed: int, apr_gap: float, n: int = 1200) -> pd.DataFrame:
    """APR falls with the credit score and rises with DTI; women have lower scores (a
    raw APR gap the controls explain) and pay ``apr_gap`` points more at equal controls.
    The credit limit depends on the score only."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n, p=[0.6, 0.4])
    score = rng.normal(700, 50, n) - 30 * (sex == "female")
    dti = rng.uniform(0.05, 0.6, n)
    apr = 30 - 0.025 * score + 4 * dti + apr_gap * (sex == "female") + rng.normal(0, 1.0, n)
    return pd.DataFrame(
        {
            "id": range(n),
            "sex": sex,
            "credit_score": score,
            "dti": dti,
            "approved": (rng.uniform(size=n) < 0.6).astype(int),
            "apr": apr,
            "apr_undirected": apr,  # the same values, listed without a direction
            "credit_limit": 2000 + 10 * (score - 600) + rng.normal(0, 800, n),
        }
    )


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "pricing",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {
            "id": "id",
            "decision": "approved",
            "outcomes": [
                {"name": "apr", "unfavorable": "higher"},
                "apr_undirected",
                {"name": "credit_limit", "unfavorable": "lower"},
            ],
        },
        "protected": ["sex"],
        "reference": {"sex": "male"},
        "controls": CONTROLS,
        "policies": ["ecoa_reg_b"],
    }
    spec.update(overrides)
    return spec


def _pricing(result: AuditResult) -> dict[str, Finding]:
    return {f.scope: f for f in result.findings if f.rule_id == "FL-ADJ-PRICING"}


# --- the spec: mixed lists of names and {name, unfavorable} entries ---------------


def test_outcomes_take_names_and_directed_entries(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path / "d.csv"))
    assert spec.columns.outcomes == ["apr", "apr_undirected", "credit_limit"]
    assert spec.columns.outcome_directions == {"apr": "higher", "credit_limit": "lower"}
    # written back as it was written, and read again to the same spec (same digest)
    written = spec.as_dict()["columns"]["outcomes"]
    assert written == [
        {"name": "apr", "unfavorable": "higher"},
        "apr_undirected",
        {"name": "credit_limit", "unfavorable": "lower"},
    ]
    assert load_spec(spec.as_dict()).digest() == spec.digest()
    # names alone keep working, mean "direction not stated", and keep their digest form
    plain = load_spec(
        _spec(tmp_path / "d.csv", columns={"id": "id", "decision": "approved", "outcomes": ["apr"]})
    )
    assert plain.columns.outcome_directions == {}
    assert plain.as_dict()["columns"]["outcomes"] == ["apr"]
    assert "outcome_directions" not in plain.as_dict()["columns"]
    # {column: ...} is accepted for {name: ...}, as on protected entries; no direction given
    alias = load_spec(
        _spec(
            tmp_path / "d.csv",
            columns={"id": "id", "decision": "approved", "outcomes": [{"column": "apr"}]},
        )
    )
    assert (alias.columns.outcomes, alias.columns.outcome_directions) == (["apr"], {})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "apr", "unfavorable": "up"}, "unfavorable must be 'higher'"),
        ({"name": "apr", "direction": "higher"}, "got keys ['direction', 'name']"),
        ({"unfavorable": "higher"}, "an entry is a column name, or a mapping with name"),
    ],
)
def test_bad_outcome_entries_are_named(tmp_path: Path, entry: dict[str, str], message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path / "d.csv", columns={"id": "id", "outcomes": ["fees", entry]}))
    assert any("outcomes.1" in p and message in p for p in err.value.problems), err.value.problems


def test_a_direction_for_an_unlisted_outcome_is_an_error(tmp_path: Path) -> None:
    columns = {"id": "id", "outcomes": ["apr"], "outcome_directions": {"fees": "higher"}}
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path / "d.csv", columns=columns))
    assert any("'fees' is not one of columns.outcomes" in p for p in err.value.problems)


# --- end to end: an injected pricing gap is found, no gap is not ------------------


def test_an_injected_apr_gap_is_flagged_and_no_gap_passes(tmp_path: Path) -> None:
    gap, fair = tmp_path / "gap.csv", tmp_path / "fair.csv"
    _loans(11, apr_gap=0.35).to_csv(gap, index=False)
    _loans(11, apr_gap=0.0).to_csv(fair, index=False)

    found = auditor.run_audit(_spec(gap))
    # the direction travels on the outcome's records
    apr = next(
        m
        for m in found.metrics
        if m.metric == "adjusted_mean_difference:apr" and m.group == "female"
    )
    assert "unfavorable:higher" in apr.flags
    assert apr.value is not None
    assert apr.value > 0
    assert apr.p_value_adjusted is not None
    assert apr.p_value_adjusted < 0.05
    smd = next(m for m in found.metrics if m.metric == "residual_smd:apr" and m.group == "female")
    assert "unfavorable:higher" in smd.flags
    assert smd.value is not None
    undirected = next(
        m
        for m in found.metrics
        if m.metric == "adjusted_mean_difference:apr_undirected" and m.group == "female"
    )
    assert not any(f.startswith("unfavorable:") for f in undirected.flags)

    findings = _pricing(found)
    assert set(findings) == {
        "sex=female (apr)",
        "sex=female (apr_undirected)",
        "sex=female (credit_limit)",
    }
    flagged = findings["sex=female (apr)"]
    # a guidance screen: the failed check shows as a warning and never fails the audit
    assert (flagged.status, flagged.check_failed) == ("warn", True)
    assert f"residual SMD {smd.value:.2f}" in flagged.message
    assert "a higher apr harms the applicant" in flagged.message
    # the same gap without a stated direction: significant, but its direction is not judged
    unjudged = findings["sex=female (apr_undirected)"]
    assert unjudged.status == "insufficient_evidence"
    assert "cannot judge its direction" in unjudged.message
    assert "{name: apr_undirected, unfavorable: higher}" in unjudged.message
    assert findings["sex=female (credit_limit)"].status == "pass"

    clean = _pricing(auditor.run_audit(_spec(fair)))
    assert {s: f.status for s, f in clean.items()} == {
        "sex=female (apr)": "pass",
        "sex=female (apr_undirected)": "pass",
        "sex=female (credit_limit)": "pass",
    }
    # the raw APR gap (women's lower scores) is real: the controls are what remove it
    raw = next(
        m
        for m in auditor.run_audit(_spec(fair, controls=[])).metrics
        if m.metric == "adjusted_mean_difference:apr" and m.group == "female"
    )
    assert raw.p_value_adjusted is not None
    assert raw.p_value_adjusted < 0.05


def test_a_favourable_gap_passes_and_raw_differences_are_not_judged(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    _loans(12, apr_gap=0.35).to_csv(path, index=False)
    # the same higher APR, declared lower-is-unfavourable, is in the group's favour
    favoured = _spec(
        path,
        columns={
            "id": "id",
            "decision": "approved",
            "outcomes": [{"name": "apr", "unfavorable": "lower"}],
        },
    )
    [finding] = _pricing(auditor.run_audit(favoured)).values()
    assert finding.status == "pass"
    assert "in the direction that favours the group" in finding.message
    # without controls the differences are raw (flagged unadjusted) and the rule stands aside
    raw = auditor.run_audit(_spec(path, controls=[]))
    apr = next(
        m for m in raw.metrics if m.metric == "adjusted_mean_difference:apr" and m.group == "female"
    )
    assert {"unadjusted", "unfavorable:higher"} <= set(apr.flags)
    [standing] = _pricing(raw).values()
    assert (standing.scope, standing.status) == ("metrics", "not_applicable")


def test_the_streamed_engine_flags_the_same_records(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    _loans(13, apr_gap=0.35, n=600).to_csv(path, index=False)
    memory = auditor.run_audit(_spec(path))
    streamed = auditor.run_audit({**_spec(path), "engine": {"chunk_rows": 150}})
    assert_same_result(memory, streamed)
    assert _pricing(memory)["sex=female (apr)"].status == "warn"
