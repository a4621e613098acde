"""Where the work runs: in-process (chunked, streaming) or Spark; results never change.

``run_engine`` is what the pipeline calls when the spec's ``engine`` asks for chunks
(``chunk_rows``: :mod:`auditor.engine.measure` over a local file) or Spark (``kind:
spark``: :mod:`auditor.engine.spark`, partitions return counts and sums only); both give
the ``AuditResult`` the in-memory path gives on the same data (equal to rounding, tested
to 1e-9), and both return the merged :class:`~auditor.metrics.cells.DecisionCells` the
dataset summary is built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.engine.measure import Stage, measure
from auditor.metrics.cells import DecisionCells
from auditor.metrics.group_metrics import Grouping
from auditor.models.base import ModelAdapter
from auditor.result import AttributionSummary, MetricRecord
from auditor.spec import AuditSpec, EngineSpec, load_spec

__all__ = ["run_engine", "with_engine"]


def with_engine(
    spec: Path, kind: str | None, chunk_rows: int | None, master: str | None
) -> Path | AuditSpec:
    """The spec with the CLI's ``--engine``/``--chunk-rows``/``--master`` applied."""
    update = {
        k: v
        for k, v in (("kind", kind), ("chunk_rows", chunk_rows), ("master", master))
        if v is not None
    }
    if not update:
        return spec
    loaded = load_spec(spec)
    engine = EngineSpec.model_validate({**loaded.engine.model_dump(), **update})
    return loaded.model_copy(update={"engine": engine})


def run_engine(
    spec: AuditSpec,
    model: ModelAdapter | None,
    groups: list[Grouping],
    warnings: list[str],
    stage: Stage,
    timings: dict[str, float] | None = None,
    *,
    unseen: dict[str, int] | None = None,
) -> tuple[DecisionCells, str, list[MetricRecord], AttributionSummary, dict[str, Any]]:
    """Decision cells, metrics, attribution summary and explanation quality through the
    spec's engine.

    ``unseen``: filled with the rows per feature whose category the model never saw.
    """
    if spec.engine.kind == "spark":
        from auditor.engine.spark import run_spark

        return run_spark(spec, model, groups, warnings, stage, timings, unseen=unseen)
    from auditor.engine.local import LocalSource

    return measure(
        spec, model, groups, warnings, stage, LocalSource(spec), timings, unseen=unseen
    )
