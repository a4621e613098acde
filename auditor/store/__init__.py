"""The audit store: SQLAlchemy models, repository functions and Alembic migrations.

Open it with :func:`open_store`; the caller owns the transaction
(``with store.session() as session: save_audit(session, result)``).
"""

from auditor.store import seal_net as seal_net  # registers the session hooks
from auditor.store.database import Store, default_database_url, mask_url, open_store
from auditor.store.evaluations import (
    AttestOutcome,
    Document,
    EvaluationRow,
    list_evaluations,
)
from auditor.store.events import append_event
from auditor.store.letter_batches import LetterBatchRow, load_letter_batches
from auditor.store.repository import (
    AuditRow,
    ReportLike,
    ReportRow,
    VerifyReport,
    add_report,
    get_report,
    list_audits,
    load_earlier_runs,
    load_history,
    load_result,
    record_failed_run,
    save_audit,
    verify,
)
from auditor.store.retention import (
    DEFAULT_RETENTION,
    PruneReport,
    RetentionError,
    prune,
    retention_settings,
)

__all__ = [
    "DEFAULT_RETENTION",
    "AttestOutcome",
    "AuditRow",
    "Document",
    "EvaluationRow",
    "LetterBatchRow",
    "PruneReport",
    "ReportLike",
    "ReportRow",
    "RetentionError",
    "Store",
    "VerifyReport",
    "add_report",
    "append_event",
    "default_database_url",
    "get_report",
    "list_audits",
    "list_evaluations",
    "load_earlier_runs",
    "load_history",
    "load_letter_batches",
    "load_result",
    "mask_url",
    "open_store",
    "prune",
    "record_failed_run",
    "retention_settings",
    "save_audit",
    "verify",
]
