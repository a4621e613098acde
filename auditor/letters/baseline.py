"""The baseline applicants that attributions are measured against.

Reg B's official commentary (comment 9(b)(2)-5) describes identifying the factors on which
an applicant fell furthest below the average of applicants at or slightly above the
minimum passing score, or below the average of all applicants. ``cutoff`` (the default)
takes the applicants scored in ``[threshold, threshold + band]``, closest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.errors import AuditorError
from auditor.letter_settings import BaselineSpec

_MIN_ROWS = 5


@dataclass(frozen=True)
class Baseline:
    """Which stored decisions form the baseline, and how they were chosen."""

    rows: np.ndarray
    description: str
    record: dict[str, Any]


def choose_baseline(
    settings: BaselineSpec,
    scores: np.ndarray | None,
    favorable: np.ndarray,
    threshold: float,
    *,
    seed: int,
) -> Baseline:
    """Pick the baseline rows (indices into the stored decisions)."""
    n = settings.max_rows
    if settings.kind == "cutoff":
        if scores is None:
            raise AuditorError(
                "letters.baseline.kind 'cutoff' needs model scores; use 'all' or 'favorable'."
            )
        above = np.flatnonzero(scores >= threshold)
        above = above[np.argsort(scores[above], kind="stable")]
        band = above[scores[above] <= threshold + settings.band]
        rows = band if len(band) >= _MIN_ROWS else above[:_MIN_ROWS]
        rows = np.sort(rows[:n])
        if len(rows) == 0:
            raise AuditorError("No decision scored at or above the threshold: no baseline.")
        lo, hi = float(scores[rows].min()), float(scores[rows].max())
        text = (
            f"the {len(rows)} applicants scored at or just above the approval cut-off "
            f"({threshold:g}; their scores {lo:.3f} to {hi:.3f})"
        )
        record = {"kind": "cutoff", "threshold": threshold, "band": settings.band}
        record.update({"rows": len(rows), "score_min": round(lo, 6), "score_max": round(hi, 6)})
        return Baseline(rows, text, record)
    pool = np.arange(len(favorable)) if settings.kind == "all" else np.flatnonzero(favorable)
    ranks, text, record = sample_baseline(settings, len(pool), seed=seed)
    return Baseline(pool[ranks], text, record)


def sample_baseline(
    settings: BaselineSpec, pool_size: int, *, seed: int
) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Kinds ``all``/``favorable``: the sampled places in the pool (sorted), text, record.

    The pool is every decision (``all``) or the favourable ones, in audit order; the
    Spark path maps the places back to rows by counting per partition.
    """
    if pool_size == 0:
        raise AuditorError("No favourable decision is stored: no baseline.")
    rng = np.random.default_rng(seed)
    ranks = np.sort(rng.choice(pool_size, size=min(settings.max_rows, pool_size), replace=False))
    who = "all applicants" if settings.kind == "all" else "applicants with a favourable decision"
    text = f"a seeded sample of {len(ranks)} {who}"
    return ranks, text, {"kind": settings.kind, "rows": len(ranks), "seed": seed}
