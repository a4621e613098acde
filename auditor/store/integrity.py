"""Tamper evidence for stored rows: which tables are covered, and their digests ("seals").

Every event that writes, changes or deletes rows records their seals in its payload
(``"sealed": {table: {key: seal or null}}``), computed in the same transaction from the
rows as the database returns them (bulk-inserted decisions: from the values inserted).
The event log is hash-chained, so a seal cannot be rewritten without breaking the chain,
and :mod:`auditor.store.verification` replays the log to the last recorded seal of every
row and compares it with what is stored now.

A *row* table seals each row under its primary key. A *grouped* table (metrics,
findings, decisions: written once per audit, possibly millions of rows) seals each audit's
rows as one unit: their count, the SHA-256 of their row digests in id order, and a short
digest per 256 rows that lets verify say which rows changed.

A row's digest covers every column except ``skip`` ones (written without an event and
read by nothing a report, letter, count or filter shows, e.g. a token's last use).
NULL columns are left out, so a new nullable column keeps existing seals valid; a
migration that fills it must re-seal (see revision 0008). ``named`` columns are also
recorded in the seal as values (long ones as a short digest) so that verify can say what
changed, not only that something did.

A new table that reports, letters or web pages read (web sessions, sign-offs) gets one
:data:`COVERED` entry and passes its keys to ``append_event(..., sealed=...)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from auditor.store.models import Base

SHORT_VALUE = 80
"""Named values longer than this (text, PDFs) are recorded as a digest, not verbatim."""


@dataclass(frozen=True)
class Covered:
    """How one table is sealed."""

    name: str
    key: str
    """The column a seal is filed under: the primary key, or ``audit_id`` when grouped."""
    grouped: bool = False
    named: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    audit_column: str | None = None
    """The column naming the audit a row belongs to (messages and ``verify --audit``)."""
    label: str | None = None
    """A column that identifies the row to a reader (a user's or schedule's name)."""
    digested: tuple[str, ...] = ()
    """Named columns recorded as a digest whatever their length (letter text holds
    personal data; the log must not copy it)."""

    @property
    def table(self) -> Table:
        """The SQLAlchemy table."""
        return Base.metadata.tables[self.name]


COVERED: dict[str, Covered] = {
    c.name: c
    for c in (
        Covered(
            "audits",
            "id",
            named=(
                "name",
                "status",
                "created_at",
                "result_sha256",
                "findings_fail",
                "findings_warn",
                "findings_insufficient_evidence",
                "findings_needs_attestation",
                "findings_pass",
                "findings_not_applicable",
            ),
            audit_column="id",
        ),
        Covered("metrics", "audit_id", grouped=True, audit_column="audit_id"),
        Covered("findings", "audit_id", grouped=True, audit_column="audit_id"),
        Covered(
            "reports",
            "id",
            named=("audit_id", "sha256", "pdf", "html", "preset"),
            audit_column="audit_id",
            digested=("pdf", "html"),
        ),
        Covered("decision_sets", "audit_id", named=("rows", "spec_dir"), audit_column="audit_id"),
        # sealed from the values inserted (see save_decisions), so the autoincrement id,
        # unknown to a bulk insert, is left out; rows are still digested in id order
        Covered(
            "decisions",
            "audit_id",
            grouped=True,
            audit_column="audit_id",
            label="decision_id",
            skip=("id",),
        ),
        Covered(
            "letters",
            "id",
            named=("audit_id", "decision_id", "kind", "status", "html", "pdf", "reasons"),
            audit_column="audit_id",
            label="decision_id",
            digested=("html", "pdf", "reasons"),
        ),
        # issue 21: later evaluations of an audit and the attestations that made them
        Covered(
            "evaluations",
            "id",
            named=(
                "audit_id",
                "number",
                "user",
                "result_sha256",
                "findings_fail",
                "findings_warn",
                "findings_insufficient_evidence",
                "findings_needs_attestation",
                "findings_pass",
                "findings_not_applicable",
            ),
            audit_column="audit_id",
            label="number",
        ),
        Covered(
            "attestations",
            "id",
            named=(
                "audit_id",
                "evaluation_id",
                "created_at",
                "attested_by",
                "user",
                "evidence",
                "document_name",
                "document_sha256",
            ),
            audit_column="audit_id",
            label="attested_by",
        ),
        Covered(
            "signoffs",
            "id",
            named=(
                "audit_id",
                "report_id",
                "signed_report_id",
                "evaluation",
                "created_at",
                "signer",
                "role",
                "report_sha256",
                "signed_sha256",
            ),
            audit_column="audit_id",
            label="signer",
        ),
        Covered(
            "letter_batches",
            "id",
            named=("audit_id", "kind", "letters", "issued", "held", "blocked", "hold_rate"),
            audit_column="audit_id",
        ),
        Covered(
            "users",
            "id",
            named=("name", "role", "active", "password_hash"),
            label="name",
            digested=("password_hash",),
        ),
        Covered(
            "api_tokens",
            "id",
            named=("user_id", "token_sha256", "label"),
            skip=("last_used_at",),
            label="label",
        ),
        Covered(
            "schedules",
            "id",
            named=("name", "spec_path", "cron", "enabled", "next_run_at"),
            label="name",
        ),
        Covered(
            "schedule_runs",
            "id",
            named=("schedule_id", "status", "audit_id", "scheduled_for", "error"),
            audit_column="audit_id",
        ),
    )
}
"""Every table whose rows a report, letter, finding count, web filter or history reads.

``events`` is not listed: it is the hash chain itself."""


def _plain(value: Any) -> Any:
    """A JSON value that is the same for a value written and the same value read back."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _non_json(value: Any) -> Any:
    """What the JSON encoder cannot write itself: times, bytes, numpy scalars."""
    if isinstance(value, datetime | bytes | bytearray | memoryview):
        return _plain(value)
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


