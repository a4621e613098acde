"""What an engine's passes produce before the driver's one finalisation
(:func:`auditor.engine.driver.finish`), and the chunk plan every engine shares.

A module of its own so that the Spark engine and the driver both read it without
importing each other (the driver starts the Spark engine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.engine.kernel import ChunkPlan, plan_rows
from auditor.engine.statistics import split_groupings
from auditor.engine.sums import AttributionSums
from auditor.explain import get_explainer
from auditor.explain.base import uses_background
from auditor.explain.run import choose_method, plan_device
from auditor.metrics import groupings
from auditor.metrics.cells import DecisionCells
from auditor.models.base import ModelAdapter
from auditor.result import GapDecomposition, MetricRecord, ProxyRank, ProxyScore
from auditor.spec import AuditSpec


@dataclass
class Measured:
    """What an engine's passes produce before :func:`finish` (mergeable parts merged)."""

    cells: DecisionCells
    decisions_from: str
    metrics: list[MetricRecord]
    references: dict[str, str | None]
    sums: AttributionSums | None
    method: str | None
    reason: str | None
    quality: dict[str, Any]
    disagree: int
    unseen: dict[str, int]
    proxies: list[ProxyScore]
    ranking: list[ProxyRank]
    decompositions: list[GapDecomposition]
    extra_notes: list[str]
    geography: list[ProxyScore]


def encoded(model: ModelAdapter | None, frame: pd.DataFrame) -> np.ndarray:
    """The model's encoded inputs of a few rows read back from the source."""
    if model is None:
        raise ValueError("encoded: no model (only called when a method explained rows)")
    return model.encode(frame)


def plan_for(
    spec: AuditSpec,
    model: ModelAdapter,
    rows_total: int,
    encode_at: Callable[[np.ndarray], np.ndarray],
    label: str,
) -> ChunkPlan:
    """The chunk plan: method, seeded rows to explain and background, by global position
    (``encode_at``: the model's encoded inputs of the rows at sorted positions)."""
    e = spec.explain
    params: dict[str, object] = {}
    method = None
    rows = background = None
    device: str = e.device
    if e.method != "none":
        method = choose_method(model, None if e.method == "auto" else e.method)
        rows, bg_rows = plan_rows(method, rows_total, e.max_rows, e.background, spec.seed)
        # drawn whatever the method (the sample of rows to explain follows the same
        # generator), read only for a method that uses them
        if uses_background(get_explainer(method)):
            background = encode_at(bg_rows)
        else:
            background = np.empty((0, len(model.feature_names)), dtype=np.float64)
        explained = rows_total if rows is None else len(rows)
        params = {
            "background_size": len(bg_rows),
            "seed": spec.seed,
            "rows_explained": explained,
            "rows_total": rows_total,
        }
        # auto decided once for the whole audit: every chunk runs and records the same
        device, rule = plan_device(model, method, e.device, explained)
        if rule is not None:
            params["device_rule"] = rule
    groups = groupings(spec.protected, split_groupings(spec)[0])
    return ChunkPlan(
        source=label,
        method=method,
        explain_rows=rows,
        background=background,
        steps=e.steps,
        tolerance=e.tolerance,
        groupings=tuple((g.name, g.attributes) for g in groups),
        params=params,
        device=device,
    )
