"""``auditor verify``: the event chain, the documents' digests and every sealed row.

Three layers, each naming the audit, the table and what changed:

1. the hash chain of the event log (:func:`~auditor.store.events.check_chain`);
2. each audit's result JSON and each report's PDF against the digests in the log;
3. every row of every covered table (:data:`~auditor.store.integrity.COVERED`) against
   the last seal the log recorded for it: a changed, inserted or deleted row, or one
   deleted without an event, is reported. Metric and finding rows and the count columns
   are also compared with the audit's result JSON (itself checked in 2), which names the
   field that changed ("status is 'pass', the stored result says 'fail'").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.result import FINDING_STATUSES, AuditResult
from auditor.store.events import check_chain
from auditor.store.integrity import COVERED, Covered, GroupDigest, key_text, row_seal
from auditor.store.models import Audit, Event, FindingRow, Metric, Report
from auditor.store.retention import DB_PRUNED
from auditor.store.row_values import finding_values, metric_values

SEALED_SINCE = "0008"
"""The schema revision from which every covered row is sealed."""
AUDIT_COMPLETED = "audit.completed"
REPORT_ADDED = "report.added"


@dataclass(frozen=True)
class Recorded:
    """The last seal the log holds for one key, and the event that recorded it."""

    seal: Mapping[str, Any] | None
    event_id: int


@dataclass(frozen=True)
class Outcome:
    """What :func:`verify_store` checked and every problem found."""

    events: int
    audits: int
    reports: int
    rows: int
    problems: list[str] = field(default_factory=list)
    head: tuple[int, str] | None = None
    """The last event's id and hash: keep it elsewhere to pin the chain."""
    signoffs: list[Any] = field(default_factory=list)
    """The sign-offs checked (:class:`~auditor.store.signoffs.SignOffRow`), oldest first."""


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _revision(session: Session) -> str | None:
    if not inspect(session.connection()).has_table("alembic_version"):
        return None
    found = session.scalar(text("SELECT version_num FROM alembic_version"))
    return None if found is None else str(found)


def replay_seals(
    payloads: Iterable[tuple[int, str, dict[str, Any]]],
) -> dict[str, dict[str, Recorded]]:
    """The last recorded seal of every key of every covered table, in chain order."""
    state: dict[str, dict[str, Recorded]] = {name: {} for name in COVERED}
    for event_id, _kind, payload in payloads:
        sealed = payload.get("sealed")
        if not isinstance(sealed, dict):
            continue
        for table, seals in sealed.items():
            if table in state and isinstance(seals, dict):
                for key, seal in seals.items():
                    state[table][key] = Recorded(seal if isinstance(seal, dict) else None, event_id)
    return state


