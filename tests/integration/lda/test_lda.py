"""The search for less discriminatory alternatives (issue 22): statistics, candidates,
the frontier rule, the spec section, and an end-to-end search re-audited by run_audit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import AuditorError, SpecError
from auditor.lda import SearchOptions, search_alternatives
from auditor.lda.candidates import reweighing_weights
from auditor.lda.evaluate import (
    Business,
    Evaluation,
    GroupRatio,
    business_measures,
    delong,
    delong_difference,
    newcombe_difference,
)
from auditor.lda.fit import base_model
from auditor.lda.frontier import frontier, recommend
from auditor.pipeline import run_audit
from auditor.spec import load_spec


def test_delong_auc_matches_sklearn_and_paired_difference_of_a_model_with_itself_is_zero() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = y * 0.8 + rng.normal(size=400)
    auc, var = delong(s, y)
    assert auc == pytest.approx(roc_auc_score(y, s))
    assert 0 < var < 0.01
    other = s + rng.normal(scale=2.0, size=400)
    diff, dvar = delong_difference(other, s, y)
    assert diff == pytest.approx(roc_auc_score(y, other) - roc_auc_score(y, s))
    assert dvar > 0
    assert delong_difference(s, s, y) == pytest.approx((0.0, 0.0))


def test_reweighing_makes_the_label_independent_of_the_group() -> None:
    groups = np.array(["a"] * 60 + ["b"] * 40)
    labels = np.array([1] * 45 + [0] * 15 + [1] * 10 + [0] * 30)
    w = reweighing_weights(groups, labels)
    rate = {g: float((w * labels)[groups == g].sum() / w[groups == g].sum()) for g in "ab"}
    assert rate["a"] == pytest.approx(rate["b"])
    assert rate["a"] == pytest.approx(labels.mean())


def _ev(auc: float, ratio: float, approval: float = 0.3) -> Evaluation:
    worst = GroupRatio("race", "B", "A", "impact_ratio", ratio, ratio - 0.1, ratio + 0.1, 100, ())
    return Evaluation(
        "search",
        1000,
        auc,
        (auc - 0.02, auc + 0.02),
        None,
        None,
        approval,
        (approval - 0.02, approval + 0.02),
        worst,
        (worst,),
    )


def test_frontier_and_recommendation_respect_tolerance_and_approval_band() -> None:
    evals = {
        "baseline": _ev(0.80, 0.50),
        "small_loss": _ev(0.795, 0.70),
        "big_loss": _ev(0.70, 0.95),
        "dominated": _ev(0.79, 0.60),
        "volume": _ev(0.80, 0.90, approval=0.50),  # more approvals: not equally effective
    }
    # "volume" dominates "small_loss" on both axes, yet changes approvals too much
    assert frontier(evals) == ["big_loss", "volume"]
    chosen, why = recommend(evals, "baseline", 0.01, 0.05)
    assert chosen == "small_loss"
    assert "0.700" in why
    assert recommend(evals, "baseline", 0.001, 0.05)[0] is None


_BASE_SPEC: dict[str, Any] = {
    "name": "lda-test",
    "domain": "hiring",
    "data": {"path": "apps.csv"},
    "columns": {"id": "id", "score": "score", "features": ["skill", "zone"]},
    "protected": ["race"],
    "threshold": 0.5,
    "min_group_size": 30,
    "policies": [],
    "jurisdictions": ["US"],
    "explain": {"method": "none", "quality": {"enabled": False}},
}


def test_training_section_is_strict_and_keeps_old_digests(tmp_path: Path) -> None:
    old = load_spec(_BASE_SPEC, base_dir=tmp_path)
    assert "training" not in old.as_dict()
    with pytest.raises(SpecError, match=r"training\.features: 'race' is a protected"):
        load_spec(
            {
                **_BASE_SPEC,
                "training": {"path": "a.csv", "label": "y", "features": ["race"], "model": {}},
            }
        )
    # 'as_audited' needs a LightGBM model: the search says so, the audit itself is not stopped
    no_lgb = load_spec({**_BASE_SPEC, "training": {"path": "a.csv", "label": "y"}})
    with pytest.raises(SpecError, match="as_audited"):
        base_model(no_lgb)
    with pytest.raises(SpecError, match=r"training\.split"):
        load_spec(
            {
                **_BASE_SPEC,
                "training": {
                    "path": "a.csv",
                    "label": "y",
                    "model": {},
                    "split": {"search": 0.5, "holdout": 0.5},
                },
            }
        )


def _write_case(folder: Path, n: int = 3000) -> Path:
    """Applicants whose historical decision penalises a zone that stands in for race."""
    rng = np.random.default_rng(7)
    race = rng.choice(["A", "B"], size=n, p=[0.6, 0.4])
    zone = np.clip(np.where(race == "B", 0.75, 0.25) + rng.normal(0, 0.15, n), 0, 1).round(2)
    skill = rng.normal(0, 1, n).round(3)
    qualified = (rng.random(n) < 1 / (1 + np.exp(-1.5 * skill))).astype(int)
    hired = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * skill - 2.5 * zone + 0.6)))).astype(int)
    frame = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "race": race,
            "skill": skill,
            "zone": zone,
            "hired": hired,
            "qualified": qualified,
            "score": 0.5,
        }
    )
    frame.to_csv(folder / "apps.csv", index=False)
    spec = {
        **_BASE_SPEC,
        "training": {
            "path": "apps.csv",
            "label": "hired",
            "performance_label": "qualified",
            "model": {"params": {"num_leaves": 7, "learning_rate": 0.1}, "rounds": 40},
            "split": {"seed": 3, "search": 0.25, "holdout": 0.3},
            "top_k": 1,
        },
    }
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_search_recommends_an_alternative_that_the_audit_reproduces(tmp_path: Path) -> None:
    spec_path = _write_case(tmp_path)
    out = tmp_path / "out"
    result = search_alternatives(spec_path, options=SearchOptions(budget=6), out_dir=out)
    record = json.loads((out / "lda_record.json").read_text())
    assert record["aimed_at"][0]["feature"] == "zone"
    ids = [c["id"] for c in record["candidates"]]
    assert ids[0] == "baseline"
    assert "drop:zone" in ids
    assert len(ids) <= 7
    rec = record["recommended"]
    assert result.recommended == rec["id"]
    base = rec["holdout_baseline_worst_ratio"]
    assert rec["holdout_worst_ratio"]["value"] > base["value"] + 0.15
    assert rec["holdout_auc_change"] >= -0.01
    reweighted = next(c for c in record["candidates"] if c["protected_used_in_training"])
    assert "703(l)" in reweighted["caveat"]
    chosen = next(c for c in record["candidates"] if c["id"] == rec["id"])
    model = out / chosen["model"]["path"]

    assert hashlib.sha256(model.read_bytes()).hexdigest() == chosen["model"]["sha256"]
    assert "race" not in chosen["features"]
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
    assert digest == record["record_sha256"]
    audited = run_audit(out / rec["audit_spec"])
    ratio = next(
        m
        for m in audited.metrics
        if m.metric == "impact_ratio"
        and m.attribute == "race"
        and m.group == rec["holdout_worst_ratio"]["group"]
    )
    assert ratio.value == pytest.approx(rec["holdout_worst_ratio"]["value"], abs=1e-12)
    assert ratio.ci_low == pytest.approx(rec["holdout_worst_ratio"]["ci_low"], abs=1e-12)


def test_cli_without_training_section_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(json.dumps(_BASE_SPEC), encoding="utf-8")
    res = CliRunner().invoke(app, ["lda", str(tmp_path / "spec.yaml")])
    assert res.exit_code == 2
    assert "training" in res.output
    assert "Traceback" not in res.output


def test_as_audited_reads_the_boosters_parameters_and_rounds(tmp_path: Path) -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"skill": rng.normal(size=300), "zone": rng.random(300)})
    params = {"objective": "binary", "num_leaves": 5, "learning_rate": 0.2, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, (x.skill > 0).astype(int)), num_boost_round=7)
    booster.save_model(str(tmp_path / "m.txt"))
    spec = load_spec(
        {
            **_BASE_SPEC,
            "model": {"path": "m.txt", "kind": "lightgbm"},
            "training": {"path": "apps.csv", "label": "hired"},
        },
        base_dir=tmp_path,
    )
    base = base_model(spec)
    assert base.rounds == 7
    assert base.params["num_leaves"] == 5
    assert base.params["learning_rate"] == pytest.approx(0.2)
    assert base.source.startswith("as_audited")


def test_demo_hiring_spec_carries_a_training_section(hiring_case: Any) -> None:
    training = load_spec(hiring_case.spec_path).training
    assert training is not None
    assert (training.label, training.performance_label) == ("hired", "qualified")
    assert "area_code" in (training.features or load_spec(hiring_case.spec_path).columns.features)


def test_cli_writes_the_record_and_stores_it_in_the_event_chain(
    tmp_path: Path, sqlite_url: str
) -> None:
    from auditor.store.database import open_store
    from auditor.store.events import check_chain

    spec_path = _write_case(tmp_path)
    copy = tmp_path / "copy.json"
    res = CliRunner().invoke(
        app,
        [
            "lda",
            str(spec_path),
            "--budget",
            "2",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--json",
            str(copy),
            "--db",
            sqlite_url,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "2 candidates tried" in res.output
    record = json.loads(copy.read_text())
    assert [c["id"] for c in record["candidates"]] == ["baseline", "drop:zone", "reweight:race"]
    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            chain = check_chain(session)
    finally:
        store.dispose()
    assert chain.problems == []
    stored = [p for _, kind, p in chain.payloads if kind == "lda_search"]
    assert stored[0]["record_sha256"] == record["record_sha256"]


def test_missing_training_column_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    spec_path = _write_case(tmp_path)
    frame = pd.read_csv(tmp_path / "apps.csv").drop(columns=["qualified"])
    frame.to_csv(tmp_path / "apps.csv", index=False)
    res = CliRunner().invoke(app, ["lda", str(spec_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "apps.csv" in res.output
    assert "['qualified']" in res.output
    assert "Traceback" not in res.output


def test_search_is_seeded_and_stops_when_the_frontier_stops_moving(tmp_path: Path) -> None:
    spec_path = _write_case(tmp_path)
    opts = SearchOptions(budget=10, patience=1)
    runs = [
        search_alternatives(spec_path, options=opts, out_dir=tmp_path / f"run{i}").record
        for i in range(2)
    ]
    assert runs[0]["stopped"].startswith("frontier unmoved")
    assert len(runs[0]["candidates"]) < 11
    figures = [[(c["id"], c["search"], c["holdout"]) for c in r["candidates"]] for r in runs]
    assert figures[0] == figures[1]
    assert runs[0]["recommended"]["id"] == runs[1]["recommended"]["id"]


def test_splits_are_disjoint_seeded_and_cover_every_row(tmp_path: Path) -> None:
    from auditor.lda.split import load_splits

    spec = load_spec(_write_case(tmp_path, n=1000))
    a, b = load_splits(spec), load_splits(spec)
    parts = [a.fit, a.search, a.holdout]
    assert sum(len(p) for p in parts) == 1000
    assert len(np.unique(np.concatenate(parts))) == 1000
    assert (len(a.search), len(a.holdout)) == (250, 300)
    assert np.array_equal(a.holdout, b.holdout)


# ---- business measures (issue 22 item 3) ----


def test_newcombe_interval_reproduces_newcombes_worked_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 - 48/80,
    # method 10 (hybrid score): 0.0524 to 0.3339
    d, (low, high) = newcombe_difference(56, 70, 48, 80)
    assert d == pytest.approx(56 / 70 - 48 / 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_business_measures_count_bad_approvals_and_pair_the_expected_loss() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 500)
    decisions = (rng.random(500) < 0.6).astype(np.int8)
    base = (rng.random(500) < 0.5).astype(np.int8)
    b = business_measures("credit", labels, decisions, base, (5.0, 1.0))
    assert b.rate_name == "default rate"
    approved = decisions == 1
    assert b.approved == int(approved.sum())
    assert b.bad_rate == pytest.approx(float((labels[approved] == 0).mean()))
    low, high = b.bad_rate_ci
    assert low is not None
    assert high is not None
    assert b.bad_rate is not None
    assert low < b.bad_rate < high
    base_rate = float((labels[base == 1] == 0).mean())
    assert b.bad_rate_change == pytest.approx(b.bad_rate - base_rate)
    per_row = np.where(approved, np.where(labels == 0, 5.0, -1.0), 0.0)
    assert b.expected_loss == pytest.approx(per_row.mean())
    base_row = np.where(base == 1, np.where(labels == 0, 5.0, -1.0), 0.0)
    assert b.expected_loss_change == pytest.approx(per_row.mean() - base_row.mean())
    # paired: the interval of the change is that of the per-row differences' mean
    half = 1.959963984540054 * np.std(per_row - base_row, ddof=1) / np.sqrt(500)
    assert b.expected_loss_change_ci is not None
    assert b.expected_loss_change_ci[1] - b.expected_loss_change_ci[0] == pytest.approx(2 * half)
    plain = business_measures("hiring", labels, decisions, None, None)
    assert plain.rate_name == "error rate"
    assert plain.expected_loss is None
    assert plain.bad_rate_change is None
    nobody = business_measures("credit", labels, np.zeros(500, np.int8), base, None)
    assert nobody.bad_rate is None
    assert nobody.bad_rate_change is None


def _bev(auc: float, ratio: float, bad_rate: float, approval: float = 0.3) -> Evaluation:
    business = Business(
        "default rate", 300, round(300 * bad_rate), bad_rate, (bad_rate - 0.03, bad_rate + 0.03)
    )
    return replace(_ev(auc, ratio, approval), business=business)


def test_recommendation_tolerance_can_bound_the_default_rate_instead_of_auc() -> None:
    evals = {
        "baseline": _bev(0.80, 0.50, 0.20),
        "auc_loss_cheap": _bev(0.78, 0.80, 0.205),  # loses AUC, hardly more defaults
        "auc_same_costly": _bev(0.80, 0.70, 0.26),  # same AUC, many more defaults
    }
    assert recommend(evals, "baseline", 0.01, 0.05)[0] == "auc_same_costly"
    chosen, why = recommend(evals, "baseline", 0.01, 0.05, "default_rate")
    assert chosen == "auc_loss_cheap"
    assert "default rate" in why
    assert recommend(evals, "baseline", 0.001, 0.05, "default_rate")[0] is None
    # a candidate whose measure cannot be taken (no loss values) is never within tolerance
    assert recommend(evals, "baseline", 1.0, 0.05, "expected_loss")[0] is None


def test_business_keys_of_the_training_section_are_typed_and_keep_old_digests() -> None:
    training = {"path": "a.csv", "label": "y", "model": {}}
    plain = load_spec({**_BASE_SPEC, "training": training})
    assert "loss_per_bad_approval" not in plain.as_dict()["training"]
    assert "tolerance_on" not in plain.as_dict()["training"]
    with pytest.raises(SpecError, match="go together"):
        load_spec({**_BASE_SPEC, "training": {**training, "loss_per_bad_approval": 5}})
    with pytest.raises(SpecError, match="expected_loss needs"):
        load_spec({**_BASE_SPEC, "training": {**training, "tolerance_on": "expected_loss"}})
    with pytest.raises(SpecError, match="tolerance_on"):
        load_spec({**_BASE_SPEC, "training": {**training, "tolerance_on": "profit"}})
    full = {**training, "loss_per_bad_approval": 5, "gain_per_good_approval": 1}
    spec = load_spec({**_BASE_SPEC, "training": {**full, "tolerance_on": "expected_loss"}})
    assert spec.training is not None
    assert spec.training.tolerance_on == "expected_loss"
    assert plain.digest() != spec.digest()


def test_search_records_business_measures_and_applies_the_chosen_tolerance(
    tmp_path: Path,
) -> None:
    spec_path = _write_case(tmp_path)
    raw = json.loads(spec_path.read_text())
    raw["training"] |= {
        "loss_per_bad_approval": 4,
        "gain_per_good_approval": 1,
        "tolerance_on": "error_rate",
        "tolerance": 0.03,
    }
    spec_path.write_text(json.dumps(raw), encoding="utf-8")
    record = search_alternatives(
        spec_path, options=SearchOptions(budget=4), out_dir=tmp_path / "o"
    ).record
    assert record["tolerance"] == {
        "auc": None,
        "approval_rate": 0.05,
        "on": "error_rate",
        "value": 0.03,
    }
    assert record["business"]["rate_name"] == "error rate"
    frame = pd.read_csv(tmp_path / "apps.csv")
    base = record["candidates"][0]
    for c in record["candidates"]:
        for split in ("search", "holdout"):
            if c[split] is None:
                continue
            b = c[split]["business"]
            assert b["loss_per_bad_approval"] == 4
            assert 0 <= b["bad_approved"] <= b["approved"] <= c[split]["n"]
            assert b["approved"] == pytest.approx(c[split]["approval_rate"] * c[split]["n"])
            # each approval costs 4 or gains 1: the expected loss follows from the counts
            good = b["approved"] - b["bad_approved"]
            assert b["expected_loss"] == pytest.approx(
                (4 * b["bad_approved"] - good) / c[split]["n"]
            )
            if c is not base:
                assert b["bad_rate_change"] == pytest.approx(
                    b["bad_rate"] - base[split]["business"]["bad_rate"]
                )
    assert len(frame) == sum(record["training"]["split"][k] for k in ("fit", "search", "holdout"))
    rec = record["recommended"]
    assert rec is not None  # drop:zone: fewer errors among approved and a higher ratio
    chosen = next(c for c in record["candidates"] if c["id"] == rec["id"])
    rise = chosen["search"]["business"]["bad_rate"] - base["search"]["business"]["bad_rate"]
    assert rise <= 0.03 + 1e-12
    assert "error rate" in rec["why"]
    assert rec["holdout_business"]["rate_name"] == "error rate"


def test_a_tolerance_outside_its_measures_range_is_refused_before_any_fit(tmp_path: Path) -> None:
    spec_path = _write_case(tmp_path, n=200)
    with pytest.raises(AuditorError, match=r"tolerance on auc must be in \[0, 1\)"):
        search_alternatives(spec_path, options=SearchOptions(tolerance=1.5), out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()
    res = CliRunner().invoke(app, ["lda", str(spec_path), "--tolerance", "2", "--out", "x"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
