"""Why a metric record is insufficient evidence, in words that name the real cause.

A record can lack evidence because its group is small, because its membership is
estimated and the effective sample is small, or because it has no value at all (a
ratio whose reference group has no favourable decisions). Saying "only 3898 decisions
(minimum 30)" for the last case (issue 17) sent readers after the wrong problem.
"""

from __future__ import annotations

from auditor.result import MetricRecord


def insufficient_reason(m: MetricRecord, min_group_size: int) -> str:
    """The cause, for the finding's detail."""
    if m.value is None:
        if m.n == 0:
            return "the group has no decisions"
        if m.reference is not None and m.reference != m.group:
            return (
                f"the reference group '{m.reference}' has no favourable outcomes, so the "
                f"ratio is undefined ({m.n} decisions in this group)"
            )
        return f"no value could be computed ({m.n} decisions)"
    effective = m.detail.get("effective_n")
    if "weighted" in m.flags and effective is not None and effective < min_group_size:
        return (
            f"effective sample size {effective:.1f} (membership is estimated; {m.n} weighted "
            f"records), below the minimum group size ({min_group_size})"
        )
    return f"only {m.n} decisions, below the minimum group size ({min_group_size})"
