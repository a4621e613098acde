"""Retention: how long each kind of stored record is kept, and pruning what is older.

Per-table settings in days (``None`` keeps forever). Defaults:

- ``letters`` (per-decision notices): 762 days,
  i.e. at least the 25 months that Reg B (12 CFR 1002.12(b)(1)) requires them to be kept;
- ``decisions`` (per-decision model inputs, scores and outcomes stored for letters; no
  protected attributes): 762 days, the same 25 months (1002.12(b)(1): the application and
  the information used in evaluating it);
- ``schedule_runs`` (run history): 730 days;
- ``audits`` (aggregates: metrics, findings, result JSON, reports): kept.

No individual protected attributes are stored (an audit keeps group counts only), so
GDPR/AI Act minimisation needs no setting today; a future table holding them must get
one here with a short default.

The event log is never pruned: :func:`prune` appends one ``db.pruned`` event naming the
cutoffs, the counts and every deleted audit id, which :func:`~auditor.store.verify`
accepts as the record of those deletions (an audit missing without it is reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auditor.errors import AuditorError
from auditor.safe_yaml import YamlLimitError, load_yaml_text, read_yaml_text
from auditor.store.events import append_event
from auditor.store.models import (
    Attestation,
    Audit,
    Decision,
    DecisionSet,
    Evaluation,
    Letter,
    LetterBatch,
    Report,
    ScheduleRun,
    SignOff,
)

DB_PRUNED = "db.pruned"

DEFAULT_RETENTION: dict[str, int | None] = {
    "letters": 762,
    "decisions": 762,
    "schedule_runs": 730,
    "audits": None,
}
"""Days kept per table; ``None`` keeps forever."""

_KEEP = ("keep", "forever", "none", "null")


class RetentionError(AuditorError):
    """A retention setting or file is malformed."""


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` deleted (or would delete, with ``dry_run``)."""

    cutoffs: dict[str, str | None]
    deleted: dict[str, int]
    audit_ids: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Rows deleted in all tables."""
        return sum(self.deleted.values())


def _days(table: str, value: Any, where: str) -> int | None:
    if table not in DEFAULT_RETENTION:
        raise RetentionError(
            f"{where}: unknown table {table!r}; retention can be set for "
            f"{', '.join(sorted(DEFAULT_RETENTION))}."
        )
    if value is None or (isinstance(value, str) and value.strip().lower() in _KEEP):
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    try:
        days = int(str(value).strip().removesuffix("d"))
    except ValueError:
        days = 0
    if days < 1:
        raise RetentionError(
            f"{where}: retention of {table!r} must be a whole number of days >= 1 "
            f"or 'keep'; got {value!r}."
        )
    return days


def retention_settings(
    path: Path | None = None, overrides: Iterable[str] = ()
) -> dict[str, int | None]:
    """Defaults, then the YAML file (``retention: {table: days}``), then ``TABLE=DAYS``."""
    settings = dict(DEFAULT_RETENTION)
    if path is not None:
        try:
            loaded = load_yaml_text(read_yaml_text(path))
        except YamlLimitError as exc:
            raise RetentionError(f"{path}: refused: {exc}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise RetentionError(f"Cannot read {path}: {why}.") from None
        except (yaml.YAMLError, ValueError) as exc:
            raise RetentionError(f"{path} is not valid YAML: {exc}") from None
        if isinstance(loaded, Mapping) and "retention" in loaded:
            loaded = loaded["retention"]
        if not isinstance(loaded, Mapping):
            raise RetentionError(
                f"{path} must map table names to days, e.g. 'retention: {{letters: 762}}'."
            )
        for table, value in loaded.items():
            settings[str(table)] = _days(str(table), value, str(path))
    for item in overrides:
        table, sep, value = item.partition("=")
        if not sep:
            raise RetentionError(f"--keep {item!r}: use TABLE=DAYS, e.g. letters=762.")
        settings[table.strip()] = _days(table.strip(), value, f"--keep {item}")
    return settings


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def prune(
    session: Session,
    settings: Mapping[str, int | None],
    *,
    now: datetime,
    user: str,
    dry_run: bool = False,
) -> PruneReport:
    """Delete records older than their retention period, in the caller's transaction.

    Pruning an audit removes its metrics, findings, reports, letters and decisions with it. One
    ``db.pruned`` event records the cutoffs, counts and deleted audit ids (also when
    nothing was deleted, so every application of the policy is on record).
    """
    cutoffs = {t: _cutoff(now, settings.get(t)) for t in DEFAULT_RETENTION}
    deleted = dict.fromkeys(DEFAULT_RETENTION, 0)
    audit_ids: list[str] = []

    audits_cut = cutoffs["audits"]
    if audits_cut is not None:
        audit_ids = list(
            session.scalars(
                select(Audit.id).where(Audit.created_at < audits_cut).order_by(Audit.id)
            )
        )
    letters_cut = cutoffs["letters"]
    letter_filter = Letter.created_at < letters_cut if letters_cut is not None else None
    decisions_cut = cutoffs["decisions"]
    decision_filter = Decision.created_at < decisions_cut if decisions_cut is not None else None
    runs_cut = cutoffs["schedule_runs"]
    run_filter = (
        (ScheduleRun.started_at < runs_cut) & (ScheduleRun.status != "running")
        if runs_cut is not None
        else None
    )

    if dry_run:
        from sqlalchemy import func, or_

        def count(stmt: Any) -> int:
            return int(session.scalar(stmt) or 0)

        if letter_filter is not None or audit_ids:
            conds = [c for c in (letter_filter,) if c is not None]
            if audit_ids:
                conds.append(Letter.audit_id.in_(audit_ids))
            deleted["letters"] = count(select(func.count()).select_from(Letter).where(or_(*conds)))
        if decision_filter is not None or audit_ids:
            conds = [c for c in (decision_filter,) if c is not None]
            if audit_ids:
                conds.append(Decision.audit_id.in_(audit_ids))
            deleted["decisions"] = count(
                select(func.count()).select_from(Decision).where(or_(*conds))
            )
        if run_filter is not None:
            deleted["schedule_runs"] = count(
                select(func.count()).select_from(ScheduleRun).where(run_filter)
            )
        deleted["audits"] = len(audit_ids)
        return PruneReport(_iso(cutoffs), deleted, audit_ids, dry_run=True)

    touched = _touched(session, letter_filter, decision_filter, run_filter, audit_ids)
    if letter_filter is not None:
        deleted["letters"] += _rowcount(session.execute(delete(Letter).where(letter_filter)))
    if decision_filter is not None:
        deleted["decisions"] += _rowcount(session.execute(delete(Decision).where(decision_filter)))
    if run_filter is not None:
        deleted["schedule_runs"] = _rowcount(session.execute(delete(ScheduleRun).where(run_filter)))
    if audit_ids:
        for chunk in _chunks(audit_ids, 500):
            deleted["letters"] += _rowcount(
                session.execute(delete(Letter).where(Letter.audit_id.in_(chunk)))
            )
            deleted["decisions"] += _rowcount(
                session.execute(delete(Decision).where(Decision.audit_id.in_(chunk)))
            )
            session.execute(delete(DecisionSet).where(DecisionSet.audit_id.in_(chunk)))
            session.execute(delete(SignOff).where(SignOff.audit_id.in_(chunk)))
            session.execute(delete(LetterBatch).where(LetterBatch.audit_id.in_(chunk)))
            session.execute(delete(Report).where(Report.audit_id.in_(chunk)))
            session.execute(delete(Attestation).where(Attestation.audit_id.in_(chunk)))
            session.execute(delete(Evaluation).where(Evaluation.audit_id.in_(chunk)))
            session.execute(
                update(ScheduleRun).where(ScheduleRun.audit_id.in_(chunk)).values(audit_id=None)
            )
            # metrics and findings go with their audit (ON DELETE CASCADE)
            deleted["audits"] += _rowcount(
                session.execute(delete(Audit).where(Audit.id.in_(chunk)))
            )
    session.expire_all()
    report = PruneReport(_iso(cutoffs), deleted, audit_ids)
    append_event(
        session,
        DB_PRUNED,
        {
            "retention_days": {t: settings.get(t) for t in DEFAULT_RETENTION},
            "cutoffs": report.cutoffs,
            "deleted": deleted,
            "audit_ids": audit_ids,
        },
        user=user,
        sealed=touched,
    )
    return report


def _touched(
    session: Session,
    letter_filter: Any,
    decision_filter: Any,
    run_filter: Any,
    audit_ids: list[str],
) -> dict[str, list[Any]]:
    """The keys of every sealed row a prune deletes or changes (read before deleting).

    The ``db.pruned`` event re-seals them (deleted ones as null), so verify tells these
    deletions from ones made outside auditor.
    """

    def keys(stmt: Any) -> list[Any]:
        return list(session.scalars(stmt))

    touched: dict[str, list[Any]] = {
        "letters": [],
        "decisions": [],
        "schedule_runs": [],
    }
    if letter_filter is not None:
        touched["letters"] += keys(select(Letter.id).where(letter_filter))
    if decision_filter is not None:
        touched["decisions"] += keys(select(Decision.audit_id).where(decision_filter).distinct())
    if run_filter is not None:
        touched["schedule_runs"] += keys(select(ScheduleRun.id).where(run_filter))
    for chunk in _chunks(audit_ids, 500):
        touched["letters"] += keys(select(Letter.id).where(Letter.audit_id.in_(chunk)))
        touched["schedule_runs"] += keys(
            select(ScheduleRun.id).where(ScheduleRun.audit_id.in_(chunk))
        )
        touched["reports"] = touched.get("reports", []) + keys(
            select(Report.id).where(Report.audit_id.in_(chunk))
        )
        touched["signoffs"] = touched.get("signoffs", []) + keys(
            select(SignOff.id).where(SignOff.audit_id.in_(chunk))
        )
        touched["attestations"] = touched.get("attestations", []) + keys(
            select(Attestation.id).where(Attestation.audit_id.in_(chunk))
        )
        touched["evaluations"] = touched.get("evaluations", []) + keys(
            select(Evaluation.id).where(Evaluation.audit_id.in_(chunk))
        )
        # a batch holds counts only, no personal data: it goes with its audit
        touched["letter_batches"] = touched.get("letter_batches", []) + keys(
            select(LetterBatch.id).where(LetterBatch.audit_id.in_(chunk))
        )
    if audit_ids:
        touched["decisions"] += audit_ids
        for table in ("audits", "metrics", "findings", "decision_sets"):
            touched[table] = list(audit_ids)
    return {table: found for table, found in touched.items() if found}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _iso(cutoffs: Mapping[str, datetime | None]) -> dict[str, str | None]:
    return {t: (c.isoformat() if c is not None else None) for t, c in cutoffs.items()}
