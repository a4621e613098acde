"""Gap decomposition and proxy ranking on the two demo models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.data import load_decisions
from auditor.demo import DemoCase
from auditor.engine.summary import row_gap_decompositions
from auditor.metrics.gap import (
    auc,
    feature_auc,
    proxy_ranking,
)
from auditor.models import load_model
from auditor.pipeline import run_audit
from auditor.result import AuditResult
from auditor.spec import load_spec
from tests._proxy_oracle import out_of_fold_share


def _check_decomposition(case: DemoCase, exact: bool) -> AuditResult:
    result = run_audit(case.spec_path)
    att = result.attributions
    assert att.computed
    assert att.gap_decomposition
    # the measured gap, computed independently from the model's outputs on every row
    spec = load_spec(case.spec_path)
    batch = load_decisions(spec)
    model = load_model(spec)
    assert model is not None
    outputs = model.output(model.encode(batch.features))
    assert att.n_explained == len(outputs)  # every row explained in the demos
    for d in att.gap_decomposition:
        if " & " in d.attribute:
            continue
        col = batch.protected[d.attribute].to_numpy()
        measured = outputs[col == d.group].mean() - outputs[col == d.reference].mean()
        assert d.output_gap == pytest.approx(measured, abs=1e-9)
        total = d.base_gap + sum(d.contributions.values()) + d.residual
        assert total == pytest.approx(measured, abs=1e-9)
        assert abs(d.residual) <= 2 * (att.additivity_error or 0.0) + 1e-12
        if exact:  # additive to rounding: the features alone carry the whole gap
            assert d.base_gap + sum(d.contributions.values()) == pytest.approx(measured, abs=1e-9)
    # the JSON round trip keeps the new fields
    again = AuditResult.from_json(result.to_json())
    assert again.attributions.gap_decomposition == att.gap_decomposition
    assert again.attributions.proxy_ranking == att.proxy_ranking
    return result


def test_gap_decomposition_lightgbm_sums_to_the_gap(credit_case: DemoCase) -> None:
    _check_decomposition(credit_case, exact=True)


def test_gap_decomposition_torch_and_injected_proxy_first(hiring_case: DemoCase) -> None:
    result = _check_decomposition(hiring_case, exact=False)
    ranking = result.attributions.proxy_ranking
    race = [p for p in ranking if p.attribute == "race_ethnicity"]
    assert ranking[0].feature == "area_code"
    assert race[0].feature == "area_code"
    top = race[0]
    assert top.auc > 0.8
    assert top.gap_share is not None
    assert top.gap_share > 0.5


def test_gap_decomposition_by_hand() -> None:
    labels = np.array(["a", "a", "b", "b", "unknown"])
    values = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0], [1.0, 1.0], [9.0, 9.0]])
    base = np.full(5, 0.5)
    outputs = base + values.sum(axis=1) + np.array([0.0, 0.1, 0.0, 0.0, 0.0])
    (d,) = row_gap_decompositions("s", labels, values, base, outputs, ("x", "y"), "b")
    assert d.group == "a"
    assert d.reference == "b"
    assert d.contributions == pytest.approx({"x": 2.0 - 0.5, "y": 1.0 - 1.0})
    assert d.output_gap == pytest.approx(3.05 - 1.5)
    assert d.residual == pytest.approx(0.05)
    assert d.base_gap == 0.0


def test_auc_matches_rank_definition_and_categorical_share() -> None:
    rng = np.random.default_rng(0)
    member = rng.uniform(size=500) < 0.3
    score = rng.normal(size=500) + member
    pairs = (score[member][:, None] > score[~member][None, :]).mean()
    assert auc(score, member) == pytest.approx(max(pairs, 1 - pairs))
    # a category that only members have: perfect separation
    cat = pd.Series(np.where(member, "m", rng.choice(["p", "q"], 500)))
    assert feature_auc(cat, member) == pytest.approx(1.0)
    assert feature_auc(pd.Series(rng.normal(size=500)), member) < 0.6


def test_many_category_noise_is_not_a_proxy() -> None:
    """In-sample category shares would give an id-like feature AUC 1.0; out-of-fold ~0.5."""
    rng = np.random.default_rng(2)
    n = 2000
    member = rng.uniform(size=n) < 0.3
    ids = pd.Series(rng.integers(0, n // 2, n).astype(str))  # ~2 rows per category
    in_sample = ids.map(pd.Series(member).groupby(ids).mean()).to_numpy()
    assert auc(in_sample, member) > 0.75  # what the naive estimate would claim
    assert feature_auc(ids, member) < 0.56
    assert out_of_fold_share(ids.factorize()[0], member).shape == (n,)


def test_proxy_ranking_without_attributions_uses_auc_only() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    race = rng.choice(["x", "y"], n)
    proxy = np.where(race == "x", rng.normal(0, 1, n), rng.normal(2, 1, n))
    feats = pd.DataFrame({"noise": rng.normal(size=n), "proxy": proxy})
    ranking = proxy_ranking(feats, pd.DataFrame({"race": race}), [])
    assert ranking[0].feature == "proxy"
    assert ranking[0].gap_share is None
    assert ranking[0].score == pytest.approx(2 * ranking[0].auc - 1)


def test_the_driver_equals_the_row_based_oracle(credit_case: DemoCase) -> None:
    """The engines' attribution summary comes from per-group sums (issue 20: one path);
    the row-based functions of ``tests/_attribution_oracle.py`` over the same explained
    rows are the oracle it must equal."""
    from dataclasses import asdict

    from auditor.explain import explain_matrix
    from auditor.metrics import groupings
    from tests._attribution_oracle import attribution_slices, gap_decomposition, global_importance
    from tests._engine_compare import assert_same_records

    spec = load_spec(credit_case.spec_path)
    quality = spec.explain.quality.model_copy(update={"enabled": False})
    explain = spec.explain.model_copy(update={"max_rows": 250, "quality": quality})
    spec = spec.model_copy(update={"explain": explain})
    att = run_audit(spec).attributions
    batch = load_decisions(spec)
    model = load_model(spec)
    assert model is not None
    x = model.encode(batch.features)
    rows = explain_matrix(
        model, x, max_rows=250, background=explain.background, steps=explain.steps, seed=spec.seed
    )
    assert att.n_explained == len(rows.row_index) == 250
    assert att.global_importance.keys() == global_importance(rows).keys()
    assert list(att.global_importance.values()) == pytest.approx(
        list(global_importance(rows).values()), rel=1e-12
    )
    groups = groupings(spec.protected, spec.intersections)
    refs = {g.attribute: g.reference for g in att.groups}
    slices = attribution_slices(batch, rows, groups, refs)
    assert_same_records([asdict(g) for g in att.groups], [asdict(g) for g in slices])
    outputs = model.output(x[rows.row_index])
    gaps = []
    for g in groups:
        labels = batch.group_labels(list(g.attributes)).to_numpy()[rows.row_index]
        gaps += gap_decomposition(
            g.name, labels, rows.values, rows.base_values, outputs, rows.feature_names, refs[g.name]
        )
    assert gaps
    assert_same_records([asdict(d) for d in att.gap_decomposition], [asdict(d) for d in gaps])
