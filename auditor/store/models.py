"""Database tables of the audit store (SQLAlchemy 2.0 typed declarative mappings).

Only portable column types are used so the same models run on SQLite and PostgreSQL.
Constraint names come from :data:`NAMING_CONVENTION`, so migrations stay stable.
Any change here needs a new Alembic revision under ``migrations/versions/``; a test
checks that models and migrations agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
"""Audit ids (UUIDs today; room for other schemes)."""
DIGEST = String(64)
"""A hex SHA-256 digest."""
NAME = String(200)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back in UTC.

    SQLite has no timezone-aware type and returns naive values; this type stores UTC and
    attaches UTC on the way out, so both backends give the same ``datetime``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (a naive value is taken to be UTC already)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach or convert to UTC."""
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Audit(Base):
    """One completed audit run, with its full result JSON and its digest."""

    __tablename__ = "audits"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, index=True)
    domain: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    user: Mapped[str] = mapped_column(NAME)
    host: Mapped[str] = mapped_column(String(255))
    schema_version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_sha256: Mapped[str] = mapped_column(DIGEST)
    data_sha256: Mapped[str] = mapped_column(DIGEST)
    model_sha256: Mapped[str | None] = mapped_column(DIGEST)
    result_json: Mapped[str] = mapped_column(Text)
    result_sha256: Mapped[str] = mapped_column(DIGEST)
    findings_fail: Mapped[int] = mapped_column(Integer)
    findings_warn: Mapped[int] = mapped_column(Integer)
    findings_insufficient_evidence: Mapped[int] = mapped_column(Integer)
    findings_needs_attestation: Mapped[int] = mapped_column(Integer)
    findings_pass: Mapped[int] = mapped_column(Integer)
    findings_not_applicable: Mapped[int] = mapped_column(Integer)

    metrics: Mapped[list[Metric]] = relationship(
        back_populates="audit", cascade="all, delete-orphan", order_by="Metric.seq"
    )
    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="audit", cascade="all, delete-orphan", order_by="FindingRow.seq"
    )
    reports: Mapped[list[Report]] = relationship(back_populates="audit")


class Metric(Base):
    """One metric value of one group (a row of the result's long metric table)."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    attribute: Mapped[str] = mapped_column(NAME)
    group: Mapped[str] = mapped_column(NAME)
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    count: Mapped[int | None] = mapped_column(Integer)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    reference: Mapped[str | None] = mapped_column(NAME)
    flags: Mapped[list[str]] = mapped_column(JSON)

    audit: Mapped[Audit] = relationship(back_populates="metrics")


class FindingRow(Base):
    """The outcome of one policy rule for one scope."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(NAME, index=True)
    pack: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    observed: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[str | None] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)

    audit: Mapped[Audit] = relationship(back_populates="findings")


class Report(Base):
    """A rendered report. Never updated in place: a re-render is a new row.

    Reports keep their audit alive (no cascade): evidence is not deleted by accident.
    """

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sha256: Mapped[str] = mapped_column(DIGEST)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    html: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str] = mapped_column(Text)
    # the report preset (full, ll144, aaa); NULL for reports stored before migration 0005
    preset: Mapped[str | None] = mapped_column(String(32))

    audit: Mapped[Audit] = relationship(back_populates="reports")


class Evaluation(Base):
    """A later evaluation of an audit's stored facts (issue 21): its full result JSON with
    the findings of that evaluation. Evaluation 1 is the run itself (``audits``); each
    attestation adds the next number. Never updated: the previous ones stay readable."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("audit_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user: Mapped[str] = mapped_column(NAME)
    result_json: Mapped[str] = mapped_column(Text)
    result_sha256: Mapped[str] = mapped_column(DIGEST)
    findings_fail: Mapped[int] = mapped_column(Integer)
    findings_warn: Mapped[int] = mapped_column(Integer)
    findings_insufficient_evidence: Mapped[int] = mapped_column(Integer)
    findings_needs_attestation: Mapped[int] = mapped_column(Integer)
    findings_pass: Mapped[int] = mapped_column(Integer)
    findings_not_applicable: Mapped[int] = mapped_column(Integer)


class Attestation(Base):
    """Evidence an officer attested for an audit, who attested it and when, and the
    evaluation it produced; an attached document is kept with its SHA-256."""

    __tablename__ = "attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attested_by: Mapped[str] = mapped_column(NAME)
    """The person who attests the evidence (``--by``; the signed-in user on the web)."""
    user: Mapped[str] = mapped_column(NAME)
    """Who recorded it (the operating-system or web user)."""
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    document_name: Mapped[str | None] = mapped_column(NAME)
    document_sha256: Mapped[str | None] = mapped_column(DIGEST)
    document: Mapped[bytes | None] = mapped_column(LargeBinary)


class SignOff(Base):
    """A named person's sign-off of a stored report, in a role (issue 21).

    ``report_id``/``report_sha256``: the report signed; ``signed_report_id``: the signed
    copy (that report rendered again with the sign-off block filled). Never updated: a
    later evaluation or report of the audit supersedes it, which readers derive."""

    __tablename__ = "signoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    signed_report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    evaluation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signer: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(String(100))
    report_sha256: Mapped[str] = mapped_column(DIGEST)
    signed_sha256: Mapped[str] = mapped_column(DIGEST)
    user: Mapped[str] = mapped_column(NAME)
    """Who recorded it (the operating-system or web user)."""


class Event(Base):
    """An append-only, hash-chained log entry (see :mod:`auditor.store.events`)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    user: Mapped[str] = mapped_column(NAME)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(DIGEST, unique=True)
    hash: Mapped[str] = mapped_column(DIGEST, unique=True)


