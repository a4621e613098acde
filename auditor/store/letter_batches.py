"""Letter batches: each ``auditor letters`` run's counts and hold rate, kept with the audit.

A batch row is written with its letters, in the same transaction and sealed by the same
``letters.issued`` event, so ``auditor verify`` checks it like the letters themselves.
It holds aggregate counts only (no decision ids, no personal data). The summary is built
by :func:`batch_summary`, which is also what ``letters-summary.json``, the CLI and the web
job print: one definition of the hold rate everywhere.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.store.models import LetterBatch

TOP_REASONS = 5
"""How many principal reasons and blocking rules a summary names (the most frequent)."""
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9_.-]+$")


def _count(items: Sequence[str], top: int = TOP_REASONS) -> dict[str, int]:
    """The most frequent items with their counts (ties in name order, so it is stable)."""
    ranked = sorted(Counter(items).items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:top])


def _blocking_rules(failure: object) -> list[str]:
    """The rule ids of a blocked letter's failure text ("RULE: message; RULE: ...")."""
    if not isinstance(failure, str):
        return []
    found = []
    for part in failure.split("; "):
        head = part.split(":", 1)[0].strip()
        if _RULE_ID.match(head) and head not in found:
            found.append(head)
    return found or ["(unnamed check)"]


def _principal(record: Mapping[str, Any]) -> str | None:
    reasons = record.get("reasons")
    if not isinstance(reasons, list) or not reasons or not isinstance(reasons[0], Mapping):
        return None
    first = reasons[0]
    name = first.get("feature") or first.get("text")
    return str(name) if name else None


def batch_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch's review outcome from its letter records (JSON contract of
    ``letters-summary.json``): counts by status, adverse letters reviewed, how many held,
    the hold rate, how many of the held are near ties, and the reasons, most frequent
    first: why letters were held (near tie or not), which rules blocked letters, and the
    principal reasons stated in the held and in all adverse letters."""
    reviewed = [r for r in records if isinstance(r.get("review"), Mapping)]
    held = [r for r in reviewed if r["review"].get("needed")]
    ties = [r for r in held if r["review"].get("near_tie")]
    blocked = [r for r in records if r.get("status") == "blocked"]
    kinds = sorted({str(r.get("kind")) for r in records if r.get("kind")})
    return {
        "letters": len(records),
        "kind": ", ".join(kinds) or None,
        "reviewed": len(reviewed),
        "held": len(held),
        "hold_rate": round(len(held) / len(reviewed), 4) if reviewed else 0.0,
        "held_near_tie": len(ties),
        "blocked": len(blocked),
        "issued": sum(1 for r in records if r.get("status") == "issued"),
        "hold_reasons": {
            k: v
            for k, v in (
                ("principal reason unstable, near tie", len(ties)),
                ("principal reason unstable, clear lead", len(held) - len(ties)),
            )
            if v
        },
        "blocked_reasons": _count(
            [rule for r in blocked for rule in _blocking_rules(r.get("failure"))]
        ),
        "held_principal_reasons": _count([p for r in held if (p := _principal(r))]),
        "principal_reasons": _count([p for r in reviewed if (p := _principal(r))]),
    }


def add_letter_batch(session: Session, audit_id: str, summary: Mapping[str, Any]) -> LetterBatch:
    """Add the batch row of ``summary`` (the caller seals it with the letters' event)."""
    batch = LetterBatch(
        audit_id=audit_id,
        created_at=datetime.now(UTC),
        kind=str(summary.get("kind") or ""),
        letters=int(summary["letters"]),
        issued=int(summary["issued"]),
        held=int(summary["held"]),
        blocked=int(summary["blocked"]),
        reviewed=int(summary["reviewed"]),
        hold_rate=float(summary["hold_rate"]),
        summary=dict(summary),
    )
    session.add(batch)
    session.flush()
    return batch


@dataclass(frozen=True)
class LetterBatchRow:
    """One stored letter batch (Python API, web audit page, re-rendered report)."""

    id: int
    audit_id: str
    created_at: datetime
    kind: str
    letters: int
    issued: int
    held: int
    blocked: int
    reviewed: int
    hold_rate: float
    summary: dict[str, Any]

    @property
    def held_near_tie(self) -> int:
        """How many of the held letters are near ties (see :mod:`auditor.letters.review`)."""
        return int(self.summary.get("held_near_tie") or 0)

    def reasons_text(self, top: int = 3) -> str:
        """The main reasons in a few words: why held, which rules blocked, most frequent
        principal reasons ("" when there are none)."""
        parts = []
        if self.held:
            parts.append(f"{self.held_near_tie} of {self.held} held are near ties")
        blocked = dict(list((self.summary.get("blocked_reasons") or {}).items())[:top])
        if blocked:
            parts.append("blocked by " + ", ".join(f"{k} ({v})" for k, v in blocked.items()))
        principal = dict(list((self.summary.get("principal_reasons") or {}).items())[:top])
        if principal:
            parts.append(
                "main principal reasons " + ", ".join(f"{k} ({v})" for k, v in principal.items())
            )
        return "; ".join(parts)


def load_letter_batches(session: Session, audit_id: str) -> list[LetterBatchRow]:
    """The letter batches of ``audit_id``, oldest first (empty when none were issued)."""
    found = session.scalars(
        select(LetterBatch).where(LetterBatch.audit_id == audit_id).order_by(LetterBatch.id)
    )
    return [
        LetterBatchRow(
            id=b.id,
            audit_id=b.audit_id,
            created_at=b.created_at,
            kind=b.kind,
            letters=b.letters,
            issued=b.issued,
            held=b.held,
            blocked=b.blocked,
            reviewed=b.reviewed,
            hold_rate=b.hold_rate,
            summary=dict(b.summary),
        )
        for b in found
    ]
