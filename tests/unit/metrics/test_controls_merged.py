"""The mergeable controls fit (Spark's) equals the in-memory one, chunk by chunk."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pytest

from auditor.batch import DecisionBatch
from auditor.metrics.controls import controls_metrics
from auditor.metrics.controls_merged import (
    ChunkView,
    PassFn,
    chunk_view,
    controls_from_passes,
    merge_parts,
)
from auditor.metrics.group_metrics import Grouping
from tests._engine_compare import _same

CONTROLS = ["credit_score", "dti", "product"]


def _frame(seed: int, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grp = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])
    sex = rng.choice(["f", "m"], n)
    score = rng.normal(700, 50, n) - 40 * (grp != "A")
    dti = rng.uniform(0.05, 0.6, n)
    product = rng.choice(["card", "auto", "mortgage", "boat"], n, p=[0.5, 0.3, 0.17, 0.03])
    eta = 0.04 * (score - 680) - 3.0 * dti + 0.5 * (product == "auto") - 0.5 * (grp == "B")
    approved = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    approved[product == "boat"] = 1  # an uninformative level: left out of the fit
    apr = 30 - 0.025 * score + 4 * dti + 0.6 * (grp == "B") + rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "grp": grp,
            "sex": sex,
            "credit_score": score,
            "dti": dti,
            "product": product,
            "approved": approved,
            "apr": apr,
            "limit": rng.gamma(2.0, 3000.0, n),
            "score": np.clip(0.3 + 0.4 * approved + rng.normal(0, 0.1, n), 0, 1),
        }
    )
    frame.loc[rng.choice(n, 20, replace=False), "credit_score"] = np.nan
    frame.loc[rng.choice(n, 15, replace=False), "product"] = None
    frame.loc[rng.choice(n, 10, replace=False), "apr"] = np.nan
    frame.loc[rng.choice(n, 12, replace=False), "grp"] = "unknown"
    frame.loc[frame.index[:1], "sex"] = "x"  # a group of one: no robust SE, no fit
    return frame


def _batch(frame: pd.DataFrame) -> DecisionBatch:
    n = len(frame)
    return DecisionBatch(
        np.array([str(i) for i in range(n)]),
        pd.DataFrame(index=range(n)),
        frame[["grp", "sex"]].reset_index(drop=True),
        frame["approved"].to_numpy(np.int8),
        frame["score"].to_numpy(np.float64),
        None,
        controls=frame[CONTROLS].reset_index(drop=True),
        outcomes=frame[["apr", "limit"]].reset_index(drop=True),
    )


def _chunked(views: list[ChunkView]) -> Any:
    def run(fn: PassFn) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for v in views:
            out = merge_parts(out, fn(v))
        return out

    return run


@pytest.mark.parametrize("chunk", [1500, 211])
def test_every_controls_record_equals_in_memory(chunk: int) -> None:
    frame = _frame(1)
    groups = [
        Grouping("grp", ("grp",)),
        Grouping("sex", ("sex",)),
        Grouping("grp & sex", ("grp", "sex")),
    ]
    refs = {"grp": "A", "sex": "f", "grp & sex": "A & f"}
    memory, mem_notes = controls_metrics(
        _batch(frame), groups, refs, {}, cdd_by="product", min_group_size=30
    )
    views = [
        chunk_view(_batch(frame.iloc[i : i + chunk].reset_index(drop=True)), groups)
        for i in range(0, len(frame), chunk)
    ]
    merged, notes = controls_from_passes(
        _chunked(views),
        [(g.name, refs[g.name]) for g in groups],
        controls=CONTROLS,
        cdd_by="product",
        outcomes=["apr", "limit"],
        has_scores=True,
        min_group_size=30,
    )
    metrics = {m.metric for m in memory}
    assert {
        "adjusted_odds_ratio",
        "adjusted_marginal_effect",
        "residual_smd",
        "cdd",
        "adjusted_mean_difference:apr",
        "adjusted_mean_difference:limit",
        "residual_smd:apr",
        "residual_smd:limit",
    } <= metrics
    assert any(m.value is None for m in memory)  # the insufficient cases are covered too
    assert notes == mem_notes
    _same([asdict(m) for m in memory], [asdict(m) for m in merged], "records", 1e-9)


def test_outcomes_without_controls_equal_in_memory_and_ols() -> None:
    import statsmodels.api as sm

    frame = _frame(2, n=600)
    batch = _batch(frame)
    batch = DecisionBatch(
        batch.ids,
        batch.features,
        batch.protected,
        batch.decisions,
        None,
        None,
        outcomes=batch.outcomes,
    )
    groups = [Grouping("grp", ("grp",))]
    memory, mem_notes = controls_metrics(
        batch, groups, {"grp": "A"}, {}, cdd_by=None, min_group_size=30
    )
    views = [
        chunk_view(
            DecisionBatch(
                batch.ids[i : i + 97],
                batch.features.iloc[i : i + 97],
                batch.protected.iloc[i : i + 97].reset_index(drop=True),
                batch.decisions[i : i + 97] if batch.decisions is not None else None,
                None,
                None,
                outcomes=frame[["apr", "limit"]].iloc[i : i + 97].reset_index(drop=True),
            ),
            groups,
        )
        for i in range(0, len(frame), 97)
    ]
    merged, notes = controls_from_passes(
        _chunked(views),
        [("grp", "A")],
        controls=[],
        cdd_by=None,
        outcomes=["apr", "limit"],
        has_scores=False,
        min_group_size=30,
    )
    assert notes == mem_notes
    _same([asdict(m) for m in memory], [asdict(m) for m in merged], "records", 1e-9)
    # no controls: the raw mean difference, with HC3 errors
    ok = (frame["grp"] != "unknown") & frame["apr"].notna()
    sub = frame[ok]
    x = sm.add_constant(pd.DataFrame({g: (sub["grp"] == g).astype(float) for g in ("B", "C")}))
    res = sm.OLS(sub["apr"], x).fit(cov_type="HC3")
    b = next(m for m in memory if m.metric == "adjusted_mean_difference:apr" and m.group == "B")
    assert b.value == pytest.approx(res.params["B"], abs=1e-9)
    assert b.detail["se"] == pytest.approx(res.bse["B"], rel=1e-9)
    assert b.value == pytest.approx(b.detail["raw_difference"], abs=1e-9)
