"""Synthetic decisions for the scale benchmarks, written to Parquet in row groups.

Nothing big is committed: each bench generates its file on the fly, block by block (so
the generator itself never holds more than one row group), in a temporary folder.
Data as in ``shared/performance-anchors.md`` appendix A: standard normal features, a
logit with interactions, 6 race × 2 sex groups (12 intersectional groups), and a mild
proxy (feature f00 shifted for one group) so the audit has something to find.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [f"f{i:02d}" for i in range(30)]
RACES = np.array(["Asian", "Black", "Hispanic", "Native", "Two+", "White"], dtype=object)
SEXES = np.array(["female", "male"], dtype=object)


def block(start: int, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows [start, start + rows) of the synthetic table (deterministic per block)."""
    rng = np.random.default_rng([seed, start])
    x = rng.standard_normal((rows, len(FEATURES)))
    race = rng.integers(0, len(RACES), rows)
    sex = rng.integers(0, len(SEXES), rows)
    x[:, 0] += 0.4 * (race == 1)
    logit = x[:, 0] - 0.7 * x[:, 1] * x[:, 2] + np.sin(x[:, 3]) + 0.3 * x[:, 4:10].sum(axis=1)
    label = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    cols: dict[str, np.ndarray] = {"id": np.arange(start, start + rows, dtype=np.int64)}
    cols.update({f: x[:, i] for i, f in enumerate(FEATURES)})
    cols.update({"race": RACES[race], "sex": SEXES[sex], "label": label})
    return cols


def write_parquet(path: Path, rows: int, row_group: int = 250_000, seed: int = 0) -> Path:
    """Write ``rows`` synthetic decisions to ``path``, one row group at a time."""
    writer = None
    try:
        for start in range(0, rows, row_group):
            table = pa.table(block(start, min(row_group, rows - start), seed))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=row_group)
    finally:
        if writer is not None:
            writer.close()
    return path


def train_model(path: Path, trees: int = 100, leaves: int = 31, rows: int = 50_000) -> Path:
    """A binary LightGBM model on fresh synthetic rows, saved as text."""
    import lightgbm as lgb

    data = block(10**12, rows, seed=1)
    x = np.column_stack([data[f] for f in FEATURES])
    params = {"objective": "binary", "num_leaves": leaves, "learning_rate": 0.05, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, data["label"], feature_name=FEATURES), trees)
    booster.save_model(str(path))
    return path


def spec(data: Path, model: Path, **extra: Any) -> dict[str, Any]:
    """An audit spec for the synthetic data: 2 attributes, their 12-group intersection."""
    out: dict[str, Any] = {
        "name": "scale-bench",
        "domain": "credit",
        "model": {"path": str(model), "kind": "lightgbm"},
        "data": {"path": str(data)},
        "columns": {"id": "id", "label": "label", "features": FEATURES},
        "protected": ["race", "sex"],
        "intersections": [["race", "sex"]],
        "policies": ["ecoa_reg_b", "gdpr"],
        "seed": 0,
    }
    out.update(extra)
    return out
