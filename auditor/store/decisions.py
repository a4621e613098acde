"""Repository functions for per-decision records and letters (the caller commits).

Decision rows hold the model inputs, the score and the outcome of each audited decision,
never protected attributes. They are written with the audit (same transaction) when the
spec has a ``letters:`` section, so that ``auditor letters`` works from the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.store.events import append_event
from auditor.store.integrity import COVERED, GroupDigest, key_text
from auditor.store.letter_batches import add_letter_batch, batch_summary
from auditor.store.models import Decision, DecisionSet, Letter

if TYPE_CHECKING:
    from auditor.batch import DecisionBatch
    from auditor.spec import AuditSpec

LETTER_ISSUED = "letters.issued"
DECISIONS_STORED = "decisions.stored"
LETTER_STATUS_CHANGED = "letter.status_changed"
LETTER_STATUSES = ("issued", "blocked", "needs_review", "rejected")
"""What a stored letter's ``status`` may be (``rejected``: a reviewer refused a held one)."""


def _record_decisions(
    session: Session, audit_id: str, rows: list[dict[str, Any]], *, user: str
) -> None:
    """One ``decisions.stored`` event sealing the audit's decision set and records.

    The records' seal is computed from the values inserted, in insertion (= id) order:
    reading a million rows back would double the time to store them.
    """
    presealed: dict[str, dict[str, Any]] = {}
    if rows:
        group = GroupDigest(COVERED["decisions"].label or "seq")
        for row in rows:
            group.add(row)
        presealed["decisions"] = {key_text(audit_id): group.seal()}
    append_event(
        session,
        DECISIONS_STORED,
        {"audit_id": audit_id, "rows": len(rows)},
        user=user,
        sealed={"decision_sets": [audit_id]},
        presealed=presealed,
    )


@dataclass(frozen=True)
class StoredDecisions:
    """An audit's decision records, in audit order."""

    audit_id: str
    spec_dir: str
    ids: list[str]
    features: pd.DataFrame
    favorable: np.ndarray
    scores: np.ndarray | None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def save_decisions(
    session: Session, audit_id: str, spec: AuditSpec, batch: DecisionBatch, *, user: str = "auditor"
) -> int:
    """Store the scored decisions of ``audit_id`` (model inputs only) and return the count."""
    if batch.decisions is None:
        raise StorageError(f"Audit {audit_id}: the decisions were not decided; nothing to store.")
    now = datetime.now(UTC)
    columns = list(batch.features.columns)
    records = batch.features.to_dict(orient="records")
    scores = batch.scores
    rows = [
        {
            "audit_id": audit_id,
            "seq": i,
            "decision_id": str(batch.ids[i]),
            "created_at": now,
            "favorable": bool(batch.decisions[i]),
            "score": _plain(float(scores[i])) if scores is not None else None,
            "features": {k: _plain(v) for k, v in rec.items()},
        }
        for i, rec in enumerate(records)
    ]
    session.add(
        DecisionSet(
            audit_id=audit_id,
            created_at=now,
            spec_dir=str(spec.resolve(".").resolve()),
            rows=len(rows),
            features=columns,
        )
    )
    session.flush()
    for start in range(0, len(rows), 5000):
        session.execute(insert(Decision), rows[start : start + 5000])
    _record_decisions(session, audit_id, rows, user=user)
    return len(rows)


def save_decision_source(
    session: Session, audit_id: str, spec: AuditSpec, rows: int, *, user: str = "auditor"
) -> None:
    """Record that the letters of a Spark audit are built from its data, with Spark.

    The driver holds no decision rows, so none are stored: ``auditor letters --engine
    spark`` reads them again from the spec's ``data.path`` (resolved against
    ``spec_dir``), checked against the audit's data and model fingerprints. The audit's
    stored spec says ``engine: spark``; this row has ``rows`` but no decision rows.
    """
    session.add(
        DecisionSet(
            audit_id=audit_id,
            created_at=datetime.now(UTC),
            spec_dir=str(spec.resolve(".").resolve()),
            rows=rows,
            features=list(spec.columns.features),
        )
    )
    _record_decisions(session, audit_id, [], user=user)


