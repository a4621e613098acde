"""The refit hook of the search for less discriminatory alternatives (issue 22): torch and
scikit-learn models refit as audited or from a typed section, candidates each learner can
take, hyperparameter variants, and results independent of the number of workers."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from auditor.errors import ModelLoadError
from auditor.lda import SearchOptions, search_alternatives
from auditor.lda.candidates import Candidate, apply_bins, quantile_bins
from auditor.models.mlp import TabularMLP
from auditor.pipeline import run_audit
from tests.integration.lda.test_lda import _write_case


def _with(spec_path: Path, **changes: Any) -> Path:
    spec = json.loads(spec_path.read_text())
    for key, value in changes.items():
        if key == "training_model":
            spec["training"]["model"] = value
        else:
            spec[key] = value
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    return spec_path


def _reproduced(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Re-audit the recommendation and check the claimed held-out ratio; its model row."""
    rec = record["recommended"]
    assert rec is not None, record["no_recommendation_reason"]
    audited = run_audit(out / rec["audit_spec"])
    worst = rec["holdout_worst_ratio"]
    ratio = next(
        m
        for m in audited.metrics
        if (m.metric, m.attribute, m.group) == (worst["metric"], worst["attribute"], worst["group"])
    )
    assert ratio.value == pytest.approx(worst["value"], abs=1e-12)
    assert ratio.ci_low == pytest.approx(worst["ci_low"], abs=1e-12)
    return dict(next(c for c in record["candidates"] if c["id"] == rec["id"]))


def test_torch_model_is_retrained_as_audited_and_its_alternative_reproduces(
    tmp_path: Path,
) -> None:
    spec_path = _write_case(tmp_path, n=2000)
    frame = pd.read_csv(tmp_path / "apps.csv")
    x = torch.as_tensor(frame[["skill", "zone"]].to_numpy(np.float32))
    torch.manual_seed(0)
    audited = TabularMLP(2, [8])
    audited.mean.copy_(x.mean(0))
    audited.scale.copy_(x.std(0))
    torch.save(audited.state_dict(), tmp_path / "mlp.pt")
    _with(
        spec_path,
        model={
            "path": "mlp.pt",
            "kind": "torch",
            "module": "auditor.models.mlp:TabularMLP",
            "init": {"n_features": 2, "hidden": [8]},
        },
        training_model="as_audited",
    )
    spec = json.loads(spec_path.read_text())
    spec["training"]["torch_loop"] = {"epochs": 6, "batch_size": 256, "learning_rate": 0.02}
    spec_path.write_text(json.dumps(spec))
    out = tmp_path / "out"
    record = search_alternatives(spec_path, options=SearchOptions(budget=4), out_dir=out).record
    model = record["training"]["model"]
    assert (model["kind"], model["module"], model["init"]) == (
        "torch",
        "auditor.models.mlp:TabularMLP",
        {"hidden": [8]},
    )
    assert model["params"]["epochs"] == 6
    # the MLP takes no monotone constraint: said, not silently skipped
    assert any("monotone" in note for note in record["not_tried"])
    assert "surrogate" in record["aimed_by"]
    row = _reproduced(out, record)
    assert row["model"]["path"].endswith(".pt")


def test_a_torch_module_the_operator_did_not_allow_is_refused_before_import(
    tmp_path: Path,
) -> None:
    spec_path = _with(
        _write_case(tmp_path, n=400),
        training_model={"kind": "torch", "module": "tests.no_such_module:Net"},
    )
    with pytest.raises(ModelLoadError, match="not an allowed model module"):
        search_alternatives(spec_path, out_dir=tmp_path / "out")


def test_sklearn_estimator_is_cloned_as_audited_and_a_pickle_is_not_read_untrusted(
    tmp_path: Path,
) -> None:
    import skops.io as sio

    spec_path = _write_case(tmp_path, n=2000)
    frame = pd.read_csv(tmp_path / "apps.csv")
    audited = LogisticRegression(C=0.5, max_iter=300).fit(frame[["skill", "zone"]], frame.hired)
    sio.dump(audited, tmp_path / "lr.skops")
    with (tmp_path / "lr.pkl").open("wb") as fh:
        pickle.dump(audited, fh)
    _with(spec_path, model={"path": "lr.pkl", "kind": "sklearn"}, training_model="as_audited")
    with pytest.raises(ModelLoadError, match="refusing to load a pickle"):
        search_alternatives(spec_path, out_dir=tmp_path / "refused")

    _with(spec_path, model={"path": "lr.skops", "kind": "sklearn"})
    out = tmp_path / "out"
    record = search_alternatives(spec_path, options=SearchOptions(budget=6), out_dir=out).record
    model = record["training"]["model"]
    assert (model["kind"], model["estimator"]) == ("sklearn", "LogisticRegression")
    assert any("monotone" in note for note in record["not_tried"])
    variants = [c for c in record["candidates"] if c["method"] == "variant"]
    assert all(set(c["params"]) == {"C"} for c in variants)
    row = _reproduced(out, record)
    assert row["model"]["path"].endswith(".skops")