class _Checker:
    """Collects the problems of one verification."""

    def __init__(self, session: Session, audit_id: str | None) -> None:
        self.session = session
        self.audit_id = audit_id
        self.problems: list[str] = []
        self.rows = 0

    def where(self, covered: Covered) -> Any:
        if self.audit_id is None or covered.audit_column is None:
            return None
        return covered.table.c[covered.audit_column] == self.audit_id

    def in_scope(self, covered: Covered) -> bool:
        return self.audit_id is None or covered.audit_column is not None

    # --- layer 3: sealed rows -------------------------------------------------------
    def sealed_tables(self, state: Mapping[str, Mapping[str, Recorded]]) -> None:
        # a table added after 0008 (letter_batches, 0009) is absent from a database not
        # yet upgraded to it: it holds no rows, and no event can have sealed any
        present = set(inspect(self.session.connection()).get_table_names())
        for covered in COVERED.values():
            if not self.in_scope(covered) or covered.name not in present:
                continue
            recorded = state[covered.name]
            stored: set[str]
            if covered.grouped:
                groups = self._groups(covered)
                self._grouped_against(covered, groups, recorded)
                stored = set(groups)
            else:
                stored = self._rows(covered, recorded)
            for key in sorted(set(recorded) - set(stored)):
                last = recorded[key]
                if last.seal is None or not self._recorded_in_scope(covered, key, last):
                    continue
                if covered.name == "audits":
                    continue  # reported with the audit.completed check, naming its event
                self.problems.append(
                    f"{self._where(covered, key, last.seal)}: deleted outside auditor (last "
                    f"recorded in event {last.event_id}; no event records its deletion)"
                )

    def _recorded_in_scope(self, covered: Covered, key: str, last: Recorded) -> bool:
        if self.audit_id is None:
            return True
        if covered.key == covered.audit_column:
            return key == self.audit_id
        named = (last.seal or {}).get("named", {})
        return isinstance(named, dict) and named.get(covered.audit_column) == self.audit_id

    def _where(self, covered: Covered, key: str, seal: Mapping[str, Any] | None) -> str:
        named = (seal or {}).get("named") or {}
        if covered.grouped or covered.key == covered.audit_column:
            return f"audit {key}, table {covered.name}"
        audit = named.get(covered.audit_column) if covered.audit_column else None
        label = named.get(covered.label) if covered.label else None
        where = f"table {covered.name}, row {key}"
        if label is not None:
            where += f" ({covered.label} {label!r})"
        return f"audit {audit}, {where}" if audit else where

    def _rows(self, covered: Covered, recorded: Mapping[str, Recorded]) -> set[str]:
        stmt = select(*covered.table.columns).order_by(covered.table.c[covered.key])
        condition = self.where(covered)
        if condition is not None:
            stmt = stmt.where(condition)
        present: set[str] = set()
        for row in self.session.execute(stmt.execution_options(yield_per=500)).mappings():
            self.rows += 1
            key = key_text(row[covered.key])
            present.add(key)
            seal = row_seal(covered, row)
            last = recorded.get(key)
            where = self._where(covered, key, seal)
            if last is None:
                self.problems.append(
                    f"{where}: inserted outside auditor (no event records this row)"
                )
            elif last.seal is None:
                self.problems.append(
                    f"{where}: present, but event {last.event_id} records its deletion "
                    "(re-inserted outside auditor)"
                )
            elif last.seal.get("sha256") != seal["sha256"]:
                self.problems.append(f"{where}: {self._changes(covered, seal, last)}")
        return present

    def _changes(self, covered: Covered, seal: Mapping[str, Any], last: Recorded) -> str:
        before = last.seal.get("named", {}) if last.seal is not None else {}
        now = seal["named"]
        changed = []
        for column in covered.named:
            old, new = before.get(column), now.get(column)
            if old == new:
                continue
            if _is_digest(old) or _is_digest(new):
                changed.append(f"{column} changed")
            else:
                changed.append(f"{column} is {new!r}, recorded {old!r}")
        if changed:
            return f"{'; '.join(changed)} (recorded in event {last.event_id}; altered)"
        others = [
            c.name
            for c in covered.table.columns
            if c.name not in covered.named and c.name not in covered.skip
        ]
        return (
            f"altered since event {last.event_id} in a column whose value is not recorded "
            f"(one of {', '.join(others)})"
        )

    def _groups(self, covered: Covered) -> dict[str, GroupDigest]:
        table = covered.table
        key_col = table.c[covered.key]
        stmt = select(*[c for c in table.columns if c.name not in covered.skip]).order_by(
            key_col, table.c.id
        )
        condition = self.where(covered)
        if condition is not None:
            stmt = stmt.where(condition)
        digests: dict[str, GroupDigest] = {}
        label = covered.label or "seq"
        for row in self.session.execute(stmt.execution_options(yield_per=2000)).mappings():
            self.rows += 1
            digests.setdefault(key_text(row[covered.key]), GroupDigest(label)).add(row)
        return digests

    def _grouped_against(
        self,
        covered: Covered,
        stored: Mapping[str, GroupDigest],
        recorded: Mapping[str, Recorded],
    ) -> None:
        for key, group in sorted(stored.items()):
            seal = group.seal()
            last = recorded.get(key)
            where = f"audit {key}, table {covered.name}"
            if last is None or last.seal is None:
                how = (
                    "no event records them"
                    if last is None
                    else f"event {last.event_id} records their deletion"
                )
                self.problems.append(
                    f"{where}: {seal['rows']} row(s) inserted outside auditor ({how})"
                )
                continue
            if last.seal.get("sha256") == seal["sha256"]:
                continue
            was = last.seal.get("rows")
            first = _first_changed(covered, group, last.seal.get("chunks"))
            if isinstance(was, int) and was != seal["rows"]:
                verb = "deleted" if seal["rows"] < was else "inserted"
                self.problems.append(
                    f"{where}: {seal['rows']} row(s) stored, {was} recorded in event "
                    f"{last.event_id} (rows {verb} outside auditor{first})"
                )
            else:
                self.problems.append(
                    f"{where}: rows altered since event {last.event_id} "
                    f"(same count, {seal['rows']}, different content{first})"
                )


