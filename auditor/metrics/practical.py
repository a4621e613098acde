"""Practical significance and multiplicity: shortfall, flip test, bootstrap, Holm.

Applied to the records of :mod:`auditor.metrics.group_metrics` after they are built:
ratio records get their shortfall (selections needed for parity), the one-person flip
test against the 0.8 line, the power of the deciding test (Fisher's or the z-test,
named by the ``power:`` flag) to detect a true ratio at that line (``detail["power"]``),
and optionally a seeded count-bootstrap interval; every record with a p-value gets a
Holm-adjusted p, one family per metric name across all groupings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from auditor.batch import UNKNOWN
from auditor.metrics.bootstrap import bootstrap_ratio_intervals
from auditor.metrics.counts import GroupCounts
from auditor.metrics.disparities import shortfall_and_flip
from auditor.metrics.stats import holm, power_of_test
from auditor.result import MetricRecord

RATE_OF: dict[str, Callable[[GroupCounts], tuple[int, int] | None]] = {
    "selection_rate": lambda c: (c.favorable, c.n),
    "scoring_rate": lambda c: None if c.above_median is None else (c.above_median, c.n),
}


RATIO_RATES = {
    "impact_ratio": "selection_rate",
    "adverse_impact_ratio": "selection_rate",
    "scoring_impact_ratio": "scoring_rate",
}


def practical(
    rec: MetricRecord,
    counts: dict[str, GroupCounts],
    bootstrap: int,
    seed: int,
    line: float,
    boot_cache: dict[tuple[str, str], dict[str, tuple[float, float]]],
) -> MetricRecord:
    """Shortfall, flip test and bootstrap interval of a ratio record (others unchanged)."""
    rate_name = RATIO_RATES.get(rec.metric)
    if rate_name is None or rec.reference is None or {"reference", "excluded"} & set(rec.flags):
        return rec
    rate_of = RATE_OF[rate_name]
    fr = {g: v for g, c in counts.items() if (v := rate_of(c)) is not None}
    x, n = fr[rec.group]
    xr, nr = fr[rec.reference]
    shortfall, flip = shortfall_and_flip(x, n, xr, nr, line)
    flags = rec.flags + (("flip_sensitive",) if flip else ())
    detail = dict(rec.detail)
    if nr:
        # the power of the test that decided this record (Fisher's for small expected
        # counts), not the z-test's, which overstates it where Fisher decides
        test = "fisher_exact" if "test:fisher_exact" in rec.flags else "z_test"
        detail["power"] = power_of_test(test, n, nr, xr / nr, line)
        flags = (*flags, f"power:{test}")
    if bootstrap > 0:
        family = (rec.metric, rec.reference)
        if family not in boot_cache:
            known = {g: v for g, v in fr.items() if g != UNKNOWN}
            key = sum(ord(ch) for ch in f"{rec.attribute}|{rec.metric}")
            boot_cache[family] = bootstrap_ratio_intervals(
                known, rec.reference, bootstrap, seed + key
            )
        boot = boot_cache[family]
        if rec.group in boot:
            detail.update(
                boot_ci_low=boot[rec.group][0],
                boot_ci_high=boot[rec.group][1],
                boot_replicates=float(bootstrap),
            )
    return replace(rec, shortfall=shortfall, flip_test=flip, flags=flags, detail=detail)


def adjust_holm(records: list[MetricRecord]) -> list[MetricRecord]:
    """Holm-adjusted p-values, one family per metric name across all groupings."""
    out = list(records)
    by_metric: dict[str, list[int]] = {}
    for i, r in enumerate(out):
        if r.p_value is not None:
            by_metric.setdefault(r.metric, []).append(i)
    for idx in by_metric.values():
        adjusted = holm([out[i].p_value for i in idx])
        for i, p in zip(idx, adjusted, strict=True):
            out[i] = replace(out[i], p_value_adjusted=p)
    return out