def test_typed_sklearn_section_takes_monotone_constraints_and_binned_features(
    tmp_path: Path,
) -> None:
    spec_path = _with(
        _write_case(tmp_path, n=2000),
        training_model={
            "kind": "sklearn",
            "estimator": "hist_gradient_boosting",
            "params": {"max_iter": 40},
        },
    )
    out = tmp_path / "out"
    record = search_alternatives(
        spec_path, options=SearchOptions(budget=9, patience=9), out_dir=out
    ).record
    by_id = {c["id"]: c for c in record["candidates"]}
    assert by_id["monotone:zone:-1"]["params"] == {"monotonic_cst": [0, -1]}
    coarse = by_id["coarsen:zone:4"]
    assert coarse["bins"][0]["feature"] == "zone"
    assert len(coarse["bins"][0]["values"]) == 4
    assert record["not_tried"] == []
    row = _reproduced(out, record)
    assert row["model"]["path"].endswith(".skops")


def test_quantile_bins_map_every_value_to_its_bins_median() -> None:
    values = pd.Series(np.arange(100, dtype=float))
    cut = quantile_bins(values, 4)
    assert cut is not None
    edges, medians = cut
    assert len(edges) == 3
    c = Candidate("c", "coarsen", "", ("v",), bins=(("v", edges, medians),))
    binned = apply_bins(pd.DataFrame({"v": [0.0, 30.0, 99.0, np.nan]}), c)["v"].tolist()
    assert binned[:3] == [medians[0], medians[1], medians[3]]
    assert np.isnan(binned[3])
    assert quantile_bins(pd.Series([0, 1, 0, 1]), 4) is None


@pytest.mark.parametrize(
    "model",
    [
        None,  # LightGBM, as _write_case writes it
        {"kind": "torch", "epochs": 3, "init": {"hidden": [8]}},
        {"kind": "sklearn", "estimator": "hist_gradient_boosting", "params": {"max_iter": 30}},
    ],
    ids=["lightgbm", "torch", "sklearn"],
)
def test_results_do_not_depend_on_the_number_of_worker_processes(
    tmp_path: Path, model: dict[str, Any] | None
) -> None:
    spec_path = _write_case(tmp_path, n=1500)
    if model is not None:
        _with(spec_path, training_model=model)
    runs = [
        search_alternatives(
            spec_path,
            options=SearchOptions(budget=9, patience=2, jobs=jobs),
            out_dir=tmp_path / f"jobs{jobs}",
        ).record
        for jobs in (1, 2)
    ]
    # the search stopped early: fits done ahead of the stop by the second worker are dropped
    assert runs[0]["stopped"].startswith("frontier unmoved")
    assert [c["id"] for c in runs[0]["candidates"]] == [c["id"] for c in runs[1]["candidates"]]
    for a, b in zip(runs[0]["candidates"], runs[1]["candidates"], strict=True):
        assert (a["search"], a["holdout"]) == (b["search"], b["holdout"])
        if model is None or model["kind"] == "torch":
            assert a["model"] == b["model"]  # byte for byte (a skops zip has timestamps)
    recs = [{k: v for k, v in (r["recommended"] or {}).items() if k != "reproduce"} for r in runs]
    assert recs[0] == recs[1]


def test_hyperparameter_variants_are_drawn_from_the_learners_grid_with_the_seed(
    tmp_path: Path,
) -> None:
    spec_path = _write_case(tmp_path, n=1200)
    spec = json.loads(spec_path.read_text())
    spec["training"]["variants"] = 3
    spec_path.write_text(json.dumps(spec))
    record = search_alternatives(
        spec_path, options=SearchOptions(budget=30, patience=30, jobs=1), out_dir=tmp_path / "o"
    ).record
    variants = [c for c in record["candidates"] if c["method"] == "variant"]
    assert len(variants) == 3
    assert len({json.dumps(c["params"], sort_keys=True) for c in variants}) == 3
    assert all(c["search"]["auc"] > 0.5 for c in variants)


def test_a_candidate_that_fails_to_train_is_recorded_with_its_error() -> None:
    from auditor.lda.learners import Learner
    from auditor.lda.worker import FitData, fit_candidate

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "race": rng.choice(["A", "B"], 200)})
    frame["y"] = (frame.a > 0).astype(int)
    data = FitData(
        Learner("sklearn", "test", {}, estimator="logistic_regression"),
        frame,
        frame,
        frame,
        "y",
        {},
        0,
    )
    good = fit_candidate(data, Candidate("baseline", "baseline", "", ("a",)))
    assert good.error is None
    assert set(good.scores) == {"fit", "search", "holdout"}
    bad = fit_candidate(data, Candidate("variant:1", "variant", "", ("a",), {"C": -1.0}))
    assert bad.model is None
    assert bad.error is not None
    assert "C" in bad.error