def decision_source(session: Session, audit_id: str) -> tuple[str, str] | None:
    """Where the letters of ``audit_id`` read its decisions: ("database" | "data", spec_dir).

    "data": a Spark audit, whose decisions stay in its data (no decision rows stored);
    None: the audit kept no decisions for letters.
    """
    from auditor.store.models import Audit

    dset = session.get(DecisionSet, audit_id)
    if dset is None:
        return None
    audit = session.get(Audit, audit_id)
    spec: dict[str, Any] = audit.spec if audit is not None else {}
    engine = spec.get("engine") or {}
    has_rows = session.execute(
        select(Decision.seq).where(Decision.audit_id == audit_id).limit(1)
    ).first()
    if has_rows is None and engine.get("kind") == "spark":
        return "data", dset.spec_dir
    return "database", dset.spec_dir


def load_decisions(session: Session, audit_id: str) -> StoredDecisions:
    """The stored decisions of ``audit_id``; a clear error when there are none."""
    dset = session.get(DecisionSet, audit_id)
    if dset is None:
        raise StorageError(
            f"Audit {audit_id} has no stored decisions, so no letters can be issued from it. "
            "Add a 'letters:' section to the spec and run the audit again (with storage)."
        )
    found = session.execute(
        select(Decision.decision_id, Decision.favorable, Decision.score, Decision.features)
        .where(Decision.audit_id == audit_id)
        .order_by(Decision.seq)
    ).all()
    if not found:
        raise StorageError(
            f"Audit {audit_id}: its decision records were pruned (retention); "
            "letters can no longer be issued from it."
        )
    ids = [r[0] for r in found]
    frame = pd.DataFrame([r[3] for r in found], columns=list(dset.features))
    scores = [r[2] for r in found]
    has_scores = all(s is not None for s in scores)
    return StoredDecisions(
        audit_id,
        dset.spec_dir,
        ids,
        frame,
        np.array([bool(r[1]) for r in found]),
        np.asarray(scores, dtype=np.float64) if has_scores else None,
    )


def add_letters(
    session: Session, audit_id: str, letters: list[dict[str, Any]], *, user: str
) -> None:
    """Store letters (dicts of :class:`~auditor.store.models.Letter` columns) and one event."""
    now = datetime.now(UTC)
    stored = [Letter(audit_id=audit_id, created_at=now, **row) for row in letters]
    session.add_all(stored)
    session.flush()
    # the batch's counts and hold rate go with the audit, sealed by the same event
    summary = batch_summary(letters)
    batch = add_letter_batch(session, audit_id, summary)
    append_event(
        session,
        LETTER_ISSUED,
        {
            "audit_id": audit_id,
            "issued": summary["issued"],
            "blocked": summary["blocked"],
            "held_for_review": sum(r.get("status") == "needs_review" for r in letters),
            "hold_rate": summary["hold_rate"],
            "batch_id": batch.id,
            "letters": [
                {"decision_id": r["decision_id"], "kind": r["kind"], "sha256": r["sha256"]}
                for r in letters
            ],
        },
        user=user,
        sealed={"letters": [letter.id for letter in stored], "letter_batches": [batch.id]},
    )


def set_letter_status(
    session: Session, letter_id: int, status: str, *, user: str, note: str | None = None
) -> None:
    """Change a stored letter's status (a held letter approved or rejected) with an event.

    The ``letter.status_changed`` event records the old and new status and re-seals the
    row, so ``auditor verify`` accepts this change and reports one made without it.
    """
    if status not in LETTER_STATUSES:
        raise StorageError(
            f"Unknown letter status {status!r}; use one of {', '.join(LETTER_STATUSES)}."
        )
    letter = session.get(Letter, letter_id)
    if letter is None:
        raise StorageError(f"No letter with id {letter_id} in the store.")
    previous = letter.status
    letter.status = status
    session.flush()
    append_event(
        session,
        LETTER_STATUS_CHANGED,
        {
            "letter_id": letter_id,
            "audit_id": letter.audit_id,
            "decision_id": letter.decision_id,
            "from": previous,
            "to": status,
            "note": note,
        },
        user=user,
        sealed={"letters": [letter_id]},
    )
