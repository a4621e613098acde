"""The proxy AUCs' rank sums from rows stacked per partition (issue 25 item 5).

Each partition codes its combinations of protected values itself (the rows leave the
cells pass before the merged cells name every combination); the rank sums merged from
partitions that saw different groups, unknown values and NaNs are the sums over all rows.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from auditor.batch import UNKNOWN
from auditor.engine.partials import POS, Job, Layout, narrow_spec, ranked_sums, stacked_rows
from auditor.spec import load_spec


def _spec_job(explain_rows: np.ndarray | None) -> Job:
    spec = load_spec(
        {
            "name": "ranks",
            "domain": "credit",
            "data": {"path": "decisions.parquet"},
            "columns": {"id": "id", "decision": "approved", "features": ["income", "debt"]},
            "protected": ["sex", "race"],
        },
        base_dir=None,
    )
    return Job(spec, narrow_spec(spec), Layout(None, explain_rows), False)


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    race = rng.choice(["a", "b", "c"], n).astype(object)
    race[rng.random(n) < 0.1] = None  # missing: unknown
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "approved": rng.integers(0, 2, n),
            "sex": rng.choice(["f", "m"], n),
            "race": race,
            "income": rng.integers(0, 40, n).astype(float),  # ties
            "debt": np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n)),
            POS: np.arange(n, dtype=np.int64),
        }
    )


def test_rank_sums_of_partitions_coded_apart_equal_the_whole() -> None:
    rng = np.random.default_rng(5)
    n = 2_000
    frame = _frame(n, rng)
    frame.loc[:399, "race"] = "a"  # the first partition sees one race only
    explained = np.sort(rng.choice(n, 1_500, replace=False))
    job = _spec_job(explained)
    features = ["income", "debt"]
    cuts = [0, 400, 1_100, n]
    batches = [
        stacked_rows(frame.iloc[a:b].reset_index(drop=True), job, features)
        for a, b in pairwise(cuts)
    ]
    shuffled = pa.Table.from_batches(batches).to_pandas().sample(frac=1.0, random_state=1)
    got = ranked_sums(shuffled.reset_index(drop=True), ["sex", "race"])
    race = frame["race"].fillna(UNKNOWN).to_numpy(dtype=object)
    on = np.isin(np.arange(n), explained)
    for fi, f in enumerate(features):
        values = frame[f].to_numpy(float)
        for attr, groups in (("sex", frame["sex"].to_numpy(dtype=object)), ("race", race)):
            keep = on & ~np.isnan(values) & (groups != UNKNOWN)
            ranks = stats.rankdata(values[keep])
            want = {
                str(g): (int((groups[keep] == g).sum()), float(ranks[groups[keep] == g].sum()))
                for g in sorted(set(groups[keep]))
            }
            assert got[fi][attr] == (int(keep.sum()), want)