class Letter(Base):
    """A per-decision letter (adverse-action notice, GDPR explanation, ...)."""

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id"), index=True)
    decision_id: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(DIGEST)
    """SHA-256 of the PDF (issued) or of the HTML (blocked: no PDF is made)."""
    status: Mapped[str | None] = mapped_column(String(32))
    """``issued``; ``blocked`` when a content check failed (see ``failure``);
    ``needs_review`` when its reasons were unstable (see ``review``)."""
    failure: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    counterfactual: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    checks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    review: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Reason-stability review of an adverse decision: why it is (not) ``needs_review``."""
    counterfactual_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The counterfactual's note (why none, or ``verified``), cost and model score."""
    addressed: Mapped[bool | None] = mapped_column(Boolean)
    """Whether the letter carries a recipient's name and address (only in html/pdf)."""


class LetterBatch(Base):
    """One run of ``auditor letters`` (CLI, web or Spark) for an audit: how many letters
    were issued, held for review and blocked, the review's hold rate and why letters were
    held or blocked. Aggregate counts only (no personal data), kept as long as the audit.

    The counts are those at issue time; a held letter approved later changes its own row
    (``letters.status``, with a ``letter.status_changed`` event), not this one.
    """

    __tablename__ = "letter_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(64))
    letters: Mapped[int] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)
    blocked: Mapped[int] = mapped_column(Integer)
    reviewed: Mapped[int] = mapped_column(Integer)
    """Adverse letters whose reasons were reviewed (the hold rate's denominator)."""
    hold_rate: Mapped[float] = mapped_column(Float)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The batch's full summary as in ``letters-summary.json`` (near ties, reasons)."""


class DecisionSet(Base):
    """Where an audit's per-decision records came from (one row per audit that has them).

    ``spec_dir`` resolves the spec's relative model path when letters are issued later;
    the model file is checked against the audit's ``model_sha256`` before it is used.
    """

    __tablename__ = "decision_sets"

    audit_id: Mapped[str] = mapped_column(
        ForeignKey("audits.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    spec_dir: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[str]] = mapped_column(JSON)


class Decision(Base):
    """One audited decision: its model inputs, score and outcome (no protected attributes).

    Kept so that letters can be issued from the database; retained like letters (Reg B,
    12 CFR 1002.12(b): 25 months).
    """

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("audit_id", "decision_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    decision_id: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    favorable: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)


class Schedule(Base):
    """A recurring audit: which spec, and when."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    spec_path: Mapped[str] = mapped_column(Text)
    cron: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    runs: Mapped[list[ScheduleRun]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan"
    )


class ScheduleRun(Base):
    """One run of a schedule, and the audit it produced (if any)."""

    __tablename__ = "schedule_runs"
    # one run per schedule and fire time: a second claim of the same slot fails loudly
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(32))
    audit_id: Mapped[str | None] = mapped_column(ForeignKey("audits.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The fire time this run was claimed for (missed slots collapse into the latest)."""
    duration_s: Mapped[float | None] = mapped_column(Float)

    schedule: Mapped[Schedule] = relationship(back_populates="runs")


class User(Base):
    """A person who signs in to the web workspace (password stored as an argon2 hash)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class ApiToken(Base):
    """An API token for automation: only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(DIGEST, unique=True)
    label: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class WebSession(Base):
    """A signed-in browser: the cookie is a random secret of which only the SHA-256 is
    stored. Deleting the row (sign-out, password change, ``users disable``) ends the
    session at once; expired rows are deleted at the next sign-in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(DIGEST, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    user: Mapped[User] = relationship()
