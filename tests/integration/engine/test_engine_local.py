"""The streaming engine gives the in-memory result: chunked CSV and Parquet, real models."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import auditor
from auditor.demo import DemoCase
from auditor.engine.sums import AttributionSums
from auditor.result import AuditResult
from tests._engine_compare import assert_same_result


def _spec(case: DemoCase, *, quality: bool = False, **changes: object) -> dict[str, object]:
    spec = yaml.safe_load(case.spec_path.read_text())
    base = case.spec_path.parent
    spec["data"]["path"] = str(base / spec["data"]["path"])
    spec["model"]["path"] = str(base / spec["model"]["path"])
    spec.update(changes)
    if not quality:  # measured the same on every engine, but it takes seconds: once below
        spec.setdefault("explain", {})["quality"] = {"enabled": False}
    return spec


@pytest.fixture(scope="module")
def credit_memory(credit_case: DemoCase) -> AuditResult:
    return auditor.run_audit(_spec(credit_case, quality=True))


def test_chunked_csv_equals_in_memory(credit_case: DemoCase, credit_memory: AuditResult) -> None:
    # explanation quality on (issue 20): the same seeded rows are read back by position
    streamed = auditor.run_audit(_spec(credit_case, quality=True, engine={"chunk_rows": 137}))
    assert credit_memory.attributions.computed
    assert streamed.attributions.computed
    assert credit_memory.explanation_quality["computed"] is True
    assert len(credit_memory.metrics) > 50
    assert_same_result(credit_memory, streamed)
    # and so the findings that read it (AAA-4 fidelity, FL reasons stability) agree
    assert [(f.rule_id, f.scope, f.status) for f in streamed.findings] == [
        (f.rule_id, f.scope, f.status) for f in credit_memory.findings
    ]


def test_chunked_parquet_with_sampled_rows(tmp_path: Path, credit_case: DemoCase) -> None:
    spec = _spec(credit_case, explain={"max_rows": 300})
    frame = pd.read_csv(spec["data"]["path"])  # type: ignore[index]
    parquet = tmp_path / "credit.parquet"
    frame.to_parquet(parquet, row_group_size=100)
    spec["data"] = {"path": str(parquet)}
    memory = auditor.run_audit(spec)
    streamed = auditor.run_audit({**spec, "engine": {"chunk_rows": 64}})
    assert streamed.attributions.n_explained == 300
    assert_same_result(memory, streamed)


def test_sums_round_trip_and_merge_exactly() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 3))
    base = np.full(50, 0.25)
    out = values.sum(axis=1) + base
    codes = rng.integers(0, 3, size=50)
    whole = AttributionSums(3)
    whole.add_rows(values, base, out, np.zeros(50), {"g": (codes, ["a", "b", "c"])})
    parts = AttributionSums(3)
    for lo in range(0, 50, 7):
        part = AttributionSums(3)
        sl = slice(lo, lo + 7)
        labels = {"g": (codes[sl], ["a", "b", "c"])}
        part.add_rows(values[sl], base[sl], out[sl], np.zeros(len(out[sl])), labels)
        parts.merge(pickle.loads(pickle.dumps(part)))  # as Spark ships them
    for name in "abc":
        mask = codes == "abc".index(name)
        expected = values[mask].sum(axis=0)
        np.testing.assert_allclose(parts.groups["g"][name].phi, expected, rtol=1e-12)
        assert parts.groups["g"][name].n == whole.groups["g"][name].n == int(mask.sum())


def test_cli_chunk_rows_flag(
    credit_case: DemoCase, credit_memory: AuditResult, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    out = tmp_path / "a.json"
    args = ["audit", str(credit_case.spec_path), "--no-store", "-q", "--json", str(out)]
    res = CliRunner().invoke(app, [*args, "--chunk-rows", "300"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["spec"]["engine"] == {"kind": "local", "chunk_rows": 300, "master": None}
    assert doc["metrics"] == json.loads(credit_memory.to_json())["metrics"]
    bad = CliRunner().invoke(app, [*args, "--engine", "dask"])
    assert bad.exit_code == 2
    assert "--engine must be local or spark" in bad.output


@pytest.mark.parametrize("kind", ["numeric", "numeric_nan", "text", "few_ints"])
def test_group_aucs_match_feature_auc(kind: str) -> None:
    from auditor.metrics.gap import feature_auc, group_aucs

    rng = np.random.default_rng(5)
    n = 3000
    labels = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    values = {
        "numeric": rng.normal(size=n) + (labels == "a"),
        "numeric_nan": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.normal(size=n)),
        "text": rng.choice(["x", "y", "z", "w"], n),
        "few_ints": rng.integers(0, 3, n) + (labels == "b"),
    }[kind]
    column = pd.Series(values)
    codes, uniques = pd.factorize(labels)
    got = group_aucs(column, codes.astype(np.int64), [list(uniques).index(g) for g in "abc"])
    expected = [feature_auc(column, labels == g) for g in "abc"]
    assert got == pytest.approx(expected, abs=1e-12)
    if kind in ("text", "few_ints"):  # categorical: the counts form equals the row oracle
        from auditor.metrics.gap import auc
        from auditor.text_values import text_codes
        from tests._proxy_oracle import out_of_fold_share

        cats, _ = text_codes(column)
        rows = [auc(out_of_fold_share(cats, labels == g), labels == g) for g in "abc"]
        assert got == rows  # exact: rank sums of half-integers


def test_slice_test_with_everyone_selected_is_uninformative() -> None:
    from auditor.metrics.slices import beyond_group_p

    # all selected in the slice and in the rest of its bin: zero Katz variance, no evidence
    assert beyond_group_p(40, 40, 90, 90, 1.25) == 1.0
    assert 0.0 < beyond_group_p(10, 40, 60, 90, 1.0) < 0.5


def test_engines_say_why_explanation_quality_is_missing(credit_case: DemoCase) -> None:
    spec = _spec(credit_case, engine={"chunk_rows": 500})
    streamed = auditor.run_audit(spec)
    assert streamed.explanation_quality["computed"] is False
    assert "explain.quality.enabled: false" in streamed.explanation_quality["reason"]


def test_quality_sample_depends_on_row_count_and_seed_only() -> None:
    from auditor.explain.quality import QualitySettings, draw_sample

    settings = QualitySettings(rows=50, background=20, seed=7)
    a, b = draw_sample(1000, settings), draw_sample(1000, settings)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert set(a.rows) | set(a.background_a) | set(a.background_b) == set(a.positions)
    assert not set(a.background_a) & set(a.background_b)  # disjoint when the data allow
    assert len(draw_sample(30, settings).rows) == 30  # fewer rows than asked: all of them


def test_one_additivity_warning_for_every_engine() -> None:
    from auditor.explain.run import additivity_warning

    assert additivity_warning("lime", 1e-9, 1e-6) is None
    lime = additivity_warning("lime", 0.05, 1e-6)
    ig = additivity_warning("integrated_gradients", 0.05, 1e-3)
    assert lime is not None
    assert ig is not None
    assert "explain.steps" not in lime  # LIME has no steps to raise
    assert "raise explain.steps" in ig
