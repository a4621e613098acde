"""A search's record read as evidence by the policy packs (UGESP 1607.3(B), N.J.A.C.
13:16, fair-lending practice).

The packs do not read the whole record: they read ``evidence.lda_record``, a short summary
of it (the outcome, the digest that identifies the record, one sentence stating what the
search found). An audit uses a record only when it is intact (its ``record_sha256``
recomputes) and was made for the audited model (same audit name, same model file).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from auditor.provenance import file_sha256
from auditor.spec import AuditSpec

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from auditor.result import AuditResult

Outcome = Literal["alternative_found", "alternative_unconfirmed", "none_within_tolerance"]


def record_intact(record: Mapping[str, Any]) -> bool:
    """Whether ``record_sha256`` is the hash of the record without that field."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(text).hexdigest() == record.get("record_sha256")


def audited_model_sha256(spec: AuditSpec) -> str | None:
    """The SHA-256 of the audited model's file (``None`` without one)."""
    if spec.model is None or not spec.model.path:
        return None
    path = spec.resolve(spec.model.path)
    return file_sha256(path) if path.is_file() else None


def record_for(records: Iterable[Mapping[str, Any]], spec: AuditSpec) -> dict[str, Any] | None:
    """The first (newest, as given) intact record made for ``spec``'s audit and model file."""
    return _first_match(records, spec.name, audited_model_sha256(spec), None)


def stored_record_for(session: Session, result: AuditResult) -> dict[str, Any] | None:
    """The stored search a stored audit read when it ran: the newest intact one made for
    its name and model file before the audit started (so a re-render or a signed copy of
    the report shows the same search as the original)."""
    from auditor.store.lda_records import stored_searches

    searches = stored_searches(session, result.name)
    started = _when(result.run.started_at)
    return _first_match(
        (s.record for s in searches), result.name, result.provenance.model_sha256, started
    )


def _first_match(
    records: Iterable[Mapping[str, Any]],
    name: str,
    model: str | None,
    before: datetime | None,
) -> dict[str, Any] | None:
    if model is None:
        return None
    for record in records:
        audited = record.get("audited_model")
        made_for = audited.get("sha256") if isinstance(audited, Mapping) else None
        if record.get("name") != name or made_for != model or not record_intact(record):
            continue
        made = _when(record.get("created_at"))
        if before is not None and (made is None or made > before):
            continue
        return dict(record)
    return None


def _when(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def outcome_of(record: Mapping[str, Any]) -> Outcome:
    """What the search found: an alternative confirmed on the held-out split, one chosen on
    the search split that the held-out split does not confirm, or none within tolerance."""
    rec = record.get("recommended")
    if not isinstance(rec, Mapping):
        return "none_within_tolerance"
    return "alternative_found" if rec.get("holdout_confirms") else "alternative_unconfirmed"


def record_evidence(record: Mapping[str, Any]) -> dict[str, Any]:
    """The summary the packs read as ``evidence.lda_record``."""
    outcome = outcome_of(record)
    digest = str(record.get("record_sha256", ""))
    limits = record.get("tolerance") or {}
    on = str(limits.get("on") or "auc")
    tolerance = limits.get("value", limits.get("auc"))
    tolerance_text = f"{tolerance} AUC" if on == "auc" else f"{tolerance} on {on}"
    candidates = max(0, len(record.get("candidates") or []) - 1)
    when = str(record.get("created_at", ""))[:10]
    rec = record.get("recommended")
    lead = (
        f"the search for less discriminatory alternatives of {when} (record "
        f"{digest[:16]}, {candidates} candidates, tolerance {tolerance_text})"
    )
    if isinstance(rec, Mapping):
        worst, base = rec.get("holdout_worst_ratio"), rec.get("holdout_baseline_worst_ratio")
        figures = ""
        if isinstance(worst, Mapping) and isinstance(base, Mapping):
            figures = (
                f": held-out worst impact ratio {_f(worst.get('value'))} against the "
                f"audited model's {_f(base.get('value'))}, AUC change "
                f"{_signed(rec.get('holdout_auc_change'))}"
            )
        if outcome == "alternative_found":
            statement = f"{lead} found an alternative within tolerance, '{rec['id']}'{figures}"
        else:
            statement = (
                f"{lead} chose '{rec['id']}' on the search split, but the held-out split "
                f"does not confirm it{figures}"
            )
    else:
        statement = f"{lead} found no alternative within tolerance"
    return {
        "outcome": outcome,
        "record_sha256": digest,
        "created_at": record.get("created_at"),
        "recommended": rec.get("id") if isinstance(rec, Mapping) else None,
        "tolerance": tolerance,
        "candidates": candidates,
        "statement": statement,
    }


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def _signed(value: Any) -> str:
    return f"{value:+.4f}" if isinstance(value, int | float) else "n/a"