def _first_changed(covered: Covered, group: GroupDigest, recorded: Any) -> str:
    """Where the first differing chunk of a grouped unit starts ("" when unknown)."""
    if not isinstance(recorded, str):
        return ""
    was = [recorded[i : i + 8] for i in range(0, len(recorded), 8)]
    for index, (now, span) in enumerate(zip(group.chunks, group.spans, strict=True)):
        if index >= len(was) or was[index] != now:
            label = covered.label or "seq"
            return f"; first difference among the rows with {label} {span[0]!r} to {span[1]!r}"
    return ""


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("sha256:")


MAX_ROW_PROBLEMS = 10
"""Problems listed per audit and table before the rest are counted, not listed."""


def _differences(label: str, stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    return [
        f"{label}: {column} is {stored.get(column)!r}, the stored result says {value!r}"
        for column, value in expected.items()
        if stored.get(column) != value
    ]


def _capped(prefix: str, problems: list[str]) -> list[str]:
    if len(problems) <= MAX_ROW_PROBLEMS:
        return [f"{prefix}: {p}" for p in problems]
    rest = len(problems) - MAX_ROW_PROBLEMS
    shown = [f"{prefix}: {p}" for p in problems[:MAX_ROW_PROBLEMS]]
    return [*shown, f"{prefix}: ... and {rest} more difference(s) from the stored result"]


def _against_result(session: Session, audit_id: str, result: AuditResult) -> list[str]:
    """Metric and finding rows and the count columns compared with the result JSON."""
    prefix = f"audit {audit_id}, table"
    problems: list[str] = []
    audit = session.get(Audit, audit_id)
    if audit is not None:
        counts = result.findings_by_status()
        for status in FINDING_STATUSES:
            column = f"findings_{status}"
            stored = getattr(audit, column)
            if stored != counts[status]:
                problems.append(
                    f"{prefix} audits: {column} is {stored}, the stored result has "
                    f"{counts[status]} {status} finding(s)"
                )
    for table, model, expected_rows, describe in (
        ("findings", FindingRow, finding_values(result), _finding_label),
        ("metrics", Metric, metric_values(result), _metric_label),
    ):
        columns = [c for c in model.__table__.columns if c.name not in ("id", "audit_id")]
        stored_rows = [
            dict(r)
            for r in session.execute(
                select(*columns).where(model.audit_id == audit_id).order_by(model.id)
            ).mappings()
        ]
        by_seq: dict[int, list[dict[str, Any]]] = {}
        for row in stored_rows:
            by_seq.setdefault(int(row["seq"]), []).append(row)
        found_here: list[str] = []
        for expected in expected_rows:
            seq = expected["seq"]
            label = describe(expected)
            found = by_seq.pop(seq, [])
            if not found:
                found_here.append(f"{label} deleted (it is in the stored result)")
                continue
            found_here += [f"{describe(row)} inserted (a second row {seq})" for row in found[1:]]
            found_here += _differences(label, found[0], expected)
        for rows in by_seq.values():
            found_here += [f"{describe(row)} inserted (not in the stored result)" for row in rows]
        problems += _capped(f"{prefix} {table}", found_here)
    return problems


def _finding_label(row: Mapping[str, Any]) -> str:
    return f"finding {row.get('seq')} ({row.get('rule_id')}, scope {row.get('scope')!r})"


def _metric_label(row: Mapping[str, Any]) -> str:
    return (
        f"metric {row.get('seq')} ({row.get('metric')} of {row.get('attribute')}="
        f"{row.get('group')})"
    )


def verify_store(session: Session, audit_id: str | None = None) -> Outcome:
    """Check the chain, the documents and the sealed rows (of one audit, if given)."""
    revision = _revision(session)
    if revision is not None and revision < SEALED_SINCE:
        raise StorageError(
            f"The database is at schema revision {revision}; verify needs {SEALED_SINCE} or "
            "later, which seals every stored row. Run 'auditor db upgrade' (rows stored "
            "before it are sealed as they are at the upgrade)."
        )
    chain = check_chain(session)
    checker = _Checker(session, audit_id)
    problems = checker.problems
    problems += chain.problems

    logged_results: dict[str, tuple[int, Any]] = {}
    logged_reports: dict[str, set[Any]] = {}
    pruned: set[str] = set()
    for event_id, kind, payload in chain.payloads:
        ids = payload.get("audit_ids") if kind == DB_PRUNED else None
        if isinstance(ids, list):
            pruned.update(i for i in ids if isinstance(i, str))
        logged_id = payload.get("audit_id")
        if kind == AUDIT_COMPLETED and isinstance(logged_id, str):
            logged_results[logged_id] = (event_id, payload.get("result_sha256"))
        if kind in (AUDIT_COMPLETED, REPORT_ADDED) and isinstance(logged_id, str):
            logged_reports.setdefault(logged_id, set()).add(payload.get("report_sha256"))

    n_audits = 0
    present: set[str] = set()
    stmt = select(Audit.id, Audit.result_json, Audit.result_sha256).order_by(Audit.id)
    if audit_id is not None:
        stmt = stmt.where(Audit.id == audit_id)
    for stored_id, result_json, result_sha256 in session.execute(stmt).all():
        n_audits += 1
        present.add(stored_id)
        actual = _sha256(result_json)
        if actual != result_sha256:
            problems.append(
                f"audit {stored_id}: stored result JSON does not match its SHA-256 (altered)"
            )
        logged = logged_results.get(stored_id)
        if logged is None:
            problems.append(f"audit {stored_id}: no {AUDIT_COMPLETED} event in the log")
        elif logged[1] != actual:
            problems.append(
                f"audit {stored_id}: result JSON differs from the digest recorded "
                f"in event {logged[0]} (altered)"
            )
        try:
            result = AuditResult.from_json(result_json)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"audit {stored_id}: the stored result JSON cannot be read: {exc}")
        else:
            problems += _against_result(session, stored_id, result)

    for logged_id, (event_id, _) in sorted(logged_results.items(), key=lambda kv: kv[1][0]):
        if audit_id is not None and logged_id != audit_id:
            continue
        if logged_id not in present and logged_id not in pruned:
            problems.append(
                f"audit {logged_id}: recorded in event {event_id} but missing from the store, "
                f"and no {DB_PRUNED} event records its deletion (deleted outside auditor)"
            )

    n_reports = 0
    reports = select(Report.id, Report.audit_id, Report.sha256, Report.pdf).order_by(Report.id)
    if audit_id is not None:
        reports = reports.where(Report.audit_id == audit_id)
    for report_id, report_audit, sha256, pdf in session.execute(
        reports.execution_options(yield_per=20)
    ):
        n_reports += 1
        actual = _sha256(pdf)
        if actual != sha256:
            problems.append(
                f"report {report_id} of audit {report_audit}: PDF bytes do not match "
                "the stored SHA-256 (altered)"
            )
        if actual not in logged_reports.get(report_audit, set()):
            problems.append(
                f"report {report_id} of audit {report_audit}: its SHA-256 is not "
                "recorded in the event log"
            )

    from auditor.store.evaluations import evaluation_problems
    from auditor.store.signoffs import list_signoffs, signoff_problems

    problems += evaluation_problems(session, audit_id)
    problems += signoff_problems(session, audit_id)
    signoffs = list_signoffs(session, audit_id)
    checker.sealed_tables(replay_seals(chain.payloads))
    last = session.execute(select(Event.id, Event.hash).order_by(Event.id.desc()).limit(1)).first()
    head = (int(last[0]), str(last[1])) if last is not None else None
    return Outcome(chain.events, n_audits, n_reports, checker.rows, problems, head, signoffs)
