"""The events of the hash chain that concern one audit (the workspace's audit-trail page).

Every event written about an audit carries ``audit_id`` in its payload (letter events carry
it next to the letter id), so the trail is the events whose payload names the audit. The
text match narrows the scan in SQL; the parsed payload then decides, so an id that merely
appears inside another value is not counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.store.models import Event

MAX_TRAIL_EVENTS = 5000
"""The most events one trail lists (newest kept): a page, not an export."""

# payload keys that are bookkeeping, not something a reader of the trail needs
_QUIET_KEYS = frozenset({"audit_id", "sealed", "svg_fast_path"})
_SUMMARY_CHARS = 200


@dataclass(frozen=True)
class TrailEvent:
    """One event of an audit's trail, with a one-line summary of its payload."""

    id: int
    created_at: datetime
    kind: str
    user: str
    summary: str
    hash: str
    prev_hash: str

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON form."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "user": self.user,
            "summary": self.summary,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }


def audit_trail(session: Session, audit_id: str) -> list[TrailEvent]:
    """The events that name ``audit_id``, oldest first (at most :data:`MAX_TRAIL_EVENTS`)."""
    needle = '"audit_id":' + json.dumps(audit_id, ensure_ascii=False)
    stmt = (
        select(Event)
        .where(Event.payload.contains(needle, autoescape=True))
        .order_by(Event.id.desc())
        .limit(MAX_TRAIL_EVENTS)
    )
    found: list[TrailEvent] = []
    for event in session.scalars(stmt):
        try:
            payload = json.loads(event.payload)
        except ValueError:
            continue  # an altered payload: `auditor verify` reports it, the trail cannot read it
        if not isinstance(payload, dict) or payload.get("audit_id") != audit_id:
            continue
        found.append(
            TrailEvent(
                id=event.id,
                created_at=event.created_at,
                kind=event.kind,
                user=event.user,
                summary=summarise(payload),
                hash=event.hash,
                prev_hash=event.prev_hash,
            )
        )
    found.reverse()
    return found


def summarise(payload: dict[str, Any]) -> str:
    """``key: value`` pairs of the payload's plain values on one line, cut to a readable length.

    Nested values are counted rather than shown (a letter batch's per-reason tallies would
    not fit a line); the full payload stays in the store for ``auditor verify``.
    """
    parts: list[str] = []
    for key in sorted(payload):
        if key in _QUIET_KEYS:
            continue
        value = payload[key]
        if value is None:
            continue
        if isinstance(value, dict):
            shown = ", ".join(
                f"{k} {v}" for k, v in value.items() if isinstance(v, int | float | str)
            )
            text = shown if shown else f"{len(value)} entries"
        elif isinstance(value, list):
            text = f"{len(value)} items"
        else:
            text = str(value)
        parts.append(f"{key.replace('_', ' ')}: {text}")
    line = "; ".join(parts)
    return line if len(line) <= _SUMMARY_CHARS else line[: _SUMMARY_CHARS - 1] + "…"
