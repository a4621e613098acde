"""The performance/disparity frontier and the recommendation rule."""

from __future__ import annotations

from collections.abc import Mapping

from auditor.lda.evaluate import Evaluation


def ratio_of(e: Evaluation) -> float:
    """The worst judged group's impact ratio (1.0 when no group could be judged)."""
    return 1.0 if e.worst is None or e.worst.value is None else e.worst.value


def frontier(evals: Mapping[str, Evaluation]) -> list[str]:
    """Candidates no other candidate beats on both AUC and the worst ratio (Pareto)."""
    out = []
    for cid, e in evals.items():
        dominated = any(
            o.auc >= e.auc
            and ratio_of(o) >= ratio_of(e)
            and (o.auc > e.auc or ratio_of(o) > ratio_of(e))
            for oid, o in evals.items()
            if oid != cid
        )
        if not dominated:
            out.append(cid)
    return sorted(out)


def recommend(
    evals: Mapping[str, Evaluation],
    baseline: str,
    tolerance: float,
    max_approval_change: float,
) -> tuple[str | None, str]:
    """The alternative with the highest worst-group ratio among those within ``tolerance``
    AUC of the baseline and ``max_approval_change`` of its approval rate, with the reason;
    ``None`` when no candidate raises the ratio within those limits."""
    base = evals[baseline]
    eligible = [
        (cid, e)
        for cid, e in evals.items()
        if cid != baseline
        and e.auc >= base.auc - tolerance
        and abs(e.approval_rate - base.approval_rate) <= max_approval_change
        and ratio_of(e) > ratio_of(base)
    ]
    if not eligible:
        return None, (
            f"no candidate raised the worst group's impact ratio above the baseline's "
            f"{ratio_of(base):.3f} while staying within {tolerance} AUC and "
            f"{max_approval_change} approval rate of it on the search split"
        )
    cid, e = max(eligible, key=lambda p: (ratio_of(p[1]), p[1].auc, p[0]))
    return cid, (
        f"highest worst-group impact ratio on the search split ({ratio_of(e):.3f} against the "
        f"baseline's {ratio_of(base):.3f}) among candidates within {tolerance} AUC "
        f"({e.auc:.4f} against {base.auc:.4f}) and {max_approval_change} approval rate "
        f"({e.approval_rate:.3f} against {base.approval_rate:.3f}) of the baseline"
    )
