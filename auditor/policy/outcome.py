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


def fmt_vs_line(v: float | None, line: float) -> str:
    """A value compared with ``line``, with enough digits to show which side it is on.

    0.7958 against 0.80 prints as 0.796, never as "0.80 ... below 0.80".
    """
    if v is None:
        return "n/a"
    for digits in (2, 3, 4, 5, 6):
        shown = float(f"{v:.{digits}f}")
        if (shown < line) == (v < line):
            return f"{v:.{digits}f}"
    return f"{v:.6g}"
