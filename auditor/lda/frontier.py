"""The performance/disparity frontier and the recommendation rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from auditor.lda.evaluate import Evaluation

# what the business-necessity tolerance bounds (``training.tolerance_on``)
ToleranceOn = Literal["auc", "approval_rate", "default_rate", "error_rate", "expected_loss"]
MEASURE_TEXT: dict[str, str] = {
    "auc": "AUC lost",
    "approval_rate": "change of the approval rate",
    "default_rate": "rise of the default rate among approved",
    "error_rate": "rise of the error rate among approved",
    "expected_loss": "rise of the expected loss per application",
}


def measure(on: str) -> ToleranceOn:
    """``on`` as a measure the tolerance can bound (the spec's schema already checked it)."""
    if on not in MEASURE_TEXT:
        raise ValueError(f"tolerance_on: {on!r} is not one of {sorted(MEASURE_TEXT)}")
    return on  # type: ignore[return-value]


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


def cost(e: Evaluation, base: Evaluation, on: ToleranceOn) -> float | None:
    """How much worse ``e`` is than ``base`` on the measure the tolerance bounds (the same
    rows); ``None`` when the measure cannot be taken (nothing approved, no loss values)."""
    if on == "auc":
        return base.auc - e.auc
    if on == "approval_rate":
        return abs(e.approval_rate - base.approval_rate)
    eb, bb = e.business, base.business
    if eb is None or bb is None:
        return None
    if on == "expected_loss":
        if eb.expected_loss is None or bb.expected_loss is None:
            return None
        return eb.expected_loss - bb.expected_loss
    if eb.bad_rate is None or bb.bad_rate is None:
        return None
    return eb.bad_rate - bb.bad_rate


def within_tolerance(
    e: Evaluation,
    base: Evaluation,
    tolerance: float,
    max_approval_change: float,
    on: ToleranceOn = "auc",
) -> bool:
    """Whether ``e`` is within the business-necessity tolerance of ``base``: its cost on
    the chosen measure at most ``tolerance``, and, unless the tolerance is on the approval
    rate itself, its approval rate within ``max_approval_change``."""
    c = cost(e, base, on)
    if c is None or c > tolerance + 1e-12:
        return False
    return on == "approval_rate" or abs(e.approval_rate - base.approval_rate) <= max_approval_change


def tolerance_text(tolerance: float, max_approval_change: float, on: ToleranceOn) -> str:
    """The tolerance in words, as the reasons and the documents state it."""
    if on == "auc":
        return f"{tolerance} AUC and {max_approval_change} approval rate"
    if on == "approval_rate":
        return f"{tolerance} approval rate"
    return f"a {MEASURE_TEXT[on]} of {tolerance} and {max_approval_change} approval rate"


def recommend(
    evals: Mapping[str, Evaluation],
    baseline: str,
    tolerance: float,
    max_approval_change: float,
    on: ToleranceOn = "auc",
) -> tuple[str | None, str]:
    """The alternative with the highest worst-group ratio among those within the tolerance
    of the baseline (``tolerance`` on the measure ``on``, and ``max_approval_change`` of
    its approval rate), with the reason; ``None`` when no candidate raises the ratio
    within those limits."""
    base = evals[baseline]
    limits = tolerance_text(tolerance, max_approval_change, on)
    eligible = [
        (cid, e)
        for cid, e in evals.items()
        if cid != baseline
        and within_tolerance(e, base, tolerance, max_approval_change, on)
        and ratio_of(e) > ratio_of(base)
    ]
    if not eligible:
        return None, (
            f"no candidate raised the worst group's impact ratio above the baseline's "
            f"{ratio_of(base):.3f} while staying within {limits} of it on the search split"
        )
    cid, e = max(eligible, key=lambda p: (ratio_of(p[1]), p[1].auc, p[0]))
    if on == "auc":
        return cid, (
            f"highest worst-group impact ratio on the search split ({ratio_of(e):.3f} against "
            f"the baseline's {ratio_of(base):.3f}) among candidates within {tolerance} AUC "
            f"({e.auc:.4f} against {base.auc:.4f}) and {max_approval_change} approval rate "
            f"({e.approval_rate:.3f} against {base.approval_rate:.3f}) of the baseline"
        )
    return cid, (
        f"highest worst-group impact ratio on the search split ({ratio_of(e):.3f} against "
        f"the baseline's {ratio_of(base):.3f}) among candidates within {limits} of the "
        f"baseline (its {MEASURE_TEXT[on]}: {cost(e, base, on):+.4f}; AUC {e.auc:.4f} against "
        f"{base.auc:.4f}; approval rate {e.approval_rate:.3f} against {base.approval_rate:.3f})"
    )
