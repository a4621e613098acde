"""Explanation quality for every engine: one seeded sample, read however the engine can.

The in-memory audit indexes its encoded matrix; the streamed and Spark engines read the
sampled rows by position from their source and encode them. The sample depends on the
row count and the seed only (:func:`auditor.explain.quality.draw_sample`), so the block
and the findings that read it are the same wherever the audit ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from auditor.explain.quality import QualitySettings, assess_sample, draw_sample, not_computed
from auditor.models.base import ModelAdapter
from auditor.spec import AuditSpec

NOT_EXPLAINED = "no attributions were computed, so there was nothing to measure"
TURNED_OFF = "the spec turned it off (explain.quality.enabled: false)"

EncodedAt = Callable[[np.ndarray], np.ndarray]
"""Encoded model inputs of the rows at these sorted global positions, in that order."""


def quality_settings(spec: AuditSpec) -> QualitySettings:
    """The stage's settings as the spec gives them."""
    q = spec.explain.quality
    return QualitySettings(
        rows=q.rows,
        methods=tuple(q.methods),
        top_k=q.top_k,
        draws=q.perturbations,
        noise=q.noise,
        stability_rows=q.stability_rows,
        background=spec.explain.background,
        steps=spec.explain.steps,
        seed=spec.seed,
        lime_samples=q.lime_samples,
    )


def explanation_quality(
    spec: AuditSpec,
    model: ModelAdapter | None,
    method: str | None,
    n_rows: int,
    encoded_at: EncodedAt,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The explanation-quality block of an audit of ``n_rows`` rows explained by ``method``.

    ``method`` None (nothing was explained) or the spec turning the stage off give the
    recorded reason instead of figures.
    """
    if method is None or model is None or n_rows == 0:
        return not_computed(NOT_EXPLAINED)
    if not spec.explain.quality.enabled:
        return not_computed(TURNED_OFF)
    settings = quality_settings(spec)
    sample = draw_sample(n_rows, settings)
    x_at = encoded_at(sample.positions)
    return assess_sample(model, sample, x_at, settings, primary=method, timings=timings)
