"""The outcome of evaluating one scope of a rule, before it becomes a Finding."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.result import FindingStatus


@dataclass(frozen=True)
class Outcome:
    """One evaluated scope of a rule: status, scope, observed, threshold, message fields."""

    status: FindingStatus
    scope: str
    observed: float | str | None = None
    threshold: float | str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def fmt_num(v: float | None, digits: int = 2) -> str:
    """A number for a message (``n/a`` when absent)."""
    return "n/a" if v is None else f"{v:.{digits}f}"


def fmt_p(v: float | None) -> str:
    """A p-value for a message."""
    if v is None:
        return "p not computed"
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"