_ROW_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_non_json
)
"""Row bodies go straight to the C encoder (plain values are the common case: a million
decision rows are digested when stored and again by verify); NaN is written as NaN."""


def row_digest(values: Mapping[Any, Any]) -> str:
    """SHA-256 of a row's canonical JSON (NULL columns left out)."""
    body = {k: v for k, v in values.items() if v is not None}
    return hashlib.sha256(_ROW_ENCODER.encode(body).encode("utf-8")).hexdigest()


def named_value(value: Any, *, digest: bool = False) -> Any:
    """How a named column's value is recorded: verbatim, or a short digest when long."""
    plain = _plain(value)
    if isinstance(plain, dict) and set(plain) == {"sha256"}:
        return f"sha256:{plain['sha256'][:16]}"
    text = plain if isinstance(plain, str) else _canonical(plain)
    if plain is not None and (digest or len(text) > SHORT_VALUE):
        return f"sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"
    return plain


def _columns(covered: Covered) -> list[Any]:
    return [c for c in covered.table.columns if c.name not in covered.skip]


def row_seal(covered: Covered, values: Mapping[Any, Any]) -> dict[str, Any]:
    """The seal of one row: its digest and its named values."""
    kept = {k: v for k, v in values.items() if k not in covered.skip}
    return {
        "sha256": row_digest(kept),
        "named": {
            c: named_value(values.get(c), digest=c in covered.digested) for c in covered.named
        },
    }


CHUNK_ROWS = 256
"""Rows per chunk of a grouped seal: verify names the first chunk that differs."""


class GroupDigest:
    """Accumulates the seal of one grouped unit (rows in id order).

    Besides the root digest the seal keeps 8 hex characters per chunk of
    :data:`CHUNK_ROWS` rows (about 40 KB for a million decisions), so verify can say
    which rows changed, not only that some did.
    """

    def __init__(self, label: str = "seq") -> None:
        self._hash = hashlib.sha256()
        self._chunk = hashlib.sha256()
        self._label = label
        self._open = 0
        self._first: Any = None
        self._last: Any = None
        self.rows = 0
        self.chunks: list[str] = []
        self.spans: list[tuple[Any, Any]] = []
        """The label (``seq``, ``decision_id``) of the first and last row of each chunk."""

    def add(self, values: Mapping[Any, Any]) -> None:
        """Add the next row."""
        line = row_digest(values).encode("ascii") + b"\n"
        self._hash.update(line)
        self._chunk.update(line)
        mark = values.get(self._label)
        if self._open == 0:
            self._first = mark
        self._last = mark
        self._open += 1
        self.rows += 1
        if self._open == CHUNK_ROWS:
            self._close()

    def _close(self) -> None:
        self.chunks.append(self._chunk.hexdigest()[:8])
        self.spans.append((self._first, self._last))
        self._chunk = hashlib.sha256()
        self._open = 0

    def seal(self) -> dict[str, Any]:
        """The unit's seal: row count, root digest and chunk digests."""
        if self._open:
            self._close()
        return {"rows": self.rows, "sha256": self._hash.hexdigest(), "chunks": "".join(self.chunks)}


def key_text(value: Any) -> str:
    """A seal key as it appears in the event payload (JSON object keys are strings)."""
    return str(value)


def current_seals(covered: Covered, keys: Iterable[Any], session: Session) -> dict[str, Any]:
    """The seals of ``keys`` as stored now (None for a key with no rows: deleted)."""
    wanted = sorted({key_text(k) for k in keys})
    found: dict[str, Any] = dict.fromkeys(wanted)
    if not wanted:
        return found
    table = covered.table
    key_col = table.c[covered.key]
    typed: list[Any] = [int(k) if _int_key(covered) else k for k in wanted]
    groups: dict[str, GroupDigest] = {}
    label = covered.label or "seq"
    for start in range(0, len(typed), 500):
        chunk = typed[start : start + 500]
        stmt = select(*_columns(covered)).where(key_col.in_(chunk))
        if covered.grouped:
            stmt = stmt.order_by(key_col, table.c.id)
        for row in session.execute(stmt).mappings():
            key = key_text(row[covered.key])
            if covered.grouped:
                groups.setdefault(key, GroupDigest(label)).add(row)
            else:
                found[key] = row_seal(covered, row)
    for key, group in groups.items():
        found[key] = group.seal()
    return found


def _int_key(covered: Covered) -> bool:
    column = covered.table.c[covered.key]
    try:
        return column.type.python_type is int
    except NotImplementedError:  # pragma: no cover - every covered key type has one
        return False


def seal_payload(session: Session, sealed: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """``{table: {key: seal | None}}`` for the event payload; flushes pending rows first."""
    unknown = sorted(set(sealed) - set(COVERED))
    if unknown:
        raise ValueError(f"Tables {unknown} are not covered by tamper evidence (see COVERED).")
    session.flush()
    payload = {
        name: current_seals(COVERED[name], keys, session)
        for name, keys in sorted(sealed.items())
    }
    done: set[tuple[str, str]] = session.info.setdefault(_SEALED, set())
    done.update((name, key) for name, seals in payload.items() for key in seals)
    return payload


# session.info keys: the rows this transaction changed through the ORM, and those an
# event sealed (the safety net in :mod:`auditor.store.seal_net` seals the difference)
_UNSEALED = "auditor.unsealed"
_SEALED = "auditor.sealed"


def all_keys(session: Session, covered: Covered) -> list[Any]:
    """Every key of ``covered`` present now (for a baseline seal of existing rows)."""
    column = covered.table.c[covered.key]
    return list(session.scalars(select(column).distinct().order_by(column)))
