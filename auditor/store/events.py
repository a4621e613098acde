"""The append-only, hash-chained event log.

Each event's ``hash`` is the SHA-256 of the previous event's hash followed by the
canonical JSON of ``[created_at, kind, user, payload]``. Changing, removing or
re-ordering an event therefore breaks the chain at that point, which
:func:`check_chain` reports. The first event's ``prev_hash`` is :data:`GENESIS`.

Appends are serialised per database so two writers can never fork the chain: on
PostgreSQL with a transaction-scoped advisory lock, on SQLite by taking the write lock
before reading the chain head. ``events.prev_hash`` is also unique, so a fork that slips
through on another backend fails loudly instead of silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

# registers the session hooks that seal rows changed without a sealing event
import auditor.store.integrity  # noqa: F401
from auditor.errors import StorageError
from auditor.store.models import Event

GENESIS = "0" * 64
"""``prev_hash`` of the first event."""


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON (the form that is hashed); NaN is refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, created_at: datetime, kind: str, user: str, payload: Any) -> str:
    """The chain hash of one event."""
    body = canonical_json([_timestamp(created_at), kind, user, payload])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _lock_chain(session: Session) -> None:
    """Serialise appends until the caller's transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.events'))")
        )
    elif dialect == "sqlite":
        # A write statement takes SQLite's RESERVED lock even when it matches no row.
        session.execute(text("UPDATE events SET id = id WHERE 0 = 1"))


def append_event(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    user: str,
    sealed: Mapping[str, Iterable[Any]] | None = None,
    presealed: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Add an event to the chain in the caller's transaction (never commits).

    ``sealed`` names the rows this event wrote, changed or deleted (``{table: keys}``);
    their seals as stored now go into the payload under ``"sealed"`` (see
    :mod:`auditor.store.integrity`), so that ``auditor verify`` can tell this change
    from one made outside auditor.
    """
    if sealed or presealed:
        from auditor.store.integrity import seal_payload

        payload = {**payload, "sealed": seal_payload(session, sealed or {})}
    if presealed:
        # seals the writer computed from the values it inserted (bulk rows, not read back)
        merged = {**payload.get("sealed", {})}
        for table, seals in presealed.items():
            merged[table] = {**merged.get(table, {}), **seals}
        payload = {**payload, "sealed": merged}
    try:
        payload_text = canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"The payload of event {kind!r} is not JSON-serialisable: {exc}"
        ) from exc
    _lock_chain(session)
    last = session.scalars(select(Event.hash).order_by(Event.id.desc()).limit(1)).first()
    prev = last if last is not None else GENESIS
    created = datetime.now(UTC)
    digest = event_hash(prev, created, kind, user, json.loads(payload_text))
    session.add(
        Event(
            created_at=created,
            kind=kind,
            user=user,
            payload=payload_text,
            prev_hash=prev,
            hash=digest,
        )
    )
    session.flush()


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`check_chain` found: the count, the problems and the parsed payloads."""

    events: int
    problems: list[str]
    payloads: list[tuple[int, str, dict[str, Any]]]


def check_chain(session: Session) -> ChainCheck:
    """Walk the chain in id order and report every break, naming the event."""
    problems: list[str] = []
    payloads: list[tuple[int, str, dict[str, Any]]] = []
    expected_prev = GENESIS
    prev_id: int | None = None
    count = 0
    rows = session.scalars(select(Event).order_by(Event.id).execution_options(yield_per=500))
    for event in rows:
        count += 1
        label = f"event {event.id} ({event.kind})"
        if event.prev_hash != expected_prev:
            if prev_id is None:
                problems.append(f"{label} does not start the chain: earlier events were deleted")
            else:
                problems.append(
                    f"{label} does not follow event {prev_id}: an event between them was "
                    "deleted, or an earlier event was rewritten"
                )
        try:
            payload = json.loads(event.payload)
        except ValueError:
            problems.append(f"{label} has a payload that is not valid JSON (altered)")
            payload = None
        if payload is not None:
            recomputed = event_hash(
                event.prev_hash, event.created_at, event.kind, event.user, payload
            )
            if recomputed != event.hash:
                problems.append(f"{label} does not match its hash: its content was altered")
            if isinstance(payload, dict):
                payloads.append((event.id, event.kind, payload))
        expected_prev = event.hash
        prev_id = event.id
    return ChainCheck(count, problems, payloads)
