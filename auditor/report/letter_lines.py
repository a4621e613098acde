"""The report's "Letters" lines: each stored letter batch of the audit in one sentence.

Letters are issued after the audit, so only a re-rendered report (and the web audit
page) has batches to show; a report rendered with the audit has none and no line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.store.letter_batches import LetterBatchRow


def letter_lines(batches: Sequence[LetterBatchRow]) -> list[str]:
    """Per batch: kind, date, issued/held/blocked, the hold rate and the main reasons."""
    lines = []
    for b in batches:
        kind = f" ({b.kind})" if b.kind else ""
        line = (
            f"Letters{kind} of {b.created_at:%Y-%m-%d}: {b.issued} issued, {b.held} held for "
            f"review, {b.blocked} blocked"
        )
        if b.reviewed:
            line += (
                f"; hold rate {b.hold_rate:.1%} of {b.reviewed} adverse letter(s) whose "
                "principal reason was re-checked under measurement noise"
            )
        reasons = b.reasons_text()
        lines.append(line + (f" ({reasons})." if reasons else "."))
    return lines
